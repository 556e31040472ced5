using Marten;
using Microsoft.AspNetCore.Authorization;
using Wolverine.Http;
using Wolverine.Runtime;
using TenantEvents.Infrastructure.Security;

namespace TenantEvents.Tenants;

public sealed record RejectTenant(string? Reason);

public static class RejectTenantEndpoint
{
    [WolverinePost("/api/tenants/{tenantId}/reject", OperationId = "RejectTenant")]
    [Authorize(Roles = Roles.PlatformApprover)]
    public static Task<IResult> Post(Guid tenantId, RejectTenant? command, HttpContext http, TenantStreams streams,
        MessageContext context, CancellationToken cancellation) =>
        TenantHttp.Command(http, streams, context, tenantId, "reject",
            TenantHttp.Check(e => TenantRules.Reason("reason", command?.Reason, e)),
            (by, tenant, now) => TenantDecisions.Reject(tenant, command!.Reason!.Trim(), by, now), cancellation,
            // A rejected request frees its slug: in the platform directory (main database), once the rejection is committed.
            afterCommit: applied => streams.Directory.ReleaseSlugAsync(applied.Tenant.Slug, applied.Tenant.Id, cancellation));
}
