using TenantEvents.Infrastructure;

namespace TenantEvents.Billing;

/// <summary>
/// A tenant's billing account folded from its stream: its terms, its own rate card versions, the organisations' budgets and
/// the alerts each raised this month, and the months closed. A tenant is billed once its terms are set.
/// </summary>
public sealed class BillingAccount
{
    public BillingTermsSet? Terms { get; set; }
    public List<RateCard> RateCards { get; set; } = [];
    public Dictionary<Guid, BudgetSet> Budgets { get; set; } = [];
    /// <summary>The alerts raised in <see cref="AlertMonth"/>, per organisation (threshold, basis); a month starts them afresh.</summary>
    public Dictionary<Guid, HashSet<(decimal Threshold, string Basis)>> Raised { get; set; } = [];
    public string? AlertMonth { get; set; }
    /// <summary>Organisations a hard budget refuses in <see cref="AlertMonth"/>.</summary>
    public HashSet<Guid> Refusing { get; set; } = [];
    public SortedDictionary<string, BillingMonthClosed> Closed { get; set; } = new(StringComparer.Ordinal);
    public long Version { get; set; }

    public void Apply(BillingTermsSet e) => Terms = e;

    public void Apply(RateCardAdded e) => RateCards.Add(e.Card);

    public void Apply(BudgetSet e)
    {
        Budgets[e.OrganisationId] = e;
        // A budget set again starts its month afresh: its alerts re-arm and a refusal lifts until the next check.
        Raised.Remove(e.OrganisationId);
        Refusing.Remove(e.OrganisationId);
    }

    public void Apply(BudgetRemoved e)
    {
        Budgets.Remove(e.OrganisationId);
        Raised.Remove(e.OrganisationId);
        Refusing.Remove(e.OrganisationId);
    }

    public void Apply(BudgetThresholdCrossed e)
    {
        if (AlertMonth != e.Month)
        {
            AlertMonth = e.Month;
            Raised.Clear();
            Refusing.Clear();
        }
        (Raised.TryGetValue(e.OrganisationId, out var set) ? set : Raised[e.OrganisationId] = []).Add((e.Threshold, e.Basis));
        if (e.Refusing) Refusing.Add(e.OrganisationId);
    }

    public void Apply(BillingMonthClosed e) => Closed[e.Month] = e;

    public static BillingAccount Fold(IEnumerable<object> events)
    {
        var account = new BillingAccount();
        foreach (var e in events)
        {
            Fold<BillingAccount>.Apply(account, e);
            account.Version++;
        }
        return account;
    }

    /// <summary>The alerts already raised this month for an organisation (none when <paramref name="month"/> is not the alerts' month).</summary>
    public IReadOnlySet<(decimal Threshold, string Basis)> RaisedIn(string month, Guid org) =>
        AlertMonth == month && Raised.TryGetValue(org, out var set) ? set : new HashSet<(decimal, string)>();

    /// <summary>
    /// The rate cards that price the tenant: the template's, then the tenant's own versions from their dates (a version of its
    /// own replaces the template's from its effective date).
    /// </summary>
    public IReadOnlyList<RateCard> CardsWith(IReadOnlyList<RateCard>? template)
    {
        if (RateCards.Count == 0) return template ?? [];
        var from = RateCards.Min(c => c.EffectiveFrom);
        return [.. (template ?? []).Where(c => c.EffectiveFrom < from), .. RateCards];
    }
}
