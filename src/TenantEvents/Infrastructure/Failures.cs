using JasperFx;
using Npgsql;
using TenantEvents.Keys;

namespace TenantEvents.Infrastructure;

/// <summary>
/// A refusal found deep inside a read (a bound reached half-way, e.g. a time-travel replay): answered with its problem,
/// like a refusal returned by an endpoint. Not for control flow that an endpoint can decide up front.
/// </summary>
public sealed class RefusedException(Problem problem) : Exception(problem.Detail)
{
    public Problem Problem { get; } = problem;
}

/// <summary>Marten reports a batch's failures one by one or bundled in an AggregateException; look through both.</summary>
public static class Failures
{
    public static bool AreAll<T>(Exception e) where T : Exception => e switch
    {
        T => true,
        AggregateException aggregate => aggregate.InnerExceptions.Count > 0 && aggregate.InnerExceptions.All(AreAll<T>),
        _ => false,
    };

    public static bool IsConcurrency(Exception e) => AreAll<ConcurrencyException>(e);

    /// <summary>
    /// What an exception that escaped an endpoint (or the authentication of a request) is answered with: bad input is a
    /// 400, an unreachable key service or database a 503 (retry later; nothing was written), a sealed record that does not
    /// authenticate a 500 saying so, a tenant whose keys are destroyed 410, anything else a 500 with the trace id (a bug).
    /// </summary>
    public static Problem ToProblem(Exception? failure, string traceId) => failure switch
    {
        RefusedException refused => refused.Problem,
        BadHttpRequestException { InnerException: System.Text.Json.JsonException json } => Problem.Malformed(json.Message),
        System.Text.Json.JsonException json => Problem.Malformed(json.Message),
        BadHttpRequestException bad => new Problem("bad-request", bad.StatusCode, "The request could not be read", bad.Message),
        KeyServiceException keys => new Problem("key-service-unavailable", 503, "The key service did not serve the tenant's key",
            $"The key service answered {keys.Status}; nothing was written. Retry later."),
        // Its keys are gone while its records still say otherwise: a database restored from before the tenant was shredded
        // (the keys were not restored with it). Gone, as a decommissioned tenant is, not an error of ours.
        KeyDestroyedException => Problem.Gone(),
        IntegrityViolationException => new Problem("integrity-violation", 500, "Stored data failed its integrity check",
            "A sealed record does not authenticate where it is stored (altered or moved); nothing of it is returned."),
        TenantEvents.Organisations.AccessStateIntegrityException => new Problem("integrity-violation", 500, "Stored data failed its integrity check",
            "The tenant's access state (organisations, roles, grants) does not verify against what the service wrote; nobody is authorised " +
            "in this tenant until an operator has restored it."),
        _ when IsTenantMoving(failure) => new Problem("tenant-moving", 503, "The tenant is moving to another database",
            "Its data is being moved (reads go on); nothing was written. Retry in a moment: the write then goes to its new database."),
        _ when IsTransientDatabase(failure) => new Problem("database-unavailable", 503, "The database could not be reached",
            "A database connection failed or timed out; nothing was written. Retry later."),
        _ => new Problem("internal-error", 500, "Something went wrong on our side", $"Trace id {traceId}; this is a bug."),
    };

    /// <summary>An append refused where the tenant no longer lives (Tenants/Moves/TenantMoveSchema.cs).</summary>
    public static bool IsTenantMoving(Exception? e) => e switch
    {
        PostgresException { SqlState: TenantEvents.Tenants.Moves.TenantMoveSchema.MovedState } => true,
        AggregateException aggregate => aggregate.InnerExceptions.Any(IsTenantMoving),
        { InnerException: { } inner } => IsTenantMoving(inner),
        _ => false,
    };

    private static bool IsTransientDatabase(Exception? e) => e switch
    {
        NpgsqlException { IsTransient: true } => true,
        AggregateException aggregate => aggregate.InnerExceptions.Count > 0 && aggregate.InnerExceptions.All(IsTransientDatabase),
        { InnerException: { } inner } => IsTransientDatabase(inner),
        _ => false,
    };
}
