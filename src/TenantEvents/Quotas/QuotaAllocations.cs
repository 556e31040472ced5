using TenantEvents.Infrastructure;
using TenantEvents.Organisations;

namespace TenantEvents.Quotas;

/// <summary>An organisation's share of one of its tenant's quotas.</summary>
public sealed record QuotaShare(Guid OrganisationId, string Kind, long Guaranteed, long? Cap, DateTimeOffset At);

/// <summary>
/// The allocation tree of one quota kind, and the arithmetic of hierarchical allocation (pure: no I/O).
/// <para>
/// Allocated organisations form a tree of their own: each hangs under its nearest allocated ancestor, the top ones under
/// the tenant, whose share is its limit. Rules: the guaranteed shares directly under a node add up to at most the
/// node's own guaranteed share (the tenant's limit at the top), so every guarantee can be honoured at once; a cap is
/// at least the guarantee.
/// </para>
/// <para>
/// Usage is charged at an organisation (or at the tenant as a whole) and lands at its anchor, the nearest allocated
/// organisation at or above it. A node's load is what is charged at it plus, for each allocated child, the larger of
/// the child's guarantee and the child's load: what is guaranteed to a child is taken from the parent whether the
/// child uses it or not, so nobody else can consume it, and what a child uses beyond its guarantee comes out of the
/// parent's free capacity. The tenant's load may not pass its limit, nor any node's load its cap.
/// </para>
/// </summary>
public sealed class AllocationTree
{
    private readonly Dictionary<Guid, QuotaShare> _shares;
    private readonly Dictionary<Guid, Guid?> _anchors = new();
    private readonly Dictionary<Guid, Guid?> _allocatedParent = new();
    private readonly List<Guid> _bottomUp;

    public string Kind { get; }
    public long Limit { get; }
    public IReadOnlyDictionary<Guid, QuotaShare> Shares => _shares;

    private AllocationTree(string kind, long limit, Dictionary<Guid, QuotaShare> shares, IEnumerable<Guid> organisations, Func<Guid, Guid?> parentOf)
    {
        Kind = kind;
        Limit = limit;
        _shares = shares;
        foreach (var org in organisations) Anchor(org, parentOf);
        foreach (var org in _shares.Keys) _allocatedParent[org] = parentOf(org) is { } p ? Anchor(p, parentOf) : null;
        // Deepest first, so a child's load is known before its parent's.
        _bottomUp = _shares.Keys.OrderByDescending(DepthOf).ToList();
    }

    /// <summary>The tree of one kind as the organisation graph holds it, optionally with shares or parents changed (to check a change before making it).</summary>
    public static AllocationTree Build(AccessGraph graph, string kind, long limit, IEnumerable<QuotaShare>? shares = null,
        Func<Guid, Guid?>? parentOf = null)
    {
        var organisations = graph.Root is { } root ? graph.SelfAndDescendants(root).Select(n => n.Id).ToList() : [];
        var map = (shares ?? graph.Allocations).Where(s => s.Kind == kind && graph.Find(s.OrganisationId) is not null)
            .ToDictionary(s => s.OrganisationId);
        return new AllocationTree(kind, limit, map, organisations, parentOf ?? (id => graph.Find(id)?.ParentId));
    }

    /// <summary>Whether the organisation is in the tree (quota is charged at it, else at the tenant as a whole).</summary>
    public bool Contains(Guid org) => _anchors.ContainsKey(org);

    /// <summary>The nearest allocated organisation at or above <paramref name="org"/>; null: the tenant as a whole.</summary>
    public Guid? AnchorOf(Guid org) => _anchors.TryGetValue(org, out var a) ? a : null;

    /// <summary>The allocated node (or the tenant, null) an allocated organisation's guarantee is carved out of.</summary>
    public Guid? AllocatedParentOf(Guid org) => _allocatedParent.GetValueOrDefault(org);

    private Guid? Anchor(Guid org, Func<Guid, Guid?> parentOf)
    {
        var path = new List<Guid>();
        Guid? anchor = null;
        for (Guid? at = org; at is { } id; at = parentOf(id))
        {
            if (_anchors.TryGetValue(id, out var known)) { anchor = known; break; }
            if (_shares.ContainsKey(id)) { anchor = id; _anchors[id] = id; break; }
            path.Add(id);
            if (path.Count > 100_000) throw new InvalidOperationException("The organisation tree has a cycle.");
        }
        foreach (var id in path) _anchors[id] = anchor;
        return anchor;
    }

    private int DepthOf(Guid allocated)
    {
        var depth = 0;
        for (var p = _allocatedParent[allocated]; p is { } id; p = _allocatedParent[id]) depth++;
        return depth;
    }

    /// <summary>What the organisations directly under the tenant are guaranteed between them (the least the tenant's limit may be).</summary>
    public long TopLevelGuaranteed => _shares.Where(s => _allocatedParent[s.Key] is null).Sum(s => s.Value.Guaranteed);

    /// <summary>The first rule the tree breaks, as a 409 naming where; null when every guarantee can be honoured.</summary>
    public Problem? Check()
    {
        var sums = new Dictionary<Guid, long>();
        long top = 0;
        foreach (var (org, share) in _shares)
        {
            if (_allocatedParent[org] is { } parent) sums[parent] = sums.GetValueOrDefault(parent) + share.Guaranteed;
            else top += share.Guaranteed;
        }
        if (top > Limit) return Exceeds(null, top, Limit);
        foreach (var (parent, sum) in sums.OrderBy(p => p.Key))
            if (sum > _shares[parent].Guaranteed) return Exceeds(parent, sum, _shares[parent].Guaranteed);
        return null;
    }

    private Problem Exceeds(Guid? parent, long sum, long available) =>
        new Problem("allocation-exceeds-parent", 409, "The guaranteed shares do not fit in what they are carved out of",
                parent is null
                    ? $"The organisations' guaranteed shares of {Kind} directly under the tenant would add up to {sum:N0}, more than the tenant's limit of {available:N0}."
                    : $"The guaranteed shares of {Kind} directly under organisation {parent} would add up to {sum:N0}, more than its own guaranteed {available:N0}.")
            .With("kind", Kind).With("organisationId", parent).With("allocated", sum).With("available", available);

    /// <summary>
    /// Loads of every allocated node (and of the tenant, under the empty id) from what is charged where: each
    /// organisation's used + held (the tenant as a whole under the empty id).
    /// </summary>
    public Dictionary<Guid, long> Loads(IReadOnlyDictionary<Guid, long> charges)
    {
        var loads = new Dictionary<Guid, long>();
        foreach (var (org, amount) in charges)
        {
            var anchor = org == Guid.Empty ? null : AnchorOf(org);
            var key = anchor ?? Guid.Empty;
            loads[key] = loads.GetValueOrDefault(key) + amount;
        }
        foreach (var org in _bottomUp)
        {
            var contribution = Math.Max(_shares[org].Guaranteed, loads.GetValueOrDefault(org));
            var parent = _allocatedParent[org] ?? Guid.Empty;
            loads[parent] = loads.GetValueOrDefault(parent) + contribution;
        }
        return loads;
    }

    /// <summary>How much more may be charged at <paramref name="org"/> (the empty id: the tenant as a whole) without breaking a limit, cap or someone else's guarantee.</summary>
    public long Free(Guid org, IReadOnlyDictionary<Guid, long> loads)
    {
        var chain = new List<Guid>();
        for (var a = org == Guid.Empty ? null : AnchorOf(org); a is { } id; a = _allocatedParent[id]) chain.Add(id);
        var free = Math.Max(0, Limit - loads.GetValueOrDefault(Guid.Empty));
        for (var i = chain.Count - 1; i >= 0; i--)
        {
            var share = _shares[chain[i]];
            var load = loads.GetValueOrDefault(chain[i]);
            var within = Math.Max(0, share.Guaranteed - load) + free;
            free = share.Cap is { } cap ? Math.Min(Math.Max(0, cap - load), within) : within;
        }
        return Math.Max(0, free);
    }
}
