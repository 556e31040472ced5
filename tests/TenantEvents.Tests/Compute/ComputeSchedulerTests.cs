using TenantEvents.Compute;

namespace TenantEvents.Tests.Compute;

/// <summary>The worker pool's decisions: guarantees first, idle guarantees lent, lent ones taken back at a slice's end.</summary>
public class ComputeSchedulerTests
{
    private static readonly Guid A = Guid.Parse("00000000-0000-0000-0000-00000000000a"), B = Guid.Parse("00000000-0000-0000-0000-00000000000b"),
        C = Guid.Parse("00000000-0000-0000-0000-00000000000c");

    [Fact]
    public void a_tenant_below_its_guarantee_gets_the_next_worker_before_anyone_borrows()
    {
        // C floods (6 running on a guarantee of 2); B waits with 0 of its 2; A waits with 1 of its 2.
        ComputeScheduler.Next([new(A, 2, 1, 5), new(B, 2, 0, 1), new(C, 2, 6, 100)]).ShouldBe(B);
        ComputeScheduler.Next([new(A, 2, 1, 5), new(B, 2, 2, 1), new(C, 2, 6, 100)]).ShouldBe(A);
    }

    [Fact]
    public void idle_guarantees_are_lent_to_whoever_has_the_fewest_workers_for_its_guarantee()
    {
        // Nobody is owed: A and C both borrow; A has 2 on a guarantee of 2, C 3 on a guarantee of 1.
        ComputeScheduler.Next([new(A, 2, 2, 4), new(B, 2, 0, 0), new(C, 1, 3, 9)]).ShouldBe(A);
        ComputeScheduler.Next([new(A, 2, 0, 0), new(B, 2, 0, 0)]).ShouldBeNull();
    }

    [Fact]
    public void a_borrowed_worker_goes_back_at_its_slice_end_only_when_someone_is_owed_one()
    {
        ComputeScheduler.Yield([new(C, 2, 6, 100), new(B, 2, 0, 1)], C).ShouldBeTrue();
        ComputeScheduler.Yield([new(C, 2, 6, 100), new(B, 2, 0, 0)], C).ShouldBeFalse();   // B idle: C keeps it
        ComputeScheduler.Yield([new(C, 2, 2, 100), new(B, 2, 0, 1)], C).ShouldBeFalse();   // C within its own guarantee
    }

    [Fact]
    public void guarantees_that_add_up_to_more_than_the_pool_share_it_in_proportion()
    {
        // Two tenants guaranteed 8 each on a pool of 8: A took all 8 first; B is owed, so A gives back down to its 4.
        ComputeScheduler.Yield([new(A, 8, 8, 5), new(B, 8, 0, 1)], A, workers: 8).ShouldBeTrue();
        ComputeScheduler.Yield([new(A, 8, 4, 5), new(B, 8, 4, 1)], A, workers: 8).ShouldBeFalse();
        ComputeScheduler.Next([new(A, 8, 5, 5), new(B, 8, 3, 1)]).ShouldBe(B);   // the fewer of its guarantee running first
    }

    [Fact]
    public void the_pool_wants_a_worker_per_job_running_or_waiting_within_its_bounds_and_guarantees_follow_the_quota()
    {
        ComputeScheduler.Desired([new(A, 2, 1, 3), new(B, 2, 0, 0)], 0, 8).ShouldBe(4);
        ComputeScheduler.Desired([new(A, 2, 1, 30)], 0, 8).ShouldBe(8);
        ComputeScheduler.Desired([], 1, 8).ShouldBe(1);
        ComputeScheduler.Guaranteed(50_000, 25_000).ShouldBe(2);
        ComputeScheduler.Guaranteed(50_001, 25_000).ShouldBe(3);
        ComputeScheduler.Guaranteed(0, 25_000).ShouldBe(0);
    }
}
