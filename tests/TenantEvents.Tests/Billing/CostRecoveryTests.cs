using TenantEvents.Billing;

namespace TenantEvents.Tests.Billing;

/// <summary>Shared costs split among organisations, recovered in full, in part or shown only, and rolled up the tree (figures by hand).</summary>
public class CostRecoveryTests
{
    private static readonly Guid A = Guid.Parse("00000000-0000-0000-0000-00000000000a");
    private static readonly Guid B = Guid.Parse("00000000-0000-0000-0000-00000000000b");
    private static readonly Guid C = Guid.Parse("00000000-0000-0000-0000-00000000000c");

    [Fact]
    public void an_even_split_adds_up_to_the_cent_and_the_cent_left_over_goes_first_in_order()
    {
        var (shares, errors) = CostRecovery.Split("EUR", 100m, SplitModels.Even, [(A, 0), (B, 0), (C, 0)], RecoveryModels.Full);
        errors.ShouldBeEmpty();
        shares!.Select(s => s.Charged).ShouldBe([33.34m, 33.33m, 33.33m]);
        shares!.Sum(s => s.Charged).ShouldBe(100m);
    }

    [Fact]
    public void a_proportional_split_follows_use_and_a_fixed_one_its_percentages()
    {
        // 1,000 by use 1:2:3 = 166.666.., 333.333.., 500: the cent left over goes to the largest fraction (A's .666 over B's .333).
        CostRecovery.Split("EUR", 1_000m, SplitModels.Proportional, [(A, 1), (B, 2), (C, 3)], RecoveryModels.Full).Shares!
            .Select(s => s.Charged).ShouldBe([166.67m, 333.33m, 500.00m]);
        CostRecovery.Split("JPY", 1_000m, SplitModels.Fixed, [(A, 50), (B, 30), (C, 20)], RecoveryModels.Full).Shares!
            .Select(s => s.Charged).ShouldBe([500m, 300m, 200m]);
    }

    [Fact]
    public void partial_recovery_charges_what_the_subsidy_leaves_and_showback_charges_nothing()
    {
        // 25 % subsidised: 300 shown evenly as 100 each, 225 charged as 75 each.
        var partial = CostRecovery.Split("USD", 300m, SplitModels.Even, [(A, 0), (B, 0), (C, 0)], RecoveryModels.Partial, subsidy: 0.25m).Shares!;
        partial.Select(s => (s.Shown, s.Charged)).ShouldBe([(100m, 75m), (100m, 75m), (100m, 75m)]);
        CostRecovery.Split("USD", 300m, SplitModels.Even, [(A, 0), (B, 0)], RecoveryModels.Showback).Shares!
            .Select(s => (s.Shown, s.Charged)).ShouldBe([(150m, 0m), (150m, 0m)]);
    }

    [Fact]
    public void a_split_that_cannot_be_made_is_refused_with_each_field_named()
    {
        CostRecovery.Split("EUR", 10m, SplitModels.Fixed, [(A, 50), (B, 30)], RecoveryModels.Partial, subsidy: 1.5m).Errors.Select(e => e.Code)
            .ShouldBe(["not-100", "out-of-range"]);
        CostRecovery.Split("EUR", 10m, SplitModels.Proportional, [(A, 0), (B, 0)], "most").Errors.Select(e => e.Code).ShouldBe(["no-use", "unknown-recovery"]);
    }

    [Fact]
    public void totals_roll_up_the_tree_and_the_root_holds_the_tenants_whole()
    {
        // root -> A -> B; root -> C.
        var root = Guid.Parse("00000000-0000-0000-0000-000000000001");
        var parents = new Dictionary<Guid, Guid?> { [root] = null, [A] = root, [B] = A, [C] = root };
        var own = new Dictionary<Guid, decimal> { [A] = 10m, [B] = 5m, [C] = 2.5m, [root] = 1m };
        var totals = CostRecovery.RollUp(parents, own);
        (totals[B], totals[A], totals[C], totals[root]).ShouldBe((5m, 15m, 2.5m, 18.5m));
        totals[root].ShouldBe(own.Values.Sum());
    }
}
