using Microsoft.AspNetCore.Authorization;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Keys;
using TenantEvents.Tenants;
using Wolverine.Http;

namespace TenantEvents.Delivery;

public sealed record CreateWebhook(string? Url, IReadOnlyList<string?>? Types, string? Description);

public static class CreateWebhookEndpoint
{
    /// <summary>
    /// Subscribes an endpoint to the tenant's events (all, or the types named; a type may end in * for a prefix). The
    /// answer carries the signing secret, once (Standard Webhooks, whsec_...); deliveries start with the next event.
    /// </summary>
    [WolverinePost("/api/tenants/{tenantId}/webhooks", OperationId = "CreateWebhook")]
    [Authorize(Roles = WebhookHttp.TenantRoles)]
    public static async Task<IResult> Post(Guid tenantId, CreateWebhook? command, HttpContext http, WebhookStore store, CancellationToken cancellation)
    {
        if (await WebhookHttp.RefuseAsync(http, tenantId, cancellation) is { } refusal) return refusal;
        return await CreateAsync(WebhookStore.OwnerOf(tenantId), command, EventFeed.AllTypes, http, store, $"/api/tenants/{tenantId}/webhooks", cancellation);
    }

    /// <summary>Subscribes an endpoint to the platform's events: the lifecycle of every tenant (requested, approved, suspended, ...).</summary>
    [WolverinePost("/api/platform/webhooks", OperationId = "CreatePlatformWebhook")]
    [Authorize(Roles = Roles.PlatformAdmin)]
    public static Task<IResult> PostPlatform(CreateWebhook? command, HttpContext http, WebhookStore store, CancellationToken cancellation) =>
        CreateAsync(DeliverySchema.PlatformOwner, command, EventFeed.PlatformTypes, http, store, "/api/platform/webhooks", cancellation);

    private static async Task<IResult> CreateAsync(string owner, CreateWebhook? command, IReadOnlyCollection<string> allowed, HttpContext http,
        WebhookStore store, string location, CancellationToken cancellation)
    {
        if (command is null) return Problem.Malformed("The body must be a JSON object: {\"url\", \"types\", \"description\"}.").ToResult();
        var errors = new List<FieldError>();
        var url = WebhookDecisions.Url(command.Url, store.Streams.Options.AllowPrivateWebhooks, errors);
        var types = WebhookDecisions.Types(command.Types, allowed, errors);
        var description = WebhookDecisions.Description(command.Description, errors);
        if (errors.Count > 0) return Problem.Validation(errors).ToResult();
        var now = store.Streams.Now;
        var subscription = new WebhookSubscription(Guid.CreateVersion7(), owner, url!.AbsoluteUri, description, types, WebhookStates.Active, 1, now, now,
            http.Caller().Actor.Subject);
        try
        {
            var (secret, refusal) = await store.CreateAsync(subscription, http.Caller().Actor, cancellation);
            if (refusal is not null) return refusal.ToResult();
            return Results.Created($"{location}/{subscription.Id}", WebhookView.Of(subscription, secret!));
        }
        catch (KeyDestroyedException)
        {
            return Problem.Gone().ToResult();
        }
    }
}
