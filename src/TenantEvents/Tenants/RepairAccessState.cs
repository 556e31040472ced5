using Microsoft.AspNetCore.Authorization;
using Wolverine.Http;
using Wolverine.Runtime;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Organisations;

namespace TenantEvents.Tenants;

/// <summary>Why the access state is being rebuilt (kept in the tenant's trail).</summary>
public sealed record RepairAccessState(string? Reason);

public static class RepairAccessStateEndpoint
{
    /// <summary>
    /// Platform administrators: rebuild a tenant's access tables (tree, grants, guardrails, members, allocations, roles)
    /// from its sealed organisation events and stamp them with their MAC, in one transaction with an
    /// <see cref="AccessStateRepaired"/> event in the tenant's trail. For a tenant refused with integrity-violation because
    /// its tables were changed outside the service; refused (409) when the events themselves do not fold.
    /// </summary>
    [WolverinePost("/api/tenants/{tenantId}/access/repair", OperationId = "RepairAccessState")]
    [Authorize(Roles = Roles.PlatformAdmin)]
    public static async Task<IResult> Post(Guid tenantId, RepairAccessState? command, HttpContext http, TenantStreams streams, OrganisationStore store,
        MessageContext context, CancellationToken cancellation)
    {
        long version = 0;
        var result = await TenantHttp.Command(http, streams, context, tenantId, "repair access",
            TenantHttp.Check(e =>
            {
                if (string.IsNullOrWhiteSpace(command?.Reason)) e.Add(new FieldError("reason", "required", "say why the access state is rebuilt."));
                else TenantRules.OptionalText("reason", command.Reason, e, 500);
            }),
            (by, tenant, now) => TenantDecisions.RepairAccess(tenant, command!.Reason!.Trim(), by, now), cancellation,
            alongside: async (tenant, events, tx, _) =>
            {
                if (events.Count > 0) version = await store.RepairAsync(tx, cancellation);
            },
            afterCommit: _ =>
            {
                store.Forget(tenantId);
                return Task.CompletedTask;
            });
        if (version > 0) http.Response.Headers["X-Access-Version"] = version.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return result;
    }
}
