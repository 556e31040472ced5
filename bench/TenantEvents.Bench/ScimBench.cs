using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Scim;

/// <summary>
/// SCIM filter + list over a tenant with many users (issue 5): the service in this process, N users pushed in batches
/// through the SCIM store (the same code path as POST /Users, 1,000 per transaction), then GET /Users?filter=...&amp;count=100
/// over HTTP with five kinds of filter. Baseline in the same run: the same filters as SQL over the same users stored
/// plain in one indexed PostgreSQL table (count + first page in one round trip). Prints p50/p95 per round and the
/// medians, the ratio to the baseline, and the cold load of the sealed directory.
/// </summary>
static class ScimBench
{
    private static readonly string[] Titles = ["Analyst", "Detective", "Sergeant", "Clerk", "Officer", "Dispatcher", "Inspector", "Chief"];
    private static readonly string[] Families = ["Jensen", "Anderson", "Garcia", "Nguyen", "Smith", "Johnson", "Okafor", "Kowalski", "Rossi", "Tanaka"];

    public static async Task<int> Run(BenchOptions options, string connectionString, string owner, string platform)
    {
        var users = options.ScimUsers;
        await InProcessService.ResetAsync(owner, "bench_scim_raw");
        var url = "http://127.0.0.1:5097";
        await using var app = await InProcessService.StartAsync(url, connectionString, platform);
        var key = DevTokenKeyFile.Load(Service.SharedDataFolder);
        HttpClient Client(string token) => new() { BaseAddress = new Uri(url), DefaultRequestHeaders = { Authorization = new AuthenticationHeaderValue("Bearer", token) } };
        string Dev(string role, Guid? tenant = null) => DevTokens.Issue(key, "bench-" + role, [role], tenant, TimeSpan.FromHours(3), DateTime.UtcNow);
        var tenant = Guid.Parse(await Provisioning.ProvisionOneId(Client(Dev(Roles.PlatformAdmin)), Client(Dev(Roles.PlatformApprover)), "scim-bench"));
        var account = await (await Client(Dev(Roles.TenantAdmin, tenant)).PostAsJsonAsync($"/api/tenants/{tenant}/service-accounts",
            new { name = "directory", scopes = new[] { "scim.provision" } })).Content.ReadFromJsonAsync<JsonElement>();
        var scim = Client(account.GetProperty("scimToken").GetString()!);

        // Seed through the store, 1,000 users per transaction; the raw baseline table gets the same rows.
        var store = app.Services.GetRequiredService<ScimStore>();
        var runtime = app.Services.GetRequiredService<Wolverine.Runtime.IWolverineRuntime>();
        var random = new Random(5);
        var seeded = Stopwatch.StartNew();
        var raw = new List<(string UserName, string Email, string Title, bool Active, string Family, string External)>();
        for (var start = 0; start < users; start += 1000)
        {
            var batch = Enumerable.Range(start, Math.Min(1000, users - start)).Select(i =>
            {
                var family = Families[random.Next(Families.Length)];
                var title = Titles[random.Next(Titles.Length)];
                var active = random.Next(10) != 0;
                raw.Add(($"user{i}@agency.example", $"user{i}@agency.example", title, active, family, $"ext-{i}"));
                return new ScimChange(Guid.CreateVersion7(), ScimResource.User, "created", JsonSerializer.SerializeToElement(new Dictionary<string, object>
                {
                    ["schemas"] = new[] { ScimSchema.UserUrn, ScimSchema.EnterpriseUserUrn },
                    ["userName"] = $"user{i}@agency.example", ["externalId"] = $"ext-{i}", ["active"] = active, ["title"] = title,
                    ["name"] = new { givenName = "Given" + i, familyName = family },
                    ["emails"] = new[] { new { value = $"user{i}@agency.example", type = "work", primary = true } },
                    [ScimSchema.EnterpriseUserUrn] = new { department = "Dept " + (i % 50), employeeNumber = i.ToString() },
                }));
            }).ToArray();
            var (error, _) = await store.ExecuteAsync(new Wolverine.Runtime.MessageContext(runtime), tenant, new Actor("bench", "system", tenant),
                _ => ScimDecision.Make(batch), CancellationToken.None);
            if (error is not null) throw new InvalidOperationException(error.Detail);
        }
        Console.WriteLine($"seeded {users} users in {seeded.Elapsed.TotalSeconds:F1} s");

        await using (var connection = new NpgsqlConnection(owner))
        {
            await connection.OpenAsync();
            await using (var create = new NpgsqlCommand("""
                create table public.bench_scim_raw (user_name text primary key, email text, title text, active boolean, family_name text, external_id text);
                create index on public.bench_scim_raw (lower(user_name) text_pattern_ops);
                create index on public.bench_scim_raw (external_id);
                create index on public.bench_scim_raw (title, active);
                """, connection)) await create.ExecuteNonQueryAsync();
            await using (var writer = await connection.BeginBinaryImportAsync("copy public.bench_scim_raw from stdin (format binary)"))
            {
                foreach (var r in raw)
                {
                    await writer.StartRowAsync();
                    await writer.WriteAsync(r.UserName); await writer.WriteAsync(r.Email); await writer.WriteAsync(r.Title);
                    await writer.WriteAsync(r.Active); await writer.WriteAsync(r.Family); await writer.WriteAsync(r.External);
                }
                await writer.CompleteAsync();
            }
            await using var analyze = new NpgsqlCommand("analyze public.bench_scim_raw", connection);
            await analyze.ExecuteNonQueryAsync();
        }

        // Cold load: a fresh store opens every sealed resource of the tenant; its memory is what that store then holds.
        var before = GC.GetTotalMemory(forceFullCollection: true);
        var cold = Stopwatch.StartNew();
        var fresh = new ScimStore(app.Services.GetRequiredService<TenantEvents.Tenants.TenantStreams>(), app.Services.GetRequiredService<TenantEvents.Quotas.QuotaLedger>());
        var total = await fresh.ReadAsync(tenant, s => s.Users.Count, CancellationToken.None);
        var loadMs = cold.Elapsed.TotalMilliseconds;
        var held = GC.GetTotalMemory(forceFullCollection: true) - before;
        Console.WriteLine($"cold load of the directory: {total} users opened in {loadMs:F0} ms, holding {held / 1048576.0:F0} MB ({(double)held / total:F0} bytes per user)");
        GC.KeepAlive(fresh);

        var filters = new (string Scim, string Sql)[]
        {
            ("userName sw \"user123\"", "lower(user_name) like 'user123%'"),
            ("externalId eq \"ext-4242\"", "external_id = 'ext-4242'"),
            ("title eq \"Analyst\" and active eq true", "title = 'Analyst' and active"),
            ("emails[type eq \"work\" and value co \"77@\"]", "email like '%77@%'"),
            ("name.familyName co \"son\" and not (active eq false)", "family_name ilike '%son%' and active"),
        };
        await using var rawSource = NpgsqlDataSource.Create(owner);
        var ours = new List<(double P50, double P95)>();
        var baseline = new List<(double P50, double P95)>();
        for (var i = 0; i < 20; i++) await scim.GetAsync($"/api/tenants/{tenant}/scim/v2/Users?count=100&filter=" + Uri.EscapeDataString(filters[i % filters.Length].Scim));
        const int perRound = 200;
        for (var round = 1; round <= options.Rounds; round++)
        {
            var mine = new double[perRound];
            var theirs = new double[perRound];
            for (var i = 0; i < perRound; i++)
            {
                var (scimFilter, sql) = filters[i % filters.Length];
                var started = Stopwatch.GetTimestamp();
                using (var response = await scim.GetAsync($"/api/tenants/{tenant}/scim/v2/Users?count=100&filter=" + Uri.EscapeDataString(scimFilter)))
                {
                    response.EnsureSuccessStatusCode();
                    await response.Content.ReadAsByteArrayAsync();
                }
                mine[i] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                started = Stopwatch.GetTimestamp();
                await using (var batch = rawSource.CreateBatch())
                {
                    batch.BatchCommands.Add(new NpgsqlBatchCommand($"select count(*) from public.bench_scim_raw where {sql}"));
                    batch.BatchCommands.Add(new NpgsqlBatchCommand($"select * from public.bench_scim_raw where {sql} order by user_name limit 100"));
                    await using var reader = await batch.ExecuteReaderAsync();
                    do { while (await reader.ReadAsync()) { } } while (await reader.NextResultAsync());
                }
                theirs[i] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            }
            Array.Sort(mine);
            Array.Sort(theirs);
            ours.Add((mine[perRound / 2], mine[(int)(perRound * 0.95)]));
            baseline.Add((theirs[perRound / 2], theirs[(int)(perRound * 0.95)]));
            Console.WriteLine($"round {round}: SCIM filter+list p50 {ours[^1].P50:F1} ms p95 {ours[^1].P95:F1} ms | raw SQL p50 {baseline[^1].P50:F1} ms p95 {baseline[^1].P95:F1} ms");
        }
        // Where the time goes: the same queries in process (snapshot version check, filter scan, page rendering), no HTTP.
        var inProcess = new List<double>();
        foreach (var (scimFilter, _) in filters)
        {
            ScimResources.TryQuery(scimFilter, null, "100", null, null, null, null, out var query, out _);
            for (var i = 0; i < 40; i++)
            {
                var started = Stopwatch.GetTimestamp();
                await ScimResources.Search(store, tenant, ScimResource.User, query!, CancellationToken.None);
                inProcess.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            }
            var sorted = inProcess.Skip(inProcess.Count - 40).Order().ToList();
            Console.WriteLine($"in process: {scimFilter,-55} p50 {sorted[20]:F1} ms, p95 {sorted[38]:F1} ms");
            var scan = Stopwatch.StartNew();
            var matches = await store.ReadAsync(tenant, s => s.Users.Values.Count(u => query!.Filter!.Matches(u.Body, ScimSchema.User)), CancellationToken.None);
            Console.WriteLine($"in process: {scimFilter,-55} {matches,6} matches, scan alone {scan.Elapsed.TotalMilliseconds:F1} ms");
        }
        inProcess.Sort();
        Console.WriteLine($"in process (no HTTP), all filters: p50 {inProcess[inProcess.Count / 2]:F1} ms, p95 {inProcess[(int)(inProcess.Count * 0.95)]:F1} ms");

        Console.WriteLine();
        Console.WriteLine($"== median of {options.Rounds} rounds, {users} users, {perRound} requests per round over 5 filters, count=100 ({Environment.ProcessorCount} cores)");
        Console.WriteLine($"SCIM GET /Users?filter= (HTTP, sealed at rest) : p50 {Stats.Median(ours.Select(o => o.P50)):F1} ms, p95 {Stats.Median(ours.Select(o => o.P95)):F1} ms   (aim: p95 under 50 ms)");
        Console.WriteLine($"raw SQL, plain indexed table (count + page)    : p50 {Stats.Median(baseline.Select(o => o.P50)):F1} ms, p95 {Stats.Median(baseline.Select(o => o.P95)):F1} ms");
        Console.WriteLine($"ratio p95 SCIM / raw SQL                       : {Stats.Median(ours.Zip(baseline, (o, b) => o.P95 / b.P95)):F2}");
        await app.StopAsync();
        return 0;
    }
}
