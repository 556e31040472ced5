using TenantEvents.Infrastructure.Security;

namespace TenantEvents.Delivery;

/// <summary>A tenant's webhook subscription was made: where its events will go (the secret is never in an event).</summary>
public sealed record WebhookSubscribed(Guid SubscriptionId, string Url, IReadOnlyList<string> Types, string Description, Actor By, DateTimeOffset At);

/// <summary>Its endpoint, filter, description or state (active, paused) changed.</summary>
public sealed record WebhookSubscriptionChanged(Guid SubscriptionId, string Url, IReadOnlyList<string> Types, string Description, string State,
    Actor By, DateTimeOffset At);

/// <summary>It was removed; what it had not received was cancelled.</summary>
public sealed record WebhookUnsubscribed(Guid SubscriptionId, Actor By, DateTimeOffset At);

/// <summary>An administrator sent deliveries again (one, or every one in a state).</summary>
public sealed record WebhookRedeliveryRequested(Guid SubscriptionId, Guid? DeliveryId, string? Status, int Count, Actor By, DateTimeOffset At);

/// <summary>
/// The events of a tenant's webhook subscriptions (a stream per subscription in the tenant's log), so that who sent the
/// tenant's events where, and when, is in the audit trail. The platform's subscriptions are rows with their creator.
/// </summary>
public static class DeliveryEventTypes
{
    public static readonly IReadOnlyList<Type> All =
        [typeof(WebhookSubscribed), typeof(WebhookSubscriptionChanged), typeof(WebhookUnsubscribed), typeof(WebhookRedeliveryRequested)];
}
