using Microsoft.AspNetCore.Authorization;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Organisations;
using Wolverine.Http;

namespace TenantEvents.Billing;

public static class AddRateCardEndpoint
{
    /// <summary>
    /// Adds a version of the tenant's own rate card (platform administrators: the prices are the platform's), in force from
    /// its date and replacing the template's from then on. 400 naming each field that cannot price; never in a closed month.
    /// </summary>
    [WolverinePost("/api/tenants/{tenantId}/billing/rate-cards", OperationId = "AddRateCard")]
    [Authorize(Roles = Roles.PlatformAdmin)]
    public static async Task<IResult> Post(Guid tenantId, RateCard? card, HttpContext http, BillingStore billing, OrganisationStore organisations,
        CancellationToken cancellation)
    {
        if (card is null) return Problem.Malformed("The body must be a rate card: {\"name\", \"version\", \"effectiveFrom\", \"currency\", \"charges\": [...]}.").ToResult();
        var (_, templateCards) = await billing.TenantAsync(tenantId, cancellation);
        var (account, refusal) = await AccountEdge.RunAsync(http, tenantId, billing, organisations, (_, standing, _, account) =>
            BillingDecisions.AddRateCard(account, account.CardsWith(templateCards), card, standing.Actor, billing.Now), cancellation);
        if (refusal is not null) return refusal;
        http.Response.Headers.Location = $"/api/tenants/{tenantId}/billing";
        return Results.Json(account!.RateCards[^1], Json.Options, statusCode: 201);
    }
}
