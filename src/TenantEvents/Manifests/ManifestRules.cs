using System.Text.RegularExpressions;

namespace TenantEvents.Manifests;

/// <summary>The rules a manifest keeps before anything is compared with a live tenant (pure).</summary>
public static partial class Rules
{
    /// <summary>The kinds spec.management names (members are additive: a manifest adds people, it does not remove them).</summary>
    public static readonly IReadOnlyList<string> ManagedKinds = ["organisations", "roles", "grants", "serviceAccounts", "webhooks", "domains"];

    [GeneratedRegex("^[a-z0-9](?:[a-z0-9-]{1,61}[a-z0-9])$")]
    private static partial Regex Slug();

    public static IReadOnlyList<ManifestError> Check(TenantManifest manifest)
    {
        var errors = new List<ManifestError>();
        void Error(string path, string code, string detail) => errors.Add(new ManifestError("", null, path, code, detail));
        if (manifest.ApiVersion != TenantManifest.Version) Error("$.apiVersion", "unsupported-version", $"must be {TenantManifest.Version}.");
        if (manifest.Kind != TenantManifest.TenantKind) Error("$.kind", "unsupported-kind", $"must be {TenantManifest.TenantKind}.");
        if (manifest.Metadata?.Name is not { } slug || !Slug().IsMatch(slug))
            Error("$.metadata.name", "invalid-slug", "must be the tenant's slug: 3 to 63 lower-case letters, digits and hyphens.");
        var spec = manifest.Spec;
        if (spec is null)
        {
            Error("$.spec", "required", "is required.");
            return errors;
        }
        if (string.IsNullOrWhiteSpace(spec.Name)) Error("$.spec.name", "required", "is required.");
        if (string.IsNullOrWhiteSpace(spec.Template)) Error("$.spec.template", "required", "is required (law-enforcement, intelligence, government-services, commercial-saas).");
        if (spec.Residency?.Country is not { Length: 2 }) Error("$.spec.residency.country", "required", "is an ISO 3166-1 alpha-2 code.");

        // No list holds a null item (a stray "-" in YAML).
        void NoNulls<T>(IEnumerable<T?>? items, string at) where T : class
        {
            foreach (var (item, i) in (items ?? []).Select((x, i) => (x, i)))
                if (item is null) Error($"{at}[{i}]", "required", "is empty: remove it, or say what it is.");
        }
        NoNulls(spec.Organisations, "$.spec.organisations");
        NoNulls(spec.Roles, "$.spec.roles");
        NoNulls(spec.Grants, "$.spec.grants");
        NoNulls(spec.ServiceAccounts, "$.spec.serviceAccounts");
        NoNulls(spec.Contacts, "$.spec.contacts");
        NoNulls(spec.Webhooks, "$.spec.webhooks");
        NoNulls(spec.Domains, "$.spec.domains");
        NoNulls(spec.IdentityProvider?.Mappings, "$.spec.identityProvider.mappings");
        foreach (var (org, i) in (spec.Organisations ?? []).Select((o, i) => (o, i)))
            NoNulls(org?.Members, $"$.spec.organisations[{i}].members");
        foreach (var (role, i) in (spec.Roles ?? []).Select((r, i) => (r, i)))
            NoNulls(role?.Permissions, $"$.spec.roles[{i}].permissions");
        foreach (var (account, i) in (spec.ServiceAccounts ?? []).Select((a, i) => (a, i)))
            NoNulls(account?.Scopes, $"$.spec.serviceAccounts[{i}].scopes");
        foreach (var (hook, i) in (spec.Webhooks ?? []).Select((w, i) => (w, i)))
            NoNulls(hook?.Types, $"$.spec.webhooks[{i}].types");
        NoNulls(spec.IdentityProvider?.AdminGroups, "$.spec.identityProvider.adminGroups");
        foreach (var (org, i) in (spec.Organisations ?? []).Select((o, i) => (o, i)))
        {
            foreach (var (key, policy) in org?.Policies ?? [])
                if (policy?.Value is not { ValueKind: not System.Text.Json.JsonValueKind.Null and not System.Text.Json.JsonValueKind.Undefined })
                    Error($"$.spec.organisations[{i}].policies.{key}", "required", "needs a value: {mode, value}.");
            foreach (var (kind, share) in org?.Quotas ?? [])
                if (share?.Guaranteed is null) Error($"$.spec.organisations[{i}].quotas.{kind}", "required", "needs guaranteed units: {guaranteed, cap}.");
        }
        if (errors.Count > 0) return errors;

        // The tree by path: each path once, its parent named before it (or the root, which has no parent), each name in its
        // one spelling (trimmed, "/" as ~1 and "~" as ~0), so that the same organisation always has the same path.
        var paths = new HashSet<string>(StringComparer.Ordinal);
        string? root = null;
        foreach (var (org, i) in (spec.Organisations ?? []).Select((o, i) => (o, i)))
        {
            var at = $"$.spec.organisations[{i}].path";
            if (org.Path is not { Length: > 1 } path || path[0] != '/' || path.EndsWith('/') || path.Contains("//")
                || path[1..].Split('/').Any(segment => ManifestPaths.Escape(ManifestPaths.Unescape(segment).Trim()) != segment))
            {
                Error(at, "invalid-path", "must be a path of organisation names from the root, such as /Travis County Sheriff/Patrol " +
                      "(names without leading or trailing spaces; a / in a name written ~1, a ~ written ~0).");
                continue;
            }
            var parent = path[..path.LastIndexOf('/')];
            if (parent.Length == 0)
            {
                if (root is not null && root != path) Error(at, "second-root", $"names a second root; the tree's root is {root}.");
                root ??= path;
            }
            else if (!paths.Contains(parent)) Error(at, "unknown-parent", $"names the parent {parent}, which no earlier entry names.");
            if (!paths.Add(path)) Error(at, "duplicate", $"{path} is named twice.");
        }
        bool Known(string? path) => path is not null && paths.Contains(path);
        foreach (var (grant, i) in (spec.Grants ?? []).Select((g, i) => (g, i)))
        {
            if (!Known(grant.Organisation)) Error($"$.spec.grants[{i}].organisation", "unknown-organisation", $"{grant.Organisation} is not an organisation of the manifest.");
            if (grant.Principal?.Kind is not ("user" or "group" or "service")) Error($"$.spec.grants[{i}].principal.kind", "invalid", "must be user, group or service.");
            if (string.IsNullOrWhiteSpace(grant.Principal?.Id)) Error($"$.spec.grants[{i}].principal.id", "required", "is required.");
            if (string.IsNullOrWhiteSpace(grant.Role)) Error($"$.spec.grants[{i}].role", "required", "is required.");
        }
        foreach (var (mapping, i) in (spec.IdentityProvider?.Mappings ?? []).Select((m, i) => (m, i)))
            if (!Known(mapping.Organisation))
                Error($"$.spec.identityProvider.mappings[{i}].organisation", "unknown-organisation", $"{mapping.Organisation} is not an organisation of the manifest.");
        var roles = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (role, i) in (spec.Roles ?? []).Select((r, i) => (r, i)))
        {
            if (string.IsNullOrWhiteSpace(role.Name) || !roles.Add(role.Name))
                Error($"$.spec.roles[{i}].name", "invalid", "must be a name no other role of the manifest has.");
            if (role.Permissions is null) Error($"$.spec.roles[{i}].permissions", "required", "lists the role's permissions.");
        }
        var accounts = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (account, i) in (spec.ServiceAccounts ?? []).Select((a, i) => (a, i)))
            if (string.IsNullOrWhiteSpace(account.Name) || account.Name.Trim() != account.Name || !accounts.Add(account.Name))
                Error($"$.spec.serviceAccounts[{i}].name", "invalid", "must be a name no other account of the manifest has.");
        foreach (var (mode, i) in (spec.Management ?? []).Select((m, i) => (m, i)))
        {
            if (!ManagedKinds.Contains(mode.Key))
                Error($"$.spec.management.{mode.Key}", "unknown-kind", $"is not a kind a manifest manages: {string.Join(", ", ManagedKinds)}.");
            if (mode.Value is not ("additive" or "full")) Error($"$.spec.management.{mode.Key}", "invalid", "must be additive or full.");
        }
        foreach (var (domain, i) in (spec.Domains ?? []).Select((d, i) => (d, i)))
            if ((domain.Domain is null) == (domain.Subdomain is null))
                Error($"$.spec.domains[{i}]", "invalid", "names either domain (the tenant's own) or subdomain (of the platform's zone), one of them.");
        foreach (var (hook, i) in (spec.Webhooks ?? []).Select((w, i) => (w, i)))
            if (!Uri.TryCreate(hook.Url, UriKind.Absolute, out _)) Error($"$.spec.webhooks[{i}].url", "invalid", "must be an absolute URL.");
        if (spec.IdentityProvider is { Issuer: null or "" }) Error("$.spec.identityProvider.issuer", "required", "is required.");
        return errors;
    }
}
