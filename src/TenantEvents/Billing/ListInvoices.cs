using Microsoft.AspNetCore.Authorization;
using TenantEvents.Infrastructure;
using TenantEvents.Organisations;
using Wolverine.Http;

namespace TenantEvents.Billing;

/// <summary>An invoice or credit note in a list (its lines with the document itself).</summary>
public sealed record InvoiceSummary(Guid Id, string Kind, Guid? OrganisationId, string Month, string State, string? Number, string Currency,
    decimal Subtotal, decimal Tax, decimal Total, decimal Balance, bool Showback, Guid? InvoiceId, long Version);

public sealed record InvoiceList(IReadOnlyList<InvoiceSummary> Items);

public static class ListInvoicesEndpoint
{
    /// <summary>
    /// The tenant's invoices and credit notes the caller may read (?month=2026-11, ?organisationId=, ?kind=invoice|credit-note,
    /// ?state=): everything for platform staff and the tenant's administrators; for a member, those of the organisations
    /// where it holds billing.read (or above), and the tenant's own with billing.read at the root.
    /// </summary>
    [WolverineGet("/api/tenants/{tenantId}/billing/invoices", OperationId = "ListInvoices")]
    [Authorize(Roles = OrgHttp.Roles)]
    public static async Task<IResult> Get(Guid tenantId, HttpContext http, BillingStore billing, OrganisationStore organisations, CancellationToken cancellation)
    {
        var query = http.Request.Query;
        var month = query["month"].ToString() is { Length: > 0 } m ? m : null;
        if (month is not null && BillingMonths.Parse(month) is null) return Problem.Validation("month", "invalid-month", "a UTC month as YYYY-MM.").ToResult();
        Guid? org = null;
        if (query["organisationId"].ToString() is { Length: > 0 } o)
        {
            if (!Guid.TryParse(o, out var parsed)) return Problem.Validation("organisationId", "invalid", "an organisation id.").ToResult();
            org = parsed;
        }
        var kind = query["kind"].ToString() is { Length: > 0 } k ? k : null;
        if (kind is not (null or "invoice" or "credit-note")) return Problem.Validation("kind", "invalid", "invoice or credit-note.").ToResult();
        var state = query["state"].ToString() is { Length: > 0 } s ? s : null;
        var (refusal, standing) = await OrgHttp.ReadCore(http, billing.Streams, organisations, tenantId, (standing, _) => standing, cancellation);
        if (refusal is not null) return refusal;
        var documents = await billing.ListAsync(tenantId, month, cancellation);
        var visible = await organisations.ReadAsync(tenantId, g => documents.Where(d => BillingHttp.CanRead(standing!, g, d.OrganisationId)).ToList(), cancellation);
        var items = visible.Where(d => (org is null || d.OrganisationId == org) && (kind is null || d.Kind == kind) && (state is null || d.State == state))
            .Select(Summary).ToList();
        return Results.Json(new InvoiceList(items), Json.Options);
    }

    public static InvoiceSummary Summary(Invoice d) =>
        new(d.Id, d.Kind, d.OrganisationId, d.Month, d.State, d.Number, d.Currency, d.Subtotal, d.Tax, d.Total, d.Balance, d.Showback, d.InvoiceId, d.Version);
}
