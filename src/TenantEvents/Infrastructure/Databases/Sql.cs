using Npgsql;
using NpgsqlTypes;

namespace TenantEvents.Infrastructure.Databases;

/// <summary>
/// The one way the hand-written SQL here binds values and names its tenant: positional parameters ($1, $2, ...) from
/// values (null is SQL NULL), and the per-transaction tenant setting that row-level security compares every row with.
/// </summary>
public static class Sql
{
    /// <summary>A positional parameter: null as SQL NULL; an array of nullable UUIDs typed (Npgsql cannot infer it).</summary>
    public static NpgsqlParameter Parameter(object? value) => value switch
    {
        null => new NpgsqlParameter { Value = DBNull.Value },
        Guid?[] ids => new NpgsqlParameter { Value = ids, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Uuid },
        NpgsqlParameter given => given,
        _ => new NpgsqlParameter { Value = value },
    };

    public static NpgsqlCommand Command(NpgsqlConnection connection, NpgsqlTransaction? transaction, string sql, params object?[] values)
    {
        var command = new NpgsqlCommand(sql, connection, transaction);
        foreach (var v in values) command.Parameters.Add(Parameter(v));
        return command;
    }

    public static NpgsqlCommand Command(NpgsqlDataSource source, string sql, params object?[] values)
    {
        var command = source.CreateCommand(sql);
        foreach (var v in values) command.Parameters.Add(Parameter(v));
        return command;
    }

    public static NpgsqlBatchCommand BatchCommand(string sql, params object?[] values)
    {
        var command = new NpgsqlBatchCommand(sql);
        foreach (var v in values) command.Parameters.Add(Parameter(v));
        return command;
    }

    /// <summary>Adds positional parameters to a command made elsewhere.</summary>
    public static void Bind(NpgsqlCommand command, params object?[] values)
    {
        foreach (var v in values) command.Parameters.Add(Parameter(v));
    }

    /// <summary>The statement that names the tenant for the rest of the transaction (row-level security reads it).</summary>
    public const string SetTenant = $"select set_config('{Hosting.TenantSetting}', $1, true)";

    public static NpgsqlBatchCommand SetTenantCommand(Guid tenant) => BatchCommand(SetTenant, tenant.ToString());

    public static Task SetTenantAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, Guid tenant, CancellationToken cancellation) =>
        SetTenantAsync(connection, transaction, tenant.ToString(), cancellation);

    public static async Task SetTenantAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, string tenant, CancellationToken cancellation)
    {
        await using var command = Command(connection, transaction, SetTenant, tenant);
        await command.ExecuteScalarAsync(cancellation);
    }
}
