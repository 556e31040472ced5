using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.Authorization;
using TenantEvents.Infrastructure;
using TenantEvents.Organisations;
using Wolverine.Http;

namespace TenantEvents.Billing;

/// <summary>
/// An invoice or credit note in the forms people and other systems take: CSV (a row per line, for spreadsheets), PDF (for
/// people) and UBL 2.1 following Peppol BIS Billing 3.0 (for e-invoicing). Each is read through the one read path
/// (<see cref="GetInvoiceEndpoint.ReadableAsync"/>): who may not read the invoice gets 404 for every form.
/// </summary>
public static class ExportInvoiceEndpoint
{
    public static readonly string[] CsvHeader =
    [
        "document", "kind", "number", "month", "organisationId", "currency", "line", "description", "metric", "quantity", "amount", "shown", "taxRate",
        "rateCard", "rateCardVersion", "from", "to", "lateFor",
    ];

    [WolverineGet("/api/tenants/{tenantId}/billing/invoices/{invoiceId}/csv", OperationId = "ExportInvoiceCsv")]
    [Authorize(Roles = OrgHttp.Roles)]
    public static async Task<IResult> Csv(Guid tenantId, Guid invoiceId, HttpContext http, BillingStore billing, OrganisationStore organisations,
        CancellationToken cancellation)
    {
        var (d, refusal) = await GetInvoiceEndpoint.ReadableAsync(http, tenantId, invoiceId, billing, organisations, cancellation);
        if (refusal is not null) return refusal;
        var csv = new StringBuilder(CsvText.Row(CsvHeader));
        foreach (var (line, i) in d!.Lines.Select((l, i) => (l, i)))
            csv.Append(CsvText.Row([
                d.Id, d.Kind, d.Number, d.Month, d.OrganisationId, d.Currency, i + 1, line.Description, line.Metric, Invariant(line.Quantity), Invariant(line.Amount),
                Invariant(line.Shown), Invariant(line.TaxRate), line.RateCard, line.RateCardVersion, line.From.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
                line.To.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture), line.LateFor,
            ]));
        return Results.Text(csv.ToString(), "text/csv; charset=utf-8", Encoding.UTF8);
    }

    [WolverineGet("/api/tenants/{tenantId}/billing/invoices/{invoiceId}/pdf", OperationId = "ExportInvoicePdf")]
    [Authorize(Roles = OrgHttp.Roles)]
    public static async Task<IResult> Pdf(Guid tenantId, Guid invoiceId, HttpContext http, BillingStore billing, OrganisationStore organisations,
        CancellationToken cancellation)
    {
        var (d, refusal) = await GetInvoiceEndpoint.ReadableAsync(http, tenantId, invoiceId, billing, organisations, cancellation);
        if (refusal is not null) return refusal;
        return Results.File(InvoicePdf.Write(d!), "application/pdf", $"{d!.Number ?? $"draft-{d.Month}-{d.Id}"}.pdf");
    }

    /// <summary>UBL 2.1 (Peppol BIS Billing 3.0) of a finalised invoice or a credit note; 409 for a draft, or where Peppol's required parts are missing.</summary>
    [WolverineGet("/api/tenants/{tenantId}/billing/invoices/{invoiceId}/ubl", OperationId = "ExportInvoiceUbl")]
    [Authorize(Roles = OrgHttp.Roles)]
    public static async Task<IResult> Ubl(Guid tenantId, Guid invoiceId, HttpContext http, BillingStore billing, OrganisationStore organisations,
        CancellationToken cancellation)
    {
        var (d, refusal) = await GetInvoiceEndpoint.ReadableAsync(http, tenantId, invoiceId, billing, organisations, cancellation);
        if (refusal is not null) return refusal;
        if (InvoiceUbl.Check(d!) is { } problem) return problem.ToResult();
        var xml = InvoiceUbl.Write(d!);
        using var writer = new StringWriterUtf8();
        xml.Save(writer);
        return Results.Text(writer.ToString(), "application/xml; charset=utf-8", Encoding.UTF8);
    }

    private static string Invariant(decimal value) => value.ToString(CultureInfo.InvariantCulture);

    private sealed class StringWriterUtf8 : StringWriter
    {
        public override Encoding Encoding => new UTF8Encoding(false);
    }
}
