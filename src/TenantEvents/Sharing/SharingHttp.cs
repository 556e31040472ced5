using Npgsql;
using TenantEvents.Audit;
using TenantEvents.Infrastructure;
using TenantEvents.Organisations;
using TenantEvents.Tenants;

namespace TenantEvents.Sharing;

/// <summary>
/// The way into case files and sharing. Case files are the tenant's sovereign data: only the tenant's own people (its
/// administrators and members, its service accounts) reach them, in the tenant's own routes; platform staff do not.
/// Another tenant's files are reached through the caller's own tenant, never through the owner's routes.
/// </summary>
public static class SharingHttp
{
    public const string Roles = $"{Infrastructure.Security.Roles.TenantAdmin},{Infrastructure.Security.Roles.TenantMember}";

    public static async Task<(Standing? Standing, IResult? Refusal)> Enter(HttpContext http, TenantStreams streams, OrganisationStore store,
        Guid tenantId, bool writing, CancellationToken cancellation)
    {
        var caller = http.Caller();
        if (!caller.AdministersTenant(tenantId) && !caller.IsMemberOf(tenantId)) return (null, Problem.NotFound("tenant").ToResult());
        return await OrgHttp.Enter(http, streams, store, tenantId, writing, cancellation);
    }

    /// <summary>The caller as a reader of its tenant's case files, over the given connection (bound to the tenant).</summary>
    public static async Task<(Reader? Reader, IResult? Refusal)> Reader(HttpContext http, SharingStore sharing, OrganisationStore store,
        NpgsqlConnection connection, Guid tenantId, bool writing, CancellationToken cancellation)
    {
        var (standing, refusal) = await Enter(http, sharing.Streams, store, tenantId, writing, cancellation);
        if (refusal is not null) return (null, refusal);
        var reader = await Visibility.ReaderAsync(connection, sharing.Schema, standing!, tenantId,
            read => store.ReadAsync(tenantId, read, cancellation), sharing.Now, cancellation);
        return (reader, null);
    }

    /// <summary>Whether the caller holds a permission at an organisation of its tenant (or across it).</summary>
    public static Task<bool> Holds(OrganisationStore store, Standing standing, Guid tenant, string permission, Guid org, CancellationToken cancellation) =>
        store.ReadAsync(tenant, g => standing.Can(g, permission, org), cancellation);

    /// <summary>Administers the tenant's sharing: sharing.manage at the root (or at every organisation named), or the tenant's administrators.</summary>
    public static Task<bool> ManagesSharing(OrganisationStore store, Standing standing, Guid tenant, IReadOnlyList<Guid>? at, CancellationToken cancellation) =>
        store.ReadAsync(tenant, g =>
            standing.Everything || (at is { Count: > 0 }
                ? at.All(o => g.Find(o) is not null && standing.Can(g, "sharing.manage", o))
                : g.Root is { } root && standing.Can(g, "sharing.manage", root)), cancellation);

    public static Problem MayNotManageSharing() =>
        Problem.Forbidden("Managing sharing needs sharing.manage at the organisation's root (or the tenant's administrator).")
            .With("permission", "sharing.manage");

    /// <summary>
    /// Both tenants' data stays where it is placed: sharing spans tenants of one database (the same residency zone and no
    /// dedicated database on either side). Null when the tenant can take part; else why not (404 when it is no active tenant).
    /// </summary>
    public static async Task<Problem?> Partner(TenantStreams streams, OrganisationStore store, Guid self, Guid partner, string field,
        CancellationToken cancellation)
    {
        if (partner == self) return Problem.Validation(field, "self", "a tenant shares with another tenant, not with itself.");
        var status = await store.ReadAsync(partner, (s, _) => s, cancellation);
        if (!status.Exists || status.Shredded || status.State != nameof(TenantState.Active))
            return Problem.Validation(field, "unknown-tenant", "no active tenant with that id.");
        var mine = await streams.Databases.ForAsync(self, cancellation);
        var theirs = await streams.Databases.ForAsync(partner, cancellation);
        if (mine.Entry.Id != theirs.Entry.Id)
            return new Problem("residency-boundary", 409, "The tenants' data live apart",
                "Sharing between tenants placed in different databases (another residency zone, a dedicated database, or another shared " +
                "database of the zone) is not supported: shared data would have to leave its placement.")
                .With("field", field);
        return null;
    }

    /// <summary>Cross-tenant reads are recorded (durably queued for both trails) before the answer leaves.</summary>
    public static Task Record(CrossTenantAccess audit, Wolverine.Runtime.MessageContext context, Reader reader, IReadOnlyList<AccessRecord> accesses,
        CancellationToken cancellation) =>
        audit.QueueAsync(context, reader.Tenant, reader.Actor, accesses, cancellation);
}
