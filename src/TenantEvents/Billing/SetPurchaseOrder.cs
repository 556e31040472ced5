using Microsoft.AspNetCore.Authorization;
using TenantEvents.Infrastructure;
using TenantEvents.Organisations;
using Wolverine.Http;

namespace TenantEvents.Billing;

public sealed record SetPurchaseOrder(string? PurchaseOrder);

public static class SetPurchaseOrderEndpoint
{
    /// <summary>The buyer gives its purchase-order number to a draft invoice (billing.manage at its organisation; the tenant's for its own invoice).</summary>
    [WolverinePut("/api/tenants/{tenantId}/billing/invoices/{invoiceId}/purchase-order", OperationId = "SetInvoicePurchaseOrder")]
    [Authorize(Roles = OrgHttp.Roles)]
    public static async Task<IResult> Put(Guid tenantId, Guid invoiceId, SetPurchaseOrder? command, HttpContext http, BillingStore billing,
        OrganisationStore organisations, CancellationToken cancellation)
    {
        if (command is null) return Problem.Malformed("The body must be a JSON object: {\"purchaseOrder\": \"PO-4711\"}.").ToResult();
        return await InvoiceEdge.RunAsync(http, tenantId, invoiceId, billing, organisations, BillingHttp.Buyer, step =>
        {
            var (events, refusal) = InvoiceDecisions.PurchaseOrder(step.Document, command.PurchaseOrder, step.Actor, step.Now);
            return Task.FromResult(new InvoiceOutcome(events, refusal));
        }, cancellation);
    }
}
