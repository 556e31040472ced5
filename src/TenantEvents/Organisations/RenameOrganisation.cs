using TenantEvents.Infrastructure;
using Microsoft.AspNetCore.Authorization;
using TenantEvents.Tenants;
using Wolverine.Http;
using Wolverine.Runtime;

namespace TenantEvents.Organisations;

public sealed record RenameOrganisation(string? Name);

public static class RenameOrganisationEndpoint
{
    [WolverinePut("/api/tenants/{tenantId}/organisations/{orgId}/name", OperationId = "RenameOrganisation")]
    [Authorize(Roles = OrgHttp.WriteRoles)]
    public static async Task<IResult> Put(Guid tenantId, Guid orgId, RenameOrganisation? command, HttpContext http, TenantStreams streams,
        OrganisationStore store, MessageContext context, CancellationToken cancellation)
    {
        if (command is null) return Infrastructure.Problem.Malformed("The body must be a JSON object.").ToResult();
        var current = await store.NameAsync(tenantId, orgId, cancellation) ?? "";
        return await OrgHttp.Command(http, streams, store, context, tenantId, (standing, graph) =>
                OrgHttp.Authorise(standing, graph, Permissions.OrgManage, orgId) is { } no ? OrgDecision.Refuse(no)
                : OrganisationDecisions.Rename(graph, orgId, command.Name, current, standing.Actor, streams.Now),
            applied => OrgReplies.Current(http, store, tenantId, orgId, cancellation), cancellation, versioned: orgId);
    }
}

public static class OrgReplies
{
    /// <summary>200 with the organisation as it now is, and its version as ETag.</summary>
    public static async Task<IResult> Current(HttpContext http, OrganisationStore store, Guid tenantId, Guid orgId, CancellationToken cancellation)
    {
        var name = await store.NameAsync(tenantId, orgId, cancellation);
        var view = await store.ReadAsync(tenantId, g => g.Find(orgId) is { } node ? OrgHttp.View(node, name, true, g) : null, cancellation);
        if (view is null) return Infrastructure.Problem.NotFound("organisation").ToResult();
        http.Response.Headers.ETag = TenantHttp.ETag(view.Version);
        return Results.Json(view, Infrastructure.Json.Options);
    }
}
