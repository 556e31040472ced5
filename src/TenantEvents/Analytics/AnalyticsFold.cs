using TenantEvents.Audit;
using TenantEvents.Tenants;

namespace TenantEvents.Analytics;

/// <summary>
/// One stored event as the analytics projections see it: only what stays clear in mt_events (tenant, type, stream,
/// version, time). Payloads are sealed; analytics never opens them, so it reads nothing a tenant's key protects and
/// still counts what a shredded tenant did.
/// </summary>
public readonly record struct EventFact(long Seq, string Tenant, string Type, Guid Stream, long Version, DateTimeOffset At);

/// <summary>What one batch of events adds to the projections (everything additive or "latest version wins", so a late
/// event, one whose transaction committed after later ones were read, folds in whenever it arrives).</summary>
public sealed class AnalyticsDelta
{
    public sealed class TenantFacts
    {
        public string? State;
        public long StateVersion;
        public DateTimeOffset? RequestedAt, ProvisionedAt, DecommissionedAt;
        public DateTimeOffset FirstAt = DateTimeOffset.MaxValue, LastAt = DateTimeOffset.MinValue;
        public long Events;
    }

    /// <summary>(tenant, UTC day) → events appended that day and records (streams) created that day.</summary>
    public readonly Dictionary<(string Tenant, DateOnly Day), (long Events, long Records)> Days = new();

    /// <summary>(tenant, record kind) → events and records (streams) of that kind.</summary>
    public readonly Dictionary<(string Tenant, string Kind), (long Events, long Records)> Kinds = new();

    public readonly Dictionary<string, TenantFacts> Tenants = new(StringComparer.Ordinal);

    public long Events;
    public DateTimeOffset? LastAt;
}

/// <summary>The analytics projections' decisions: pure, over <see cref="EventFact"/>s.</summary>
public static class AnalyticsFold
{
    public const string Tombstone = "tombstone";

    private static readonly string Provisioned = TenantEventTypes.StoredName(typeof(TenantProvisioned));

    /// <summary>The record kind of a stored event type (tenant, organisation, user, case-file, ...); "other" for a type not ours.</summary>
    public static string KindOf(string storedType) => Kinds.TryGetValue(storedType, out var kind) ? kind : "other";

    private static readonly IReadOnlyDictionary<string, string> Kinds =
        AuditEventTypes.ByStoredName.ToDictionary(t => t.Key, t => AuditEventTypes.StreamKind(t.Value), StringComparer.Ordinal);

    private static readonly IReadOnlyDictionary<string, TenantState> StateAfter = new Dictionary<string, TenantState>(StringComparer.Ordinal)
    {
        [TenantEventTypes.StoredName(typeof(TenantRequested))] = TenantState.Requested,
        [TenantEventTypes.StoredName(typeof(TenantApproved))] = TenantState.Approved,
        [TenantEventTypes.StoredName(typeof(TenantRejected))] = TenantState.Rejected,
        [TenantEventTypes.StoredName(typeof(TenantProvisioned))] = TenantState.Active,
        [TenantEventTypes.StoredName(typeof(TenantSuspended))] = TenantState.Suspended,
        [TenantEventTypes.StoredName(typeof(TenantReactivated))] = TenantState.Active,
        [TenantEventTypes.StoredName(typeof(TenantDecommissionRequested))] = TenantState.DecommissionRequested,
        [TenantEventTypes.StoredName(typeof(TenantDecommissionScheduled))] = TenantState.DecommissionScheduled,
        // Called off, the tenant comes back suspended (Tenant.Apply(TenantDecommissionCancelled)).
        [TenantEventTypes.StoredName(typeof(TenantDecommissionCancelled))] = TenantState.Suspended,
        [TenantEventTypes.StoredName(typeof(TenantDecommissioned))] = TenantState.Decommissioned,
    };

    /// <summary>The lifecycle state a tenant is in after an event of this type; null if the type does not move it.</summary>
    public static TenantState? StateAfterType(string storedType) => StateAfter.TryGetValue(storedType, out var s) ? s : null;

    /// <summary>The state's name as the API spells it (decommission-requested).</summary>
    public static string StateName(TenantState state) => TenantHttp.Kebab(state);

    /// <summary>Folds events into a delta. Order does not matter: counts add up, a tenant's state is its highest version's.</summary>
    public static AnalyticsDelta Fold(IEnumerable<EventFact> events, AnalyticsDelta? into = null)
    {
        var delta = into ?? new AnalyticsDelta();
        foreach (var e in events)
        {
            // Marten fills the sequence number of a failed append with a tombstone row: not an event.
            if (e.Type == Tombstone) continue;
            var created = e.Version == 1 ? 1 : 0;
            var day = DateOnly.FromDateTime(e.At.UtcDateTime);
            var d = delta.Days.GetValueOrDefault((e.Tenant, day));
            delta.Days[(e.Tenant, day)] = (d.Events + 1, d.Records + created);
            var kind = KindOf(e.Type);
            var k = delta.Kinds.GetValueOrDefault((e.Tenant, kind));
            delta.Kinds[(e.Tenant, kind)] = (k.Events + 1, k.Records + created);
            if (!delta.Tenants.TryGetValue(e.Tenant, out var t)) delta.Tenants[e.Tenant] = t = new AnalyticsDelta.TenantFacts();
            t.Events++;
            if (e.At < t.FirstAt) t.FirstAt = e.At;
            if (e.At > t.LastAt) t.LastAt = e.At;
            // Lifecycle events are those of the tenant's own stream (its id is the tenant's).
            if (kind == "tenant" && StateAfterType(e.Type) is { } state)
            {
                if (e.Version > t.StateVersion) (t.State, t.StateVersion) = (StateName(state), e.Version);
                switch (state)
                {
                    case TenantState.Requested: t.RequestedAt = Earliest(t.RequestedAt, e.At); break;
                    case TenantState.Active when e.Type == Provisioned:
                        t.ProvisionedAt = Earliest(t.ProvisionedAt, e.At); break;
                    case TenantState.Decommissioned: t.DecommissionedAt = Earliest(t.DecommissionedAt, e.At); break;
                }
            }
            delta.Events++;
            if (delta.LastAt is null || e.At > delta.LastAt) delta.LastAt = e.At;
        }
        return delta;
    }

    private static DateTimeOffset Earliest(DateTimeOffset? a, DateTimeOffset b) => a is { } x && x < b ? x : b;

    /// <summary>
    /// Sequence numbers between <paramref name="after"/> and the highest read that were not there: a transaction still
    /// open (it commits later, and its events are then read as late events) or one rolled back (never filled).
    /// </summary>
    public static IReadOnlyList<long> Holes(long after, IReadOnlyList<long> seqs)
    {
        var holes = new List<long>();
        var next = after + 1;
        foreach (var seq in seqs)
        {
            for (var missing = next; missing < seq; missing++) holes.Add(missing);
            if (seq >= next) next = seq + 1;
        }
        return holes;
    }

    /// <summary>Growth: per month (UTC), tenants requested, provisioned and decommissioned, and those live at the month's end.</summary>
    public static IReadOnlyList<GrowthMonth> Growth(IEnumerable<(DateTimeOffset? Requested, DateTimeOffset? Provisioned, DateTimeOffset? Decommissioned)> tenants,
        DateOnly fromMonth, DateOnly toMonth)
    {
        var list = tenants.ToList();
        var months = new List<GrowthMonth>();
        for (var m = new DateOnly(fromMonth.Year, fromMonth.Month, 1); m <= toMonth; m = m.AddMonths(1))
        {
            var start = new DateTimeOffset(m.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);
            var end = start.AddMonths(1);
            bool In(DateTimeOffset? at) => at is { } x && x >= start && x < end;
            months.Add(new GrowthMonth(m.ToString("yyyy-MM"), list.Count(t => In(t.Requested)), list.Count(t => In(t.Provisioned)),
                list.Count(t => In(t.Decommissioned)),
                list.Count(t => t.Provisioned is { } p && p < end && !(t.Decommissioned is { } d && d < end))));
        }
        return months;
    }
}

public sealed record GrowthMonth(string Month, int Requested, int Provisioned, int Decommissioned, int LiveAtEnd);
