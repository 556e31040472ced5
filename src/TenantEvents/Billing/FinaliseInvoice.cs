using Microsoft.AspNetCore.Authorization;
using TenantEvents.Infrastructure;
using TenantEvents.Organisations;
using Wolverine.Http;

namespace TenantEvents.Billing;

public static class FinaliseInvoiceEndpoint
{
    /// <summary>
    /// The seller finalises a draft: it takes the next number of its series in the same transaction (gap-free: a number is
    /// used exactly when its invoice commits), is dated today and due after the tenant's payment terms. 409 for a
    /// showback statement, or while the approval or purchase order the tenant's procurement asks for is missing.
    /// </summary>
    [WolverinePost("/api/tenants/{tenantId}/billing/invoices/{invoiceId}/finalise", OperationId = "FinaliseInvoice")]
    [Authorize(Roles = OrgHttp.WriteRoles)]
    public static Task<IResult> Post(Guid tenantId, Guid invoiceId, HttpContext http, BillingStore billing, OrganisationStore organisations,
        TenantEventsOptions options, CancellationToken cancellation) =>
        InvoiceEdge.RunAsync(http, tenantId, invoiceId, billing, organisations, BillingHttp.SellerOf(tenantId),
            async step =>
            {
                if (InvoiceDecisions.CanFinalise(step.Document, step.Account.Terms!, step.Actor) is { } no) return new InvoiceOutcome([], no);
                var platform = step.Document.OrganisationId is null;
                var year = step.Now.UtcDateTime.Year;
                var counter = await billing.NextNumberAsync(step.Tx, InvoiceDecisions.Series(platform, "invoice", year), cancellation);
                var number = InvoiceDecisions.Number(options.BillingNumberPrefix, platform, step.Tenant.Slug, "invoice", year, counter);
                // The seller's payment terms: the platform's for its invoice, the tenant's for its organisations'.
                var days = platform ? options.BillingPaymentTermDays : step.Account.Terms!.PaymentTermDays;
                return new InvoiceOutcome([InvoiceDecisions.Finalise(step.Document, number, days, step.Actor, step.Now)]);
            }, cancellation);
}
