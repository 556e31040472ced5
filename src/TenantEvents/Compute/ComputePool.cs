using System.Diagnostics;

namespace TenantEvents.Compute;

/// <summary>An AI job in the pool: its tenant, what it reserved, its work, and what became of it.</summary>
public sealed class ComputeJob(Guid id, Guid tenant, Guid? organisation, Guid reservation, long units, TimeSpan work, string actor, DateTimeOffset queuedAt)
{
    public Guid Id { get; } = id;
    public Guid Tenant { get; } = tenant;
    public Guid? OrganisationId { get; } = organisation;
    public Guid ReservationId { get; } = reservation;
    public long Units { get; } = units;
    public TimeSpan Work { get; } = work;
    public string Actor { get; } = actor;
    public DateTimeOffset QueuedAt { get; } = queuedAt;
    public string State { get; internal set; } = "queued";
    public DateTimeOffset? StartedAt { get; internal set; }
    public DateTimeOffset? FinishedAt { get; internal set; }
    /// <summary>Worker time spent on it so far.</summary>
    public TimeSpan WorkerTime { get; internal set; }
    public int Slices { get; internal set; }
    /// <summary>Why a job failed.</summary>
    public string? Reason { get; internal set; }
    /// <summary>What the job is for (as its submitter said).</summary>
    public string? Purpose { get; init; }
    /// <summary>Until when its units are reserved (wall clock): a slice that would end after it does not start.</summary>
    public DateTimeOffset ReservedUntil { get; init; } = DateTimeOffset.MaxValue;
    public TimeSpan Remaining { get; internal set; }
    internal readonly TaskCompletionSource Done = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes when the job has run (or failed).</summary>
    public Task Completion => Done.Task;
}

/// <summary>What the pool looks like now: workers desired (what an autoscaler reads) and busy, and each tenant's standing.</summary>
public sealed record PoolStatus(int DesiredWorkers, int BusyWorkers, int MaxWorkers, IReadOnlyList<TenantPoolStatus> Tenants);

public sealed record TenantPoolStatus(Guid TenantId, int Guaranteed, int Running, int Queued, double WorkerSeconds);

/// <summary>
/// The worker pool of AI jobs on this instance (decisions: <see cref="ComputeScheduler"/>). A job runs in slices of at
/// most <paramref name="slice"/> on one worker; between slices the scheduler may give the worker back (a lent guarantee
/// is reclaimed) and hands free workers out. The pool uses at most <paramref name="maxWorkers"/> at once and as many as
/// its jobs want below that: its desired size is the metric a Kubernetes autoscaler scales worker replicas by. The work
/// itself is <paramref name="work"/> (the service has no AI model of its own: by default a slice holds its worker for
/// its length, standing in for the model's run).
/// </summary>
/// <param name="completed">Settles a job that ran to its end; false: it could not be (the job is then failed, not done).</param>
public sealed class ComputePool(int maxWorkers, TimeSpan slice, Func<ComputeJob, TimeSpan, CancellationToken, Task>? work = null,
    Func<ComputeJob, Task<bool>>? completed = null)
{
    private sealed class TenantQueue
    {
        public int Guaranteed;
        public int Running;
        public readonly LinkedList<ComputeJob> Waiting = new();
        public TimeSpan WorkerTime;
    }

    private readonly object _gate = new();
    private readonly Dictionary<Guid, TenantQueue> _tenants = new();
    private readonly CancellationTokenSource _stopping = new();
    private int _busy;

    public int MaxWorkers => maxWorkers;

    /// <summary>Queues a job of a tenant with this many guaranteed workers (from its quota, given again with each job).</summary>
    public void Submit(ComputeJob job, int guaranteed)
    {
        lock (_gate)
        {
            var queue = Queue(job.Tenant);
            // A guarantee is at most the pool: beyond it, the guaranteed share it in proportion (ComputeScheduler.Next).
            queue.Guaranteed = Math.Min(guaranteed, maxWorkers);
            job.Remaining = job.Work;
            queue.Waiting.AddLast(job);
        }
        Dispatch();
    }

    /// <summary>Jobs a tenant has waiting (the bound on what it may queue is the caller's).</summary>
    public int Waiting(Guid tenant)
    {
        lock (_gate) return _tenants.TryGetValue(tenant, out var q) ? q.Waiting.Count : 0;
    }

    public PoolStatus Status()
    {
        lock (_gate)
        {
            var demand = Demand();
            return new PoolStatus(ComputeScheduler.Desired(demand, 0, maxWorkers), _busy, maxWorkers,
                _tenants.OrderBy(t => t.Key).Select(t => new TenantPoolStatus(t.Key, t.Value.Guaranteed, t.Value.Running, t.Value.Waiting.Count,
                    t.Value.WorkerTime.TotalSeconds)).ToList());
        }
    }

    /// <summary>Worker time a tenant has had (for the bench and the metrics).</summary>
    public TimeSpan WorkerTime(Guid tenant)
    {
        lock (_gate) return _tenants.TryGetValue(tenant, out var q) ? q.WorkerTime : TimeSpan.Zero;
    }

    private TenantQueue Queue(Guid tenant) => _tenants.TryGetValue(tenant, out var q) ? q : _tenants[tenant] = new TenantQueue();

    private List<TenantDemand> Demand() => _tenants.Select(t => new TenantDemand(t.Key, t.Value.Guaranteed, t.Value.Running, t.Value.Waiting.Count)).ToList();

    /// <summary>Hands free workers to the jobs the scheduler chooses, up to the pool's bound.</summary>
    private void Dispatch()
    {
        while (true)
        {
            ComputeJob job;
            lock (_gate)
            {
                if (_busy >= maxWorkers || _stopping.IsCancellationRequested) return;
                if (ComputeScheduler.Next(Demand()) is not { } tenant) return;
                var queue = _tenants[tenant];
                job = queue.Waiting.First!.Value;
                queue.Waiting.RemoveFirst();
                queue.Running++;
                _busy++;
            }
            _ = Task.Run(() => RunAsync(job));
        }
    }

    /// <summary>One worker's run of a job: slice after slice, until it is done or the scheduler takes the worker back.</summary>
    private async Task RunAsync(ComputeJob job)
    {
        var run = work ?? ((_, length, cancellation) => Task.Delay(length, cancellation));
        try
        {
            while (true)
            {
                var length = job.Remaining < slice ? job.Remaining : slice;
                var clock = Stopwatch.StartNew();
                lock (_gate)
                {
                    job.State = "running";
                    job.StartedAt ??= DateTimeOffset.UtcNow;
                }
                try
                {
                    await run(job, length, _stopping.Token);
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    lock (_gate)
                    {
                        Account(job, clock.Elapsed);
                        Release(job, yielded: false);
                        job.State = "failed";
                        job.Reason = e is OperationCanceledException ? "the pool stopped" : e.Message;
                        job.FinishedAt = DateTimeOffset.UtcNow;
                    }
                    job.Done.TrySetResult();
                    return;
                }
                bool finished, yielded;
                lock (_gate)
                {
                    Account(job, clock.Elapsed);
                    job.Remaining -= length;
                    finished = job.Remaining <= TimeSpan.Zero;
                    yielded = !finished && ComputeScheduler.Yield(Demand(), job.Tenant, maxWorkers);
                    if (finished || yielded) Release(job, yielded);
                }
                if (yielded) return;
                if (!finished) continue;
                Dispatch();   // the worker is free already: it does not wait for the commit
                var settled = false;
                try
                {
                    settled = completed is null || await completed(job);
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    job.Reason = e.Message;
                }
                lock (_gate)
                {
                    job.State = settled ? "done" : "failed";
                    job.Reason ??= settled ? null : "its units could not be committed";
                    job.FinishedAt = DateTimeOffset.UtcNow;
                }
                job.Done.TrySetResult();
                return;
            }
        }
        finally
        {
            // Whatever became of this run, the worker it held goes to the next job.
            Dispatch();
        }
    }

    /// <summary>The worker goes back to the pool (under the lock); a yielded job waits first in its tenant's line.</summary>
    private void Release(ComputeJob job, bool yielded)
    {
        var queue = _tenants[job.Tenant];
        queue.Running--;
        _busy--;
        if (!yielded) return;
        job.State = "queued";
        queue.Waiting.AddFirst(job);
    }

    private void Account(ComputeJob job, TimeSpan spent)
    {
        job.WorkerTime += spent;
        job.Slices++;
        _tenants[job.Tenant].WorkerTime += spent;
    }

    public void Stop() => _stopping.Cancel();
}
