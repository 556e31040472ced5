using Microsoft.AspNetCore.Authorization;
using TenantEvents.Infrastructure;
using TenantEvents.Organisations;
using TenantEvents.Tenants;
using Wolverine.Http;

namespace TenantEvents.Quotas;

public sealed record ReserveAiCompute(long? Units, Guid? OrganisationId, int? LifetimeSeconds, string? Purpose);

public sealed record CommitAiCompute(long? Units);

/// <summary>
/// AI compute: reserve units before a workload runs (refused when the month's quota, the organisation's cap or another
/// organisation's guarantee leaves too little), then commit what was used (the rest is released) or release it all.
/// A reservation not settled by its expiry gives its units back by itself. Needs compute.use at the organisation
/// charged (at the root when none is named); a service account needs the compute.use scope.
/// </summary>
public static class AiComputeEndpoints
{
    public const string Permission = "compute.use";

    [WolverinePost("/api/tenants/{tenantId}/ai-compute/reservations", OperationId = "ReserveAiCompute")]
    [Authorize(Roles = OrgHttp.WriteRoles)]
    public static async Task<IResult> Reserve(Guid tenantId, ReserveAiCompute? command, HttpContext http, TenantStreams streams, OrganisationStore store,
        QuotaPolicies quotas, AiComputeReservations reservations, CancellationToken cancellation)
    {
        // One look at the graph: the caller's standing in the tenant, and whether it may use compute where it asks to.
        var (refusal, entered) = await OrgHttp.ReadCore(http, streams, store, tenantId,
            (standing, graph) => (standing, MayUseAt(standing, graph, command?.OrganisationId)), cancellation, writing: true);
        if (refusal is not null) return refusal;
        var (standing, forbidden) = entered;
        if (command is null) return Problem.Malformed("The body must be a JSON object: {\"units\": n}.").ToResult();
        var errors = new List<FieldError>();
        if (command.Units is not { } units || units < 1) errors.Add(new FieldError("units", "out-of-range", "must be a whole number of units, 1 or more."));
        else if (units > QuotaKinds.MaximumOf(QuotaKinds.AiCompute))
            errors.Add(new FieldError("units", "too-large", $"may be at most {QuotaKinds.MaximumOf(QuotaKinds.AiCompute):N0}."));
        if (command.LifetimeSeconds is < 1 or > 3600) errors.Add(new FieldError("lifetimeSeconds", "out-of-range", "must be from 1 to 3600 seconds."));
        if (command.Purpose is { Length: > 200 }) errors.Add(new FieldError("purpose", "too-long", "may be at most 200 characters."));
        if (command.Purpose?.StartsWith(Compute.ComputeJobs.JobPurpose, StringComparison.Ordinal) == true)
            errors.Add(new FieldError("purpose", "reserved", "is not a compute job's (submit jobs at /ai-compute/jobs)."));
        if (errors.Count > 0) return Problem.Validation(errors).ToResult();
        if (forbidden is not null) return forbidden.ToResult();
        var policy = await quotas.PolicyAsync(tenantId, cancellation);
        if (policy is null) return Problem.NotFound("tenant").ToResult();
        var lifetime = command.LifetimeSeconds is { } s ? TimeSpan.FromSeconds(s) : streams.Options.AiReservationLifetime;
        var (reservation, refused) = await reservations.ReserveAsync(policy, command.OrganisationId, command.Units!.Value, lifetime, command.Purpose,
            standing.Actor, cancellation);
        if (refused is not null) return refused.ToProblem(403).ToResult();
        return Results.Created($"/api/tenants/{tenantId}/ai-compute/reservations/{reservation!.Id}", reservation);
    }

    [WolverineGet("/api/tenants/{tenantId}/ai-compute/reservations/{reservationId}", OperationId = "GetAiComputeReservation")]
    [Authorize(Roles = OrgHttp.Roles)]
    public static async Task<IResult> Get(Guid tenantId, Guid reservationId, HttpContext http, TenantStreams streams, OrganisationStore store,
        QuotaPolicies quotas, AiComputeReservations reservations, CancellationToken cancellation)
    {
        var (standing, refusal) = await OrgHttp.Enter(http, streams, store, tenantId, writing: false, cancellation);
        if (refusal is not null) return refusal;
        var reservation = await reservations.ReservationAsync(tenantId, reservationId, cancellation);
        if (reservation is null) return Problem.NotFound("reservation").ToResult();
        if (!standing!.ReadEverything && await Authorise(store, standing, tenantId, reservation.OrganisationId, cancellation) is not null)
            return Problem.NotFound("reservation").ToResult();
        return Results.Json(reservation, Json.Options);
    }

    [WolverinePost("/api/tenants/{tenantId}/ai-compute/reservations/{reservationId}/commit", OperationId = "CommitAiCompute")]
    [Authorize(Roles = OrgHttp.WriteRoles)]
    public static async Task<IResult> Commit(Guid tenantId, Guid reservationId, CommitAiCompute? command, HttpContext http, TenantStreams streams,
        OrganisationStore store, QuotaPolicies quotas, AiComputeReservations reservations, CancellationToken cancellation)
    {
        if (command is null) return Problem.Malformed("The body must be a JSON object: {\"units\": n}.").ToResult();
        if (command.Units is not { } units || units < 0)
            return Problem.Validation("units", "out-of-range", "must be the whole number of units used, 0 or more.").ToResult();
        return await Settle(tenantId, reservationId, units, http, streams, store, quotas, reservations, cancellation);
    }

    [WolverinePost("/api/tenants/{tenantId}/ai-compute/reservations/{reservationId}/release", OperationId = "ReleaseAiCompute")]
    [Authorize(Roles = OrgHttp.WriteRoles)]
    public static Task<IResult> Release(Guid tenantId, Guid reservationId, HttpContext http, TenantStreams streams, OrganisationStore store,
        QuotaPolicies quotas, AiComputeReservations reservations, CancellationToken cancellation) =>
        Settle(tenantId, reservationId, null, http, streams, store, quotas, reservations, cancellation);

    private static async Task<IResult> Settle(Guid tenantId, Guid reservationId, long? units, HttpContext http, TenantStreams streams,
        OrganisationStore store, QuotaPolicies quotas, AiComputeReservations reservations, CancellationToken cancellation)
    {
        var (standing, refusal) = await OrgHttp.Enter(http, streams, store, tenantId, writing: true, cancellation);
        if (refusal is not null) return refusal;
        var existing = await reservations.ReservationAsync(tenantId, reservationId, cancellation);
        // Someone who may not use compute where the reservation is charged does not learn that it exists.
        if (existing is null || await Authorise(store, standing!, tenantId, existing.OrganisationId, cancellation) is not null)
            return Problem.NotFound("reservation").ToResult();
        // A job's reservation is the job's to commit: released by hand, the job would run on units nobody pays for.
        if (existing.Purpose?.StartsWith(Compute.ComputeJobs.JobPurpose, StringComparison.Ordinal) == true)
            return new Problem("reservation-of-a-job", 409, "This reservation belongs to a compute job",
                "The job commits its units when it has run; its reservation is not settled by hand.").ToResult();
        var policy = await quotas.PolicyAsync(tenantId, cancellation);
        if (policy is null) return Problem.NotFound("tenant").ToResult();
        var settled = await reservations.SettleAsync(policy, reservationId, units, cancellation);
        return settled.Problem is { } problem ? problem.ToResult() : Results.Json(settled.Reservation, Json.Options);
    }

    /// <summary>404 for an organisation the caller cannot see, 403 without compute.use there (at the root when none is named).</summary>
    public static Problem? MayUseAt(Standing standing, AccessGraph graph, Guid? organisation)
    {
        if (organisation is { } org) return OrgHttp.Authorise(standing, graph, Permission, org);
        if (graph.Root is not { } root) return Problem.NotFound("organisation");
        return standing.Can(graph, Permission, root) ? null
            : Problem.Forbidden($"Reserving for the tenant as a whole needs {Permission} at its root organisation.").With("permission", Permission);
    }

    /// <summary><see cref="MayUseAt"/> on the graph as it is now (for a reservation read after the caller was let in).</summary>
    private static Task<Problem?> Authorise(OrganisationStore store, Standing standing, Guid tenantId, Guid? organisation, CancellationToken cancellation) =>
        store.ReadAsync(tenantId, graph => MayUseAt(standing, graph, organisation), cancellation);
}
