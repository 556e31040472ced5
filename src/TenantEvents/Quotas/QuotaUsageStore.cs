using Npgsql;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Databases;

namespace TenantEvents.Quotas;

/// <summary>
/// The quota tables of a tenant's database: a transaction bound to the tenant under its quota lock for a kind, the
/// period's charges per organisation, additions to used and held, and the daily history. Shared by the API call
/// ledger, AI compute reservations and licences.
/// </summary>
public sealed class QuotaUsageStore(TenantDatabases databases, Clock clock, TenantEventsOptions options)
{
    public string Schema => options.DatabaseSchema;


    /// <summary>A transaction of the tenant's database, bound to the tenant, holding its quota lock for the kind.</summary>
    public async Task<T> InTenantAsync<T>(Guid tenant, string lockName, Func<NpgsqlConnection, NpgsqlTransaction, Task<T>> work,
        CancellationToken cancellation)
    {
        var source = (await databases.ForAsync(tenant, cancellation)).Service;
        await using var connection = await source.OpenConnectionAsync(cancellation);
        await using var transaction = await connection.BeginTransactionAsync(cancellation);
        await using (var batch = new NpgsqlBatch(connection, transaction))
        {
            batch.BatchCommands.Add(Infrastructure.Databases.Sql.SetTenantCommand(tenant));
            batch.BatchCommands.Add(Infrastructure.Databases.Sql.BatchCommand("select pg_advisory_xact_lock(hashtextextended($1, 0))", $"tenantevents:quota:{tenant}:{lockName}"));
            await batch.ExecuteNonQueryAsync(cancellation);
        }
        var result = await work(connection, transaction);
        await transaction.CommitAsync(cancellation);
        return result;
    }

    public async Task<Dictionary<Guid, long>> ChargesAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string kind, DateTimeOffset start,
        CancellationToken cancellation)
    {
        var charges = new Dictionary<Guid, long>();
        await using var read = new NpgsqlCommand($"select org_id, used + held from {Schema}.quota_usage where kind = $1 and period_start = $2",
            connection, transaction);
        Infrastructure.Databases.Sql.Bind(read, kind, start);
        await using var reader = await read.ExecuteReaderAsync(cancellation);
        while (await reader.ReadAsync(cancellation)) charges[reader.GetGuid(0)] = reader.GetInt64(1);
        return charges;
    }

    public async Task AddAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string kind, DateTimeOffset start, Guid org, long used,
        long held, CancellationToken cancellation)
    {
        await using var upsert = new NpgsqlCommand($"""
            insert into {Schema}.quota_usage as u (tenant_id, kind, period_start, org_id, used, held, updated_at)
            values (current_setting('{Hosting.TenantSetting}'), $1, $2, $3, $4, greatest(0, $5), $6)
            on conflict (tenant_id, kind, period_start, org_id) do update
              set used = u.used + excluded.used, held = greatest(0, u.held + $5), updated_at = excluded.updated_at
            """, connection, transaction);
        Infrastructure.Databases.Sql.Bind(upsert, kind, start, org, used, held, clock.UtcNow);
        await upsert.ExecuteNonQueryAsync(cancellation);
    }

    public async Task AddDailyAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string metric, DateTimeOffset at, Guid org, long amount,
        CancellationToken cancellation)
    {
        await using var batch = new NpgsqlBatch(connection, transaction);
        batch.BatchCommands.Add(DailyCommand(metric, at, org, amount));
        await batch.ExecuteNonQueryAsync(cancellation);
    }

    /// <summary>Adds to a day's usage; a peak (licences) keeps the day's largest figure instead; a standing count keeps the last.</summary>
    public NpgsqlBatchCommand DailyCommand(string metric, DateTimeOffset at, Guid org, long amount, bool peak = false, bool last = false) =>
        Infrastructure.Databases.Sql.BatchCommand($"""
        insert into {Schema}.usage_daily as d (tenant_id, metric, day, org_id, amount)
        values (current_setting('{Hosting.TenantSetting}'), $1, $2, $3, $4)
        on conflict (tenant_id, metric, day, org_id) do update
          set amount = {(peak ? "greatest(d.amount, excluded.amount)" : last ? "excluded.amount" : "d.amount + excluded.amount")}
        """, metric, DateOnly.FromDateTime(at.UtcDateTime), org, amount);


}
