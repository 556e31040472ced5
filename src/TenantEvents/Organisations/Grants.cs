using Microsoft.AspNetCore.Authorization;
using TenantEvents.Infrastructure;
using TenantEvents.Tenants;
using Wolverine.Http;
using Wolverine.Runtime;

namespace TenantEvents.Organisations;

public sealed record GrantRole(Principal? Principal, string? Role);

public sealed record GrantView(Guid Id, Guid OrganisationId, Principal Principal, string Role, DateTimeOffset At);

public static class GrantsEndpoints
{
    /// <summary>The grants made at this organisation (not the inherited ones: see access/explain for those); ?asOf= / ?asOfVersion= too.</summary>
    [WolverineGet("/api/tenants/{tenantId}/organisations/{orgId}/grants", OperationId = "ListGrants")]
    [Authorize(Roles = OrgHttp.Roles)]
    public static async Task<IResult> List(Guid tenantId, Guid orgId, HttpContext http, TenantStreams streams, OrganisationStore store,
        CancellationToken cancellation)
    {
        if (!OrgHttp.TryAsOf(http.Request, out var at, out var version, out var error)) return error!;
        return await OrgHttp.ReadAsOf(http, streams, store, tenantId, at, version,
            (standing, g) => OrgHttp.Authorise(standing, g, Permissions.AccessRead, orgId),
            g => g.Find(orgId) is null ? Problem.NotFound("organisation").ToResult()
                : Results.Json(new { items = g.GrantsAt(orgId).Select(View).ToList() }, Json.Options), cancellation);
    }

    /// <summary>
    /// Grants a role at this organisation (it applies here and in every descendant). Needs member.manage here, and the
    /// granter must itself hold every permission of the role here: no one hands out more than they have.
    /// </summary>
    [WolverinePost("/api/tenants/{tenantId}/organisations/{orgId}/grants", OperationId = "GrantRole")]
    [Authorize(Roles = OrgHttp.WriteRoles)]
    public static Task<IResult> Post(Guid tenantId, Guid orgId, GrantRole? command, HttpContext http, TenantStreams streams, OrganisationStore store,
        MessageContext context, CancellationToken cancellation)
    {
        if (command is null) return Task.FromResult(Problem.Malformed("The body must be a JSON object.").ToResult());
        var grantId = Guid.CreateVersion7();
        return OrgHttp.Command(http, streams, store, context, tenantId, (standing, graph) =>
            {
                if (OrgHttp.Authorise(standing, graph, Permissions.MemberManage, orgId) is { } no) return OrgDecision.Refuse(no);
                if (command.Role is { } role && graph.Role(role) is { } definition
                    && GrantorBound.Check(standing, graph, [new Conferral(definition.Permissions, orgId, What: $"role {role}")]) is { } beyond)
                    return OrgDecision.Refuse(beyond);
                return OrganisationDecisions.GrantRole(graph, orgId, command.Principal, command.Role, grantId, standing.Actor, streams.Now);
            },
            applied => Task.FromResult(Results.Created($"/api/tenants/{tenantId}/organisations/{orgId}/grants/{grantId}",
                applied.Events.OfType<RoleGranted>().Select(g => new GrantView(g.GrantId, g.OrganisationId, g.Principal, g.Role, g.At)).Single())),
            cancellation);
    }

    [WolverineDelete("/api/tenants/{tenantId}/organisations/{orgId}/grants/{grantId}", OperationId = "RevokeGrant")]
    [Authorize(Roles = OrgHttp.WriteRoles)]
    public static Task<IResult> Delete(Guid tenantId, Guid orgId, Guid grantId, HttpContext http, TenantStreams streams, OrganisationStore store,
        MessageContext context, CancellationToken cancellation) =>
        OrgHttp.Command(http, streams, store, context, tenantId, (standing, graph) =>
                OrgCommands.Revoke(standing, graph, orgId, grantId, streams.Now),
            _ => Task.FromResult(Results.NoContent()), cancellation);

    public static GrantView View(Grant g) => new(g.Id, g.OrganisationId, g.Principal, g.Role, g.At);
}
