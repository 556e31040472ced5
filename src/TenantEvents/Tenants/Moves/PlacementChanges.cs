using TenantEvents.Infrastructure.Databases;

namespace TenantEvents.Tenants.Moves;

/// <summary>
/// Listens for the mover's notices (main database, channel tenantevents_placements): a moved tenant's placement is
/// forgotten, so its next request goes to its new database. When the listen was lost and comes back, every placement is
/// forgotten (a notice may have been missed meanwhile); an append that still reaches the old database is refused there.
/// </summary>
public sealed class PlacementChanges(TenantDatabases databases, ILogger<PlacementChanges> logger) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Notifications.ListenAsync(databases.Main, TenantMove.PlacementChannel,
            payload =>
            {
                if (Guid.TryParse(payload, out var tenant)) databases.Forget(tenant);
            },
            first =>
            {
                if (!first) databases.ForgetAll();
            }, logger, "tenant moves", stoppingToken);
}
