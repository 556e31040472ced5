using JasperFx;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Security;

if (args.FirstOrDefault() == "dev-token") return DevTokenCommand.Run(args[1..]);
if (args.FirstOrDefault() == "graphql-schema")
{
    // The published schema (graphql/schema.graphql; `make graphql-schema`): a test compares it with the running one.
    Console.Write(TenantEvents.GraphQL.GraphQLHttp.Sdl(new TenantEvents.GraphQL.TenantEventsSchema()));
    return 0;
}
if (args.FirstOrDefault() == "manifest-schema")
{
    // The published JSON Schema of tenant manifests (schemas/tenant-manifest.schema.json; `make manifest-schema`).
    Console.Write(TenantEvents.Manifests.ManifestSchema.Text());
    return 0;
}
if (args.FirstOrDefault() == "migrate")
{
    try
    {
        return await DatabaseMigration.Run(args[1..]);
    }
    catch (InvalidOperationException e)
    {
        Console.Error.WriteLine("migrate: " + e.Message);
        return 1;
    }
}

if (args.FirstOrDefault() == "manifest") return await TenantEvents.Manifests.ManifestCli.Run(args[1..]);
if (args.FirstOrDefault() == "move-tenant") return await TenantEvents.Tenants.Moves.MoveTenantCommand.Run(args[1..]);

// `serve` (the image's default command) is the service itself, as is no command at all.
if (args.FirstOrDefault() == "serve") args = args[1..];
var builder = Hosting.CreateBuilder(args);
builder.AddTenantEvents();
var app = builder.Build();
app.UseTenantEvents();
// The service itself needs no command runner (whose assembly scan writes plain-text lines among the JSON logs); the
// runner's commands (codegen, describe, resources) do.
if (args.Length == 0 || args[0].StartsWith('-'))
{
    await app.RunAsync();
    return 0;
}
return await app.RunJasperFxCommands(args);

public partial class Program;
