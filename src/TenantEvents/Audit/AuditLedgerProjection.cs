using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Databases;
using TenantEvents.Infrastructure.Projections;
using TenantEvents.Tenants;

namespace TenantEvents.Audit;

/// <summary>
/// The audit ledger as an asynchronous projection: every tenant's pending events (audit_pending, filled by a trigger in
/// the appending transaction, in commit order) appended to its Merkle log (<see cref="AuditLog.FlushAsync"/>: under the
/// tenant's lock, the pending rows and the log in one transaction). Its position is the pending rows themselves: what is
/// still there is behind.
/// </summary>
public sealed class AuditLedgerProjection(AuditLog log, TenantDatabases databases, Clock clock, TenantEventsOptions options) : IAsyncProjection
{
    public string Name => "audit-ledger";

    public string Builds => "audit_log (per tenant Merkle log), from audit_pending";

    public TimeSpan Interval => options.AuditLedgerInterval;

    /// <summary>Appends every tenant's pending events to its log; the number of tenants that had any.</summary>
    public async Task<int> FlushAllAsync(CancellationToken cancellation)
    {
        var tenants = await log.TenantsPendingAsync(cancellation);
        Exception? first = null;
        foreach (var tenant in tenants)
            try
            {
                await log.FlushAsync(tenant, cancellation);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // One tenant's failure does not hold up the others' logs; the round reports it after them.
                first ??= e;
            }
        if (first is not null) throw first;
        return tenants.Count;
    }

    public async Task<bool> RoundAsync(CancellationToken cancellation)
    {
        await FlushAllAsync(cancellation);
        return false;
    }

    public async Task<IReadOnlyList<ProjectionPosition>> LagAsync(CancellationToken cancellation)
    {
        var s = options.DatabaseSchema;
        var lags = new List<ProjectionPosition>();
        foreach (var database in databases.All)
        {
            if (database.Platform.Value is not { } platform) continue;
            // Position: the sequence number before the oldest pending event (everything before it is in the logs); head: the
            // newest event; behind: the pending events (counted up to a million, so asking stays cheap when the ledger is stuck).
            await using var read = platform.CreateCommand($"""
                select (select count(*) from (select 1 from {s}.audit_pending limit 1000000) p),
                       (select coalesce(max(seq_id), 0) from {s}.mt_events),
                       (select min(seq_id) from {s}.audit_pending),
                       (select min(e.timestamp) from {s}.mt_events e where e.seq_id = (select min(seq_id) from {s}.audit_pending))
                """);
            await using var reader = await read.ExecuteReaderAsync(cancellation);
            await reader.ReadAsync(cancellation);
            var behind = reader.GetInt64(0);
            var head = reader.GetInt64(1);
            var position = reader.IsDBNull(2) ? head : reader.GetInt64(2) - 1;
            double? lag = reader.IsDBNull(3) ? (behind == 0 ? 0 : null) : Math.Round(Math.Max(0, (clock.UtcNow - reader.GetFieldValue<DateTimeOffset>(3)).TotalSeconds), 3);
            lags.Add(new ProjectionPosition(database.Entry.Id, position, head, behind, lag));
        }
        return lags;
    }
}
