using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Databases;
using TenantEvents.Infrastructure.Projections;
using TenantEvents.Tenants;

namespace TenantEvents.Audit;

/// <summary>
/// The audit entries (the query model of the audit trail) as an asynchronous projection: every tenant whose entries are
/// behind its log is caught up (<see cref="AuditProjector.CatchUpAsync"/>: locked per tenant, a batch and its position
/// in one transaction). Reads also catch their tenant up first (read-your-writes), so this only keeps the entries of
/// tenants nobody reads from falling behind, and reports how far they are.
/// </summary>
public sealed class AuditEntriesProjection(AuditProjector projector, TenantDatabases databases, Clock clock, TenantEventsOptions options, ILogger<AuditEntriesProjection> logger) : IAsyncProjection
{
    public string Name => "audit-entries";

    public string Builds => "audit_entries (before, after and patch per event, sealed), from each tenant's audit log (position: audit_positions)";

    public TimeSpan Interval => options.AuditCheckpointInterval;

    public async Task<bool> RoundAsync(CancellationToken cancellation)
    {
        foreach (var database in databases.All)
        {
            if (database.Platform.Value is not { } platform) continue;
            foreach (var behind in await LogPositions.ReadAsync(platform, options.DatabaseSchema, "audit_positions", cancellation))
            {
                if (behind.Position >= behind.Head) continue;
                try
                {
                    await projector.CatchUpAsync(behind.Tenant, cancellation);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    // One tenant's failure (a broken log is reported where it is found) does not hold up the others.
                    logger.LogWarning(e, "Catching up the audit entries of tenant {Tenant} failed; trying again at the next interval", behind.Tenant);
                }
            }
        }
        return false;
    }

    public Task<IReadOnlyList<ProjectionPosition>> LagAsync(CancellationToken cancellation) =>
        LogPositions.LagAsync(databases, options.DatabaseSchema, "audit_positions", clock.UtcNow, cancellation);
}
