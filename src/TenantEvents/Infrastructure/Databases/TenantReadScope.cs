using Npgsql;

namespace TenantEvents.Infrastructure.Databases;

/// <summary>A read-only transaction on the tenant's database, bound to the tenant (row-level security) for its duration.</summary>
public sealed class TenantReadScope : IAsyncDisposable
{
    public required NpgsqlConnection Connection { get; init; }
    public required NpgsqlTransaction Transaction { get; init; }

    public static async Task<TenantReadScope> OpenAsync(TenantDatabases databases, Guid tenant, CancellationToken cancellation)
    {
        var source = (await databases.ForAsync(tenant, cancellation)).Service;
        var connection = await source.OpenConnectionAsync(cancellation);
        var transaction = await connection.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, cancellation);
        await Sql.SetTenantAsync(connection, transaction, tenant, cancellation);
        return new TenantReadScope { Connection = connection, Transaction = transaction };
    }

    public async ValueTask DisposeAsync()
    {
        await Transaction.DisposeAsync();
        await Connection.DisposeAsync();
    }
}
