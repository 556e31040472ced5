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
public sealed record QuotaRefusal(string Kind, long Used, long Limit, DateTimeOffset ResetAt, string Detail)
{
    public Problem ToProblem(int status)
    {
        var problem = new Problem("quota-exceeded", status, "A quota is exhausted", Detail);
        foreach (var (key, value) in Figures.Where(f => f.Key != "type")) problem.With(key, value);
        return problem;
    }

    /// <summary>The refusal's members beside a SCIM error (with the problem type, which SCIM's schema has no place for).</summary>
    public IReadOnlyDictionary<string, object?> Figures => new Dictionary<string, object?>
    {
        ["type"] = "urn:tenantevents:problem:quota-exceeded", ["quota"] = Kind, ["used"] = Used, ["limit"] = Limit, ["resetAt"] = ResetAt,
    };
}

/// <summary>A tenant's quotas as enforcement reads them: limits, modes, and each kind's allocation tree (at an access version).</summary>
public sealed record TenantQuotas(Guid TenantId, bool Active, QuotaDefaults Quotas, IReadOnlyDictionary<string, AllocationTree> Trees, long AccessVersion)
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
public sealed class QuotaLedger(TenantStreams streams, OrganisationStore organisations, IWolverineRuntime runtime, ILogger<QuotaLedger> log)
    : BackgroundService
{
    private TenantEventsOptions Options => streams.Options;
    private string Schema => Options.DatabaseSchema;

    // ---- policies ------------------------------------------------------------------------------------------------

    private sealed class PolicyEntry
    {
        public TenantQuotas? Value;
        public long LoadedAt;
        public readonly SemaphoreSlim Gate = new(1, 1);
    }

    private readonly ConcurrentDictionary<Guid, PolicyEntry> _policies = new();

    /// <summary>
    /// The tenant's quotas, at most <see cref="TenantEventsOptions.QuotaPolicyRefresh"/> old (so a changed limit or
    /// allocation is enforced by every instance within that time); null for a tenant that does not exist or was shredded.
    /// </summary>
    public async ValueTask<TenantQuotas?> PolicyAsync(Guid tenant, CancellationToken cancellation, bool fresh = false)
    {
        var entry = _policies.GetOrAdd(tenant, _ => new PolicyEntry());
        if (!fresh && Current(entry) is { } cached) return cached;
        // Stale while one caller reloads in the background: the request path never waits for a refresh.
        if (!fresh && entry.Value is { } stale)
        {
            if (entry.Gate.Wait(0))
                _ = Task.Run(async () =>
                {
                    try
                    {
                        entry.Value = await LoadPolicyAsync(tenant, stale, CancellationToken.None);
                        Volatile.Write(ref entry.LoadedAt, Environment.TickCount64);
                    }
                    catch (Exception e) when (e is NpgsqlException or InvalidOperationException or TimeoutException)
                    {
                        log.LogWarning(e, "Could not reload the quotas of tenant {Tenant}", tenant);
                    }
                    finally
                    {
                        entry.Gate.Release();
                    }
                });
            return stale;
        }
        await entry.Gate.WaitAsync(cancellation);
        try
        {
            if (!fresh && Current(entry) is { } loaded) return loaded;
            var value = await LoadPolicyAsync(tenant, entry.Value, cancellation);
            entry.Value = value;
            Volatile.Write(ref entry.LoadedAt, Environment.TickCount64);
            return value;
        }
        finally
        {
            entry.Gate.Release();
        }
    }

    private TenantQuotas? Current(PolicyEntry entry) =>
        entry.Value is { } value && Environment.TickCount64 - Volatile.Read(ref entry.LoadedAt) < Options.QuotaPolicyRefresh.TotalMilliseconds ? value : null;

    /// <summary>Forget what this instance knows of a tenant's quotas (its own changes take effect at once).</summary>
    public void Invalidate(Guid tenant) => _policies.TryRemove(tenant, out _);

    /// <summary>
    /// The tenant's limits (read again every time: a settings change must show) and its allocation trees, which are
    /// rebuilt only when the organisation graph or the limits moved on since <paramref name="previous"/>.
    /// </summary>
    private async Task<TenantQuotas?> LoadPolicyAsync(Guid tenant, TenantQuotas? previous, CancellationToken cancellation)
    {
        TenantRecord? record;
        await using (var session = streams.Store.QuerySession(tenant.ToString()))
            record = await session.LoadAsync<TenantRecord>(tenant, cancellation);
        if (record is null || record.Shredded) return null;
        Tenant state;
        try
        {
            state = await streams.ReadAsync(record, cancellation);
        }
        catch (KeyDestroyedException)
        {
            return null;
        }
        var quotas = state.Settings.Quotas;
        var sameLimits = previous is not null && QuotaKinds.All.All(k => QuotaKinds.LimitOf(previous.Quotas, k) == QuotaKinds.LimitOf(quotas, k));
        var (version, trees) = await organisations.ReadAsync(tenant, graph =>
            (graph.Version, sameLimits && previous!.AccessVersion == graph.Version
                ? previous.Trees
                : QuotaKinds.All.ToDictionary(k => k, k => AllocationTree.Build(graph, k, QuotaKinds.LimitOf(quotas, k)))), cancellation);
        return new TenantQuotas(tenant, record.State == TenantState.Active, quotas, trees, version);
    }

    // ---- API calls -----------------------------------------------------------------------------------------------

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
        var policy = await PolicyAsync(tenant, cancellation);
        if (policy is not { Active: true }) return null;
        var now = streams.Now;
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
        return await InTenantAsync(policy.TenantId, kind, async (connection, transaction) =>
        {
            var charges = await ChargesAsync(connection, transaction, kind, start, cancellation);
            var tree = policy.Trees[kind];
            var free = tree.Free(org, tree.Loads(charges));
            var hard = policy.Hard(kind);
            long granted;
            if (hard && free < amount) granted = 0;
            else granted = amount + (hard ? Math.Clamp((free - amount) / 16, 0, Options.QuotaMaxLease) : Options.QuotaMaxLease);
            if (granted > 0) await AddAsync(connection, transaction, kind, start, org, used: 0, held: granted, cancellation);
            return (granted, charges.Values.Sum());
        }, cancellation);
    }

    // ---- AI compute ----------------------------------------------------------------------------------------------

    /// <summary>A reservation of AI compute units.</summary>
    public sealed record Reservation(Guid Id, Guid? OrganisationId, long Units, string State, DateTimeOffset PeriodStart, DateTimeOffset CreatedAt,
        DateTimeOffset ExpiresAt, DateTimeOffset? SettledAt, long? CommittedUnits, string? Purpose, string Actor);

    /// <summary>
    /// Reserves units (held against the monthly quota, charged at the organisation) until committed, released or expired;
    /// the refusal when a hard quota, an organisation's cap or another's guarantee leaves too little.
    /// </summary>
    public async Task<(Reservation? Reservation, QuotaRefusal? Refusal)> ReserveAsync(TenantQuotas policy, Guid? organisation, long units,
        TimeSpan lifetime, string? purpose, Actor actor, CancellationToken cancellation)
    {
        const string kind = QuotaKinds.AiCompute;
        var now = streams.Now;
        var (start, end) = QuotaKinds.PeriodAt(kind, now);
        var org = organisation ?? Guid.Empty;
        var result = await InTenantAsync<(Reservation?, QuotaRefusal?, long)>(policy.TenantId, kind, async (connection, transaction) =>
        {
            await ExpireAsync(connection, transaction, now, cancellation);
            var charges = await ChargesAsync(connection, transaction, kind, start, cancellation);
            var tree = policy.Trees[kind];
            var free = tree.Free(org, tree.Loads(charges));
            var total = charges.Values.Sum();
            if (policy.Hard(kind) && free < units)
                return ((Reservation?)null, new QuotaRefusal(kind, total, policy.Limit(kind), end,
                    $"{units:N0} AI compute units cannot be reserved: {free:N0} are free{(organisation is null ? "" : $" to organisation {org}")} " +
                    $"of the tenant's {policy.Limit(kind):N0} this month ({total:N0} used or reserved); the quota resets at {end:O}."), total);
            var reservation = new Reservation(Guid.CreateVersion7(), organisation, units, "held", start, now, now + lifetime, null, null, purpose, actor.ToString());
            await using (var insert = new NpgsqlCommand($"""
                insert into {Schema}.ai_reservations (tenant_id, id, org_id, units, state, period_start, created_at, expires_at, purpose, actor)
                values ($1, $2, $3, $4, 'held', $5, $6, $7, $8, $9)
                """, connection, transaction))
            {
                Add(insert, policy.TenantId.ToString(), reservation.Id, org, units, start, now, reservation.ExpiresAt, (object?)purpose ?? DBNull.Value, reservation.Actor);
                await insert.ExecuteNonQueryAsync(cancellation);
            }
            await AddAsync(connection, transaction, kind, start, org, used: 0, held: units, cancellation);
            return (reservation, null, total + units);
        }, cancellation);
        if (result.Item1 is not null) await RaiseAlertsAsync(policy, kind, start, end, result.Item3, cancellation);
        return (result.Item1, result.Item2);
    }

    /// <summary>What became of a commit or release: the reservation after, or why not (404 unknown, 409 no longer held, 400 too many units).</summary>
    public sealed record Settlement(Reservation? Reservation, Problem? Problem);

    /// <summary>Commits units used (at most those reserved; the rest is released) or, with null, releases the reservation.</summary>
    public async Task<Settlement> SettleAsync(TenantQuotas policy, Guid id, long? committedUnits, CancellationToken cancellation)
    {
        const string kind = QuotaKinds.AiCompute;
        var now = streams.Now;
        return await InTenantAsync(policy.TenantId, kind, async (connection, transaction) =>
        {
            await ExpireAsync(connection, transaction, now, cancellation);
            var reservation = await FindAsync(connection, transaction, id, cancellation);
            if (reservation is null) return new Settlement(null, Problem.NotFound("reservation"));
            if (reservation.State != "held")
                return new Settlement(null, new Problem("reservation-settled", 409, "The reservation is no longer held",
                        $"It was {reservation.State} at {reservation.SettledAt:O}; reserve again.").With("currentState", reservation.State));
            if (committedUnits is { } c && c > reservation.Units)
                return new Settlement(null, Problem.Validation("units", "exceeds-reservation",
                    $"may be at most the {reservation.Units:N0} units reserved."));
            var used = committedUnits ?? 0;
            var state = committedUnits is null ? "released" : "committed";
            await using (var update = new NpgsqlCommand($"""
                update {Schema}.ai_reservations set state = $2, settled_at = $3, committed_units = $4 where id = $1
                """, connection, transaction))
            {
                Add(update, id, state, now, committedUnits is null ? DBNull.Value : used);
                await update.ExecuteNonQueryAsync(cancellation);
            }
            await AddAsync(connection, transaction, kind, reservation.PeriodStart, reservation.OrganisationId ?? Guid.Empty, used, -reservation.Units,
                cancellation);
            if (used > 0) await AddDailyAsync(connection, transaction, QuotaKinds.MetricOf(kind), now, reservation.OrganisationId ?? Guid.Empty, used, cancellation);
            return new Settlement(reservation with { State = state, SettledAt = now, CommittedUnits = committedUnits }, null);
        }, cancellation);
    }

    public async Task<Reservation?> ReservationAsync(Guid tenant, Guid id, CancellationToken cancellation) =>
        await InTenantAsync(tenant, QuotaKinds.AiCompute, async (connection, transaction) =>
        {
            await ExpireAsync(connection, transaction, streams.Now, cancellation);
            return await FindAsync(connection, transaction, id, cancellation);
        }, cancellation);

    /// <summary>This period's counters of every consumable kind, per organisation charged (expired reservations released first).</summary>
    public async Task<Dictionary<string, Dictionary<Guid, (long Used, long Held)>>> CountersAsync(Guid tenant, CancellationToken cancellation)
    {
        await FlushAsync(cancellation, tenant);
        var now = streams.Now;
        var kinds = QuotaKinds.Allocatable.ToArray();
        var starts = kinds.Select(k => QuotaKinds.PeriodAt(k, now).Start).ToArray();
        return await InTenantAsync(tenant, QuotaKinds.AiCompute, async (connection, transaction) =>
        {
            await ExpireAsync(connection, transaction, now, cancellation);
            var result = kinds.ToDictionary(k => k, _ => new Dictionary<Guid, (long Used, long Held)>());
            await using var read = new NpgsqlCommand($"""
                select kind, org_id, used, held from {Schema}.quota_usage
                where (kind, period_start) in (select * from unnest($1::text[], $2::timestamptz[]))
                """, connection, transaction);
            Add(read, kinds, starts);
            await using var reader = await read.ExecuteReaderAsync(cancellation);
            while (await reader.ReadAsync(cancellation)) result[reader.GetString(0)][reader.GetGuid(1)] = (reader.GetInt64(2), reader.GetInt64(3));
            return result;
        }, cancellation);
    }

    private async Task<Reservation?> FindAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, Guid id, CancellationToken cancellation)
    {
        await using var find = new NpgsqlCommand($"""
            select id, org_id, units, state, period_start, created_at, expires_at, settled_at, committed_units, purpose, actor
            from {Schema}.ai_reservations where id = $1 for update
            """, connection, transaction);
        Add(find, id);
        await using var reader = await find.ExecuteReaderAsync(cancellation);
        if (!await reader.ReadAsync(cancellation)) return null;
        var org = reader.GetGuid(1);
        return new Reservation(reader.GetGuid(0), org == Guid.Empty ? null : org, reader.GetInt64(2), reader.GetString(3),
            reader.GetFieldValue<DateTimeOffset>(4), reader.GetFieldValue<DateTimeOffset>(5), reader.GetFieldValue<DateTimeOffset>(6),
            reader.IsDBNull(7) ? null : reader.GetFieldValue<DateTimeOffset>(7), reader.IsDBNull(8) ? null : reader.GetInt64(8),
            reader.IsDBNull(9) ? null : reader.GetString(9), reader.GetString(10));
    }

    /// <summary>Reservations past their expiry give their units back (run before every decision and read, so expiry needs no timer to be exact).</summary>
    private async Task ExpireAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, DateTimeOffset now, CancellationToken cancellation)
    {
        await using var expire = new NpgsqlCommand($"""
            with expired as (
              update {Schema}.ai_reservations set state = 'expired', settled_at = expires_at
              where state = 'held' and expires_at <= $1
              returning period_start, org_id, units),
            totals as (select period_start, org_id, sum(units) as units from expired group by period_start, org_id)
            update {Schema}.quota_usage u set held = greatest(0, u.held - t.units), updated_at = $1
            from totals t where u.kind = '{QuotaKinds.AiCompute}' and u.period_start = t.period_start and u.org_id = t.org_id
            """, connection, transaction);
        Add(expire, now);
        await expire.ExecuteNonQueryAsync(cancellation);
    }

    // ---- flushing ------------------------------------------------------------------------------------------------

    /// <summary>
    /// Turns the calls counted in memory into durable usage (and daily history), gives unused leases back, and raises
    /// the alerts the new totals cross. Runs every <see cref="TenantEventsOptions.QuotaFlushInterval"/>; tests call it.
    /// </summary>
    /// <param name="only">Flush only this tenant's counts (before a read of its usage).</param>
    public async Task FlushAsync(CancellationToken cancellation, Guid? only = null)
    {
        var now = streams.Now;
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
                var totals = await InTenantAsync(tenant, "flush", async (connection, transaction) =>
                {
                    await using var batch = new NpgsqlBatch(connection, transaction);
                    foreach (var (key, _, consumed, returned) in items)
                    {
                        batch.BatchCommands.Add(BatchCommand($"""
                            update {Schema}.quota_usage set used = used + $4, held = greatest(0, held - $4 - $5), updated_at = $6
                            where kind = $1 and period_start = $2 and org_id = $3
                            """, key.Kind, key.Period, key.Org, consumed, returned, now));
                        if (key.Kind == QuotaKinds.ApiCallsPerDay && consumed > 0)
                            batch.BatchCommands.Add(DailyCommand(QuotaKinds.MetricOf(key.Kind), key.Period, key.Org, consumed));
                    }
                    var periods = items.Select(i => (i.Key.Kind, i.Key.Period)).Distinct().ToList();
                    batch.BatchCommands.Add(BatchCommand($"""
                        select kind, period_start, sum(used)::bigint from {Schema}.quota_usage
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
                if (await PolicyAsync(tenant, cancellation) is { } policy)
                    foreach (var (kind, start, used) in totals)
                        await RaiseAlertsAsync(policy, kind, start, QuotaKinds.PeriodAt(kind, start).End, used, cancellation);
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
            foreach (var (tenant, entry) in _policies)
                if (Environment.TickCount64 - Volatile.Read(ref entry.LoadedAt) > 60_000) _policies.TryRemove(tenant, out _);
            // Alerts of periods that are over are not raised again: forget them.
            foreach (var key in _raised.Keys)
                if (QuotaKinds.PeriodAt(key.Item2, key.Item3).End <= now) _raised.TryRemove(key, out _);
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

    // ---- licences ------------------------------------------------------------------------------------------------

    /// <summary>
    /// Whether <paramref name="activeAfter"/> active users fit the tenant's licences (called in the SCIM transaction,
    /// under the tenant's directory lock, so racing creations are decided one after another).
    /// </summary>
    public async Task<QuotaRefusal?> CheckLicencesAsync(Guid tenant, int activeBefore, int activeAfter, CancellationToken cancellation)
    {
        if (activeAfter <= activeBefore) return null;
        var policy = await PolicyAsync(tenant, cancellation);
        if (policy is null || !policy.Hard(QuotaKinds.Licences)) return null;
        var limit = policy.Limit(QuotaKinds.Licences);
        if (activeAfter <= limit) return null;
        var end = QuotaKinds.PeriodAt(QuotaKinds.Licences, streams.Now).End;
        return new QuotaRefusal(QuotaKinds.Licences, activeBefore, limit, end,
            $"The tenant has {activeBefore:N0} active users of its {limit:N0} licences; this would make {activeAfter:N0}. " +
            "Deactivate or delete a user, or ask a platform administrator for more licences.");
    }

    /// <summary>The day's peak of active users, for the directory change's own transaction (usage history).</summary>
    public NpgsqlBatchCommand LicencePeakCommand(int active) => DailyCommand(QuotaKinds.MetricOf(QuotaKinds.Licences), streams.Now, Guid.Empty, active, peak: true);

    /// <summary>After a directory change: the licence alerts the new count of active users crosses.</summary>
    public async Task LicencesChangedAsync(Guid tenant, int active, CancellationToken cancellation)
    {
        if (await PolicyAsync(tenant, cancellation) is not { } policy) return;
        var (start, end) = QuotaKinds.PeriodAt(QuotaKinds.Licences, streams.Now);
        await RaiseAlertsAsync(policy, QuotaKinds.Licences, start, end, active, cancellation);
    }

    // ---- alerts --------------------------------------------------------------------------------------------------

    private readonly ConcurrentDictionary<(Guid, string, DateTimeOffset, int), bool> _raised = new();

    /// <summary>
    /// Raises <see cref="QuotaThresholdCrossed"/> once per threshold per period: the alert row and the event are written
    /// in one transaction, and the row's key makes a second raise (by this or another instance) a no-op.
    /// </summary>
    private async Task RaiseAlertsAsync(TenantQuotas policy, string kind, DateTimeOffset start, DateTimeOffset end, long used,
        CancellationToken cancellation)
    {
        var limit = policy.Limit(kind);
        if (limit <= 0) return;
        var crossed = policy.Quotas.AlertThresholds
            .Where(t => (decimal)used * 100 >= (decimal)t * limit && !_raised.ContainsKey((policy.TenantId, kind, start, t))).ToList();
        if (crossed.Count == 0) return;
        var context = new MessageContext(runtime);
        await using var session = streams.OpenSession(context, policy.TenantId);
        await session.BeginTransactionAsync(cancellation);
        var connection = (NpgsqlConnection)session.Connection!;
        var now = streams.Now;
        var fresh = new List<int>();
        await using (var insert = new NpgsqlCommand($"""
            insert into {Schema}.quota_alerts (tenant_id, kind, period_start, threshold, used, quota_limit, raised_at)
            select $1, $2, $3, t, $5, $6, $7 from unnest($4::int[]) t
            on conflict do nothing returning threshold
            """, connection))
        {
            Add(insert, policy.TenantId.ToString(), kind, start, crossed.ToArray(), used, limit, now);
            await using var reader = await insert.ExecuteReaderAsync(cancellation);
            while (await reader.ReadAsync(cancellation)) fresh.Add(reader.GetInt32(0));
        }
        if (fresh.Count > 0)
        {
            var mode = QuotaKinds.ModeName(policy.Mode(kind));
            var stream = QuotaEventTypes.Stream(policy.TenantId);
            var events = fresh.Order().Select(t => (object)new QuotaThresholdCrossed(kind, t, used, limit, start, end, mode, Actor.System, now)).ToList();
            session.Events.Append(stream, await streams.SealAsync(policy.TenantId, events, cancellation, stream: stream));
            await session.SaveChangesAsync(cancellation);
            await context.FlushOutgoingMessagesAsync();
            foreach (var t in fresh)
                log.LogWarning("Tenant {Tenant} reached {Threshold}% of its {Kind} quota ({Used} of {Limit})", policy.TenantId, t, kind, used, limit);
        }
        foreach (var t in crossed) _raised[(policy.TenantId, kind, start, t)] = true;
    }

    // ---- database ------------------------------------------------------------------------------------------------

    /// <summary>A transaction of the tenant's database, bound to the tenant, holding its quota lock for the kind.</summary>
    private async Task<T> InTenantAsync<T>(Guid tenant, string lockName, Func<NpgsqlConnection, NpgsqlTransaction, Task<T>> work,
        CancellationToken cancellation)
    {
        var source = (await streams.Databases.ForAsync(tenant, cancellation)).Service;
        await using var connection = await source.OpenConnectionAsync(cancellation);
        await using var transaction = await connection.BeginTransactionAsync(cancellation);
        await using (var batch = new NpgsqlBatch(connection, transaction))
        {
            batch.BatchCommands.Add(Infrastructure.Databases.Sql.SetTenantCommand(tenant));
            batch.BatchCommands.Add(BatchCommand("select pg_advisory_xact_lock(hashtextextended($1, 0))", $"tenantevents:quota:{tenant}:{lockName}"));
            await batch.ExecuteNonQueryAsync(cancellation);
        }
        var result = await work(connection, transaction);
        await transaction.CommitAsync(cancellation);
        return result;
    }

    private async Task<Dictionary<Guid, long>> ChargesAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string kind, DateTimeOffset start,
        CancellationToken cancellation)
    {
        var charges = new Dictionary<Guid, long>();
        await using var read = new NpgsqlCommand($"select org_id, used + held from {Schema}.quota_usage where kind = $1 and period_start = $2",
            connection, transaction);
        Add(read, kind, start);
        await using var reader = await read.ExecuteReaderAsync(cancellation);
        while (await reader.ReadAsync(cancellation)) charges[reader.GetGuid(0)] = reader.GetInt64(1);
        return charges;
    }

    private async Task AddAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string kind, DateTimeOffset start, Guid org, long used,
        long held, CancellationToken cancellation)
    {
        await using var upsert = new NpgsqlCommand($"""
            insert into {Schema}.quota_usage as u (tenant_id, kind, period_start, org_id, used, held, updated_at)
            values (current_setting('{Hosting.TenantSetting}'), $1, $2, $3, $4, greatest(0, $5), $6)
            on conflict (tenant_id, kind, period_start, org_id) do update
              set used = u.used + excluded.used, held = greatest(0, u.held + $5), updated_at = excluded.updated_at
            """, connection, transaction);
        Add(upsert, kind, start, org, used, held, streams.Now);
        await upsert.ExecuteNonQueryAsync(cancellation);
    }

    private async Task AddDailyAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string metric, DateTimeOffset at, Guid org, long amount,
        CancellationToken cancellation)
    {
        await using var batch = new NpgsqlBatch(connection, transaction);
        batch.BatchCommands.Add(DailyCommand(metric, at, org, amount));
        await batch.ExecuteNonQueryAsync(cancellation);
    }

    /// <summary>Adds to a day's usage; a peak (licences) keeps the day's largest figure instead.</summary>
    private NpgsqlBatchCommand DailyCommand(string metric, DateTimeOffset at, Guid org, long amount, bool peak = false) => BatchCommand($"""
        insert into {Schema}.usage_daily as d (tenant_id, metric, day, org_id, amount)
        values (current_setting('{Hosting.TenantSetting}'), $1, $2, $3, $4)
        on conflict (tenant_id, metric, day, org_id) do update set amount = {(peak ? "greatest(d.amount, excluded.amount)" : "d.amount + excluded.amount")}
        """, metric, DateOnly.FromDateTime(at.UtcDateTime), org, amount);

    private static NpgsqlBatchCommand BatchCommand(string sql, params object?[] values) => Infrastructure.Databases.Sql.BatchCommand(sql, values);

    private static void Add(NpgsqlCommand command, params object?[] values) => Infrastructure.Databases.Sql.Bind(command, values);
}
