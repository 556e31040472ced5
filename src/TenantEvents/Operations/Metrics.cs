using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using OpenTelemetry.Metrics;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Projections;

namespace TenantEvents.Operations;

/// <summary>
/// What operators alert on (ops/helm/tenantevents/files/alerts.rules.yaml), next to ASP.NET Core's, the runtime's,
/// Wolverine's and Marten's own metrics. Served for Prometheus at /metrics on the management port only
/// (<see cref="TenantEventsOptions.ManagementPort"/>), so that the public address never shows them; pushed by OTLP when an
/// endpoint is configured.
/// </summary>
public static class OperationsMetrics
{
    /// <summary>Webhook deliveries given up after their last attempt (or refused at once past a subscription's bound).</summary>
    public static readonly Counter<long> DeadLettered = Telemetry.Meter.CreateCounter<long>("tenantevents.webhook.dead_lettered", "{delivery}",
        "Webhook deliveries dead-lettered");

    /// <summary>Quota thresholds crossed (each raised once per threshold and period, across instances).</summary>
    public static readonly Counter<long> QuotaAlerts = Telemetry.Meter.CreateCounter<long>("tenantevents.quota.alerts", "{alert}",
        "Quota alert thresholds crossed, by quota kind");

    /// <summary>Calls to the key service (local keys or Key Vault) that failed, by operation; a destroyed key is not a failure.</summary>
    public static readonly Counter<long> KeyServiceErrors = Telemetry.Meter.CreateCounter<long>("tenantevents.key_service.errors", "{call}",
        "Key service calls that failed, by operation");

    public static readonly Histogram<double> KeyServiceDuration = Telemetry.Meter.CreateHistogram<double>("tenantevents.key_service.duration", "s",
        "Key service calls, by operation", advice: new InstrumentAdvice<double>
        {
            // Seconds: a local key answers in microseconds, Key Vault in tens of milliseconds, a struggling one in seconds.
            HistogramBucketBoundaries = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
        });

    /// <summary>Requests of tenants' callers, by tenant (bounded: see <see cref="TenantLabels"/>) and status class.</summary>
    public static readonly Counter<long> TenantRequests = Telemetry.Meter.CreateCounter<long>("tenantevents.tenant.requests", "{request}",
        "Requests of tenants' callers, by tenant (the first N tenants seen by this instance, the rest as 'other') and status class");

    public static IServiceCollection AddTenantEventsMetrics(this IServiceCollection services, TenantEventsOptions options)
    {
        services.AddSingleton(new TenantLabels(options.MetricsTenantLabels));
        services.AddSingleton<OperationsGauges>();
        services.AddHostedService(provider => provider.GetRequiredService<OperationsGauges>());
        return services;
    }

    /// <summary>
    /// /metrics on the management port, and nothing else there: a request to that port for anything but the metrics and the
    /// probes is not found, and /metrics on the public port is not found either.
    /// </summary>
    public static void UseManagementPort(this WebApplication app, TenantEventsOptions options)
    {
        if (options.ManagementPort is not int port) return;
        app.UseOpenTelemetryPrometheusScrapingEndpoint(context => context.Connection.LocalPort == port && context.Request.Path == "/metrics");
        app.Use(async (context, next) =>
        {
            if (context.Connection.LocalPort == port && !context.Request.Path.StartsWithSegments("/health"))
            {
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                return;
            }
            await next(context);
        });
    }

    /// <summary>The exporter, when a management port is configured.</summary>
    public static MeterProviderBuilder AddTenantEventsExporters(this MeterProviderBuilder metrics, TenantEventsOptions options) =>
        options.ManagementPort is null ? metrics : metrics.AddPrometheusExporter();
}

/// <summary>
/// A tenant as a metric label, bounded: the first <c>limit</c> tenants this instance sees keep their id, every later one is
/// "other" (a label per tenant of a large estate would make a series per tenant and metric in Prometheus: its memory, and
/// a list of every tenant to whoever reads the metrics). 0 turns tenant labels off (everything is "other").
/// </summary>
public sealed class TenantLabels(int limit)
{
    public const string Other = "other";
    private readonly ConcurrentDictionary<Guid, string> _labels = new();

    public string For(Guid tenant)
    {
        if (_labels.TryGetValue(tenant, out var label)) return label;
        if (_labels.Count >= limit) return Other;
        lock (_labels)
            return _labels.Count < limit ? _labels.GetOrAdd(tenant, t => t.ToString()) : Other;
    }
}

/// <summary>
/// The gauges that need the database (projection lag, the webhook backlog): read every
/// <see cref="TenantEventsOptions.MetricsRefreshInterval"/> in the background, each within 10 s, and reported from that
/// reading (a scrape never waits for the database). A figure that could not be read is left out, and
/// tenantevents.metrics.refresh_failures says so.
/// </summary>
public sealed class OperationsGauges : BackgroundService
{
    private readonly IEnumerable<IAsyncProjection> _projections;
    private readonly ProjectionDaemon _daemon;
    private readonly Delivery.WebhookSender _sender;
    private readonly TenantEventsOptions _options;
    private readonly ILogger<OperationsGauges> _log;
    private volatile Reading _reading = new([], []);
    private long _failures;

    private sealed record Reading(IReadOnlyList<(string Projection, double? Lag, long Behind)> Projections, IReadOnlyList<Delivery.SendingBacklog> Sending);

    public OperationsGauges(IEnumerable<IAsyncProjection> projections, ProjectionDaemon daemon, Delivery.WebhookSender sender, TenantEventsOptions options,
        ILogger<OperationsGauges> log)
    {
        (_projections, _daemon, _sender, _options, _log) = (projections, daemon, sender, options, log);
        // The counters alerts watch exist from the start at 0 (an increase over a series that does not exist yet is no alert).
        OperationsMetrics.DeadLettered.Add(0);
        OperationsMetrics.QuotaAlerts.Add(0);
        OperationsMetrics.KeyServiceErrors.Add(0);
        Telemetry.Meter.CreateObservableGauge("tenantevents.projection.lag", () => _reading.Projections.Where(p => p.Lag is not null)
            .Select(p => new Measurement<double>(p.Lag!.Value, new KeyValuePair<string, object?>("projection", p.Projection))), "s",
            "How long the oldest event an asynchronous projection has not yet processed has waited (slowest database)");
        Telemetry.Meter.CreateObservableGauge("tenantevents.projection.events_behind", () => _reading.Projections
            .Select(p => new Measurement<long>(p.Behind, new KeyValuePair<string, object?>("projection", p.Projection))), "{event}",
            "Events an asynchronous projection has not yet processed (all databases)");
        Telemetry.Meter.CreateObservableGauge("tenantevents.projection.consecutive_failures", () => _projections
            .Select(p => new Measurement<int>(_daemon.RunsOf(p.Name)?.ConsecutiveFailures ?? 0, new KeyValuePair<string, object?>("projection", p.Name))), "{round}",
            "Failed rounds in a row of each projection this instance runs");
        Telemetry.Meter.CreateObservableGauge("tenantevents.webhook.waiting", () => _reading.Sending
            .Select(s => new Measurement<long>(s.Waiting, new KeyValuePair<string, object?>("database", s.Database))), "{delivery}",
            "Webhook deliveries waiting to be sent, per database");
        Telemetry.Meter.CreateObservableGauge("tenantevents.webhook.oldest_waiting_age", () => _reading.Sending
            .Select(s => new Measurement<double>(s.OldestWaitingSeconds ?? 0, new KeyValuePair<string, object?>("database", s.Database))), "s",
            "Age of the oldest webhook delivery waiting to be sent, per database (0: none waits)");
        Telemetry.Meter.CreateObservableCounter("tenantevents.metrics.refresh_failures", () => Interlocked.Read(ref _failures), "{reading}",
            "Readings of the database-backed gauges that failed");
    }

    protected override async Task ExecuteAsync(CancellationToken stopping)
    {
        using var timer = new PeriodicTimer(_options.MetricsRefreshInterval);
        try
        {
            do
            {
                await RefreshAsync(stopping);
            } while (await timer.WaitForNextTickAsync(stopping).ConfigureAwait(false));
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
        }
    }

    /// <summary>One reading of every database-backed gauge (also called by tests).</summary>
    public async Task RefreshAsync(CancellationToken cancellation)
    {
        var projections = new List<(string, double?, long)>();
        foreach (var projection in _projections.Where(p => p.Enabled))
        {
            var positions = await ReadAsync(projection.LagAsync, cancellation);
            if (positions is null) continue;
            var lag = positions.Count == 0 ? 0 : positions.Any(p => p.LagSeconds is null) ? (double?)null : positions.Max(p => p.LagSeconds!.Value);
            var behind = positions.GroupBy(p => p.Follower).Select(f => f.Sum(p => p.EventsBehind)).DefaultIfEmpty(0).Max();
            projections.Add((projection.Name, lag, behind));
        }
        var sending = await ReadAsync(_sender.BacklogAsync, cancellation) ?? _reading.Sending;
        _reading = new Reading(projections, sending);
    }

    private async Task<T?> ReadAsync<T>(Func<CancellationToken, Task<T>> read, CancellationToken cancellation) where T : class
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        timeout.CancelAfter(TimeSpan.FromSeconds(10));
        try
        {
            return await read(timeout.Token);
        }
        catch (Exception e) when (!cancellation.IsCancellationRequested)
        {
            Interlocked.Increment(ref _failures);
            _log.LogWarning(e, "A database-backed metric could not be read");
            return null;
        }
    }
}
