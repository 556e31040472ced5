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
        System.Environment.SetEnvironmentVariable("ConnectionStrings__TenantEventsOwner", TestDatabase.OwnerConnectionString);
        System.Environment.SetEnvironmentVariable("ConnectionStrings__TenantEventsPlatform", TestDatabase.PlatformConnectionString);
        System.Environment.SetEnvironmentVariable("Logging__LogLevel__Default", "Warning");
        TestDatabase.ConfigureZones();
        await TestDatabase.Migrate();
        Host = await StartHost();
        TokenKey = DevTokenKeyFile.Load(DataFolder);
    }

    /// <summary>A service instance over the test database, with the business clock and data folder of this fixture.</summary>
    public async Task<IAlbaHost> StartHost(IDictionary<string, string>? settings = null)
    {
        var host = await AlbaHost.For<Program>(builder =>
        {
            builder.UseEnvironment(Environment);
            // Per-fixture settings go through the builder, not process-wide environment variables: two fixtures start
            // side by side.
            builder.UseSetting("TenantEvents:DataFolder", DataFolder);
            builder.UseSetting("TenantEvents:ProvisioningWebhookSecret", WebhookSecret);
            // The test identity providers (tests/idp) listen on plain http on loopback.
            builder.UseSetting("TenantEvents:AllowInsecureIdentityProviders", "true");
            // The test webhook receiver (tests/webhooks) listens on plain http on loopback.
            builder.UseSetting("TenantEvents:AllowPrivateWebhooks", "true");
            // Claimed domains resolve (through a test's own DNS server, Support/TestDns) to loopback; tenants may take
            // subdomains of this zone.
            builder.UseSetting("TenantEvents:AllowPrivateDomainVerification", "true");
            builder.UseSetting("TenantEvents:TenantDomainZone", "tenants.example.test");
            // Checkpoints on demand only: the audit job's rounds are run by the tests that test them.
            builder.UseSetting("TenantEvents:AuditCheckpointInterval", "01:00:00");
            builder.UseSetting("TenantEvents:AuditLedgerInterval", "01:00:00");
            // Quota usage is flushed by the tests that read it (no timing in tests).
            builder.UseSetting("TenantEvents:QuotaFlushInterval", "01:00:00");
            builder.UseSetting("TenantEvents:AnalyticsFlushInterval", "01:00:00");
            // The analytics projector runs when a test asks (AnalyticsProjector.CatchUpAsync), not between a reset's truncates.
            builder.UseSetting("TenantEvents:AnalyticsProjectionInterval", "01:00:00");
            // Compliance deadlines fire when a test runs the job's round (ComplianceJobs.RunOnceAsync) at the clock it set.
            builder.UseSetting("TenantEvents:ComplianceJobInterval", "01:00:00");
            // Sweeps only when a test asks for one (the business clock jumps months ahead in some tests).
            builder.UseSetting("TenantEvents:ComplianceSweepInterval", "3650.00:00:00");
            // The platform's incidents run under German (NIS2, GDPR) rules.
            builder.UseSetting("TenantEvents:PlatformJurisdiction", "DE");
            // Every request of the suite comes from one (absent) client address, and development tokens are verified on
            // every request: the anonymous-request bound is set small by its own test (BoundsTests), not here.
            builder.UseSetting("TenantEvents:AnonymousRequestsPerWindow", "1000000");
            // Outside Development the service refuses to start without its public address (it would state a wrong one).
            if (Environment != "Development") builder.UseSetting("TenantEvents:PublicUrl", "http://localhost:5080");
            foreach (var (key, value) in settings ?? new Dictionary<string, string>()) builder.UseSetting(key, value);
            builder.ConfigureServices(services =>
            {
                services.RemoveAll<Clock>();
                services.AddSingleton(new Clock(Time));
                services.RunWolverineInSoloMode();
                services.DisableAllExternalWolverineTransports();
            });
        });
        // As under Kestrel, a synchronous write to a request or response is an error here too (Alba allows it).
        if (host.Server is Microsoft.AspNetCore.TestHost.TestServer server) server.AllowSynchronousIO = false;
        return host;
    }

    private IAlbaHost? _second;

    /// <summary>
    /// A second service instance on the same database (started on first use): for what must hold across instances.
    /// Its fair share is small (20 requests a second, bursts of 20) so that fair share can be seen at work; its analytics
    /// projector reads 100 sequence numbers a batch.
    /// </summary>
    public async Task<IAlbaHost> SecondHost()
    {
        await _providersGate.WaitAsync();
        try
        {
            return _second ??= await StartHost(new Dictionary<string, string>
            {
                ["TenantEvents:FairShareRequestsPerSecond"] = "20",
                ["TenantEvents:FairShareBurst"] = "20",
                // Its analytics projector reads in small batches: a rebuild there takes many batches, each next one read ahead.
                ["TenantEvents:AnalyticsBatchSize"] = "100",
            });
        }
        finally
        {
            _providersGate.Release();
        }
    }

    public HttpClient SecondClient(IAlbaHost host, string? token = null)
    {
        var client = host.Server.CreateClient();
        if (token is not null) client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    private readonly SemaphoreSlim _providersGate = new(1, 1);
    private readonly List<TestIdentityProvider> _providers = [];

    /// <summary>The n-th real OpenID provider process of this collection (0, 1, ...), started on first use.</summary>
    public async Task<TestIdentityProvider> IdentityProvider(int n)
    {
        await _providersGate.WaitAsync();
        try
        {
            while (_providers.Count <= n) _providers.Add(await TestIdentityProvider.StartAsync());
            return _providers[n];
        }
        finally
        {
            _providersGate.Release();
        }
    }

    private TestWebhookReceiver? _receiver;

    /// <summary>The collection's webhook receiver process, started on first use.</summary>
    public async Task<TestWebhookReceiver> WebhookReceiver()
    {
        await _providersGate.WaitAsync();
        try
        {
            return _receiver ??= await TestWebhookReceiver.StartAsync();
        }
        finally
        {
            _providersGate.Release();
        }
    }

    public async Task DisposeAsync()
    {
        if (_receiver is not null) await _receiver.DisposeAsync();
        foreach (var provider in _providers) await provider.DisposeAsync();
        if (_second is not null)
        {
            await _second.StopAsync();
            await _second.DisposeAsync();
        }
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

/// <summary>
/// The test database, one connection string per role: from ConnectionStrings__TenantEvents(Owner|Platform) as
/// `make test` sets them, else the local cluster (started if need be).
/// </summary>
public static class TestDatabase
{
    private static readonly Lazy<string> Started = new(() =>
    {
        if (string.IsNullOrEmpty(System.Environment.GetEnvironmentVariable("ConnectionStrings__TenantEvents")))
            Run(Script, "start tenantevents_test");
        return "";
    });

    private static readonly SemaphoreSlim MigrationLock = new(1, 1);
    private static bool _migrated;

    private static string Script => Path.Combine(RepositoryRoot(), "ops", "postgres", "local-cluster.sh");

    /// <summary>The service's role (tenantevents_app).</summary>
    public static string ConnectionString => Resolve("", "app");
    public static string OwnerConnectionString => Resolve("Owner", "owner");
    public static string PlatformConnectionString => Resolve("Platform", "platform");

    private static string Resolve(string suffix, string role)
    {
        var configured = System.Environment.GetEnvironmentVariable("ConnectionStrings__TenantEvents" + suffix);
        if (!string.IsNullOrEmpty(configured)) return configured;
        _ = Started.Value;
        return Run(Script, $"url tenantevents_test {role}").Trim();
    }

    /// <summary>The test zone: German, French and Austrian tenants live in a database of their own.</summary>
    public const string EuZone = "eu";

    public static string EuDatabase => MainDatabase + "_eu";

    /// <summary>The cluster's superuser on the main database: what an intruder with full database rights holds.</summary>
    /// <summary>Runs SQL as the cluster's superuser (what an operator, or an outage, does to a database).</summary>
    public static async Task SuperuserAsync(string sql)
    {
        await using var connection = new Npgsql.NpgsqlConnection(SuperuserConnectionString);
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    public static string SuperuserConnectionString =>
        new Npgsql.NpgsqlConnectionStringBuilder(OwnerConnectionString) { Username = "postgres" }.ConnectionString;

    /// <summary>A superuser connection with every trigger switched off, as an intruder tampering with stored rows would open it.</summary>
    public static async Task<Npgsql.NpgsqlConnection> TamperingConnection()
    {
        var connection = new Npgsql.NpgsqlConnection(SuperuserConnectionString);
        await connection.OpenAsync();
        await using var off = new Npgsql.NpgsqlCommand("set session_replication_role = replica", connection);
        await off.ExecuteNonQueryAsync();
        return connection;
    }

    public static string MainDatabase => new Npgsql.NpgsqlConnectionStringBuilder(OwnerConnectionString).Database!;

    /// <summary>
    /// Two residency zones (the default one, the main database, and "eu") and dedicated databases in both, for every
    /// host of the run: process-wide, since `migrate` reads them too.
    /// </summary>
    public static void ConfigureZones()
    {
        System.Environment.SetEnvironmentVariable("TenantEvents__Zones__eu__Database", EuDatabase);
        System.Environment.SetEnvironmentVariable("TenantEvents__Zones__eu__Codes__0", "DE");
        System.Environment.SetEnvironmentVariable("TenantEvents__Zones__eu__Codes__1", "FR");
        System.Environment.SetEnvironmentVariable("TenantEvents__Zones__eu__Codes__2", "AT");
        System.Environment.SetEnvironmentVariable("TenantEvents__Zones__eu__DedicatedPool", "1");
        System.Environment.SetEnvironmentVariable("TenantEvents__Zones__default__DedicatedPool", "2");
        // The tests move the service's clock (Time); the test databases follow it for share expiry (set by migrate, as the owner).
        System.Environment.SetEnvironmentVariable("TenantEvents__DatabaseFollowsServiceClock", "true");
    }

    /// <summary>Every database of the platform (main first), as the owner.</summary>
    public static async Task<IReadOnlyList<(string Id, string Database, string ConnectionString)>> Databases()
    {
        await using var connection = new Npgsql.NpgsqlConnection(OwnerConnectionString);
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand(
            "select id, database from tenantevents.tenant_databases order by id <> 'default', id", connection);
        await using var reader = await command.ExecuteReaderAsync();
        var list = new List<(string, string, string)>();
        while (await reader.ReadAsync())
            list.Add((reader.GetString(0), reader.GetString(1),
                new Npgsql.NpgsqlConnectionStringBuilder(OwnerConnectionString) { Database = reader.GetString(1) }.ConnectionString));
        return list;
    }

    /// <summary>`TenantEvents migrate`, once per test run, as the schema owner.</summary>
    public static async Task Migrate()
    {
        await MigrationLock.WaitAsync();
        try
        {
            if (_migrated) return;
            await DropExtraDedicatedDatabases();
            (await TenantEvents.Infrastructure.DatabaseMigration.Run([])).ShouldBe(0);
            _migrated = true;
        }
        finally
        {
            MigrationLock.Release();
        }
    }

    /// <summary>
    /// A test adds dedicated databases through `migrate` while the service runs; the next run starts again from the
    /// configured pools, so the cluster does not collect a database per run.
    /// </summary>
    private static async Task DropExtraDedicatedDatabases()
    {
        await using var connection = new Npgsql.NpgsqlConnection(OwnerConnectionString);
        await connection.OpenAsync();
        var extra = new List<string>();
        try
        {
            await using var find = new Npgsql.NpgsqlCommand(
                "select database from tenantevents.tenant_databases where dedicated and id not in ('default-d1', 'default-d2', 'eu-d1')", connection);
            await using var reader = await find.ExecuteReaderAsync();
            while (await reader.ReadAsync()) extra.Add(reader.GetString(0));
        }
        catch (Npgsql.PostgresException e) when (e.SqlState == Npgsql.PostgresErrorCodes.UndefinedTable) { return; }
        if (extra.Count == 0) return;
        await using (var forget = new Npgsql.NpgsqlCommand(
            "delete from tenantevents.tenant_placements p using tenantevents.tenant_databases d where p.database_id = d.id and d.database = any(@names); " +
            "delete from tenantevents.tenant_databases where database = any(@names)", connection))
        {
            forget.Parameters.AddWithValue("names", extra.ToArray());
            await forget.ExecuteNonQueryAsync();
        }
        foreach (var name in extra)
        {
            await using var drop = new Npgsql.NpgsqlCommand($"drop database if exists \"{name}\" with (force)", connection);
            await drop.ExecuteNonQueryAsync();
        }
    }

    /// <summary>The tables emptied between tests: those the declaration says (DatabasePrivileges, TableLifetime.Emptied).</summary>
    private static readonly IEnumerable<string> ResetTables = TenantEvents.Infrastructure.Databases.DatabasePrivileges.Tables
        .Where(t => t.Lifetime == TenantEvents.Infrastructure.Databases.TableLifetime.Emptied).Select(t => t.Table);

    /// <summary>Empties the tenant data as the owner (the service's role could not: row-level security binds it).</summary>
    public static async Task Reset()
    {
        foreach (var (id, _, connectionString) in await Databases())
        {
            await using var connection = new Npgsql.NpgsqlConnection(connectionString);
            await connection.OpenAsync();
            // A database the test left no row in is not truncated (most tests use only the main one): truncating every
            // table of all six databases made the reset a large part of the whole run. One that has any is emptied whole,
            // so what background work commits while the reset runs is still taken by the truncate's lock. The event
            // sequence restarts with it: the database looks as a new one does (a rebuild or a catch-up of the next test reads
            // only its own numbers, not every number ever taken on this cluster).
            await using var command = new Npgsql.NpgsqlCommand("""
                do $$ declare t text; filled boolean := false; list text := ''; begin
                  select string_agg(format('tenantevents.%I', tablename), ', ') into list from pg_tables
                    where schemaname = 'tenantevents' and tablename in (
                """ + string.Join(", ", ResetTables.Select(t => $"'{t}'")) + """
                );
                  -- Writers still in flight (background work of the previous test) finish before the tables are looked at; so
                  -- does an analytics batch (its position is put back below, and a batch read before would move it on again).
                  perform pg_advisory_xact_lock(hashtextextended('tenantevents:analytics-projection', 0));
                  execute 'lock table ' || list || ' in share mode';
                  for t in select unnest(string_to_array(list, ', ')) loop
                    execute 'select exists (select 1 from ' || t || ')' into filled;
                    exit when filled;
                  end loop;
                  if filled then
                    execute 'truncate ' || list || ' restart identity';
                    -- The projector's row is kept (it is the database's), its position goes back with the sequence.
                    update tenantevents.analytics_progress set position = 0, events = 0, last_event_at = null;
                  end if;
                end $$
                """ + (id == "default" ? "; update tenantevents.tenant_databases set dedicated_to = null" : ""), connection);
            // The service's background work (audit projection, quota flushes) may hold locks on some of these tables while
            // the truncate waits for others: PostgreSQL breaks such a deadlock by failing one side, so try again.
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    await command.ExecuteNonQueryAsync();
                    break;
                }
                catch (Npgsql.PostgresException e) when (e.SqlState == Npgsql.PostgresErrorCodes.DeadlockDetected && attempt < 5)
                {
                }
            }
        }
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
