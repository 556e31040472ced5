using TenantEvents.Infrastructure.Security;

namespace TenantEvents.Quotas;

/// <summary>
/// An organisation was given a share of one of its tenant's quotas: <paramref name="Guaranteed"/> units are reserved for
/// it (and its descendants) out of its nearest allocated ancestor's share, or out of the tenant's limit; it may go on
/// to use free capacity above it up to <paramref name="Cap"/> (no cap: as far as its ancestors allow). On the
/// organisation's stream, decided under the tenant's access lock like every change of the tree.
/// </summary>
public sealed record QuotaAllocated(Guid OrganisationId, string Kind, long Guaranteed, long? Cap, Actor By, DateTimeOffset At);

/// <summary>The organisation's share went back to its allocated ancestor (or the tenant).</summary>
public sealed record QuotaAllocationRemoved(Guid OrganisationId, string Kind, Actor By, DateTimeOffset At);

/// <summary>
/// A quota's usage reached a threshold (a percentage of its limit) in a period: raised once per threshold per period
/// and re-armed when the next period starts. On the tenant's quota stream, so it is in the audit trail.
/// </summary>
public sealed record QuotaThresholdCrossed(string Kind, int Threshold, long Used, long Limit, DateTimeOffset PeriodStart,
    DateTimeOffset PeriodEnd, string Mode, Actor By, DateTimeOffset At);

public static class QuotaEventTypes
{
    /// <summary>The events of the tenant's quota stream (allocations are organisation events).</summary>
    public static readonly IReadOnlyList<Type> All = [typeof(QuotaThresholdCrossed)];

    /// <summary>Organisation events that carry allocations.</summary>
    public static readonly IReadOnlyList<Type> Allocations = [typeof(QuotaAllocated), typeof(QuotaAllocationRemoved)];

    /// <summary>The stream of a tenant's quota alerts (stable, name-based).</summary>
    public static Guid Stream(Guid tenantId) => Infrastructure.StableIds.From(tenantId, "quotas");
}
