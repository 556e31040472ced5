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

    /// <summary>
    /// Keys the key service did not find, by operation: a shredded tenant's, now and then; many at once, a deleted key
    /// store or a wrong vault address (every tenant then looks shredded).
    /// </summary>
    public static readonly Counter<long> KeyServiceNotFound = Telemetry.Meter.CreateCounter<long>("tenantevents.key_service.not_found", "{call}",
        "Key service calls that found no key, by operation");

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

    /// <summary>The tags Wolverine's instruments may keep: never its tenant.id (one series per tenant, the estate's list).</summary>
    public static readonly string[] WolverineTags = ["message.type", "message.destination", "exception.type", "source", "database", "server"];

    /// <summary>
    /// The exporter, when a management port is configured, and the views that keep tenant ids out of every exported metric
    /// (Wolverine tags its message metrics with the envelope's tenant; ours use <see cref="TenantLabels"/>).
    /// </summary>
    public static MeterProviderBuilder AddTenantEventsExporters(this MeterProviderBuilder metrics, TenantEventsOptions options)
    {
        metrics.AddView(instrument => instrument.Meter.Name.StartsWith("Wolverine", StringComparison.Ordinal)
            ? new MetricStreamConfiguration { TagKeys = WolverineTags }
            : null);
        return options.ManagementPort is null ? metrics : metrics.AddPrometheusExporter();
    }
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
    private volatile bool _full = limit == 0;

    public string For(Guid tenant)
    {
        if (_labels.TryGetValue(tenant, out var label)) return label;
        // Past the bound the answer costs one read (no dictionary-wide lock of Count on every request).
        if (_full) return Other;
        lock (_labels)
        {
            if (_labels.Count >= limit)
            {
                _full = true;
                return Other;
            }
            return _labels.GetOrAdd(tenant, t => t.ToString());
        }
    }
}

/// <summary>
/// The gauges that need the database (projection lag, the webhook backlog, each database's reachability): read every
/// <see cref="TenantEventsOptions.MetricsRefreshInterval"/> in the background, each within 10 s, and reported from the
/// last reading (a scrape never waits for the database). A figure that could not be read keeps its last value, and
/// tenantevents.metrics.refresh_failures counts the failure (its alert says the others may be stale). The instruments
/// are registered once per process, whatever the number of hosts in it (the tests run two).
/// </summary>
public sealed class OperationsGauges(IEnumerable<IAsyncProjection> projections, ProjectionDaemon daemon, Delivery.WebhookSender sender,
    TenantEvents.Infrastructure.Databases.TenantDatabases databases, TenantEvents.Infrastructure.Databases.TenantDirectory directory,
    TenantEventsOptions options, ILogger<OperationsGauges> log) : BackgroundService
{
    private sealed record Reading(IReadOnlyDictionary<string, (double? Lag, long Behind)> Projections, IReadOnlyList<Delivery.SendingBacklog> Sending,
        IReadOnlyDictionary<string, bool> Databases, IReadOnlyDictionary<string, (long Tenants, int Capacity)> Shared);

    private static volatile Reading _reading = new(new Dictionary<string, (double?, long)>(), [], new Dictionary<string, bool>(),
        new Dictionary<string, (long, int)>());
    private static volatile Func<IEnumerable<Measurement<int>>> _failuresInARow = () => [];
    private static long _failures;

    static OperationsGauges()
    {
        // The counters alerts watch exist from the start at 0 (an increase over a series that does not exist yet is no alert).
        OperationsMetrics.DeadLettered.Add(0);
        OperationsMetrics.QuotaAlerts.Add(0);
        OperationsMetrics.KeyServiceErrors.Add(0);
        OperationsMetrics.KeyServiceNotFound.Add(0);
        Telemetry.Meter.CreateObservableGauge("tenantevents.projection.lag", () => _reading.Projections.Where(p => p.Value.Lag is not null)
            .Select(p => new Measurement<double>(p.Value.Lag!.Value, new KeyValuePair<string, object?>("projection", p.Key))), "s",
            "How long the oldest event an asynchronous projection has not yet processed has waited (slowest database)");
        Telemetry.Meter.CreateObservableGauge("tenantevents.projection.events_behind", () => _reading.Projections
            .Select(p => new Measurement<long>(p.Value.Behind, new KeyValuePair<string, object?>("projection", p.Key))), "{event}",
            "Events an asynchronous projection has not yet processed (all databases)");
        Telemetry.Meter.CreateObservableGauge("tenantevents.projection.consecutive_failures", () => _failuresInARow(), "{round}",
            "Failed rounds in a row of each projection this instance runs");
        Telemetry.Meter.CreateObservableGauge("tenantevents.webhook.waiting", () => _reading.Sending
            .Select(s => new Measurement<long>(s.Waiting, new KeyValuePair<string, object?>("database", s.Database))), "{delivery}",
            "Webhook deliveries waiting to be sent, per database");
        Telemetry.Meter.CreateObservableGauge("tenantevents.webhook.oldest_waiting_age", () => _reading.Sending
            .Select(s => new Measurement<double>(s.OldestWaitingSeconds ?? 0, new KeyValuePair<string, object?>("database", s.Database))), "s",
            "Age of the oldest webhook delivery waiting to be sent, per database (0: none waits)");
        Telemetry.Meter.CreateObservableGauge("tenantevents.database.up", () => _reading.Databases
            .Select(d => new Measurement<int>(d.Value ? 1 : 0, new KeyValuePair<string, object?>("database", d.Key))), "{database}",
            "Whether each database answered the last reading (1) or not (0); readiness asks only the main one");
        Telemetry.Meter.CreateObservableGauge("tenantevents.database.tenants", () => _reading.Shared
            .Select(d => new Measurement<long>(d.Value.Tenants, new KeyValuePair<string, object?>("database", d.Key))), "{tenant}",
            "Tenants placed in each shared database");
        Telemetry.Meter.CreateObservableGauge("tenantevents.database.capacity", () => _reading.Shared
            .Select(d => new Measurement<int>(d.Value.Capacity, new KeyValuePair<string, object?>("database", d.Key))), "{tenant}",
            "Most tenants each shared database takes (TenantEvents:Zones:{zone}:Capacity, or a Shared entry's)");
        Telemetry.Meter.CreateObservableCounter("tenantevents.metrics.refresh_failures", () => Interlocked.Read(ref _failures), "{reading}",
            "Readings of the database-backed gauges that failed");
    }

    protected override async Task ExecuteAsync(CancellationToken stopping)
    {
        _failuresInARow = () => projections.Select(p => new Measurement<int>(daemon.RunsOf(p.Name)?.ConsecutiveFailures ?? 0,
            new KeyValuePair<string, object?>("projection", p.Name)));
        using var timer = new PeriodicTimer(options.MetricsRefreshInterval);
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

    /// <summary>One reading of every database-backed gauge.</summary>
    public async Task RefreshAsync(CancellationToken cancellation)
    {
        var previous = _reading;
        var lags = new Dictionary<string, (double?, long)>();
        foreach (var projection in projections.Where(p => p.Enabled))
        {
            var positions = await ReadAsync(projection.LagAsync, cancellation);
            if (positions is null)
            {
                if (previous.Projections.TryGetValue(projection.Name, out var last)) lags[projection.Name] = last;
                continue;
            }
            var lag = positions.Count == 0 ? 0 : positions.Any(p => p.LagSeconds is null) ? (double?)null : positions.Max(p => p.LagSeconds!.Value);
            var behind = positions.GroupBy(p => p.Follower).Select(f => f.Sum(p => p.EventsBehind)).DefaultIfEmpty(0).Max();
            lags[projection.Name] = (lag, behind);
        }
        var sending = await ReadAsync(sender.BacklogAsync, cancellation) ?? previous.Sending;
        var up = new Dictionary<string, bool>();
        foreach (var database in databases.All)
            up[database.Entry.Id] = Counted(await Bounded.AnswersAsync(database.Service, TimeSpan.FromSeconds(3), cancellation)) is null;
        var shared = await ReadAsync<IReadOnlyDictionary<string, (long Tenants, int Capacity)>>(async token =>
        {
            var counts = await directory.TenantsPerDatabaseAsync(token);
            return (await directory.DatabasesAsync(token)).Where(d => !d.Dedicated).ToDictionary(d => d.Id,
                d => (counts.GetValueOrDefault(d.Id), d.Capacity ?? TenantEvents.Infrastructure.Databases.ZoneOptions.DefaultCapacity));
        }, cancellation) ?? previous.Shared;
        _reading = new Reading(lags, sending, up, shared);
    }

    private async Task<T?> ReadAsync<T>(Func<CancellationToken, Task<T>> read, CancellationToken cancellation) where T : class
    {
        var (value, failure) = await Bounded.ReadAsync(read, TimeSpan.FromSeconds(10), cancellation);
        Counted(failure);
        return value;
    }

    /// <summary>A reading that failed is counted and logged (tenantevents.metrics.refresh_failures).</summary>
    private Exception? Counted(Exception? failure)
    {
        if (failure is null) return null;
        Interlocked.Increment(ref _failures);
        log.LogWarning(failure, "A database-backed metric could not be read");
        return failure;
    }
}
