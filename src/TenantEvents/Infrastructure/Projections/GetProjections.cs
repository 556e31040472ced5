using Microsoft.AspNetCore.Authorization;
using Wolverine.Http;
using TenantEvents.Infrastructure.Security;

namespace TenantEvents.Infrastructure.Projections;

public sealed record AsyncProjectionReport(string Name, string Builds, bool Running, double IntervalSeconds, long EventsBehind,
    double? LagSeconds, IReadOnlyList<ProjectionPosition> Databases);

public sealed record ProjectionsReport(IReadOnlyList<InlineProjection> Inline, IReadOnlyList<AsyncProjectionReport> Asynchronous);

public static class GetProjectionsEndpoint
{
    /// <summary>
    /// For operators: every read model of the service, in one list. Inline ones are written in the command's transaction
    /// (never behind); asynchronous ones are run by the projection daemon, each with its position and lag per database
    /// (events behind, and how long the oldest of them has waited). Running: whether this instance runs it.
    /// </summary>
    [WolverineGet("/api/platform/projections", OperationId = "GetProjections")]
    [Authorize(Roles = Roles.PlatformAdmin)]
    public static async Task<IResult> Get(IEnumerable<IAsyncProjection> projections, CancellationToken cancellation)
    {
        var reports = new List<AsyncProjectionReport>();
        foreach (var projection in projections)
        {
            var databases = await projection.LagAsync(cancellation);
            // The projection's lag is its slowest database's; unknown (null) if any database cannot say.
            double? lag = databases.Count == 0 ? 0 : databases.Any(d => d.LagSeconds is null) ? null : databases.Max(d => d.LagSeconds);
            reports.Add(new AsyncProjectionReport(projection.Name, projection.Builds, projection.Enabled, projection.Interval.TotalSeconds,
                databases.Sum(d => d.EventsBehind), lag, databases));
        }
        return Results.Json(new ProjectionsReport(ProjectionRegistry.Inline, reports), Json.Options);
    }
}
