using Microsoft.AspNetCore.Authorization;
using TenantEvents.Organisations;
using Wolverine.Http;

namespace TenantEvents.Billing;

public static class ApproveInvoiceEndpoint
{
    /// <summary>
    /// The buyer approves a draft invoice, the procurement step before the seller finalises it (billing.manage at its
    /// organisation; the tenant's administrators for the tenant's own invoice). Approving again changes nothing.
    /// </summary>
    [WolverinePost("/api/tenants/{tenantId}/billing/invoices/{invoiceId}/approve", OperationId = "ApproveInvoice")]
    [Authorize(Roles = OrgHttp.Roles)]
    public static Task<IResult> Post(Guid tenantId, Guid invoiceId, HttpContext http, BillingStore billing, OrganisationStore organisations,
        CancellationToken cancellation) =>
        InvoiceEdge.RunAsync(http, tenantId, invoiceId, billing, organisations, BillingHttp.Buyer, step =>
        {
            var (events, refusal) = InvoiceDecisions.Approve(step.Document, step.Actor, step.Now);
            return Task.FromResult(new InvoiceOutcome(events, refusal));
        }, cancellation);
}
