using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Security;

namespace TenantEvents.Billing;

/// <summary>The states of an invoice; a credit note is issued when made.</summary>
public static class InvoiceStates
{
    public const string Draft = "draft";
    public const string Finalised = "finalised";
    public const string Paid = "paid";
    public const string Void = "void";
    public const string Issued = "issued";
}

/// <summary>
/// An invoice or a credit note folded from its stream: the sealed snapshot kept in billing_documents and what the API
/// shows. An invoice for the tenant as a whole has no organisation (the platform is its seller).
/// </summary>
public sealed class Invoice
{
    public Guid Id { get; set; }
    /// <summary>invoice or credit-note.</summary>
    public string Kind { get; set; } = "invoice";
    public Guid? OrganisationId { get; set; }
    public string Month { get; set; } = "";
    public Party Seller { get; set; } = new("", "");
    public Party Buyer { get; set; } = new("", "");
    public string Currency { get; set; } = "";
    public List<BilledLine> Lines { get; set; } = [];
    public decimal Subtotal { get; set; }
    public decimal Tax { get; set; }
    public decimal Total { get; set; }
    public bool Showback { get; set; }
    public string State { get; set; } = InvoiceStates.Draft;
    public string? Number { get; set; }
    public DateOnly? IssueDate { get; set; }
    public DateOnly? DueDate { get; set; }
    public string? PurchaseOrder { get; set; }
    public Actor? ApprovedBy { get; set; }
    public DateTimeOffset? ApprovedAt { get; set; }
    public decimal Paid { get; set; }
    public decimal Credited { get; set; }
    public List<Guid> CreditNotes { get; set; } = [];
    /// <summary>A credit note's invoice, its number, and why it was issued.</summary>
    public Guid? InvoiceId { get; set; }
    public string? InvoiceNumber { get; set; }
    public string? Reason { get; set; }
    public long Version { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset UpdatedAt { get; set; }

    /// <summary>What is still owed: the total less payments and credit notes.</summary>
    public decimal Balance => Kind == "invoice" && State is InvoiceStates.Finalised or InvoiceStates.Paid ? Total - Paid - Credited : 0;

    public void Apply(InvoicePurchaseOrderSet e) { PurchaseOrder = e.PurchaseOrder; UpdatedAt = e.At; }

    public void Apply(InvoiceApproved e) { ApprovedBy = e.By; ApprovedAt = e.At; UpdatedAt = e.At; }

    public void Apply(InvoiceFinalised e)
    {
        State = InvoiceStates.Finalised; Number = e.Number; IssueDate = e.IssueDate; DueDate = e.DueDate; UpdatedAt = e.At;
        if (Total == 0) State = InvoiceStates.Paid;
    }

    public void Apply(InvoicePaid e)
    {
        Paid += e.Amount; UpdatedAt = e.At;
        if (Balance <= 0) State = InvoiceStates.Paid;
    }

    public void Apply(InvoiceVoided e) { State = InvoiceStates.Void; Reason = e.Reason; UpdatedAt = e.At; }

    public void Apply(InvoiceCredited e)
    {
        Credited += e.Total; CreditNotes.Add(e.CreditNoteId); UpdatedAt = e.At;
        if (Balance <= 0 && State == InvoiceStates.Finalised) State = InvoiceStates.Paid;
    }

    /// <summary>The document after one more event: a draft or a credit note makes it, every other goes to its Apply.</summary>
    public static Invoice Apply(Invoice? invoice, object e)
    {
        switch (e)
        {
            case InvoiceDrafted d:
                return new Invoice
                {
                    Id = d.InvoiceId, OrganisationId = d.OrganisationId, Month = d.Month, Seller = d.Seller, Buyer = d.Buyer, Currency = d.Currency,
                    Lines = [.. d.Lines], Subtotal = d.Subtotal, Tax = d.Tax, Total = d.Total, Showback = d.Showback, CreatedAt = d.At, UpdatedAt = d.At,
                };
            case CreditNoteIssued c:
                return new Invoice
                {
                    Id = c.CreditNoteId, Kind = "credit-note", OrganisationId = c.OrganisationId, Month = c.Month, Seller = c.Seller, Buyer = c.Buyer,
                    Currency = c.Currency, Lines = [.. c.Lines], Subtotal = c.Subtotal, Tax = c.Tax, Total = c.Total, State = InvoiceStates.Issued,
                    Number = c.Number, IssueDate = c.IssueDate, InvoiceId = c.InvoiceId, InvoiceNumber = c.InvoiceNumber, Reason = c.Reason,
                    CreatedAt = c.At, UpdatedAt = c.At,
                };
        }
        ArgumentNullException.ThrowIfNull(invoice);
        Fold<Invoice>.Apply(invoice, e);
        return invoice;
    }
}
