namespace TenantEvents.Compute;

/// <summary>A tenant's standing in the worker pool: its guaranteed workers, the workers running its jobs, and its jobs waiting.</summary>
public readonly record struct TenantDemand(Guid Tenant, int Guaranteed, int Running, int Queued)
{
    /// <summary>Workers it could use now.</summary>
    public int Wants => Running + Queued;

    /// <summary>Below its guarantee with work waiting: a worker is owed to it.</summary>
    public bool Owed => Queued > 0 && Running < Guaranteed;
}

/// <summary>
/// The worker pool's decisions (pure), for AI workloads run as jobs against reservations:
/// <list type="bullet">
/// <item><see cref="Next"/>: who gets a free worker. A tenant below its guarantee with work waiting first (the one
/// with the fewest of its guaranteed workers running first, so that guarantees larger than the pool share it in
/// proportion); then, lending what others leave idle, whoever waits with the fewest workers per guaranteed worker
/// (a tenant with no guarantee counts as one).</item>
/// <item><see cref="Yield"/>: at the end of each slice of a job, whether its worker goes back: it does when the job's
/// tenant runs above its guarantee while another is owed one. Jobs run in slices of at most a second, so a lent
/// guarantee is taken back within a slice.</item>
/// <item><see cref="Desired"/>: how many workers the pool should have: every job running or waiting, within the pool's
/// bounds (what an autoscaler reads).</item>
/// </list>
/// </summary>
public static class ComputeScheduler
{
    public static Guid? Next(IReadOnlyList<TenantDemand> demand)
    {
        TenantDemand? best = null;
        foreach (var d in demand.Where(d => d.Owed))
            if (best is not { } b || Share(d) < Share(b) || Share(d) == Share(b) && d.Tenant.CompareTo(b.Tenant) < 0)
                best = d;
        if (best is { } owed) return owed.Tenant;
        foreach (var d in demand.Where(d => d.Queued > 0))
            if (best is not { } b || Share(d) < Share(b) || Share(d) == Share(b) && d.Tenant.CompareTo(b.Tenant) < 0)
                best = d;
        return best?.Tenant;
    }

    /// <summary>
    /// Whether the worker running a slice of <paramref name="tenant"/>'s job goes back to the pool at the slice's end: when
    /// the tenant runs above its share and another is owed a worker. Its share is its guarantee, scaled down in
    /// proportion when the guarantees add up to more than the pool's <paramref name="workers"/>.
    /// </summary>
    public static bool Yield(IReadOnlyList<TenantDemand> demand, Guid tenant, int workers = int.MaxValue)
    {
        var own = demand.FirstOrDefault(d => d.Tenant == tenant);
        var guaranteed = demand.Sum(d => (long)d.Guaranteed);
        var share = guaranteed > workers ? (double)own.Guaranteed * workers / guaranteed : own.Guaranteed;
        return own.Running > share && demand.Any(d => d.Tenant != tenant && d.Owed);
    }

    public static int Desired(IReadOnlyList<TenantDemand> demand, int min, int max) => Math.Clamp(demand.Sum(d => d.Wants), min, max);

    /// <summary>
    /// A tenant's guaranteed workers, from its AI compute quota: one worker for every <paramref name="unitsPerWorker"/>
    /// units a month (rounded up; none for a tenant without compute).
    /// </summary>
    public static int Guaranteed(long monthlyUnits, long unitsPerWorker) =>
        monthlyUnits <= 0 ? 0 : (int)Math.Min(int.MaxValue, (monthlyUnits + unitsPerWorker - 1) / unitsPerWorker);

    private static double Share(TenantDemand d) => (double)d.Running / Math.Max(1, d.Guaranteed);
}
