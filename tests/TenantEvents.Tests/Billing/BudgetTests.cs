using TenantEvents.Billing;

namespace TenantEvents.Tests.Billing;

/// <summary>Budgets on actual and forecast spend: each threshold alerts once, and a hard budget refuses at 100 % (figures by hand).</summary>
public class BudgetTests
{
    private static readonly Budget Soft = new(1_000m, [0.5m, 0.8m, 1.0m]);
    private static readonly HashSet<(decimal, string)> None = [];

    [Fact]
    public void crossing_eighty_percent_raises_one_alert_and_only_once()
    {
        var standing = Budgets.Evaluate(Soft, 800m, 20, 30, new HashSet<(decimal, string)> { (0.5m, Budgets.Actual) });
        standing.Raised.Select(a => (a.Threshold, a.Basis)).ShouldBe([(0.8m, Budgets.Actual)]);
        standing.Refuse.ShouldBeFalse();
        // Raised already: the next look raises nothing.
        Budgets.Evaluate(Soft, 850m, 21, 30, new HashSet<(decimal, string)> { (0.5m, Budgets.Actual), (0.8m, Budgets.Actual) }).Raised.ShouldBeEmpty();
    }

    [Fact]
    public void at_one_hundred_percent_a_hard_budget_refuses_and_a_soft_one_alerts()
    {
        var raised = new HashSet<(decimal, string)> { (0.5m, Budgets.Actual), (0.8m, Budgets.Actual) };
        var hard = Budgets.Evaluate(Soft with { Hard = true }, 1_000m, 25, 30, raised);
        (hard.Refuse, hard.Raised.Single().Threshold).ShouldBe((true, 1.0m));
        Budgets.Evaluate(Soft with { Hard = true }, 999.99m, 25, 30, raised).Refuse.ShouldBeFalse();
        var soft = Budgets.Evaluate(Soft, 1_000m, 25, 30, raised);
        (soft.Refuse, soft.Raised.Single().Threshold).ShouldBe((false, 1.0m));
    }

    [Fact]
    public void the_forecast_carries_the_months_rate_to_its_end_and_alerts_before_the_spend_gets_there()
    {
        // 400 spent in 10 of 30 days: 40 a day, 1,200 by the month's end.
        Budgets.ForecastOf(400m, 10, 30).ShouldBe(1_200m);
        var standing = Budgets.Evaluate(Soft with { Forecast = true }, 400m, 10, 30, None);
        standing.Forecast.ShouldBe(1_200m);
        standing.Raised.Select(a => (a.Threshold, a.Basis)).ShouldBe([(0.5m, Budgets.Forecasted), (0.8m, Budgets.Forecasted), (1.0m, Budgets.Forecasted)]);
        // Without forecasts, 400 of 1,000 crosses nothing yet.
        Budgets.Evaluate(Soft, 400m, 10, 30, None).Raised.ShouldBeEmpty();
    }

    [Fact]
    public void a_budget_that_cannot_be_kept_is_refused_with_each_field_named() =>
        Budgets.Check(new Budget(0m, [0.8m, 0.8m, -1m])).Select(e => (e.Field, e.Code))
            .ShouldBe([("amount", "out-of-range"), ("thresholds", "out-of-range"), ("thresholds", "duplicate")]);
}
