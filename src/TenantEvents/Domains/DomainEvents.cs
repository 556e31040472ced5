using TenantEvents.Infrastructure.Security;

namespace TenantEvents.Domains;

/// <summary>
/// A name a tenant is addressed by: its own domain (<see cref="DomainKinds.Custom"/>, verified by a token the tenant
/// publishes) or a subdomain of the platform's zone (<see cref="DomainKinds.Platform"/>, verified when claimed: the
/// platform owns the zone).
/// </summary>
public static class DomainKinds
{
    public const string Custom = "custom";
    public const string Platform = "platform";
}

/// <summary>How a claim was proven.</summary>
public static class VerificationMethods
{
    public const string Http = "http";
    public const string Dns = "dns";
    public const string Platform = "platform";
}

// A tenant's domains: one stream per tenant (DomainEventTypes.Stream), sealed like every tenant event.

/// <summary>A tenant claimed a name; <paramref name="Challenge"/> is what it must publish to prove it holds it.</summary>
public sealed record DomainClaimed(string Domain, string Kind, string Challenge, Actor By, DateTimeOffset At);

/// <summary>The claim was proven (or, for a platform subdomain, granted): from now on the name resolves to the tenant.</summary>
public sealed record DomainVerified(string Domain, string Method, Actor By, DateTimeOffset At);

/// <summary>The tenant gave the name up (or never proved it): it resolves to nobody, and another tenant may claim it.</summary>
public sealed record DomainReleased(string Domain, string? Reason, Actor By, DateTimeOffset At);

public static class DomainEventTypes
{
    /// <summary>Every domain event; the event model test compares this list with eventmodels/domains.json.</summary>
    public static readonly IReadOnlyList<Type> All = [typeof(DomainClaimed), typeof(DomainVerified), typeof(DomainReleased)];

    /// <summary>The stream of a tenant's domains (stable, name-based).</summary>
    public static Guid Stream(Guid tenantId) => Infrastructure.StableIds.From(tenantId, "domains");
}
