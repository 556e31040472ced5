using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Wolverine;
using Wolverine.Runtime;
using Wolverine.Transports;
using Wolverine.Transports.Sending;
using TenantEvents.Infrastructure.Databases;

namespace TenantEvents.Operations;

/// <summary>
/// The three probes an orchestrator asks, anonymous and answering only "Healthy" or "Unhealthy" (no names, no figures):
/// <list type="bullet">
/// <item><c>/health/started</c>: the host has started (every start-up check passed, the schema version among them). Until
/// then the other two are not asked (Kubernetes' startupProbe).</item>
/// <item><c>/health/live</c>: the process answers. Nothing outside it is asked: a database outage must not restart every
/// instance.</item>
/// <item><c>/health/ready</c>: send it requests. The main database answers, every Wolverine listener of this instance
/// takes messages, and the instance is not stopping (so a load balancer drains it before it goes). A zone's or a
/// dedicated database down, projection lag and delivery backlogs do not make an instance unready (every instance would
/// go at once, and every tenant with them); they raise alerts (ops/helm/tenantevents/files/alerts.rules.yaml).</item>
/// </list>
/// </summary>
public static class Health
{
    public const string Started = "started";
    public const string Live = "live";
    public const string Ready = "ready";

    public static IServiceCollection AddTenantEventsHealth(this IServiceCollection services)
    {
        services.AddHealthChecks()
            .AddCheck<StartedCheck>("started", tags: [Started, Ready])
            .AddCheck("live", () => HealthCheckResult.Healthy(), tags: [Live])
            .AddCheck<DatabasesHealthCheck>("databases", tags: [Ready])
            .AddCheck<ListenersCheck>("listeners", tags: [Ready]);
        return services;
    }

    public static void MapTenantEventsHealth(this WebApplication app)
    {
        foreach (var probe in new[] { Started, Live, Ready })
            app.MapHealthChecks("/health/" + probe, new HealthCheckOptions { Predicate = c => c.Tags.Contains(probe) }).AllowAnonymous();
    }

    /// <summary>Started once the host says so; not ready again once it is stopping.</summary>
    public sealed class StartedCheck(IHostApplicationLifetime lifetime) : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellation = default) =>
            Task.FromResult(lifetime.ApplicationStopping.IsCancellationRequested ? HealthCheckResult.Unhealthy("stopping")
                : lifetime.ApplicationStarted.IsCancellationRequested ? HealthCheckResult.Healthy()
                : HealthCheckResult.Unhealthy("starting"));
    }

    /// <summary>
    /// Every listener this instance runs takes messages: external transports' listeners and the local queues (today only
    /// local queues: RabbitMQ is only published to). Back-pressure (too busy) and a timed pause are passing states that
    /// resume on their own; stopped, latched, unknown or a faulted receiver (it looks alive and drops what it gets) are not.
    /// </summary>
    public sealed class ListenersCheck(IWolverineRuntime runtime) : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellation = default)
        {
            var circuits = runtime.Endpoints.ActiveListeners().Select(l => new Circuit(l.Uri.ToString(), l.Status, l.ReceiverHasFaulted))
                .Concat(runtime.Endpoints.ActiveSendingAgents().OfType<IListenerCircuit>()
                    .Select(c => new Circuit(((ISendingAgent)c).Destination.ToString(), c.Status, false)));
            var down = NotAccepting(circuits);
            return Task.FromResult(down.Count == 0 ? HealthCheckResult.Healthy() : HealthCheckResult.Unhealthy("listeners not accepting: " + string.Join(", ", down)));
        }
    }

    public sealed record Circuit(string Name, ListeningStatus Status, bool Faulted);

    /// <summary>Pure: the circuits that keep an instance from being ready, each named with why.</summary>
    public static IReadOnlyList<string> NotAccepting(IEnumerable<Circuit> circuits) => circuits
        .Where(c => c.Faulted || c.Status is not (ListeningStatus.Accepting or ListeningStatus.TooBusy or ListeningStatus.Paused))
        .Select(c => $"{c.Name} ({(c.Faulted ? "receiver faulted" : c.Status.ToString())})")
        .ToList();
}
