using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using TenantEvents.Infrastructure.Security;

/// <summary>
/// Quotas (issue 7), two measurements against the service in this process:
/// <list type="number">
/// <item>Metering overhead: request throughput of one tenant's callers (16 concurrent, closed loop) with metering and
/// fair share on and off, alternating within each round, on a cheap endpoint (templates, served from memory: the worst
/// case for a relative overhead) and a typical one (the tenant, read from PostgreSQL). Ratio on/off per round; aim: the
/// overhead under 5%, i.e. ratio >= 0.95.</item>
/// <item>Noisy neighbour: with fair share at 100 requests a second per tenant, tenant B sends a steady 50 a second
/// (paced, open loop, so a slow answer does not hide the next one) while tenant A sends 1,000 a second (10x its share)
/// in every other 2-second segment; B's p99 in A's segments against B's p99 in the quiet ones of the same window. Aim:
/// within 20%. The same again with metering and fair share off shows what fair share protects B from.</item>
/// </list>
/// </summary>
static class QuotaBench
{
    public static async Task<int> Run(BenchOptions options, string[] args, string connectionString, string owner, string platform)
    {
        var seconds = args.SkipWhile(a => a != "--quota-seconds").Skip(1).Select(int.Parse).FirstOrDefault(5);
        await InProcessService.ResetAsync(owner);
        var key = DevTokenKeyFile.Load(Service.SharedDataFolder);
        string Dev(string role, Guid? tenant = null) => DevTokens.Issue(key, "bench-" + role, [role], tenant, TimeSpan.FromHours(2), DateTime.UtcNow);

        var overhead = new Dictionary<string, List<(double On, double Off)>>();
        var perCall = new List<double>();
        var noise = new List<double>();
        {
            const string url = "http://127.0.0.1:5096";
            // Fair share so high that it never refuses, but still evaluated on every request.
            await using var app = await InProcessService.StartAsync(url, connectionString, platform, new Dictionary<string, string>
            {
                ["TenantEvents:FairShareRequestsPerSecond"] = "10000000", ["TenantEvents:FairShareBurst"] = "10000000",
            });
            HttpClient Client(string token) => ClientOf(url, token);
            var tenant = Guid.Parse(await Provisioning.ProvisionOneId(Client(Dev(Roles.PlatformAdmin)), Client(Dev(Roles.PlatformApprover)), "quota-bench"));
            await Unlimited(Client(Dev(Roles.PlatformAdmin)), tenant);
            var settings = app.Services.GetRequiredService<TenantEvents.Infrastructure.TenantEventsOptions>();
            var clients = Enumerable.Range(0, 16).Select(_ => Client(Dev(Roles.TenantAdmin, tenant))).ToArray();
            var endpoints = new[] { ("templates (memory)", "/api/templates"), ("tenant (database)", $"/api/tenants/{tenant}") };
            // Warm-up (JIT tiers, connections, caches) with metering on and off.
            foreach (var on in new[] { true, false, true })
            {
                settings.QuotaMetering = on;
                foreach (var (_, path) in endpoints) await Load(clients, path, TimeSpan.FromSeconds(3));
            }
            for (var round = 1; round <= options.Rounds; round++)
                foreach (var (name, path) in endpoints)
                {
                    // On, off, off, on (or the reverse): a drift of the machine during the round weighs on both alike.
                    var windows = new Dictionary<bool, List<double>> { [true] = [], [false] = [] };
                    foreach (var on in round % 2 == 1 ? new[] { true, false, false, true } : new[] { false, true, true, false })
                    {
                        settings.QuotaMetering = on;
                        windows[on].Add(await Load(clients, path, TimeSpan.FromSeconds(seconds / 2.0)));
                    }
                    settings.QuotaMetering = true;
                    var rates = new Dictionary<bool, double> { [true] = windows[true].Average(), [false] = windows[false].Average() };
                    // The same setting twice in a round: how far two windows differ with nothing changed (the noise).
                    foreach (var same in windows.Values) noise.Add(Math.Abs(1 - same[0] / same[1]));
                    if (!overhead.TryGetValue(name, out var list)) overhead[name] = list = [];
                    list.Add((rates[true], rates[false]));
                    Console.WriteLine($"round {round} {name,-20}: metering on {rates[true],7:F0} req/s, off {rates[false],7:F0} req/s, ratio {rates[true] / rates[false]:F3}");
                }
            // The metering work alone, in process: fair share + the two API call quotas, per call (the fast path: a lease held).
            var ledger = app.Services.GetRequiredService<TenantEvents.Quotas.QuotaLedger>();
            var fair = app.Services.GetRequiredService<TenantEvents.Quotas.FairShare>();
            for (var round = 1; round <= options.Rounds; round++)
            {
                const int calls = 1_000_000;
                var watch = Stopwatch.StartNew();
                for (var i = 0; i < calls; i++)
                {
                    fair.TryEnter(tenant, out _);
                    if (await ledger.ChargeApiCallAsync(tenant, null, CancellationToken.None) is not null) throw new InvalidOperationException("refused");
                }
                perCall.Add(watch.Elapsed.TotalMilliseconds * 1_000_000 / calls);
                Console.WriteLine($"round {round} metering work alone: {perCall[^1]:F0} ns per call");
            }
            await app.StopAsync();
        }

        var neighbour = new List<(double Alone, double Noisy, int Refused, int NoisyServed, double Unprotected, double AtShare)>();
        {
            const string url = "http://127.0.0.1:5095";
            await using var app = await InProcessService.StartAsync(url, connectionString, platform, new Dictionary<string, string>
            {
                ["TenantEvents:FairShareRequestsPerSecond"] = "100", ["TenantEvents:FairShareBurst"] = "100",
            });
            HttpClient Client(string token) => ClientOf(url, token);
            var admin = Client(Dev(Roles.PlatformAdmin));
            var a = Guid.Parse(await Provisioning.ProvisionOneId(admin, Client(Dev(Roles.PlatformApprover)), "noisy-a"));
            var b = Guid.Parse(await Provisioning.ProvisionOneId(admin, Client(Dev(Roles.PlatformApprover)), "quiet-b"));
            foreach (var t in new[] { a, b })
                await Unlimited(admin, t);
            var tokenA = Dev(Roles.TenantAdmin, a);
            var clientA = Client(tokenA);
            var clientB = Client(Dev(Roles.TenantAdmin, b));
            // Warm-up, the refusing path included.
            await Task.WhenAll(Paced(clientB, $"/api/tenants/{b}", 50, TimeSpan.FromSeconds(5)), Paced(clientA, $"/api/tenants/{a}", 1000, TimeSpan.FromSeconds(5)));
            await Task.Delay(1000);
            var settings = app.Services.GetRequiredService<TenantEvents.Infrastructure.TenantEventsOptions>();
            var segment = TimeSpan.FromSeconds(2);
            for (var round = 1; round <= options.Rounds; round++)
            {
                // B sends steadily through the whole window while A floods in every other 2-second segment (the first
                // flooded or quiet, turn about), so a drift of the machine weighs on "alone" and "flooded" alike; B's
                // answers are sorted by the segment they were sent in. Then the same with metering and fair share off.
                // A third run has A send exactly its share (100 a second): how much of B's change is A's fair load
                // rather than the refused excess.
                var results = new Dictionary<string, (double Alone, double Flooded, int Served, int Refused)>();
                foreach (var (run, protectedRun, rateA) in new[] { ("flood", true, 1000), ("unprotected", false, 1000), ("share", true, 100) })
                {
                    settings.QuotaMetering = protectedRun;
                    await Task.Delay(1000);
                    var segments = Math.Max(4, seconds * 2 / 2 * 2);
                    var floodFirst = round % 2 == 1;
                    // A's clients are somewhere else: a process of their own (this program with --flood), so that
                    // their sending does not queue on the service's thread pool as it would in this process.
                    using var flooder = Process.Start(new ProcessStartInfo(Environment.ProcessPath!,
                        $"\"{typeof(QuotaBench).Assembly.Location}\" --flood {url} {tokenA} /api/tenants/{a} {rateA} {segment.TotalSeconds} {segments} {floodFirst}")
                    {
                        RedirectStandardInput = true, RedirectStandardOutput = true, UseShellExecute = false,
                    })!;
                    if (await flooder.StandardOutput.ReadLineAsync() != "ready") throw new InvalidOperationException("the flooder did not start");
                    await flooder.StandardInput.WriteLineAsync("go");
                    await flooder.StandardInput.FlushAsync();
                    var floods = Task.Run(async () =>
                    {
                        var counts = (await flooder.StandardOutput.ReadLineAsync())!.Split(' ').Select(int.Parse).ToArray();
                        await flooder.WaitForExitAsync();
                        return (counts[0], counts[1]);
                    });
                    var quiet = await Paced(clientB, $"/api/tenants/{b}", 50, segment * segments);
                    var (servedA, refusedA) = await floods;
                    if (quiet.Failed > 0) throw new InvalidOperationException($"B had {quiet.Failed} failed requests");
                    bool Flooded(double at) => ((int)(at / segment.TotalSeconds) % 2 == 0) == floodFirst;
                    var flooded = quiet.Samples.Where(x => Flooded(x.At)).Select(x => x.Ms).Order().ToArray();
                    var alone = quiet.Samples.Where(x => !Flooded(x.At)).Select(x => x.Ms).Order().ToArray();
                    results[run] = (alone[(int)(alone.Length * 0.99)], flooded[(int)(flooded.Length * 0.99)], servedA, refusedA);
                }
                settings.QuotaMetering = true;
                var (p, u, f) = (results["flood"], results["unprotected"], results["share"]);
                neighbour.Add((p.Alone, p.Flooded, p.Refused, p.Served, u.Flooded / u.Alone, f.Flooded / f.Alone));
                Console.WriteLine($"round {round} noisy neighbour: B p99 alone {p.Alone:F2} ms, with A flooding {p.Flooded:F2} ms " +
                                  $"(ratio {p.Flooded / p.Alone:F2}; A: {p.Served} served, {p.Refused} refused); without fair share: alone {u.Alone:F2} ms, " +
                                  $"flooded {u.Flooded:F2} ms (ratio {u.Flooded / u.Alone:F2}; A: {u.Served} served); A at its share: ratio {f.Flooded / f.Alone:F2}");
            }
            await app.StopAsync();
        }

        Console.WriteLine();
        Console.WriteLine($"== medians of {options.Rounds} rounds ({Environment.ProcessorCount} cores, {seconds} s windows)");
        Console.WriteLine($"metering work alone (fair share + daily and monthly API call quotas): {Stats.Median(perCall):F0} ns per call");
        Console.WriteLine($"noise: two windows of the same setting in one round differ by {Stats.Median(noise) * 100:F1}% (median), " +
                          $"{noise.Max() * 100:F1}% (largest)");
        foreach (var (name, list) in overhead)
            Console.WriteLine($"metering overhead, {name,-20}: on {Stats.Median(list.Select(x => x.On)):F0} req/s, off {Stats.Median(list.Select(x => x.Off)):F0} req/s, " +
                              $"ratio on/off {Stats.Median(list.Select(x => x.On / x.Off)):F3} (aim >= 0.95)");
        Console.WriteLine($"noisy neighbour: B p99 alone {Stats.Median(neighbour.Select(x => x.Alone)):F2} ms, with A at 10x its share " +
                          $"{Stats.Median(neighbour.Select(x => x.Noisy)):F2} ms, ratio {Stats.Median(neighbour.Select(x => x.Noisy / x.Alone)):F2} (aim <= 1.20); " +
                          $"A served {Stats.Median(neighbour.Select(x => (double)x.NoisyServed)):F0}, refused {Stats.Median(neighbour.Select(x => (double)x.Refused)):F0} per window; " +
                          $"without fair share the ratio is {Stats.Median(neighbour.Select(x => x.Unprotected)):F2}; with A sending exactly its share, " +
                          $"{Stats.Median(neighbour.Select(x => x.AtShare)):F2}");
        return 0;
    }

    /// <summary>
    /// The flooder process: `--flood URL TOKEN PATH RATE SEGMENT_SECONDS SEGMENTS FLOOD_FIRST`. Prints "ready", waits for
    /// "go", sends RATE requests a second in every other segment, prints "served refused".
    /// </summary>
    public static async Task<int> Flood(string[] args)
    {
        var at = Array.IndexOf(args, "--flood");
        var (url, token, path) = (args[at + 1], args[at + 2], args[at + 3]);
        var rate = int.Parse(args[at + 4]);
        var segment = TimeSpan.FromSeconds(double.Parse(args[at + 5], System.Globalization.CultureInfo.InvariantCulture));
        var segments = int.Parse(args[at + 6]);
        var floodFirst = bool.Parse(args[at + 7]);
        var client = ClientOf(url, token);
        await client.GetAsync(path); // connection and JIT before the window
        Console.WriteLine("ready");
        if (Console.ReadLine() != "go") return 1;
        int served = 0, refused = 0;
        for (var i = 0; i < segments; i++)
        {
            if ((i % 2 == 0) == floodFirst)
            {
                var f = await Paced(client, path, rate, segment);
                served += f.Ok;
                refused += f.Refused;
            }
            else await Task.Delay(segment);
        }
        Console.WriteLine($"{served} {refused}");
        return 0;
    }

    private static HttpClient ClientOf(string url, string token) =>
        new() { BaseAddress = new Uri(url), DefaultRequestHeaders = { Authorization = new AuthenticationHeaderValue("Bearer", token) } };

    /// <summary>API call quotas so large that the measured traffic never meets them (the meter still counts every call).</summary>
    private static async Task Unlimited(HttpClient admin, Guid tenant) =>
        (await admin.PatchAsJsonAsync($"/api/tenants/{tenant}/settings",
            new { quotas = new { apiCallsPerDay = 1_000_000_000_000L, apiCallsPerMonth = 1_000_000_000_000L } })).EnsureSuccessStatusCode();

    /// <summary>Closed loop: every client sends its next request when the last one is answered; requests per second.</summary>
    private static async Task<double> Load(HttpClient[] clients, string path, TimeSpan duration)
    {
        long done = 0;
        var watch = Stopwatch.StartNew();
        await Task.WhenAll(clients.Select(async client =>
        {
            while (watch.Elapsed < duration)
            {
                using var response = await client.GetAsync(path);
                if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"{path}: {(int)response.StatusCode}");
                Interlocked.Increment(ref done);
            }
        }));
        return done / watch.Elapsed.TotalSeconds;
    }

    private sealed record PacedResult(double P99, int Ok, int Refused, int Failed, IReadOnlyList<(double At, double Ms)> Samples);

    /// <summary>Open loop: a request every 1/rate seconds whatever the answers take; the latencies' p99.</summary>
    private static async Task<PacedResult> Paced(HttpClient client, string path, int rate, TimeSpan duration)
    {
        var latencies = new System.Collections.Concurrent.ConcurrentBag<(double At, double Ms)>();
        int ok = 0, refused = 0, failed = 0;
        var pending = new List<Task>();
        var watch = Stopwatch.StartNew();
        var interval = TimeSpan.FromSeconds(1.0 / rate);
        for (var n = 0; watch.Elapsed < duration; n++)
        {
            var due = interval * n;
            if (due > watch.Elapsed) await Task.Delay(due - watch.Elapsed);
            pending.Add(Task.Run(async () =>
            {
                var at = watch.Elapsed.TotalSeconds;
                var started = Stopwatch.GetTimestamp();
                using var response = await client.GetAsync(path);
                latencies.Add((at, Stopwatch.GetElapsedTime(started).TotalMilliseconds));
                if (response.IsSuccessStatusCode) Interlocked.Increment(ref ok);
                else if ((int)response.StatusCode == 429) Interlocked.Increment(ref refused);
                else Interlocked.Increment(ref failed);
            }));
        }
        await Task.WhenAll(pending);
        var sorted = latencies.Select(l => l.Ms).Order().ToArray();
        return new PacedResult(sorted[(int)(sorted.Length * 0.99)], ok, refused, failed, latencies.ToList());
    }
}
