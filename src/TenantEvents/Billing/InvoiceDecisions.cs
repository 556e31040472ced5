using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Security;

namespace TenantEvents.Billing;

/// <summary>The pure decisions on an invoice's lifecycle: the document, the tenant's terms and the command in; events or a refusal out.</summary>
public static class InvoiceDecisions
{
    public const int MaxPurchaseOrder = 50;
    public const int MaxReason = 500;

    private static Problem WrongState(Invoice invoice, string action, string wanted) =>
        new Problem("invoice-state", 409, $"The invoice cannot be {action} now", $"It is {invoice.State}; only {wanted} ones can.")
            .With("state", invoice.State);

    public static (IReadOnlyList<object> Events, Problem? Refusal) PurchaseOrder(Invoice invoice, string? number, Actor by, DateTimeOffset now)
    {
        if (invoice.Kind != "invoice" || invoice.State != InvoiceStates.Draft) return ([], WrongState(invoice, "given a purchase order", "draft"));
        var po = number?.Trim();
        if (string.IsNullOrEmpty(po) || po.Length > MaxPurchaseOrder || po.Any(char.IsControl))
            return ([], Problem.Validation("purchaseOrder", "invalid", $"the buyer's order reference: 1 to {MaxPurchaseOrder} printable characters."));
        return po == invoice.PurchaseOrder ? ([], null) : ([new InvoicePurchaseOrderSet(invoice.Id, po, by, now)], null);
    }

    public static (IReadOnlyList<object> Events, Problem? Refusal) Approve(Invoice invoice, Actor by, DateTimeOffset now)
    {
        if (invoice.Kind != "invoice" || invoice.State != InvoiceStates.Draft) return ([], WrongState(invoice, "approved", "draft"));
        if (invoice.Showback) return ([], Showback());
        return invoice.ApprovedBy is not null ? ([], null) : ([new InvoiceApproved(invoice.Id, by, now)], null);
    }

    /// <summary>
    /// May the seller finalise? A draft, not a showback statement; where the buyer's procurement asks for them, approved
    /// (by someone other than the one finalising: two people see every invoice go out) and with a purchase-order number.
    /// </summary>
    public static Problem? CanFinalise(Invoice invoice, BillingTermsSet terms, Actor by)
    {
        if (invoice.Kind != "invoice" || invoice.State != InvoiceStates.Draft) return WrongState(invoice, "finalised", "draft");
        if (invoice.Showback) return Showback();
        if (terms.ApprovalRequired && invoice.ApprovedBy is null)
            return new Problem("approval-required", 409, "The invoice needs the buyer's approval", "The tenant's procurement approves invoices before they are finalised.");
        if (terms.ApprovalRequired && invoice.ApprovedBy is { } approver && approver.Subject == by.Subject && approver.Kind == by.Kind && approver.TenantId == by.TenantId)
            return new Problem("same-person", 409, "Approved by the one finalising", "Someone other than the invoice's approver finalises it.");
        if (terms.PurchaseOrderRequired && invoice.PurchaseOrder is null)
            return new Problem("purchase-order-required", 409, "The invoice needs a purchase-order number", "The tenant's procurement gives one before invoices are finalised.");
        return null;
    }

    public static InvoiceFinalised Finalise(Invoice invoice, string number, int paymentTermDays, Actor by, DateTimeOffset now)
    {
        var issued = DateOnly.FromDateTime(now.UtcDateTime);
        return new InvoiceFinalised(invoice.Id, number, issued, issued.AddDays(paymentTermDays), by, now);
    }

    public static (IReadOnlyList<object> Events, Problem? Refusal) Pay(Invoice invoice, decimal? amount, DateOnly? paidOn, string? reference, Actor by,
        DateTimeOffset now)
    {
        if (invoice.Kind != "invoice" || invoice.State != InvoiceStates.Finalised) return ([], WrongState(invoice, "paid", "finalised, unpaid"));
        if (amount is not { } paid || paid is <= 0 or > Pricing.MaxMoney || Currencies.Round(invoice.Currency, paid) != paid)
            return ([], Problem.Validation("amount", "out-of-range", $"more than 0, in {invoice.Currency}'s minor unit."));
        if (paid > invoice.Balance)
            return ([], new Problem("overpayment", 409, "More than is owed", $"The balance is {invoice.Balance} {invoice.Currency}.").With("balance", invoice.Balance));
        if (reference is { Length: > 100 } || reference?.Any(char.IsControl) == true)
            return ([], Problem.Validation("reference", "too-long", "at most 100 printable characters."));
        return ([new InvoicePaid(invoice.Id, paid, paidOn ?? DateOnly.FromDateTime(now.UtcDateTime), reference, by, now)], null);
    }

    /// <summary>A draft, or a finalised invoice nothing was paid or credited against, is voided; its number stays used.</summary>
    public static (IReadOnlyList<object> Events, Problem? Refusal) Void(Invoice invoice, string? reason, Actor by, DateTimeOffset now)
    {
        if (invoice.Kind != "invoice" || invoice.State is not (InvoiceStates.Draft or InvoiceStates.Finalised) || invoice.Paid > 0 || invoice.Credited > 0)
            return ([], WrongState(invoice, "voided", "draft or finalised ones with nothing paid or credited against them (credit the rest instead)"));
        if (string.IsNullOrWhiteSpace(reason) || reason.Length > MaxReason || reason.Any(char.IsControl))
            return ([], Problem.Validation("reason", "required", $"why, in at most {MaxReason} printable characters."));
        return ([new InvoiceVoided(invoice.Id, reason.Trim(), by, now)], null);
    }

    /// <summary>
    /// A credit note against a finalised invoice: in full (every line, when nothing was credited before), or a net amount at
    /// the invoice's one tax rate; never more than is left to credit.
    /// </summary>
    public static (CreditNoteIssued? Note, Problem? Refusal) Credit(Invoice invoice, decimal? amount, string? reason, Guid id, string number, Actor by,
        DateTimeOffset now)
    {
        if (invoice.Kind != "invoice" || invoice.State is not (InvoiceStates.Finalised or InvoiceStates.Paid))
            return (null, WrongState(invoice, "credited", "finalised or paid"));
        if (string.IsNullOrWhiteSpace(reason) || reason.Length > MaxReason || reason.Any(char.IsControl))
            return (null, Problem.Validation("reason", "required", $"why, in at most {MaxReason} printable characters."));
        var issued = DateOnly.FromDateTime(now.UtcDateTime);
        IReadOnlyList<BilledLine> lines;
        decimal subtotal, tax;
        if (amount is null)
        {
            if (invoice.Credited > 0) return (null, new Problem("partly-credited", 409, "Part of it was credited already", "Credit an amount instead.").With("credited", invoice.Credited));
            (lines, subtotal, tax) = (invoice.Lines, invoice.Subtotal, invoice.Tax);
        }
        else
        {
            var rates = invoice.Lines.Select(l => l.TaxRate).Distinct().ToList();
            if (amount is <= 0 or > Pricing.MaxMoney || Currencies.Round(invoice.Currency, amount.Value) != amount)
                return (null, Problem.Validation("amount", "out-of-range", $"a net amount more than 0, in {invoice.Currency}'s minor unit."));
            if (rates.Count > 1) return (null, Problem.Validation("amount", "several-tax-rates", "the invoice has lines at several tax rates: credit it in full."));
            var rate = rates.FirstOrDefault();
            subtotal = amount.Value;
            tax = Currencies.Round(invoice.Currency, subtotal * rate);
            lines = [new BilledLine($"Credit: {reason.Trim()}", "credit", 1, subtotal, subtotal, rate, "", 0, issued, issued)];
        }
        if (subtotal + tax > invoice.Total - invoice.Credited)
            return (null, new Problem("over-credit", 409, "More than is left to credit", $"{invoice.Total - invoice.Credited} {invoice.Currency} is left.")
                .With("creditable", invoice.Total - invoice.Credited));
        return (new CreditNoteIssued(id, invoice.Id, invoice.Number!, invoice.OrganisationId, invoice.Month, number, issued, invoice.Seller, invoice.Buyer,
            invoice.Currency, lines, subtotal, tax, subtotal + tax, reason.Trim(), by, now), null);
    }

    private static Problem Showback() =>
        new("showback-statement", 409, "A showback statement is not invoiced", "The tenant recovers nothing from its organisations: this shows costs, it charges none.");

    /// <summary>The series a document is numbered in: its issuer (the platform, or the tenant for its organisations), its kind, its year.</summary>
    public static string Series(bool platform, string kind, int year) => $"{(platform ? "platform" : "tenant")}:{Code(kind)}:{year}";

    /// <summary>
    /// A document's number: the issuer's code (the platform's prefix and the tenant's slug, or the tenant's slug for its own
    /// organisations' invoices), the kind, the year and the series' counter, gap-free.
    /// </summary>
    public static string Number(string prefix, bool platform, string slug, string kind, int year, long counter) =>
        $"{(platform ? $"{prefix}-{slug}" : slug).ToUpperInvariant()}-{Code(kind)}-{year}-{counter:D6}";

    private static string Code(string kind) => kind == "credit-note" ? "CN" : "INV";
}
