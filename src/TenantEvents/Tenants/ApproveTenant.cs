using Microsoft.AspNetCore.Authorization;
using Wolverine.Http;
using Wolverine.Runtime;
using TenantEvents.Infrastructure.Security;

namespace TenantEvents.Tenants;

public sealed record ApproveTenant(string? Comment);

public static class ApproveTenantEndpoint
{
    /// <summary>Four-eyes: a platform approver who is not the requester.</summary>
    [WolverinePost("/api/tenants/{tenantId}/approve", OperationId = "ApproveTenant")]
    [Authorize(Roles = Roles.PlatformApprover)]
    public static Task<IResult> Post(Guid tenantId, ApproveTenant? command, HttpContext http, TenantStreams streams,
        MessageContext context, CancellationToken cancellation) =>
        TenantHttp.Command(http, streams, context, tenantId, "approve",
            TenantHttp.Check(e => TenantRules.OptionalText("comment", command?.Comment, e)),
            (by, tenant, now) => TenantDecisions.Approve(tenant, command?.Comment, by, now), cancellation);
}
