using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Npgsql;
using TenantEvents.Infrastructure.Security;

// Tenant provisioning benchmark (issue 2). Starts the service (Release build, static handler code) against its own
// database, provisions tenants end to end over HTTP (request -> approve -> provision) with N concurrent clients, and
// in the same run measures raw single-row INSERT+COMMIT into the same PostgreSQL with the same concurrency.
// Prints start-up time, time-to-active percentiles, commands per second, raw inserts per second and the ratio,
// per round and as medians over the rounds.

if (args.Contains("--flood")) return await QuotaBench.Flood(args);
var options = BenchOptions.Parse(args);
string Connection(string name) => Environment.GetEnvironmentVariable("ConnectionStrings__" + name)
                                  ?? throw new InvalidOperationException($"Set ConnectionStrings__{name} (make bench does).");
var connectionString = Connection("TenantEvents");
var ownerConnectionString = Connection("TenantEventsOwner");
var platformConnectionString = Connection("TenantEventsPlatform");
if (args.Contains("--orgs")) return await OrgBench.Run(options, connectionString, ownerConnectionString, platformConnectionString);
if (args.Contains("--auth")) return await AuthBench.Run(options, connectionString, ownerConnectionString, platformConnectionString);
if (args.Contains("--scim")) return await ScimBench.Run(options, connectionString, ownerConnectionString, platformConnectionString);
if (args.Contains("--quotas")) return await QuotaBench.Run(options, args, connectionString, ownerConnectionString, platformConnectionString);
if (args.Contains("--sharing")) return await SharingBench.Run(options, args, connectionString, ownerConnectionString, platformConnectionString);
if (args.Contains("--delivery")) return await DeliveryBench.Run(options, args, connectionString, ownerConnectionString, platformConnectionString);
if (args.Contains("--analytics")) return await AnalyticsBench.Run(options, args, connectionString, ownerConnectionString, platformConnectionString);
if (args.Contains("--audit")) return await AuditBench.Run(options, args, connectionString, ownerConnectionString, platformConnectionString);
if (args.Contains("--databases")) return await DatabasesBench.Run(options, args, connectionString, ownerConnectionString, platformConnectionString);
if (args.Contains("--manifest")) return await ManifestBench.Run(options, args, connectionString, ownerConnectionString, platformConnectionString);
if (args.Contains("--billing")) return await BillingBench.Run(options, args, connectionString, ownerConnectionString, platformConnectionString);
if (args.Contains("--compute")) return await ComputeBench.Run(options, args);
var rounds = new List<Round>();
var unsealed = new List<Round>();
for (var round = 1; round <= options.Rounds; round++)
{
    // Each round runs sealing on and off back to back (alternating which goes first), against the same raw baseline.
    foreach (var sealing in round % 2 == 1 ? new[] { true, false } : new[] { false, true })
    {
        await ResetDatabase(ownerConnectionString);
        await TenantEvents.Infrastructure.DatabaseMigration.Run([]);
        await using var service = await Service.Start(options, connectionString, ownerConnectionString, platformConnectionString, sealing);
        var provisioning = await Provisioning.Run(service, options, round);
        var raw = await RawInserts.Run(ownerConnectionString, connectionString, options.Concurrency, provisioning.Commands);
        var result = new Round(round, sealing, service.StartupMs, provisioning, raw);
        (sealing ? rounds : unsealed).Add(result);
        result.Print();
    }
}

// Steady state: 100 existing tenants written to until 10,000 events, sealing on and off; with sealing on, the key
// service's unwraps are counted. Each mode provisions with one service process and writes with a fresh one, whose
// key cache starts cold, as after a restart.
var steady = new Dictionary<bool, (int Events, long Unwraps, double PerSecond)>();
foreach (var sealing in new[] { true, false })
{
    await ResetDatabase(ownerConnectionString);
    await TenantEvents.Infrastructure.DatabaseMigration.Run([]);
    string[] keyTenants;
    await using (var service = await Service.Start(options, connectionString, ownerConnectionString, platformConnectionString, sealing))
        keyTenants = await KeyTraffic.Provision(service, options);
    await using (var service = await Service.Start(options, connectionString, ownerConnectionString, platformConnectionString, sealing))
        steady[sealing] = await KeyTraffic.Write(service, options, keyTenants);
    Console.WriteLine($"steady writes, sealing {(sealing ? "on " : "off")}: {steady[sealing].PerSecond:F0} commands/s, {steady[sealing].Unwraps} unwraps");
}
var (events, unwraps, _) = steady[true];
try { Directory.Delete(Service.SharedDataFolder, true); } catch (IOException) { }
Console.WriteLine();
Console.WriteLine($"== median of {rounds.Count} rounds ({options.Tenants} tenants per round, {options.Concurrency} concurrent clients, {Environment.ProcessorCount} cores)");
Console.WriteLine($"service ready after start      : {Stats.Median(rounds.Select(r => r.StartupMs)):F0} ms   (aim: under 3000 ms)");
Console.WriteLine($"time-to-active p50 / p95 / p99 : {Stats.Median(rounds.Select(r => r.Provisioning.P50)):F1} / {Stats.Median(rounds.Select(r => r.Provisioning.P95)):F1} / {Stats.Median(rounds.Select(r => r.Provisioning.P99)):F1} ms   (aim: p95 under 1000 ms)");
Console.WriteLine($"commands per second            : {Stats.Median(rounds.Select(r => r.Provisioning.CommandsPerSecond)):F0}");
Console.WriteLine($"raw INSERT+COMMIT per second   : {Stats.Median(rounds.Select(r => r.Raw.PerSecond)):F0}");
Console.WriteLine($"ratio commands / raw inserts   : {Stats.Median(rounds.Select(r => r.Ratio)):F2}   (aim: 0.5 or above)");
Console.WriteLine($"commands per second, unsealed  : {Stats.Median(unsealed.Select(r => r.Provisioning.CommandsPerSecond)):F0}");
Console.WriteLine($"sealing cost, provisioning      : {Stats.Median(rounds.Zip(unsealed, (s, u) => s.Provisioning.CommandsPerSecond / u.Provisioning.CommandsPerSecond)):F2} sealed/unsealed (new tenants: each creates its keys)");
Console.WriteLine($"sealing cost, steady writes    : {steady[true].PerSecond / steady[false].PerSecond:F2} sealed/unsealed ({steady[true].PerSecond:F0} vs {steady[false].PerSecond:F0} commands/s)   (aim: 0.90 or above, i.e. at most 10% slower)");
Console.WriteLine($"key-service unwraps            : {unwraps} for {events} events across {options.KeyTenants} tenants = {(double)unwraps / options.KeyTenants:F2} per tenant   (aim: about 1)");
return 0;


static async Task ResetDatabase(string connectionString)
{
    await using var connection = new NpgsqlConnection(connectionString);
    await connection.OpenAsync();
    await using var command = new NpgsqlCommand("drop schema if exists tenantevents cascade; drop table if exists public.bench_raw_inserts;", connection);
    await command.ExecuteNonQueryAsync();
}

sealed record BenchOptions(int Tenants, int Concurrency, int Rounds, string ServiceDll, string Url, int KeyTenants, int KeyEvents,
    int Orgs = 100_000, int Grants = 200_000, int HttpChecks = 2000, int ScimUsers = 100_000)
{
    public static BenchOptions Parse(string[] args)
    {
        string Arg(string name, string fallback) =>
            args.SkipWhile(a => a != name).Skip(1).FirstOrDefault() ?? fallback;
        return new BenchOptions(int.Parse(Arg("--tenants", "300")), int.Parse(Arg("--concurrency", "16")), int.Parse(Arg("--rounds", "3")),
            Arg("--service", "src/TenantEvents/bin/Release/net10.0/TenantEvents.dll"), Arg("--url", "http://127.0.0.1:5099"),
            int.Parse(Arg("--key-tenants", "100")), int.Parse(Arg("--key-events", "10000")),
            int.Parse(Arg("--orgs-count", "100000")), int.Parse(Arg("--grants", "200000")), int.Parse(Arg("--http-checks", "2000")),
            int.Parse(Arg("--scim-users", "100000")));
    }
}

sealed record Round(int Number, bool Sealing, double StartupMs, ProvisioningResult Provisioning, RawResult Raw)
{
    public double Ratio => Provisioning.CommandsPerSecond / Raw.PerSecond;

    public void Print() => Console.WriteLine(
        $"round {Number} sealing {(Sealing ? "on " : "off")}: ready {StartupMs:F0} ms | {Provisioning.Tenants} tenants active, time-to-active p50 {Provisioning.P50:F1} p95 {Provisioning.P95:F1} p99 {Provisioning.P99:F1} ms | " +
        $"{Provisioning.CommandsPerSecond:F0} commands/s | raw {Raw.PerSecond:F0} inserts/s | ratio {Ratio:F2}");
}

sealed class Service : IAsyncDisposable
{
    private readonly Process _process;
    public string Url { get; }
    public string DataFolder { get; }
    public double StartupMs { get; private set; }

    private Service(Process process, string url, string dataFolder)
    {
        _process = process;
        Url = url;
        DataFolder = dataFolder;
    }

    /// <summary>The data folder (dev token key, local key service) of the bench run; removed at exit.</summary>
    public static readonly string SharedDataFolder = Path.Combine(Path.GetTempPath(), "tenantevents-bench-" + Guid.NewGuid().ToString("N"));

    /// <summary>The service on an empty schema (dropped and migrated again), sealing on: a benchmark that seeds its own data.</summary>
    public static async Task<Service> StartFresh(BenchOptions options, string connectionString, string owner, string platform)
    {
        await using (var reset = new NpgsqlConnection(owner))
        {
            await reset.OpenAsync();
            await using var command = new NpgsqlCommand("drop schema if exists tenantevents cascade", reset);
            await command.ExecuteNonQueryAsync();
        }
        await TenantEvents.Infrastructure.DatabaseMigration.Run([]);
        return await Start(options, connectionString, owner, platform, sealing: true);
    }

    /// <summary>A client of the service with a development token of one role (of one tenant), valid two hours.</summary>
    public HttpClient Client(string role, Guid? tenant = null)
    {
        var client = new HttpClient { BaseAddress = new Uri(Url), Timeout = TimeSpan.FromMinutes(10) };
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer",
            TenantEvents.Infrastructure.Security.DevTokens.Issue(DevTokenKeyFile.Load(DataFolder), "bench-" + role, [role], tenant, TimeSpan.FromHours(2),
                DateTime.UtcNow));
        return client;
    }

    public static async Task<Service> Start(BenchOptions options, string connectionString, string owner, string platform, bool sealing)
    {
        var dataFolder = SharedDataFolder;
        var info = new ProcessStartInfo("dotnet", $"{options.ServiceDll} --urls {options.Url}")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        info.Environment["ASPNETCORE_ENVIRONMENT"] = "Development";
        info.Environment["ConnectionStrings__TenantEvents"] = connectionString;
        info.Environment["ConnectionStrings__TenantEventsOwner"] = owner;
        info.Environment["ConnectionStrings__TenantEventsPlatform"] = platform;
        info.Environment["TenantEvents__DataFolder"] = dataFolder;
        info.Environment["Logging__LogLevel__Default"] = "Warning";
        info.Environment["TenantEvents__Sealing"] = sealing ? "true" : "false";
        // The auth benchmark's identity provider (tests/idp) listens on plain http on loopback.
        info.Environment["TenantEvents__AllowInsecureIdentityProviders"] = "true";
        var clock = Stopwatch.StartNew();
        var process = Process.Start(info)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) Console.Error.WriteLine("service: " + e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var service = new Service(process, options.Url, dataFolder);
        using var http = new HttpClient();
        while (true)
        {
            if (process.HasExited) throw new InvalidOperationException("The service exited during start-up.");
            try
            {
                if ((await http.GetAsync($"{options.Url}/health/ready")).StatusCode == HttpStatusCode.OK) break;
            }
            catch (HttpRequestException) { }
            await Task.Delay(10);
            if (clock.Elapsed > TimeSpan.FromSeconds(60)) throw new TimeoutException("The service did not become ready in 60 s.");
        }
        service.StartupMs = clock.Elapsed.TotalMilliseconds;
        return service;
    }

    public async ValueTask DisposeAsync()
    {
        try { _process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
        await _process.WaitForExitAsync();
    }
}

static class KeyTraffic
{
    private static HttpClient Client(Service service, string role, string subject)
    {
        var client = new HttpClient { BaseAddress = new Uri(service.Url) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer",
            DevTokens.Issue(DevTokenKeyFile.Load(service.DataFolder), subject, [role], null, TimeSpan.FromHours(1), DateTime.UtcNow));
        return client;
    }

    public static async Task<string[]> Provision(Service service, BenchOptions options)
    {
        var admin = Client(service, Roles.PlatformAdmin, "bench-admin");
        var approver = Client(service, Roles.PlatformApprover, "bench-approver");
        var ids = new string[options.KeyTenants];
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, options.Concurrency).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < ids.Length)
                ids[i] = await Provisioning.ProvisionOneId(admin, approver, $"keys-{i}");
        }));
        return ids;
    }

    /// <summary>Renames the tenants round-robin until the event count (with their 3 provisioning events) is reached.</summary>
    public static async Task<(int Events, long Unwraps, double PerSecond)> Write(Service service, BenchOptions options, string[] ids)
    {
        var admin = Client(service, Roles.PlatformAdmin, "bench-admin");
        var events = ids.Length * 3;
        int next;
        var renames = Math.Max(0, options.KeyEvents - events);
        var renamed = 0;
        next = -1;
        var wall = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, options.Concurrency).Select(async worker =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < renames)
            {
                // Each worker owns its tenants (i % tenants spread by worker), so renames never race on one stream.
                var tenant = ids[i % ids.Length];
                using var response = await admin.PutAsJsonAsync($"/api/tenants/{tenant}/name", new { name = $"Agency renamed {i}" });
                if (response.StatusCode == HttpStatusCode.OK) Interlocked.Increment(ref renamed);
                else if (response.StatusCode != HttpStatusCode.Conflict)
                    throw new InvalidOperationException($"Rename answered {response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
            }
        }));
        wall.Stop();
        events += renamed;
        var status = JsonDocument.Parse(await admin.GetStringAsync("/api/platform/key-service")).RootElement;
        return (events, status.GetProperty("unwrapsSinceStart").GetInt64(), renames / wall.Elapsed.TotalSeconds);
    }
}

sealed record ProvisioningResult(int Tenants, int Commands, double P50, double P95, double P99, double CommandsPerSecond);

static class Provisioning
{
    public static async Task<ProvisioningResult> Run(Service service, BenchOptions options, int round)
    {
        var key = DevTokenKeyFile.Load(service.DataFolder);
        var handler = new SocketsHttpHandler { MaxConnectionsPerServer = options.Concurrency * 2 };
        HttpClient Client(string role, string subject)
        {
            var client = new HttpClient(handler, disposeHandler: false) { BaseAddress = new Uri(service.Url) };
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer",
                DevTokens.Issue(key, subject, [role], null, TimeSpan.FromHours(1), DateTime.UtcNow));
            return client;
        }
        var admin = Client(Roles.PlatformAdmin, "bench-admin");
        var approver = Client(Roles.PlatformApprover, "bench-approver");

        // Warm-up: a few tenants so the first requests' JIT and connection set-up are not in the figures.
        for (var i = 0; i < 5; i++) await ProvisionOne(admin, approver, $"warmup-{round}-{i}");

        var latencies = new double[options.Tenants];
        var next = -1;
        var wall = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, options.Concurrency).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < options.Tenants)
                latencies[i] = await ProvisionOne(admin, approver, $"bench-{round}-{i}");
        }));
        wall.Stop();
        Array.Sort(latencies);
        double Percentile(double p) => latencies[Math.Min(latencies.Length - 1, (int)Math.Ceiling(p * latencies.Length) - 1)];
        var commands = options.Tenants * 3;
        return new ProvisioningResult(options.Tenants, commands, Percentile(0.50), Percentile(0.95), Percentile(0.99), commands / wall.Elapsed.TotalSeconds);
    }

    private static async Task<double> ProvisionOne(HttpClient admin, HttpClient approver, string slug)
    {
        var clock = Stopwatch.StartNew();
        await ProvisionOneId(admin, approver, slug);
        return clock.Elapsed.TotalMilliseconds;
    }

    public static async Task<string> ProvisionOneId(HttpClient admin, HttpClient approver, string slug)
    {
        var created = await Expect(admin.PostAsJsonAsync("/api/tenants", new
        {
            name = $"Agency {slug}",
            slug,
            template = "government-services",
            residency = new { country = "US", subdivision = "US-TX" },
            contacts = new[] { new { name = "Bench Contact", email = "bench@agency.example.gov" } },
        }), HttpStatusCode.Created);
        var id = JsonDocument.Parse(created).RootElement.GetProperty("id").GetString();
        await Expect(approver.PostAsync($"/api/tenants/{id}/approve", null), HttpStatusCode.OK);
        var active = await Expect(admin.PostAsync($"/api/tenants/{id}/provision", null), HttpStatusCode.OK);
        if (JsonDocument.Parse(active).RootElement.GetProperty("state").GetString() != "active")
            throw new InvalidOperationException($"Tenant {id} is not active after provisioning.");
        return id!;
    }

    private static async Task<string> Expect(Task<HttpResponseMessage> request, HttpStatusCode status)
    {
        using var response = await request;
        var body = await response.Content.ReadAsStringAsync();
        if (response.StatusCode != status) throw new InvalidOperationException($"Expected {status}, got {response.StatusCode}: {body}");
        return body;
    }
}

sealed record RawResult(int Inserts, double PerSecond);

static class RawInserts
{
    /// <summary>The baseline: the same number of single-row INSERTs, each its own committed transaction, same concurrency.</summary>
    public static async Task<RawResult> Run(string ownerConnectionString, string connectionString, int concurrency, int inserts)
    {
        await using (var connection = new NpgsqlConnection(ownerConnectionString))
        {
            await connection.OpenAsync();
            await using var create = new NpgsqlCommand("""
                create table if not exists public.bench_raw_inserts (id uuid primary key, tenant_id uuid not null, data jsonb not null, at timestamptz not null);
                grant insert on public.bench_raw_inserts to tenantevents_app;
                """, connection);
            await create.ExecuteNonQueryAsync();
        }
        var next = -1;
        var wall = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async _ =>
        {
            await using var connection = new NpgsqlConnection(connectionString);
            await connection.OpenAsync();
            await using var insert = new NpgsqlCommand("insert into public.bench_raw_inserts (id, tenant_id, data, at) values ($1, $2, $3::jsonb, now())", connection);
            insert.Parameters.Add(new NpgsqlParameter { Value = Guid.Empty });
            insert.Parameters.Add(new NpgsqlParameter { Value = Guid.Empty });
            insert.Parameters.Add(new NpgsqlParameter { Value = "" });
            await insert.PrepareAsync();
            while (Interlocked.Increment(ref next) < inserts)
            {
                insert.Parameters[0].Value = Guid.CreateVersion7();
                insert.Parameters[1].Value = Guid.CreateVersion7();
                insert.Parameters[2].Value = "{\"name\":\"Agency\",\"state\":\"requested\",\"residency\":{\"country\":\"US\"}}";
                await insert.ExecuteNonQueryAsync();
            }
        }));
        return new RawResult(inserts, inserts / wall.Elapsed.TotalSeconds);
    }
}

static class Stats
{
    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
