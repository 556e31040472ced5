using Microsoft.AspNetCore.Authorization;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Security;
using Wolverine.Http;

namespace TenantEvents.Delivery;

public static class WebhookQueries
{
    /// <summary>Every CloudEvents type the service emits, and those a platform subscription can receive.</summary>
    [WolverineGet("/api/event-types", OperationId = "ListEventTypes")]
    [Authorize]
    public static IResult Types() => Results.Json(new { types = EventFeed.AllTypes, platformTypes = EventFeed.PlatformTypes.Order(StringComparer.Ordinal) }, Json.Options);

    [WolverineGet("/api/tenants/{tenantId}/webhooks", OperationId = "ListWebhooks")]
    [Authorize(Roles = WebhookHttp.TenantRoles)]
    public static async Task<IResult> List(Guid tenantId, HttpContext http, WebhookStore store, CancellationToken cancellation) =>
        await WebhookHttp.RefuseAsync(http, tenantId, cancellation) ??
        Results.Json((await store.ListAsync(WebhookStore.OwnerOf(tenantId), cancellation)).Select(s => WebhookView.Of(s)), Json.Options);

    [WolverineGet("/api/platform/webhooks", OperationId = "ListPlatformWebhooks")]
    [Authorize(Roles = Roles.PlatformAdmin)]
    public static async Task<IResult> ListPlatform(WebhookStore store, CancellationToken cancellation) =>
        Results.Json((await store.ListAsync(DeliverySchema.PlatformOwner, cancellation)).Select(s => WebhookView.Of(s)), Json.Options);

    [WolverineGet("/api/tenants/{tenantId}/webhooks/{webhookId}", OperationId = "GetWebhook")]
    [Authorize(Roles = WebhookHttp.TenantRoles)]
    public static async Task<IResult> Get(Guid tenantId, Guid webhookId, HttpContext http, WebhookStore store, CancellationToken cancellation) =>
        await WebhookHttp.RefuseAsync(http, tenantId, cancellation) ?? One(http, await store.FindAsync(WebhookStore.OwnerOf(tenantId), webhookId, cancellation));

    [WolverineGet("/api/platform/webhooks/{webhookId}", OperationId = "GetPlatformWebhook")]
    [Authorize(Roles = Roles.PlatformAdmin)]
    public static async Task<IResult> GetPlatform(Guid webhookId, HttpContext http, WebhookStore store, CancellationToken cancellation) =>
        One(http, await store.FindAsync(DeliverySchema.PlatformOwner, webhookId, cancellation));

    private static IResult One(HttpContext http, WebhookSubscription? subscription)
    {
        if (subscription is null) return WebhookHttp.NotFound();
        http.Response.Headers.ETag = $"\"{subscription.Version}\"";
        return Results.Json(WebhookView.Of(subscription), Json.Options);
    }

    /// <summary>
    /// The subscription's deliveries, newest event first: status (pending, retrying, delivered, dead, cancelled), attempts,
    /// the last answer, when the next attempt is due. Filter by status; keyset pages (limit, cursor).
    /// </summary>
    [WolverineGet("/api/tenants/{tenantId}/webhooks/{webhookId}/deliveries", OperationId = "ListWebhookDeliveries")]
    [Authorize(Roles = WebhookHttp.TenantRoles)]
    public static async Task<IResult> Deliveries(Guid tenantId, Guid webhookId, HttpContext http, WebhookStore store, CancellationToken cancellation) =>
        await WebhookHttp.RefuseAsync(http, tenantId, cancellation) ?? await DeliveriesAsync(WebhookStore.OwnerOf(tenantId), webhookId, http, store, cancellation);

    [WolverineGet("/api/platform/webhooks/{webhookId}/deliveries", OperationId = "ListPlatformWebhookDeliveries")]
    [Authorize(Roles = Roles.PlatformAdmin)]
    public static Task<IResult> DeliveriesPlatform(Guid webhookId, HttpContext http, WebhookStore store, CancellationToken cancellation) =>
        DeliveriesAsync(DeliverySchema.PlatformOwner, webhookId, http, store, cancellation);

    private static async Task<IResult> DeliveriesAsync(string owner, Guid webhookId, HttpContext http, WebhookStore store, CancellationToken cancellation)
    {
        var q = http.Request.Query;
        var errors = new List<FieldError>();
        var max = store.Streams.Options.MaxPageSize;
        var limit = 50;
        if (q["limit"].ToString() is { Length: > 0 } l && (!int.TryParse(l, out limit) || limit < 1 || limit > max))
            errors.Add(new("limit", "out-of-range", $"must be a whole number from 1 to {max}."));
        var status = q["status"].ToString() is { Length: > 0 } s ? s : null;
        if (status is not null && !WebhookStates.Deliveries.Contains(status))
            errors.Add(new("status", "invalid-status", $"one of {string.Join(", ", WebhookStates.Deliveries)}."));
        (Guid, long)? before = null;
        if (q["cursor"].ToString() is { Length: > 0 } cursor)
        {
            if (WebhookHttp.TryParseCursor(cursor, out var index, out var tenant)) before = (tenant, index);
            else errors.Add(new("cursor", "invalid-cursor", "must be a nextCursor value from a previous page."));
        }
        if (errors.Count > 0) return Problem.Validation(errors).ToResult();
        if (await store.FindAsync(owner, webhookId, cancellation) is null) return WebhookHttp.NotFound();
        var items = await store.DeliveriesAsync(owner, webhookId, status, before, limit, cancellation);
        var next = items.Count == limit ? WebhookHttp.FormatCursor(items[^1].Sequence, items[^1].TenantId) : null;
        return Results.Json(new DeliveryPage(items, next), Json.Options);
    }

    /// <summary>One delivery with every attempt (time, answer, error, duration).</summary>
    [WolverineGet("/api/tenants/{tenantId}/webhooks/{webhookId}/deliveries/{deliveryId}", OperationId = "GetWebhookDelivery")]
    [Authorize(Roles = WebhookHttp.TenantRoles)]
    public static async Task<IResult> Delivery(Guid tenantId, Guid webhookId, Guid deliveryId, HttpContext http, WebhookStore store,
        CancellationToken cancellation) =>
        await WebhookHttp.RefuseAsync(http, tenantId, cancellation) ??
        (await store.DeliveryAsync(WebhookStore.OwnerOf(tenantId), webhookId, deliveryId, cancellation) is { } d
            ? Results.Json(d, Json.Options) : Problem.NotFound("delivery").ToResult());

    [WolverineGet("/api/platform/webhooks/{webhookId}/deliveries/{deliveryId}", OperationId = "GetPlatformWebhookDelivery")]
    [Authorize(Roles = Roles.PlatformAdmin)]
    public static async Task<IResult> DeliveryPlatform(Guid webhookId, Guid deliveryId, WebhookStore store, CancellationToken cancellation) =>
        await store.DeliveryAsync(DeliverySchema.PlatformOwner, webhookId, deliveryId, cancellation) is { } d
            ? Results.Json(d, Json.Options) : Problem.NotFound("delivery").ToResult();
}
