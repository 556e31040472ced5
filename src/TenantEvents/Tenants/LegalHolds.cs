using Microsoft.AspNetCore.Authorization;
using Wolverine.Http;
using Wolverine.Runtime;
using TenantEvents.Infrastructure.Security;

namespace TenantEvents.Tenants;

public sealed record PlaceLegalHold(string? Reference, string? Reason);

public sealed record LiftLegalHold(string? Reason);

public static class PlaceLegalHoldEndpoint
{
    /// <summary>A legal hold stops a decommission from completing until it is lifted; a tenant may carry several.</summary>
    [WolverinePost("/api/tenants/{tenantId}/legal-holds", OperationId = "PlaceLegalHold")]
    [Authorize(Roles = Roles.PlatformAdmin)]
    public static Task<IResult> Post(Guid tenantId, PlaceLegalHold? command, HttpContext http, TenantStreams streams,
        MessageContext context, CancellationToken cancellation)
    {
        var holdId = Guid.CreateVersion7();
        return TenantHttp.Command(http, streams, context, tenantId, "place legal hold",
            TenantHttp.Check(e =>
            {
                TenantRules.Name("reference", command?.Reference, e);
                TenantRules.Reason("reason", command?.Reason, e);
            }),
            (by, tenant, now) => TenantDecisions.PlaceLegalHold(tenant, holdId, command!.Reference!.Trim(), command.Reason!.Trim(), by, now),
            cancellation);
    }
}

public static class LiftLegalHoldEndpoint
{
    [WolverinePost("/api/tenants/{tenantId}/legal-holds/{holdId}/lift", OperationId = "LiftLegalHold")]
    [Authorize(Roles = Roles.PlatformAdmin)]
    public static Task<IResult> Post(Guid tenantId, Guid holdId, LiftLegalHold? command, HttpContext http, TenantStreams streams,
        MessageContext context, CancellationToken cancellation) =>
        TenantHttp.Command(http, streams, context, tenantId, "lift legal hold",
            TenantHttp.Check(e => TenantRules.Reason("reason", command?.Reason, e)),
            (by, tenant, now) => TenantDecisions.LiftLegalHold(tenant, holdId, command!.Reason!.Trim(), by, now), cancellation,
            // With the last hold gone, a scheduled decommission may go ahead: schedule its completion again.
            alongside: (tenant, _, _, outbox) => tenant.LegalHolds.Count == 0
                ? ApproveDecommissionEndpoint.ScheduleCompletion(outbox, tenant)
                : Task.CompletedTask);
}
