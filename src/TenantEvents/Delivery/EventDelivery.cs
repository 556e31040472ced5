using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Npgsql;
using NpgsqlTypes;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Databases;
using TenantEvents.Infrastructure.Outbound;
using TenantEvents.Infrastructure.Webhooks;
using TenantEvents.Keys;

namespace TenantEvents.Delivery;

/// <summary>
/// Moves every tenant's events out: fan-out (a tenant's new log entries become deliveries, one per matching
/// subscription, in the transaction that advances the tenant's position) and sending (each subscription's deliveries,
/// one stream's at a time in log order, signed per Standard Webhooks, retried with back-off, dead-lettered after the
/// last attempt). Woken by the database's commit notifications; polls for what it was not told about. One sender per
/// database across instances (an advisory lock held by a connection); fan-out is locked per tenant.
/// </summary>
public sealed class EventDelivery : BackgroundService
{
    private readonly SemaphoreSlim _fanOutSignal = new(0, 1);
    private readonly SemaphoreSlim _sendSignal = new(0, 1);
    private readonly WebhookFanOut fanOut;
    private readonly WebhookSender sender;
    private readonly EventSignals signals;
    private readonly BrokerFanOut broker;
    private readonly TenantEventsOptions options;
    private readonly ILogger<EventDelivery> logger;
    private readonly TenantDatabases databases;

    public EventDelivery(WebhookFanOut fanOut, WebhookSender sender, WebhookStore store, EventSignals signals, BrokerFanOut broker,
        TenantEventsOptions options, ILogger<EventDelivery> logger)
    {
        (this.fanOut, this.sender, this.signals, this.broker, this.options, this.logger) = (fanOut, sender, signals, broker, options, logger);
        databases = store.Streams.Databases;
        fanOut.DeliveriesAdded += WakeSender;
    }

    /// <summary>Events of these tenants were committed: fan them out now.</summary>
    public void Notify(Guid tenant)
    {
        fanOut.MarkDirty(tenant);
        Signal(_fanOutSignal);
    }

    /// <summary>There are deliveries to send now (new, or sent again by an administrator).</summary>
    public void WakeSender() => Signal(_sendSignal);

    private static void Signal(SemaphoreSlim signal)
    {
        try { signal.Release(); }
        catch (SemaphoreFullException) { }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (broker.Enabled && !stoppingToken.IsCancellationRequested)
        {
            try
            {
                await broker.StartAsync(stoppingToken);
                break;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning(e, "Could not set where publishing to the broker starts; trying again in a second");
                await Task.Delay(TimeSpan.FromSeconds(1), stoppingToken);
            }
        }
        var loops = new List<Task> { Loop("fan-out", fanOut.RoundAsync, _fanOutSignal, stoppingToken), Loop("send", sender.RoundAsync, _sendSignal, stoppingToken) };
        loops.AddRange(databases.All.Select(d => ListenAsync(d, stoppingToken)));
        await Task.WhenAll(loops);
    }

    /// <summary>Runs rounds: at once again while a round found work, else after a signal or the poll interval.</summary>
    private async Task Loop(string name, Func<CancellationToken, Task<bool>> round, SemaphoreSlim signal, CancellationToken stoppingToken)
    {
        await Task.Yield();
        while (!stoppingToken.IsCancellationRequested)
        {
            var busy = false;
            try
            {
                busy = await round(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                logger.LogWarning(e, "Event delivery ({Loop}) failed; it runs again at the next interval", name);
            }
            if (busy) continue;
            try
            {
                await signal.WaitAsync(options.DeliveryPollInterval, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>Commit notifications of one database (tenantevents_events, payload: the tenant); reconnects after a failure.</summary>
    private async Task ListenAsync(TenantDatabases.Database database, CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await using var connection = await database.Service.OpenConnectionAsync(stoppingToken);
                connection.Notification += (_, e) =>
                {
                    if (!Guid.TryParse(e.Payload, out var tenant)) return;
                    signals.Committed(tenant);
                    Notify(tenant);
                };
                await using (var listen = new NpgsqlCommand($"listen {DeliverySchema.Channel}", connection))
                    await listen.ExecuteNonQueryAsync(stoppingToken);
                // Whatever was committed while nobody listened is found by the next poll.
                Signal(_fanOutSignal);
                while (!stoppingToken.IsCancellationRequested) await connection.WaitAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                logger.LogWarning(e, "Listening for commits in database {Database} failed; listening again in a second", database.Entry.Id);
                try { await Task.Delay(TimeSpan.FromSeconds(1), stoppingToken); }
                catch (OperationCanceledException) { return; }
            }
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        await sender.ReleaseLeadsAsync();
    }
}
