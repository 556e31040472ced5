using Microsoft.AspNetCore.Authorization;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Tenants;
using Wolverine.Http;

namespace TenantEvents.Delivery;

public sealed record ChangeWebhook(string? Url, IReadOnlyList<string?>? Types, string? Description, string? State);

public static class ChangeWebhookEndpoint
{
    /// <summary>
    /// Changes a subscription: its endpoint, filter, description, or state (paused: deliveries wait, in order, until it
    /// is active again). If-Match with its version guards against a concurrent change.
    /// </summary>
    [WolverinePatch("/api/tenants/{tenantId}/webhooks/{webhookId}", OperationId = "ChangeWebhook")]
    [Authorize(Roles = WebhookHttp.TenantRoles)]
    public static async Task<IResult> Patch(Guid tenantId, Guid webhookId, ChangeWebhook? command, HttpContext http, WebhookStore store,
        EventDelivery delivery, CancellationToken cancellation)
    {
        if (await WebhookHttp.RefuseAsync(http, tenantId, cancellation) is { } refusal) return refusal;
        return await ChangeAsync(WebhookStore.OwnerOf(tenantId), webhookId, command, EventFeed.AllTypes, http, store, delivery, cancellation);
    }

    [WolverinePatch("/api/platform/webhooks/{webhookId}", OperationId = "ChangePlatformWebhook")]
    [Authorize(Roles = Roles.PlatformAdmin)]
    public static Task<IResult> PatchPlatform(Guid webhookId, ChangeWebhook? command, HttpContext http, WebhookStore store, EventDelivery delivery,
        CancellationToken cancellation) =>
        ChangeAsync(DeliverySchema.PlatformOwner, webhookId, command, EventFeed.PlatformTypes, http, store, delivery, cancellation);

    /// <summary>Removes a subscription; what it had not yet received is cancelled. Its delivery history goes with it from the API.</summary>
    [WolverineDelete("/api/tenants/{tenantId}/webhooks/{webhookId}", OperationId = "RemoveWebhook")]
    [Authorize(Roles = WebhookHttp.TenantRoles)]
    public static async Task<IResult> Delete(Guid tenantId, Guid webhookId, HttpContext http, WebhookStore store, CancellationToken cancellation)
    {
        if (await WebhookHttp.RefuseAsync(http, tenantId, cancellation) is { } refusal) return refusal;
        return await store.RemoveAsync(WebhookStore.OwnerOf(tenantId), webhookId, http.Caller().Actor, store.Streams.Now, cancellation)
            ? Results.NoContent() : WebhookHttp.NotFound();
    }

    [WolverineDelete("/api/platform/webhooks/{webhookId}", OperationId = "RemovePlatformWebhook")]
    [Authorize(Roles = Roles.PlatformAdmin)]
    public static async Task<IResult> DeletePlatform(Guid webhookId, HttpContext http, WebhookStore store, CancellationToken cancellation) =>
        await store.RemoveAsync(DeliverySchema.PlatformOwner, webhookId, http.Caller().Actor, store.Streams.Now, cancellation)
            ? Results.NoContent() : WebhookHttp.NotFound();

    private static async Task<IResult> ChangeAsync(string owner, Guid id, ChangeWebhook? command, IReadOnlyCollection<string> allowed, HttpContext http,
        WebhookStore store, EventDelivery delivery, CancellationToken cancellation)
    {
        if (command is null) return Problem.Malformed("The body must be a JSON object: {\"url\", \"types\", \"description\", \"state\"}.").ToResult();
        var errors = new List<FieldError>();
        var url = command.Url is null ? null : WebhookDecisions.Url(command.Url, store.Streams.Options.AllowPrivateWebhooks, errors);
        var types = command.Types is null ? null : WebhookDecisions.Types(command.Types, allowed, errors);
        var description = command.Description is null ? null : WebhookDecisions.Description(command.Description, errors);
        if (command.State is not (null or WebhookStates.Active or WebhookStates.Paused))
            errors.Add(new("state", "invalid-state", "active or paused."));
        if (errors.Count > 0) return Problem.Validation(errors).ToResult();
        if (!TenantHttp.TryExpectedVersion(http.Request, out var expected, out var error)) return error!;
        var (result, stale) = await store.ChangeAsync(owner, id, expected, s => s with
        {
            Url = url?.AbsoluteUri ?? s.Url, Types = types ?? s.Types, Description = description ?? s.Description, State = command.State ?? s.State,
        }, http.Caller().Actor, store.Streams.Now, cancellation);
        if (result is null) return WebhookHttp.NotFound();
        if (stale is { } actual) return Problem.StaleVersion(expected!.Value, actual).ToResult();
        if (result.State == WebhookStates.Active) delivery.WakeSender();
        http.Response.Headers.ETag = $"\"{result.Version}\"";
        return Results.Json(WebhookView.Of(result), Json.Options);
    }
}
