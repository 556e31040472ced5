using TenantEvents.Infrastructure;

namespace TenantEvents.Organisations;

/// <summary>
/// A power that an action hands to someone else: these permissions at this organisation (and, as grants are inherited,
/// below it), or the tenant's administration itself (every permission everywhere, e.g. an identity provider's
/// admin groups).
/// </summary>
public sealed record Conferral(IReadOnlyCollection<string> Permissions, Guid Organisation, bool Administration = false, string? What = null)
{
    public static Conferral TenantAdministration(Guid root, string what) => new([], root, true, what);
}

/// <summary>
/// The grantor's bound, the one rule of every path that confers power (grants single and batch, role definitions,
/// identity-provider admin groups and group mappings, service-account scopes and secrets, sharing offers): nobody
/// confers more than they hold. Each path says what it confers; this decides. Holding is judged by
/// <see cref="Standing.Can"/>, the same function that decides enforcement, with everything the permissions imply.
/// </summary>
public static class GrantorBound
{
    public const string Code = "beyond-your-own";

    /// <summary>Null when the actor holds every power conferred; else a 403 naming the first power it lacks.</summary>
    public static Problem? Check(Standing standing, AccessGraph graph, IEnumerable<Conferral> conferred)
    {
        if (standing.Everything) return null;
        foreach (var power in conferred)
        {
            if (power.Administration)
                return Beyond($"Only the tenant's administrators may confer the tenant's administration ({power.What ?? "administrators"}).",
                    ["tenant-admin"], power.Organisation);
            var missing = Permissions.Effective(power.Permissions).Where(p => !standing.Can(graph, p, power.Organisation))
                .Order(StringComparer.Ordinal).ToList();
            if (missing.Count > 0)
                return Beyond($"You do not hold {string.Join(", ", missing)} at that organisation, so you cannot confer it{(power.What is { } w ? $" ({w})" : "")}.",
                    missing, power.Organisation);
        }
        return null;
    }

    /// <summary>
    /// What moving an organisation under a new parent confers: every grant at the new parent and above now reaches the
    /// moved subtree, so the permissions that reach it newly (held there by someone through the new ancestors, not
    /// through the old ones) are conferred at the moved organisation.
    /// </summary>
    public static Conferral Move(AccessGraph graph, Guid org, Guid newParent)
    {
        HashSet<(Principal, string)> Reaching(Guid? from)
        {
            var reach = new HashSet<(Principal, string)>();
            if (from is not { } start || graph.Find(start) is null) return reach;
            foreach (var node in graph.SelfAndAncestors(start))
                foreach (var grant in graph.GrantsAt(node.Id))
                    if (graph.Role(grant.Role) is { } role)
                        foreach (var permission in role.Effective) reach.Add((grant.Principal, permission));
            return reach;
        }
        var before = Reaching(graph.Find(org)?.ParentId);
        var newly = Reaching(newParent).Where(p => !before.Contains(p)).Select(p => p.Item2).Distinct().ToList();
        return new Conferral(newly, org, What: "the grants above the new parent reach the moved organisation");
    }

    private static Problem Beyond(string detail, IReadOnlyList<string> missing, Guid organisation) =>
        new Problem(Code, 403, "You cannot confer more than you hold", detail).With("permissions", missing).With("organisationId", organisation);
}
