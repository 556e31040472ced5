using Microsoft.AspNetCore.Authorization;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Tenants;
using Wolverine.Http;

namespace TenantEvents.Delivery;

public sealed record RedeliverMany(string? Status);

public static class RedeliverEndpoint
{
    /// <summary>Sends one delivery again (whatever became of it), with a fresh allowance of attempts. 202 with the delivery.</summary>
    [WolverinePost("/api/tenants/{tenantId}/webhooks/{webhookId}/deliveries/{deliveryId}/redeliver", OperationId = "RedeliverWebhookDelivery")]
    [Authorize(Roles = WebhookHttp.TenantRoles)]
    public static async Task<IResult> One(Guid tenantId, Guid webhookId, Guid deliveryId, HttpContext http, WebhookStore store, EventDelivery delivery,
        CancellationToken cancellation) =>
        await WebhookHttp.RefuseAsync(http, tenantId, cancellation) ?? await OneAsync(WebhookStore.OwnerOf(tenantId), webhookId, deliveryId, http, store, delivery, cancellation);

    [WolverinePost("/api/platform/webhooks/{webhookId}/deliveries/{deliveryId}/redeliver", OperationId = "RedeliverPlatformWebhookDelivery")]
    [Authorize(Roles = Roles.PlatformAdmin)]
    public static Task<IResult> OnePlatform(Guid webhookId, Guid deliveryId, HttpContext http, WebhookStore store, EventDelivery delivery,
        CancellationToken cancellation) =>
        OneAsync(DeliverySchema.PlatformOwner, webhookId, deliveryId, http, store, delivery, cancellation);

    /// <summary>Sends again every delivery of the subscription in a state (default: dead). 202 with how many.</summary>
    [WolverinePost("/api/tenants/{tenantId}/webhooks/{webhookId}/redeliver", OperationId = "RedeliverWebhook")]
    [Authorize(Roles = WebhookHttp.TenantRoles)]
    public static async Task<IResult> Many(Guid tenantId, Guid webhookId, RedeliverMany? command, HttpContext http, WebhookStore store,
        EventDelivery delivery, CancellationToken cancellation) =>
        await WebhookHttp.RefuseAsync(http, tenantId, cancellation) ?? await ManyAsync(WebhookStore.OwnerOf(tenantId), webhookId, command, http, store, delivery, cancellation);

    [WolverinePost("/api/platform/webhooks/{webhookId}/redeliver", OperationId = "RedeliverPlatformWebhook")]
    [Authorize(Roles = Roles.PlatformAdmin)]
    public static Task<IResult> ManyPlatform(Guid webhookId, RedeliverMany? command, HttpContext http, WebhookStore store, EventDelivery delivery,
        CancellationToken cancellation) =>
        ManyAsync(DeliverySchema.PlatformOwner, webhookId, command, http, store, delivery, cancellation);

    private static async Task<IResult> OneAsync(string owner, Guid webhookId, Guid deliveryId, HttpContext http, WebhookStore store, EventDelivery delivery,
        CancellationToken cancellation)
    {
        if (await store.DeliveryAsync(owner, webhookId, deliveryId, cancellation) is not { } found) return Problem.NotFound("delivery").ToResult();
        if (found.LastError == WebhookStore.TenantGone) return Problem.Gone().ToResult();
        var sent = await store.RedeliverAsync(owner, webhookId, deliveryId, null, http.Caller().Actor, store.Streams.Now, cancellation);
        if (sent == 0 && found.Status != WebhookStates.Pending)
        {
            var max = store.Streams.Options.MaxPendingDeliveries;
            return Problem.LimitReached("webhook-backlog-full", "The subscription has as many deliveries waiting as it may",
                $"A subscription has at most {max} deliveries waiting; send this one again once the endpoint has caught up.", max,
                nameof(TenantEventsOptions.MaxPendingDeliveries)).ToResult();
        }
        delivery.WakeSender();
        return Results.Json(await store.DeliveryAsync(owner, webhookId, deliveryId, cancellation), Json.Options, statusCode: 202);
    }

    private static async Task<IResult> ManyAsync(string owner, Guid webhookId, RedeliverMany? command, HttpContext http, WebhookStore store,
        EventDelivery delivery, CancellationToken cancellation)
    {
        var status = command?.Status ?? WebhookStates.Dead;
        if (status is not (WebhookStates.Dead or WebhookStates.Retrying or WebhookStates.Delivered or WebhookStates.Cancelled))
            return Problem.Validation("status", "invalid-status", "dead, retrying, delivered or cancelled.").ToResult();
        if (await store.FindAsync(owner, webhookId, cancellation) is null) return WebhookHttp.NotFound();
        var count = await store.RedeliverAsync(owner, webhookId, null, status, http.Caller().Actor, store.Streams.Now, cancellation);
        delivery.WakeSender();
        return Results.Json(new { redelivering = count }, Json.Options, statusCode: 202);
    }
}
