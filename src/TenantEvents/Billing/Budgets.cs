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
        if (budget.Amount <= 0) errors.Add(new FieldError("amount", "out-of-range", "is more than 0."));
        if (budget.Thresholds.Count == 0 || budget.Thresholds.Any(t => t is <= 0 or > 10))
            errors.Add(new FieldError("thresholds", "out-of-range", "fractions of the amount above 0 (0.5, 0.8, 1.0; at most 10)."));
        if (budget.Thresholds.Distinct().Count() != budget.Thresholds.Count) errors.Add(new FieldError("thresholds", "duplicate", "each threshold once."));
        return errors;
    }

    /// <summary>
    /// The month's forecast from the spend so far: the rate of the days elapsed (at least one) carried to the month's end.
    /// </summary>
    public static decimal ForecastOf(decimal spent, int daysElapsed, int daysInMonth) =>
        spent / Math.Max(1, Math.Min(daysElapsed, daysInMonth)) * daysInMonth;

    /// <param name="raised">The (threshold, basis) pairs already alerted this month: each is raised once.</param>
    public static BudgetStanding Evaluate(Budget budget, decimal spent, int daysElapsed, int daysInMonth, IReadOnlySet<(decimal Threshold, string Basis)> raised)
    {
        var forecast = ForecastOf(spent, daysElapsed, daysInMonth);
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
