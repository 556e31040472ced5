namespace TenantEvents.Billing;

/// <summary>One day's usage of a metric at an organisation, as the usage history holds it (the tenant as a whole: the empty id).</summary>
public readonly record struct UsageRow(Guid Organisation, string Metric, DateOnly Day, long Amount);

/// <summary>Usage of an earlier, closed month that arrived after its close: per organisation and metric, and what was billed for it before.</summary>
public sealed record LateUsage(string Month, Guid Organisation, string Metric, long Quantity, long TenantBilledBefore);

/// <summary>One invoice's figures: its lines, subtotal, tax and total; a showback statement charges nothing.</summary>
public sealed record DraftFigures(Guid? Organisation, IReadOnlyList<BilledLine> Lines, decimal Subtotal, decimal Tax, decimal Total, bool Showback);

/// <summary>A month's figures: the tenant's invoice, and every organisation charged or shown something.</summary>
public sealed record MonthFigures(string Currency, DraftFigures Tenant, IReadOnlyDictionary<Guid, DraftFigures> Organisations);

/// <summary>The tenant's terms as the computation needs them.</summary>
public sealed record RecoveryTerms(string Recovery, decimal Subsidy, string Split, IReadOnlyList<CostCentre> CostCentres);

/// <summary>
/// Chargeback (pure): the tenant's month priced from the sum of its organisations' usage, then each of its lines split
/// down to the organisations so that, to the minor unit, every organisation's invoice adds up with the others' to the
/// tenant's invoice:
/// <list type="bullet">
/// <item>usage (API calls, AI compute), licences and allocated units: in proportion to each organisation's own, on the days
/// the line covers (what the tenant as a whole used, not any organisation's, falls to the root);</item>
/// <item>shared costs (fixed fees, the commitment's true-up, usage nobody is named for): by the tenant's split: evenly or
/// by fixed percentages over its cost centres (none: the root), or in proportion to each one's usage charges;</item>
/// <item>then recovery: in full; in part, the organisations paying (1 - subsidy) of their share and the root bearing the
/// rest; or showback, the organisations shown their share and the root bearing it all.</item>
/// </list>
/// Tax is the tenant's tax per rate, apportioned by each organisation's charged amount at that rate (largest remainder).
/// </summary>
public static class Chargeback
{
    public static MonthFigures Compute(int year, int month, IReadOnlyList<RateCard> cards, IReadOnlyList<UsageRow> usage, IReadOnlyList<LateUsage> late,
        Guid root, RecoveryTerms terms)
    {
        var tenantUsage = usage.GroupBy(u => u.Metric).ToDictionary(g => g.Key,
            g => (IReadOnlyList<(DateOnly, long)>)g.GroupBy(u => u.Day).Select(d => (d.Key, d.Sum(u => u.Amount))).ToList());
        var figures = Pricing.Month(year, month, cards, tenantUsage);
        var currency = figures.Currency;
        var byMetric = usage.Where(u => u.Amount != 0).GroupBy(u => u.Metric).ToDictionary(g => g.Key, g => g.ToList());

        // The tenant's lines, with each organisation's shown part of each, and its own quantity where it is measured.
        var lines = new List<(BilledLine Line, Dictionary<Guid, decimal> Shown)>();
        var quantities = new Dictionary<BilledLine, Dictionary<Guid, decimal>>(ReferenceEqualityComparer.Instance);
        var days = DateTime.DaysInMonth(year, month);
        // A line with nothing to say (a fee of nothing, a charge with no use) is left off; a use within free units stays (amount 0).
        foreach (var line in figures.Lines.Where(l => l.Amount != 0 || l.Quantity != 0 && l.Metric != Pricing.Fixed))
        {
            var billed = new BilledLine(line.Description, line.Metric, line.Quantity, line.Amount, line.Amount, line.TaxRate, line.RateCard,
                line.RateCardVersion, line.From, line.To);
            Dictionary<Guid, decimal>? weights = null;
            if (line.Metric is not (Pricing.Fixed or Pricing.Commitment) && byMetric.TryGetValue(line.Metric, out var rows))
                weights = rows.Where(r => r.Day >= line.From && r.Day <= line.To).GroupBy(r => Owner(r.Organisation, root))
                    .ToDictionary(g => g.Key, g => (decimal)g.Sum(r => r.Amount));
            var measured = weights is { Count: > 0 } && weights.Values.Sum() > 0;
            if (measured) quantities[billed] = weights!.ToDictionary(w => w.Key, w => Pricing.IsHeld(line.Metric) ? decimal.Round(w.Value / days, 4) : w.Value);
            lines.Add((billed, measured ? Apportion(currency, line.Amount, weights!) : []));
        }
        foreach (var l in LateLines(cards, late, currency))
        {
            var weights = late.Where(x => x.Month == l.LateFor && x.Metric == l.Metric).GroupBy(x => Owner(x.Organisation, root))
                .ToDictionary(g => g.Key, g => (decimal)g.Sum(x => x.Quantity));
            quantities[l] = weights;
            lines.Add((l, Apportion(currency, l.Amount, weights)));
        }
        // Shared costs: what no organisation's own use accounts for.
        var usageShares = new Dictionary<Guid, decimal>();
        foreach (var (_, shown) in lines)
            foreach (var (org, amount) in shown) usageShares[org] = usageShares.GetValueOrDefault(org) + amount;
        for (var i = 0; i < lines.Count; i++)
            if (lines[i].Shown.Count == 0 && lines[i].Line.Amount != 0)
                lines[i] = (lines[i].Line, Apportion(currency, lines[i].Line.Amount, SharedWeights(terms, root, usageShares)));

        // Recovery: what each organisation is charged of what it is shown; the root bears the rest.
        var perOrg = new Dictionary<Guid, List<BilledLine>>();
        var borne = new Dictionary<decimal, decimal>();
        foreach (var (line, shown) in lines)
        {
            var others = shown.Where(s => s.Key != root).ToList();
            var charged = terms.Recovery switch
            {
                RecoveryModels.Showback => others.ToDictionary(s => s.Key, _ => 0m),
                RecoveryModels.Partial => Apportion(currency, Currencies.Round(currency, others.Sum(s => s.Value) * (1 - terms.Subsidy)),
                    others.ToDictionary(s => s.Key, s => s.Value)),
                _ => others.ToDictionary(s => s.Key, s => s.Value),
            };
            foreach (var (org, part) in shown)
            {
                var amount = org == root ? part : charged.GetValueOrDefault(org);
                if (part == 0 && amount == 0) continue;
                // The organisation's own quantity where it is measured (never the tenant's: that would tell of the others' use);
                // a shared cost keeps the line's (a month's fee: its share of the month), which says nothing of others.
                var quantity = quantities.TryGetValue(line, out var own) ? own.GetValueOrDefault(org) : line.Quantity;
                (perOrg.TryGetValue(org, out var list) ? list : perOrg[org] = []).Add(line with { Amount = amount, Shown = part, Quantity = quantity });
            }
            var left = others.Sum(s => s.Value) - charged.Values.Sum();
            if (left != 0) borne[line.TaxRate] = borne.GetValueOrDefault(line.TaxRate) + left;
        }
        var first = new DateOnly(year, month, 1);
        var last = first.AddMonths(1).AddDays(-1);
        foreach (var (rate, amount) in borne.OrderBy(b => b.Key))
            (perOrg.TryGetValue(root, out var list) ? list : perOrg[root] = []).Add(new BilledLine(
                terms.Recovery == RecoveryModels.Showback ? "Organisations' costs borne by the tenant (showback)" : $"Organisations' costs borne by the tenant (subsidy of {terms.Subsidy:P0})",
                "borne", 1, amount, 0, rate, "", 0, first, last));

        // Tax: the tenant's, per rate, apportioned by what each organisation is charged at that rate.
        var tenantLines = lines.Select(l => l.Line).ToList();
        var taxByRate = tenantLines.GroupBy(l => l.TaxRate).ToDictionary(g => g.Key, g => Currencies.Round(currency, g.Sum(l => l.Amount) * g.Key));
        var orgTax = perOrg.Keys.ToDictionary(o => o, _ => 0m);
        foreach (var (rate, tax) in taxByRate)
            foreach (var (org, part) in Apportion(currency, tax, perOrg.ToDictionary(o => o.Key, o => o.Value.Where(l => l.TaxRate == rate).Sum(l => l.Amount))))
                orgTax[org] += part;
        var tenantSubtotal = tenantLines.Sum(l => l.Amount);
        var tenantTax = taxByRate.Values.Sum();
        var tenant = new DraftFigures(null, tenantLines, tenantSubtotal, tenantTax, tenantSubtotal + tenantTax, false);
        var organisations = perOrg.ToDictionary(o => o.Key, o =>
        {
            var subtotal = o.Value.Sum(l => l.Amount);
            return new DraftFigures(o.Key, o.Value, subtotal, orgTax[o.Key], subtotal + orgTax[o.Key],
                terms.Recovery == RecoveryModels.Showback && o.Key != root);
        });
        return new MonthFigures(currency, tenant, organisations);
    }

    /// <summary>
    /// Late usage priced at the margin of what its month was billed: the card in force on the month's last day, the price of
    /// (billed + late) less the price of what was billed, so tiers and free units carry on where the close left them.
    /// </summary>
    public static IReadOnlyList<BilledLine> LateLines(IReadOnlyList<RateCard> cards, IReadOnlyList<LateUsage> late, string currency)
    {
        var result = new List<BilledLine>();
        foreach (var group in late.GroupBy(l => (l.Month, l.Metric)).OrderBy(g => g.Key.Month).ThenBy(g => g.Key.Metric, StringComparer.Ordinal))
        {
            var (year, month) = BillingMonths.Parse(group.Key.Month)!.Value;
            var lastDay = new DateOnly(year, month, 1).AddMonths(1).AddDays(-1);
            if (cards.Where(c => c.EffectiveFrom <= lastDay).MaxBy(c => c.EffectiveFrom) is not { } card) continue;
            var quantity = group.Sum(l => l.Quantity);
            var before = group.First().TenantBilledBefore;
            foreach (var charge in card.Charges.Where(c => c.Metric == group.Key.Metric))
            {
                var amount = Currencies.Round(currency, Pricing.Price(charge, before + quantity) - Pricing.Price(charge, before));
                result.Add(new BilledLine($"{charge.Name}, late usage for {group.Key.Month}", charge.Metric, quantity, amount, amount, card.TaxRate, card.Name,
                    card.Version, new DateOnly(year, month, 1), lastDay, group.Key.Month));
            }
        }
        return result;
    }

    /// <summary>Who bears a shared cost: the cost centres (evenly or by percentage), or everyone in proportion to their usage charges; else the root.</summary>
    private static Dictionary<Guid, decimal> SharedWeights(RecoveryTerms terms, Guid root, IReadOnlyDictionary<Guid, decimal> usageShares)
    {
        if (terms.Split == SplitModels.Proportional && usageShares.Values.Sum() > 0) return usageShares.Where(u => u.Value > 0).ToDictionary();
        if (terms.Split == SplitModels.Fixed && terms.CostCentres.Count > 0) return terms.CostCentres.ToDictionary(c => c.OrganisationId, c => c.Percent);
        if (terms.Split == SplitModels.Even && terms.CostCentres.Count > 0) return terms.CostCentres.ToDictionary(c => c.OrganisationId, _ => 1m);
        return new Dictionary<Guid, decimal> { [root] = 1 };
    }

    private static Guid Owner(Guid org, Guid root) => org == Guid.Empty ? root : org;

    /// <summary>An amount apportioned by weight, to the minor unit and adding up exactly (in a stable order).</summary>
    private static Dictionary<Guid, decimal> Apportion(string currency, decimal amount, IReadOnlyDictionary<Guid, decimal> weights)
    {
        var keys = weights.Keys.Order().ToList();
        var parts = CostRecovery.Apportion(currency, amount, keys.Select(k => weights[k]).ToList());
        return keys.Select((k, i) => (k, parts[i])).ToDictionary(p => p.k, p => p.Item2);
    }
}

/// <summary>Billing months named as ISO 8601 year-months (2026-11), UTC.</summary>
public static class BillingMonths
{
    public static string Name(int year, int month) => $"{year:D4}-{month:D2}";

    public static string Of(DateTimeOffset at) => Name(at.UtcDateTime.Year, at.UtcDateTime.Month);

    /// <summary>The year and month of exactly "YYYY-MM" (four digits, a hyphen, two digits; nothing else), from 2000.</summary>
    public static (int Year, int Month)? Parse(string? text)
    {
        if (text is not { Length: 7 } || text[4] != '-' || !text.Where((c, i) => i != 4).All(char.IsAsciiDigit)) return null;
        var (y, m) = ((text[0] - '0') * 1000 + (text[1] - '0') * 100 + (text[2] - '0') * 10 + (text[3] - '0'), (text[5] - '0') * 10 + (text[6] - '0'));
        return y is >= 2000 and <= 9998 && m is >= 1 and <= 12 ? (y, m) : null;
    }

    public static DateTimeOffset Start(int year, int month) => new(year, month, 1, 0, 0, 0, TimeSpan.Zero);

    public static DateTimeOffset End(int year, int month) => Start(year, month).AddMonths(1);

    public static string Next(string month)
    {
        var (y, m) = Parse(month)!.Value;
        return Of(Start(y, m).AddMonths(1));
    }
}
