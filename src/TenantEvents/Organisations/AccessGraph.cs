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
                MixNode(_nodes[x.OrganisationId]);
                break;
            case OrganisationRenamed x:
                _nodes[x.OrganisationId].Version++;
                if (_nodes[x.OrganisationId].Name is not null) _nodes[x.OrganisationId].Name = x.Name;
                break;
            case OrganisationAttributesUpdated x:
                var updated = _nodes[x.OrganisationId];
                MixNode(updated);
                updated.Kind = x.Kind;
                updated.Jurisdiction = x.Jurisdiction;
                MixNode(updated);
                updated.Version++;
                break;
            case OrganisationMoved x:
                var moved = _nodes[x.OrganisationId];
                _nodes[x.FromParentId].Children.Remove(x.OrganisationId);
                _nodes[x.ToParentId].Children.Add(x.OrganisationId);
                MixNode(moved);
                moved.ParentId = x.ToParentId;
                MixNode(moved);
                moved.Version++;
                var shift = _nodes[x.ToParentId].Depth + 1 - moved.Depth;
                foreach (var node in SelfAndDescendants(x.OrganisationId)) node.Depth += shift;
                break;
            case OrganisationClosed x:
                var closed = _nodes[x.OrganisationId];
                MixNode(closed);
                closed.Open = false;
                MixNode(closed);
                closed.Version++;
                break;
            case RoleGranted x:
                Load(new Grant(x.GrantId, x.OrganisationId, x.Principal, x.Role, x.At));
                _nodes[x.OrganisationId].Version++;
                break;
            case GrantRevoked x:
                if (_grants.Remove(x.GrantId, out var revoked))
                {
                    _grantsByOrg[revoked.OrganisationId].Remove(revoked);
                    MixGrant(revoked);
                }
                _nodes[x.OrganisationId].Version++;
                break;
            case PolicySet x:
                Load(new Policy(x.OrganisationId, x.Key, x.Mode, x.Value, x.At));
                _nodes[x.OrganisationId].Version++;
                break;
            case PolicyCleared x:
                if (_policies.TryGetValue(x.OrganisationId, out var cleared) && cleared.Remove(x.Key, out var gone)) MixPolicy(gone);
                _nodes[x.OrganisationId].Version++;
                break;
            case MemberAdded x:
                AddMember(x.OrganisationId, x.UserId);
                _nodes[x.OrganisationId].Version++;
                break;
            case MemberRemoved x:
                if (_members.TryGetValue(x.OrganisationId, out var members) && members.Remove(x.UserId)) MixMember(x.OrganisationId, x.UserId);
                if (_memberships.TryGetValue(x.UserId, out var of)) of.Remove(x.OrganisationId);
                _nodes[x.OrganisationId].Version++;
                break;
            case Quotas.QuotaAllocated x:
                Load(new Quotas.QuotaShare(x.OrganisationId, x.Kind, x.Guaranteed, x.Cap, x.At));
                _nodes[x.OrganisationId].Version++;
                break;
            case Quotas.QuotaAllocationRemoved x:
                if (_allocations.Remove((x.OrganisationId, x.Kind), out var removedShare)) MixAllocation(removedShare);
                _nodes[x.OrganisationId].Version++;
                break;
            case RoleDefined x:
                Load(new RoleDefinition(x.Name, x.Description, x.Permissions.ToHashSet(StringComparer.Ordinal)));
                break;
            case RoleRemoved x:
                if (_roles.Remove(x.Name, out var removedRole)) MixRole(removedRole);
                break;
            default:
                throw new ArgumentException($"{e.GetType().Name} is not an organisation event.");
        }
    }

    /// <summary>
    /// A copy to decide on without touching this graph: a plan (Manifests/ManifestDecisions.cs) applies one step's events to
    /// the copy so that the next step sees them, exactly as the tree would after the commit. The copy keeps no digest.
    /// </summary>
    public AccessGraph Fork()
    {
        var copy = new AccessGraph { Version = Version };
        var pending = new Queue<Guid>();
        if (Root is { } root) pending.Enqueue(root);
        while (pending.TryDequeue(out var id))
        {
            var n = _nodes[id];
            copy.Load(new OrgNode { Id = n.Id, ParentId = n.ParentId, Open = n.Open, Kind = n.Kind, Jurisdiction = n.Jurisdiction, Version = n.Version, Name = n.Name });
            foreach (var child in n.Children) pending.Enqueue(child);
        }
        foreach (var grant in _grants.Values) copy.Load(grant);
        foreach (var role in _roles.Values) copy.Load(role);
        foreach (var policy in _policies.Values.SelectMany(p => p.Values)) copy.Load(policy);
        foreach (var share in _allocations.Values) copy.Load(share);
        foreach (var (org, members) in _members) foreach (var user in members) copy.AddMember(org, user);
        return copy;
    }

    /// <summary>Loading from the projection: a node as stored (parents are always added before their children).</summary>
    public void Load(OrgNode node)
    {
        // The depth is the parent's plus one, whatever the row said (the depth bounds rely on it; it is not in the digest).
        node.Depth = node.ParentId is { } parent ? _nodes[parent].Depth + 1 : 0;
        _nodes[node.Id] = node;
        if (node.ParentId is { } p) _nodes[p].Children.Add(node.Id);
        else Root = node.Id;
        MixNode(node);
    }

    public void Load(Grant grant)
    {
        if (_grants.Remove(grant.Id, out var replaced))
        {
            _grantsByOrg[replaced.OrganisationId].Remove(replaced);
            MixGrant(replaced);
        }
        _grants[grant.Id] = grant;
        if (!_grantsByOrg.TryGetValue(grant.OrganisationId, out var list)) _grantsByOrg[grant.OrganisationId] = list = [];
        list.Add(grant);
        MixGrant(grant);
    }

    public void Load(RoleDefinition role)
    {
        if (_roles.TryGetValue(role.Name, out var replaced)) MixRole(replaced);
        _roles[role.Name] = role;
        MixRole(role);
    }

    public void Load(Quotas.QuotaShare share)
    {
        if (_allocations.TryGetValue((share.OrganisationId, share.Kind), out var replaced)) MixAllocation(replaced);
        _allocations[(share.OrganisationId, share.Kind)] = share;
        MixAllocation(share);
    }

    private readonly Dictionary<(Guid Org, string Kind), Quotas.QuotaShare> _allocations = new();

    /// <summary>The organisations' shares of the tenant's quotas (Quotas/QuotaAllocations.cs).</summary>
    public IEnumerable<Quotas.QuotaShare> Allocations => _allocations.Values;

    public Quotas.QuotaShare? AllocationOf(Guid org, string kind) => _allocations.GetValueOrDefault((org, kind));

    public void AddMember(Guid org, string user)
    {
        if (!_members.TryGetValue(org, out var members)) _members[org] = members = new(StringComparer.Ordinal);
        if (members.Add(user)) MixMember(org, user);
        if (!_memberships.TryGetValue(user, out var of)) _memberships[user] = of = [];
        of.Add(org);
    }

    public void Load(Policy policy)
    {
        if (!_policies.TryGetValue(policy.OrganisationId, out var set)) _policies[policy.OrganisationId] = set = new(StringComparer.Ordinal);
        if (set.TryGetValue(policy.Key, out var replaced)) MixPolicy(replaced);
        set[policy.Key] = policy;
        MixPolicy(policy);
    }

    // ---- the access state's digest (Organisations/AccessSeal.cs) ------------------------------------------------------
    //
    // Every row that confers or bounds power (a node's parent, open, kind and jurisdiction; a grant; a guardrail policy; a
    // membership; a quota allocation; a role definition) is hashed with a key of the tenant's (HMAC, AccessHasher) and the
    // hashes are XORed into one accumulator, kept up to date by Load and Apply: a command costs a few hashes, not a pass
    // over the tree. Without the key nobody can compute a row's hash, nor learn one (only a MAC of the accumulator is
    // stored), so no other set of rows can be made to match. Graphs folded for time travel have no hasher and no digest.

    private AccessHasher? _hasher;
    private readonly byte[] _digest = new byte[32];

    /// <summary>The key the digest is made with (null: this graph keeps none).</summary>
    public AccessHasher? Hasher => _hasher;

    /// <summary>A graph whose rows are hashed as they are loaded or applied.</summary>
    public static AccessGraph Keyed(AccessHasher hasher, long version = 0) => new() { _hasher = hasher, Version = version };

    /// <summary>The XOR of the keyed hashes of every row that confers or bounds power, as of now.</summary>
    public byte[] StateDigest() => _hasher is null
        ? throw new InvalidOperationException("This graph keeps no digest (it was made without the tenant's access key).")
        : (byte[])_digest.Clone();

    /// <summary>The digest computed from every row again (what the running one must always equal; for tests and checks).</summary>
    public byte[] RecomputedDigest()
    {
        var copy = Keyed(_hasher ?? throw new InvalidOperationException("No access key."));
        copy.MixAll(this);
        return copy._digest;
    }

    private void MixAll(AccessGraph from)
    {
        foreach (var node in from._nodes.Values) MixNode(node);
        foreach (var grant in from._grants.Values) MixGrant(grant);
        foreach (var policy in from._policies.Values.SelectMany(p => p.Values)) MixPolicy(policy);
        foreach (var (org, members) in from._members) foreach (var user in members) MixMember(org, user);
        foreach (var share in from._allocations.Values) MixAllocation(share);
        foreach (var role in from._roles.Values) MixRole(role);
    }

    private static string Id(Guid id) => id.ToString("N");

    // The rows, as the fields that are hashed.
    private static string?[] NodeRow(Guid id, Guid? parent, bool open, string kind, string? jurisdiction) =>
        ["node", Id(id), parent is { } p ? Id(p) : null, open ? "open" : "closed", kind, jurisdiction];

    private static string?[] GrantRow(Grant g) => ["grant", Id(g.Id), Id(g.OrganisationId), g.Principal.Kind, g.Principal.Id, g.Role];

    private static string?[] PolicyRow(Policy p) => ["policy", Id(p.OrganisationId), p.Key, p.Mode, p.Value];

    private static string?[] MemberRow(Guid org, string user) => ["member", Id(org), user];

    private static string?[] AllocationRow(Quotas.QuotaShare a) => ["allocation", Id(a.OrganisationId), a.Kind,
        a.Guaranteed.ToString(System.Globalization.CultureInfo.InvariantCulture), a.Cap?.ToString(System.Globalization.CultureInfo.InvariantCulture)];

    private static string?[] RoleRow(RoleDefinition r) => ["role", r.Name, r.Description, .. r.Permissions.Order(StringComparer.Ordinal)];

    private void MixNode(OrgNode n) => Mix(NodeRow(n.Id, n.ParentId, n.Open, n.Kind, n.Jurisdiction));
    private void MixGrant(Grant g) => Mix(GrantRow(g));
    private void MixPolicy(Policy p) => Mix(PolicyRow(p));
    private void MixMember(Guid org, string user) => Mix(MemberRow(org, user));
    private void MixAllocation(Quotas.QuotaShare a) => Mix(AllocationRow(a));
    private void MixRole(RoleDefinition r) => Mix(RoleRow(r));

    private void Mix(string?[] fields)
    {
        if (_hasher is not null) MixInto(_hasher, _digest, fields);
    }

    /// <summary>XORs the keyed hash of one row (its fields length-prefixed, null marked) into a digest.</summary>
    private static void MixInto(AccessHasher hasher, byte[] digest, string?[] fields)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(128);
        foreach (var field in fields)
        {
            var length = field is null ? -1 : System.Text.Encoding.UTF8.GetByteCount(field);
            System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(buffer.GetSpan(4), length);
            buffer.Advance(4);
            if (field is null) continue;
            buffer.Advance(System.Text.Encoding.UTF8.GetBytes(field, buffer.GetSpan(length)));
        }
        Span<byte> hash = stackalloc byte[32];
        hasher.Hash(buffer.WrittenSpan, hash);
        for (var i = 0; i < 32; i++) digest[i] ^= hash[i];
    }

    /// <summary>
    /// The digest this graph would have after the events, without changing it (a command's MAC is written before it
    /// commits; the cached graph moves on only after, so no reader sees an uncommitted state, and nothing is copied).
    /// Follows <see cref="Apply"/> row by row over an overlay of the rows the events touch; a test holds the two equal.
    /// </summary>
    public byte[] DigestAfter(IEnumerable<object> events)
    {
        var hasher = _hasher ?? throw new InvalidOperationException("This graph keeps no digest.");
        var digest = (byte[])_digest.Clone();
        var nodes = new Dictionary<Guid, (Guid? Parent, bool Open, string Kind, string? Jurisdiction)>();
        var grants = new Dictionary<Guid, Grant?>();
        var policies = new Dictionary<(Guid, string), Policy?>();
        var members = new Dictionary<(Guid, string), bool>();
        var allocations = new Dictionary<(Guid, string), Quotas.QuotaShare?>();
        var roles = new Dictionary<string, RoleDefinition?>(StringComparer.Ordinal);
        (Guid? Parent, bool Open, string Kind, string? Jurisdiction) Node(Guid id) =>
            nodes.TryGetValue(id, out var n) ? n : _nodes[id] is var o ? (o.ParentId, o.Open, o.Kind, o.Jurisdiction) : default;
        void ChangeNode(Guid id, Func<(Guid? Parent, bool Open, string Kind, string? Jurisdiction), (Guid?, bool, string, string?)> change)
        {
            var old = Node(id);
            MixInto(hasher, digest, NodeRow(id, old.Parent, old.Open, old.Kind, old.Jurisdiction));
            var now = change(old);
            nodes[id] = now;
            MixInto(hasher, digest, NodeRow(id, now.Item1, now.Item2, now.Item3, now.Item4));
        }
        void Replace<TKey, TRow>(Dictionary<TKey, TRow?> overlay, TKey key, TRow? current, TRow? next, Func<TRow, string?[]> row)
            where TKey : notnull where TRow : class
        {
            if (current is not null) MixInto(hasher, digest, row(current));
            if (next is not null) MixInto(hasher, digest, row(next));
            overlay[key] = next;
        }
        Grant? GrantOf(Guid id) => grants.TryGetValue(id, out var g) ? g : _grants.GetValueOrDefault(id);
        Policy? PolicyOf(Guid org, string key) => policies.TryGetValue((org, key), out var p) ? p
            : _policies.TryGetValue(org, out var set) ? set.GetValueOrDefault(key) : null;
        bool IsMember(Guid org, string user) => members.TryGetValue((org, user), out var m) ? m : this.IsMember(org, user);
        Quotas.QuotaShare? AllocationOf(Guid org, string kind) => allocations.TryGetValue((org, kind), out var a) ? a : this.AllocationOf(org, kind);
        RoleDefinition? RoleOf(string name) => roles.TryGetValue(name, out var r) ? r : Role(name);
        foreach (var e in events)
            switch (e)
            {
                case OrganisationCreated x:
                    nodes[x.OrganisationId] = (x.ParentId, true, x.Kind, x.Jurisdiction);
                    MixInto(hasher, digest, NodeRow(x.OrganisationId, x.ParentId, true, x.Kind, x.Jurisdiction));
                    break;
                case OrganisationRenamed:
                    break;
                case OrganisationAttributesUpdated x:
                    ChangeNode(x.OrganisationId, n => (n.Parent, n.Open, x.Kind, x.Jurisdiction));
                    break;
                case OrganisationMoved x:
                    ChangeNode(x.OrganisationId, n => (x.ToParentId, n.Open, n.Kind, n.Jurisdiction));
                    break;
                case OrganisationClosed x:
                    ChangeNode(x.OrganisationId, n => (n.Parent, false, n.Kind, n.Jurisdiction));
                    break;
                case RoleGranted x:
                    Replace(grants, x.GrantId, GrantOf(x.GrantId), new Grant(x.GrantId, x.OrganisationId, x.Principal, x.Role, x.At), GrantRow);
                    break;
                case GrantRevoked x:
                    Replace(grants, x.GrantId, GrantOf(x.GrantId), null, GrantRow);
                    break;
                case PolicySet x:
                    Replace(policies, (x.OrganisationId, x.Key), PolicyOf(x.OrganisationId, x.Key),
                        new Policy(x.OrganisationId, x.Key, x.Mode, x.Value, x.At), PolicyRow);
                    break;
                case PolicyCleared x:
                    Replace(policies, (x.OrganisationId, x.Key), PolicyOf(x.OrganisationId, x.Key), null, PolicyRow);
                    break;
                case MemberAdded x:
                    if (!IsMember(x.OrganisationId, x.UserId)) MixInto(hasher, digest, MemberRow(x.OrganisationId, x.UserId));
                    members[(x.OrganisationId, x.UserId)] = true;
                    break;
                case MemberRemoved x:
                    if (IsMember(x.OrganisationId, x.UserId)) MixInto(hasher, digest, MemberRow(x.OrganisationId, x.UserId));
                    members[(x.OrganisationId, x.UserId)] = false;
                    break;
                case Quotas.QuotaAllocated x:
                    Replace(allocations, (x.OrganisationId, x.Kind), AllocationOf(x.OrganisationId, x.Kind),
                        new Quotas.QuotaShare(x.OrganisationId, x.Kind, x.Guaranteed, x.Cap, x.At), AllocationRow);
                    break;
                case Quotas.QuotaAllocationRemoved x:
                    Replace(allocations, (x.OrganisationId, x.Kind), AllocationOf(x.OrganisationId, x.Kind), null, AllocationRow);
                    break;
                case RoleDefined x:
                    Replace(roles, x.Name, RoleOf(x.Name), new RoleDefinition(x.Name, x.Description, x.Permissions.ToHashSet(StringComparer.Ordinal)), RoleRow);
                    break;
                case RoleRemoved x:
                    Replace(roles, x.Name, RoleOf(x.Name), null, RoleRow);
                    break;
                default:
                    throw new ArgumentException($"{e.GetType().Name} is not an organisation event.");
            }
        return digest;
    }
}

/// <summary>The tenant's access-row key of one data key version (Keys/Sealing.cs derives it).</summary>
public sealed class AccessHasher(TenantEvents.Keys.DataKey key)
{
    public TenantEvents.Keys.DataKey Key { get; } = key;
    public int KeyVersion => Key.Version;
    public void Hash(ReadOnlySpan<byte> row, Span<byte> destination) => Key.AccessRowHash(row, destination);
}
