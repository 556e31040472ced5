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
    public static async Task<IResult> Patch(Guid tenantId, SettingsOverrides? command, HttpContext http, TenantStreams streams,
        TenantEvents.Organisations.OrganisationStore organisations, TenantEvents.Quotas.QuotaPolicies quotas, MessageContext context,
        CancellationToken cancellation)
    {
        var errors = new List<FieldError>();
        if (command is null) errors.Add(new FieldError("", "required", "the body must be a JSON object of settings to change."));
        else if (command.Features?.Any(f => f is null) == true) errors.Add(new FieldError("features", "required", "may not contain null."));
        // A limit may not drop below what the organisations are guaranteed out of it (allocations change under the
        // tenant's access lock; read here, at most as stale as a concurrent allocation).
        var allocated = errors.Count == 0 && command!.Quotas is not null
            ? await organisations.ReadAsync(tenantId, g => TenantEvents.Quotas.QuotaKinds.Allocatable.ToDictionary(k => k,
                k => TenantEvents.Quotas.AllocationTree.Build(g, k, long.MaxValue).TopLevelGuaranteed), cancellation)
            : new Dictionary<string, long>();
        return await TenantHttp.Command(http, streams, context, tenantId, "update settings", errors, (by, tenant, now) =>
            {
                var settings = command!.Over(tenant.Settings);
                var decision = TenantDecisions.UpdateSettings(tenant, settings, by, now);
                if (decision is not Accepted) return decision;
                foreach (var (kind, guaranteed) in allocated)
                    if (TenantEvents.Quotas.QuotaKinds.LimitOf(settings.Quotas, kind) is var limit && limit < guaranteed)
                        return new Blocked("limit-below-allocations", tenant.State,
                            $"The organisations are guaranteed {guaranteed:N0} of {kind} between them; the limit may not be set to {limit:N0}. " +
                            "Reduce their allocations first.");
                return decision;
            }, cancellation, afterCommit: _ =>
            {
                quotas.Invalidate(tenantId);
                return Task.CompletedTask;
            });
    }
}
