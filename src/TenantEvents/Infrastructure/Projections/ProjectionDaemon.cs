using Npgsql;
using TenantEvents.Delivery;
using TenantEvents.Infrastructure.Databases;

namespace TenantEvents.Infrastructure.Projections;

/// <summary>
/// The one daemon of the asynchronous projections (<see cref="IAsyncProjection"/>): a loop per projection, with one
/// rule for all of them (a round at once again while the last found more, else after a wake-up or the projection's
/// interval; a failed round is logged and runs again at the next interval), woken by one listener per database of the
/// commit notifications (channel <see cref="DeliverySchema.Channel"/>, payload: the tenant, sent by the events_notify
/// trigger), which also wakes the event streams (SSE) waiting for that tenant.
/// </summary>
public sealed class ProjectionDaemon(IEnumerable<IAsyncProjection> projections, TenantDatabases databases, EventSignals signals,
    ILogger<ProjectionDaemon> logger) : BackgroundService
{
    private readonly IReadOnlyList<(IAsyncProjection Projection, SemaphoreSlim Wake)> _running =
        projections.Where(p => p.Enabled).Select(p => (p, new SemaphoreSlim(0, 1))).ToList();

    /// <summary>The projections this instance runs.</summary>
    public IReadOnlyList<IAsyncProjection> Projections => _running.Select(r => r.Projection).ToList();

    protected override Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var loops = _running.Select(r => Loop(r.Projection, r.Wake, stoppingToken)).ToList();
        loops.AddRange(databases.All.Select(d => ListenAsync(d, stoppingToken)));
        return Task.WhenAll(loops);
    }

    /// <summary>Events of the tenant were committed: the projections that follow commits, and its event streams, go on now.</summary>
    public void Committed(Guid tenant)
    {
        signals.Committed(tenant);
        foreach (var (projection, wake) in _running)
            if (projection.Committed(tenant)) Wake(wake);
    }

    private static void Wake(SemaphoreSlim wake)
    {
        try { wake.Release(); }
        catch (SemaphoreFullException) { }
    }

    private async Task Loop(IAsyncProjection projection, SemaphoreSlim wake, CancellationToken stoppingToken)
    {
        await Task.Yield();
        while (!stoppingToken.IsCancellationRequested)
        {
            var more = false;
            try
            {
                more = await projection.RoundAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                logger.LogWarning(e, "Projection {Projection} failed; it runs again at the next interval", projection.Name);
            }
            if (more) continue;
            try
            {
                await wake.WaitAsync(projection.Interval, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>Commit notifications of one database; reconnects after a failure (what was committed meanwhile is found by the next round).</summary>
    private async Task ListenAsync(TenantDatabases.Database database, CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await using var connection = await database.Service.OpenConnectionAsync(stoppingToken);
                connection.Notification += (_, e) =>
                {
                    if (Guid.TryParse(e.Payload, out var tenant)) Committed(tenant);
                };
                await using (var listen = new NpgsqlCommand($"listen {DeliverySchema.Channel}", connection))
                    await listen.ExecuteNonQueryAsync(stoppingToken);
                // Whatever was committed while nobody listened: every projection looks now.
                foreach (var (_, wake) in _running) Wake(wake);
                while (!stoppingToken.IsCancellationRequested) await connection.WaitAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                logger.LogWarning(e, "Listening for commits in database {Database} failed; listening again in a second", database.Entry.Id);
                try { await Task.Delay(TimeSpan.FromSeconds(1), stoppingToken); }
                catch (OperationCanceledException) { return; }
            }
        }
    }
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
