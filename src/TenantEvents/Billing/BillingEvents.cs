using TenantEvents.Infrastructure.Security;

namespace TenantEvents.Billing;

// Billing has two kinds of stream, both the tenant's, sealed like every tenant event: the tenant's billing account
// (BillingEventTypes.Account: rate cards, terms, budgets and their alerts, months closed) and one stream per invoice or
// credit note.

/// <summary>
/// A party to an invoice as EN 16931 names it: a name, a VAT identifier, an electronic address (Peppol: an endpoint id
/// with its scheme, 0088 for a GLN, 9930 for a German VAT number, ...), a postal address and its country, a contact
/// (BG-6/BG-9: a name, a telephone, an e-mail); as seller, the account it is paid into (an IBAN, BT-84).
/// </summary>
public sealed record Party(string Name, string Country, string? VatId = null, string? EndpointId = null, string? EndpointScheme = null,
    string? Street = null, string? City = null, string? PostalCode = null, string? ContactName = null, string? ContactPhone = null,
    string? ContactEmail = null, string? Iban = null);

/// <summary>An organisation's part of the tenant's shared costs under fixed split (a percentage; they add up to 100).</summary>
public sealed record CostCentre(Guid OrganisationId, decimal Percent);

/// <summary>
/// The tenant's billing terms, set as a whole. <paramref name="Buyer"/>: the tenant as the platform's customer (and the seller
/// of its organisations' chargeback invoices). <paramref name="Recovery"/>: full, partial (the tenant bears
/// <paramref name="Subsidy"/>) or showback. <paramref name="Split"/>: how shared costs (fixed fees, licences, the
/// commitment) reach organisations: even or fixed over <paramref name="CostCentres"/> (none: the root alone bears them), or
/// in proportion to use. Procurement: an approval step and a purchase-order number before an invoice is finalised.
/// </summary>
public sealed record BillingTermsSet(Party Buyer, string Recovery, decimal Subsidy, string Split, IReadOnlyList<CostCentre> CostCentres,
    bool ApprovalRequired, bool PurchaseOrderRequired, int PaymentTermDays, Actor By, DateTimeOffset At);

/// <summary>A version of the tenant's own rate card (the platform's prices for this tenant), in force from its date.</summary>
public sealed record RateCardAdded(RateCard Card, Actor By, DateTimeOffset At);

/// <summary>An organisation's monthly budget (its subtree's spend), set or changed.</summary>
public sealed record BudgetSet(Guid OrganisationId, decimal Amount, IReadOnlyList<decimal> Thresholds, bool Forecast, bool Hard, Actor By,
    DateTimeOffset At);

public sealed record BudgetRemoved(Guid OrganisationId, Actor By, DateTimeOffset At);

/// <summary>
/// A budget's threshold was crossed in a month, on actual spend or on the forecast: raised once per threshold and basis a
/// month. <paramref name="Refusing"/>: a hard budget at 100 % of actual spend, which from now on refuses the
/// organisation's (and its subtree's) AI compute reservations until the month ends or the budget is raised.
/// </summary>
public sealed record BudgetThresholdCrossed(Guid OrganisationId, string Month, decimal Threshold, string Basis, decimal Spent, decimal Forecast,
    decimal Amount, string Currency, bool Refusing, Actor By, DateTimeOffset At);

/// <summary>A month was closed: its invoices drafted (one per organisation charged, and the tenant's own), with the tenant's total.</summary>
public sealed record BillingMonthClosed(string Month, int Invoices, string Currency, decimal Total, int LateLines, Actor By, DateTimeOffset At);

/// <summary>
/// One line of an invoice: what, how many, the amount charged and the amount shown (its full share before a subsidy or
/// showback), the tax rate, the rate card it was priced by and the days it covers. <paramref name="LateFor"/>: usage of an
/// earlier, closed month that arrived after its close, billed here and saying so.
/// </summary>
public sealed record BilledLine(string Description, string Metric, decimal Quantity, decimal Amount, decimal Shown, decimal TaxRate, string RateCard,
    int RateCardVersion, DateOnly From, DateOnly To, string? LateFor = null);

/// <summary>
/// An invoice's draft: for the tenant as a whole (<paramref name="OrganisationId"/> null; seller: the platform) or for one
/// organisation (seller: the tenant), for a UTC month, with its figures.
/// </summary>
public sealed record InvoiceDrafted(Guid InvoiceId, Guid? OrganisationId, string Month, Party Seller, Party Buyer, string Currency,
    IReadOnlyList<BilledLine> Lines, decimal Subtotal, decimal Tax, decimal Total, bool Showback, Actor By, DateTimeOffset At);

/// <summary>The buyer's purchase-order number for the invoice (EN 16931 BT-13).</summary>
public sealed record InvoicePurchaseOrderSet(Guid InvoiceId, string PurchaseOrder, Actor By, DateTimeOffset At);

/// <summary>The buyer's approval, the procurement step before the seller may finalise.</summary>
public sealed record InvoiceApproved(Guid InvoiceId, Actor By, DateTimeOffset At);

/// <summary>Finalised: numbered without gaps in its issuer's series, dated, due; its figures never change again.</summary>
public sealed record InvoiceFinalised(Guid InvoiceId, string Number, DateOnly IssueDate, DateOnly DueDate, Actor By, DateTimeOffset At);

/// <summary>A payment received against a finalised invoice.</summary>
public sealed record InvoicePaid(Guid InvoiceId, decimal Amount, DateOnly PaidOn, string? Reference, Actor By, DateTimeOffset At);

/// <summary>Voided: a finalised, unpaid invoice withdrawn; its number stays used (a gap-free series shows it as void).</summary>
public sealed record InvoiceVoided(Guid InvoiceId, string Reason, Actor By, DateTimeOffset At);

/// <summary>A credit note was issued against the invoice (its own document, numbered in the credit-note series).</summary>
public sealed record InvoiceCredited(Guid InvoiceId, Guid CreditNoteId, string CreditNoteNumber, decimal Total, Actor By, DateTimeOffset At);

/// <summary>A credit note: its number, the invoice it credits, its lines and figures (amounts positive; they reduce what is owed).</summary>
public sealed record CreditNoteIssued(Guid CreditNoteId, Guid InvoiceId, string InvoiceNumber, Guid? OrganisationId, string Month, string Number,
    DateOnly IssueDate, Party Seller, Party Buyer, string Currency, IReadOnlyList<BilledLine> Lines, decimal Subtotal, decimal Tax, decimal Total,
    string Reason, Actor By, DateTimeOffset At);

public static class BillingEventTypes
{
    /// <summary>The events of the tenant's billing account stream.</summary>
    public static readonly IReadOnlyList<Type> Account =
    [
        typeof(BillingTermsSet), typeof(RateCardAdded), typeof(BudgetSet), typeof(BudgetRemoved), typeof(BudgetThresholdCrossed),
        typeof(BillingMonthClosed),
    ];

    /// <summary>The events of an invoice's stream and of a credit note's.</summary>
    public static readonly IReadOnlyList<Type> Documents =
    [
        typeof(InvoiceDrafted), typeof(InvoicePurchaseOrderSet), typeof(InvoiceApproved), typeof(InvoiceFinalised), typeof(InvoicePaid),
        typeof(InvoiceVoided), typeof(InvoiceCredited), typeof(CreditNoteIssued),
    ];

    /// <summary>Every billing event; the event model test compares this list with eventmodels/billing.json.</summary>
    public static readonly IReadOnlyList<Type> All = [.. Account, .. Documents];

    /// <summary>The stream of a tenant's billing account (stable, name-based).</summary>
    public static Guid AccountStream(Guid tenantId) => Infrastructure.StableIds.From(tenantId, "billing");
}
