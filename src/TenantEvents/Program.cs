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

var builder = WebApplication.CreateBuilder(args);
builder.AddTenantEvents();
var app = builder.Build();
app.UseTenantEvents();
return await app.RunJasperFxCommands(args);

public partial class Program;
