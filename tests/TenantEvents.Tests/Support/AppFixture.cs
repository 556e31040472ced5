using System.Diagnostics;
using System.Net.Http.Headers;
using Alba;
using Marten;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.IdentityModel.Tokens;
using Wolverine;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Infrastructure.Webhooks;

namespace TenantEvents.Tests.Support;

/// <summary>
/// One running service per test collection, over the real PostgreSQL that `make test` starts (or that this fixture
/// starts itself through ops/postgres/local-cluster.sh when run from an IDE). The business clock is controllable.
/// </summary>
public class AppFixture : IAsyncLifetime
{
    public const string WebhookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    public IAlbaHost Host { get; private set; } = null!;
    public TestClock Time { get; } = new(new DateTimeOffset(2026, 11, 28, 9, 0, 0, TimeSpan.Zero));
    public string DataFolder { get; } = Path.Combine(Path.GetTempPath(), "tenantevents-tests-" + Guid.NewGuid().ToString("N"));
    public ECDsaSecurityKey TokenKey { get; private set; } = null!;
    public StandardWebhooks Webhooks { get; } = new(WebhookSecret);
    protected virtual string Environment => "Development";

    public async Task InitializeAsync()
    {
        System.Environment.SetEnvironmentVariable("ConnectionStrings__TenantEvents", TestDatabase.ConnectionString);
        System.Environment.SetEnvironmentVariable("TenantEvents__DataFolder", DataFolder);
        System.Environment.SetEnvironmentVariable("TenantEvents__ProvisioningWebhookSecret", WebhookSecret);
        System.Environment.SetEnvironmentVariable("Logging__LogLevel__Default", "Warning");
        Host = await AlbaHost.For<Program>(builder =>
        {
            builder.UseEnvironment(Environment);
            builder.ConfigureServices(services =>
            {
                services.RemoveAll<Clock>();
                services.AddSingleton(new Clock(Time));
                services.RunWolverineInSoloMode();
                services.DisableAllExternalWolverineTransports();
            });
        });
        TokenKey = DevTokenKeyFile.Load(DataFolder);
    }

    public async Task DisposeAsync()
    {
        await Host.StopAsync();
        await Host.DisposeAsync();
        try { Directory.Delete(DataFolder, recursive: true); } catch (IOException) { }
    }

    public IDocumentStore Store => Host.Services.GetRequiredService<IDocumentStore>();

    public string Token(string role, string subject = "someone", Guid? tenant = null) =>
        DevTokens.Issue(TokenKey, subject, [role], tenant, TimeSpan.FromMinutes(30), DateTime.UtcNow);

    public HttpClient Client(string? token = null)
    {
        var client = Host.Server.CreateClient();
        if (token is not null) client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return client;
    }
}

/// <summary>The test database: from ConnectionStrings__TenantEvents, else the local cluster (started if need be).</summary>
public static class TestDatabase
{
    private static readonly Lazy<string> Connection = new(Resolve);

    public static string ConnectionString => Connection.Value;

    private static string Resolve()
    {
        var configured = System.Environment.GetEnvironmentVariable("ConnectionStrings__TenantEvents");
        if (!string.IsNullOrEmpty(configured)) return configured;
        var script = Path.Combine(RepositoryRoot(), "ops", "postgres", "local-cluster.sh");
        Run(script, "start tenantevents_test");
        return Run(script, "url tenantevents_test").Trim();
    }

    public static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "TenantEvents.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("Cannot find the repository root (TenantEvents.sln).");
    }

    private static string Run(string file, string arguments)
    {
        using var process = Process.Start(new ProcessStartInfo(file, arguments) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        var output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0) throw new InvalidOperationException($"{file} {arguments} failed: {process.StandardError.ReadToEnd()}");
        return output;
    }
}

[CollectionDefinition(Name)]
public class IntegrationCollection : ICollectionFixture<AppFixture>
{
    public const string Name = "integration";
}
