using TenantEvents.Infrastructure.Security;
using TenantEvents.Organisations;
using TenantEvents.Quotas;

namespace TenantEvents.Tests.Quotas;

/// <summary>The arithmetic of hierarchical allocation, on a tree: state -> county (A, B) -> station under A.</summary>
public class AllocationTreeTests
{
    private static readonly DateTimeOffset At = new(2026, 11, 28, 9, 0, 0, TimeSpan.Zero);
    private static readonly Guid State = Guid.CreateVersion7(), CountyA = Guid.CreateVersion7(), CountyB = Guid.CreateVersion7(),
        Station = Guid.CreateVersion7(), Unit = Guid.CreateVersion7();
    private const string Kind = QuotaKinds.AiCompute;

    private static AccessGraph Graph(params (Guid Org, long Guaranteed, long? Cap)[] shares)
    {
        var graph = new AccessGraph();
        graph.Apply(new OrganisationCreated(State, null, "State", "agency", null, Actor.System, At));
        graph.Apply(new OrganisationCreated(CountyA, State, "A", "county", null, Actor.System, At));
        graph.Apply(new OrganisationCreated(CountyB, State, "B", "county", null, Actor.System, At));
        graph.Apply(new OrganisationCreated(Station, CountyA, "Station", "station", null, Actor.System, At));
        graph.Apply(new OrganisationCreated(Unit, Station, "Unit", "unit", null, Actor.System, At));
        foreach (var (org, g, cap) in shares) graph.Apply(new QuotaAllocated(org, Kind, g, cap, Actor.System, At));
        return graph;
    }

    [Fact]
    public void guarantees_directly_under_the_tenant_may_add_up_to_its_limit_and_not_one_more()
    {
        AllocationTree.Build(Graph((CountyA, 60, null), (CountyB, 40, null)), Kind, 100).Check().ShouldBeNull();
        var problem = AllocationTree.Build(Graph((CountyA, 61, null), (CountyB, 40, null)), Kind, 100).Check()!;
        problem.Status.ShouldBe(409);
        problem.Code.ShouldBe("allocation-exceeds-parent");
        problem.Extensions["allocated"].ShouldBe(101L);
        problem.Extensions["available"].ShouldBe(100L);
        problem.Extensions["organisationId"].ShouldBeNull();
    }

    [Fact]
    public void a_share_is_carved_out_of_the_nearest_allocated_ancestor_skipping_unallocated_levels()
    {
        // The unit (two levels below county A, the station unallocated) draws on A's 30.
        var tree = AllocationTree.Build(Graph((CountyA, 30, null), (Unit, 30, null)), Kind, 100);
        tree.AllocatedParentOf(Unit).ShouldBe(CountyA);
        tree.AnchorOf(Station).ShouldBe(CountyA);
        tree.AnchorOf(CountyB).ShouldBeNull();
        tree.Check().ShouldBeNull();
        var over = AllocationTree.Build(Graph((CountyA, 30, null), (Unit, 31, null)), Kind, 100).Check()!;
        over.Extensions["organisationId"].ShouldBe(CountyA);
        over.Extensions["allocated"].ShouldBe(31L);
    }

    [Fact]
    public void what_is_guaranteed_to_one_organisation_is_never_free_to_another()
    {
        var tree = AllocationTree.Build(Graph((CountyA, 60, null)), Kind, 100);
        // Nothing used anywhere: B (unallocated) may use only what A is not guaranteed.
        var loads = tree.Loads(new Dictionary<Guid, long>());
        tree.Free(CountyB, loads).ShouldBe(40);
        tree.Free(Guid.Empty, loads).ShouldBe(40);
        tree.Free(CountyA, loads).ShouldBe(100);
        // B used its 40: A still has its whole 60, nobody else anything.
        loads = tree.Loads(new Dictionary<Guid, long> { [CountyB] = 40 });
        tree.Free(CountyB, loads).ShouldBe(0);
        tree.Free(CountyA, loads).ShouldBe(60);
        // A's station (below A) uses A's share.
        loads = tree.Loads(new Dictionary<Guid, long> { [CountyB] = 40, [Station] = 59 });
        tree.Free(CountyA, loads).ShouldBe(1);
        tree.Free(Unit, loads).ShouldBe(1);
    }

    [Fact]
    public void an_organisation_may_use_free_capacity_above_its_guarantee_up_to_its_cap()
    {
        var tree = AllocationTree.Build(Graph((CountyA, 20, 50)), Kind, 100);
        var loads = tree.Loads(new Dictionary<Guid, long> { [CountyA] = 20 });
        tree.Free(CountyA, loads).ShouldBe(30); // the cap, not the 80 free at the top
        loads = tree.Loads(new Dictionary<Guid, long> { [CountyA] = 20, [CountyB] = 70 });
        tree.Free(CountyA, loads).ShouldBe(10); // what the tenant has left
        tree.Free(CountyB, loads).ShouldBe(10);
    }

    [Fact]
    public void overflow_of_a_child_beyond_its_guarantee_comes_out_of_its_parents_free_share()
    {
        var tree = AllocationTree.Build(Graph((CountyA, 50, null), (Station, 10, null)), Kind, 100);
        var loads = tree.Loads(new Dictionary<Guid, long> { [Station] = 25 });
        loads[Station].ShouldBe(25);
        loads[CountyA].ShouldBe(25); // max(10, 25)
        loads[Guid.Empty].ShouldBe(50); // max(50, 25)
        tree.Free(Station, loads).ShouldBe(75); // 25 more within A's 50, then the tenant's free 50
        tree.Free(CountyB, loads).ShouldBe(50);
    }

    [Fact]
    public void moving_an_allocated_subtree_under_an_ancestor_it_does_not_fit_is_refused()
    {
        var graph = Graph((CountyA, 10, null), (CountyB, 50, null), (Station, 5, null));
        QuotaDecisions.CheckMove(graph, Station, CountyB, _ => 100).ShouldBeNull();
        // The unit's 48 fits in A's 50; moved (with its station) under B's 10, it would not.
        var fits = Graph((CountyA, 50, null), (CountyB, 10, null), (Unit, 48, null));
        AllocationTree.Build(fits, Kind, 100).Check().ShouldBeNull();
        QuotaDecisions.CheckMove(fits, Station, CountyB, _ => 100)!.Extensions["organisationId"].ShouldBe(CountyB);
    }

    [Fact]
    public void bad_allocation_figures_and_unknown_kinds_are_named()
    {
        QuotaDecisions.Validate("gpuHours", 1, null).Single().Code.ShouldBe("unknown-quota-kind");
        QuotaDecisions.Validate(QuotaKinds.Licences, 1, null).Single().Code.ShouldBe("not-allocatable");
        QuotaDecisions.Validate(Kind, -1, null).Single().Code.ShouldBe("negative");
        QuotaDecisions.Validate(Kind, null, null).Single().Code.ShouldBe("required");
        QuotaDecisions.Validate(Kind, 10, 9).Single().Code.ShouldBe("below-guaranteed");
        QuotaDecisions.Validate(Kind, long.MaxValue, null).Single().Code.ShouldBe("too-large");
        QuotaDecisions.Validate(Kind, 10, 10).ShouldBeEmpty();
    }

    [Fact]
    public void periods_are_utc_days_and_calendar_months()
    {
        var late = new DateTimeOffset(2026, 11, 30, 23, 59, 59, TimeSpan.FromHours(-5)); // 2026-12-01T04:59:59Z
        QuotaKinds.PeriodAt(QuotaKinds.ApiCallsPerDay, late).ShouldBe((new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero),
            new DateTimeOffset(2026, 12, 2, 0, 0, 0, TimeSpan.Zero)));
        QuotaKinds.PeriodAt(QuotaKinds.AiCompute, new DateTimeOffset(2026, 12, 31, 23, 0, 0, TimeSpan.Zero)).ShouldBe(
            (new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero), new DateTimeOffset(2027, 1, 1, 0, 0, 0, TimeSpan.Zero)));
    }
}
