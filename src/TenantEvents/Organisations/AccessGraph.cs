using TenantEvents.Infrastructure;
namespace TenantEvents.Organisations;

public sealed class OrgNode
{
    public Guid Id { get; init; }
    public Guid? ParentId { get; set; }
    public bool Open { get; set; } = true;
    public string Kind { get; set; } = "";
    public string? Jurisdiction { get; set; }
    public int Depth { get; set; }
    /// <summary>The organisation stream's version (its ETag).</summary>
    public long Version { get; set; }
    /// <summary>Known when the graph was folded from events (time travel); the live graph reads names from the projection.</summary>
    public string? Name { get; set; }
    public List<Guid> Children { get; } = [];
}

public sealed record Grant(Guid Id, Guid OrganisationId, Principal Principal, string Role, DateTimeOffset At);

/// <summary>A role: the permissions it was defined with, and the effective set (with what they imply) that checks use.</summary>
public sealed record Policy(Guid OrganisationId, string Key, string Mode, string Value, DateTimeOffset At)
{
    public const string Override = "override";
    public const string Locked = "locked";
}

/// <summary>A setting's value at an organisation: from which organisation's policy, and whether a lock above binds it.</summary>
public sealed record EffectivePolicy(string Key, string Value, Guid SetAt, string Mode, bool Locked);

public sealed record RoleDefinition(string Name, string Description, IReadOnlySet<string> Permissions)
{
    public IReadOnlySet<string> Effective { get; } = TenantEvents.Organisations.Permissions.Effective(Permissions);
}

/// <summary>Why a principal holds a permission at an organisation: the grant, and where it was made (the org itself or an ancestor).</summary>
public sealed record AccessExplanation(Grant Grant, Guid GrantedAt, int Distance, bool Inherited);

/// <summary>
/// A tenant's organisation tree, its roles and its grants, in memory: what the decisions look at and what permission
/// checks walk. Pure: built by folding the events (for time travel) or loaded from the projection, and changed only
/// by <see cref="Apply"/>. A check walks from the organisation up to the root, so it costs one lookup per level and
/// nothing per organisation elsewhere in the tree; there is no depth limit.
/// </summary>
public sealed class AccessGraph
{
    private readonly Dictionary<Guid, OrgNode> _nodes = new();
    private readonly Dictionary<Guid, List<Grant>> _grantsByOrg = new();
    private readonly Dictionary<Guid, Grant> _grants = new();
    private readonly Dictionary<string, RoleDefinition> _roles = new(StringComparer.Ordinal);
    private readonly Dictionary<Guid, Dictionary<string, Policy>> _policies = new();
    private readonly Dictionary<Guid, HashSet<string>> _members = new();
    private readonly Dictionary<string, HashSet<Guid>> _memberships = new(StringComparer.Ordinal);

    /// <summary>The tenant's access version: one more for every accepted command that changed the tree, roles or grants.</summary>
    public long Version { get; set; }

    public Guid? Root { get; private set; }

    public int Count => _nodes.Count;
    public int GrantCount => _grants.Count;

    public OrgNode? Find(Guid id) => _nodes.GetValueOrDefault(id);
    public OrgNode? FindOpen(Guid id) => _nodes.TryGetValue(id, out var n) && n.Open ? n : null;
    public Grant? FindGrant(Guid id) => _grants.GetValueOrDefault(id);
    public RoleDefinition? Role(string name) => _roles.GetValueOrDefault(name);
    public IEnumerable<RoleDefinition> Roles => _roles.Values.OrderBy(r => r.Name, StringComparer.Ordinal);
    public IReadOnlyList<Grant> GrantsAt(Guid org) => _grantsByOrg.TryGetValue(org, out var list) ? list : [];
    public IEnumerable<Grant> AllGrants => _grants.Values;

    /// <summary>The organisation and its ancestors, nearest first, ending at the root.</summary>
    public IEnumerable<OrgNode> SelfAndAncestors(Guid id)
    {
        for (var node = Find(id); node is not null; node = node.ParentId is { } p ? Find(p) : null)
            yield return node;
    }

    /// <summary>The organisation and every descendant, parents before children (iterative: no recursion limit).</summary>
    public IEnumerable<OrgNode> SelfAndDescendants(Guid id)
    {
        if (Find(id) is not { } start) yield break;
        var stack = new Stack<OrgNode>();
        stack.Push(start);
        while (stack.Count > 0)
        {
            var node = stack.Pop();
            yield return node;
            for (var i = node.Children.Count - 1; i >= 0; i--) stack.Push(_nodes[node.Children[i]]);
        }
    }

    public IReadOnlyCollection<string> MembersOf(Guid org) => _members.TryGetValue(org, out var m) ? m : [];
    public IReadOnlyCollection<Guid> MembershipsOf(string user) => _memberships.TryGetValue(user, out var m) ? m : [];
    public bool IsMember(Guid org, string user) => _members.TryGetValue(org, out var m) && m.Contains(user);

    public IReadOnlyCollection<Policy> PoliciesAt(Guid org) => _policies.TryGetValue(org, out var p) ? p.Values : [];

    /// <summary>
    /// The guardrails in force at an organisation, walking from the root down: the first lock on the way binds (nothing
    /// below can change it), otherwise the nearest override; for features a locked "false" (deny) anywhere above wins
    /// over everything, the most restrictive ancestor.
    /// </summary>
    public IReadOnlyDictionary<string, EffectivePolicy> EffectivePolicies(Guid org)
    {
        var result = new Dictionary<string, EffectivePolicy>(StringComparer.Ordinal);
        foreach (var node in SelfAndAncestors(org).Reverse())
        {
            if (!_policies.TryGetValue(node.Id, out var here)) continue;
            foreach (var p in here.Values)
            {
                if (result.TryGetValue(p.Key, out var current) && current.Locked)
                {
                    // A deny below a locked allow is still more restrictive: deny wins.
                    if (!(IsFeature(p.Key) && p.Mode == Policy.Locked && p.Value == "false" && current.Value != "false")) continue;
                }
                result[p.Key] = new EffectivePolicy(p.Key, p.Value, node.Id, p.Mode, p.Mode == Policy.Locked);
            }
        }
        return result;
    }

    /// <summary>The ancestor (strictly above) whose lock binds this key here, if any.</summary>
    public Policy? LockAbove(Guid org, string key)
    {
        foreach (var node in SelfAndAncestors(org).Skip(1).Reverse())
            if (_policies.TryGetValue(node.Id, out var here) && here.TryGetValue(key, out var p) && p.Mode == Policy.Locked) return p;
        return null;
    }

    public static bool IsFeature(string key) => key.StartsWith("feature.", StringComparison.Ordinal);

    public bool IsSelfOrDescendant(Guid candidate, Guid of)
    {
        foreach (var node in SelfAndAncestors(candidate))
            if (node.Id == of) return true;
        return false;
    }

    /// <summary>
    /// The nearest grant that gives one of the principals the permission at the organisation: made there or at an
    /// ancestor (grants are inherited downwards, additively). Null when none does, or the organisation is not open.
    /// </summary>
    public AccessExplanation? Explain(IReadOnlyCollection<Principal> principals, string permission, Guid org) =>
        Nearest(principals, role => role.Effective.Contains(permission), org);

    /// <summary>Whether the principals hold any of the permissions at the organisation: one walk up, whatever their number.</summary>
    public bool HoldsAny(IReadOnlyCollection<Principal> principals, IReadOnlyCollection<string> permissions, Guid org) =>
        Nearest(principals, role => permissions.Any(role.Effective.Contains), org) is not null;

    /// <summary>Whether the principals hold any permission at all at the organisation (granted there or above).</summary>
    public bool HoldsAnything(IReadOnlyCollection<Principal> principals, Guid org) =>
        Nearest(principals, role => role.Effective.Count > 0, org) is not null;

    private AccessExplanation? Nearest(IReadOnlyCollection<Principal> principals, Func<RoleDefinition, bool> matches, Guid org)
    {
        if (FindOpen(org) is null) return null;
        var distance = 0;
        foreach (var node in SelfAndAncestors(org))
        {
            if (_grantsByOrg.TryGetValue(node.Id, out var grants))
                foreach (var grant in grants)
                    if (principals.Contains(grant.Principal) && _roles.TryGetValue(grant.Role, out var role) && matches(role))
                        return new AccessExplanation(grant, node.Id, distance, distance > 0);
            distance++;
        }
        return null;
    }

    public bool Check(IReadOnlyCollection<Principal> principals, string permission, Guid org) => Explain(principals, permission, org) is not null;

    /// <summary>Every open organisation where one of the principals holds the permission, in id order.</summary>
    public IReadOnlyList<Guid> OrganisationsWhere(IReadOnlyCollection<Principal> principals, string permission)
    {
        var tops = _grants.Values
            .Where(g => principals.Contains(g.Principal) && _roles.TryGetValue(g.Role, out var r) && r.Effective.Contains(permission))
            .Select(g => g.OrganisationId).Distinct().ToList();
        var found = new HashSet<Guid>();
        foreach (var top in tops)
        {
            if (found.Contains(top)) continue;
            foreach (var node in SelfAndDescendants(top))
                if (node.Open) found.Add(node.Id);
        }
        return found.OrderBy(id => id.ToString("N"), StringComparer.Ordinal).ToList();
    }

    public void Apply(object e)
    {
        switch (e)
        {
            case OrganisationCreated x:
                var depth = x.ParentId is { } parent ? _nodes[parent].Depth + 1 : 0;
                _nodes[x.OrganisationId] = new OrgNode { Id = x.OrganisationId, ParentId = x.ParentId, Kind = x.Kind, Jurisdiction = x.Jurisdiction, Depth = depth, Version = 1, Name = x.Name };
                if (x.ParentId is { } p) _nodes[p].Children.Add(x.OrganisationId);
                else Root = x.OrganisationId;
                break;
            case OrganisationRenamed x:
                _nodes[x.OrganisationId].Version++;
                if (_nodes[x.OrganisationId].Name is not null) _nodes[x.OrganisationId].Name = x.Name;
                break;
            case OrganisationAttributesUpdated x:
                var updated = _nodes[x.OrganisationId];
                updated.Kind = x.Kind;
                updated.Jurisdiction = x.Jurisdiction;
                updated.Version++;
                break;
            case OrganisationMoved x:
                var moved = _nodes[x.OrganisationId];
                _nodes[x.FromParentId].Children.Remove(x.OrganisationId);
                _nodes[x.ToParentId].Children.Add(x.OrganisationId);
                moved.ParentId = x.ToParentId;
                moved.Version++;
                var shift = _nodes[x.ToParentId].Depth + 1 - moved.Depth;
                foreach (var node in SelfAndDescendants(x.OrganisationId)) node.Depth += shift;
                break;
            case OrganisationClosed x:
                var closed = _nodes[x.OrganisationId];
                closed.Open = false;
                closed.Version++;
                break;
            case RoleGranted x:
                var grant = new Grant(x.GrantId, x.OrganisationId, x.Principal, x.Role, x.At);
                _grants[x.GrantId] = grant;
                if (!_grantsByOrg.TryGetValue(x.OrganisationId, out var list)) _grantsByOrg[x.OrganisationId] = list = [];
                list.Add(grant);
                _nodes[x.OrganisationId].Version++;
                break;
            case GrantRevoked x:
                if (_grants.Remove(x.GrantId, out var revoked)) _grantsByOrg[revoked.OrganisationId].Remove(revoked);
                _nodes[x.OrganisationId].Version++;
                break;
            case PolicySet x:
                if (!_policies.TryGetValue(x.OrganisationId, out var set)) _policies[x.OrganisationId] = set = new(StringComparer.Ordinal);
                set[x.Key] = new Policy(x.OrganisationId, x.Key, x.Mode, x.Value, x.At);
                _nodes[x.OrganisationId].Version++;
                break;
            case PolicyCleared x:
                if (_policies.TryGetValue(x.OrganisationId, out var cleared)) cleared.Remove(x.Key);
                _nodes[x.OrganisationId].Version++;
                break;
            case MemberAdded x:
                AddMember(x.OrganisationId, x.UserId);
                _nodes[x.OrganisationId].Version++;
                break;
            case MemberRemoved x:
                if (_members.TryGetValue(x.OrganisationId, out var members)) members.Remove(x.UserId);
                if (_memberships.TryGetValue(x.UserId, out var of)) of.Remove(x.OrganisationId);
                _nodes[x.OrganisationId].Version++;
                break;
            case Quotas.QuotaAllocated x:
                _allocations[(x.OrganisationId, x.Kind)] = new Quotas.QuotaShare(x.OrganisationId, x.Kind, x.Guaranteed, x.Cap, x.At);
                _nodes[x.OrganisationId].Version++;
                break;
            case Quotas.QuotaAllocationRemoved x:
                _allocations.Remove((x.OrganisationId, x.Kind));
                _nodes[x.OrganisationId].Version++;
                break;
            case RoleDefined x:
                _roles[x.Name] = new RoleDefinition(x.Name, x.Description, x.Permissions.ToHashSet(StringComparer.Ordinal));
                break;
            case RoleRemoved x:
                _roles.Remove(x.Name);
                break;
            default:
                throw new ArgumentException($"{e.GetType().Name} is not an organisation event.");
        }
    }

    /// <summary>Loading from the projection: a node as stored (parents are always added before their children).</summary>
    public void Load(OrgNode node)
    {
        // The depth is the parent's plus one, whatever the row said (the depth bounds rely on it; it is not in the digest).
        node.Depth = node.ParentId is { } parent ? _nodes[parent].Depth + 1 : 0;
        _nodes[node.Id] = node;
        if (node.ParentId is { } p) _nodes[p].Children.Add(node.Id);
        else Root = node.Id;
    }

    public void Load(Grant grant)
    {
        _grants[grant.Id] = grant;
        if (!_grantsByOrg.TryGetValue(grant.OrganisationId, out var list)) _grantsByOrg[grant.OrganisationId] = list = [];
        list.Add(grant);
    }

    public void Load(RoleDefinition role) => _roles[role.Name] = role;

    public void Load(Quotas.QuotaShare share) => _allocations[(share.OrganisationId, share.Kind)] = share;

    private readonly Dictionary<(Guid Org, string Kind), Quotas.QuotaShare> _allocations = new();

    /// <summary>The organisations' shares of the tenant's quotas (Quotas/QuotaAllocations.cs).</summary>
    public IEnumerable<Quotas.QuotaShare> Allocations => _allocations.Values;

    public Quotas.QuotaShare? AllocationOf(Guid org, string kind) => _allocations.GetValueOrDefault((org, kind));

    public void AddMember(Guid org, string user)
    {
        if (!_members.TryGetValue(org, out var members)) _members[org] = members = new(StringComparer.Ordinal);
        members.Add(user);
        if (!_memberships.TryGetValue(user, out var of)) _memberships[user] = of = [];
        of.Add(org);
    }

    public void Load(Policy policy)
    {
        if (!_policies.TryGetValue(policy.OrganisationId, out var set)) _policies[policy.OrganisationId] = set = new(StringComparer.Ordinal);
        set[policy.Key] = policy;
    }

    /// <summary>
    /// An independent copy (the decision's graph stays as it is while a command's events are applied to the copy, so a
    /// reader never sees a change before it is committed).
    /// </summary>
    public AccessGraph Clone()
    {
        var copy = new AccessGraph { Version = Version };
        foreach (var node in _nodes.Values.OrderBy(n => n.Depth))
            copy.Load(new OrgNode
            {
                Id = node.Id, ParentId = node.ParentId, Open = node.Open, Kind = node.Kind, Jurisdiction = node.Jurisdiction, Depth = node.Depth,
                Version = node.Version, Name = node.Name,
            });
        foreach (var grant in _grants.Values) copy.Load(grant);
        foreach (var set in _policies.Values) foreach (var policy in set.Values) copy.Load(policy);
        foreach (var (org, members) in _members) foreach (var user in members) copy.AddMember(org, user);
        foreach (var share in _allocations.Values) copy.Load(share);
        foreach (var role in _roles.Values) copy.Load(role);
        return copy;
    }

    /// <summary>
    /// SHA-256 of everything in the graph that confers or bounds power, in a canonical order: the tree (parent, open,
    /// kind, jurisdiction), grants, guardrail policies, members, quota allocations and role definitions. Names,
    /// timestamps and per-node versions are left out (they confer nothing, and the database rounds timestamps). Equal
    /// for the graph folded from the events and the one loaded from the projection when both say the same; the
    /// organisation store keeps a MAC of it beside the access version (Organisations/AccessSeal.cs).
    /// </summary>
    public byte[] StateDigest()
    {
        using var hash = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        void Field(string? value)
        {
            if (value is null)
            {
                hash.AppendData([0xFF, 0xFF, 0xFF, 0xFF]);
                return;
            }
            var bytes = System.Text.Encoding.UTF8.GetBytes(value);
            Span<byte> length = stackalloc byte[4];
            System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(length, bytes.Length);
            hash.AppendData(length);
            hash.AppendData(bytes);
        }
        static string Id(Guid id) => id.ToString("N");
        foreach (var node in _nodes.Values.OrderBy(n => n.Id))
        {
            Field("node"); Field(Id(node.Id)); Field(node.ParentId is { } p ? Id(p) : null); Field(node.Open ? "open" : "closed");
            Field(node.Kind); Field(node.Jurisdiction);
        }
        foreach (var grant in _grants.Values.OrderBy(g => g.Id))
        {
            Field("grant"); Field(Id(grant.Id)); Field(Id(grant.OrganisationId)); Field(grant.Principal.Kind); Field(grant.Principal.Id); Field(grant.Role);
        }
        foreach (var policy in _policies.Values.SelectMany(p => p.Values).OrderBy(p => p.OrganisationId).ThenBy(p => p.Key, StringComparer.Ordinal))
        {
            Field("policy"); Field(Id(policy.OrganisationId)); Field(policy.Key); Field(policy.Mode); Field(policy.Value);
        }
        foreach (var (org, user) in _members.SelectMany(m => m.Value.Select(u => (m.Key, u))).OrderBy(m => m.Key).ThenBy(m => m.u, StringComparer.Ordinal))
        {
            Field("member"); Field(Id(org)); Field(user);
        }
        foreach (var share in _allocations.Values.OrderBy(a => a.OrganisationId).ThenBy(a => a.Kind, StringComparer.Ordinal))
        {
            Field("allocation"); Field(Id(share.OrganisationId)); Field(share.Kind);
            Field(share.Guaranteed.ToString(System.Globalization.CultureInfo.InvariantCulture));
            Field(share.Cap?.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        foreach (var role in _roles.Values.OrderBy(r => r.Name, StringComparer.Ordinal))
        {
            Field("role"); Field(role.Name); Field(role.Description);
            foreach (var permission in role.Permissions.Order(StringComparer.Ordinal)) Field(permission);
            Field("end-role");
        }
        return hash.GetHashAndReset();
    }
}
