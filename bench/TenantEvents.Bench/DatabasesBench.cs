using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Npgsql;
using TenantEvents.Infrastructure.Security;

/// <summary>
/// Growth past one database (issue 20): the same estate, 10,000 tenants by default, placed in one shared database and
/// then over four (the main one and three more of the default zone, by capacity), on this one PostgreSQL server. For
/// each layout: provisioning throughput (request, approve, provision over HTTP, 16 clients) and a read mix (a tenant, its
/// organisation tree, its audit entries; random tenants, 16 clients, a fixed number of requests), each with its
/// percentiles; and the ratio of four databases to one, measured in the same run. One server on 2 cores here: the figure
/// says what spreading costs or saves on one machine (smaller tables and indexes per database, more connections),
/// not what four servers would give.
/// </summary>
static class DatabasesBench
{
    private const string Extra = "tenantevents_bench_shared";

    public static async Task<int> Run(BenchOptions options, string[] args, string connectionString, string owner, string platform)
    {
        string Arg(string name, string fallback) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault() ?? fallback;
        var tenants = int.Parse(Arg("--db-tenants", "10000"));
        var reads = int.Parse(Arg("--db-reads", "20000"));
        var results = new Dictionary<int, (double Provisioned, double CommandsPerSecond, double ReadsPerSecond, double P50, double P95, string Spread)>();
        foreach (var databases in new[] { 1, 4 })
        {
            await Reset(owner);
            for (var n = 1; n < 4; n++)
                Environment.SetEnvironmentVariable($"TenantEvents__Zones__default__Shared__{n - 1}__Database", databases == 4 ? $"{Extra}_{n}" : null);
            await TenantEvents.Infrastructure.DatabaseMigration.Run([]);
            await using var service = await Service.Start(options, connectionString, owner, platform, sealing: true);
            var (ids, commandsPerSecond, seconds) = await Provision(service, options.Concurrency, tenants);
            var (readsPerSecond, p50, p95) = await ReadMix(service, options.Concurrency, ids, reads);
            var spread = await Spread(service);
            results[databases] = (seconds, commandsPerSecond, readsPerSecond, p50, p95, spread);
            if (databases == 4 && int.Parse(Arg("--move-events", "5000")) is > 0 and var moveEvents)
                await Move(service, options.Concurrency, owner, ids[0], moveEvents);
            Console.WriteLine($"{databases} database(s): {tenants} tenants provisioned in {seconds:F0} s ({commandsPerSecond:F0} commands/s) | " +
                              $"read mix {readsPerSecond:F0} requests/s, p50 {p50:F1} ms, p95 {p95:F1} ms | tenants per database: {spread}");
        }
        for (var n = 1; n < 4; n++) Environment.SetEnvironmentVariable($"TenantEvents__Zones__default__Shared__{n - 1}__Database", null);
        Console.WriteLine();
        Console.WriteLine($"== {tenants} tenants, 4 databases against 1 (one PostgreSQL server, {Environment.ProcessorCount} cores)");
        Console.WriteLine($"provisioning commands/s : {results[4].CommandsPerSecond:F0} vs {results[1].CommandsPerSecond:F0}   ratio {results[4].CommandsPerSecond / results[1].CommandsPerSecond:F2}");
        Console.WriteLine($"read mix requests/s     : {results[4].ReadsPerSecond:F0} vs {results[1].ReadsPerSecond:F0}   ratio {results[4].ReadsPerSecond / results[1].ReadsPerSecond:F2}");
        Console.WriteLine($"read mix p95            : {results[4].P95:F1} ms vs {results[1].P95:F1} ms");
        return 0;
    }

    /// <summary>
    /// One tenant grown to the given number of renames, moved to another shared database with the service running (as
    /// `move-tenant` does); against the raw binary COPY of the same tenant's event rows between the same two databases.
    /// </summary>
    private static async Task Move(Service service, int concurrency, string owner, string tenant, int renames)
    {
        var handler = new SocketsHttpHandler { MaxConnectionsPerServer = concurrency * 2 };
        var admin = Client(service, handler, Roles.PlatformAdmin, "bench-admin");
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async _ =>
        {
            while (Interlocked.Increment(ref next) < renames)
            {
                // One tenant, many writers: a lost race is a 412/409 to retry, not a failure.
                using var response = await admin.PutAsJsonAsync($"/api/tenants/{tenant}/name", new { name = $"Agency {Guid.NewGuid():N}" });
                if (response.StatusCode is not (HttpStatusCode.OK or HttpStatusCode.Conflict or HttpStatusCode.PreconditionFailed))
                    throw new InvalidOperationException($"rename answered {response.StatusCode}");
            }
        }));
        var report = JsonDocument.Parse(await admin.GetStringAsync("/api/platform/databases")).RootElement.GetProperty("databases");
        var placed = JsonDocument.Parse(await admin.GetStringAsync($"/api/tenants/{tenant}")).RootElement.GetProperty("storage").GetProperty("database").GetString()!;
        var target = report.EnumerateArray().Select(d => d.GetProperty("id").GetString()!).First(id => id != placed && !id.Contains("-d"));
        var databaseOf = report.EnumerateArray().ToDictionary(d => d.GetProperty("id").GetString()!, d => d.GetProperty("database").GetString()!);
        string Owner(string id) => new NpgsqlConnectionStringBuilder(owner) { Database = databaseOf[id] }.ConnectionString;

        // Baseline: the tenant's event rows, binary COPY from the one database to a scratch table of the other.
        var raw = Stopwatch.StartNew();
        await using (var from = new NpgsqlConnection(Owner(placed)))
        await using (var to = new NpgsqlConnection(Owner(target)))
        {
            await from.OpenAsync();
            await to.OpenAsync();
            await using (var create = new NpgsqlCommand("create temp table raw_copy as select * from tenantevents.mt_events with no data", to))
                await create.ExecuteNonQueryAsync();
            await using var reader = await from.BeginRawBinaryCopyAsync($"copy (select * from tenantevents.mt_events where tenant_id = '{tenant}') to stdout (format binary)");
            await using var writer = await to.BeginRawBinaryCopyAsync("copy raw_copy from stdin (format binary)");
            await reader.CopyToAsync(writer);
        }
        raw.Stop();
        var moved = await TenantEvents.Tenants.Moves.TenantMove.RunAsync(owner, "tenantevents", Guid.Parse(tenant), target, TimeSpan.FromSeconds(1),
            TextWriter.Null);
        Console.WriteLine($"move of one tenant ({moved.Events} events, {moved.LogEntries} log entries, {moved.Checkpoints} checkpoints) from {placed} to {target}: " +
                          $"writes refused {moved.WritesRefused.TotalMilliseconds:F0} ms, {moved.Total.TotalMilliseconds:F0} ms in all (1 s of it the grace) | " +
                          $"raw COPY of its events {raw.Elapsed.TotalMilliseconds:F0} ms | ratio refused/raw {moved.WritesRefused.TotalMilliseconds / raw.Elapsed.TotalMilliseconds:F1}");
    }

    private static async Task Reset(string owner)
    {
        await using var connection = new NpgsqlConnection(owner);
        await connection.OpenAsync();
        await using (var drop = new NpgsqlCommand("drop schema if exists tenantevents cascade", connection)) await drop.ExecuteNonQueryAsync();
        for (var n = 1; n < 4; n++)
        {
            await using var dropDatabase = new NpgsqlCommand($"drop database if exists {Extra}_{n} with (force)", connection);
            await dropDatabase.ExecuteNonQueryAsync();
        }
        // The local key service's keys belong to the dropped tenants.
        try { Directory.Delete(Service.SharedDataFolder, true); } catch (DirectoryNotFoundException) { }
    }

    private static HttpClient Client(Service service, SocketsHttpHandler handler, string role, string subject)
    {
        var client = new HttpClient(handler, disposeHandler: false) { BaseAddress = new Uri(service.Url), Timeout = TimeSpan.FromMinutes(2) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer",
            DevTokens.Issue(DevTokenKeyFile.Load(service.DataFolder), subject, [role], null, TimeSpan.FromHours(2), DateTime.UtcNow));
        return client;
    }

    private static async Task<(string[] Ids, double CommandsPerSecond, double Seconds)> Provision(Service service, int concurrency, int tenants)
    {
        var handler = new SocketsHttpHandler { MaxConnectionsPerServer = concurrency * 2 };
        var admin = Client(service, handler, Roles.PlatformAdmin, "bench-admin");
        var approver = Client(service, handler, Roles.PlatformApprover, "bench-approver");
        var ids = new string[tenants];
        var next = -1;
        var wall = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < tenants)
                ids[i] = await Provisioning.ProvisionOneId(admin, approver, $"estate-{i}");
        }));
        wall.Stop();
        return (ids, tenants * 3 / wall.Elapsed.TotalSeconds, wall.Elapsed.TotalSeconds);
    }

    private static async Task<(double PerSecond, double P50, double P95)> ReadMix(Service service, int concurrency, string[] ids, int reads)
    {
        var handler = new SocketsHttpHandler { MaxConnectionsPerServer = concurrency * 2 };
        var admin = Client(service, handler, Roles.PlatformAdmin, "bench-admin");
        var auditor = Client(service, handler, Roles.Auditor, "bench-auditor");
        string[] paths = ["/api/tenants/{0}", "/api/tenants/{0}/organisations", "/api/tenants/{0}/audit/entries?limit=20"];
        var latencies = new double[reads];
        var next = -1;
        var wall = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async worker =>
        {
            var random = new Random(worker);
            int i;
            while ((i = Interlocked.Increment(ref next)) < reads)
            {
                var path = string.Format(paths[i % paths.Length], ids[random.Next(ids.Length)]);
                var clock = Stopwatch.StartNew();
                using var response = await (i % paths.Length == 2 ? auditor : admin).GetAsync(path);
                if (response.StatusCode != HttpStatusCode.OK)
                    throw new InvalidOperationException($"{path} answered {response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
                latencies[i] = clock.Elapsed.TotalMilliseconds;
            }
        }));
        wall.Stop();
        Array.Sort(latencies);
        double Percentile(double p) => latencies[Math.Min(latencies.Length - 1, (int)Math.Ceiling(p * latencies.Length) - 1)];
        return (reads / wall.Elapsed.TotalSeconds, Percentile(0.50), Percentile(0.95));
    }

    private static async Task<string> Spread(Service service)
    {
        using var handler = new SocketsHttpHandler();
        var admin = Client(service, handler, Roles.PlatformAdmin, "bench-admin");
        var report = JsonDocument.Parse(await admin.GetStringAsync("/api/platform/databases")).RootElement.GetProperty("databases");
        return string.Join(", ", report.EnumerateArray().Where(d => d.GetProperty("kind").GetString() == "shared")
            .Select(d => $"{d.GetProperty("id").GetString()} {d.GetProperty("tenants").GetInt64()}"));
    }
}
