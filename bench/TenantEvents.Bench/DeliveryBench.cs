using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Npgsql;
using TenantEvents.Infrastructure.Security;

/// <summary>
/// Event delivery to a local webhook sink (issue 9). The service runs in this process; the sink is a Kestrel endpoint
/// in this process too (it reads each body, notes when it arrived, answers 204).
/// <list type="bullet">
/// <item>Throughput: a tenant's subscription is paused while N events happen (organisations created in batches: N
/// streams); then it is made active and the time until the sink has all N is measured (events per second).</item>
/// <item>Latency: the subscription active, events happen at a steady pace from a few clients; each event's time (its
/// append) to its arrival at the sink, p50 and p95.</item>
/// <item>Baseline, same run: the raw rate at which PostgreSQL hands out rows of an outbox table of the same size
/// (batches of 1,000, FOR UPDATE SKIP LOCKED, marked sent): what any outbox could do before doing any work.</item>
/// </list>
/// </summary>
static class DeliveryBench
{
    public static async Task<int> Run(BenchOptions options, string[] args, string connectionString, string owner, string platform)
    {
        int Arg(string name, int fallback) => int.Parse(args.SkipWhile(a => a != name).Skip(1).FirstOrDefault() ?? fallback.ToString());
        var count = Arg("--delivery-events", 10_000);
        var latencySeconds = Arg("--latency-seconds", 20);
        await InProcessService.ResetAsync(owner, "bench_outbox");

        // The sink.
        var arrivals = new ConcurrentDictionary<string, (DateTimeOffset Arrived, DateTimeOffset Time)>();
        var sinkBuilder = WebApplication.CreateSlimBuilder();
        sinkBuilder.WebHost.UseUrls("http://127.0.0.1:5096");
        sinkBuilder.Logging.SetMinimumLevel(LogLevel.Warning);
        var sink = sinkBuilder.Build();
        sink.MapPost("/hook", async (HttpContext http) =>
        {
            using var body = await JsonDocument.ParseAsync(http.Request.Body);
            var arrived = DateTimeOffset.UtcNow;
            arrivals.TryAdd(body.RootElement.GetProperty("id").GetString()!, (arrived, DateTimeOffset.Parse(body.RootElement.GetProperty("time").GetString()!)));
            return Results.NoContent();
        });
        await sink.StartAsync();

        var url = "http://127.0.0.1:5097";
        await using var app = await InProcessService.StartAsync(url, connectionString, platform, new Dictionary<string, string>
        {
            ["TenantEvents:FairShareRequestsPerSecond"] = "100000", ["TenantEvents:FairShareBurst"] = "100000",
            ["TenantEvents:AllowPrivateWebhooks"] = "true",
        });
        var key = DevTokenKeyFile.Load(Service.SharedDataFolder);
        HttpClient Client(string token) => new() { BaseAddress = new Uri(url), DefaultRequestHeaders = { Authorization = new AuthenticationHeaderValue("Bearer", token) } };
        string Dev(string role, Guid? tenant = null) => DevTokens.Issue(key, "bench-" + role, [role], tenant, TimeSpan.FromHours(3), DateTime.UtcNow);
        var admin = Client(Dev(Roles.PlatformAdmin));
        var approver = Client(Dev(Roles.PlatformApprover));

        var throughputs = new List<double>();
        var raws = new List<double>();
        var latencies = new List<(double P50, double P95)>();
        for (var round = 1; round <= options.Rounds; round++)
        {
            var tenant = Guid.Parse(await Provisioning.ProvisionOneId(admin, approver, $"delivery-bench-{round}"));
            var ta = Client(Dev(Roles.TenantAdmin, tenant));
            var root = (await admin.GetFromJsonAsync<JsonElement>($"/api/tenants/{tenant}")).GetProperty("organisations").EnumerateArray()
                .Single(o => !o.TryGetProperty("parentId", out var p) || p.ValueKind == JsonValueKind.Null).GetProperty("id").GetGuid();
            var hook = await ta.PostAsJsonAsync($"/api/tenants/{tenant}/webhooks",
                new { url = "http://127.0.0.1:5096/hook", types = new[] { "com.tenantevents.organisation_created" } });
            hook.EnsureSuccessStatusCode();
            var hookId = (await hook.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString();

            // Throughput: N events while paused, then the drain.
            (await ta.PatchAsJsonAsync($"/api/tenants/{tenant}/webhooks/{hookId}", new { state = "paused" })).EnsureSuccessStatusCode();
            arrivals.Clear();
            for (var made = 0; made < count; made += 1000)
            {
                var batch = Enumerable.Range(made, Math.Min(1000, count - made))
                    .Select(i => new { id = Guid.CreateVersion7(), parentId = root, name = $"Unit {round}-{i}", kind = "unit" }).ToList();
                (await ta.PostAsJsonAsync($"/api/tenants/{tenant}/organisations/batch", new { organisations = batch })).EnsureSuccessStatusCode();
            }
            // Wait until fan-out has made every delivery (it runs while paused), so only sending is timed.
            await WaitAsync(async () => await PendingAsync(owner, hookId!) >= count, TimeSpan.FromMinutes(5));
            var clock = Stopwatch.StartNew();
            (await ta.PatchAsJsonAsync($"/api/tenants/{tenant}/webhooks/{hookId}", new { state = "active" })).EnsureSuccessStatusCode();
            await WaitAsync(() => Task.FromResult(arrivals.Count >= count), TimeSpan.FromMinutes(10));
            var rate = count / clock.Elapsed.TotalSeconds;
            throughputs.Add(rate);

            var raw = await RawDequeueAsync(owner, count);
            raws.Add(raw);

            // Latency: a steady pace (4 clients, a batch of 5 organisations then 50 ms of quiet each).
            arrivals.Clear();
            var produced = 0;
            using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(latencySeconds));
            await Task.WhenAll(Enumerable.Range(0, 4).Select(async c =>
            {
                while (!stop.IsCancellationRequested)
                {
                    var batch = Enumerable.Range(0, 5).Select(i => new { id = Guid.CreateVersion7(), parentId = root, name = $"Live {c}-{Guid.NewGuid():N}", kind = "unit" }).ToList();
                    (await ta.PostAsJsonAsync($"/api/tenants/{tenant}/organisations/batch", new { organisations = batch })).EnsureSuccessStatusCode();
                    Interlocked.Add(ref produced, 5);
                    try { await Task.Delay(50, stop.Token); } catch (OperationCanceledException) { }
                }
            }));
            await WaitAsync(() => Task.FromResult(arrivals.Count >= produced), TimeSpan.FromMinutes(2));
            var delays = arrivals.Values.Select(a => (a.Arrived - a.Time).TotalMilliseconds).Order().ToList();
            var p50 = delays[delays.Count / 2];
            var p95 = delays[(int)(delays.Count * 0.95)];
            latencies.Add((p50, p95));
            Console.WriteLine($"round {round}: throughput {rate:F0} events/s ({count:N0} deliveries) | raw outbox dequeue {raw:F0} rows/s | ratio {rate / raw:F3} | " +
                              $"latency p50 {p50:F0} ms p95 {p95:F0} ms ({delays.Count:N0} events at ~{delays.Count / (double)latencySeconds:F0}/s)");
        }
        double Median(IEnumerable<double> xs) { var s = xs.Order().ToList(); return s[s.Count / 2]; }
        Console.WriteLine();
        Console.WriteLine($"== medians of {options.Rounds} rounds (2 cores; service, sink and PostgreSQL on one machine)");
        Console.WriteLine($"webhook delivery throughput : {Median(throughputs),8:F0} events/s   (aim: 1,000 or more)");
        Console.WriteLine($"raw outbox dequeue          : {Median(raws),8:F0} rows/s     (baseline: SELECT ... FOR UPDATE SKIP LOCKED + UPDATE, batches of 1,000)");
        Console.WriteLine($"ratio delivery / raw        : {Median(throughputs) / Median(raws),8:F3}");
        Console.WriteLine($"event-to-delivery latency   : p50 {Median(latencies.Select(l => l.P50)):F0} ms  p95 {Median(latencies.Select(l => l.P95)):F0} ms   (aim: p95 under 200 ms)");
        await sink.StopAsync();
        return 0;
    }

    private static async Task WaitAsync(Func<Task<bool>> condition, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            if (clock.Elapsed > timeout) throw new TimeoutException("The benchmark waited too long.");
            await Task.Delay(5);
        }
    }

    private static async Task<long> PendingAsync(string owner, string hookId)
    {
        await using var connection = new NpgsqlConnection(owner);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("select count(*) from tenantevents.webhook_deliveries where subscription_id = $1 and status = 'pending'", connection);
        command.Parameters.Add(new NpgsqlParameter { Value = Guid.Parse(hookId) });
        return (long)(await command.ExecuteScalarAsync())!;
    }

    /// <summary>Rows per second PostgreSQL hands out of an outbox table (about the size of a CloudEvent each), in batches of 1,000.</summary>
    private static async Task<double> RawDequeueAsync(string owner, int count)
    {
        await using var connection = new NpgsqlConnection(owner);
        await connection.OpenAsync();
        await using (var setup = new NpgsqlCommand("""
            drop table if exists public.bench_outbox;
            create table public.bench_outbox (id bigserial primary key, stream uuid not null, payload bytea not null, status int not null default 0);
            create index on public.bench_outbox (id) where status = 0;
            """, connection))
            await setup.ExecuteNonQueryAsync();
        await using (var fill = new NpgsqlCommand("insert into public.bench_outbox (stream, payload) select gen_random_uuid(), convert_to(repeat(md5(g::text), 22), 'UTF8') from generate_series(1, $1) g", connection))
        {
            fill.Parameters.Add(new NpgsqlParameter { Value = count });
            await fill.ExecuteNonQueryAsync();
        }
        await using (var analyze = new NpgsqlCommand("analyze public.bench_outbox", connection)) await analyze.ExecuteNonQueryAsync();
        var clock = Stopwatch.StartNew();
        var taken = 0;
        while (true)
        {
            await using var transaction = await connection.BeginTransactionAsync();
            await using var take = new NpgsqlCommand("""
                with d as (select id from public.bench_outbox where status = 0 order by id limit 1000 for update skip locked)
                update public.bench_outbox o set status = 1 from d where o.id = d.id returning o.payload
                """, connection, transaction);
            var rows = 0;
            await using (var reader = await take.ExecuteReaderAsync())
                while (await reader.ReadAsync()) { _ = (byte[])reader[0]; rows++; }
            await transaction.CommitAsync();
            if (rows == 0) break;
            taken += rows;
        }
        return taken / clock.Elapsed.TotalSeconds;
    }
}
