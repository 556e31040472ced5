using System.Security.Cryptography;
using System.Text.Json;
using TenantEvents.Delivery;
using TenantEvents.Identity;
using TenantEvents.Infrastructure;
using TenantEvents.Organisations;
using TenantEvents.Tenants;

namespace TenantEvents.Manifests;

/// <summary>One change a plan makes, as a person reads it: what kind of thing, what is done to it, which one, before and after.</summary>
/// <param name="Withheld">Why the change is shown but not made (a removal without --allow-delete).</param>
public sealed record ManifestChange(string Kind, string Action, string Target, object? Before = null, object? After = null, string? Withheld = null);

/// <summary>A change made through its route, as the caller (<see cref="GraphQL.ApiInvoker"/>): exactly what a REST call would do.</summary>
/// <param name="Made">The kind under which the id the route answers with is recorded as managed by the manifest.</param>
/// <param name="Removes">The kind and id the step removes from what the manifest manages, once it is done.</param>
public sealed record ApiStep(int Change, string Method, string Path, object? Body, string? Made = null, string? IfMatch = null,
    string? IdempotencyKey = null, (string Kind, string Id)? Removes = null);

/// <summary>What a tenant is now, as the caller may read it: what a plan is made against.</summary>
public sealed record LiveTenant(
    Guid TenantId,
    Tenant Tenant,
    AccessGraph Graph,
    IReadOnlyDictionary<Guid, string> Names,
    IReadOnlyList<ServiceAccountView> Accounts,
    IReadOnlyList<WebhookView> Webhooks,
    IdentityProviderView? IdentityProvider,
    IReadOnlyList<string> Domains,
    long DomainsVersion,
    TenantManifestRecord? Record,
    IReadOnlyList<string>? Omitted = null);

/// <summary>
/// A plan: the changes (what a person reads), the versions of everything it read (what apply checks nothing moved), its
/// digest, and how it is carried out: the organisation tree's events (one transaction, at the access version read), and
/// the route calls before (the tenant itself) and after (identity provider, accounts, webhooks, domains).
/// </summary>
public sealed record PlannedManifest(
    IReadOnlyList<ManifestChange> Changes,
    IReadOnlyDictionary<string, string> Versions,
    string Digest,
    IReadOnlyList<object> OrgEvents,
    IReadOnlyList<ApiStep> Before,
    IReadOnlyList<ApiStep> After,
    IReadOnlyDictionary<string, IReadOnlyList<string>> Made,
    IReadOnlyDictionary<string, IReadOnlyList<string>> Removed,
    Problem? Refusal)
{
    public int Count => Changes.Count(c => c.Withheld is null);
}

/// <summary>
/// The plan of a manifest against a live tenant (pure: the same inputs give the same plan, ids included). Every change to
/// the organisation tree is decided by its route's own decision (<see cref="OrgCommands"/>) on a copy of the tree that each
/// step advances, so the plan refuses exactly what apply would; nothing is written.
/// </summary>
public static class ManifestDecisions
{
    public static class Kinds
    {
        public const string Tenant = "tenant";
        public const string Organisation = "organisation";
        public const string Role = "role";
        public const string Grant = "grant";
        public const string Member = "member";
        public const string Policy = "policy";
        public const string Allocation = "allocation";
        public const string ServiceAccount = "serviceAccount";
        public const string Webhook = "webhook";
        public const string IdentityProvider = "identityProvider";
        public const string Domain = "domain";
    }

    /// <summary>The management key of each kind in spec.management.</summary>
    private static readonly Dictionary<string, string> ManagementKey = new(StringComparer.Ordinal)
    {
        [Kinds.Organisation] = "organisations", [Kinds.Role] = "roles", [Kinds.Grant] = "grants",
        [Kinds.ServiceAccount] = "serviceAccounts", [Kinds.Webhook] = "webhooks", [Kinds.Domain] = "domains",
    };

    public const string AllowDeleteNeeded = "needs --allow-delete";

    /// <param name="platformAdmin">The caller may change the tenant's settings (platform administrators only).</param>
    /// <param name="options">The platform's zone for subdomains (TenantEvents:TenantDomainZone), the tree's limits, the identity
    /// provider rules.</param>
    /// <param name="claim">The domain route's rules for a claim (its name in one spelling, or why not); null: the name's spelling only.</param>
    public static PlannedManifest Plan(TenantManifest manifest, LiveTenant live, Standing standing, bool platformAdmin, bool allowDelete,
        TenantEventsOptions options, DateTimeOffset now, Func<Domains.ClaimDomain, (string? Name, FieldError? Error)>? claim = null)
    {
        var (zone, limits) = (options.TenantDomainZone, OrgLimits.Of(options));
        var spec = manifest.Spec!;
        var changes = new List<ManifestChange>();
        var before = new List<ApiStep>();
        var after = new List<ApiStep>();
        var made = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        var removed = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        var tenantId = live.TenantId;
        var tenant = live.Tenant;
        var versions = Versions(live);
        var seed = $"{tenantId:N}|{versions["access"]}";
        Guid Id(string what) => StableIds.From(tenantId, $"manifest|{seed}|{what}");
        bool Full(string kind) => spec.Management?.GetValueOrDefault(ManagementKey[kind]) == "full";
        var managed = new Dictionary<string, IReadOnlySet<string>>(StringComparer.Ordinal);
        IReadOnlySet<string> Managed(string kind) => managed.TryGetValue(kind, out var ids) ? ids
            : managed[kind] = live.Record?.ManagedOf(kind) ?? new HashSet<string>(StringComparer.Ordinal);
        void Made(string kind, string id) => (made.TryGetValue(kind, out var l) ? l : made[kind] = []).Add(id);
        void Removed(string kind, string id) => (removed.TryGetValue(kind, out var l) ? l : removed[kind] = []).Add(id);
        int Change(ManifestChange change)
        {
            changes.Add(change);
            return changes.Count - 1;
        }
        PlannedManifest Refuse(Problem problem, string? at = null) =>
            new([], versions, "", [], [], [], Empty, Empty, at is null ? problem : problem.With("manifestPath", at));

        // The tenant itself: what a manifest may not change of a live tenant, then its name, contacts and settings.
        if (spec.Template != tenant.Template)
            return Refuse(Immutable("template", tenant.Template), "$.spec.template");
        if (spec.Residency?.Country != tenant.Residency.Country || (spec.Residency.Subdivision ?? tenant.Residency.Subdivision) != tenant.Residency.Subdivision)
            return Refuse(Immutable("residency", $"{tenant.Residency.Country}{(tenant.Residency.Subdivision is { } s ? "/" + s : "")}"), "$.spec.residency");
        var tenantPath = $"/api/tenants/{tenantId}";
        // Each of the tenant's own changes expects the version the one before it leaves (the plan's, then one more each).
        string TenantVersion() => TenantHttp.ETag(tenant.Version + before.Count);
        if (spec.Name is { } name && name.Trim() != tenant.Name)
            before.Add(new ApiStep(Change(new(Kinds.Tenant, "update", "name", tenant.Name, name.Trim())), "PUT", tenantPath + "/name", new RenameTenant(name), IfMatch: TenantVersion()));
        if (spec.Contacts is { } contacts)
        {
            var invalid = new List<FieldError>();
            TenantRules.Contacts(contacts.Select(c => new Contact(c.Name!, c.Email!, c.Role)).ToList(), invalid);
            if (invalid.Count > 0) return Refuse(Problem.Validation(invalid), "$.spec.contacts");
            var now_ = tenant.Contacts.Where(c => !c.Erased).Select(c => (c.Name, c.Email, c.Role)).Order().ToList();
            var want = contacts.Select(c => (c.Name?.Trim() ?? "", c.Email?.Trim() ?? "", c.Role)).Order().ToList();
            if (!now_.SequenceEqual(want))
                before.Add(new ApiStep(Change(new(Kinds.Tenant, "update", "contacts", now_.Count, want.Count)), "PUT", tenantPath + "/contacts",
                    new ReplaceTenantContacts(contacts.Select(c => new Contact(c.Name!, c.Email!, c.Role)).ToList()), IfMatch: TenantVersion()));
        }
        if (spec.Settings is { } overrides && SettingsDiffer(overrides, tenant.Settings) is { Count: > 0 } differing)
        {
            if (!platformAdmin)
                return Refuse(Problem.Forbidden($"Only platform administrators change a tenant's settings ({string.Join(", ", differing)} differ).")
                    .With("permission", Infrastructure.Security.Roles.PlatformAdmin), "$.spec.settings");
            before.Add(new ApiStep(Change(new(Kinds.Tenant, "update", "settings", Pick(tenant.Settings, differing), differing)), "PATCH",
                tenantPath + "/settings", overrides, IfMatch: TenantVersion()));
        }

        // The organisation tree, decided step by step on a copy that each accepted step advances.
        var graph = live.Graph.Fork();
        var events = new List<object>();
        var paths = ManifestPaths.Of(live.Graph, live.Names);
        Problem? Step(OrgDecision decision)
        {
            if (decision.Refusal is { } no) return no;
            foreach (var e in decision.Events) graph.Apply(e);
            events.AddRange(decision.Events);
            return null;
        }
        var organisations = spec.Organisations ?? [];
        if (organisations.Count > 0 && organisations[0].Path is { } rootPath && graph.Root is { } root && paths.PathOf(root) is { } actualRoot
            && rootPath != actualRoot)
            return Refuse(new Problem("root-mismatch", 422, "The manifest's root is not the tenant's",
                $"The tenant's root organisation is {actualRoot}; the manifest names {rootPath}.").With("root", actualRoot), "$.spec.organisations[0].path");
        foreach (var (org, i) in organisations.Select((o, i) => (o, i)))
            if (paths.IsAmbiguous(org.Path!))
                return Refuse(new Problem("ambiguous-path", 409, "Two organisations have this path",
                    $"More than one open organisation is at {org.Path} (siblings with the same name): rename one, then plan again."),
                    $"$.spec.organisations[{i}].path");

        // Roles first: a grant names them.
        foreach (var (role, i) in (spec.Roles ?? []).Select((r, i) => (r, i)))
        {
            var current = graph.Role(role.Name ?? "");
            var wanted = (role.Permissions ?? []).ToHashSet(StringComparer.Ordinal);
            var description = role.Description ?? current?.Description ?? "";
            if (current is not null && current.Permissions.SetEquals(wanted) && current.Description == description) continue;
            if (Step(OrgCommands.DefineRole(standing, graph, role.Name ?? "", description, role.Permissions, now)) is { } no)
                return Refuse(no, $"$.spec.roles[{i}]");
            Change(new(Kinds.Role, current is null ? "create" : "update", role.Name!,
                current?.Permissions.Order(StringComparer.Ordinal).ToList(), wanted.Order(StringComparer.Ordinal).ToList()));
            if (current is null) Made(Kinds.Role, role.Name!);
        }

        // Organisations: attributes of those that exist, then the new ones in batches (a parent before its children).
        var creating = new List<(Guid Id, Guid? ParentId, string? Name, string? Kind, string? Jurisdiction)>();
        var creatingAt = new List<int>();
        foreach (var (org, i) in organisations.Select((o, i) => (o, i)))
        {
            var path = org.Path!;
            if (paths.Find(path) is { } existing)
            {
                // An organisation the caller may not know of is, to it, one that does not exist: refused as its routes refuse it.
                if (!standing.Knows(graph, existing)) return Refuse(Problem.NotFound("organisation"), $"$.spec.organisations[{i}].path");
                var node = graph.Find(existing)!;
                var (kind, jurisdiction) = (org.Kind ?? node.Kind, org.Jurisdiction ?? node.Jurisdiction);
                if (kind == node.Kind && jurisdiction == node.Jurisdiction) continue;
                var was = new { kind = node.Kind, jurisdiction = node.Jurisdiction };
                if (Step(OrgCommands.UpdateAttributes(standing, graph, existing, kind, jurisdiction, now)) is { } no)
                    return Refuse(no, $"$.spec.organisations[{i}]");
                Change(new(Kinds.Organisation, "update", path, was, new { kind, jurisdiction }));
                continue;
            }
            if (ManifestPaths.ParentOf(path) is not { } parentPath || paths.Find(parentPath) is not { } parent)
                return Refuse(Problem.Validation("path", "unknown-parent", $"{path} has no parent in the tenant or earlier in the manifest."),
                    $"$.spec.organisations[{i}].path");
            var id = Id("organisation|" + path);
            creating.Add((id, parent, ManifestPaths.NameOf(path), org.Kind, org.Jurisdiction));
            creatingAt.Add(i);
            paths.Add(path, id);
            Change(new(Kinds.Organisation, "create", path, null, new { kind = org.Kind, jurisdiction = org.Jurisdiction }));
            Made(Kinds.Organisation, id.ToString());
        }
        for (var start = 0; start < creating.Count; start += OrganisationDecisions.MaxBatch)
        {
            var batch = creating.Skip(start).Take(OrganisationDecisions.MaxBatch).ToList();
            if (Step(OrgCommands.CreateMany(standing, graph, batch, now, limits)) is { } no)
                return Refuse(Located(no, "organisations", creatingAt.Skip(start).ToList(), "$.spec.organisations"), "$.spec.organisations");
        }

        // Guardrails and quota shares, parents before children (an allocation is carved out of its nearest allocated ancestor's).
        foreach (var (org, i) in organisations.Select((o, i) => (o, i)))
        {
            var id = paths.Find(org.Path!)!.Value;
            foreach (var (key, policy) in (org.Policies ?? []).OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                var before_ = graph.PoliciesAt(id).FirstOrDefault(p => p.Key == key);
                // As it is already (the same mode, the same JSON value), to someone who may read it: nothing to decide.
                if (before_ is not null && standing.CanSee(graph, id) && before_.Mode == (policy.Mode ?? Policy.Override) && policy.Value is { } wanted
                    && SameJson(before_.Value, wanted))
                    continue;
                var decision = OrgCommands.SetPolicy(standing, graph, id, key, policy.Mode ?? Policy.Override, policy.Value, now);
                if (Step(decision) is { } no) return Refuse(no, $"$.spec.organisations[{i}].policies.{key}");
                if (decision.Events.Count > 0)
                    Change(new(Kinds.Policy, before_ is null ? "create" : "update", $"{org.Path} {key}",
                        before_ is null ? null : new { before_.Mode, before_.Value }, new { mode = policy.Mode ?? Policy.Override, value = policy.Value?.GetRawText() }));
            }
            foreach (var (kind, share) in (org.Quotas ?? []).OrderBy(q => q.Key, StringComparer.Ordinal))
            {
                // Authorised before compared: whether a share is as named is for whoever may set it.
                if (Quotas.AllocateQuotaEndpoint.Authorise(standing, graph, id) is { } may) return Refuse(may, $"$.spec.organisations[{i}].quotas.{kind}");
                var before_ = graph.AllocationOf(id, kind);
                if (before_ is not null && before_.Guaranteed == share.Guaranteed && before_.Cap == share.Cap) continue;
                var decision = Quotas.AllocateQuotaEndpoint.Decide(standing, graph, id, kind, share.Guaranteed, share.Cap,
                    k => Quotas.QuotaKinds.LimitOf(tenant.Settings.Quotas, k), now);
                if (Step(decision) is { } no) return Refuse(no, $"$.spec.organisations[{i}].quotas.{kind}");
                if (decision.Events.Count > 0)
                    Change(new(Kinds.Allocation, before_ is null ? "create" : "update", $"{org.Path} {kind}",
                        before_ is null ? null : new { before_.Guaranteed, before_.Cap }, new { share.Guaranteed, share.Cap }));
            }
        }

        // Members and grants, on the tree as it will be.
        foreach (var (org, i) in organisations.Select((o, i) => (o, i)))
        {
            var id = paths.Find(org.Path!)!.Value;
            foreach (var (user, j) in (org.Members ?? []).Select((u, j) => (u, j)))
            {
                // Naming a member is for whoever manages them there, whether or not the person is one already (else the
                // plan would answer who belongs where to anyone).
                if (OrgHttp.Authorise(standing, graph, Permissions.MemberManage, id) is { } may) return Refuse(may, $"$.spec.organisations[{i}].members[{j}]");
                if (graph.IsMember(id, user)) continue;
                if (Step(OrgCommands.AddMember(standing, graph, id, user, now)) is { } no)
                    return Refuse(no, $"$.spec.organisations[{i}].members[{j}]");
                Change(new(Kinds.Member, "create", $"{org.Path} {user}"));
            }
        }
        var granting = new List<(Guid OrganisationId, Principal? Principal, string? Role)>();
        var grantingAt = new List<int>();
        var named = new HashSet<(Guid, Principal, string)>();
        foreach (var (grant, i) in (spec.Grants ?? []).Select((g, i) => (g, i)))
        {
            var org = paths.Find(grant.Organisation!)!.Value;
            var principal = new Principal(grant.Principal!.Kind!, grant.Principal.Id!);
            if (OrgHttp.Authorise(standing, graph, Permissions.MemberManage, org) is { } may) return Refuse(may, $"$.spec.grants[{i}]");
            if (!named.Add((org, principal, grant.Role!))) continue;
            if (graph.GrantsAt(org).Any(g => g.Principal == principal && g.Role == grant.Role)) continue;
            granting.Add((org, principal, grant.Role));
            grantingAt.Add(i);
            Change(new(Kinds.Grant, "create", $"{grant.Organisation} {principal} {grant.Role}"));
        }
        for (var start = 0; start < granting.Count; start += OrganisationDecisions.MaxBatch)
        {
            var batch = granting.Skip(start).Take(OrganisationDecisions.MaxBatch).ToList();
            var offset = start;
            var decision = OrgCommands.GrantMany(standing, graph, batch,
                NextIds(batch.Select(g => Id($"grant|{paths.PathOf(g.OrganisationId)}|{g.Principal}|{g.Role}"))), now);
            if (Step(decision) is { } no) return Refuse(Located(no, "grants", grantingAt.Skip(offset).ToList(), "$.spec.grants"), "$.spec.grants");
            foreach (var granted in decision.Events.OfType<RoleGranted>()) Made(Kinds.Grant, granted.GrantId.ToString());
        }

        // Full management: what this manifest made and no longer names goes, with --allow-delete (never what was made by hand).
        if (Full(Kinds.Grant))
            foreach (var id in Managed(Kinds.Grant))
                if (Guid.TryParse(id, out var grantId) && graph.FindGrant(grantId) is { } grant && !named.Contains((grant.OrganisationId, grant.Principal, grant.Role)))
                {
                    if (OrgHttp.Authorise(standing, graph, Permissions.MemberManage, grant.OrganisationId) is { } may) return Refuse(may, "$.spec.management.grants");
                    var target = $"{paths.PathOf(grant.OrganisationId)} {grant.Principal} {grant.Role}";
                    if (!allowDelete) { Change(new(Kinds.Grant, "remove", target, Withheld: AllowDeleteNeeded)); continue; }
                    if (Step(OrgCommands.Revoke(standing, graph, grant.OrganisationId, grantId, now)) is { } no) return Refuse(no);
                    Change(new(Kinds.Grant, "remove", target));
                    Removed(Kinds.Grant, id);
                }
        if (Full(Kinds.Organisation))
        {
            var wanted = organisations.Select(o => o.Path!).ToHashSet(StringComparer.Ordinal);
            // Deepest first: a parent closes after its children.
            foreach (var (path, id) in Managed(Kinds.Organisation).Select(m => Guid.TryParse(m, out var g) ? g : Guid.Empty)
                         .Where(g => graph.FindOpen(g) is not null).Select(g => (Path: paths.PathOf(g), Id: g))
                         .Where(p => p.Path is not null && !wanted.Contains(p.Path)).OrderByDescending(p => graph.Find(p.Id)!.Depth))
            {
                if (!allowDelete) { Change(new(Kinds.Organisation, "close", path!, Withheld: AllowDeleteNeeded)); continue; }
                if (Step(OrgCommands.Close(standing, graph, id, false, "removed from the manifest", now)) is { } no) return Refuse(no);
                Change(new(Kinds.Organisation, "close", path!));
                Removed(Kinds.Organisation, id.ToString());
            }
        }
        if (Full(Kinds.Role))
        {
            var wanted = (spec.Roles ?? []).Select(r => r.Name!).ToHashSet(StringComparer.Ordinal);
            foreach (var role in Managed(Kinds.Role).Where(r => graph.Role(r) is not null && !wanted.Contains(r)).Order(StringComparer.Ordinal))
            {
                if (!allowDelete) { Change(new(Kinds.Role, "remove", role, Withheld: AllowDeleteNeeded)); continue; }
                if (Step(OrgCommands.RemoveRole(standing, graph, role, now)) is { } no) return Refuse(no);
                Change(new(Kinds.Role, "remove", role));
                Removed(Kinds.Role, role);
            }
        }

        // The identity provider, after the tree (its group mappings name organisations, new ones included).
        if (spec.IdentityProvider is { } idp)
        {
            var current = live.IdentityProvider?.Settings;
            // Mappings left out keep the provider's (removing them is saying so: mappings: []).
            var mappings = idp.Mappings is null
                ? (current?.Mappings ?? []).Select(m => new GroupMappingInput(m.Group, m.OrganisationId, m.Role)).ToList()
                : idp.Mappings.Select(m => new GroupMappingInput(m.Group, paths.Find(m.Organisation!), m.Role)).ToList();
            var wantedMappings = mappings.Select(m => (m.Group, m.OrganisationId, m.Role)).Order().ToList();
            var currentMappings = (current?.Mappings ?? []).Select(m => (Group: (string?)m.Group, OrganisationId: (Guid?)m.OrganisationId, m.Role)).Order().ToList();
            var adminGroups = idp.AdminGroups ?? current?.AdminGroups.ToList() ?? [];
            var configure = new ConfigureIdentityProvider(idp.Issuer, idp.Audience ?? current?.Audience,
                current?.Algorithms.ToList(), current is null ? null : new ClaimMappingsInput(current.Claims.Subject, current.Claims.Email,
                    current.Claims.Name, current.Claims.Groups), adminGroups, current?.AllowedEmailDomains.ToList(), mappings);
            if (current is null || current.Issuer != idp.Issuer || current.Audience != (idp.Audience ?? current.Audience)
                || !current.AdminGroups.Order().SequenceEqual(adminGroups.Order()) || !currentMappings.SequenceEqual(wantedMappings))
            {
                var change = Change(new(Kinds.IdentityProvider, current is null ? "create" : "update", idp.Issuer ?? "",
                    current is null ? null : new { current.Issuer, current.Audience, adminGroups = current.AdminGroups, mappings = currentMappings.Count },
                    new { idp.Issuer, idp.Audience, adminGroups, mappings = mappings.Count }));
                // The route's own rules and its grantor's bound (admin groups confer the tenant's administration; mappings their roles),
                // on the tree as the manifest leaves it.
                var (settings, errors) = IdentityProviderRules.Validate(configure, options);
                if (settings is null) return Refuse(Problem.Validation(errors), "$.spec.identityProvider");
                if (GroupMappingDecisions.Reconcile(graph, standing, tenantId, current, settings, standing.Actor, now).Refusal is { } no)
                    return Refuse(no, "$.spec.identityProvider");
                after.Add(new ApiStep(change, "PUT", tenantPath + "/identity-provider", configure,
                    IfMatch: live.IdentityProvider is { } v ? TenantHttp.ETag(v.Version) : null));
            }
        }

        // Service accounts, by name: made with their scopes (the secret is shown once, by apply), scopes changed in place.
        var root_ = graph.Root ?? Guid.Empty;
        foreach (var (account, i) in (spec.ServiceAccounts ?? []).Select((a, i) => (a, i)))
        {
            var scopes = (account.Scopes ?? []).Order(StringComparer.Ordinal).ToList();
            var current = live.Accounts.FirstOrDefault(a => a.Name == account.Name);
            if (current is not null && current.Scopes.Order(StringComparer.Ordinal).SequenceEqual(scopes)) continue;
            var errors = new List<FieldError>();
            ServiceAccountRules.Name(errors, account.Name);
            ServiceAccountRules.Scopes(errors, scopes);
            if (errors.Count > 0) return Refuse(Problem.Validation(errors), $"$.spec.serviceAccounts[{i}]");
            // On the tree as the manifest leaves it (a manifest that takes the caller's power away cannot then use it).
            if ((OrgHttp.Authorise(standing, graph, ServiceAccountStore.ManagePermission, root_, "tenant")
                 ?? GrantorBound.Check(standing, graph, [ServiceAccountRules.Conferral(root_, scopes)])) is { } no)
                return Refuse(no, $"$.spec.serviceAccounts[{i}]");
            var change = Change(new(Kinds.ServiceAccount, current is null ? "create" : "update", account.Name!, current?.Scopes, scopes));
            after.Add(current is null
                ? new ApiStep(change, "POST", tenantPath + "/service-accounts", new CreateServiceAccount(account.Name, scopes), Made: Kinds.ServiceAccount)
                : new ApiStep(change, "PUT", $"{tenantPath}/service-accounts/{current.Id}/scopes", new ChangeServiceAccountScopes(scopes),
                    IfMatch: TenantHttp.ETag(current.Version)));
        }
        if (Full(Kinds.ServiceAccount))
        {
            var wanted = (spec.ServiceAccounts ?? []).Select(a => a.Name).ToHashSet(StringComparer.Ordinal);
            foreach (var account in live.Accounts.Where(a => Managed(Kinds.ServiceAccount).Contains(a.Id.ToString()) && a.State != "disabled"
                                                             && !wanted.Contains(a.Name)))
            {
                if (!allowDelete) { Change(new(Kinds.ServiceAccount, "disable", account.Name, Withheld: AllowDeleteNeeded)); continue; }
                after.Add(new ApiStep(Change(new(Kinds.ServiceAccount, "disable", account.Name)), "POST",
                    $"{tenantPath}/service-accounts/{account.Id}/disable", new DisableServiceAccount("removed from the manifest"),
                    Removes: (Kinds.ServiceAccount, account.Id.ToString())));
            }
        }

        // Webhooks, by URL.
        foreach (var (hook, i) in (spec.Webhooks ?? []).Select((w, i) => (w, i)))
        {
            var types = (hook.Types ?? []).Order(StringComparer.Ordinal).ToList();
            var current = live.Webhooks.FirstOrDefault(w => SameUrl(w.Url, hook.Url));
            var description = hook.Description ?? current?.Description ?? "";
            if (current is not null && current.Types.Order(StringComparer.Ordinal).SequenceEqual(types) && current.Description == description) continue;
            var invalid = new List<FieldError>();
            WebhookDecisions.Url(hook.Url, options.AllowPrivateWebhooks, invalid);
            WebhookDecisions.Types(types, EventFeed.AllTypes, invalid);
            WebhookDecisions.Description(description, invalid);
            if (invalid.Count > 0) return Refuse(Problem.Validation(invalid), $"$.spec.webhooks[{i}]");
            var change = Change(new(Kinds.Webhook, current is null ? "create" : "update", hook.Url ?? "", current?.Types, types));
            after.Add(current is null
                ? new ApiStep(change, "POST", tenantPath + "/webhooks", new CreateWebhook(hook.Url, types, description), Made: Kinds.Webhook)
                : new ApiStep(change, "PATCH", $"{tenantPath}/webhooks/{current.Id}", new ChangeWebhook(null, types, description, null),
                    IfMatch: TenantHttp.ETag(current.Version)));
        }
        if (Full(Kinds.Webhook))
        {
            foreach (var hook in live.Webhooks.Where(w => Managed(Kinds.Webhook).Contains(w.Id.ToString())
                                                         && !(spec.Webhooks ?? []).Any(m => SameUrl(w.Url, m.Url))))
            {
                if (!allowDelete) { Change(new(Kinds.Webhook, "remove", hook.Url, Withheld: AllowDeleteNeeded)); continue; }
                after.Add(new ApiStep(Change(new(Kinds.Webhook, "remove", hook.Url)), "DELETE", $"{tenantPath}/webhooks/{hook.Id}", null,
                    Removes: (Kinds.Webhook, hook.Id.ToString())));
            }
        }

        // Domains: claimed (a platform subdomain is granted at once; the tenant's own domain waits for its proof).
        var wantedDomains = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (domain, i) in (spec.Domains ?? []).Select((d, i) => (d, i)))
        {
            if (domain.Subdomain is not null && zone is null)
                return Refuse(Problem.Validation("subdomain", "no-zone", "The platform offers no zone for subdomains (TenantEvents:TenantDomainZone)."),
                    $"$.spec.domains[{i}]");
            // The name in its one spelling (lower case, IDN as punycode), as the route stores it.
            var (full, invalid) = claim?.Invoke(new Domains.ClaimDomain(domain.Domain, domain.Subdomain))
                ?? Domains.DomainNames.Normalise(domain.Domain is not null ? "domain" : "subdomain", domain.Domain ?? $"{domain.Subdomain}.{zone}");
            if (invalid is not null || full is null) return Refuse(Problem.Validation([invalid!]), $"$.spec.domains[{i}]");
            wantedDomains.Add(full);
            if (live.Domains.Contains(full)) continue;
            if (OrgHttp.Authorise(standing, graph, ServiceAccountStore.ManagePermission, graph.Root ?? Guid.Empty, "tenant") is { } may)
                return Refuse(may, $"$.spec.domains[{i}]");
            after.Add(new ApiStep(Change(new(Kinds.Domain, "create", full)), "POST", tenantPath + "/domains",
                new Domains.ClaimDomain(domain.Domain, domain.Subdomain), Made: Kinds.Domain));
        }
        if (Full(Kinds.Domain))
            foreach (var domain in live.Domains.Where(d => Managed(Kinds.Domain).Contains(d) && !wantedDomains.Contains(d)))
            {
                if (!allowDelete) { Change(new(Kinds.Domain, "remove", domain, Withheld: AllowDeleteNeeded)); continue; }
                after.Add(new ApiStep(Change(new(Kinds.Domain, "remove", domain)), "DELETE", $"{tenantPath}/domains/{Uri.EscapeDataString(domain)}", null,
                    Removes: (Kinds.Domain, domain)));
            }

        if (changes.Count > MaxChanges)
            return Refuse(new Problem("manifest-too-large", 422, "The manifest changes too much at once",
                $"A plan makes at most {MaxChanges:N0} changes; this one makes {changes.Count:N0}. Apply it in parts.").With("limit", MaxChanges));
        return new PlannedManifest(changes, versions, Digest(changes, versions, manifest), events, before, after, Frozen(made), Frozen(removed), null);
    }

    /// <summary>The plan of a tenant that does not exist yet: its request (approved by someone else, as every tenant is); the rest follows.</summary>
    public static PlannedManifest PlanNew(TenantManifest manifest, string requestKey)
    {
        var spec = manifest.Spec!;
        var root = spec.Organisations?.FirstOrDefault()?.Path is { } path ? ManifestPaths.NameOf(path) : null;
        var request = new RequestTenant(spec.Name, manifest.Metadata!.Name, spec.Template,
            new ResidencyZone(spec.Residency!.Country!, spec.Residency.Subdivision),
            (spec.Contacts ?? []).Select(c => new Contact(c.Name!, c.Email!, c.Role)).ToList(), null, root, spec.Settings);
        var changes = new List<ManifestChange> { new(Kinds.Tenant, "request", manifest.Metadata.Name!, null, new { spec.Name, spec.Template }) };
        foreach (var org in (spec.Organisations ?? []).Skip(1)) changes.Add(new(Kinds.Organisation, "create", org.Path!, Withheld: "after approval"));
        foreach (var role in spec.Roles ?? []) changes.Add(new(Kinds.Role, "create", role.Name!, Withheld: "after approval"));
        foreach (var grant in spec.Grants ?? [])
            changes.Add(new(Kinds.Grant, "create", $"{grant.Organisation} {grant.Principal?.Kind}:{grant.Principal?.Id} {grant.Role}", Withheld: "after approval"));
        foreach (var account in spec.ServiceAccounts ?? []) changes.Add(new(Kinds.ServiceAccount, "create", account.Name!, Withheld: "after approval"));
        if (spec.IdentityProvider is { } idp) changes.Add(new(Kinds.IdentityProvider, "create", idp.Issuer ?? "", Withheld: "after approval"));
        foreach (var hook in spec.Webhooks ?? []) changes.Add(new(Kinds.Webhook, "create", hook.Url ?? "", Withheld: "after approval"));
        foreach (var domain in spec.Domains ?? []) changes.Add(new(Kinds.Domain, "create", domain.Domain ?? domain.Subdomain ?? "", Withheld: "after approval"));
        var versions = new Dictionary<string, string> { ["tenant"] = "absent" };
        return new PlannedManifest(changes, versions, Digest(changes, versions, manifest), [],
            [new ApiStep(0, "POST", "/api/tenants", request, IdempotencyKey: requestKey)], [], Empty, Empty, null);
    }

    /// <summary>A stored JSON value and a manifest's are the same value (any spelling; a stored text that does not read is not).</summary>
    private static bool SameJson(string stored, JsonElement wanted)
    {
        try
        {
            using var document = JsonDocument.Parse(stored);
            return JsonElement.DeepEquals(document.RootElement, wanted);
        }
        catch (JsonException)
        {
            return false;
        }
    }

    /// <summary>Two webhook URLs are the same subscription when they are the same absolute URL (as the route stores it).</summary>
    private static bool SameUrl(string? a, string? b) =>
        Uri.TryCreate(a, UriKind.Absolute, out var x) && Uri.TryCreate(b, UriKind.Absolute, out var y) ? x.AbsoluteUri == y.AbsoluteUri : a == b;

    private static readonly IReadOnlyDictionary<string, IReadOnlyList<string>> Empty = new Dictionary<string, IReadOnlyList<string>>();

    private static Dictionary<string, IReadOnlyList<string>> Frozen(Dictionary<string, List<string>> from) =>
        from.ToDictionary(p => p.Key, p => (IReadOnlyList<string>)p.Value, StringComparer.Ordinal);

    /// <summary>What the plan read, by area, so that apply can tell whether anything moved since.</summary>
    public static Dictionary<string, string> Versions(LiveTenant live) => new(StringComparer.Ordinal)
    {
        ["tenant"] = live.Tenant.Version.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["access"] = live.Graph.Version.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["identityProvider"] = (live.IdentityProvider?.Version ?? 0).ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["serviceAccounts"] = Fingerprint(live.Accounts.Select(a => $"{a.Id:N}:{a.Version}")),
        ["webhooks"] = Fingerprint(live.Webhooks.Select(w => $"{w.Id:N}:{w.Version}")),
        ["domains"] = live.DomainsVersion.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["manifest"] = (live.Record?.Version ?? 0).ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    private static string Fingerprint(IEnumerable<string> items) =>
        Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(string.Join(',', items.Order(StringComparer.Ordinal)))))[..16];

    /// <summary>How many changes one plan makes at most (the tree's in one transaction): a bigger manifest is applied in parts.</summary>
    public const int MaxChanges = 50_000;

    /// <summary>
    /// The plan's identity: its changes, the versions it read, and the manifest itself (every field, so that an apply under
    /// this digest makes exactly what was planned, down to a mapping rule or a contact a change shows only by count).
    /// </summary>
    public static string Digest(IReadOnlyList<ManifestChange> changes, IReadOnlyDictionary<string, string> versions, TenantManifest manifest) =>
        "sha256:" + Convert.ToHexStringLower(SHA256.HashData(JsonSerializer.SerializeToUtf8Bytes(new
        {
            changes, versions = versions.OrderBy(v => v.Key), manifest = ManifestHash(manifest),
        }, Json.Options)));

    /// <summary>The manifest's own digest (every field, as read): what tells one manifest from another.</summary>
    public static string ManifestHash(TenantManifest manifest) =>
        "sha256:" + Convert.ToHexStringLower(SHA256.HashData(JsonSerializer.SerializeToUtf8Bytes(manifest, ManifestReader.SerializerOptions)));

    /// <summary>The settings a manifest sets that differ from the tenant's (a field left out is not compared).</summary>
    public static List<string> SettingsDiffer(SettingsOverrides wanted, TenantSettings current)
    {
        var after = wanted.Over(current);
        var differing = new List<string>();
        if (after.AuditRetentionDays != current.AuditRetentionDays) differing.Add("auditRetentionDays");
        if (!after.Features.Order(StringComparer.Ordinal).SequenceEqual(current.Features.Order(StringComparer.Ordinal))) differing.Add("features");
        if (JsonSerializer.Serialize(after.Quotas, Json.Options) != JsonSerializer.Serialize(current.Quotas, Json.Options)) differing.Add("quotas");
        if (after.DedicatedDatabase != current.DedicatedDatabase) differing.Add("dedicatedDatabase");
        return differing;
    }

    private static Dictionary<string, object?> Pick(TenantSettings settings, IEnumerable<string> fields) => fields.ToDictionary(f => f, f => f switch
    {
        "auditRetentionDays" => (object?)settings.AuditRetentionDays,
        "features" => settings.Features,
        "quotas" => settings.Quotas,
        _ => settings.DedicatedDatabase,
    });

    private static Problem Immutable(string field, string current) =>
        new Problem("immutable-field", 422, "A manifest cannot change this of a live tenant",
            $"The tenant's {field} is {current}: it is chosen when the tenant is requested (a residency changes by moving the tenant, not by a manifest).")
            .With("field", field);

    /// <summary>A batch's field errors named by the manifest's own paths (organisations[3] of the batch is $.spec.organisations[17]).</summary>
    private static Problem Located(Problem problem, string list, IReadOnlyList<int> positions, string manifestList)
    {
        if (problem.Errors is not { Count: > 0 } errors) return problem;
        return problem.WithErrors(errors.Select(e =>
        {
            var m = System.Text.RegularExpressions.Regex.Match(e.Field, $@"^{list}\[(\d+)\](.*)$");
            return m.Success && int.Parse(m.Groups[1].Value) is var k && k < positions.Count
                ? e with { Field = $"{manifestList}[{positions[k]}]{m.Groups[2].Value}" }
                : e;
        }).ToList());
    }

    private static Func<Guid> NextIds(IEnumerable<Guid> ids)
    {
        var queue = new Queue<Guid>(ids);
        return () => queue.Dequeue();
    }
}
