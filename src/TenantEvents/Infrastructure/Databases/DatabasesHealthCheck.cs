using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace TenantEvents.Infrastructure.Databases;

/// <summary>
/// Ready when the main database answers within <see cref="Timeout"/>: it holds the platform directory and Wolverine's
/// messages, so without it no request can be served. The other databases (zones, dedicated) are not asked: one tenant's
/// database down would take every instance out of rotation, and every tenant with it. Their reachability is a metric
/// (tenantevents_database_up) with an alert. A probe that hangs on a stalled database would be cut off by the
/// orchestrator without saying why, hence the bound.
/// </summary>
public sealed class DatabasesHealthCheck(TenantDatabases databases) : IHealthCheck
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(3);

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellation = default)
    {
        var failure = await Bounded.AnswersAsync(databases.Main.Service, Timeout, cancellation);
        if (failure is null) return HealthCheckResult.Healthy();
        if (!Bounded.IsUnreachable(failure)) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
        return HealthCheckResult.Unhealthy("The main database is not reachable: " + failure.Message);
    }
}
