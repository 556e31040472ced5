using Microsoft.AspNetCore.Authorization;
using TenantEvents.Infrastructure;
using TenantEvents.Organisations;
using TenantEvents.Tenants;
using Wolverine.Http;

namespace TenantEvents.Billing;

public static class GetInvoiceEndpoint
{
    /// <summary>An invoice or credit note with its lines (404 for one the caller may not read). ETag: its version.</summary>
    [WolverineGet("/api/tenants/{tenantId}/billing/invoices/{invoiceId}", OperationId = "GetInvoice")]
    [Authorize(Roles = OrgHttp.Roles)]
    public static async Task<IResult> Get(Guid tenantId, Guid invoiceId, HttpContext http, BillingStore billing, OrganisationStore organisations,
        CancellationToken cancellation)
    {
        var (document, refusal) = await ReadableAsync(http, tenantId, invoiceId, billing, organisations, cancellation);
        return refusal ?? BillingHttp.Document(http, document!);
    }

    /// <summary>The document if the caller may read it: the one read path of the JSON, CSV, PDF and UBL forms.</summary>
    public static async Task<(Invoice? Document, IResult? Refusal)> ReadableAsync(HttpContext http, Guid tenantId, Guid invoiceId, BillingStore billing,
        OrganisationStore organisations, CancellationToken cancellation)
    {
        var (refusal, standing) = await OrgHttp.ReadCore(http, billing.Streams, organisations, tenantId, (standing, _) => standing, cancellation);
        if (refusal is not null) return (null, refusal);
        await using var tx = await billing.Streams.BeginAsync(null, tenantId, cancellation);
        var document = await billing.LoadDocumentAsync(tx, invoiceId, cancellation);
        if (document is null || !await organisations.ReadAsync(tenantId, g => BillingHttp.CanRead(standing!, g, document.OrganisationId), cancellation))
            return (null, Problem.NotFound("invoice").ToResult());
        return (document, null);
    }
}
