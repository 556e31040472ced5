using TenantEvents.Infrastructure;

namespace TenantEvents.Identity;

/// <summary>Which claims of the provider's tokens carry what we need.</summary>
public sealed record ClaimMappings(string Subject, string Email, string Name, string Groups)
{
    public static readonly ClaimMappings Default = new("sub", "email", "name", "groups");
}

/// <summary>
/// A tenant's OpenID provider: tokens from <see cref="Issuer"/> for <see cref="Audience"/>, signed with one of
/// <see cref="Algorithms"/> by a key of the provider's JWKS (found through its discovery document), are the tenant's users.
/// Members of <see cref="AdminGroups"/> are tenant administrators; everyone else is a tenant member whose rights come
/// from grants to them or to their groups in the organisation tree (grant a role to group:NAME to map a provider group
/// to a role at an organisation).
/// </summary>
public sealed record IdentityProviderSettings(string Issuer, string Audience, IReadOnlyList<string> Algorithms, ClaimMappings Claims,
    IReadOnlyList<string> AdminGroups, IReadOnlyList<string> AllowedEmailDomains);

/// <summary>The tenant's identity provider as stored (mt_doc_identityproviderrecord, under row-level security).</summary>
public sealed class IdentityProviderRecord
{
    public Guid Id { get; set; }
    public IdentityProviderSettings Settings { get; set; } = null!;
    public long Version { get; set; }
    public DateTimeOffset ConfiguredAt { get; set; }
    public string ConfiguredBy { get; set; } = "";
}

public sealed record ClaimMappingsInput(string? Subject, string? Email, string? Name, string? Groups);

public sealed record ConfigureIdentityProvider(string? Issuer, string? Audience, List<string>? Algorithms, ClaimMappingsInput? Claims,
    List<string>? AdminGroups, List<string>? AllowedEmailDomains);

public static class IdentityProviderRules
{
    /// <summary>Asymmetric signatures only: a shared-secret (HS*) or unsigned (none) token never authenticates anyone.</summary>
    public static readonly IReadOnlyList<string> SupportedAlgorithms = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"];

    public static (IdentityProviderSettings? Settings, IReadOnlyList<FieldError> Errors) Validate(ConfigureIdentityProvider? input,
        TenantEventsOptions options)
    {
        var errors = new List<FieldError>();
        if (input is null) return (null, [new FieldError("body", "required", "must be a JSON object.")]);
        var issuer = input.Issuer?.Trim();
        if (string.IsNullOrEmpty(issuer)) errors.Add(new FieldError("issuer", "required", "is required (the provider's iss value)."));
        else if (!Uri.TryCreate(issuer, UriKind.Absolute, out var uri) || (uri.Scheme != "https" && !(uri.Scheme == "http" && options.AllowInsecureIdentityProviders))
                 || !string.IsNullOrEmpty(uri.Query) || !string.IsNullOrEmpty(uri.Fragment))
            errors.Add(new FieldError("issuer", "invalid-issuer", "must be an https URL without query or fragment (OpenID Connect Discovery 1.0)."));
        else if (string.Equals(issuer.TrimEnd('/'), options.PublicUrl, StringComparison.OrdinalIgnoreCase))
            errors.Add(new FieldError("issuer", "reserved-issuer", "is this platform's own issuer."));
        var audience = input.Audience?.Trim();
        if (string.IsNullOrEmpty(audience)) errors.Add(new FieldError("audience", "required", "is required (the aud value the provider puts in tokens for this platform)."));
        else if (audience.Length > 300) errors.Add(new FieldError("audience", "too-long", "must be at most 300 characters."));
        var algorithms = input.Algorithms is { Count: > 0 } a ? a : ["RS256", "ES256"];
        foreach (var alg in algorithms.Where(x => !SupportedAlgorithms.Contains(x)))
            errors.Add(new FieldError("algorithms", "unsupported-algorithm",
                $"'{alg}' is not accepted; use asymmetric algorithms only: {string.Join(", ", SupportedAlgorithms)}."));
        var claims = new ClaimMappings(Claim(input.Claims?.Subject, "sub", "claims.subject"), Claim(input.Claims?.Email, "email", "claims.email"),
            Claim(input.Claims?.Name, "name", "claims.name"), Claim(input.Claims?.Groups, "groups", "claims.groups"));
        var adminGroups = (input.AdminGroups ?? []).Select(g => g?.Trim() ?? "").ToList();
        if (adminGroups.Any(g => g.Length is 0 or > 200)) errors.Add(new FieldError("adminGroups", "invalid-group", "group names must be 1 to 200 characters."));
        var domains = (input.AllowedEmailDomains ?? []).Select(d => d?.Trim().ToLowerInvariant() ?? "").ToList();
        if (domains.Any(d => d.Length == 0 || d.Contains('@') || Uri.CheckHostName(d) != UriHostNameType.Dns))
            errors.Add(new FieldError("allowedEmailDomains", "invalid-domain", "must be domain names such as example.gov."));
        return errors.Count > 0 ? (null, errors)
            : (new IdentityProviderSettings(issuer!, audience!, algorithms.Distinct().ToList(), claims, adminGroups.Distinct().ToList(), domains.Distinct().ToList()), []);

        string Claim(string? value, string fallback, string field)
        {
            if (value is null) return fallback;
            if (value.Trim().Length is 0 or > 100) errors.Add(new FieldError(field, "invalid-claim", "must be a claim name of 1 to 100 characters."));
            return value.Trim();
        }
    }
}
