using Microsoft.AspNetCore.Authorization;
using TenantEvents.Infrastructure;
using TenantEvents.Organisations;
using Wolverine.Http;

namespace TenantEvents.Billing;

public sealed record VoidInvoice(string? Reason);

public static class VoidInvoiceEndpoint
{
    /// <summary>The seller voids a draft, or a finalised invoice nothing was paid or credited against; a finalised one keeps its number (shown void).</summary>
    [WolverinePost("/api/tenants/{tenantId}/billing/invoices/{invoiceId}/void", OperationId = "VoidInvoice")]
    [Authorize(Roles = OrgHttp.WriteRoles)]
    public static async Task<IResult> Post(Guid tenantId, Guid invoiceId, VoidInvoice? command, HttpContext http, BillingStore billing,
        OrganisationStore organisations, CancellationToken cancellation)
    {
        if (command is null) return Problem.Malformed("The body must be a JSON object: {\"reason\": \"...\"}.").ToResult();
        return await InvoiceEdge.RunAsync(http, tenantId, invoiceId, billing, organisations, BillingHttp.SellerOf(tenantId),
            step =>
            {
                var (events, refusal) = InvoiceDecisions.Void(step.Document, command.Reason, step.Actor, step.Now);
                return Task.FromResult(new InvoiceOutcome(events, refusal));
            }, cancellation);
    }
}
