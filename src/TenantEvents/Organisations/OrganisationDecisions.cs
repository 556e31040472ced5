using System.Text.RegularExpressions;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Tenants.Residency;

namespace TenantEvents.Organisations;

/// <summary>What a command against the organisation tree came to: the events to append, or why not (a problem to answer).</summary>
public sealed record OrgDecision(IReadOnlyList<object> Events, Problem? Refusal)
{
    public static OrgDecision Accept(params object[] events) => new(events, null);
    public static OrgDecision Refuse(Problem problem) => new([], problem);
}

/// <summary>
/// How far one tenant's tree may grow (TenantEvents:MaxOrganisationsPerTenant, :MaxOrganisationDepth): the whole tree is
/// held in memory per tenant, and every check walks up from an organisation to the root.
/// </summary>
public sealed record OrgLimits(int MaxOrganisations, int MaxDepth)
{
    public static readonly OrgLimits Default = new(new TenantEventsOptions().MaxOrganisationsPerTenant, new TenantEventsOptions().MaxOrganisationDepth);

    public static OrgLimits Of(TenantEventsOptions options) => new(options.MaxOrganisationsPerTenant, options.MaxOrganisationDepth);

    /// <summary>Refusal when the tree would hold more than the limit (closed organisations count: they stay in the tree).</summary>
    public Problem? Count(AccessGraph graph, int adding) =>
        (long)graph.Count + adding <= MaxOrganisations ? null
        : Problem.LimitReached("organisation-limit", "The tenant holds as many organisations as it may",
            $"A tenant holds at most {MaxOrganisations} organisations (open and closed); it holds {graph.Count}, and the request adds {adding}.",
            MaxOrganisations, nameof(TenantEventsOptions.MaxOrganisationsPerTenant)).With("organisations", graph.Count);

    /// <summary>Refusal when an organisation would sit deeper than the limit below the root.</summary>
    public Problem? Depth(int depth, Guid? organisation = null)
    {
        if (depth <= MaxDepth) return null;
        var problem = Problem.LimitReached("organisation-too-deep", "The organisation would sit too deep in the tree",
            $"Organisations sit at most {MaxDepth} levels below the root; this one would sit {depth} levels down.", MaxDepth,
            nameof(TenantEventsOptions.MaxOrganisationDepth)).With("depth", depth);
        return organisation is { } id ? problem.With("organisationId", id) : problem;
    }
}

/// <summary>Pure decisions over a tenant's <see cref="AccessGraph"/>: state + command + actor + time -> events or a refusal.</summary>
public static partial class OrganisationDecisions
{
    public const int MaxNameLength = 200;

    [GeneratedRegex("^[a-z][a-z0-9-]{0,49}$")]
    private static partial Regex KindPattern();

    [GeneratedRegex("^[a-z][a-z0-9-]{0,62}$")]
    private static partial Regex RoleNamePattern();

    public static OrgDecision Create(AccessGraph graph, Guid id, Guid? parentId, string? name, string? kind, string? jurisdiction, Actor by,
        DateTimeOffset now, OrgLimits? limits = null)
    {
        limits ??= OrgLimits.Default;
        var errors = new List<FieldError>();
        if (parentId is null) errors.Add(new FieldError("parentId", "required", "names the organisation to create it under."));
        Name("name", name, errors);
        Kind("kind", kind, errors);
        Jurisdiction("jurisdiction", jurisdiction, errors);
        if (errors.Count > 0) return OrgDecision.Refuse(Problem.Validation(errors));
        if (graph.FindOpen(parentId!.Value) is not { } parent) return OrgDecision.Refuse(Problem.NotFound("parent organisation"));
        if ((limits.Count(graph, 1) ?? limits.Depth(parent.Depth + 1)) is { } full) return OrgDecision.Refuse(full);
        return OrgDecision.Accept(new OrganisationCreated(id, parentId, name!.Trim(), kind!, jurisdiction, by, now));
    }

    public const int MaxBatch = 1000;

    /// <summary>Many organisations at once, all or nothing; a parent may be an organisation created earlier in the same batch.</summary>
    public static OrgDecision CreateMany(AccessGraph graph, IReadOnlyList<(Guid Id, Guid? ParentId, string? Name, string? Kind, string? Jurisdiction)> items,
        Actor by, DateTimeOffset now, OrgLimits? limits = null)
    {
        limits ??= OrgLimits.Default;
        if (items.Count is 0 or > MaxBatch) return OrgDecision.Refuse(Problem.Validation("organisations", "out-of-range", $"1 to {MaxBatch} organisations."));
        if (limits.Count(graph, items.Count) is { } full) return OrgDecision.Refuse(full);
        var errors = new List<FieldError>();
        var created = new HashSet<Guid>();
        var depths = new Dictionary<Guid, int>();
        var events = new List<object>();
        for (var i = 0; i < items.Count; i++)
        {
            var (id, parent, name, kind, jurisdiction) = items[i];
            var field = $"organisations[{i}].";
            var own = new List<FieldError>();
            if (id == Guid.Empty || graph.Find(id) is not null || !created.Add(id)) own.Add(new FieldError(field + "id", "id-taken", "a new UUID (version 7), unique."));
            if (parent is null) own.Add(new FieldError(field + "parentId", "required", "the parent's id (existing, or earlier in this batch)."));
            else if (graph.FindOpen(parent.Value) is null && !created.Contains(parent.Value))
                own.Add(new FieldError(field + "parentId", "unknown-parent", "no such open organisation here or earlier in this batch."));
            Name(field + "name", name, own);
            Kind(field + "kind", kind, own);
            Jurisdiction(field + "jurisdiction", jurisdiction, own);
            errors.AddRange(own);
            if (own.Count > 0) continue;
            // A parent earlier in the batch has its depth from there; one in the tree from the tree.
            // (A parent refused itself has no depth: the batch is refused for it anyway.)
            if ((depths.TryGetValue(parent!.Value, out var d) ? d : graph.FindOpen(parent.Value)?.Depth) is not { } parentDepth) continue;
            var depth = parentDepth + 1;
            if (limits.Depth(depth, id) is { } deep) return OrgDecision.Refuse(deep);
            depths[id] = depth;
            events.Add(new OrganisationCreated(id, parent, name!.Trim(), kind!, jurisdiction, by, now));
        }
        return errors.Count > 0 ? OrgDecision.Refuse(Problem.Validation(errors.Take(100).ToList())) : new OrgDecision(events, null);
    }

    /// <summary>Many grants at once, all or nothing.</summary>
    public static OrgDecision GrantMany(AccessGraph graph, IReadOnlyList<(Guid OrganisationId, Principal? Principal, string? Role)> items, Func<Guid> newId,
        Actor by, DateTimeOffset now)
    {
        if (items.Count is 0 or > MaxBatch) return OrgDecision.Refuse(Problem.Validation("grants", "out-of-range", $"1 to {MaxBatch} grants."));
        var errors = new List<FieldError>();
        var seen = new HashSet<(Guid, Principal, string)>();
        var events = new List<object>();
        for (var i = 0; i < items.Count; i++)
        {
            var (org, principal, role) = items[i];
            var field = $"grants[{i}].";
            var own = new List<FieldError>();
            PrincipalRules(principal, own);
            if (string.IsNullOrWhiteSpace(role) || graph.Role(role) is null) own.Add(new FieldError(field + "role", "unknown-role", "one of the tenant's roles."));
            if (graph.FindOpen(org) is null) own.Add(new FieldError(field + "organisationId", "unknown-organisation", "no such open organisation."));
            if (own.Count == 0 && (graph.GrantsAt(org).Any(g => g.Principal == principal && g.Role == role) || !seen.Add((org, principal!, role!))))
                own.Add(new FieldError(field, "already-granted", "granted once per principal, role and organisation."));
            errors.AddRange(own.Select(e => e.Field.StartsWith(field, StringComparison.Ordinal) ? e : e with { Field = field + e.Field }));
            if (own.Count == 0) events.Add(new RoleGranted(org, newId(), principal!, role!, by, now));
        }
        return errors.Count > 0 ? OrgDecision.Refuse(Problem.Validation(errors.Take(100).ToList())) : new OrgDecision(events, null);
    }

    public static OrgDecision Rename(AccessGraph graph, Guid id, string? name, string currentName, Actor by, DateTimeOffset now)
    {
        var errors = new List<FieldError>();
        Name("name", name, errors);
        if (errors.Count > 0) return OrgDecision.Refuse(Problem.Validation(errors));
        if (graph.FindOpen(id) is null) return OrgDecision.Refuse(Problem.NotFound("organisation"));
        return name!.Trim() == currentName ? OrgDecision.Accept() : OrgDecision.Accept(new OrganisationRenamed(id, name.Trim(), by, now));
    }

    public static OrgDecision UpdateAttributes(AccessGraph graph, Guid id, string? kind, string? jurisdiction, Actor by, DateTimeOffset now)
    {
        var errors = new List<FieldError>();
        Kind("kind", kind, errors);
        Jurisdiction("jurisdiction", jurisdiction, errors);
        if (errors.Count > 0) return OrgDecision.Refuse(Problem.Validation(errors));
        if (graph.FindOpen(id) is not { } node) return OrgDecision.Refuse(Problem.NotFound("organisation"));
        return node.Kind == kind && node.Jurisdiction == jurisdiction
            ? OrgDecision.Accept()
            : OrgDecision.Accept(new OrganisationAttributesUpdated(id, kind!, jurisdiction, by, now));
    }

    /// <summary>Moves the organisation, with its subtree, under another parent; never under itself or its own descendants.</summary>
    public static OrgDecision Move(AccessGraph graph, Guid id, Guid? newParentId, Actor by, DateTimeOffset now, OrgLimits? limits = null)
    {
        limits ??= OrgLimits.Default;
        if (newParentId is null) return OrgDecision.Refuse(Problem.Validation("parentId", "required", "names the new parent."));
        if (graph.FindOpen(id) is not { } node) return OrgDecision.Refuse(Problem.NotFound("organisation"));
        if (graph.FindOpen(newParentId.Value) is not { } newParent) return OrgDecision.Refuse(Problem.NotFound("parent organisation"));
        if (node.ParentId is not { } from)
            return OrgDecision.Refuse(new Problem("root-cannot-move", 409, "The root organisation cannot be moved",
                "The root is the tenant itself; move its children instead."));
        if (graph.IsSelfOrDescendant(newParentId.Value, id))
            return OrgDecision.Refuse(new Problem("would-create-cycle", 409, "An organisation cannot move under itself or its own descendants",
                "The new parent is the organisation or lies in its subtree; the tree would become a cycle.").With("parentId", newParentId));
        if (from == newParentId) return OrgDecision.Accept();
        // The subtree moves with it: its deepest organisation must still fit. (Only a move deeper can break the bound.)
        if (newParent.Depth + 1 > node.Depth)
        {
            var height = graph.SelfAndDescendants(id).Max(n => n.Depth) - node.Depth;
            if (limits.Depth(newParent.Depth + 1 + height) is { } deep) return OrgDecision.Refuse(deep);
        }
        return OrgDecision.Accept(new OrganisationMoved(id, from, newParentId.Value, by, now));
    }

    /// <summary>Closes an organisation; one with open children only when the request closes the whole subtree.</summary>
    public static OrgDecision Close(AccessGraph graph, Guid id, bool subtree, string? reason, Actor by, DateTimeOffset now)
    {
        var errors = new List<FieldError>();
        if (reason is not null && (reason.Trim().Length == 0 || reason.Length > 1000))
            errors.Add(new FieldError("reason", "invalid", "if given, 1 to 1000 characters."));
        if (errors.Count > 0) return OrgDecision.Refuse(Problem.Validation(errors));
        if (graph.FindOpen(id) is not { } node) return OrgDecision.Refuse(Problem.NotFound("organisation"));
        if (node.ParentId is null)
            return OrgDecision.Refuse(new Problem("root-cannot-close", 409, "The root organisation cannot be closed",
                "The root closes with the tenant (decommissioning)."));
        var open = graph.SelfAndDescendants(id).Where(n => n.Open).ToList();
        if (open.Count > 1 && !subtree)
            return OrgDecision.Refuse(new Problem("has-open-children", 409, "The organisation still has open organisations under it",
                "Close or move them first, or close the whole subtree with \"subtree\": true.").With("openDescendants", open.Count - 1));
        // Children before parents, so the tree never holds an open organisation under a closed one. A closed
        // organisation uses nothing: its quota shares go back to the ancestors they were carved out of.
        var closing = open.AsEnumerable().Reverse().ToList();
        var events = closing.Select(n => (object)new OrganisationClosed(n.Id, reason?.Trim(), by, now)).ToList();
        var ids = closing.Select(n => n.Id).ToHashSet();
        events.AddRange(graph.Allocations.Where(a => ids.Contains(a.OrganisationId)).OrderBy(a => a.OrganisationId).ThenBy(a => a.Kind, StringComparer.Ordinal)
            .Select(a => (object)new Quotas.QuotaAllocationRemoved(a.OrganisationId, a.Kind, by, now)));
        return new OrgDecision(events, null);
    }

    public static OrgDecision GrantRole(AccessGraph graph, Guid org, Principal? principal, string? role, Guid grantId, Actor by, DateTimeOffset now)
    {
        var errors = new List<FieldError>();
        PrincipalRules(principal, errors);
        if (string.IsNullOrWhiteSpace(role)) errors.Add(new FieldError("role", "required", "names one of the tenant's roles."));
        else if (graph.Role(role) is null) errors.Add(new FieldError("role", "unknown-role", $"the tenant has no role '{role}'."));
        if (errors.Count > 0) return OrgDecision.Refuse(Problem.Validation(errors));
        if (graph.FindOpen(org) is null) return OrgDecision.Refuse(Problem.NotFound("organisation"));
        if (graph.GrantsAt(org).FirstOrDefault(g => g.Principal == principal && g.Role == role) is { } existing)
            return OrgDecision.Refuse(new Problem("already-granted", 409, "The principal already holds this role here",
                "A role is granted once per principal and organisation.").With("grantId", existing.Id));
        return OrgDecision.Accept(new RoleGranted(org, grantId, principal!, role!, by, now));
    }

    public static OrgDecision Revoke(AccessGraph graph, Guid org, Guid grantId, Actor by, DateTimeOffset now)
    {
        if (graph.FindGrant(grantId) is not { } grant || grant.OrganisationId != org) return OrgDecision.Refuse(Problem.NotFound("grant"));
        return OrgDecision.Accept(new GrantRevoked(org, grantId, by, now));
    }

    [GeneratedRegex("^(feature|setting)\\.[a-z][a-z0-9.-]{0,62}$")]
    private static partial Regex PolicyKeyPattern();

    /// <summary>
    /// Sets a guardrail. Refused under an ancestor's lock of the same key (409), except a feature deny, which is always
    /// more restrictive. Features take true or false.
    /// </summary>
    public static OrgDecision SetPolicy(AccessGraph graph, Guid org, string key, string? mode, System.Text.Json.JsonElement? value, Actor by, DateTimeOffset now)
    {
        var errors = new List<FieldError>();
        if (!PolicyKeyPattern().IsMatch(key)) errors.Add(new FieldError("key", "invalid-key", "feature.<name> or setting.<name>, lower case."));
        if (mode is not (Policy.Override or Policy.Locked)) errors.Add(new FieldError("mode", "invalid-mode", "override or locked (clear a policy with DELETE to inherit)."));
        string? text = null;
        if (value is not { } v || v.ValueKind is System.Text.Json.JsonValueKind.Undefined or System.Text.Json.JsonValueKind.Null)
            errors.Add(new FieldError("value", "required", "a JSON value."));
        else if (AccessGraph.IsFeature(key) && v.ValueKind is not (System.Text.Json.JsonValueKind.True or System.Text.Json.JsonValueKind.False))
            errors.Add(new FieldError("value", "invalid-value", "a feature is true or false."));
        else if ((text = v.GetRawText()).Length > 1000) errors.Add(new FieldError("value", "too-long", "at most 1000 characters of JSON."));
        if (errors.Count > 0) return OrgDecision.Refuse(Problem.Validation(errors));
        if (graph.FindOpen(org) is null) return OrgDecision.Refuse(Problem.NotFound("organisation"));
        var deny = AccessGraph.IsFeature(key) && mode == Policy.Locked && text == "false";
        if (!deny && graph.LockAbove(org, key) is { } lockAbove)
            return OrgDecision.Refuse(new Problem("locked-by-ancestor", 409, "An organisation above has locked this setting",
                "A lock binds every descendant; change it where it was set.").With("lockedAt", lockAbove.OrganisationId).With("key", key));
        if (graph.PoliciesAt(org).FirstOrDefault(p => p.Key == key) is { } same && same.Mode == mode && same.Value == text) return OrgDecision.Accept();
        return OrgDecision.Accept(new PolicySet(org, key, mode!, text!, by, now));
    }

    public static OrgDecision ClearPolicy(AccessGraph graph, Guid org, string key, Actor by, DateTimeOffset now)
    {
        if (graph.FindOpen(org) is null) return OrgDecision.Refuse(Problem.NotFound("organisation"));
        return graph.PoliciesAt(org).Any(p => p.Key == key) ? OrgDecision.Accept(new PolicyCleared(org, key, by, now)) : OrgDecision.Refuse(Problem.NotFound("policy"));
    }

    public static OrgDecision AddMember(AccessGraph graph, Guid org, string? user, Actor by, DateTimeOffset now)
    {
        if (UserRules(user) is { } bad) return OrgDecision.Refuse(bad);
        if (graph.FindOpen(org) is null) return OrgDecision.Refuse(Problem.NotFound("organisation"));
        if (graph.IsMember(org, user!))
            return OrgDecision.Refuse(new Problem("already-member", 409, "The user already belongs to this organisation", "A user is added once."));
        return OrgDecision.Accept(new MemberAdded(org, user!, by, now));
    }

    public static OrgDecision RemoveMember(AccessGraph graph, Guid org, string user, Actor by, DateTimeOffset now) =>
        graph.FindOpen(org) is null || !graph.IsMember(org, user) ? OrgDecision.Refuse(Problem.NotFound("member"))
        : OrgDecision.Accept(new MemberRemoved(org, user, by, now));

    /// <summary>Moves a user from one organisation to another: removed there, added here, in one command.</summary>
    public static OrgDecision MoveMember(AccessGraph graph, string user, Guid? from, Guid? to, Actor by, DateTimeOffset now)
    {
        var errors = new List<FieldError>();
        if (from is null) errors.Add(new FieldError("fromOrganisationId", "required", "the organisation the user leaves."));
        if (to is null) errors.Add(new FieldError("toOrganisationId", "required", "the organisation the user joins."));
        else if (to == from) errors.Add(new FieldError("toOrganisationId", "same-organisation", "must differ from fromOrganisationId."));
        if (errors.Count > 0) return OrgDecision.Refuse(Problem.Validation(errors));
        if (graph.FindOpen(from!.Value) is null || !graph.IsMember(from.Value, user)) return OrgDecision.Refuse(Problem.NotFound("member"));
        if (graph.FindOpen(to!.Value) is null) return OrgDecision.Refuse(Problem.NotFound("organisation"));
        if (graph.IsMember(to.Value, user))
            return OrgDecision.Refuse(new Problem("already-member", 409, "The user already belongs to the destination", "Remove the membership instead."));
        return OrgDecision.Accept(new MemberRemoved(from.Value, user, by, now), new MemberAdded(to.Value, user, by, now));
    }

    private static Problem? UserRules(string? user) =>
        string.IsNullOrWhiteSpace(user) || user.Length > 200 || user.Any(char.IsControl)
            ? Problem.Validation("userId", "invalid", "the user's subject id: 1 to 200 printable characters.")
            : null;

    public static OrgDecision DefineRole(AccessGraph graph, string name, string? description, IReadOnlyList<string>? permissions, Actor by,
        DateTimeOffset now)
    {
        var errors = new List<FieldError>();
        if (!RoleNamePattern().IsMatch(name)) errors.Add(new FieldError("name", "invalid-role-name", "lower-case letters, digits and '-', at most 63."));
        if (description is not null && description.Length > 500) errors.Add(new FieldError("description", "too-long", "at most 500 characters."));
        if (permissions is null || permissions.Count == 0) errors.Add(new FieldError("permissions", "required", "at least one permission."));
        else
            foreach (var p in permissions.Where(p => p is null || !Permissions.IsKnown(p)).Distinct())
                errors.Add(new FieldError("permissions", "unknown-permission", $"'{p}' is not a permission: {string.Join(", ", Permissions.All.Keys)}."));
        if (errors.Count > 0) return OrgDecision.Refuse(Problem.Validation(errors));
        var wanted = permissions!.Distinct().Order(StringComparer.Ordinal).ToList();
        if (graph.Role(name) is { } current && current.Description == (description ?? "") && current.Permissions.SetEquals(wanted))
            return OrgDecision.Accept();
        return OrgDecision.Accept(new RoleDefined(name, description ?? "", wanted, by, now));
    }

    public static OrgDecision RemoveRole(AccessGraph graph, string name, Actor by, DateTimeOffset now)
    {
        if (graph.Role(name) is null) return OrgDecision.Refuse(Problem.NotFound("role"));
        var inUse = graph.AllGrants.Count(g => g.Role == name);
        if (inUse > 0)
            return OrgDecision.Refuse(new Problem("role-in-use", 409, "The role is still granted", "Revoke its grants first.").With("grants", inUse));
        return OrgDecision.Accept(new RoleRemoved(name, by, now));
    }

    private static void Name(string field, string? name, List<FieldError> errors)
    {
        if (string.IsNullOrWhiteSpace(name)) errors.Add(new FieldError(field, "required", "a name is required."));
        else if (name.Trim().Length > MaxNameLength) errors.Add(new FieldError(field, "too-long", $"at most {MaxNameLength} characters."));
        else if (name.Any(char.IsControl)) errors.Add(new FieldError(field, "invalid-characters", "no control characters."));
    }

    private static void Kind(string field, string? kind, List<FieldError> errors)
    {
        if (string.IsNullOrEmpty(kind)) errors.Add(new FieldError(field, "required", "e.g. department, field-office, unit."));
        else if (!KindPattern().IsMatch(kind)) errors.Add(new FieldError(field, "invalid-kind", "lower-case letters, digits and '-', at most 50."));
    }

    private static void Jurisdiction(string field, string? code, List<FieldError> errors)
    {
        if (code is not null && !Iso3166.Instance.IsSubdivision(code))
            errors.Add(new FieldError(field, "unknown-subdivision", "must be an ISO 3166-2 subdivision code such as US-TX."));
    }

    private static void PrincipalRules(Principal? principal, List<FieldError> errors)
    {
        if (principal is null) errors.Add(new FieldError("principal", "required", "{\"kind\": \"user\" | \"group\", \"id\": \"...\"}."));
        else
        {
            if (principal.Kind is not (Principal.User or Principal.Group))
                errors.Add(new FieldError("principal.kind", "invalid", "user or group."));
            if (string.IsNullOrWhiteSpace(principal.Id) || principal.Id.Length > 200 || principal.Id.Any(char.IsControl))
                errors.Add(new FieldError("principal.id", "invalid", "1 to 200 printable characters."));
        }
    }
}
