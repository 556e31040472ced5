using Microsoft.AspNetCore.Authorization;
using TenantEvents.Infrastructure;
using TenantEvents.Tenants;
using Wolverine.Http;

namespace TenantEvents.Manifests;

/// <summary>
/// GET /api/tenants/{tenantId}/manifest: the live tenant as a manifest, read as the caller (each area through its own
/// route: what the caller may not read is not exported, it is refused). A plan of the export says no changes. Secrets are
/// never exported (the service holds only their hashes); disabled accounts and webhooks are exported as they are named.
/// </summary>
public static class ExportManifestEndpoint
{
    [WolverineGet("/api/tenants/{tenantId}/manifest", OperationId = "ExportManifest")]
    [Authorize(Roles = PlanManifestEndpoint.Roles)]
    public static async Task<IResult> Get(Guid tenantId, HttpContext http, ManifestService manifests, CancellationToken cancellation)
    {
        var (live, standing, refusal) = await manifests.ReadAsync(http, tenantId, writing: false, null, cancellation);
        if (refusal is not null) return refusal.ToResult();
        // The whole tree is exported, so the caller reads the whole tree (org.read at the root); members and grants only where
        // its routes would show them.
        if (live!.Graph.Root is not { } root || !standing!.CanSee(live.Graph, root)) return Problem.NotFound("tenant").ToResult();
        var paths = ManifestPaths.Of(live!.Graph, live.Names);
        if (paths.Ambiguous.Count > 0)
            return new Problem("ambiguous-path", 409, "Two organisations have the same path",
                $"Open sibling organisations share a name ({string.Join(", ", paths.Ambiguous.Take(5))}): a manifest names organisations by path, " +
                "so rename one of them first.").With("paths", paths.Ambiguous.Take(100).ToList()).ToResult();
        // What the caller may not read is left out, and said so: the export is what this caller may see, not the tenant.
        if (live.Omitted is { Count: > 0 } omitted) http.Response.Headers["TenantEvents-Omitted"] = string.Join(",", omitted);
        var zone = manifests.Options.TenantDomainZone is { Length: > 0 } z ? Domains.DomainNames.OfHost(z.Trim()) : null;
        return Results.Json(Export(live, paths, standing, zone), ManifestReader.WriteOptions);
    }

    /// <param name="zone">The platform's zone: a name under it is exported as the subdomain it was claimed as.</param>
    public static TenantManifest Export(LiveTenant live, ManifestPaths paths, Organisations.Standing standing, string? zone)
    {
        var tenant = live.Tenant;
        var graph = live.Graph;
        // Parents before children, and siblings in name order: the same tree exports the same file.
        var organisations = new List<ManifestOrganisation>();
        if (graph.Root is { } root)
        {
            var pending = new Stack<Guid>();
            pending.Push(root);
            while (pending.TryPop(out var id))
            {
                var node = graph.Find(id)!;
                if (!node.Open) continue;
                var members = standing.Can(graph, "member.read", id) ? graph.MembersOf(id).Order(StringComparer.Ordinal).ToList() : [];
                // Guardrails are the organisation's own (whoever reads it reads them); quota shares with the usage routes' permission.
                var policies = graph.PoliciesAt(id).OrderBy(p => p.Key, StringComparer.Ordinal).ToDictionary(p => p.Key,
                    p => new ManifestPolicy(p.Mode, System.Text.Json.JsonDocument.Parse(p.Value).RootElement.Clone()));
                // Shares only where the caller may set them (what it exports, it can plan again).
                var quotas = Quotas.AllocateQuotaEndpoint.Authorise(standing, graph, id) is null
                    ? graph.Allocations.Where(a => a.OrganisationId == id).OrderBy(a => a.Kind, StringComparer.Ordinal)
                        .ToDictionary(a => a.Kind, a => new ManifestAllocation(a.Guaranteed, a.Cap))
                    : [];
                organisations.Add(new ManifestOrganisation(paths.PathOf(id), node.Kind, node.Jurisdiction, members.Count > 0 ? members : null,
                    policies.Count > 0 ? policies : null, quotas.Count > 0 ? quotas : null));
                foreach (var child in node.Children.OrderByDescending(c => paths.PathOf(c) ?? "", StringComparer.Ordinal)) pending.Push(child);
            }
        }
        var grants = graph.AllGrants.Where(g => paths.PathOf(g.OrganisationId) is not null && graph.FindOpen(g.OrganisationId) is not null
                                                && standing.Can(graph, Organisations.Permissions.AccessRead, g.OrganisationId))
            .Select(g => new ManifestGrant(paths.PathOf(g.OrganisationId), new ManifestPrincipal(g.Principal.Kind, g.Principal.Id), g.Role))
            .OrderBy(g => g.Organisation, StringComparer.Ordinal).ThenBy(g => g.Principal!.Kind, StringComparer.Ordinal)
            .ThenBy(g => g.Principal!.Id, StringComparer.Ordinal).ThenBy(g => g.Role, StringComparer.Ordinal).ToList();
        var idp = live.IdentityProvider?.Settings is { } s
            ? new ManifestIdentityProvider(s.Issuer, s.Audience, s.AdminGroups.ToList(),
                s.Mappings.Where(m => paths.PathOf(m.OrganisationId) is not null)
                    .Select(m => new ManifestGroupMapping(m.Group, paths.PathOf(m.OrganisationId), m.Role)).ToList())
            : null;
        var q = tenant.Settings.Quotas;
        return new TenantManifest(TenantManifest.Version, TenantManifest.TenantKind, new ManifestMetadata(tenant.Slug, null), new TenantSpec(
            tenant.Name,
            tenant.Template,
            new ManifestResidency(tenant.Residency.Country, tenant.Residency.Subdivision),
            tenant.Contacts.Where(c => !c.Erased).Select(c => new ManifestContact(c.Name, c.Email, c.Role)).ToList(),
            new SettingsOverrides(tenant.Settings.AuditRetentionDays, tenant.Settings.Features.ToList(),
                new QuotaOverrides(q.Licences, q.AiComputeUnitsPerMonth, q.ApiCallsPerDay, q.ApiCallsPerMonth, q.Mode, q.AlertThresholds.ToList(),
                    q.Modes?.ToDictionary(p => p.Key, p => p.Value)),
                tenant.Settings.DedicatedDatabase),
            organisations,
            graph.Roles.Select(r => new ManifestRole(r.Name, r.Description, r.Permissions.Order(StringComparer.Ordinal).ToList())).ToList(),
            grants,
            live.Omitted?.Contains("serviceAccounts") == true ? null : live.Accounts.OrderBy(a => a.Name, StringComparer.Ordinal).Select(a => new ManifestServiceAccount(a.Name, a.Scopes.ToList())).ToList(),
            idp,
            live.Omitted?.Contains("webhooks") == true ? null : live.Webhooks.OrderBy(w => w.Url, StringComparer.Ordinal).Select(w => new ManifestWebhook(w.Url, w.Types.ToList(), w.Description)).ToList(),
            live.Omitted?.Contains("domains") == true ? null : live.Domains.Order(StringComparer.Ordinal).Select(d => zone is not null && d.EndsWith("." + zone, StringComparison.Ordinal)
                ? new ManifestDomain(null, d[..^(zone.Length + 1)]) : new ManifestDomain(d, null)).ToList(),
            null));
    }
}
