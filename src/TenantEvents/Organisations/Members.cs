using Microsoft.AspNetCore.Authorization;
using TenantEvents.Infrastructure;
using TenantEvents.Tenants;
using Wolverine.Http;
using Wolverine.Runtime;

namespace TenantEvents.Organisations;

public sealed record AddMember(string? UserId);

public sealed record MoveMember(Guid? FromOrganisationId, Guid? ToOrganisationId);

/// <summary>Memberships: users belong to one or more organisations (member.manage where they join or leave).</summary>
public static class MemberEndpoints
{
    [WolverinePost("/api/tenants/{tenantId}/organisations/{orgId}/members", OperationId = "AddMember")]
    [Authorize(Roles = OrgHttp.WriteRoles)]
    public static Task<IResult> Post(Guid tenantId, Guid orgId, AddMember? command, HttpContext http, TenantStreams streams, OrganisationStore store,
        MessageContext context, CancellationToken cancellation)
    {
        if (command is null) return Task.FromResult(Problem.Malformed("The body must be a JSON object: {userId}.").ToResult());
        return OrgHttp.Command(http, streams, store, context, tenantId, (standing, graph) =>
                OrgCommands.AddMember(standing, graph, orgId, command.UserId, streams.Now),
            _ => Task.FromResult(Results.Created($"/api/tenants/{tenantId}/organisations/{orgId}/members/{command.UserId}",
                new { organisationId = orgId, userId = command.UserId })), cancellation);
    }

    [WolverineDelete("/api/tenants/{tenantId}/organisations/{orgId}/members/{userId}", OperationId = "RemoveMember")]
    [Authorize(Roles = OrgHttp.WriteRoles)]
    public static Task<IResult> Delete(Guid tenantId, Guid orgId, string userId, HttpContext http, TenantStreams streams, OrganisationStore store,
        MessageContext context, CancellationToken cancellation) =>
        OrgHttp.Command(http, streams, store, context, tenantId, (standing, graph) =>
                OrgCommands.RemoveMember(standing, graph, orgId, userId, streams.Now),
            _ => Task.FromResult(Results.NoContent()), cancellation);

    /// <summary>Moves a user between organisations in one command (member.manage at both).</summary>
    [WolverinePost("/api/tenants/{tenantId}/members/{userId}/move", OperationId = "MoveMember")]
    [Authorize(Roles = OrgHttp.WriteRoles)]
    public static Task<IResult> Move(Guid tenantId, string userId, MoveMember? command, HttpContext http, TenantStreams streams, OrganisationStore store,
        MessageContext context, CancellationToken cancellation)
    {
        if (command is null) return Task.FromResult(Problem.Malformed("The body must be a JSON object: {fromOrganisationId, toOrganisationId}.").ToResult());
        return OrgHttp.Command(http, streams, store, context, tenantId, (standing, graph) =>
            {
                foreach (var org in new[] { command.FromOrganisationId, command.ToOrganisationId }.OfType<Guid>())
                    if (OrgHttp.Authorise(standing, graph, Permissions.MemberManage, org) is { } no) return OrgDecision.Refuse(no);
                return OrganisationDecisions.MoveMember(graph, userId, command.FromOrganisationId, command.ToOrganisationId, standing.Actor, streams.Now);
            },
            _ => Organisations(tenantId, userId, http, streams, store, cancellation), cancellation);
    }

    [WolverineGet("/api/tenants/{tenantId}/organisations/{orgId}/members", OperationId = "ListMembers")]
    [Authorize(Roles = OrgHttp.Roles)]
    public static Task<IResult> List(Guid tenantId, Guid orgId, HttpContext http, TenantStreams streams, OrganisationStore store,
        CancellationToken cancellation) =>
        OrgHttp.Read(http, streams, store, tenantId, (standing, g) =>
            OrgHttp.Authorise(standing, g, "member.read", orgId) is { } no ? no.ToResult()
            : Results.Json(new { items = g.MembersOf(orgId).Order(StringComparer.Ordinal).ToList() }, Json.Options), cancellation);

    /// <summary>The organisations a user belongs to (those the caller may see).</summary>
    [WolverineGet("/api/tenants/{tenantId}/members/{userId}/organisations", OperationId = "MemberOrganisations")]
    [Authorize(Roles = OrgHttp.Roles)]
    public static Task<IResult> Organisations(Guid tenantId, string userId, HttpContext http, TenantStreams streams, OrganisationStore store,
        CancellationToken cancellation) =>
        OrgHttp.Read(http, streams, store, tenantId, (standing, g) => Results.Json(new
        {
            items = g.MembershipsOf(userId).Where(o => standing.Principals.Contains(Principal.OfUser(userId)) || standing.Can(g, "member.read", o))
                .OrderBy(o => o.ToString("N"), StringComparer.Ordinal).ToList(),
        }, Json.Options), cancellation);
}
