using Microsoft.AspNetCore.Authorization;
using TenantEvents.Infrastructure;
using TenantEvents.Organisations;
using Wolverine.Http;

namespace TenantEvents.Billing;

public sealed record BudgetStatusList(IReadOnlyList<BudgetStatus> Items);

public static class CheckBudgetsEndpoint
{
    /// <summary>
    /// Checks the tenant's budgets now (its administrators, platform administrators; the billing job does it every
    /// TenantEvents:BillingJobInterval): raises the thresholds crossed as BudgetThresholdCrossed events, and a hard budget
    /// at 100 % refuses its subtree's AI compute. Answers each budget's standing.
    /// </summary>
    [WolverinePost("/api/tenants/{tenantId}/billing/budgets/check", OperationId = "CheckBudgets")]
    [Authorize(Roles = OrgHttp.WriteRoles)]
    public static async Task<IResult> Post(Guid tenantId, HttpContext http, BillingStore billing, OrganisationStore organisations, BudgetChecker checker,
        CancellationToken cancellation)
    {
        var (refusal, admin) = await OrgHttp.ReadCore(http, billing.Streams, organisations, tenantId, (standing, g) => (standing.Everything, BillingHttp.CanRead(standing, g, null)),
            cancellation);
        if (refusal is not null) return refusal;
        if (!admin.Item1) return (admin.Item2 ? Problem.Forbidden("The tenant's administrators check its budgets.") : Problem.NotFound("tenant")).ToResult();
        var (budgets, problem) = await checker.CheckAsync(tenantId, raise: true, cancellation);
        return problem?.ToResult() ?? Results.Json(new BudgetStatusList(budgets), Json.Options);
    }

    /// <summary>
    /// The budgets' standing this month without raising anything (readers: platform staff, the tenant's administrators,
    /// billing.read; a member sees the budgets of the organisations it reads billing at).
    /// </summary>
    [WolverineGet("/api/tenants/{tenantId}/billing/budgets", OperationId = "ListBudgets")]
    [Authorize(Roles = OrgHttp.Roles)]
    public static async Task<IResult> Get(Guid tenantId, HttpContext http, BillingStore billing, OrganisationStore organisations, BudgetChecker checker,
        CancellationToken cancellation)
    {
        var (refusal, reach) = await OrgHttp.ReadCore(http, billing.Streams, organisations, tenantId, BillingHttp.Reach, cancellation);
        if (refusal is not null) return refusal;
        // Who reads no billing anywhere learns nothing, and costs nothing: no pricing is run for it.
        if (!reach!.Any) return Problem.NotFound("tenant").ToResult();
        var (budgets, problem) = await checker.CheckAsync(tenantId, raise: false, cancellation);
        if (problem is not null) return problem.ToResult();
        return Results.Json(new BudgetStatusList(budgets.Where(b => reach.Reads(b.OrganisationId)).ToList()), Json.Options);
    }
}
