using Microsoft.AspNetCore.Authorization;
using Wolverine.Http;
using Wolverine.Runtime;
using TenantEvents.Infrastructure.Security;

namespace TenantEvents.Tenants;

public sealed record RenameTenant(string? Name);

public static class RenameTenantEndpoint
{
    /// <summary>Platform administrators, the tenant's own administrator, or a member holding org.manage at its root organisation.</summary>
    [WolverinePut("/api/tenants/{tenantId}/name", OperationId = "RenameTenant")]
    [Authorize(Roles = $"{Roles.PlatformAdmin},{Roles.TenantAdmin},{Roles.TenantMember}")]
    public static Task<IResult> Put(Guid tenantId, RenameTenant? command, HttpContext http, TenantStreams streams,
        MessageContext context, CancellationToken cancellation) =>
        TenantHttp.Command(http, streams, context, tenantId, "rename",
            TenantHttp.Check(e => TenantRules.Name("name", command?.Name, e)),
            (by, tenant, now) => TenantDecisions.Rename(tenant, command!.Name!.Trim(), by, now), cancellation,
            memberPermission: TenantEvents.Organisations.Permissions.OrgManage);
}
