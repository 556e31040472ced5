using TenantEvents.Infrastructure;

namespace TenantEvents.Billing;

/// <summary>How a shared cost is split among organisations, as AWS's split charges are: evenly, by fixed percentages, or in proportion to use.</summary>
public static class SplitModels
{
    public const string Even = "even";
    public const string Fixed = "fixed";
    public const string Proportional = "proportional";
}

/// <summary>What a tenant recovers from its organisations: all of it, part of it (the rest is subsidised), or nothing (showback: shown, not charged).</summary>
public static class RecoveryModels
{
    public const string Full = "full";
    public const string Partial = "partial";
    public const string Showback = "showback";
}

/// <summary>One organisation's part of a cost: what it is shown (its share) and what it is charged.</summary>
public sealed record CostShare(Guid OrganisationId, decimal Shown, decimal Charged);

/// <summary>
/// Cost recovery (pure): a cost split among organisations so that the parts add up to the cost exactly, in the currency's
/// minor unit (largest remainder: the units rounding leaves over go to the largest fractions, ties in the order given),
/// then charged in full, in part, or not at all; and totals rolled up the organisation tree.
/// </summary>
public static class CostRecovery
{
    /// <param name="weights">Per organisation: its usage (proportional) or its percentage (fixed, adding up to 100); ignored for even.</param>
    /// <param name="subsidy">For partial recovery, the fraction the tenant bears (0.25: organisations are charged 75 %).</param>
    public static (IReadOnlyList<CostShare>? Shares, IReadOnlyList<FieldError> Errors) Split(string currency, decimal cost, string split,
        IReadOnlyList<(Guid Organisation, decimal Weight)> weights, string recovery, decimal subsidy = 0)
    {
        var errors = new List<FieldError>();
        if (!Currencies.IsKnown(currency)) errors.Add(new FieldError("currency", "unknown-currency", "is an ISO 4217 code this service prices in."));
        if (cost < 0) errors.Add(new FieldError("cost", "out-of-range", "is 0 or more."));
        if (weights.Count == 0) errors.Add(new FieldError("organisations", "required", "name at least one organisation."));
        if (weights.Any(w => w.Weight < 0)) errors.Add(new FieldError("organisations", "out-of-range", "weights are 0 or more."));
        if (split == SplitModels.Fixed && weights.Sum(w => w.Weight) != 100) errors.Add(new FieldError("organisations", "not-100", "fixed percentages add up to 100."));
        if (split == SplitModels.Proportional && weights.Count > 0 && weights.Sum(w => w.Weight) == 0)
            errors.Add(new FieldError("organisations", "no-use", "nobody used anything: split evenly instead."));
        if (split is not (SplitModels.Even or SplitModels.Fixed or SplitModels.Proportional))
            errors.Add(new FieldError("split", "unknown-split", "is even, fixed or proportional."));
        if (recovery is not (RecoveryModels.Full or RecoveryModels.Partial or RecoveryModels.Showback))
            errors.Add(new FieldError("recovery", "unknown-recovery", "is full, partial or showback."));
        if (recovery == RecoveryModels.Partial && subsidy is <= 0 or >= 1) errors.Add(new FieldError("subsidy", "out-of-range", "is a fraction between 0 and 1."));
        if (errors.Count > 0) return (null, errors);

        var shown = Apportion(currency, cost, split == SplitModels.Even ? weights.Select(_ => 1m).ToList() : weights.Select(w => w.Weight).ToList());
        var charged = recovery switch
        {
            RecoveryModels.Full => shown,
            RecoveryModels.Showback => shown.Select(_ => 0m).ToList(),
            _ => Apportion(currency, Currencies.Round(currency, cost * (1 - subsidy)), shown),
        };
        return (weights.Select((w, i) => new CostShare(w.Organisation, shown[i], charged[i])).ToList(), []);
    }

    /// <summary>An amount in parts by weight, each in the minor unit, adding up to the amount exactly (largest remainder).</summary>
    public static IReadOnlyList<decimal> Apportion(string currency, decimal amount, IReadOnlyList<decimal> weights)
    {
        var unit = Currencies.Unit(currency);
        var total = weights.Sum();
        if (total == 0) return weights.Select(_ => 0m).ToList();
        var units = decimal.Round(amount / unit);
        var exact = weights.Select(w => units * w / total).ToList();
        var parts = exact.Select(decimal.Floor).ToList();
        var left = (int)(units - parts.Sum());
        foreach (var i in exact.Select((e, i) => (Fraction: e - decimal.Floor(e), i)).OrderByDescending(p => p.Fraction).ThenBy(p => p.i).Take(left).Select(p => p.i))
            parts[i]++;
        return parts.Select(p => p * unit).ToList();
    }

    /// <summary>Each organisation's total with everything below it (its own charges and its descendants'), from a parent map.</summary>
    public static IReadOnlyDictionary<Guid, decimal> RollUp(IReadOnlyDictionary<Guid, Guid?> parents, IReadOnlyDictionary<Guid, decimal> own)
    {
        var totals = parents.Keys.ToDictionary(k => k, _ => 0m);
        foreach (var (org, amount) in own)
            for (Guid? at = org; at is { } node && totals.ContainsKey(node); at = parents[node]) totals[node] += amount;
        return totals;
    }
}
