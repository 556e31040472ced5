using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Organisations;

namespace TenantEvents.Quotas;

/// <summary>Pure decisions on allocations: the graph, the tenant's limits and the command in; events or a refusal out.</summary>
public static class QuotaDecisions
{
    /// <summary>The field errors of an allocation request (400): kind, figures.</summary>
    public static List<FieldError> Validate(string kind, long? guaranteed, long? cap)
    {
        var errors = new List<FieldError>();
        if (!QuotaKinds.IsKnown(kind))
            errors.Add(new FieldError("kind", "unknown-quota-kind", $"'{kind}' is not a quota kind (known: {string.Join(", ", QuotaKinds.All)})."));
        else if (!QuotaKinds.Allocatable.Contains(kind))
            errors.Add(new FieldError("kind", "not-allocatable",
                $"{kind} is counted for the tenant as a whole; organisations can be allocated {string.Join(", ", QuotaKinds.Allocatable)}."));
        if (guaranteed is null) errors.Add(new FieldError("guaranteed", "required", "the units reserved for the organisation, 0 or more."));
        else if (guaranteed < 0) errors.Add(new FieldError("guaranteed", "negative", "may not be negative."));
        else if (QuotaKinds.IsKnown(kind) && guaranteed > QuotaKinds.MaximumOf(kind))
            errors.Add(new FieldError("guaranteed", "too-large", $"may be at most {QuotaKinds.MaximumOf(kind):N0}."));
        if (cap is { } c)
        {
            if (c < 0) errors.Add(new FieldError("cap", "negative", "may not be negative."));
            else if (guaranteed is { } g && c < g) errors.Add(new FieldError("cap", "below-guaranteed", "may not be less than what is guaranteed."));
            else if (QuotaKinds.IsKnown(kind) && c > QuotaKinds.MaximumOf(kind))
                errors.Add(new FieldError("cap", "too-large", $"may be at most {QuotaKinds.MaximumOf(kind):N0}."));
        }
        return errors;
    }

    public static OrgDecision Allocate(AccessGraph graph, Guid org, string kind, long guaranteed, long? cap, long limit, Actor by, DateTimeOffset now)
    {
        if (graph.FindOpen(org) is null) return OrgDecision.Refuse(Problem.NotFound("open organisation"));
        if (graph.AllocationOf(org, kind) is { } current && current.Guaranteed == guaranteed && current.Cap == cap) return OrgDecision.Accept();
        var share = new QuotaShare(org, kind, guaranteed, cap, now);
        var tree = AllocationTree.Build(graph, kind, limit, graph.Allocations.Where(s => !(s.OrganisationId == org && s.Kind == kind)).Append(share));
        return tree.Check() is { } problem ? OrgDecision.Refuse(problem) : OrgDecision.Accept(new QuotaAllocated(org, kind, guaranteed, cap, by, now));
    }

    /// <summary>
    /// The share goes back up. Its allocated descendants then count directly against the ancestor above, where they fit (their
    /// guarantees added up to at most the removed one); the tree is checked all the same.
    /// </summary>
    public static OrgDecision Remove(AccessGraph graph, Guid org, string kind, long limit, Actor by, DateTimeOffset now)
    {
        if (graph.AllocationOf(org, kind) is null) return OrgDecision.Refuse(Problem.NotFound($"{kind} allocation at this organisation"));
        var tree = AllocationTree.Build(graph, kind, limit, graph.Allocations.Where(s => !(s.OrganisationId == org && s.Kind == kind)));
        return tree.Check() is { } problem ? OrgDecision.Refuse(problem) : OrgDecision.Accept(new QuotaAllocationRemoved(org, kind, by, now));
    }

    /// <summary>
    /// A move is refused when it would break an allocation: an allocated subtree that lands under another allocated
    /// ancestor must fit in that ancestor's share.
    /// </summary>
    public static Problem? CheckMove(AccessGraph graph, Guid org, Guid newParent, Func<string, long> limitOf)
    {
        foreach (var kind in QuotaKinds.Allocatable)
        {
            if (!graph.Allocations.Any(s => s.Kind == kind)) continue;
            var tree = AllocationTree.Build(graph, kind, limitOf(kind), parentOf: id => id == org ? newParent : graph.Find(id)?.ParentId);
            if (tree.Check() is { } problem) return problem;
        }
        return null;
    }
}
