using System.Security.Claims;

namespace TenantEvents.Infrastructure.Security;

/// <summary>The roles of this scope. Every endpoint names the ones it accepts; nothing is allowed by default.</summary>
public static class Roles
{
    public const string PlatformAdmin = "platform-admin";
    public const string PlatformApprover = "platform-approver";
    public const string Auditor = "auditor";
    public const string Analyst = "analyst";

    /// <summary>Administrator of exactly one tenant, named by the <see cref="Claims.TenantId"/> claim.</summary>
    public const string TenantAdmin = "tenant-admin";

    /// <summary>
    /// A person or system of one tenant (the <see cref="Claims.TenantId"/> claim) whose rights come from the roles granted
    /// to them, or to their groups, in the tenant's organisation tree (Organisations/).
    /// </summary>
    public const string TenantMember = "tenant-member";

    public static readonly IReadOnlyList<string> All = [PlatformAdmin, PlatformApprover, Auditor, Analyst, TenantAdmin, TenantMember];

    /// <summary>Roles that see every tenant (read-only for all but the platform administrators).</summary>
    public static readonly IReadOnlyList<string> PlatformWide = [PlatformAdmin, PlatformApprover, Auditor, Analyst];
}

public static class Claims
{
    public const string Role = "role";
    public const string TenantId = "tenant_id";
    public const string ClientId = "client_id";
    public const string Subject = "sub";
    public const string Name = "name";
    public const string Groups = "groups";
    public const string Scope = "scope";
    public const string Email = "email";

    /// <summary>
    /// OpenID Connect's email_verified: the provider checked that the person controls the address. Only then may the
    /// address stand for the person (matching directory records by it); otherwise it is whatever the person typed.
    /// </summary>
    public const string EmailVerified = "email_verified";

    /// <summary>What kind of caller the token stands for: user (a person) or service (a service account).</summary>
    public const string Kind = "kind";

    /// <summary>Set on a federated person who could not be given a licence at first sign-in: the refusal's figures (JSON).</summary>
    public const string QuotaRefusal = "quota_refusal";

    /// <summary>The identity provider that vouched for a federated user (its issuer).</summary>
    public const string IdentityProvider = "idp";
}

/// <summary>Who issued a command: written into every event so the events can serve as the audit trail.</summary>
/// <param name="Subject">The authenticated subject (user id, service account id, webhook source, or "system").</param>
/// <param name="Kind">user, service, webhook or system.</param>
/// <param name="TenantId">The actor's own tenant; null for platform staff and the system.</param>
/// <param name="ClientId">The OAuth client the request came through, where there was one.</param>
public sealed record Actor(string Subject, string Kind, Guid? TenantId = null, string? ClientId = null)
{
    public static readonly Actor System = new("system", "system");

    public static Actor Webhook(string source) => new($"webhook:{source}", "webhook");

    public override string ToString() => TenantId is { } t ? $"{Kind}:{Subject}@{t}" : $"{Kind}:{Subject}";
}

/// <summary>What a request's principal may do, read from its validated claims.</summary>
public sealed class Caller
{
    private readonly HashSet<string> _roles;

    public Caller(ClaimsPrincipal principal)
    {
        Principal = principal;
        _roles = principal.FindAll(Claims.Role).Select(c => c.Value).ToHashSet(StringComparer.Ordinal);
        var subject = principal.FindFirst(Claims.Subject)?.Value ?? principal.FindFirst(ClaimTypes.NameIdentifier)?.Value;
        Guid? tenant = Guid.TryParse(principal.FindFirst(Claims.TenantId)?.Value, out var t) ? t : null;
        var kind = principal.FindFirst(Claims.Kind)?.Value == "service" ? "service" : "user";
        Actor = new Actor(subject ?? "anonymous", kind, tenant, principal.FindFirst(Claims.ClientId)?.Value);
    }

    /// <summary>A service account of its tenant (client-credentials token): its rights are its token's scopes.</summary>
    public bool IsService => Actor.Kind == "service";

    /// <summary>The scopes of a service token (each a permission).</summary>
    public IReadOnlyList<string> Scopes => Principal.FindAll(Claims.Scope).Select(c => c.Value).Distinct().ToList();

    public ClaimsPrincipal Principal { get; }

    /// <summary>The groups the identity provider says the caller belongs to.</summary>
    public IReadOnlyList<string> Groups => Principal.FindAll(Claims.Groups).Select(c => c.Value).Distinct().ToList();

    /// <summary>A tenant member of this very tenant: rights from its organisation grants.</summary>
    public bool IsMemberOf(Guid tenantId) => Has(Roles.TenantMember) && Actor.TenantId == tenantId;
    public Actor Actor { get; }
    public bool IsAuthenticated => Principal.Identity?.IsAuthenticated == true && Actor.Subject != "anonymous";
    public bool Has(string role) => _roles.Contains(role);
    public bool HasAny(IEnumerable<string> roles) => roles.Any(_roles.Contains);

    /// <summary>A tenant administrator of this very tenant (and only that one).</summary>
    public bool AdministersTenant(Guid tenantId) => Has(Roles.TenantAdmin) && Actor.TenantId == tenantId;

    /// <summary>May see this tenant at all: platform-wide roles, or its own tenant administrator.</summary>
    public bool CanSeeTenant(Guid tenantId) => HasAny(Roles.PlatformWide) || AdministersTenant(tenantId);
}
