using TenantEvents.Delivery;
using TenantEvents.Infrastructure.Databases;

namespace TenantEvents.Infrastructure.Projections;

/// <summary>How one projection's loop on this instance is doing (for operators: GET /api/platform/projections).</summary>
public sealed record ProjectionRuns(bool Alive, DateTimeOffset? LastRoundStartedAt, DateTimeOffset? LastRoundEndedAt, double? LastRoundSeconds,
    DateTimeOffset? LastSuccessAt, string? LastError, DateTimeOffset? LastErrorAt, int ConsecutiveFailures);

/// <summary>
/// The one daemon of the asynchronous projections (<see cref="IAsyncProjection"/>): a loop per projection, with one
/// rule for all of them (a round at once again while the last found more, else after a commit notification for those
/// that follow commits, or the projection's interval; a failed round is logged and the next waits the full interval,
/// whatever wakes it), and one listener per database of the commit notifications (channel
/// <see cref="DeliverySchema.Channel"/>, payload: the tenant, sent by the events_notify trigger), which also wakes the
/// event streams (SSE) waiting for that tenant. It records each loop's rounds and failures for operators.
/// </summary>
public sealed class ProjectionDaemon(IEnumerable<IAsyncProjection> projections, TenantDatabases databases, EventSignals signals, Clock clock,
    ILogger<ProjectionDaemon> logger) : BackgroundService
{
    private sealed class Running(IAsyncProjection projection)
    {
        public IAsyncProjection Projection { get; } = projection;
        public SemaphoreSlim Wake { get; } = new(0, 1);
        /// <summary>An operator's wake-up: it also ends the full wait after a failed round.</summary>
        public SemaphoreSlim OperatorWake { get; } = new(0, 1);
        public volatile ProjectionRuns Runs = new(false, null, null, null, null, null, null, 0);
    }

    private readonly IReadOnlyList<Running> _running = projections.Where(p => p.Enabled).Select(p => new Running(p)).ToList();

    /// <summary>The projections this instance runs.</summary>
    public IReadOnlyList<IAsyncProjection> Projections => _running.Select(r => r.Projection).ToList();

    /// <summary>How the projection's loop on this instance is doing; null if this instance does not run it.</summary>
    public ProjectionRuns? RunsOf(string name) => _running.FirstOrDefault(r => r.Projection.Name == name)?.Runs;

    protected override Task ExecuteAsync(CancellationToken stoppingToken)
    {
        foreach (var r in _running)
            if (r.Projection.Interval <= TimeSpan.Zero)
                throw new InvalidOperationException($"Projection {r.Projection.Name}: its interval must be positive, not {r.Projection.Interval}.");
        var loops = _running.Select(r => Loop(r, stoppingToken)).ToList();
        loops.AddRange(databases.All.Select(d => ListenAsync(d, stoppingToken)));
        return Task.WhenAll(loops);
    }

    /// <summary>Runs a round of the projection now (an operator's request, even after a failure); false if this instance does not run it or its loop stopped.</summary>
    public bool WakeNow(string name)
    {
        if (_running.FirstOrDefault(r => r.Projection.Name == name) is not { Runs.Alive: true } running) return false;
        Wake(running.OperatorWake);
        Wake(running.Wake);
        return true;
    }

    /// <summary>Events of the tenant were committed: the projections that follow commits, and its event streams, go on now.</summary>
    public void Committed(Guid tenant)
    {
        signals.Committed(tenant);
        foreach (var r in _running)
            if (r.Projection.FollowsCommits)
            {
                r.Projection.Committed(tenant);
                Wake(r.Wake);
            }
    }

    private static void Wake(SemaphoreSlim wake)
    {
        try { wake.Release(); }
        catch (SemaphoreFullException) { }
    }

    private async Task Loop(Running r, CancellationToken stoppingToken)
    {
        await Task.Yield();
        var projection = r.Projection;
        try
        {
            r.Runs = r.Runs with { Alive = true };
            while (!stoppingToken.IsCancellationRequested)
            {
                var more = false;
                var failed = false;
                var started = clock.UtcNow;
                var timer = System.Diagnostics.Stopwatch.StartNew();
                r.Runs = r.Runs with { LastRoundStartedAt = started };
                try
                {
                    more = await projection.RoundAsync(stoppingToken);
                    var ended = clock.UtcNow;
                    r.Runs = r.Runs with { LastRoundEndedAt = ended, LastRoundSeconds = timer.Elapsed.TotalSeconds, LastSuccessAt = ended, ConsecutiveFailures = 0 };
                }
                catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception e)
                {
                    failed = true;
                    var ended = clock.UtcNow;
                    r.Runs = r.Runs with
                    {
                        LastRoundEndedAt = ended, LastRoundSeconds = timer.Elapsed.TotalSeconds, LastError = $"{e.GetType().Name}: {e.Message}",
                        LastErrorAt = ended, ConsecutiveFailures = r.Runs.ConsecutiveFailures + 1,
                    };
                    logger.LogWarning(e, "Projection {Projection} failed ({Failures} in a row); it runs again after its interval", projection.Name,
                        r.Runs.ConsecutiveFailures);
                }
                if (more) continue;
                try
                {
                    // After a failure the next round waits its full interval: commits do not make a failing round retry at
                    // once (an operator's wake-up does).
                    if (failed) await r.OperatorWake.WaitAsync(projection.Interval, stoppingToken);
                    else await r.Wake.WaitAsync(projection.Interval, stoppingToken);
                    if (!failed) r.OperatorWake.Wait(0);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
        catch (Exception e)
        {
            logger.LogCritical(e, "The loop of projection {Projection} stopped; it does not run on this instance until the service restarts", projection.Name);
            r.Runs = r.Runs with { LastError = $"{e.GetType().Name}: {e.Message}", LastErrorAt = clock.UtcNow };
        }
        finally
        {
            r.Runs = r.Runs with { Alive = false };
        }
    }

    /// <summary>Commit notifications of one database; reconnects after a failure (what was committed meanwhile is found by the next round).</summary>
    private Task ListenAsync(TenantDatabases.Database database, CancellationToken stoppingToken) =>
        Notifications.ListenAsync(database, DeliverySchema.Channel, payload =>
        {
            if (Guid.TryParse(payload, out var tenant)) Committed(tenant);
        }, _ =>
        {
            // Whatever was committed while nobody listened: the projections that follow commits look now.
            foreach (var r in _running.Where(r => r.Projection.FollowsCommits)) Wake(r.Wake);
        }, logger, "commits", stoppingToken);
}

public static class ProjectionServices
{
    /// <summary>Registers an asynchronous projection (a singleton, also reachable by its own type) for the daemon to run.</summary>
    public static IServiceCollection AddAsyncProjection<T>(this IServiceCollection services) where T : class, IAsyncProjection
    {
        services.AddSingleton<T>();
        services.AddSingleton<IAsyncProjection>(provider => provider.GetRequiredService<T>());
        return services;
    }
}
