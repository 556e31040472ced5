using Microsoft.AspNetCore.Authorization;
using TenantEvents.Infrastructure;
using TenantEvents.Organisations;
using Wolverine.Http;

namespace TenantEvents.Billing;

/// <summary>An invoice or credit note in a list (its lines with the document itself).</summary>
public sealed record InvoiceSummary(Guid Id, string Kind, Guid? OrganisationId, string Month, string State, string? Number, string Currency,
    decimal Subtotal, decimal Tax, decimal Total, decimal Balance, bool Showback, Guid? InvoiceId, long Version);

public sealed record InvoiceList(IReadOnlyList<InvoiceSummary> Items, string? NextCursor);

public static class ListInvoicesEndpoint
{
    /// <summary>
    /// The tenant's invoices and credit notes the caller may read (?month=2026-11, ?organisationId=, ?kind=invoice|credit-note,
    /// ?state=; pages of ?limit= in creation order, ?cursor= the previous page's nextCursor): everything for platform staff and the tenant's administrators; for a member, those of the organisations
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
        if (!OrgHttp.TryPage(http.Request, billing.Streams.Options, out var limit, out var cursor, out var pageError)) return pageError!;
        var (refusal, standing) = await OrgHttp.ReadCore(http, billing.Streams, organisations, tenantId, (standing, _) => standing, cancellation);
        if (refusal is not null) return refusal;
        // Who may read which organisation's documents, decided once on the tree as it is (the documents themselves are opened only when readable).
        var reach = await organisations.ReadAsync(tenantId, g => BillingHttp.Reach(standing!, g), cancellation);
        // Who reads no billing anywhere has no invoices to list (as GET /billing says of the tenant).
        if (!reach.Any) return Problem.NotFound("tenant").ToResult();
        var (items, next) = await billing.PageAsync(tenantId, new BillingStore.DocumentFilter(month, kind, state, org), cursor, limit, reach, cancellation);
        return Results.Json(new InvoiceList(items.Select(Summary).ToList(), next?.ToString()), Json.Options);
    }

    public static InvoiceSummary Summary(Invoice d) =>
        new(d.Id, d.Kind, d.OrganisationId, d.Month, d.State, d.Number, d.Currency, d.Subtotal, d.Tax, d.Total, d.Balance, d.Showback, d.InvoiceId, d.Version);
}
