using System.Collections.Concurrent;
using System.Text.Json;
using Npgsql;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Keys;
using TenantEvents.Organisations;
using TenantEvents.Tenants;
using Wolverine.Runtime;

namespace TenantEvents.Quotas;

/// <summary>A quota said no: which, how much is used of how much, and when the count starts again.</summary>
public sealed record QuotaRefusal(string Kind, long Used, long Limit, DateTimeOffset ResetAt, string Detail, string Type = "quota-exceeded")
{
    public Problem ToProblem(int status)
    {
        var problem = new Problem(Type, status, Type == "quota-exceeded" ? "A quota is exhausted" : "A budget is spent", Detail);
        foreach (var (key, value) in Figures.Where(f => f.Key != "type")) problem.With(key, value);
        return problem;
    }

    /// <summary>The refusal's members beside a SCIM error (with the problem type, which SCIM's schema has no place for).</summary>
    public IReadOnlyDictionary<string, object?> Figures => new Dictionary<string, object?>
    {
        ["type"] = "urn:tenantevents:problem:" + Type, ["quota"] = Kind, ["used"] = Used, ["limit"] = Limit, ["resetAt"] = ResetAt,
    };
}

/// <summary>
/// A tenant's quotas as enforcement reads them: limits, modes, and each kind's allocation tree (at an access version); and
/// the organisations (with their subtrees; the empty id: the tenant as a whole) a hard budget refuses this month.
/// </summary>
public sealed record TenantQuotas(Guid TenantId, bool Active, QuotaDefaults Quotas, IReadOnlyDictionary<string, AllocationTree> Trees, long AccessVersion,
    IReadOnlySet<Guid>? BudgetRefused = null)
{
    public long Limit(string kind) => QuotaKinds.LimitOf(Quotas, kind);
    public QuotaMode Mode(string kind) => QuotaKinds.ModeOf(Quotas, kind);
    public bool Hard(string kind) => Mode(kind) == QuotaMode.Hard;
}

/// <summary>
/// Metering and enforcement of consumable quotas (API calls, AI compute), exact across service instances without a
/// database round trip per request.
/// <para>
/// The database holds, per tenant, kind, period and organisation, what was <c>used</c> and what is <c>held</c>: granted to
/// someone and not yet used. Each instance takes API call capacity in leases: under the tenant's quota lock it reads the
/// period's counters, works out with the allocation tree how much may still be charged at the organisation, and holds a
/// lease of up to a sixteenth of that (at most <see cref="TenantEventsOptions.QuotaMaxLease"/>, at least the one call
/// asked for). Calls are then counted against the lease in memory; a busy bucket takes its next lease in the background
/// before this one runs out. Every flush (<see cref="TenantEventsOptions.QuotaFlushInterval"/>) turns what was used into
/// <c>used</c>, gives back the leases of buckets that were idle since the last flush and adds the calls to the daily history.
/// Since no instance can use capacity it does not hold, several instances never admit more than the limit between them;
/// near the limit leases shrink to one call, so the last units go exactly. The cost: a lease another instance holds and
/// has not used yet is not available here until its next flush.
/// </para>
/// </summary>
public sealed class QuotaLedger(Clock clock, TenantEventsOptions options, QuotaPolicies policies, QuotaUsageStore store, QuotaAlerts alerts, AiComputeReservations reservations, ILogger<QuotaLedger> log) : BackgroundService
{
    private TenantEventsOptions Options => options;


    private readonly record struct BucketKey(Guid Tenant, string Kind, DateTimeOffset Period, Guid Org);

    private sealed class Bucket(DateTimeOffset end)
    {
        public long Available;
        public long Consumed;
        public long LastLease;
        public bool Refilling;
        public bool UsedSinceFlush;
        public readonly DateTimeOffset End = end;
        public readonly SemaphoreSlim Gate = new(1, 1);
    }

    private readonly ConcurrentDictionary<BucketKey, Bucket> _buckets = new();
    private static readonly string[] ApiKinds = [QuotaKinds.ApiCallsPerDay, QuotaKinds.ApiCallsPerMonth];

    /// <summary>
    /// Counts one API call of the tenant, charged at the organisation (null: the tenant as a whole); the refusal when a
    /// hard API call quota (daily or monthly) is exhausted, and then nothing is counted.
    /// </summary>
    public async ValueTask<QuotaRefusal?> ChargeApiCallAsync(Guid tenant, Guid? organisation, CancellationToken cancellation)
    {
        var policy = await policies.PolicyAsync(tenant, cancellation);
        if (policy is not { Active: true }) return null;
        var now = clock.UtcNow;
        Bucket? first = null;
        foreach (var kind in ApiKinds)
        {
            var tree = policy.Trees[kind];
            var org = organisation is { } o && tree.Contains(o) ? o : Guid.Empty;
            var (start, end) = QuotaKinds.PeriodAt(kind, now);
            var bucket = _buckets.GetOrAdd(new BucketKey(tenant, kind, start, org), static (_, e) => new Bucket(e), end);
            if (TryTake(bucket)) MaybeRefill(policy, kind, start, org, bucket);
            else
            {
                var refusal = await TakeSlowAsync(policy, kind, start, end, org, bucket, cancellation);
                if (refusal is not null)
                {
                    if (first is not null) lock (first) { first.Available++; first.Consumed--; }
                    return refusal;
                }
            }
            first = bucket;
        }
        return null;
    }

    private static bool TryTake(Bucket bucket)
    {
        lock (bucket)
        {
            if (bucket.Available <= 0) return false;
            bucket.Available--;
            bucket.Consumed++;
            bucket.UsedSinceFlush = true;
            return true;
        }
    }

    /// <summary>
    /// A busy bucket (its last lease was large, i.e. the quota is far from exhausted) takes its next lease in the
    /// background when three quarters of the last one are used, so its callers never wait for the database.
    /// </summary>
    private void MaybeRefill(TenantQuotas policy, string kind, DateTimeOffset start, Guid org, Bucket bucket)
    {
        lock (bucket)
        {
            if (bucket.Refilling || bucket.LastLease < 16 || bucket.Available * 4 > bucket.LastLease) return;
            bucket.Refilling = true;
        }
        _ = Task.Run(async () =>
        {
            await bucket.Gate.WaitAsync();
            try
            {
                await RefillAsync(policy, kind, start, org, bucket, CancellationToken.None);
            }
            catch (Exception e) when (e is NpgsqlException or InvalidOperationException or TimeoutException)
            {
                log.LogWarning(e, "Could not take the next quota lease of tenant {Tenant} ahead of time", policy.TenantId);
            }
            finally
            {
                lock (bucket) bucket.Refilling = false;
                bucket.Gate.Release();
            }
        });
    }

    private async Task<QuotaRefusal?> TakeSlowAsync(TenantQuotas policy, string kind, DateTimeOffset start, DateTimeOffset end, Guid org,
        Bucket bucket, CancellationToken cancellation)
    {
        await bucket.Gate.WaitAsync(cancellation);
        try
        {
            if (TryTake(bucket)) return null;
            var used = await RefillAsync(policy, kind, start, org, bucket, cancellation);
            if (TryTake(bucket)) return null;
            return new QuotaRefusal(kind, used, policy.Limit(kind), end,
                $"The tenant's {kind} quota ({policy.Limit(kind):N0} {QuotaKinds.UnitOf(kind)}) is used up{(org == Guid.Empty ? "" : $" as far as organisation {org} may draw on it")}; it resets at {end:O}.");
        }
        finally
        {
            bucket.Gate.Release();
        }
    }

    /// <summary>A new lease into the bucket (its gate held by the caller); what was used and held before it.</summary>
    private async Task<long> RefillAsync(TenantQuotas policy, string kind, DateTimeOffset start, Guid org, Bucket bucket, CancellationToken cancellation)
    {
        var (granted, used) = await LeaseAsync(policy, kind, start, org, 1, cancellation);
        lock (bucket)
        {
            bucket.Available += granted;
            bucket.LastLease = granted;
        }
        return used;
    }

    /// <summary>
    /// Holds capacity for an instance's calls: (granted, used + held before) under the tenant's quota lock. Grants at
    /// least <paramref name="amount"/> or nothing (hard mode); observe-only always grants.
    /// </summary>
    private async Task<(long Granted, long Used)> LeaseAsync(TenantQuotas policy, string kind, DateTimeOffset start, Guid org, long amount,
        CancellationToken cancellation)
    {
        return await store.InTenantAsync(policy.TenantId, kind, async (connection, transaction) =>
        {
            var charges = await store.ChargesAsync(connection, transaction, kind, start, cancellation);
            var tree = policy.Trees[kind];
            var free = tree.Free(org, tree.Loads(charges));
            var hard = policy.Hard(kind);
            long granted;
            if (hard && free < amount) granted = 0;
            else granted = amount + (hard ? Math.Clamp((free - amount) / 16, 0, Options.QuotaMaxLease) : Options.QuotaMaxLease);
            if (granted > 0) await store.AddAsync(connection, transaction, kind, start, org, used: 0, held: granted, cancellation);
            return (granted, charges.Values.Sum());
        }, cancellation);
    }

    /// <summary>This period's counters of every consumable kind, per organisation charged (expired reservations released first).</summary>
    public async Task<Dictionary<string, Dictionary<Guid, (long Used, long Held)>>> CountersAsync(Guid tenant, CancellationToken cancellation)
    {
        await FlushAsync(cancellation, tenant);
        var now = clock.UtcNow;
        var kinds = QuotaKinds.Allocatable.ToArray();
        var starts = kinds.Select(k => QuotaKinds.PeriodAt(k, now).Start).ToArray();
        return await store.InTenantAsync(tenant, QuotaKinds.AiCompute, async (connection, transaction) =>
        {
            await reservations.ExpireAsync(connection, transaction, now, cancellation);
            var result = kinds.ToDictionary(k => k, _ => new Dictionary<Guid, (long Used, long Held)>());
            await using var read = new NpgsqlCommand($"""
                select kind, org_id, used, held from {store.Schema}.quota_usage
                where (kind, period_start) in (select * from unnest($1::text[], $2::timestamptz[]))
                """, connection, transaction);
            Infrastructure.Databases.Sql.Bind(read, kinds, starts);
            await using var reader = await read.ExecuteReaderAsync(cancellation);
            while (await reader.ReadAsync(cancellation)) result[reader.GetString(0)][reader.GetGuid(1)] = (reader.GetInt64(2), reader.GetInt64(3));
            return result;
        }, cancellation);
    }



    /// <summary>
    /// Turns the calls counted in memory into durable usage (and daily history), gives unused leases back, and raises
    /// the alerts the new totals cross. Runs every <see cref="TenantEventsOptions.QuotaFlushInterval"/>; tests call it.
    /// </summary>
    /// <param name="only">Flush only this tenant's counts (before a read of its usage).</param>
    public async Task FlushAsync(CancellationToken cancellation, Guid? only = null)
    {
        var now = clock.UtcNow;
        var work = new Dictionary<Guid, List<(BucketKey Key, Bucket Bucket, long Consumed, long Returned)>>();
        foreach (var (key, bucket) in _buckets)
        {
            if (only is { } wanted && key.Tenant != wanted) continue;
            long consumed, returned;
            lock (bucket)
            {
                // A bucket in use keeps its lease; an idle one gives it back (so another instance may have it).
                consumed = bucket.Consumed;
                returned = bucket.UsedSinceFlush && only is null ? 0 : bucket.Available;
                bucket.Consumed = 0;
                bucket.Available -= returned;
                bucket.UsedSinceFlush = false;
            }
            if (consumed == 0 && returned == 0)
            {
                if (bucket.End <= now) _buckets.TryRemove(key, out _);
                continue;
            }
            if (!work.TryGetValue(key.Tenant, out var list)) work[key.Tenant] = list = [];
            list.Add((key, bucket, consumed, returned));
        }
        foreach (var (tenant, items) in work)
        {
            try
            {
                var totals = await store.InTenantAsync(tenant, "flush", async (connection, transaction) =>
                {
                    await using var batch = new NpgsqlBatch(connection, transaction);
                    foreach (var (key, _, consumed, returned) in items)
                    {
                        batch.BatchCommands.Add(Infrastructure.Databases.Sql.BatchCommand($"""
                            update {store.Schema}.quota_usage set used = used + $4, held = greatest(0, held - $4 - $5), updated_at = $6
                            where kind = $1 and period_start = $2 and org_id = $3
                            """, key.Kind, key.Period, key.Org, consumed, returned, now));
                        if (key.Kind == QuotaKinds.ApiCallsPerDay && consumed > 0)
                            batch.BatchCommands.Add(store.DailyCommand(QuotaKinds.MetricOf(key.Kind), key.Period, key.Org, consumed));
                    }
                    var periods = items.Select(i => (i.Key.Kind, i.Key.Period)).Distinct().ToList();
                    batch.BatchCommands.Add(Infrastructure.Databases.Sql.BatchCommand($"""
                        select kind, period_start, sum(used)::bigint from {store.Schema}.quota_usage
                        where (kind, period_start) in (select * from unnest($1::text[], $2::timestamptz[])) group by kind, period_start
                        """, periods.Select(p => p.Kind).ToArray(), periods.Select(p => p.Period).ToArray()));
                    // The updates' results have no rows; the last command's are the totals.
                    await using var reader = await batch.ExecuteReaderAsync(cancellation);
                    var found = new List<(string, DateTimeOffset, long)>();
                    do
                        while (await reader.ReadAsync(cancellation))
                            found.Add((reader.GetString(0), reader.GetFieldValue<DateTimeOffset>(1), reader.GetInt64(2)));
                    while (await reader.NextResultAsync(cancellation));
                    return found;
                }, cancellation);
                if (await policies.PolicyAsync(tenant, cancellation) is { } policy)
                    foreach (var (kind, start, used) in totals)
                        await alerts.RaiseAlertsAsync(policy, kind, start, QuotaKinds.PeriodAt(kind, start).End, used, cancellation);
            }
            catch (Exception e) when (e is NpgsqlException or InvalidOperationException or TimeoutException)
            {
                // Counted calls are kept for the next flush rather than lost; leases stay held until then.
                foreach (var (_, bucket, consumed, returned) in items)
                    lock (bucket) { bucket.Consumed += consumed; bucket.Available += returned; }
                log.LogWarning(e, "Could not flush quota usage of tenant {Tenant}; retrying at the next flush", tenant);
            }
        }
        if (only is null)
        {
            policies.Sweep();
            alerts.Sweep(now);
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Options.QuotaFlushInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    await FlushAsync(stoppingToken);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    log.LogError(e, "Quota flush failed");
                }
            }
        }
        catch (OperationCanceledException) { }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        // What this instance counted and holds goes back before it stops.
        try { await FlushAsync(cancellationToken); }
        catch (Exception e) when (e is not OperationCanceledException) { log.LogWarning(e, "Final quota flush failed"); }
    }


    /// <summary>
    /// Whether <paramref name="activeAfter"/> active users fit the tenant's licences (called in the SCIM transaction,
    /// under the tenant's directory lock, so racing creations are decided one after another).
    /// </summary>
    public async Task<QuotaRefusal?> CheckLicencesAsync(Guid tenant, int activeBefore, int activeAfter, CancellationToken cancellation)
    {
        if (activeAfter <= activeBefore) return null;
        var policy = await policies.PolicyAsync(tenant, cancellation);
        if (policy is null || !policy.Hard(QuotaKinds.Licences)) return null;
        var limit = policy.Limit(QuotaKinds.Licences);
        if (activeAfter <= limit) return null;
        var end = QuotaKinds.PeriodAt(QuotaKinds.Licences, clock.UtcNow).End;
        return new QuotaRefusal(QuotaKinds.Licences, activeBefore, limit, end,
            $"The tenant has {activeBefore:N0} active users of its {limit:N0} licences; this would make {activeAfter:N0}. " +
            "Deactivate or delete a user, or ask a platform administrator for more licences.");
    }

    /// <summary>
    /// The day's peak of active users (before and after the change: the day held both), for the directory change's own
    /// transaction (usage history).
    /// </summary>
    public NpgsqlBatchCommand LicencePeakCommand(int activeBefore, int activeAfter) =>
        store.DailyCommand(QuotaKinds.MetricOf(QuotaKinds.Licences), clock.UtcNow, Guid.Empty, Math.Max(activeBefore, activeAfter), peak: true);

    /// <summary>The count of active users as the day's last change left it: what the days after hold until the next change (billing).</summary>
    public NpgsqlBatchCommand LicenceCountCommand(int active) => store.DailyCommand(LicencesHeld, clock.UtcNow, Guid.Empty, active, last: true);

    /// <summary>The usage history's metric of the active users a day's last change left.</summary>
    public const string LicencesHeld = "licencesHeld";

    /// <summary>After a directory change: the licence alerts the new count of active users crosses.</summary>
    public async Task LicencesChangedAsync(Guid tenant, int active, CancellationToken cancellation)
    {
        if (await policies.PolicyAsync(tenant, cancellation) is not { } policy) return;
        var (start, end) = QuotaKinds.PeriodAt(QuotaKinds.Licences, clock.UtcNow);
        await alerts.RaiseAlertsAsync(policy, QuotaKinds.Licences, start, end, active, cancellation);
    }
}
