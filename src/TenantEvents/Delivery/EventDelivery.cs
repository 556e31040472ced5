using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Databases;

namespace TenantEvents.Delivery;

/// <summary>
/// Sends every subscription's deliveries (one stream's at a time in log order, signed per Standard Webhooks, retried
/// with back-off, dead-lettered after the last attempt); one sender per database across instances (an advisory lock
/// held by a connection). The deliveries are made by the fan-out (<see cref="WebhookFanOut"/>), an asynchronous
/// projection the projection daemon runs, which wakes the sender when it adds some.
/// </summary>
public sealed class EventDelivery : BackgroundService
{
    private readonly SemaphoreSlim _sendSignal = new(0, 1);
    private readonly WebhookSender sender;
    private readonly TenantEventsOptions options;
    private readonly ILogger<EventDelivery> logger;

    public EventDelivery(WebhookFanOut fanOut, WebhookSender sender, TenantEventsOptions options, ILogger<EventDelivery> logger)
    {
        (this.sender, this.options, this.logger) = (sender, options, logger);
        fanOut.DeliveriesAdded += WakeSender;
    }

    /// <summary>There are deliveries to send now (new, or sent again by an administrator).</summary>
    public void WakeSender()
    {
        try { _sendSignal.Release(); }
        catch (SemaphoreFullException) { }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await Task.Yield();
        while (!stoppingToken.IsCancellationRequested)
        {
            var busy = false;
            try
            {
                busy = await sender.RoundAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                logger.LogWarning(e, "Sending webhook deliveries failed; it runs again at the next interval");
            }
            if (busy) continue;
            try
            {
                await _sendSignal.WaitAsync(options.DeliveryPollInterval, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        await sender.ReleaseLeadsAsync();
    }
}
