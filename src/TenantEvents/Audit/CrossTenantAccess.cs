using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Tenants;

namespace TenantEvents.Audit;

/// <summary>One access of a resource of <paramref name="OwnerTenant"/>.</summary>
public sealed record AccessRecord(Guid OwnerTenant, string Action, string ResourceType, string ResourceId, string? Purpose);

/// <summary>
/// Records a cross-tenant access in both tenants' audit trails: the owner's trail says who, from which tenant, did what
/// to its resource; the accessor's trail says what it accessed of whom. Each record is an event of the tenant's own
/// access stream, sealed under that tenant's key and logged in its Merkle log. Sharing calls this on every read or write
/// of a shared resource, before it answers.
/// </summary>
public sealed class CrossTenantAccess(TenantStreams streams)
{
    public Task RecordAsync(Guid ownerTenant, Guid accessorTenant, Actor by, string action, string resourceType, string resourceId, string? purpose,
        CancellationToken cancellation) =>
        RecordAsync(accessorTenant, by, [new AccessRecord(ownerTenant, action, resourceType, resourceId, purpose)], cancellation);

    /// <summary>Several accesses by one caller: one transaction in the accessor's trail, one in each owner's.</summary>
    public async Task RecordAsync(Guid accessorTenant, Actor by, IReadOnlyList<AccessRecord> accesses, CancellationToken cancellation)
    {
        if (accesses.Count == 0) return;
        if (accesses.Any(a => a.OwnerTenant == accessorTenant)) throw new ArgumentException("A cross-tenant access involves two tenants.");
        var now = streams.Now;
        await AppendAsync(accessorTenant, accesses.Select(a =>
            new CrossTenantAccessRecorded(a.OwnerTenant, accessorTenant, "accessor", a.Action, a.ResourceType, a.ResourceId, a.Purpose, by, now)).ToList(),
            cancellation);
        foreach (var owner in accesses.GroupBy(a => a.OwnerTenant))
            await AppendAsync(owner.Key, owner.Select(a =>
                new CrossTenantAccessRecorded(a.OwnerTenant, accessorTenant, "owner", a.Action, a.ResourceType, a.ResourceId, a.Purpose, by, now)).ToList(),
                cancellation);
    }

    /// <summary>Appends to the tenant's access stream; a concurrent append by another request wins the version, so this one retries.</summary>
    private async Task AppendAsync(Guid tenant, IReadOnlyList<CrossTenantAccessRecorded> events, CancellationToken cancellation)
    {
        var stream = AuditEventTypes.AccessStream(tenant);
        var sealedEvents = await streams.SealAsync(tenant, events, cancellation, stream: stream);
        for (var attempt = 1; ; attempt++)
        {
            await using var session = streams.Store.LightweightSession(tenant.ToString());
            session.Events.Append(stream, sealedEvents);
            try
            {
                await session.SaveChangesAsync(cancellation);
                return;
            }
            catch (Exception e) when (Failures.IsConcurrency(e) && attempt < 20)
            {
                await Task.Yield();
            }
        }
    }
}
