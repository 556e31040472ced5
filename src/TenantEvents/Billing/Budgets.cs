using TenantEvents.Infrastructure;

namespace TenantEvents.Billing;

/// <summary>
/// An organisation's monthly budget: an amount, the thresholds that alert (fractions: 0.5, 0.8, 1.0), on actual spend or
/// on the month's forecast too (as GCP budgets do), and what 100 % does: alert only (soft) or refuse further spend through
/// the quotas (hard).
/// </summary>
public sealed record Budget(decimal Amount, IReadOnlyList<decimal> Thresholds, bool Forecast = false, bool Hard = false);

/// <summary>A threshold crossed: on actual spend or on the forecast, with the figures that crossed it.</summary>
public sealed record BudgetAlert(decimal Threshold, string Basis, decimal Spent, decimal Forecast, decimal Amount);

/// <summary>Where a budget stands now: the alerts newly raised (each threshold and basis once a month), and whether spend is refused.</summary>
public sealed record BudgetStanding(IReadOnlyList<BudgetAlert> Raised, bool Refuse, decimal Forecast);

/// <summary>Budgets (pure): the month's forecast, the thresholds newly crossed, and a hard budget's refusal at 100 %.</summary>
public static class Budgets
{
    public const string Actual = "actual";
    public const string Forecasted = "forecast";

    public static IReadOnlyList<FieldError> Check(Budget budget)
    {
        var errors = new List<FieldError>();
        if (budget.Amount is <= 0 or > Pricing.MaxMoney) errors.Add(new FieldError("amount", "out-of-range", $"is more than 0 and at most {Pricing.MaxMoney}."));
        if (budget.Thresholds.Count is 0 or > 10 || budget.Thresholds.Any(t => t is <= 0 or > 10 || decimal.Round(t, 4) != t))
            errors.Add(new FieldError("thresholds", "out-of-range", "1 to 10 fractions of the amount above 0 (0.5, 0.8, 1.0; at most 10, four decimals)."));
        if (budget.Thresholds.Distinct().Count() != budget.Thresholds.Count) errors.Add(new FieldError("thresholds", "duplicate", "each threshold once."));
        return errors;
    }

    /// <summary>
    /// The month's forecast from the spend so far: the rate of the days elapsed (at least one) carried to the month's end.
    /// </summary>
    /// <param name="fixedPart">What of the spend is the month's whole fixed charges (fees, the commitment): counted once, not projected.</param>
    public static decimal ForecastOf(decimal spent, int daysElapsed, int daysInMonth, decimal fixedPart = 0) =>
        fixedPart + (spent - fixedPart) / Math.Max(1, Math.Min(daysElapsed, daysInMonth)) * daysInMonth;

    /// <param name="raised">The (threshold, basis) pairs already alerted this month: each is raised once.</param>
    /// <param name="fixedPart">What of <paramref name="spent"/> is fixed for the month (not projected).</param>
    public static BudgetStanding Evaluate(Budget budget, decimal spent, int daysElapsed, int daysInMonth, IReadOnlySet<(decimal Threshold, string Basis)> raised,
        decimal fixedPart = 0)
    {
        var forecast = ForecastOf(spent, daysElapsed, daysInMonth, fixedPart);
        var alerts = new List<BudgetAlert>();
        foreach (var threshold in budget.Thresholds.Order())
        {
            if (spent >= budget.Amount * threshold && !raised.Contains((threshold, Actual)))
                alerts.Add(new BudgetAlert(threshold, Actual, spent, forecast, budget.Amount));
            else if (budget.Forecast && spent < budget.Amount * threshold && forecast >= budget.Amount * threshold && !raised.Contains((threshold, Forecasted)))
                alerts.Add(new BudgetAlert(threshold, Forecasted, spent, forecast, budget.Amount));
        }
        return new BudgetStanding(alerts, budget.Hard && spent >= budget.Amount, forecast);
    }
}
