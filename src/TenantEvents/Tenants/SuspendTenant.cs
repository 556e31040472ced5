using Microsoft.AspNetCore.Authorization;
using Wolverine.Http;
using Wolverine.Runtime;
using TenantEvents.Infrastructure.Security;

namespace TenantEvents.Tenants;

public sealed record SuspendTenant(string? Reason);

public static class SuspendTenantEndpoint
{
    [WolverinePost("/api/tenants/{tenantId}/suspend", OperationId = "SuspendTenant")]
    [Authorize(Roles = Roles.PlatformAdmin)]
    public static Task<IResult> Post(Guid tenantId, SuspendTenant? command, HttpContext http, TenantStreams streams,
        MessageContext context, CancellationToken cancellation) =>
        TenantHttp.Command(http, streams, context, tenantId, "suspend",
            TenantHttp.Check(e => TenantRules.Reason("reason", command?.Reason, e)),
            (by, tenant, now) => TenantDecisions.Suspend(tenant, command!.Reason!.Trim(), by, now), cancellation);
}
