using System.Globalization;
using System.Xml.Linq;
using TenantEvents.Infrastructure;

namespace TenantEvents.Billing;

/// <summary>
/// An invoice or credit note as UBL 2.1 following Peppol BIS Billing 3.0 (EN 16931): the parties with their electronic
/// addresses, a VAT breakdown per rate (standard rated above 0 %, zero rated at 0 %), the monetary totals, and a line per
/// billed line with its period. A finalised document only (a draft has no number); Peppol asks for both parties'
/// electronic addresses and the seller's VAT identifier, so a document missing them is refused, naming the fields.
/// </summary>
public static class InvoiceUbl
{
    private static readonly XNamespace Inv = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2";
    private static readonly XNamespace Cn = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2";
    private static readonly XNamespace Cac = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2";
    private static readonly XNamespace Cbc = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2";
    public const string CustomizationId = "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0";
    public const string ProfileId = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0";

    public static Problem? Check(Invoice d)
    {
        if (d.Number is null || d.IssueDate is null)
            return new Problem("not-finalised", 409, "Only a finalised invoice or a credit note is exported as UBL", "A draft has no number yet.");
        if (d.State == InvoiceStates.Void)
            return new Problem("invoice-void", 409, "A void invoice is not sent", "It was withdrawn; its number stays used, and nothing is owed on it.");
        var errors = new List<FieldError>();
        if (d.Seller.EndpointId is null) errors.Add(new("seller.endpointId", "required", "Peppol needs the seller's electronic address (BT-34)."));
        if (d.Buyer.EndpointId is null) errors.Add(new("buyer.endpointId", "required", "Peppol needs the buyer's electronic address (BT-49): set it in the billing terms."));
        if (d.Seller.VatId is null) errors.Add(new("seller.vatId", "required", "the seller's VAT identifier (BT-31)."));
        return errors.Count == 0 ? null
            : new Problem("peppol-incomplete", 409, "The document lacks what Peppol BIS Billing 3.0 requires",
                string.Join(" ", errors.Select(e => $"{e.Field}: {e.Detail}"))) { Errors = errors };
    }

    public static XDocument Write(Invoice d)
    {
        var credit = d.Kind == "credit-note";
        XNamespace root = credit ? Cn : Inv;
        var currency = d.Currency;
        XElement Amount(string name, decimal value) => new(Cbc + name, new XAttribute("currencyID", currency), Money(currency, value));
        var categories = Categories(d);
        var first = d.Lines.Count == 0 ? DateOnly.FromDateTime(DateTime.UnixEpoch) : d.Lines.Min(l => l.From);
        var last = d.Lines.Count == 0 ? first : d.Lines.Max(l => l.To);
        var document = new XElement(root + (credit ? "CreditNote" : "Invoice"),
            new XAttribute(XNamespace.Xmlns + "cac", Cac), new XAttribute(XNamespace.Xmlns + "cbc", Cbc),
            new XElement(Cbc + "CustomizationID", CustomizationId),
            new XElement(Cbc + "ProfileID", ProfileId),
            new XElement(Cbc + "ID", d.Number),
            new XElement(Cbc + "IssueDate", Date(d.IssueDate!.Value)),
            credit ? null : d.DueDate is { } due ? new XElement(Cbc + "DueDate", Date(due)) : null,
            new XElement(Cbc + (credit ? "CreditNoteTypeCode" : "InvoiceTypeCode"), credit ? "381" : "380"),
            d.Reason is { } reason && credit ? new XElement(Cbc + "Note", reason) : null,
            new XElement(Cbc + "DocumentCurrencyCode", currency),
            // Peppol asks for a buyer reference or an order reference (PEPPOL-EN16931-R003).
            new XElement(Cbc + "BuyerReference", d.PurchaseOrder ?? $"{d.Month}"),
            new XElement(Cac + "InvoicePeriod", new XElement(Cbc + "StartDate", Date(first)), new XElement(Cbc + "EndDate", Date(last))),
            d.PurchaseOrder is { } po ? new XElement(Cac + "OrderReference", new XElement(Cbc + "ID", po)) : null,
            credit && d.InvoiceNumber is { } invoice
                ? new XElement(Cac + "BillingReference", new XElement(Cac + "InvoiceDocumentReference", new XElement(Cbc + "ID", invoice)))
                : null,
            new XElement(Cac + "AccountingSupplierParty", PartyOf(d.Seller, withVat: true)),
            new XElement(Cac + "AccountingCustomerParty", PartyOf(d.Buyer, withVat: d.Buyer.VatId is not null)),
            // How to settle (BG-16): credit transfer, with the seller's account, when it named one.
            d.Seller.Iban is { } iban
                ? new XElement(Cac + "PaymentMeans", new XElement(Cbc + "PaymentMeansCode", "30"), new XElement(Cbc + "PaymentID", d.Number),
                    new XElement(Cac + "PayeeFinancialAccount", new XElement(Cbc + "ID", iban), new XElement(Cbc + "Name", d.Seller.Name)))
                : null,
            !credit && d.DueDate is { } payBy ? new XElement(Cac + "PaymentTerms", new XElement(Cbc + "Note", $"Payable by {Date(payBy)}.")) : null,
            new XElement(Cac + "TaxTotal", Amount("TaxAmount", d.Tax),
                categories.Select(c => new XElement(Cac + "TaxSubtotal", Amount("TaxableAmount", c.Taxable), Amount("TaxAmount", c.Tax), TaxCategory("TaxCategory", c.Rate)))),
            new XElement(Cac + "LegalMonetaryTotal",
                Amount("LineExtensionAmount", d.Subtotal), Amount("TaxExclusiveAmount", d.Subtotal), Amount("TaxInclusiveAmount", d.Total),
                Amount("PayableAmount", d.Total)),
            d.Lines.Select((l, i) => new XElement(Cac + (credit ? "CreditNoteLine" : "InvoiceLine"),
                new XElement(Cbc + "ID", (i + 1).ToString(CultureInfo.InvariantCulture)),
                new XElement(Cbc + (credit ? "CreditedQuantity" : "InvoicedQuantity"), new XAttribute("unitCode", "C62"), Quantity(Billed(l))),
                Amount("LineExtensionAmount", l.Amount),
                new XElement(Cac + "InvoicePeriod", new XElement(Cbc + "StartDate", Date(l.From)), new XElement(Cbc + "EndDate", Date(l.To))),
                new XElement(Cac + "Item", new XElement(Cbc + "Name", Truncate(l.Description, 200)), TaxCategory("ClassifiedTaxCategory", l.TaxRate)),
                new XElement(Cac + "Price", new XElement(Cbc + "PriceAmount", new XAttribute("currencyID", currency), Price(l))))));
        return new XDocument(new XDeclaration("1.0", "UTF-8", null), document);
    }

    /// <summary>The VAT breakdown: per rate, the lines' sum and its tax; the document's tax split so the categories add up to it.</summary>
    private static List<(decimal Rate, decimal Taxable, decimal Tax)> Categories(Invoice d)
    {
        var categories = d.Lines.GroupBy(l => l.TaxRate).OrderBy(g => g.Key)
            .Select(g => (Rate: g.Key, Taxable: g.Sum(l => l.Amount), Tax: Currencies.Round(d.Currency, g.Sum(l => l.Amount) * g.Key))).ToList();
        if (categories.Count == 0) return [(0m, 0m, d.Tax)];
        // An organisation's tax is its share of the tenant's (apportioned to the minor unit): the largest category takes the difference.
        var difference = d.Tax - categories.Sum(c => c.Tax);
        if (difference != 0)
        {
            var largest = categories.IndexOf(categories.MaxBy(c => c.Taxable));
            categories[largest] = categories[largest] with { Tax = categories[largest].Tax + difference };
        }
        return categories;
    }

    private static XElement TaxCategory(string name, decimal rate) =>
        new(Cac + name, new XElement(Cbc + "ID", rate > 0 ? "S" : "Z"), new XElement(Cbc + "Percent", Quantity(rate * 100)),
            new XElement(Cac + "TaxScheme", new XElement(Cbc + "ID", "VAT")));

    private static XElement PartyOf(Party p, bool withVat) => new(Cac + "Party",
        p.EndpointId is { } endpoint ? new XElement(Cbc + "EndpointID", new XAttribute("schemeID", p.EndpointScheme!), endpoint) : null,
        new XElement(Cac + "PostalAddress",
            p.Street is { } street ? new XElement(Cbc + "StreetName", street) : null,
            p.City is { } city ? new XElement(Cbc + "CityName", city) : null,
            p.PostalCode is { } code ? new XElement(Cbc + "PostalZone", code) : null,
            new XElement(Cac + "Country", new XElement(Cbc + "IdentificationCode", p.Country))),
        withVat && p.VatId is { } vat
            ? new XElement(Cac + "PartyTaxScheme", new XElement(Cbc + "CompanyID", vat), new XElement(Cac + "TaxScheme", new XElement(Cbc + "ID", "VAT")))
            : null,
        new XElement(Cac + "PartyLegalEntity", new XElement(Cbc + "RegistrationName", p.Name)),
        p.ContactName is null && p.ContactPhone is null && p.ContactEmail is null ? null
            : new XElement(Cac + "Contact",
                p.ContactName is { } name ? new XElement(Cbc + "Name", name) : null,
                p.ContactPhone is { } phone ? new XElement(Cbc + "Telephone", phone) : null,
                p.ContactEmail is { } email ? new XElement(Cbc + "ElectronicMail", email) : null));

    /// <summary>The quantity a line bills: its own, or one (a fee, a true-up, a share borne) where it counts nothing.</summary>
    private static decimal Billed(BilledLine l) => l.Quantity > 0 ? l.Quantity : 1;

    /// <summary>The line's net price per unit: its amount over its quantity (to eight places, within Peppol's tolerance).</summary>
    private static string Price(BilledLine l) => Quantity(Math.Round(l.Amount / Billed(l), 8, MidpointRounding.AwayFromZero));

    private static string Money(string currency, decimal value) =>
        Currencies.Round(currency, value).ToString("F" + Math.Max(0, -(int)Math.Round(Math.Log10((double)Currencies.Unit(currency)))), CultureInfo.InvariantCulture);

    private static string Quantity(decimal value) => value.ToString("0.########", CultureInfo.InvariantCulture);

    private static string Date(DateOnly date) => date.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);

    private static string Truncate(string text, int length) => text.Length <= length ? text : text[..length];
}
