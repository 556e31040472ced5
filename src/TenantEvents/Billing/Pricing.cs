using TenantEvents.Infrastructure;

namespace TenantEvents.Billing;

/// <summary>ISO 4217 currencies a rate card may use, with their minor units (EUR has cents, JPY none, BHD fils of a thousandth).</summary>
public static class Currencies
{
    private static readonly Dictionary<string, int> MinorUnits = new(StringComparer.Ordinal)
    {
        ["EUR"] = 2, ["USD"] = 2, ["GBP"] = 2, ["CHF"] = 2, ["SEK"] = 2, ["NOK"] = 2, ["DKK"] = 2, ["PLN"] = 2, ["CZK"] = 2, ["HUF"] = 2,
        ["RON"] = 2, ["BGN"] = 2, ["CAD"] = 2, ["AUD"] = 2, ["NZD"] = 2, ["INR"] = 2, ["SGD"] = 2, ["ZAR"] = 2, ["BRL"] = 2, ["MXN"] = 2,
        ["JPY"] = 0, ["KRW"] = 0, ["ISK"] = 0, ["CLP"] = 0, ["BHD"] = 3, ["KWD"] = 3, ["OMR"] = 3, ["JOD"] = 3, ["TND"] = 3,
    };

    public static bool IsKnown(string? code) => code is not null && MinorUnits.ContainsKey(code);

    /// <summary>The currency's smallest amount: 0.01 for cents, 1 for yen, 0.001 for fils.</summary>
    public static decimal Unit(string currency)
    {
        var unit = 1m;
        for (var digits = MinorUnits[currency]; digits > 0; digits--) unit /= 10;
        return unit;
    }

    /// <summary>An amount rounded to the currency's minor unit, half away from zero (as invoices round, EN 16931).</summary>
    public static decimal Round(string currency, decimal amount) => Math.Round(amount, MinorUnits[currency], MidpointRounding.AwayFromZero);
}

/// <summary>
/// Prices usage with rate cards (pure): a charge's price for a quantity, and a month's invoice figures from daily usage.
/// A month whose rate card changes on some day is split there: each part is priced by the card in force, its fixed fees,
/// free units, tier widths and minimum commitment in proportion to its days (so one card for the whole month gives exactly
/// the card's figures). Amounts are rounded per line to the currency's minor unit; tax is computed per rate on the sum of
/// the lines at that rate, then rounded.
/// </summary>
public static class Pricing
{
    public const string Fixed = "fixed";
    public const string Licences = "licences";
    public const string Commitment = "commitment";
    public const string AllocatedPrefix = "allocated:";

    /// <summary>Metered usage (as usage_daily counts it, per day): API calls, AI compute units.</summary>
    public static readonly IReadOnlyList<string> UsageMetrics = ["apiCalls", "aiCompute"];

    /// <summary>A standing count charged per unit-month from the days it was held: licences, and units allocated to organisations.</summary>
    public static bool IsHeld(string metric) => metric == Licences || metric.StartsWith(AllocatedPrefix, StringComparison.Ordinal);

    /// <summary>A metric a charge may name: a fixed fee, licences, a usage metric, or an allocatable quota kind's guaranteed units.</summary>
    public static bool IsKnownMetric(string? metric) => metric is Fixed or Licences || UsageMetrics.Contains(metric)
        || metric is not null && metric.StartsWith(AllocatedPrefix, StringComparison.Ordinal) && Quotas.QuotaKinds.Allocatable.Contains(metric[AllocatedPrefix.Length..]);

    /// <summary>The largest price, amount or quantity a card may name: far above any real price, far below what decimal arithmetic overflows at.</summary>
    public const decimal MaxMoney = 1_000_000_000m;
    public const long MaxUnits = 1_000_000_000_000;
    public const int MaxCharges = 50, MaxTiers = 50;

    /// <summary>What a rate card must be before it is used; empty when it is sound.</summary>
    public static IReadOnlyList<FieldError> Check(RateCard card)
    {
        var errors = new List<FieldError>();
        if (card.Charges is null || card.Charges.Any(c => c is null) || card.Charges.Count > MaxCharges)
            return [new FieldError("charges", "invalid", $"at most {MaxCharges} charges, none null.")];
        if (card.Charges.Any(c => c.Tiers is { } tiers && (tiers.Count > MaxTiers || tiers.Any(t => t is null))))
            return [new FieldError("charges", "invalid", $"at most {MaxTiers} tiers a charge, none null.")];
        if (card.Version < 1) errors.Add(new FieldError("version", "out-of-range", "is 1 or more."));
        if (card.Name is { Length: > 100 } || card.Name?.Any(char.IsControl) == true) errors.Add(new FieldError("name", "invalid", "1 to 100 printable characters."));
        if (card.MinimumCommitment > MaxMoney) errors.Add(new FieldError("minimumCommitment", "out-of-range", $"is at most {MaxMoney}."));
        foreach (var (charge, i) in card.Charges.Select((c, i) => (c, i)))
        {
            if (charge.UnitPrice > MaxMoney || charge.Amount > MaxMoney || (charge.Tiers ?? []).Any(t => t.UnitPrice > MaxMoney || t.FlatFee > MaxMoney))
                errors.Add(new FieldError($"charges[{i}]", "out-of-range", $"prices and amounts are at most {MaxMoney}."));
            if (charge.FreeUnits > MaxUnits || charge.PackageSize > MaxUnits || (charge.Tiers ?? []).Any(t => t.UpTo is < 1 or > MaxUnits))
                errors.Add(new FieldError($"charges[{i}]", "out-of-range", $"units are at most {MaxUnits} (free units from 0; package sizes and tier bounds from 1)."));
            if (charge.Name is { Length: > 100 } || charge.Name?.Any(char.IsControl) == true)
                errors.Add(new FieldError($"charges[{i}].name", "invalid", "1 to 100 printable characters."));
        }
        if (string.IsNullOrWhiteSpace(card.Name)) errors.Add(new FieldError("name", "required", "is required."));
        if (!Currencies.IsKnown(card.Currency)) errors.Add(new FieldError("currency", "unknown-currency", "must be an ISO 4217 code this service prices in (EUR, USD, GBP, JPY, ...)."));
        if (card.TaxRate is < 0 or > 1) errors.Add(new FieldError("taxRate", "out-of-range", "is a fraction from 0 to 1 (0.2 for 20 %)."));
        if (card.MinimumCommitment < 0) errors.Add(new FieldError("minimumCommitment", "out-of-range", "is 0 or more."));
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (charge, i) in card.Charges.Select((c, i) => (c, i)))
        {
            var at = $"charges[{i}]";
            if (string.IsNullOrWhiteSpace(charge.Name) || !names.Add(charge.Name)) errors.Add(new FieldError(at + ".name", "invalid", "must be a name no other charge has."));
            if (!IsKnownMetric(charge.Metric))
                errors.Add(new FieldError(at + ".metric", "unknown-metric", $"is fixed, licences, one of {string.Join(", ", UsageMetrics)} or allocated:<quota kind>."));
            if (!PricingModels.All.Contains(charge.Model)) errors.Add(new FieldError(at + ".model", "unknown-model", $"is one of {string.Join(", ", PricingModels.All)}."));
            if (charge.FreeUnits < 0) errors.Add(new FieldError(at + ".freeUnits", "out-of-range", "is 0 or more."));
            if (charge.UnitPrice < 0 || charge.Amount < 0) errors.Add(new FieldError(at, "out-of-range", "prices are 0 or more."));
            if (charge.Model == PricingModels.Package && charge.PackageSize < 1) errors.Add(new FieldError(at + ".packageSize", "out-of-range", "is 1 or more."));
            if (charge.Model is PricingModels.Graduated or PricingModels.Volume)
            {
                var tiers = charge.Tiers ?? [];
                if (tiers.Count == 0 || tiers[^1].UpTo is not null) errors.Add(new FieldError(at + ".tiers", "open-ended", "end with a tier without upTo."));
                for (var t = 1; t < tiers.Count; t++)
                    if (tiers[t - 1].UpTo is not { } before || tiers[t].UpTo is { } after && after <= before)
                        errors.Add(new FieldError($"{at}.tiers[{t}]", "not-ascending", "tiers go up: each upTo above the one before."));
                if (tiers.Any(t => t.UnitPrice < 0 || t.FlatFee < 0)) errors.Add(new FieldError(at + ".tiers", "out-of-range", "prices are 0 or more."));
            }
        }
        return errors;
    }

    /// <summary>
    /// The price of <paramref name="quantity"/> units (not rounded). <paramref name="share"/> is the part of the month the
    /// quantity was used in: free units and tier widths shrink with it.
    /// </summary>
    public static decimal Price(Charge charge, decimal quantity, decimal share = 1)
    {
        var billable = Math.Max(0, quantity - charge.FreeUnits * share);
        switch (charge.Model)
        {
            case PricingModels.Flat:
                return billable * charge.UnitPrice;
            case PricingModels.Package:
                return billable == 0 ? 0 : Math.Ceiling(billable / charge.PackageSize) * charge.UnitPrice;
            case PricingModels.Volume:
            {
                var tier = charge.Tiers!.First(t => t.UpTo is null || billable <= t.UpTo * share);
                return billable == 0 ? 0 : billable * tier.UnitPrice + tier.FlatFee * share;
            }
            case PricingModels.Graduated:
            {
                decimal price = 0, floor = 0;
                foreach (var tier in charge.Tiers!)
                {
                    if (billable <= floor) break;
                    var ceiling = tier.UpTo is { } upTo ? upTo * share : decimal.MaxValue;
                    price += (Math.Min(billable, ceiling) - floor) * tier.UnitPrice + tier.FlatFee * share;
                    floor = ceiling;
                }
                return price;
            }
            default:
                throw new ArgumentException($"Unknown pricing model {charge.Model}.");
        }
    }

    /// <summary>The cards that price some day of a month: the one in force on its first day, and those taking effect in it.</summary>
    public static IReadOnlyList<RateCard> CardsFor(int year, int month, IReadOnlyList<RateCard> versions)
    {
        var first = new DateOnly(year, month, 1);
        var last = first.AddMonths(1).AddDays(-1);
        var ordered = versions.OrderBy(v => v.EffectiveFrom).ToList();
        var before = ordered.LastOrDefault(v => v.EffectiveFrom <= first);
        return ordered.Where(v => v == before || v.EffectiveFrom > first && v.EffectiveFrom <= last).ToList();
    }

    /// <summary>
    /// A month's figures (UTC days) from daily usage by metric, with the rate card versions of the tenant or template (the
    /// one in force on a day is the latest whose EffectiveFrom is on or before it; days before the first are not charged).
    /// Licences are counted per day held and charged per licence-month.
    /// </summary>
    public static InvoiceFigures Month(int year, int month, IReadOnlyList<RateCard> versions, IReadOnlyDictionary<string, IReadOnlyList<(DateOnly Day, long Amount)>> usage)
    {
        var first = new DateOnly(year, month, 1);
        var days = DateTime.DaysInMonth(year, month);
        var last = first.AddDays(days - 1);
        var ordered = CardsFor(year, month, versions);
        if (ordered.Select(v => v.Currency).Distinct().Count() > 1)
            throw new ArgumentException("A tenant's rate cards share one currency; a new currency starts a new billing account.");
        var currency = ordered.FirstOrDefault()?.Currency ?? "EUR";
        RateCard? InForce(DateOnly day) => ordered.LastOrDefault(v => v.EffectiveFrom <= day);

        // The month's parts: days in a row under one card.
        var parts = new List<(RateCard Card, DateOnly From, DateOnly To)>();
        for (var day = first; day <= last; day = day.AddDays(1))
        {
            if (InForce(day) is not { } card) continue;
            if (parts.Count > 0 && parts[^1].Card == card && parts[^1].To == day.AddDays(-1)) parts[^1] = (card, parts[^1].From, day);
            else parts.Add((card, day, day));
        }

        var lines = new List<(InvoiceLine Line, decimal TaxRate)>();
        foreach (var (card, from, to) in parts)
        {
            var share = (decimal)(to.DayNumber - from.DayNumber + 1) / days;
            decimal Used(string metric) => usage.TryGetValue(metric, out var series)
                ? series.Where(u => u.Day >= from && u.Day <= to).Sum(u => (decimal)u.Amount) : 0;
            var partLines = new List<InvoiceLine>();
            foreach (var charge in card.Charges)
            {
                var (quantity, amount) = charge.Metric switch
                {
                    Fixed => (share, charge.Amount * share),
                    var held when IsHeld(held) => (Used(held) / days, Used(held) / days * charge.UnitPrice),
                    var metric => (Used(metric), Price(charge, Used(metric), share)),
                };
                partLines.Add(new InvoiceLine(charge.Name, charge.Metric, quantity, Currencies.Round(currency, amount), card.Version, from, to, card.TaxRate, card.Name));
            }
            // A monthly floor: the part's charges below its share of the commitment are trued up to it.
            var floor = Currencies.Round(currency, card.MinimumCommitment * share);
            var charged = partLines.Sum(l => l.Amount);
            if (charged < floor) partLines.Add(new InvoiceLine("Minimum commitment true-up", Commitment, 1, floor - charged, card.Version, from, to, card.TaxRate, card.Name));
            lines.AddRange(partLines.Select(l => (l, card.TaxRate)));
        }
        var subtotal = lines.Sum(l => l.Line.Amount);
        var tax = lines.GroupBy(l => l.TaxRate).Sum(g => Currencies.Round(currency, g.Sum(l => l.Line.Amount) * g.Key));
        return new InvoiceFigures(currency, lines.Select(l => l.Line).ToList(), subtotal, tax, subtotal + tax);
    }
}
