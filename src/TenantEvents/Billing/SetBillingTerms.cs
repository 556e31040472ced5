using Microsoft.AspNetCore.Authorization;
using TenantEvents.Infrastructure;
using TenantEvents.Organisations;
using Wolverine.Http;

namespace TenantEvents.Billing;

public sealed record SetBillingTerms(Party? Buyer, string? Recovery, decimal? Subsidy, string? Split, IReadOnlyList<CostCentre>? CostCentres,
    bool? ApprovalRequired, bool? PurchaseOrderRequired, int? PaymentTermDays);

public static class SetBillingTermsEndpoint
{
    /// <summary>
    /// Sets the tenant's billing terms as a whole (its administrators, or the platform's): the tenant as buyer, how it
    /// recovers costs from its organisations, how shared costs split, and its procurement steps. The tenant is billed
    /// from the month its terms are first set; the billing job closes each month after it.
    /// </summary>
    [WolverinePut("/api/tenants/{tenantId}/billing/terms", OperationId = "SetBillingTerms")]
    [Authorize(Roles = OrgHttp.WriteRoles)]
    public static async Task<IResult> Put(Guid tenantId, SetBillingTerms? command, HttpContext http, BillingStore billing, OrganisationStore organisations,
        CancellationToken cancellation)
    {
        if (command is null) return Problem.Malformed("The body must be a JSON object: {\"buyer\": {...}, \"recovery\", \"split\", ...}.").ToResult();
        var (account, refusal) = await AccountEdge.RunAsync(http, tenantId, billing, organisations, (_, standing, graph, account) =>
            !standing.Everything
                ? ([], BillingHttp.CanRead(standing, graph, null) ? Problem.Forbidden("The tenant's administrators set its billing terms.") : Problem.NotFound("tenant"))
                : BillingDecisions.SetTerms(graph, account, command.Buyer, command.Recovery, command.Subsidy, command.Split, command.CostCentres,
                    command.ApprovalRequired, command.PurchaseOrderRequired, command.PaymentTermDays, standing.Actor, billing.Now), cancellation);
        return refusal ?? Results.Json(account!.Terms, Json.Options);
    }
}
