using Microsoft.AspNetCore.Authorization;
using TenantEvents.Infrastructure;
using TenantEvents.Organisations;
using Wolverine.Http;

namespace TenantEvents.Billing;

public sealed record SetBudget(decimal? Amount, IReadOnlyList<decimal>? Thresholds, bool? Forecast, bool? Hard);

public static class SetBudgetEndpoint
{
    /// <summary>
    /// Sets an organisation's monthly budget for its subtree's spend (billing.manage at its parent): the amount, the
    /// thresholds that alert (fractions, default 0.5, 0.8, 1.0), on forecast spend too, and whether 100 % refuses the
    /// subtree's AI compute reservations (hard) or only alerts. Setting it again re-arms its alerts and lifts a refusal.
    /// </summary>
    [WolverinePut("/api/tenants/{tenantId}/organisations/{orgId}/budget", OperationId = "SetBudget")]
    [Authorize(Roles = OrgHttp.WriteRoles)]
    public static async Task<IResult> Put(Guid tenantId, Guid orgId, SetBudget? command, HttpContext http, BillingStore billing,
        OrganisationStore organisations, Quotas.QuotaPolicies policies, CancellationToken cancellation)
    {
        if (command is null) return Problem.Malformed("The body must be a JSON object: {\"amount\": 1000, \"thresholds\": [0.5, 0.8, 1.0], \"hard\": true}.").ToResult();
        var (account, refusal) = await AccountEdge.RunAsync(http, tenantId, billing, organisations, (_, standing, graph, account) =>
            BillingDecisions.AuthoriseBudget(standing, graph, orgId) is { } no ? ([], no)
                : BillingDecisions.SetBudget(account, orgId, command.Amount, command.Thresholds, command.Forecast, command.Hard, standing.Actor, billing.Now),
            cancellation);
        if (refusal is not null) return refusal;
        policies.Invalidate(tenantId);
        return Results.Json(account!.Budgets[orgId], Json.Options);
    }

    [WolverineDelete("/api/tenants/{tenantId}/organisations/{orgId}/budget", OperationId = "RemoveBudget")]
    [Authorize(Roles = OrgHttp.WriteRoles)]
    public static async Task<IResult> Delete(Guid tenantId, Guid orgId, HttpContext http, BillingStore billing, OrganisationStore organisations,
        Quotas.QuotaPolicies policies, CancellationToken cancellation)
    {
        var (_, refusal) = await AccountEdge.RunAsync(http, tenantId, billing, organisations, (_, standing, graph, account) =>
            BillingDecisions.AuthoriseBudget(standing, graph, orgId) is { } no ? ([], no)
                : !account.Budgets.ContainsKey(orgId) ? ([], Problem.NotFound("budget"))
                : ([new BudgetRemoved(orgId, standing.Actor, billing.Now)], null), cancellation);
        if (refusal is not null) return refusal;
        policies.Invalidate(tenantId);
        return Results.NoContent();
    }
}
