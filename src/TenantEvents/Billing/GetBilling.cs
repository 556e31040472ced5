using Microsoft.AspNetCore.Authorization;
using TenantEvents.Infrastructure;
using TenantEvents.Organisations;
using Wolverine.Http;

namespace TenantEvents.Billing;

public sealed record BudgetView(Guid OrganisationId, decimal Amount, IReadOnlyList<decimal> Thresholds, bool Forecast, bool Hard, bool Refusing,
    DateTimeOffset SetAt);

/// <summary>A tenant's billing account as its readers see it: terms, the rate cards that price it (template and own), budgets, months closed.</summary>
public sealed record BillingView(Guid TenantId, BillingTermsSet? Terms, IReadOnlyList<RateCard> RateCards, IReadOnlyList<BudgetView> Budgets,
    IReadOnlyList<MonthClosedView> MonthsClosed, long Version);

public static class GetBillingEndpoint
{
    /// <summary>The tenant's billing account (platform staff, its administrators, billing.read at the root).</summary>
    [WolverineGet("/api/tenants/{tenantId}/billing", OperationId = "GetBilling")]
    [Authorize(Roles = OrgHttp.Roles)]
    public static async Task<IResult> Get(Guid tenantId, HttpContext http, BillingStore billing, OrganisationStore organisations, CancellationToken cancellation)
    {
        var (refusal, allowed) = await OrgHttp.ReadCore(http, billing.Streams, organisations, tenantId, (standing, g) => BillingHttp.CanRead(standing, g, null),
            cancellation);
        if (refusal is not null) return refusal;
        if (!allowed) return Problem.NotFound("tenant").ToResult();
        var (_, templateCards) = await billing.TenantAsync(tenantId, cancellation);
        var account = await billing.LoadAccountAsync(tenantId, cancellation);
        var month = BillingMonths.Of(billing.Now);
        return Results.Json(new BillingView(tenantId, account.Terms, account.CardsWith(templateCards),
            account.Budgets.Values.OrderBy(b => b.OrganisationId).Select(b => new BudgetView(b.OrganisationId, b.Amount, b.Thresholds, b.Forecast, b.Hard,
                account.AlertMonth == month && account.Refusing.Contains(b.OrganisationId), b.At)).ToList(),
            account.Closed.Values.Select(c => new MonthClosedView(c.Month, c.Currency, c.Invoices, 0, 0, c.Total, c.LateLines)).ToList(), account.Version), Json.Options);
    }
}
