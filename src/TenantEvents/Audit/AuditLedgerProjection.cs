using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Projections;
using TenantEvents.Tenants;

namespace TenantEvents.Audit;

/// <summary>
/// The audit ledger as an asynchronous projection: every tenant's pending events (audit_pending, filled by a trigger in
/// the appending transaction, in commit order) appended to its Merkle log (<see cref="AuditLog.FlushAsync"/>: under the
/// tenant's lock, the pending rows and the log in one transaction). Its position is the pending rows themselves: what is
/// still there is behind.
/// </summary>
public sealed class AuditLedgerProjection(AuditLog log, TenantStreams streams, Clock clock, TenantEventsOptions options) : IAsyncProjection
{
    public string Name => "audit-ledger";

    public string Builds => "audit_log (per tenant Merkle log), from audit_pending";

    public TimeSpan Interval => options.AuditLedgerInterval;

    /// <summary>Appends every tenant's pending events to its log; the number of tenants that had any.</summary>
    public async Task<int> FlushAllAsync(CancellationToken cancellation)
    {
        var tenants = await log.TenantsPendingAsync(cancellation);
        foreach (var tenant in tenants) await log.FlushAsync(tenant, cancellation);
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
        foreach (var database in streams.Databases.All)
        {
            if (database.Platform.Value is not { } platform) continue;
            await using var read = platform.CreateCommand($"""
                select (select count(*) from {s}.audit_pending),
                       (select coalesce(max(seq_id), 0) from {s}.mt_events),
                       (select min(e.timestamp) from {s}.mt_events e where e.seq_id = (select min(seq_id) from {s}.audit_pending))
                """);
            await using var reader = await read.ExecuteReaderAsync(cancellation);
            await reader.ReadAsync(cancellation);
            var behind = reader.GetInt64(0);
            var head = reader.GetInt64(1);
            double? lag = reader.IsDBNull(2) ? (behind == 0 ? 0 : null) : Math.Round(Math.Max(0, (clock.UtcNow - reader.GetFieldValue<DateTimeOffset>(2)).TotalSeconds), 3);
            lags.Add(new ProjectionPosition(database.Entry.Id, head - behind, head, behind, lag));
        }
        return lags;
    }
}
