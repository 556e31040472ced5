namespace TenantEvents.Billing;

/// <summary>
/// How a metered quantity is priced (issue 22), as Lago, OpenMeter and Stripe price it:
/// <list type="bullet">
/// <item><c>graduated</c>: each unit at the price of the tier it falls in (the first 1,000 at one price, the next at another);</item>
/// <item><c>volume</c>: every unit at the price of the tier the whole quantity reaches;</item>
/// <item><c>package</c>: a price per started package of <see cref="Charge.PackageSize"/> units;</item>
/// <item><c>flat</c>: one price per unit.</item>
/// </list>
/// Free units (<see cref="Charge.FreeUnits"/>) come off the quantity first.
/// </summary>
public static class PricingModels
{
    public const string Flat = "flat";
    public const string Graduated = "graduated";
    public const string Volume = "volume";
    public const string Package = "package";
    public static readonly IReadOnlyList<string> All = [Flat, Graduated, Volume, Package];
}

/// <summary>A tier: units up to <paramref name="UpTo"/> (null: no end) at <paramref name="UnitPrice"/>, plus a flat fee for reaching it.</summary>
public sealed record Tier(long? UpTo, decimal UnitPrice, decimal FlatFee = 0);

/// <summary>
/// One charge of a rate card. <paramref name="Metric"/>: what it counts, a usage metric (apiCalls, aiCompute: the units committed), a
/// standing count charged per unit-month from the days it was held (licences: the peak of active users each day;
/// "allocated:aiComputeUnitsPerMonth": the units guaranteed to organisations each day), or "fixed" for a monthly fee of
/// <paramref name="Amount"/>.
/// </summary>
public sealed record Charge(string Name, string Metric, string Model = PricingModels.Flat, decimal UnitPrice = 0, IReadOnlyList<Tier>? Tiers = null,
    long PackageSize = 1, long FreeUnits = 0, decimal Amount = 0);

/// <summary>
/// A rate card: prices as data, versioned, in force from <paramref name="EffectiveFrom"/> (UTC) until the next version's
/// date. Money is in <paramref name="Currency"/> (ISO 4217); <paramref name="TaxRate"/> a fraction (0.20 for 20 %);
/// <paramref name="MinimumCommitment"/> a monthly floor: a month charged less is trued up to it.
/// </summary>
public sealed record RateCard(string Name, int Version, DateOnly EffectiveFrom, string Currency, IReadOnlyList<Charge> Charges, decimal TaxRate = 0,
    decimal MinimumCommitment = 0);

/// <summary>One line of an invoice: what, how many, and the amount (in the currency's minor unit precision), priced by which card at which tax rate.</summary>
public sealed record InvoiceLine(string Description, string Metric, decimal Quantity, decimal Amount, int RateCardVersion, DateOnly From, DateOnly To,
    decimal TaxRate = 0, string RateCard = "");

/// <summary>An invoice's figures: lines, subtotal, tax, total (computed; its lifecycle is elsewhere).</summary>
public sealed record InvoiceFigures(string Currency, IReadOnlyList<InvoiceLine> Lines, decimal Subtotal, decimal Tax, decimal Total);
