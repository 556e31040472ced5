using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Organisations;

namespace TenantEvents.Billing;

/// <summary>The pure decisions on a tenant's billing account: terms, rate cards, budgets.</summary>
public static class BillingDecisions
{
    public const int MaxCostCentres = 1_000;
    public const int MaxRateCardVersions = 1_000;

    public static IReadOnlyList<FieldError> CheckParty(Party? party, string field)
    {
        var errors = new List<FieldError>();
        if (party is null) { errors.Add(new(field, "required", "the party: name, country, and for Peppol its VAT id and endpoint.")); return errors; }
        if (string.IsNullOrWhiteSpace(party.Name) || party.Name.Length > 200 || party.Name.Any(char.IsControl))
            errors.Add(new(field + ".name", "required", "1 to 200 printable characters."));
        if (party.Country is not { Length: 2 } || !party.Country.All(char.IsAsciiLetterUpper))
            errors.Add(new(field + ".country", "invalid", "an ISO 3166-1 alpha-2 code (DE, US)."));
        foreach (var (name, value) in new[]
                 {
                     ("vatId", party.VatId), ("endpointId", party.EndpointId), ("street", party.Street), ("city", party.City), ("postalCode", party.PostalCode),
                     ("contactName", party.ContactName), ("contactPhone", party.ContactPhone), ("contactEmail", party.ContactEmail),
                 })
            if (value is { } v && (v.Length is 0 or > 200 || v.Any(char.IsControl))) errors.Add(new($"{field}.{name}", "invalid", "1 to 200 printable characters."));
        if (party.EndpointScheme is { } scheme && (scheme.Length != 4 || !scheme.All(char.IsAsciiDigit)))
            errors.Add(new(field + ".endpointScheme", "invalid", "a Peppol electronic address scheme: four digits (0088, 9930)."));
        if (party.Iban is { } iban && !Iban(iban)) errors.Add(new(field + ".iban", "invalid", "an IBAN: country, check digits, account (its check digits right)."));
        if ((party.EndpointId is null) != (party.EndpointScheme is null))
            errors.Add(new(field + ".endpointId", "incomplete", "an endpoint id and its scheme come together."));
        return errors;
    }

    /// <summary>An IBAN in its electronic form: two letters, two check digits, up to 30 letters or digits, and its mod-97 check (ISO 13616).</summary>
    public static bool Iban(string iban)
    {
        if (iban.Length is < 15 or > 34 || !char.IsAsciiLetterUpper(iban[0]) || !char.IsAsciiLetterUpper(iban[1]) || !iban.All(char.IsAsciiLetterOrDigit)
            || iban.Any(char.IsAsciiLetterLower)) return false;
        var remainder = 0;
        foreach (var c in iban[4..] + iban[..4])
            foreach (var digit in char.IsAsciiDigit(c) ? c.ToString() : (c - 'A' + 10).ToString(System.Globalization.CultureInfo.InvariantCulture))
                remainder = (remainder * 10 + (digit - '0')) % 97;
        return remainder == 1;
    }

    public static (IReadOnlyList<object> Events, Problem? Refusal) SetTerms(AccessGraph graph, BillingAccount account, Party? buyer, string? recovery,
        decimal? subsidy, string? split, IReadOnlyList<CostCentre>? centres, bool? approval, bool? purchaseOrder, int? paymentTermDays, Actor by,
        DateTimeOffset now)
    {
        var errors = new List<FieldError>(CheckParty(buyer, "buyer"));
        recovery ??= RecoveryModels.Full;
        split ??= SplitModels.Even;
        centres ??= [];
        if (recovery is not (RecoveryModels.Full or RecoveryModels.Partial or RecoveryModels.Showback))
            errors.Add(new("recovery", "unknown-recovery", "full, partial or showback."));
        if (recovery == RecoveryModels.Partial ? subsidy is not (> 0 and < 1) : subsidy is not (null or 0))
            errors.Add(new("subsidy", "out-of-range", "partial recovery: the fraction the tenant bears, between 0 and 1 (0.25); otherwise none."));
        if (split is not (SplitModels.Even or SplitModels.Fixed or SplitModels.Proportional))
            errors.Add(new("split", "unknown-split", "even, fixed or proportional."));
        if (centres.Count > MaxCostCentres) errors.Add(new("costCentres", "too-many", $"at most {MaxCostCentres}."));
        if (centres.Any(c => c is null || graph.FindOpen(c.OrganisationId) is null))
            errors.Add(new("costCentres", "unknown-organisation", "each an open organisation of the tenant."));
        else if (centres.DistinctBy(c => c.OrganisationId).Count() != centres.Count) errors.Add(new("costCentres", "duplicate", "each organisation once."));
        if (split == SplitModels.Fixed && (centres.Count == 0 || centres.Any(c => c.Percent <= 0) || centres.Sum(c => c.Percent) != 100))
            errors.Add(new("costCentres", "not-100", "fixed split: percentages above 0 adding up to 100."));
        if (paymentTermDays is < 0 or > 365) errors.Add(new("paymentTermDays", "out-of-range", "0 to 365 days."));
        if (errors.Count > 0) return ([], Problem.Validation(errors));
        return ([new BillingTermsSet(buyer!, recovery, subsidy ?? 0, split, centres, approval ?? false, purchaseOrder ?? false, paymentTermDays ?? 30, by, now)], null);
    }

    /// <summary>
    /// A new version of the tenant's own rate card: sound (Pricing.Check), the next version, in the account's currency, in
    /// force from a date after the last closed month (a closed month's figures never change).
    /// </summary>
    public static (IReadOnlyList<object> Events, Problem? Refusal) AddRateCard(BillingAccount account, IReadOnlyList<RateCard> inForce, RateCard? card,
        Actor by, DateTimeOffset now)
    {
        if (card is null) return ([], Problem.Validation("card", "required", "the rate card."));
        var errors = new List<FieldError>(Pricing.Check(card with { Charges = card.Charges ?? [] }));
        if (card.Charges is null) errors.Add(new("charges", "required", "the card's charges."));
        var next = (account.RateCards.Count == 0 ? 0 : account.RateCards.Max(c => c.Version)) + 1;
        if (card.Version != next) errors.Add(new("version", "not-next", $"the tenant's next rate card version is {next}."));
        if (account.Closed.Values.LastOrDefault() is { } last && last.Currency != card.Currency)
            errors.Add(new("currency", "currency-changed", $"the tenant is billed in {last.Currency}; a new currency is a new billing account."));
        if (account.Closed.Keys.LastOrDefault() is { } closed && BillingMonths.Parse(closed) is var (y, m)
            && card.EffectiveFrom < DateOnly.FromDateTime(BillingMonths.End(y, m).UtcDateTime))
            errors.Add(new("effectiveFrom", "in-closed-month", $"{closed} is closed: a card takes effect after it."));
        if (account.RateCards.Count >= MaxRateCardVersions) errors.Add(new("version", "too-many", $"at most {MaxRateCardVersions} versions."));
        if (errors.Count > 0) return ([], Problem.Validation(errors));
        return ([new RateCardAdded(card, by, now)], null);
    }

    /// <summary>
    /// An organisation's budget, set by someone holding billing.manage at its parent (the root's: the tenant's
    /// administrators): an organisation does not raise its own.
    /// </summary>
    public static Problem? AuthoriseBudget(Standing standing, AccessGraph graph, Guid org)
    {
        if (graph.FindOpen(org) is not { } node || !(standing.CanSee(graph, org) || BillingHttp.CanRead(standing, graph, org))) return Problem.NotFound("organisation");
        if (standing.Everything) return null;
        return node.ParentId is { } parent && standing.Can(graph, BillingHttp.Manage, parent) ? null
            : Problem.Forbidden($"Setting an organisation's budget needs {BillingHttp.Manage} at its parent.").With("permission", BillingHttp.Manage);
    }

    public static (IReadOnlyList<object> Events, Problem? Refusal) SetBudget(BillingAccount account, Guid org, decimal? amount, IReadOnlyList<decimal>? thresholds,
        bool? forecast, bool? hard, Actor by, DateTimeOffset now)
    {
        var budget = new Budget(amount ?? 0, thresholds ?? [0.5m, 0.8m, 1.0m], forecast ?? false, hard ?? false);
        var errors = new List<FieldError>(Budgets.Check(budget));
        if (account.Terms is null) return ([], new Problem("billing-not-set-up", 409, "The tenant is not billed", "Its billing terms are set first."));
        if (errors.Count > 0) return ([], Problem.Validation(errors));
        return ([new BudgetSet(org, budget.Amount, [.. budget.Thresholds.Order()], budget.Forecast, budget.Hard, by, now)], null);
    }
}
