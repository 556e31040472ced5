using Npgsql;
using TenantEvents.Infrastructure.Databases;
using TenantEvents.Infrastructure.Projections;

namespace TenantEvents.Audit;

/// <summary>
/// How far a follower of the tenants' audit logs is (the audit entries, the webhook and broker fan-outs each keep a next
/// log index per tenant): per tenant, the log's head and the follower's position, read with index probes only (a
/// loose scan of the tenants, then one probe each), so that asking costs the number of tenants, not of log entries.
/// </summary>
public static class LogPositions
{
    public sealed record Behind(Guid Tenant, long Head, long Position);

    /// <summary>Which tenants a follower follows: all of them, or those with a webhook subscription of their own.</summary>
    public enum Follows { EveryTenant, TenantsWithSubscriptions }

    /// <summary>
    /// Every tenant with a log in the database that the follower follows, its head and the follower's position (0 when
    /// it has none). A tenant whose keys were shredded (no data key left) is followed no more: what its log names can
    /// never be opened again, so it is no work and no lag (a tenant whose keys are merely unreachable still counts).
    /// </summary>
    public static async Task<IReadOnlyList<Behind>> ReadAsync(NpgsqlDataSource platform, string schema, string positions, CancellationToken cancellation,
        Follows follows = Follows.EveryTenant)
    {
        var followed = follows == Follows.TenantsWithSubscriptions
            ? $"exists (select 1 from {schema}.webhook_subscriptions s where s.tenant_id = t.id)"
            : "true";
        await using var read = platform.CreateCommand($"""
            with recursive t(id) as (
              select min(tenant_id) from {schema}.audit_log
              union all select (select min(l.tenant_id) from {schema}.audit_log l where l.tenant_id > t.id) from t where t.id is not null)
            select t.id, (select max(l.log_index) + 1 from {schema}.audit_log l where l.tenant_id = t.id),
                   coalesce((select p.position from {schema}.{positions} p where p.tenant_id = t.id), 0)
            from t where t.id is not null and ({followed})
              and exists (select 1 from {schema}.tenant_data_keys k where k.tenant_id = t.id)
            """);
        var list = new List<Behind>();
        await using var reader = await read.ExecuteReaderAsync(cancellation);
        while (await reader.ReadAsync(cancellation))
            if (Guid.TryParse(reader.GetString(0), out var tenant))
                list.Add(new Behind(tenant, reader.GetInt64(1), Math.Min(reader.GetInt64(2), reader.GetInt64(1))));
        return list;
    }

    /// <summary>Per database: the follower's position and the logs' heads summed over tenants, and how long the oldest entry it has not read has waited.</summary>
    public static async Task<IReadOnlyList<ProjectionPosition>> LagAsync(TenantDatabases databases, string schema, string positions, DateTimeOffset now,
        CancellationToken cancellation, Follows follows = Follows.EveryTenant)
    {
        var lags = new List<ProjectionPosition>();
        foreach (var database in databases.All)
        {
            if (database.Platform.Value is not { } platform) continue;
            var tenants = await ReadAsync(platform, schema, positions, cancellation, follows);
            var behind = tenants.Where(t => t.Position < t.Head).ToList();
            DateTimeOffset? oldest = null;
            if (behind.Count > 0)
            {
                await using var read = platform.CreateCommand($"""
                    select min(e.timestamp) from unnest($1::text[], $2::bigint[]) b(tenant_id, position)
                    join {schema}.audit_log l on l.tenant_id = b.tenant_id and l.log_index = b.position
                    join {schema}.mt_events e on e.seq_id = l.seq_id
                    """);
                Sql.Bind(read, behind.Select(b => b.Tenant.ToString()).ToArray(), behind.Select(b => b.Position).ToArray());
                await using var reader = await read.ExecuteReaderAsync(cancellation);
                if (await reader.ReadAsync(cancellation) && !reader.IsDBNull(0)) oldest = reader.GetFieldValue<DateTimeOffset>(0);
            }
            var (position, head) = (tenants.Sum(t => t.Position), tenants.Sum(t => t.Head));
            double? lag = behind.Count == 0 ? 0 : oldest is { } o ? Math.Round(Math.Max(0, (now - o).TotalSeconds), 3) : null;
            lags.Add(new ProjectionPosition(database.Entry.Id, position, head, head - position, lag));
        }
        return lags;
    }
}
