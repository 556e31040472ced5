using Microsoft.AspNetCore.Authorization;
using TenantEvents.Infrastructure;
using TenantEvents.Organisations;
using Wolverine.Http;

namespace TenantEvents.Billing;

/// <summary>One organisation's part of a month: its own invoice's total, and its subtree's (rolled up).</summary>
public sealed record OrganisationCost(Guid OrganisationId, Guid? ParentId, decimal Own, decimal RolledUp);

/// <summary>A closed month: the tenant's invoice total, and the organisations' totals rolled up the tree (the root's equals the tenant's).</summary>
public sealed record BillingMonthView(string Month, string Currency, decimal TenantTotal, Guid? TenantInvoiceId, IReadOnlyList<OrganisationCost> Organisations);

public static class GetBillingMonthEndpoint
{
    /// <summary>
    /// A closed month's cost recovery: each organisation's invoice total and its subtree's (chargeback rolled up the
    /// tree), for platform staff, the tenant's administrators and billing.read at the root.
    /// </summary>
    [WolverineGet("/api/tenants/{tenantId}/billing/months/{month}", OperationId = "GetBillingMonth")]
    [Authorize(Roles = OrgHttp.Roles)]
    public static async Task<IResult> Get(Guid tenantId, string month, HttpContext http, BillingStore billing, OrganisationStore organisations,
        CancellationToken cancellation)
    {
        if (BillingMonths.Parse(month) is null) return Problem.Validation("month", "invalid-month", "a UTC month as YYYY-MM.").ToResult();
        var (refusal, tree) = await OrgHttp.ReadCore(http, billing.Streams, organisations, tenantId, (standing, g) =>
            BillingHttp.CanRead(standing, g, null) && g.Root is { } root ? g.SelfAndDescendants(root).ToDictionary(n => n.Id, n => n.ParentId) : null, cancellation);
        if (refusal is not null) return refusal;
        if (tree is null) return Problem.NotFound("tenant").ToResult();
        var account = await billing.LoadAccountAsync(tenantId, cancellation);
        if (!account.Closed.TryGetValue(month, out var closed)) return Problem.NotFound("closed month").ToResult();
        var invoices = await billing.TotalsAsync(tenantId, month, cancellation);
        var own = invoices.Where(d => d.Organisation is not null).ToDictionary(d => d.Organisation!.Value, d => d.Total);
        var rolled = CostRecovery.RollUp(tree, own);
        var items = tree.Keys.Where(rolled.ContainsKey).Where(o => rolled[o] != 0 || own.ContainsKey(o))
            .Select(o => new OrganisationCost(o, tree[o], own.GetValueOrDefault(o), rolled[o])).OrderBy(c => c.OrganisationId).ToList();
        var tenantInvoice = invoices.FirstOrDefault(d => d.Organisation is null);
        return Results.Json(new BillingMonthView(month, closed.Currency, tenantInvoice.Total, tenantInvoice.Id == Guid.Empty ? null : tenantInvoice.Id, items),
            Json.Options);
    }
}
