using Microsoft.AspNetCore.Authorization;
using TenantEvents.Infrastructure;
using TenantEvents.Organisations;
using TenantEvents.Tenants;
using Wolverine.Http;
using Wolverine.Runtime;

namespace TenantEvents.Quotas;

public sealed record AllocateQuota(long? Guaranteed, long? Cap);

/// <summary>An organisation's share of a quota as the API shows it.</summary>
public sealed record AllocationView(Guid OrganisationId, string Kind, long Guaranteed, long? Cap, Guid? CarvedOutOf, DateTimeOffset SetAt);

public static class AllocateQuotaEndpoint
{
    /// <summary>
    /// Allocates a share of one of the tenant's quotas to an organisation (and its subtree): guaranteed units carved out
    /// of its nearest allocated ancestor (or the tenant's limit), and an optional cap. 409 when the shares under that
    /// ancestor would no longer fit, or the organisation's own allocated descendants would not fit in it. Needs
    /// quota.manage at the organisation's parent: an organisation's administrators cannot raise their own share.
    /// </summary>
    [WolverinePut("/api/tenants/{tenantId}/organisations/{orgId}/quotas/{kind}", OperationId = "AllocateQuota")]
    [Authorize(Roles = OrgHttp.WriteRoles)]
    public static async Task<IResult> Put(Guid tenantId, Guid orgId, string kind, AllocateQuota? command, HttpContext http, TenantStreams streams,
        OrganisationStore store, QuotaPolicies quotas, MessageContext context, CancellationToken cancellation)
    {
        if (command is null) return Problem.Malformed("The body must be a JSON object: {\"guaranteed\": n, \"cap\": m}.").ToResult();
        var policy = await quotas.PolicyAsync(tenantId, cancellation, fresh: true);
        return await OrgHttp.Command(http, streams, store, context, tenantId, (standing, graph) =>
            {
                return Decide(standing, graph, orgId, kind, command.Guaranteed, command.Cap, policy!.Limit, streams.Now);
            },
            async _ =>
            {
                quotas.Invalidate(tenantId);
                return Results.Json(await store.ReadAsync(tenantId, g => View(g, orgId, kind, policy!.Limit(kind)), cancellation), Json.Options);
            }, cancellation);
    }

    /// <summary>The share goes back to the ancestor it was carved out of; its allocated descendants hang there instead (they fit: they fitted in it).</summary>
    [WolverineDelete("/api/tenants/{tenantId}/organisations/{orgId}/quotas/{kind}", OperationId = "RemoveQuotaAllocation")]
    [Authorize(Roles = OrgHttp.WriteRoles)]
    public static async Task<IResult> Delete(Guid tenantId, Guid orgId, string kind, HttpContext http, TenantStreams streams,
        OrganisationStore store, QuotaPolicies quotas, MessageContext context, CancellationToken cancellation)
    {
        var policy = await quotas.PolicyAsync(tenantId, cancellation, fresh: true);
        return await OrgHttp.Command(http, streams, store, context, tenantId, (standing, graph) =>
            {
                if (Authorise(standing, graph, orgId) is { } no) return OrgDecision.Refuse(no);
                if (!QuotaKinds.IsKnown(kind))
                    return OrgDecision.Refuse(Problem.Validation("kind", "unknown-quota-kind", $"'{kind}' is not a quota kind (known: {string.Join(", ", QuotaKinds.All)})."));
                return QuotaDecisions.Remove(graph, orgId, kind, policy!.Limit(kind), standing.Actor, streams.Now);
            },
            _ =>
            {
                quotas.Invalidate(tenantId);
                return Task.FromResult(Results.NoContent());
            }, cancellation);
    }

    /// <summary>The allocation as the caller may make it: authorised, validated, decided (the route, and a manifest's plan).</summary>
    /// <param name="limitOf">The tenant's limit of a kind (asked only of a kind that is known).</param>
    public static OrgDecision Decide(Standing standing, AccessGraph graph, Guid org, string kind, long? guaranteed, long? cap, Func<string, long> limitOf,
        DateTimeOffset now)
    {
        if (Authorise(standing, graph, org) is { } no) return OrgDecision.Refuse(no);
        var errors = QuotaDecisions.Validate(kind, guaranteed, cap);
        if (errors.Count > 0) return OrgDecision.Refuse(Problem.Validation(errors));
        return QuotaDecisions.Allocate(graph, org, kind, guaranteed!.Value, cap, limitOf(kind), standing.Actor, now);
    }

    /// <summary>404 for an organisation the caller cannot see; 403 without quota.manage at its parent (the root's share is the tenant administrators' to set).</summary>
    public static Problem? Authorise(Standing standing, AccessGraph graph, Guid org)
    {
        if (graph.Find(org) is not { } node || !standing.CanSee(graph, org)) return Problem.NotFound("organisation");
        if (standing.Everything) return null;
        return node.ParentId is { } parent && standing.Can(graph, "quota.manage", parent) ? null
            : Problem.Forbidden("Allocating to an organisation needs quota.manage at its parent.").With("permission", "quota.manage");
    }

    public static AllocationView? View(AccessGraph graph, Guid org, string kind, long limit)
    {
        if (graph.AllocationOf(org, kind) is not { } share) return null;
        var tree = AllocationTree.Build(graph, kind, limit);
        return new AllocationView(org, kind, share.Guaranteed, share.Cap, tree.AllocatedParentOf(org), share.At);
    }
}
