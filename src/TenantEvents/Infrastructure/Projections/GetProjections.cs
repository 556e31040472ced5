using Microsoft.AspNetCore.Authorization;
using Wolverine.Http;
using TenantEvents.Infrastructure.Security;

namespace TenantEvents.Infrastructure.Projections;

/// <summary>
/// One asynchronous projection as reported: what it builds, whether this instance runs it and how its rounds went
/// (<see cref="ProjectionRuns"/>), its interval, and its position and lag per database (the lag: the slowest database's,
/// null when a database could not say; <c>Error</c> when the figures could not be read at all).
/// </summary>
public sealed record AsyncProjectionReport(string Name, string Builds, bool Enabled, bool FollowsCommits, double IntervalSeconds,
    ProjectionRuns? Runs, long? EventsBehind, double? LagSeconds, IReadOnlyList<ProjectionPosition> Databases, string? Error);

/// <summary>Every read model, and what waits to be sent on (webhook deliveries: not a projection, but where a backlog shows first).</summary>
public sealed record PlatformProjectionsReport(IReadOnlyList<InlineProjection> Inline, IReadOnlyList<AsyncProjectionReport> Asynchronous,
    IReadOnlyList<TenantEvents.Delivery.SendingBacklog>? Sending, string? SendingError);

public static class GetProjectionsEndpoint
{
    /// <summary>How long one projection's figures may take before it is reported without them.</summary>
    private static readonly TimeSpan FiguresTimeout = TimeSpan.FromSeconds(10);

    /// <summary>
    /// For operators: every read model of the service, in one list. Inline ones are written in the command's transaction
    /// (never behind); asynchronous ones are run by the projection daemon, each with how its rounds went on this instance
    /// and its position and lag per database (events behind, and how long the oldest of them has waited); and the webhook
    /// deliveries waiting to be sent, per database.
    /// </summary>
    [WolverineGet("/api/platform/projections", OperationId = "GetProjections")]
    [Authorize(Roles = Roles.PlatformAdmin)]
    public static async Task<IResult> Get(IEnumerable<IAsyncProjection> projections, ProjectionDaemon daemon, TenantEvents.Delivery.WebhookSender sender,
        CancellationToken cancellation)
    {
        var reports = new List<AsyncProjectionReport>();
        foreach (var projection in projections)
        {
            var (found, error) = await FiguresAsync(projection.LagAsync, cancellation);
            var databases = found ?? [];
            double? lag = error is not null || databases.Count == 0 || databases.Any(d => d.LagSeconds is null) ? null : databases.Max(d => d.LagSeconds);
            // Events behind: the furthest behind of its followers (each counts the same events), summed over databases.
            long? behind = error is null ? databases.GroupBy(d => d.Follower).Select(f => f.Sum(d => d.EventsBehind)).DefaultIfEmpty(0).Max() : null;
            reports.Add(new AsyncProjectionReport(projection.Name, projection.Builds, projection.Enabled, projection.FollowsCommits,
                projection.Interval.TotalSeconds, daemon.RunsOf(projection.Name), behind, lag, databases, error));
        }
        var (sending, sendingError) = await FiguresAsync(sender.BacklogAsync, cancellation);
        return Results.Json(new PlatformProjectionsReport(ProjectionRegistry.Inline, reports, sending, sendingError), Json.Options);
    }

    /// <summary>
    /// Figures read within <see cref="FiguresTimeout"/>: a database that does not answer (or answers too slowly) costs
    /// those figures, reported as an error, not the report.
    /// </summary>
    private static async Task<(T? Figures, string? Error)> FiguresAsync<T>(Func<CancellationToken, Task<T>> read, CancellationToken cancellation)
        where T : class
    {
        var (figures, failure) = await Bounded.ReadAsync(read, FiguresTimeout, cancellation);
        return (figures, failure switch
        {
            null => null,
            OperationCanceledException => $"its figures took longer than {FiguresTimeout.TotalSeconds:0} s",
            _ => $"{failure.GetType().Name}: {failure.Message}",
        });
    }
}
