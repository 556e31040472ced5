using Microsoft.AspNetCore.Authorization;
using Wolverine.Http;
using Wolverine.Runtime;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Security;

namespace TenantEvents.Tenants;

public static class UpdateTenantSettingsEndpoint
{
    /// <summary>
    /// Merge-patch of the settings: fields left out keep their value. Platform administrators only: a tenant
    /// administrator may not raise its own quotas or shorten its own audit retention.
    /// </summary>
    [WolverinePatch("/api/tenants/{tenantId}/settings", OperationId = "UpdateTenantSettings")]
    [Authorize(Roles = Roles.PlatformAdmin)]
    public static Task<IResult> Patch(Guid tenantId, SettingsOverrides? command, HttpContext http, TenantStreams streams,
        MessageContext context, CancellationToken cancellation)
    {
        var errors = new List<FieldError>();
        if (command is null) errors.Add(new FieldError("", "required", "the body must be a JSON object of settings to change."));
        else if (command.Features?.Any(f => f is null) == true) errors.Add(new FieldError("features", "required", "may not contain null."));
        return TenantHttp.Command(http, streams, context, tenantId, "update settings", errors,
            (by, tenant, now) => TenantDecisions.UpdateSettings(tenant, command!.Over(tenant.Settings), by, now), cancellation);
    }
}
