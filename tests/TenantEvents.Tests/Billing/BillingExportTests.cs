using System.Net;
using System.Text.Json;
using System.Xml.Linq;
using TenantEvents.Tests.Support;

namespace TenantEvents.Tests.Billing;

/// <summary>
/// Exports checked by others: UBL by an independent EN 16931 implementation (tests/invoices: @fin.cx/einvoice), the PDF
/// rendered to images by poppler's pdftoppm and read back by pdftotext, the CSV parsed and added up.
/// </summary>
public class BillingExportTests(AppFixture fixture) : BillingTest(fixture)
{
    private static readonly XNamespace Cbc = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2";

    /// <summary>A German tenant billed in euros at 19 %, its terms with a Peppol address; November closed and its invoices finalised.</summary>
    private async Task<(Tree Tree, List<JsonElement> Invoices)> Finalised()
    {
        var t = await Billed("berlin-police", new
        {
            buyer = new { name = "Polizei Berlin", country = "DE", vatId = "DE811569869", endpointId = "DE811569869", endpointScheme = "9930",
                street = "Platz der Luftbruecke 6", city = "Berlin", postalCode = "12101" },
            recovery = "full", split = "even", paymentTermDays = 30,
        });
        await AddCard(t.Tenant, new
        {
            name = "berlin", version = 1, effectiveFrom = "2026-11-01", currency = "EUR", taxRate = 0.19m,
            charges = new object[]
            {
                new { name = "Platform fee", metric = "fixed", amount = 250m },
                new { name = "AI compute", metric = "aiCompute", model = "graduated", tiers = new object[] { new { upTo = 1000, unitPrice = 0.05m }, new { unitPrice = 0.03m } } },
            },
        });
        await UseAi(t.Tenant, t.CountyA, 1_234, At(11, 10));
        await UseAi(t.Tenant, t.CountyB, 77, At(11, 12));
        ClockAt(At(12, 2));
        (await Close(t.Tenant, "2026-11")).ShouldBe(HttpStatusCode.Created);
        var invoices = await Invoices(t.Tenant, "2026-11");
        (await Admin.Post($"/api/tenants/{t.Tenant}/billing/invoices/{Of(invoices, null).GetProperty("id").GetGuid()}/finalise")).ShouldBe(HttpStatusCode.OK);
        return (t, invoices);
    }

    private static async Task<JsonElement> Validate(params string[] files)
    {
        var folder = Path.Combine(TestDatabase.RepositoryRoot(), "tests", "invoices");
        var result = await Processes.RunAsync("node", ["validate.mjs", .. files], folder);
        return JsonDocument.Parse(result.Output).RootElement;
    }

    [Fact]
    public async Task the_tenants_invoice_and_a_credit_note_as_ubl_pass_an_independent_en_16931_check()
    {
        var (t, invoices) = await Finalised();
        var id = Of(invoices, null).GetProperty("id").GetGuid();
        var reply = (await Admin.Get($"/api/tenants/{t.Tenant}/billing/invoices/{id}/ubl")).ShouldBe(HttpStatusCode.OK);
        reply.ContentHeaders!.ContentType!.MediaType.ShouldBe("application/xml");
        var xml = XDocument.Parse(reply.Body);
        xml.Root!.Element(Cbc + "CustomizationID")!.Value.ShouldBe("urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0");
        xml.Root!.Element(Cbc + "ID")!.Value.ShouldBe("TE-BERLIN-POLICE-INV-2026-000001");
        var note = (await Admin.Post($"/api/tenants/{t.Tenant}/billing/invoices/{id}/credit-notes", new { amount = 10m, reason = "Outage" })).ShouldBe(HttpStatusCode.Created);
        var noteXml = (await Admin.Get($"/api/tenants/{t.Tenant}/billing/invoices/{note.Str("id")}/ubl")).ShouldBe(HttpStatusCode.OK).Body;
        XDocument.Parse(noteXml).Root!.Name.LocalName.ShouldBe("CreditNote");

        var folder = Directory.CreateTempSubdirectory("ubl-");
        try
        {
            var invoiceFile = Path.Combine(folder.FullName, "invoice.xml");
            var noteFile = Path.Combine(folder.FullName, "credit-note.xml");
            var brokenFile = Path.Combine(folder.FullName, "broken.xml");
            await File.WriteAllTextAsync(invoiceFile, reply.Body);
            await File.WriteAllTextAsync(noteFile, noteXml);
            // The checker is not a rubber stamp: the same invoice with its total changed fails it.
            await File.WriteAllTextAsync(brokenFile, reply.Body.Replace("<cbc:TaxInclusiveAmount currencyID=\"EUR\">", "<cbc:TaxInclusiveAmount currencyID=\"EUR\">1"));
            var results = await Validate(invoiceFile, noteFile, brokenFile);
            // To check them with the official CEN and Peppol rules by hand (docs/billing.md): keep them.
            if (Environment.GetEnvironmentVariable("TENANTEVENTS_KEEP_UBL") is { Length: > 0 } keep)
                foreach (var file in new[] { invoiceFile, noteFile }) File.Copy(file, Path.Combine(keep, Path.GetFileName(file)), overwrite: true);
            results[0].GetProperty("valid").GetBoolean().ShouldBeTrue(results[0].ToString());
            results[1].GetProperty("valid").GetBoolean().ShouldBeTrue(results[1].ToString());
            results[2].GetProperty("valid").GetBoolean().ShouldBeFalse();
            results[2].GetProperty("errors").EnumerateArray().Select(e => e.GetProperty("code").GetString()).ShouldContain("BR-CO-15");
        }
        finally
        {
            folder.Delete(recursive: true);
        }
        // A draft has no number, and an organisation's chargeback invoice no Peppol address: refused, naming what is missing.
        var draft = Of(invoices, t.CountyA).GetProperty("id").GetGuid();
        (await Admin.Get($"/api/tenants/{t.Tenant}/billing/invoices/{draft}/ubl")).ShouldBeProblem(HttpStatusCode.Conflict, "not-finalised");
        (await TenantAdminOf(t.Tenant).Post($"/api/tenants/{t.Tenant}/billing/invoices/{draft}/finalise")).ShouldBe(HttpStatusCode.OK);
        (await Admin.Get($"/api/tenants/{t.Tenant}/billing/invoices/{draft}/ubl")).ShouldBeProblem(HttpStatusCode.Conflict, "peppol-incomplete")
            .Body.ShouldContain("buyer.endpointId");
    }

    [Fact]
    public async Task the_pdf_renders_as_a_page_with_the_invoices_figures()
    {
        var (t, invoices) = await Finalised();
        var id = Of(invoices, null).GetProperty("id").GetGuid();
        var invoice = await Invoice(t.Tenant, Of(invoices, null));
        var reply = await Admin.GetAsync($"/api/tenants/{t.Tenant}/billing/invoices/{id}/pdf");
        reply.StatusCode.ShouldBe(HttpStatusCode.OK);
        reply.Content.Headers.ContentType!.MediaType.ShouldBe("application/pdf");
        var folder = Directory.CreateTempSubdirectory("pdf-");
        try
        {
            var pdf = Path.Combine(folder.FullName, "invoice.pdf");
            await File.WriteAllBytesAsync(pdf, await reply.Content.ReadAsByteArrayAsync());
            var render = await Processes.RunAsync("pdftoppm", ["-png", "-r", "60", pdf, Path.Combine(folder.FullName, "page")]);
            render.Exit.ShouldBe(0, render.Error);
            render.Error.ShouldBeEmpty();
            var page = new FileInfo(Path.Combine(folder.FullName, "page-1.png"));
            page.Exists.ShouldBeTrue();
            page.Length.ShouldBeGreaterThan(5_000);   // a page with text on it, not a blank one
            var text = await Processes.RunAsync("pdftotext", ["-layout", pdf, "-"]);
            text.Exit.ShouldBe(0, text.Error);
            text.Output.ShouldContain("TE-BERLIN-POLICE-INV-2026-000001");
            text.Output.ShouldContain("Polizei Berlin");
            text.Output.ShouldContain("AI compute");
            text.Output.ShouldContain($"{Dec(invoice, "total"):#,0.00} EUR");
            if (Environment.GetEnvironmentVariable("TENANTEVENTS_KEEP_PDF") is { Length: > 0 } keep)
                File.Copy(Path.Combine(folder.FullName, "page-1.png"), keep, overwrite: true);
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task the_csv_has_a_row_per_line_adding_up_to_the_subtotal()
    {
        var (t, invoices) = await Finalised();
        var summary = Of(invoices, t.CountyA);
        var reply = (await TenantAdminOf(t.Tenant).Get($"/api/tenants/{t.Tenant}/billing/invoices/{summary.GetProperty("id").GetGuid()}/csv")).ShouldBe(HttpStatusCode.OK);
        reply.ContentHeaders!.ContentType!.MediaType.ShouldBe("text/csv");
        var rows = reply.Body.Split("\r\n", StringSplitOptions.RemoveEmptyEntries).Select(r => r.Split(',')).ToList();
        rows[0].ShouldBe(TenantEvents.Billing.ExportInvoiceEndpoint.CsvHeader);
        var amount = Array.IndexOf(rows[0], "amount");
        rows.Skip(1).Sum(r => decimal.Parse(r[amount], System.Globalization.CultureInfo.InvariantCulture)).ShouldBe(Dec(summary, "subtotal"));
        // Graduated on the tenant's 1,311 units: 1,000 x 0.05 + 311 x 0.03 = 59.33, split 1,234 : 77 to the cent (largest
        // remainder: 55.8453 and 3.4847 -> 55.85 and 3.48). The fee is the root's.
        Dec(summary, "subtotal").ShouldBe(55.85m);
        Dec(Of(invoices, t.CountyB), "subtotal").ShouldBe(3.48m);
    }
}
