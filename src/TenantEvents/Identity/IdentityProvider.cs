using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Organisations;

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
    IReadOnlyList<string> AdminGroups, IReadOnlyList<string> AllowedEmailDomains, IReadOnlyList<GroupMapping>? GroupMappings = null)
{
    public IReadOnlyList<GroupMapping> Mappings => GroupMappings ?? [];
}

/// <summary>
/// A mapping rule: members of the provider's (or directory's) group belong to the organisation, and hold the role there
/// when one is named (a grant to group:NAME that the configuration keeps, with a stable id so removing the rule revokes it).
/// </summary>
public sealed record GroupMapping(string Group, Guid OrganisationId, string? Role)
{
    /// <summary>The grant a rule stands for: a UUID v8 derived from the tenant, organisation, group and role.</summary>
    public Guid GrantId(Guid tenant) =>
        StableIds.From(System.Text.Encoding.UTF8.GetBytes($"{tenant:N}|{OrganisationId:N}|{Group}|{Role}|group-mapping"));
}

public sealed record GroupMappingInput(string? Group, Guid? OrganisationId, string? Role);

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
    List<string>? AdminGroups, List<string>? AllowedEmailDomains, List<GroupMappingInput>? GroupMappings = null);

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
        var mappings = new List<GroupMapping>();
        if (input.GroupMappings is { Count: > 200 }) errors.Add(new FieldError("groupMappings", "too-many", "at most 200 rules."));
        foreach (var (rule, i) in (input.GroupMappings ?? []).Select((r, i) => (r, i)))
        {
            if (rule?.Group?.Trim() is not { Length: > 0 and <= 200 } group) { errors.Add(new FieldError($"groupMappings[{i}].group", "required", "a group name of 1 to 200 characters.")); continue; }
            if (rule.OrganisationId is not { } org) { errors.Add(new FieldError($"groupMappings[{i}].organisationId", "required", "the organisation the group's members belong to.")); continue; }
            mappings.Add(new GroupMapping(group, org, string.IsNullOrWhiteSpace(rule.Role) ? null : rule.Role.Trim()));
        }
        return errors.Count > 0 ? (null, errors)
            : (new IdentityProviderSettings(issuer!, audience!, algorithms.Distinct().ToList(), claims, adminGroups.Distinct().ToList(), domains.Distinct().ToList(),
                mappings.Distinct().ToList()), []);

        string Claim(string? value, string fallback, string field)
        {
            if (value is null) return fallback;
            if (value.Trim().Length is 0 or > 100) errors.Add(new FieldError(field, "invalid-claim", "must be a claim name of 1 to 100 characters."));
            return value.Trim();
        }
    }
}

/// <summary>Pure: what the organisation engine must change so that the grants of the mapping rules are exactly those of the new settings.</summary>
public static class GroupMappingDecisions
{
    public static OrgDecision Reconcile(AccessGraph graph, Standing standing, Guid tenant, IdentityProviderSettings? before, IdentityProviderSettings after,
        Actor by, DateTimeOffset now)
    {
        var events = new List<object>();
        var wanted = after.Mappings.Where(m => m.Role is not null).ToDictionary(m => m.GrantId(tenant));
        foreach (var (i, rule) in after.Mappings.Select((m, i) => (i, m)))
        {
            if (graph.FindOpen(rule.OrganisationId) is null || !standing.Knows(graph, rule.OrganisationId))
                return OrgDecision.Refuse(Problem.Validation($"groupMappings[{i}].organisationId", "unknown-organisation", "is not an open organisation of this tenant."));
            if (rule.Role is null) continue;
            if (graph.Role(rule.Role) is null)
                return OrgDecision.Refuse(Problem.Validation($"groupMappings[{i}].role", "unknown-role", $"the tenant has no role '{rule.Role}'."));
        }
        if (Bound(standing, graph, before, after) is { } beyond) return OrgDecision.Refuse(beyond);
        foreach (var rule in after.Mappings.Where(m => m.Role is not null))
        {
            var id = rule.GrantId(tenant);
            var principal = Principal.OfGroup(rule.Group);
            if (graph.FindGrant(id) is null && !graph.GrantsAt(rule.OrganisationId).Any(g => g.Principal == principal && g.Role == rule.Role))
                events.Add(new RoleGranted(rule.OrganisationId, id, principal, rule.Role!, by, now));
        }
        foreach (var old in (before?.Mappings ?? []).Where(m => m.Role is not null))
            if (!wanted.ContainsKey(old.GrantId(tenant)) && graph.FindGrant(old.GrantId(tenant)) is { } grant)
                events.Add(new GrantRevoked(grant.OrganisationId, grant.Id, by, now));
        return OrgDecision.Accept([.. events]);
    }

    /// <summary>
    /// The grantor's bound on a provider's configuration. A provider confers power: members of its admin groups are the
    /// tenant's administrators, members of a mapped group hold the mapped role there, and whoever the provider says a
    /// user is holds that user's grants. So: changing the admin groups (adding or removing one) is for tenant
    /// administrators only; each mapping rule needs member.manage and the role's permissions at its organisation; and
    /// replacing or removing a configured provider (another issuer, audience, algorithms, claims or e-mail domains;
    /// otherwise a removal followed by a new configuration would replace it) needs what configuring it needed.
    /// </summary>
    public static Problem? Bound(Standing standing, AccessGraph graph, IdentityProviderSettings? before, IdentityProviderSettings? after)
    {
        if (graph.Root is not { } root) return Problem.NotFound("tenant");
        var conferred = new List<Conferral>();
        var replaced = before is not null && (after is null || Replaces(before, after));
        if (after is not null)
        {
            var adminsChanged = !(before?.AdminGroups ?? []).ToHashSet(StringComparer.Ordinal).SetEquals(after.AdminGroups);
            if (adminsChanged || (replaced && after.AdminGroups.Count > 0))
                conferred.Add(Conferral.TenantAdministration(root, "an identity provider's admin groups"));
            conferred.AddRange(Mapped(graph, after));
        }
        if (replaced)
        {
            if (before!.AdminGroups.Count > 0) conferred.Add(Conferral.TenantAdministration(root, "replacing a provider with admin groups"));
            conferred.AddRange(Mapped(graph, before));
        }
        return GrantorBound.Check(standing, graph, conferred);
    }

    /// <summary>Whether the new settings change who the provider's users are: a different provider in all but name.</summary>
    public static bool Replaces(IdentityProviderSettings before, IdentityProviderSettings after) =>
        before.Issuer != after.Issuer || before.Audience != after.Audience || before.Claims != after.Claims
        || !before.Algorithms.ToHashSet(StringComparer.Ordinal).SetEquals(after.Algorithms)
        || !before.AllowedEmailDomains.ToHashSet(StringComparer.Ordinal).SetEquals(after.AllowedEmailDomains);

    /// <summary>Each mapping rule with a role: a grant to the group there, so member.manage and the role's permissions there.</summary>
    private static IEnumerable<Conferral> Mapped(AccessGraph graph, IdentityProviderSettings settings) =>
        settings.Mappings.Where(m => m.Role is not null && graph.Find(m.OrganisationId) is not null).Select(m => new Conferral(
            [Permissions.MemberManage, .. graph.Role(m.Role!)?.Permissions ?? new HashSet<string>()], m.OrganisationId,
            What: $"mapping group {m.Group} to {m.Role}"));
}
