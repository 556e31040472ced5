using System.Diagnostics;
using TenantEvents.Compute;

/// <summary>
/// Compute within quotas (issue 22): the service's worker pool (Compute/ComputePool.cs) with three tenants guaranteed two
/// workers each (six in all), jobs of half a second of work in slices of 100 ms. Each tenant runs at its share (two jobs
/// outstanding, a new one as each finishes) for ten seconds alone; then all three together while the third floods at ten
/// times its share (twenty outstanding). Prints the worker time each got together against alone, in the same run.
/// </summary>
static class ComputeBench
{
    private static readonly TimeSpan Slice = TimeSpan.FromMilliseconds(100), Work = TimeSpan.FromMilliseconds(500);

    public static async Task<int> Run(BenchOptions options, string[] args)
    {
        var seconds = args.SkipWhile(a => a != "--compute-seconds").Skip(1).Select(int.Parse).FirstOrDefault(10);
        var window = TimeSpan.FromSeconds(seconds);
        var (a, b, c) = (Guid.CreateVersion7(), Guid.CreateVersion7(), Guid.CreateVersion7());
        var rows = new List<(double AloneA, double AloneB, double TogetherA, double TogetherB, double Flood)>();
        for (var round = 1; round <= options.Rounds; round++)
        {
            var aloneA = (await Measure(window, (a, 2)))[a];
            var aloneB = (await Measure(window, (b, 2)))[b];
            var together = await Measure(window, (a, 2), (b, 2), (c, 20));
            rows.Add((aloneA, aloneB, together[a], together[b], together[c]));
            Console.WriteLine($"round {round}: worker seconds in {seconds} s: A alone {aloneA:F2}, B alone {aloneB:F2}; together with C flooding: " +
                              $"A {together[a]:F2} ({together[a] / aloneA:P0} of alone), B {together[b]:F2} ({together[b] / aloneB:P0}), C {together[c]:F2}");
        }
        Console.WriteLine();
        Console.WriteLine($"== median of {rows.Count} rounds (6 workers, 2 guaranteed each, {Work.TotalMilliseconds:F0} ms jobs in {Slice.TotalMilliseconds:F0} ms slices, " +
                          $"{seconds} s windows, {Environment.ProcessorCount} cores)");
        Console.WriteLine($"A together / alone : {Stats.Median(rows.Select(r => r.TogetherA / r.AloneA)):P1}");
        Console.WriteLine($"B together / alone : {Stats.Median(rows.Select(r => r.TogetherB / r.AloneB)):P1}");
        Console.WriteLine($"C (flooding 10x)   : {Stats.Median(rows.Select(r => r.Flood)):F2} worker seconds (its guarantee alone would be {2 * seconds:F0})");
        return 0;
    }

    /// <summary>Runs the tenants at their demand (jobs kept outstanding) on a fresh pool for the window; the worker seconds each got.</summary>
    private static async Task<Dictionary<Guid, double>> Measure(TimeSpan window, params (Guid Tenant, int Outstanding)[] tenants)
    {
        var pool = new ComputePool(maxWorkers: 6, slice: Slice);
        var stop = Stopwatch.StartNew();
        async Task Keep(Guid tenant, int outstanding)
        {
            var running = new List<Task>();
            while (stop.Elapsed < window)
            {
                while (running.Count < outstanding)
                {
                    var job = new ComputeJob(Guid.CreateVersion7(), tenant, null, Guid.Empty, 1, Work, "bench", DateTimeOffset.UtcNow);
                    pool.Submit(job, guaranteed: 2);
                    running.Add(job.Completion);
                }
                var done = await Task.WhenAny(Task.WhenAny(running), Task.Delay(window - stop.Elapsed < TimeSpan.Zero ? TimeSpan.Zero : window - stop.Elapsed));
                running.RemoveAll(t => t.IsCompleted);
            }
        }
        await Task.WhenAll(tenants.Select(t => Keep(t.Tenant, t.Outstanding)));
        var result = tenants.ToDictionary(t => t.Tenant, t => pool.WorkerTime(t.Tenant).TotalSeconds);
        pool.Stop();
        return result;
    }
}
