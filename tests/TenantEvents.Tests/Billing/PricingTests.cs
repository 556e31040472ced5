using TenantEvents.Billing;

namespace TenantEvents.Tests.Billing;

/// <summary>
/// Rate cards and the pricing of a month (issue 22, the first slice: pure, no API yet). Every expected figure is worked
/// out by hand in the comment beside it, not by the code under test.
/// </summary>
public class PricingTests
{
    private static readonly Tier[] ApiTiers = [new(1_000, 0m), new(10_000, 0.002m), new(null, 0.001m)];

    private static IReadOnlyDictionary<string, IReadOnlyList<(DateOnly Day, long Amount)>> Daily(string metric, int year, int month, Func<int, long> perDay) =>
        new Dictionary<string, IReadOnlyList<(DateOnly, long)>>
        {
            [metric] = Enumerable.Range(1, DateTime.DaysInMonth(year, month)).Select(d => (new DateOnly(year, month, d), perDay(d))).ToList(),
        };

    [Fact]
    public void graduated_prices_each_unit_at_its_tier_and_volume_prices_every_unit_at_the_tier_reached()
    {
        var graduated = new Charge("API calls", "apiCalls", PricingModels.Graduated, Tiers: ApiTiers);
        // 1,000 free-tier units + 9,000 at 0.002 (18) + 15,000 at 0.001 (15) = 33.
        Pricing.Price(graduated, 25_000).ShouldBe(33m);
        Pricing.Price(graduated, 800).ShouldBe(0m);
        var volume = graduated with { Model = PricingModels.Volume };
        Pricing.Price(volume, 25_000).ShouldBe(25m);   // all 25,000 at 0.001
        Pricing.Price(volume, 5_000).ShouldBe(10m);    // all 5,000 at 0.002
        Pricing.Price(volume, 1_000).ShouldBe(0m);     // within the first tier
    }

    [Fact]
    public void packages_are_charged_per_started_package_after_the_free_units()
    {
        var package = new Charge("AI compute", "aiCompute", PricingModels.Package, UnitPrice: 1.50m, PackageSize: 1_000);
        Pricing.Price(package, 2_001).ShouldBe(4.50m);                            // 3 packages
        Pricing.Price(package with { FreeUnits = 1_000 }, 2_001).ShouldBe(3.00m); // 1,001 billable: 2 packages
        Pricing.Price(package with { FreeUnits = 5_000 }, 2_001).ShouldBe(0m);
    }

    [Fact]
    public void a_rate_card_changed_mid_month_prices_each_part_from_its_effective_date()
    {
        // November 2026 has 30 days. Version 1 from before the month: 300 a month, 0.01 a call. Version 2 from the 11th:
        // 450 a month, 0.02 a call. 100 calls a day.
        var v1 = new RateCard("standard", 1, new DateOnly(2026, 1, 1), "EUR",
            [new Charge("Platform fee", "fixed", Amount: 300m), new Charge("API calls", "apiCalls", UnitPrice: 0.01m)], TaxRate: 0.20m);
        var v2 = v1 with { Version = 2, EffectiveFrom = new DateOnly(2026, 11, 11),
            Charges = [new Charge("Platform fee", "fixed", Amount: 450m), new Charge("API calls", "apiCalls", UnitPrice: 0.02m)] };
        var figures = Pricing.Month(2026, 11, [v2, v1], Daily("apiCalls", 2026, 11, _ => 100));
        figures.Lines.Select(l => (l.RateCardVersion, l.Description, l.Amount)).ShouldBe([
            (1, "Platform fee", 100.00m),  // 300 x 10/30
            (1, "API calls", 10.00m),      // 1,000 calls x 0.01
            (2, "Platform fee", 300.00m),  // 450 x 20/30
            (2, "API calls", 40.00m),      // 2,000 calls x 0.02
        ]);
        figures.Lines[2].From.ShouldBe(new DateOnly(2026, 11, 11));
        figures.Subtotal.ShouldBe(450.00m);
        figures.Tax.ShouldBe(90.00m);      // 20 % of 450
        figures.Total.ShouldBe(540.00m);
    }

    [Fact]
    public void free_units_and_tiers_shrink_with_the_part_of_the_month_and_a_whole_month_is_the_card_itself()
    {
        var card = new RateCard("tiered", 1, new DateOnly(2026, 1, 1), "EUR", [new Charge("API calls", "apiCalls", PricingModels.Graduated, Tiers: ApiTiers)]);
        // The whole of November: 30 x 1,000 = 30,000 calls = 0 + 18 + 20 = 38.
        Pricing.Month(2026, 11, [card], Daily("apiCalls", 2026, 11, _ => 1_000)).Subtotal.ShouldBe(38m);
        // From the 16th only (15 of 30 days): tiers of 500 and 5,000; 15,000 calls = 0 + 4,500 x 0.002 + 10,000 x 0.001 = 19.
        Pricing.Month(2026, 11, [card with { EffectiveFrom = new DateOnly(2026, 11, 16) }], Daily("apiCalls", 2026, 11, _ => 1_000)).Subtotal.ShouldBe(19m);
    }

    [Fact]
    public void a_month_below_the_minimum_commitment_is_trued_up_and_licences_are_charged_per_licence_month()
    {
        // 40 licences for the first 15 days of November, 60 for the rest: (40 x 15 + 60 x 15) / 30 = 50 licence-months x 12 = 600.
        var card = new RateCard("agency", 1, new DateOnly(2026, 1, 1), "USD", [new Charge("Licences", "licences", UnitPrice: 12m)],
            MinimumCommitment: 1_000m);
        var figures = Pricing.Month(2026, 11, [card], Daily("licences", 2026, 11, d => d <= 15 ? 40 : 60));
        figures.Lines.Select(l => (l.Description, l.Quantity, l.Amount)).ShouldBe([("Licences", 50m, 600m), ("Minimum commitment true-up", 1m, 400m)]);
        figures.Total.ShouldBe(1_000m);
    }

    [Fact]
    public void amounts_round_to_the_currencys_minor_unit_half_away_from_zero()
    {
        var yen = new RateCard("jp", 1, new DateOnly(2026, 1, 1), "JPY", [new Charge("API calls", "apiCalls", UnitPrice: 0.5m)], TaxRate: 0.10m);
        // 31 days x 3 calls = 93 calls x 0.5 = 46.5 yen -> 47; tax 4.7 -> 5.
        var figures = Pricing.Month(2026, 12, [yen], Daily("apiCalls", 2026, 12, _ => 3));
        (figures.Subtotal, figures.Tax, figures.Total).ShouldBe((47m, 5m, 52m));
        var dinar = yen with { Currency = "BHD", Charges = [new Charge("API calls", "apiCalls", UnitPrice: 0.00125m)] };
        // 93 x 0.00125 = 0.11625 -> 0.116 (three decimals); tax 0.0116 -> 0.012.
        (Pricing.Month(2026, 12, [dinar], Daily("apiCalls", 2026, 12, _ => 3)) is var d ? (d.Subtotal, d.Tax) : default).ShouldBe((0.116m, 0.012m));
    }

    [Fact]
    public void a_card_that_cannot_price_is_refused_with_each_field_named()
    {
        var card = new RateCard("", 1, new DateOnly(2026, 1, 1), "XXX",
            [new Charge("API", "apiCalls", PricingModels.Graduated, Tiers: [new(1_000, 0m), new(500, 1m)]), new Charge("API", "apiCalls", "cheap")], TaxRate: 1.5m);
        Pricing.Check(card).Select(e => (e.Field, e.Code)).ShouldBe([
            ("name", "required"), ("currency", "unknown-currency"), ("taxRate", "out-of-range"),
            ("charges[0].tiers", "open-ended"), ("charges[0].tiers[1]", "not-ascending"),
            ("charges[1].name", "invalid"), ("charges[1].model", "unknown-model"),
        ]);
        Pricing.Check(new RateCard("ok", 1, new DateOnly(2026, 1, 1), "EUR", [new Charge("API", "apiCalls", PricingModels.Volume, Tiers: ApiTiers)])).ShouldBeEmpty();
    }
}
