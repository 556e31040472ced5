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

/// <param name="Settings">Settings over the template's defaults (auditRetentionDays, features, quotas, dedicatedDatabase): what is
/// left out keeps its value. Changed by platform administrators only.</param>
/// <param name="Management">Per kind ("organisations", "grants", ...): "additive" (the default) or "full" (removes what
/// the manifest does not name, only what this manifest made, and only with --allow-delete).</param>
public sealed record TenantSpec(
    string? Name,
    string? Template,
    ManifestResidency? Residency,
    List<ManifestContact>? Contacts,
    TenantEvents.Tenants.SettingsOverrides? Settings,
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

/// <param name="Path">"/Root/Child/...": the organisation under its parent's path; the root is "/" + the root's name. A "/" in a
/// name is written "~1" and a "~" is written "~0" (as in JSON Pointer, RFC 6901).</param>
/// <param name="Kind">Needed to create the organisation; left out, an existing organisation keeps its kind.</param>
/// <param name="Jurisdiction">Left out, an existing organisation keeps its jurisdiction.</param>
/// <param name="Members">User ids (subjects) who belong to the organisation.</param>
/// <param name="Policies">Guardrails set here, by key (feature.NAME or setting.NAME): each its mode (override, or locked for every
/// descendant) and its value.</param>
/// <param name="Quotas">This organisation's shares of the tenant's quotas, by kind (aiComputeUnitsPerMonth, apiCallsPerDay,
/// apiCallsPerMonth): guaranteed units carved out of the nearest allocated ancestor, and an optional cap.</param>
public sealed record ManifestOrganisation(string? Path, string? Kind, string? Jurisdiction, List<string>? Members = null,
    Dictionary<string, ManifestPolicy>? Policies = null, Dictionary<string, ManifestAllocation>? Quotas = null);

/// <param name="Mode">override (the default) or locked.</param>
public sealed record ManifestPolicy(string? Mode, System.Text.Json.JsonElement? Value);

public sealed record ManifestAllocation(long? Guaranteed, long? Cap);

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

/// <summary>A webhook subscription, found by its URL. Its signing secret is made by the service and shown once, by apply.</summary>
public sealed record ManifestWebhook(string? Url, List<string>? Types, string? Description = null);

public sealed record ManifestDomain(string? Domain, string? Subdomain);
