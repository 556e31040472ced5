using System.Text.Json;

namespace TenantEvents.Manifests;

/// <summary>
/// A tenant as code (issue 21): what `plan` compares with the live tenant and `apply` makes true. YAML or JSON,
/// Kubernetes-style (apiVersion tenantevents.io/v1, kind Tenant). Organisations are named by path ("/Sheriff/Patrol"),
/// never by server id, so one manifest describes the same tenant in every environment; secrets and per-environment
/// values come in by reference (${env:NAME}, ${file:path}), never written in the file. Its JSON Schema is published as
/// schemas/tenant-manifest.schema.json (checked against this model by ManifestSchemaTests).
/// </summary>
public sealed record TenantManifest(string? ApiVersion, string? Kind, ManifestMetadata? Metadata, TenantSpec? Spec)
{
    public const string Version = "tenantevents.io/v1";
    public const string TenantKind = "Tenant";
}

/// <param name="Name">The tenant's slug: how the manifest finds its tenant.</param>
public sealed record ManifestMetadata(string? Name, Dictionary<string, string>? Labels);

/// <param name="Management">Per kind ("organisations", "grants", ...): "additive" (the default) or "full" (removes what
/// the manifest does not name, only what this manifest made, and only with --allow-delete).</param>
public sealed record TenantSpec(
    string? Name,
    string? Template,
    ManifestResidency? Residency,
    List<ManifestContact>? Contacts,
    Dictionary<string, JsonElement>? Settings,
    List<ManifestOrganisation>? Organisations,
    List<ManifestRole>? Roles,
    List<ManifestGrant>? Grants,
    List<ManifestServiceAccount>? ServiceAccounts,
    ManifestIdentityProvider? IdentityProvider,
    List<ManifestWebhook>? Webhooks,
    List<ManifestDomain>? Domains,
    Dictionary<string, string>? Management);

public sealed record ManifestResidency(string? Country, string? Subdivision);

public sealed record ManifestContact(string? Name, string? Email, string? Role);

/// <param name="Path">"/Root/Child/...": the organisation under its parent's path; the root is "/" + the root's name.</param>
public sealed record ManifestOrganisation(string? Path, string? Kind, string? Jurisdiction);

public sealed record ManifestRole(string? Name, string? Description, List<string>? Permissions);

/// <param name="Organisation">The organisation's path.</param>
public sealed record ManifestGrant(string? Organisation, ManifestPrincipal? Principal, string? Role);

/// <param name="Kind">user, group or service.</param>
public sealed record ManifestPrincipal(string? Kind, string? Id);

/// <summary>A service account: its scopes only. Its secret is made by the service and shown once, never in a manifest.</summary>
public sealed record ManifestServiceAccount(string? Name, List<string>? Scopes);

public sealed record ManifestIdentityProvider(string? Issuer, string? Audience, List<string>? AdminGroups, List<ManifestGroupMapping>? Mappings);

/// <param name="Organisation">The organisation's path.</param>
public sealed record ManifestGroupMapping(string? Group, string? Organisation, string? Role);

/// <param name="Secret">A reference (${env:...} or ${file:...}) to the signing secret, or absent: the service makes one.</param>
public sealed record ManifestWebhook(string? Url, List<string>? Types, string? Secret);

public sealed record ManifestDomain(string? Domain, string? Subdomain);
