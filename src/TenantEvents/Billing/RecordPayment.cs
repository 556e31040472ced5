using Microsoft.AspNetCore.Authorization;
using TenantEvents.Infrastructure;
using TenantEvents.Organisations;
using Wolverine.Http;

namespace TenantEvents.Billing;

public sealed record RecordPayment(decimal? Amount, DateOnly? PaidOn, string? Reference);

public static class RecordPaymentEndpoint
{
    /// <summary>The seller records a payment against a finalised invoice (never more than the balance); paid in full, it is paid.</summary>
    [WolverinePost("/api/tenants/{tenantId}/billing/invoices/{invoiceId}/payments", OperationId = "RecordInvoicePayment")]
    [Authorize(Roles = OrgHttp.WriteRoles)]
    public static async Task<IResult> Post(Guid tenantId, Guid invoiceId, RecordPayment? command, HttpContext http, BillingStore billing,
        OrganisationStore organisations, CancellationToken cancellation)
    {
        if (command is null) return Problem.Malformed("The body must be a JSON object: {\"amount\": 120.50, \"paidOn\": \"2026-12-10\", \"reference\": \"...\"}.").ToResult();
        return await InvoiceEdge.RunAsync(http, tenantId, invoiceId, billing, organisations, BillingHttp.SellerOf(tenantId),
            step =>
            {
                var (events, refusal) = InvoiceDecisions.Pay(step.Document, command.Amount, command.PaidOn, command.Reference, step.Actor, step.Now);
                return Task.FromResult(new InvoiceOutcome(events, refusal));
            }, cancellation);
    }
}
