using System.Net;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Wolverine.Transports;
using TenantEvents.Infrastructure.Databases;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Operations;
using TenantEvents.Tests.Support;

namespace TenantEvents.Tests.Operations;

/// <summary>The orchestrator's probes and the operator's version report.</summary>
public class ProbesAndVersionTests(AppFixture fixture) : IntegrationTest(fixture)
{
    [Theory]
    [InlineData("/health/started")]
    [InlineData("/health/live")]
    [InlineData("/health/ready")]
    public async Task each_probe_answers_without_a_token_and_says_nothing_more_than_healthy(string probe)
    {
        (await Fixture.Client().Get(probe)).ShouldBe(HttpStatusCode.OK).Body.ShouldBe("Healthy");
    }

    [Fact]
    public async Task the_version_names_this_build_and_every_database_at_the_schema_it_needs()
    {
        var report = (await Admin.Get("/api/platform/version")).ShouldBe(HttpStatusCode.OK).Json;
        var informational = typeof(Release).Assembly
            .GetCustomAttributes(typeof(System.Reflection.AssemblyInformationalVersionAttribute), false)
            .Cast<System.Reflection.AssemblyInformationalVersionAttribute>().Single().InformationalVersion;
        S(report, "version").ShouldBe(informational.Split('+')[0]);
        S(report, "version").ShouldMatch(@"^\d+\.\d+\.\d+");
        // Built from this repository: the commit is the one checked out (12 hex digits), not "unknown".
        S(report, "commit").ShouldMatch("^[0-9a-f]{12}$");
        report.GetProperty("schema").EnumerateArray().Select(t => (S(t, "track"), t.GetProperty("needs").GetInt32()))
            .ShouldBe([(SchemaRegistry.DirectoryTrack, SchemaRegistry.Directory[^1].Version), (SchemaRegistry.TenantsTrack, SchemaRegistry.Tenants[^1].Version)]);

        var databases = report.GetProperty("databases").EnumerateArray().ToList();
        databases.Select(d => S(d, "id")).ShouldBe(Fixture.Host.Services.GetRequiredService<TenantDatabases>().All.Select(d => d.Entry.Id));
        foreach (var database in databases)
        {
            S(database, "state").ShouldBe("current", database.ToString());
            database.GetProperty("tracks").GetProperty(SchemaRegistry.TenantsTrack).GetInt32().ShouldBe(SchemaRegistry.Tenants[^1].Version);
        }
        // The main database also holds the platform directory.
        var directory = SchemaRegistry.Directory[^1].Version;
        databases.Count(d => d.GetProperty("tracks").TryGetProperty(SchemaRegistry.DirectoryTrack, out var v) && v.GetInt32() == directory).ShouldBe(1);
    }

    [Fact]
    public void outside_development_the_service_will_not_start_without_its_public_address()
    {
        var builder = TenantEvents.Infrastructure.Hosting.CreateBuilder(["--environment=Production"]);
        Should.Throw<InvalidOperationException>(() => TenantEvents.Infrastructure.Hosting.AddTenantEvents(builder))
            .Message.ShouldContain("TenantEvents:PublicUrl");
        // migrate states no address: it needs none.
        var migrating = TenantEvents.Infrastructure.Hosting.CreateBuilder(["--environment=Production"]);
        var refusal = Record.Exception(() => TenantEvents.Infrastructure.Hosting.AddTenantEvents(migrating, migrating: true));
        (refusal?.Message ?? "").ShouldNotContain("PublicUrl");
    }

    private static string S(JsonElement e, string property) => e.GetProperty(property).GetString()!;

    [Fact]
    public async Task a_paused_local_queue_leaves_the_instance_ready()
    {
        // A timed pause resumes on its own: taking every instance out of rotation for it would be an outage of our making.
        var runtime = Fixture.Host.Services.GetRequiredService<Wolverine.Runtime.IWolverineRuntime>();
        // A durable local queue (the buffered ones always say accepting).
        var queue = runtime.Endpoints.ActiveSendingAgents().OfType<Wolverine.Transports.IListenerCircuit>().First(c => c.GetType().Name == "DurableLocalQueue");
        await queue.PauseAsync(TimeSpan.FromMinutes(1));
        try
        {
            queue.Status.ShouldBe(Wolverine.Transports.ListeningStatus.Paused);
            (await Fixture.Client().Get("/health/ready")).ShouldBe(HttpStatusCode.OK);
        }
        finally
        {
            await queue.StartAsync();
        }
    }

    [Theory]
    [InlineData(ListeningStatus.Accepting, false, true)]
    [InlineData(ListeningStatus.TooBusy, false, true)]
    [InlineData(ListeningStatus.Paused, false, true)]
    [InlineData(ListeningStatus.Accepting, true, false)] // looks alive, drops what it receives
    [InlineData(ListeningStatus.Stopped, false, false)]
    [InlineData(ListeningStatus.GloballyLatched, false, false)]
    [InlineData(ListeningStatus.Unknown, false, false)]
    public void a_listener_keeps_the_instance_ready_only_while_it_takes_messages(ListeningStatus status, bool faulted, bool ready)
    {
        var down = Health.NotAccepting([new Health.Circuit("local://durable/", ListeningStatus.Accepting, false), new Health.Circuit("rabbitmq://queue/x", status, faulted)]);
        if (ready) down.ShouldBeEmpty();
        else down.ShouldBe([$"rabbitmq://queue/x ({(faulted ? "receiver faulted" : status.ToString())})"]);
    }

    [Fact]
    public async Task only_platform_administrators_read_the_version()
    {
        (await Fixture.Client().Get("/api/platform/version")).ShouldBeProblem(HttpStatusCode.Unauthorized, "unauthenticated");
        var tenant = Guid.NewGuid();
        foreach (var caller in new[] { TenantAdminOf(tenant), As(Roles.TenantMember, "m", tenant), As(Roles.Analyst), As(Roles.Auditor), Approver })
            (await caller.Get("/api/platform/version")).ShouldBeProblem(HttpStatusCode.Forbidden, "forbidden");
    }

    [Theory]
    [InlineData(new[] { "directory", "tenants" }, new[] { 1, 2 }, "current", true)]
    [InlineData(new[] { "tenants" }, new[] { 2 }, "behind", true)] // the main database without the directory
    [InlineData(new[] { "directory", "tenants" }, new[] { 1, 2 }, "current")]
    [InlineData(new[] { "tenants" }, new[] { 2 }, "current")] // a dedicated database: no directory there
    [InlineData(new[] { "directory", "tenants" }, new[] { 1, 3 }, "newer")]
    [InlineData(new[] { "directory", "tenants" }, new[] { 2, 2 }, "newer")]
    [InlineData(new[] { "directory", "tenants" }, new[] { 1, 1 }, "behind")]
    [InlineData(new[] { "directory", "tenants" }, new[] { 2, 1 }, "behind")] // newer in one track does not hide behind in another
    [InlineData(new[] { "directory" }, new[] { 1 }, "behind")] // tenant data never migrated
    [InlineData(new string[0], new int[0], "behind")] // predates the registry
    public void a_database_is_behind_newer_or_current_against_what_this_code_needs(string[] tracks, int[] versions, string expected, bool main = false)
    {
        var needs = new[] { new SchemaTrackVersion("directory", 1), new SchemaTrackVersion("tenants", 2) };
        GetVersionEndpoint.State(tracks.Zip(versions).ToDictionary(p => p.First, p => p.Second), needs, main).ShouldBe(expected);
    }
}

/// <summary>
/// Readiness follows the databases, liveness does not: a real service process whose database stops taking its connections
/// is taken out of rotation (503 on ready) but not restarted (200 on live), and is ready again when the database is back.
/// </summary>
public class ReadinessTests(AppFixture fixture) : IntegrationTest(fixture)
{
    [Fact]
    public async Task a_database_that_refuses_connections_makes_the_instance_unready_but_still_live()
    {
        const string name = "tenantevents_test_readiness";
        var db = await ServiceProcess.FreshDatabaseAsync(name);
        var folder = Directory.CreateTempSubdirectory("tenantevents-ready-").FullName;
        await using var service = await ServiceProcess.StartAsync(db, folder);
        using var anonymous = service.Client(null);
        (await anonymous.GetAsync("/health/ready")).StatusCode.ShouldBe(HttpStatusCode.OK);

        await TestDatabase.SuperuserAsync($"alter database {name} allow_connections false; select pg_terminate_backend(pid) from pg_stat_activity where datname = '{name}' and pid <> pg_backend_pid()");
        try
        {
            var ready = await anonymous.GetAsync("/health/ready");
            ready.StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable);
            (await ready.Content.ReadAsStringAsync()).ShouldBe("Unhealthy"); // which database, and why, is in the log, not the answer
            (await anonymous.GetAsync("/health/live")).StatusCode.ShouldBe(HttpStatusCode.OK);
            (await anonymous.GetAsync("/health/started")).StatusCode.ShouldBe(HttpStatusCode.OK);
            var version = await service.Client(ServiceProcess.Token(folder, Roles.PlatformAdmin, "op")).GetAsync("/api/platform/version");
            version.StatusCode.ShouldBe(HttpStatusCode.OK);
            var report = JsonDocument.Parse(await version.Content.ReadAsStringAsync()).RootElement;
            report.GetProperty("databases").EnumerateArray().Single().GetProperty("state").GetString().ShouldBe("unreachable");
        }
        finally
        {
            await TestDatabase.SuperuserAsync($"alter database {name} allow_connections true");
        }
        // Ready again once a connection can be made (the pool may first drop a broken one).
        var back = System.Diagnostics.Stopwatch.StartNew();
        while ((await anonymous.GetAsync("/health/ready")).StatusCode != HttpStatusCode.OK && back.Elapsed < TimeSpan.FromSeconds(20)) await Task.Delay(100);
        (await anonymous.GetAsync("/health/ready")).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

}
