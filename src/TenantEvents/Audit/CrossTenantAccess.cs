using TenantEvents.Infrastructure.Security;
using TenantEvents.Tenants;

namespace TenantEvents.Audit;

/// <summary>
/// Records a cross-tenant access in both tenants' audit trails: the owner's trail says who, from which tenant, did what
/// to its resource; the accessor's trail says what it accessed of whom. Each record is an event of the tenant's own
/// access stream, sealed under that tenant's key and logged in its Merkle log. Sharing calls this on every read or write
/// of a shared resource.
/// </summary>
public sealed class CrossTenantAccess(TenantStreams streams)
{
    public async Task RecordAsync(Guid ownerTenant, Guid accessorTenant, Actor by, string action, string resourceType, string resourceId, string? purpose,
        CancellationToken cancellation)
    {
        if (ownerTenant == accessorTenant) throw new ArgumentException("A cross-tenant access involves two tenants.");
        foreach (var (tenant, side) in new[] { (ownerTenant, "owner"), (accessorTenant, "accessor") })
        {
            var e = new CrossTenantAccessRecorded(ownerTenant, accessorTenant, side, action, resourceType, resourceId, purpose, by, streams.Now);
            await using var session = streams.Store.LightweightSession(tenant.ToString());
            session.Events.Append(AuditEventTypes.AccessStream(tenant), await streams.SealAsync(tenant, [e], cancellation, stream: AuditEventTypes.AccessStream(tenant)));
            await session.SaveChangesAsync(cancellation);
        }
    }
}
