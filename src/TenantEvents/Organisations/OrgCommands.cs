using TenantEvents.Infrastructure;

namespace TenantEvents.Organisations;

/// <summary>
/// The organisation commands as the caller may give them: the authorisation (<see cref="OrgHttp.Authorise"/>, the
/// grantor's bound) and then the pure decision. Pure. The routes call these, and so does a manifest's plan and apply
/// (Manifests/ManifestDecisions.cs), so a change made from a manifest is decided by exactly the code of its route.
/// </summary>
public static class OrgCommands
{
    public static OrgDecision CreateMany(Standing standing, AccessGraph graph,
        IReadOnlyList<(Guid Id, Guid? ParentId, string? Name, string? Kind, string? Jurisdiction)> items, DateTimeOffset now, OrgLimits limits)
    {
        var ids = items.Select(i => i.Id).ToHashSet();
        foreach (var parent in items.Select(i => i.ParentId).OfType<Guid>().Where(p => !ids.Contains(p)).Distinct())
            if (OrgHttp.Authorise(standing, graph, Permissions.OrgManage, parent, "parent organisation") is { } no) return OrgDecision.Refuse(no);
        return OrganisationDecisions.CreateMany(graph, items, standing.Actor, now, limits);
    }

    public static OrgDecision GrantMany(Standing standing, AccessGraph graph, IReadOnlyList<(Guid OrganisationId, Principal? Principal, string? Role)> items,
        Func<Guid> newId, DateTimeOffset now)
    {
        foreach (var item in items.Where(i => i.OrganisationId != Guid.Empty).DistinctBy(i => (i.OrganisationId, i.Role)))
        {
            if (OrgHttp.Authorise(standing, graph, Permissions.MemberManage, item.OrganisationId) is { } no) return OrgDecision.Refuse(no);
            if (item.Role is { } role && graph.Role(role) is { } definition
                && GrantorBound.Check(standing, graph, [new Conferral(definition.Permissions, item.OrganisationId, What: $"role {role}")]) is { } beyond)
                return OrgDecision.Refuse(beyond);
        }
        return OrganisationDecisions.GrantMany(graph, items, newId, standing.Actor, now);
    }

    public static OrgDecision Revoke(Standing standing, AccessGraph graph, Guid org, Guid grantId, DateTimeOffset now) =>
        OrgHttp.Authorise(standing, graph, Permissions.MemberManage, org) is { } no ? OrgDecision.Refuse(no)
        : OrganisationDecisions.Revoke(graph, org, grantId, standing.Actor, now);

    public static OrgDecision UpdateAttributes(Standing standing, AccessGraph graph, Guid org, string? kind, string? jurisdiction, DateTimeOffset now) =>
        OrgHttp.Authorise(standing, graph, Permissions.OrgManage, org) is { } no ? OrgDecision.Refuse(no)
        : OrganisationDecisions.UpdateAttributes(graph, org, kind, jurisdiction, standing.Actor, now);

    public static OrgDecision Close(Standing standing, AccessGraph graph, Guid org, bool subtree, string? reason, DateTimeOffset now) =>
        OrgHttp.Authorise(standing, graph, Permissions.OrgManage, org) is { } no ? OrgDecision.Refuse(no)
        : OrganisationDecisions.Close(graph, org, subtree, reason, standing.Actor, now);

    public static OrgDecision AddMember(Standing standing, AccessGraph graph, Guid org, string? user, DateTimeOffset now) =>
        OrgHttp.Authorise(standing, graph, Permissions.MemberManage, org) is { } no ? OrgDecision.Refuse(no)
        : OrganisationDecisions.AddMember(graph, org, user, standing.Actor, now);

    public static OrgDecision RemoveMember(Standing standing, AccessGraph graph, Guid org, string user, DateTimeOffset now) =>
        OrgHttp.Authorise(standing, graph, Permissions.MemberManage, org) is { } no ? OrgDecision.Refuse(no)
        : OrganisationDecisions.RemoveMember(graph, org, user, standing.Actor, now);

    public static OrgDecision SetPolicy(Standing standing, AccessGraph graph, Guid org, string key, string? mode, System.Text.Json.JsonElement? value,
        DateTimeOffset now) =>
        OrgHttp.Authorise(standing, graph, Permissions.OrgManage, org) is { } no ? OrgDecision.Refuse(no)
        : OrganisationDecisions.SetPolicy(graph, org, key, mode, value, standing.Actor, now);

    public static OrgDecision ClearPolicy(Standing standing, AccessGraph graph, Guid org, string key, DateTimeOffset now) =>
        OrgHttp.Authorise(standing, graph, Permissions.OrgManage, org) is { } no ? OrgDecision.Refuse(no)
        : OrganisationDecisions.ClearPolicy(graph, org, key, standing.Actor, now);

    /// <summary>role.manage at the root, and the permissions a definition adds must be the definer's own there.</summary>
    public static OrgDecision DefineRole(Standing standing, AccessGraph graph, string name, string? description, IReadOnlyList<string>? permissions,
        DateTimeOffset now)
    {
        if (graph.Root is not { } root) return OrgDecision.Refuse(Problem.NotFound("tenant"));
        if (OrgHttp.Authorise(standing, graph, Permissions.RoleManage, root) is { } no) return OrgDecision.Refuse(no);
        var decision = OrganisationDecisions.DefineRole(graph, name, description, permissions, standing.Actor, now);
        if (decision.Refusal is not null) return decision;
        // A definition confers its permissions on everyone the role is (or will be) granted to, anywhere in the tenant;
        // taking permissions away confers nothing.
        foreach (var defined in decision.Events.OfType<RoleDefined>())
        {
            var added = Permissions.Effective(defined.Permissions).Except(graph.Role(defined.Name)?.Effective ?? new HashSet<string>()).ToList();
            if (GrantorBound.Check(standing, graph, [new Conferral(added, root, What: $"role {defined.Name}")]) is { } beyond) return OrgDecision.Refuse(beyond);
        }
        return decision;
    }

    public static OrgDecision RemoveRole(Standing standing, AccessGraph graph, string name, DateTimeOffset now) =>
        graph.Root is not { } root ? OrgDecision.Refuse(Problem.NotFound("tenant"))
        : OrgHttp.Authorise(standing, graph, Permissions.RoleManage, root) is { } no ? OrgDecision.Refuse(no)
        : OrganisationDecisions.RemoveRole(graph, name, standing.Actor, now);
}
