namespace TenantEvents.Audit;

/// <summary>
/// The scheduled side of the audit trail, on every instance (work is idempotent and locked per tenant): signs a
/// checkpoint for every tenant whose log grew (and brings those tenants' audit entries up to it right after, so that a
/// checkpoint's tenant can be queried up to it), and removes entries past their retention window from the query model.
/// The ledger and the entries themselves are fed by <see cref="AuditLedgerProjection"/> and <see cref="AuditEntriesProjection"/>,
/// run by the projection daemon.
/// </summary>
public sealed class AuditJobs(AuditLog log, AuditProjector projector, AuditLedgerProjection ledger, Infrastructure.TenantEventsOptions options,
    ILogger<AuditJobs> logger) : BackgroundService
{
    private DateTimeOffset _lastPrune = DateTimeOffset.MinValue;

    protected override Task ExecuteAsync(CancellationToken stoppingToken) => CheckpointLoopAsync(stoppingToken);

    /// <summary>Appends every tenant's pending events to its log; the number of tenants that had any.</summary>
    public Task<int> FlushAllAsync(CancellationToken cancellation) => ledger.FlushAllAsync(cancellation);

    private async Task CheckpointLoopAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(options.AuditCheckpointInterval, stoppingToken);
                await CheckpointAllAsync(stoppingToken);
                if (DateTimeOffset.UtcNow - _lastPrune >= options.AuditRetentionInterval)
                {
                    _lastPrune = DateTimeOffset.UtcNow;
                    var removed = await projector.PruneAsync(stoppingToken);
                    if (removed > 0) logger.LogInformation("Removed {Count} audit entries past their retention window", removed);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                logger.LogWarning(e, "Audit job failed; it runs again at the next interval");
            }
        }
    }

    /// <summary>One round: a checkpoint for every tenant whose log grew, and its audit entries caught up. Returns the tenants done.</summary>
    public async Task<int> CheckpointAllAsync(CancellationToken cancellation)
    {
        try
        {
            await FlushAllAsync(cancellation);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // A tenant whose pending events cannot be flushed does not hold up the others' checkpoints and retention.
            logger.LogWarning(e, "Flushing pending audit events before the checkpoints failed for some tenant; the checkpoints go on");
        }
        var due = await log.TenantsDueAsync(cancellation);
        foreach (var tenant in due)
        {
            try
            {
                await log.CheckpointAsync(tenant, cancellation);
            }
            catch (AuditLogBrokenException)
            {
                // Logged as critical where it was found; the other tenants go on.
            }
            await projector.CatchUpAsync(tenant, cancellation);
        }
        return due.Count;
    }
}
