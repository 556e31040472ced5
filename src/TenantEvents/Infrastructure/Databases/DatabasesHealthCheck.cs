using Microsoft.Extensions.Diagnostics.HealthChecks;
using Npgsql;

namespace TenantEvents.Infrastructure.Databases;

/// <summary>
/// Ready when every database answers within <see cref="Timeout"/>: a tenant whose database is down cannot be served, and a
/// probe that hangs on a stalled database would be cut off by the orchestrator without saying which.
/// </summary>
public sealed class DatabasesHealthCheck(TenantDatabases databases) : IHealthCheck
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(3);

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellation = default)
    {
        var unreachable = new List<string>();
        await Task.WhenAll(databases.All.Select(async database =>
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
            timeout.CancelAfter(Timeout);
            try
            {
                await using var command = database.Service.CreateCommand("select 1");
                await command.ExecuteScalarAsync(timeout.Token);
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException or OperationCanceledException)
            {
                lock (unreachable) unreachable.Add(database.Entry.Id);
            }
        }));
        return unreachable.Count == 0
            ? HealthCheckResult.Healthy()
            : HealthCheckResult.Unhealthy("PostgreSQL is not reachable: database " + string.Join(", ", unreachable.Order(StringComparer.Ordinal)));
    }
}
