using Microsoft.AspNetCore.Authorization;
using Wolverine.Http;
using Wolverine.Runtime;
using TenantEvents.Infrastructure.Security;

namespace TenantEvents.Tenants;

public sealed record ReactivateTenant(string? Comment);

public static class ReactivateTenantEndpoint
{
    [WolverinePost("/api/tenants/{tenantId}/reactivate", OperationId = "ReactivateTenant")]
    [Authorize(Roles = Roles.PlatformAdmin)]
    public static Task<IResult> Post(Guid tenantId, ReactivateTenant? command, HttpContext http, TenantStreams streams,
        MessageContext context, CancellationToken cancellation) =>
        TenantHttp.Command(http, streams, context, tenantId, "reactivate",
            TenantHttp.Check(e => TenantRules.OptionalText("comment", command?.Comment, e)),
            (by, tenant, now) => TenantDecisions.Reactivate(tenant, command?.Comment, by, now), cancellation);
}
