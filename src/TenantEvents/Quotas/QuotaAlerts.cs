using System.Collections.Concurrent;
using Npgsql;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Tenants;
using Wolverine.Runtime;

namespace TenantEvents.Quotas;

/// <summary>Threshold alerts: each threshold of a quota raised once per period, across instances, as a sealed event.</summary>
public sealed class QuotaAlerts(TenantStreams streams, IWolverineRuntime runtime, ILogger<QuotaAlerts> log)
{

    private readonly ConcurrentDictionary<(Guid, string, DateTimeOffset, int), bool> _raised = new();

    /// <summary>
    /// Raises <see cref="QuotaThresholdCrossed"/> once per threshold per period: the alert row and the event are written
    /// in one transaction, and the row's key makes a second raise (by this or another instance) a no-op.
    /// </summary>
    public async Task RaiseAlertsAsync(TenantQuotas policy, string kind, DateTimeOffset start, DateTimeOffset end, long used,
        CancellationToken cancellation)
    {
        var limit = policy.Limit(kind);
        if (limit <= 0) return;
        var crossed = policy.Quotas.AlertThresholds
            .Where(t => (decimal)used * 100 >= (decimal)t * limit && !_raised.ContainsKey((policy.TenantId, kind, start, t))).ToList();
        if (crossed.Count == 0) return;
        var context = new MessageContext(runtime);
        await using var tx = await streams.BeginAsync(context, policy.TenantId, cancellation);
        var connection = tx.Connection;
        var now = streams.Now;
        var fresh = new List<int>();
        await using (var insert = new NpgsqlCommand($"""
            insert into {streams.Options.DatabaseSchema}.quota_alerts (tenant_id, kind, period_start, threshold, used, quota_limit, raised_at)
            select $1, $2, $3, t, $5, $6, $7 from unnest($4::int[]) t
            on conflict do nothing returning threshold
            """, connection))
        {
            Infrastructure.Databases.Sql.Bind(insert, policy.TenantId.ToString(), kind, start, crossed.ToArray(), used, limit, now);
            await using var reader = await insert.ExecuteReaderAsync(cancellation);
            while (await reader.ReadAsync(cancellation)) fresh.Add(reader.GetInt32(0));
        }
        if (fresh.Count > 0)
        {
            var mode = QuotaKinds.ModeName(policy.Mode(kind));
            var stream = QuotaEventTypes.Stream(policy.TenantId);
            var events = fresh.Order().Select(t => (object)new QuotaThresholdCrossed(kind, t, used, limit, start, end, mode, Actor.System, now)).ToList();
            await tx.AppendAsync(stream, events, cancellation);
            await tx.CommitAsync(cancellation);
            await context.FlushOutgoingMessagesAsync();
            TenantEvents.Operations.OperationsMetrics.QuotaAlerts.Add(fresh.Count, new KeyValuePair<string, object?>("kind", kind));
            foreach (var t in fresh)
                log.LogWarning("Tenant {Tenant} reached {Threshold}% of its {Kind} quota ({Used} of {Limit})", policy.TenantId, t, kind, used, limit);
        }
        foreach (var t in crossed) _raised[(policy.TenantId, kind, start, t)] = true;
    }


    /// <summary>Alerts of periods that are over are not raised again: forgets them (the ledger's flush calls it).</summary>
    public void Sweep(DateTimeOffset now)
    {
        foreach (var key in _raised.Keys)
            if (QuotaKinds.PeriodAt(key.Item2, key.Item3).End <= now) _raised.TryRemove(key, out _);
    }
}
