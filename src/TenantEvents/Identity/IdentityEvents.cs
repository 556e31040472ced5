using TenantEvents.Infrastructure.Security;

namespace TenantEvents.Identity;

// Service accounts: one stream per account (the account's id), sealed under the tenant's key like every tenant event.
// The secret is never stored: only its SHA-256, and that only sealed.

public sealed record ServiceAccountCreated(Guid AccountId, string Name, IReadOnlyList<string> Scopes, byte[] SecretHash, Actor By, DateTimeOffset At);

public sealed record ServiceAccountSecretRotated(Guid AccountId, byte[] SecretHash, bool TokensRevoked, Actor By, DateTimeOffset At);

public sealed record ServiceAccountScopesChanged(Guid AccountId, IReadOnlyList<string> Scopes, Actor By, DateTimeOffset At);

public sealed record ServiceAccountDisabled(Guid AccountId, string? Reason, Actor By, DateTimeOffset At);

public sealed record ServiceAccountEnabled(Guid AccountId, Actor By, DateTimeOffset At);

// The tenant's identity provider (OIDC federation): one stream per tenant (IdentityEventTypes.ProviderStream).

public sealed record IdentityProviderConfigured(IdentityProviderSettings Settings, Actor By, DateTimeOffset At);

public sealed record IdentityProviderRemoved(string Issuer, Actor By, DateTimeOffset At);

public static class IdentityEventTypes
{
    /// <summary>Every identity event; the event model test compares this list with eventmodels/.</summary>
    public static readonly IReadOnlyList<Type> All =
    [
        typeof(ServiceAccountCreated), typeof(ServiceAccountSecretRotated), typeof(ServiceAccountScopesChanged),
        typeof(ServiceAccountDisabled), typeof(ServiceAccountEnabled), typeof(IdentityProviderConfigured), typeof(IdentityProviderRemoved),
    ];

    /// <summary>The stream of a tenant's identity provider settings: a stable id derived from the tenant's (UUID v8, name-based).</summary>
    public static Guid ProviderStream(Guid tenantId) => Infrastructure.StableIds.From(tenantId, "identity-provider");
}
