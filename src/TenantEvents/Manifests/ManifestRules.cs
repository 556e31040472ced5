using System.Text.RegularExpressions;

namespace TenantEvents.Manifests;

/// <summary>The rules a manifest keeps before anything is compared with a live tenant (pure).</summary>
public static partial class Rules
{
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

        // The tree by path: each path once, its parent named before it (or the root, which has no parent).
        var paths = new HashSet<string>(StringComparer.Ordinal);
        string? root = null;
        foreach (var (org, i) in (spec.Organisations ?? []).Select((o, i) => (o, i)))
        {
            var at = $"$.spec.organisations[{i}].path";
            if (org.Path is not { Length: > 1 } path || path[0] != '/' || path.EndsWith('/') || path.Contains("//"))
            {
                Error(at, "invalid-path", "must be a path of organisation names from the root, such as /Travis County Sheriff/Patrol.");
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
        var accounts = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (account, i) in (spec.ServiceAccounts ?? []).Select((a, i) => (a, i)))
            if (string.IsNullOrWhiteSpace(account.Name) || !accounts.Add(account.Name))
                Error($"$.spec.serviceAccounts[{i}].name", "invalid", "must be a name no other account of the manifest has.");
        foreach (var (mode, i) in (spec.Management ?? []).Select((m, i) => (m, i)))
            if (mode.Value is not ("additive" or "full")) Error($"$.spec.management.{mode.Key}", "invalid", "must be additive or full.");
        return errors;
    }
}
