using System.Collections.Concurrent;
using Microsoft.AspNetCore.Authorization;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Organisations;
using TenantEvents.Quotas;
using TenantEvents.Tenants;
using Wolverine.Http;

namespace TenantEvents.Compute;

public sealed record SubmitComputeJob(long? Units, Guid? OrganisationId, string? Purpose);

/// <summary>A job as the API shows it.</summary>
public sealed record ComputeJobView(Guid Id, Guid TenantId, Guid? OrganisationId, Guid ReservationId, long Units, string State, DateTimeOffset QueuedAt,
    DateTimeOffset? StartedAt, DateTimeOffset? FinishedAt, double WorkerSeconds, int Slices, string? Reason, string? Purpose)
{
    public static ComputeJobView Of(ComputeJob j) => new(j.Id, j.Tenant, j.OrganisationId, j.ReservationId, j.Units, j.State, j.QueuedAt, j.StartedAt,
        j.FinishedAt, j.WorkerTime.TotalSeconds, j.Slices, j.Reason, j.Purpose);
}

/// <summary>
/// AI workloads as jobs on this instance's worker pool (<see cref="ComputePool"/>): a job reserves its units first (the
/// quota, the organisation's allocation and a hard budget decide as for any reservation), waits for a worker, runs,
/// and commits its units when done. A tenant's guaranteed workers follow its AI compute quota
/// (TenantEvents:ComputeUnitsPerWorker units a month per worker). Jobs are this instance's: a restart loses those
/// waiting, and their reservations expire, giving their units back.
/// </summary>
public sealed class ComputeJobs
{
    private readonly ConcurrentDictionary<Guid, ComputeJob> _jobs = new();
    private readonly TenantEventsOptions _options;
    private readonly QuotaPolicies _policies;
    private readonly AiComputeReservations _reservations;
    private readonly ILogger<ComputeJobs> _log;

    public ComputePool Pool { get; }

    public ComputeJobs(TenantEventsOptions options, QuotaPolicies policies, AiComputeReservations reservations, ILogger<ComputeJobs> log)
    {
        (_options, _policies, _reservations, _log) = (options, policies, reservations, log);
        Pool = new ComputePool(options.ComputeMaxWorkers, options.ComputeSlice, RunSliceAsync, CommitAsync);
        Telemetry.Meter.CreateObservableGauge("tenantevents.compute.workers.desired", () => Pool.Status().DesiredWorkers, "{worker}",
            "Workers the AI job pool wants now: every job running or waiting, within TenantEvents:ComputeMaxWorkers (scale worker replicas by it).");
        Telemetry.Meter.CreateObservableGauge("tenantevents.compute.workers.busy", () => Pool.Status().BusyWorkers, "{worker}", "Workers running a job slice.");
    }

    /// <summary>The most units one job may take (its work is bounded by it).</summary>
    public long MaxUnits => _options.ComputeMaxJobUnits;

    public ComputeJob? Find(Guid tenant, Guid id) => _jobs.TryGetValue(id, out var job) && job.Tenant == tenant ? job : null;

    /// <summary>Reserves the job's units and queues it; the refusal of the reservation (quota, allocation, budget) or of the queue's bound.</summary>
    public async Task<(ComputeJob? Job, Problem? Refusal)> SubmitAsync(TenantQuotas policy, Guid? organisation, long units, string? purpose, Actor actor,
        DateTimeOffset now, CancellationToken cancellation)
    {
        if (Pool.Waiting(policy.TenantId) >= _options.ComputeMaxQueuedPerTenant)
            return (null, Problem.LimitReached("compute-queue-full", "The tenant has as many jobs waiting as it may",
                $"At most {_options.ComputeMaxQueuedPerTenant} jobs of a tenant wait for a worker; submit more as these run.", _options.ComputeMaxQueuedPerTenant,
                nameof(TenantEventsOptions.ComputeMaxQueuedPerTenant), 429));
        // The reservation is the job's own (its purpose names the job): only the job commits it, nobody releases it under a
        // job that then runs for free (AiComputeEndpoints refuses to settle it by hand).
        var id = Guid.CreateVersion7();
        // Held for the wait and the run, with a margin (a job that yields waits again; one that cannot finish in time fails
        // at its next slice rather than run on units that expired).
        var work = _options.ComputePerUnit * units;
        var (reservation, refused) = await _reservations.ReserveAsync(policy, organisation, units, _options.ComputeJobMaxWait + work + TimeSpan.FromMinutes(1),
            JobPurpose + id, actor, cancellation);
        if (refused is not null) return (null, refused.ToProblem(403));
        var job = new ComputeJob(id, policy.TenantId, organisation, reservation!.Id, units, work, actor.ToString(), now)
        {
            Purpose = purpose, ReservedUntil = DateTimeOffset.UtcNow + (reservation.ExpiresAt - reservation.CreatedAt),
        };
        _jobs[job.Id] = job;
        if (Interlocked.Increment(ref _submitted) % 1_000 == 0) Forget();
        Pool.Submit(job, ComputeScheduler.Guaranteed(policy.Limit(QuotaKinds.AiCompute), _options.ComputeUnitsPerWorker));
        return (job, null);
    }

    /// <summary>The purpose of a job's own reservation (then the job's id); nobody else may reserve under it.</summary>
    public const string JobPurpose = "compute-job:";

    /// <summary>A slice of a job: first, its reservation must still be held (a job whose units expired waiting does not run); then the work.</summary>
    private async Task RunSliceAsync(ComputeJob job, TimeSpan length, CancellationToken cancellation)
    {
        if (DateTimeOffset.UtcNow + job.Remaining > job.ReservedUntil)
            throw new InvalidOperationException("its reservation would expire before it finished (it waited too long)");
        if (job.Slices == 0 && await _reservations.ReservationAsync(job.Tenant, job.ReservationId, cancellation) is not { State: "held" })
            throw new InvalidOperationException("its reservation is no longer held (it expired while the job waited)");
        await Task.Delay(length, cancellation);
    }

    /// <summary>Commits the job's units; false when they could not be (the job is failed, not done, and says so).</summary>
    private async Task<bool> CommitAsync(ComputeJob job)
    {
        try
        {
            if (await _policies.PolicyAsync(job.Tenant, CancellationToken.None, fresh: true) is not { } policy) return false;
            var settled = await _reservations.SettleAsync(policy, job.ReservationId, job.Units, CancellationToken.None);
            if (settled.Problem is not { } problem) return true;
            _log.LogWarning("Job {Job} of tenant {Tenant} ran, but its units were not committed: {Problem}", job.Id, job.Tenant, problem.Detail);
            return false;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            _log.LogWarning(e, "Job {Job} of tenant {Tenant} ran, but its units were not committed (the reservation expires by itself)", job.Id, job.Tenant);
            return false;
        }
    }

    /// <summary>Finished jobs are kept an hour for their callers to read.</summary>
    private long _submitted;

    private void Forget()
    {
        foreach (var (id, job) in _jobs)
            if (job.FinishedAt is { } done && DateTimeOffset.UtcNow - done > TimeSpan.FromHours(1)) _jobs.TryRemove(id, out _);
    }
}

public static class ComputeJobEndpoints
{
    /// <summary>
    /// Submits an AI job of so many units (compute.use at the organisation charged, at the root when none is named): its
    /// units are reserved at once (403 quota-exceeded or budget-exhausted as for a reservation), then it waits for a
    /// worker of the pool (202 with the job); done, its units are committed. 429 when the tenant has too many waiting.
    /// </summary>
    [WolverinePost("/api/tenants/{tenantId}/ai-compute/jobs", OperationId = "SubmitComputeJob")]
    [Authorize(Roles = OrgHttp.WriteRoles)]
    public static async Task<IResult> Post(Guid tenantId, SubmitComputeJob? command, HttpContext http, TenantStreams streams, OrganisationStore store,
        QuotaPolicies quotas, ComputeJobs jobs, CancellationToken cancellation)
    {
        var (refusal, entered) = await OrgHttp.ReadCore(http, streams, store, tenantId,
            (standing, graph) => (standing, AiComputeEndpoints.MayUseAt(standing, graph, command?.OrganisationId)), cancellation, writing: true);
        if (refusal is not null) return refusal;
        var (standing, forbidden) = entered;
        if (command is null) return Problem.Malformed("The body must be a JSON object: {\"units\": n, \"organisationId\": ...}.").ToResult();
        if (command.Units is not { } units || units < 1 || units > jobs.MaxUnits)
            return Problem.Validation("units", "out-of-range", $"a whole number of units from 1 to {jobs.MaxUnits:N0}.").ToResult();
        if (command.Purpose is { Length: > 200 }) return Problem.Validation("purpose", "too-long", "may be at most 200 characters.").ToResult();
        if (forbidden is not null) return forbidden.ToResult();
        if (await quotas.PolicyAsync(tenantId, cancellation) is not { } policy) return Problem.NotFound("tenant").ToResult();
        var (job, problem) = await jobs.SubmitAsync(policy, command.OrganisationId, units, command.Purpose, standing.Actor, streams.Now, cancellation);
        if (problem is not null) return problem.ToResult();
        http.Response.Headers.Location = $"/api/tenants/{tenantId}/ai-compute/jobs/{job!.Id}";
        return Results.Json(ComputeJobView.Of(job), Json.Options, statusCode: 202);
    }

    /// <summary>A job of the tenant (compute.use where it is charged; 404 otherwise, and for a job of another instance or past its hour).</summary>
    [WolverineGet("/api/tenants/{tenantId}/ai-compute/jobs/{jobId}", OperationId = "GetComputeJob")]
    [Authorize(Roles = OrgHttp.Roles)]
    public static async Task<IResult> Get(Guid tenantId, Guid jobId, HttpContext http, TenantStreams streams, OrganisationStore store, ComputeJobs jobs,
        CancellationToken cancellation)
    {
        var job = jobs.Find(tenantId, jobId);
        var (refusal, forbidden) = await OrgHttp.ReadCore(http, streams, store, tenantId,
            (standing, graph) => job is null ? Problem.NotFound("job") : AiComputeEndpoints.MayUseAt(standing, graph, job.OrganisationId), cancellation);
        if (refusal is not null) return refusal;
        if (forbidden is not null) return Problem.NotFound("job").ToResult();
        return Results.Json(ComputeJobView.Of(job!), Json.Options);
    }

    /// <summary>The pool as the platform's staff see it: workers desired (the autoscaler's metric) and busy, and each tenant's guarantee, running and waiting jobs.</summary>
    [WolverineGet("/api/ai-compute/pool", OperationId = "GetComputePool")]
    [Authorize(Roles = $"{Roles.PlatformAdmin},{Roles.Auditor},{Roles.Analyst},{Roles.PlatformApprover}")]
    public static IResult Pool(ComputeJobs jobs) => Results.Json(jobs.Pool.Status(), Json.Options);
}
