using Microsoft.AspNetCore.Authorization;
using Wolverine.Http;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Tenants;

namespace TenantEvents.Infrastructure.Projections;

public static class WakeProjectionEndpoint
{
    /// <summary>
    /// For operators: runs a round of the asynchronous projection on this instance now instead of at its next interval
    /// (say after a database came back). 202: the round is on its way (GET /api/platform/projections shows it: its last
    /// round and last success), also after a failed round; 404 for a name that is no projection; 409 when this instance
    /// does not run it (a setting turned it off here; another instance may) or its loop stopped.
    /// </summary>
    [WolverinePost("/api/platform/projections/{name}/wake", OperationId = "WakeProjection")]
    [Authorize(Roles = Roles.PlatformAdmin)]
    public static IResult Post(string name, IEnumerable<IAsyncProjection> projections, ProjectionDaemon daemon, ILogger<ProjectionDaemon> logger,
        HttpContext http)
    {
        if (projections.All(p => p.Name != name)) return Problem.NotFound("projection").ToResult();
        if (!daemon.WakeNow(name))
            return daemon.RunsOf(name) is null
                ? new Problem("projection-not-running", 409, "This instance does not run the projection",
                    "A setting turned it off on this instance; ask an instance that runs it.").With("projection", name).ToResult()
                : new Problem("projection-stopped", 409, "The projection's loop stopped on this instance",
                    "Its last error is in GET /api/platform/projections; the instance runs it again after a restart.").With("projection", name).ToResult();
        logger.LogInformation("Projection {Projection} woken by {Subject}", name, http.Caller().Actor.Subject);
        return Results.Json(new { name, woken = true }, Json.Options, statusCode: StatusCodes.Status202Accepted);
    }
}
