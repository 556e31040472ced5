using Microsoft.Extensions.Diagnostics.HealthChecks;
using Npgsql;

namespace TenantEvents.Infrastructure.Databases;

/// <summary>Ready when every database answers: a tenant whose database is down cannot be served.</summary>
public sealed class DatabasesHealthCheck(TenantDatabases databases) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellation = default)
    {
        var unreachable = new List<string>();
        foreach (var database in databases.All)
        {
            try
            {
                await using var command = database.Service.CreateCommand("select 1");
                await command.ExecuteScalarAsync(cancellation);
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException or OperationCanceledException)
            {
                unreachable.Add(database.Entry.Id);
            }
        }
        return unreachable.Count == 0
            ? HealthCheckResult.Healthy()
            : HealthCheckResult.Unhealthy("PostgreSQL is not reachable: database " + string.Join(", ", unreachable));
    }
}
