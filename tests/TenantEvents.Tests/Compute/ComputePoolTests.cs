using System.Collections.Concurrent;
using TenantEvents.Compute;

namespace TenantEvents.Tests.Compute;

/// <summary>
/// The pool with slices the test lets run one at a time (no timing): a flooding tenant borrows idle workers and gives
/// one back at its next slice's end when another tenant is owed it.
/// </summary>
public class ComputePoolTests
{
    private sealed class Slices
    {
        private readonly ConcurrentQueue<(Guid Tenant, TaskCompletionSource Go)> _started = new();
        private readonly SemaphoreSlim _signal = new(0);

        public async Task Run(ComputeJob job, TimeSpan length, CancellationToken cancellation)
        {
            var go = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _started.Enqueue((job.Tenant, go));
            _signal.Release();
            await go.Task.WaitAsync(cancellation);
        }

        /// <summary>The next slice to start (waits for it), to be let run with its Go.</summary>
        public async Task<(Guid Tenant, TaskCompletionSource Go)> NextAsync()
        {
            await _signal.WaitAsync(TimeSpan.FromSeconds(10));
            _started.TryDequeue(out var slice).ShouldBeTrue("no slice started");
            return slice;
        }
    }

    private static ComputeJob Job(Guid tenant, int slices) =>
        new(Guid.CreateVersion7(), tenant, null, Guid.CreateVersion7(), 1, TimeSpan.FromSeconds(slices), "test", DateTimeOffset.UtcNow);

    [Fact]
    public async Task a_flooding_tenant_borrows_the_idle_workers_and_gives_one_back_at_its_next_slice_when_another_tenant_is_owed_it()
    {
        var slices = new Slices();
        var pool = new ComputePool(maxWorkers: 2, slice: TimeSpan.FromSeconds(1), work: slices.Run);
        var (flood, quiet) = (Guid.Parse("00000000-0000-0000-0000-0000000000f1"), Guid.Parse("00000000-0000-0000-0000-0000000000a1"));
        var floodJobs = Enumerable.Range(0, 5).Select(_ => Job(flood, 3)).ToList();
        foreach (var job in floodJobs) pool.Submit(job, guaranteed: 1);
        var first = await slices.NextAsync();
        var second = await slices.NextAsync();
        (first.Tenant, second.Tenant).ShouldBe((flood, flood));       // both workers: one its own, one lent
        pool.Status().DesiredWorkers.ShouldBe(2);

        var quietJob = Job(quiet, 1);
        pool.Submit(quietJob, guaranteed: 1);                            // owed a worker: none is free
        pool.Status().Tenants.Single(t => t.TenantId == quiet).Queued.ShouldBe(1);
        first.Go.SetResult();                                             // the flood's slice ends: its worker goes back
        var third = await slices.NextAsync();
        third.Tenant.ShouldBe(quiet);
        third.Go.SetResult();
        await quietJob.Completion.WaitAsync(TimeSpan.FromSeconds(10));
        quietJob.State.ShouldBe("done");
        // With nobody owed, the flood takes the worker back and keeps its workers slice after slice.
        var fourth = await slices.NextAsync();
        fourth.Tenant.ShouldBe(flood);
        pool.Status().Tenants.Single(t => t.TenantId == flood).Running.ShouldBe(2);
        pool.Stop();
        second.Go.TrySetResult();
        fourth.Go.TrySetResult();
    }

    [Fact]
    public async Task a_job_runs_slice_by_slice_to_its_end_and_is_then_complete()
    {
        var slices = new Slices();
        var completed = new TaskCompletionSource<ComputeJob>(TaskCreationOptions.RunContinuationsAsynchronously);
        var pool = new ComputePool(maxWorkers: 1, slice: TimeSpan.FromSeconds(1), work: slices.Run, completed: j => { completed.TrySetResult(j); return Task.FromResult(true); });
        var job = Job(Guid.CreateVersion7(), 3);
        pool.Submit(job, guaranteed: 0);
        for (var i = 0; i < 3; i++) (await slices.NextAsync()).Go.SetResult();
        (await completed.Task.WaitAsync(TimeSpan.FromSeconds(10))).ShouldBe(job);
        job.Slices.ShouldBe(3);
        pool.Status().BusyWorkers.ShouldBe(0);
        pool.Status().DesiredWorkers.ShouldBe(0);
    }
}
