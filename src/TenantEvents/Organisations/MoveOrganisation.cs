using TenantEvents.Infrastructure;
using Microsoft.AspNetCore.Authorization;
using TenantEvents.Tenants;
using Wolverine.Http;
using Wolverine.Runtime;

namespace TenantEvents.Organisations;

public sealed record MoveOrganisation(Guid? ParentId);

public static class MoveOrganisationEndpoint
{
    /// <summary>
    /// Moves the organisation and its whole subtree under another parent. Needs org.manage where it is now (at its
    /// parent) and where it goes (the new parent): an administrator of one county cannot move its units to another.
    /// </summary>
    [WolverinePost("/api/tenants/{tenantId}/organisations/{orgId}/move", OperationId = "MoveOrganisation")]
    [Authorize(Roles = OrgHttp.WriteRoles)]
    public static Task<IResult> Post(Guid tenantId, Guid orgId, MoveOrganisation? command, HttpContext http, TenantStreams streams,
        OrganisationStore store, Quotas.QuotaPolicies quotas, MessageContext context, CancellationToken cancellation)
    {
        if (command is null) return Task.FromResult(Infrastructure.Problem.Malformed("The body must be a JSON object.").ToResult());
        return Move(tenantId, orgId, command, http, streams, store, quotas, context, cancellation);
    }

    private static async Task<IResult> Move(Guid tenantId, Guid orgId, MoveOrganisation command, HttpContext http, TenantStreams streams,
        OrganisationStore store, Quotas.QuotaPolicies quotas, MessageContext context, CancellationToken cancellation)
    {
        var policy = await quotas.PolicyAsync(tenantId, cancellation, fresh: true);
        return await OrgHttp.Command(http, streams, store, context, tenantId, (standing, graph) =>
            {
                if (graph.Find(orgId) is null || !standing.CanSee(graph, orgId)) return OrgDecision.Refuse(Infrastructure.Problem.NotFound("organisation"));
                var from = graph.Find(orgId)!.ParentId ?? orgId;
                if (OrgHttp.Authorise(standing, graph, Permissions.OrgManage, from) is { } no) return OrgDecision.Refuse(no);
                if (command.ParentId is { } to && OrgHttp.Authorise(standing, graph, Permissions.OrgManage, to, "parent organisation") is { } noTo)
                    return OrgDecision.Refuse(noTo);
                var decision = OrganisationDecisions.Move(graph, orgId, command.ParentId, standing.Actor, streams.Now, OrgLimits.Of(streams.Options));
                // A move confers the new ancestors' grants on the moved subtree: the grantor bound.
                if (decision.Refusal is null && command.ParentId is { } newParent
                    && GrantorBound.Check(standing, graph, [GrantorBound.Move(graph, orgId, newParent)]) is { } beyond)
                    return OrgDecision.Refuse(beyond);
                if (decision.Refusal is null && command.ParentId is { } parent && policy is not null
                    && Quotas.QuotaDecisions.CheckMove(graph, orgId, parent, policy.Limit) is { } broken)
                    return OrgDecision.Refuse(broken);
                return decision;
            },
            _ =>
            {
                quotas.Invalidate(tenantId);
                return OrgReplies.Current(http, store, tenantId, orgId, cancellation);
            }, cancellation, versioned: orgId);
    }
}
