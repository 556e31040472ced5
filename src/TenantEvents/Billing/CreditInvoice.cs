using Microsoft.AspNetCore.Authorization;
using TenantEvents.Infrastructure;
using TenantEvents.Organisations;
using Wolverine.Http;

namespace TenantEvents.Billing;

/// <summary>No amount: the whole invoice; an amount: that much net, at the invoice's tax rate.</summary>
public sealed record CreditInvoice(decimal? Amount, string? Reason);

public static class CreditInvoiceEndpoint
{
    /// <summary>
    /// The seller issues a credit note against a finalised or paid invoice: a document of its own, numbered in the seller's
    /// credit-note series (gap-free, like invoices), 201 with it; the invoice's balance goes down by its total.
    /// </summary>
    [WolverinePost("/api/tenants/{tenantId}/billing/invoices/{invoiceId}/credit-notes", OperationId = "CreditInvoice")]
    [Authorize(Roles = OrgHttp.WriteRoles)]
    public static async Task<IResult> Post(Guid tenantId, Guid invoiceId, CreditInvoice? command, HttpContext http, BillingStore billing,
        OrganisationStore organisations, TenantEventsOptions options, CancellationToken cancellation)
    {
        if (command is null) return Problem.Malformed("The body must be a JSON object: {\"reason\": \"...\", \"amount\": 10.00 (optional: all of it)}.").ToResult();
        Invoice? note = null;
        return await InvoiceEdge.RunAsync(http, tenantId, invoiceId, billing, organisations, BillingHttp.SellerOf(tenantId),
            async step =>
            {
                var platform = step.Document.OrganisationId is null;
                var year = step.Now.UtcDateTime.Year;
                // Checked before a number is taken (a refusal after it would roll it back anyway: the transaction is not committed).
                var (check, refusal) = InvoiceDecisions.Credit(step.Document, command.Amount, command.Reason, Guid.Empty, "", step.Actor, step.Now);
                if (refusal is not null) return new InvoiceOutcome([], refusal);
                var counter = await billing.NextNumberAsync(step.Tx, InvoiceDecisions.Series(platform, "credit-note", year), cancellation);
                var issued = check! with
                {
                    CreditNoteId = Guid.CreateVersion7(), Number = InvoiceDecisions.Number(options.BillingNumberPrefix, platform, step.Tenant.Slug, "credit-note", year, counter),
                };
                note = await billing.SaveDocumentAsync(step.Tx, null, [issued], cancellation);
                return new InvoiceOutcome([new InvoiceCredited(step.Document.Id, issued.CreditNoteId, issued.Number, issued.Total, step.Actor, step.Now)],
                    Answer: _ =>
                    {
                        http.Response.Headers.Location = $"/api/tenants/{tenantId}/billing/invoices/{note!.Id}";
                        http.Response.Headers.ETag = Tenants.TenantHttp.ETag(note.Version);
                        return Results.Json(note, Json.Options, statusCode: 201);
                    });
            }, cancellation);
    }
}
