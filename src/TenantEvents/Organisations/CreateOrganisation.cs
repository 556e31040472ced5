using TenantEvents.Infrastructure;
using Microsoft.AspNetCore.Authorization;
using TenantEvents.Tenants;
using Wolverine.Http;
using Wolverine.Runtime;

namespace TenantEvents.Organisations;

public sealed record CreateOrganisation(Guid? ParentId, string? Name, string? Kind, string? Jurisdiction);

public static class CreateOrganisationEndpoint
{
    /// <summary>A new organisation under a parent (needs org.manage at the parent); any depth.</summary>
    [WolverinePost("/api/tenants/{tenantId}/organisations", OperationId = "CreateOrganisation")]
    [Authorize(Roles = OrgHttp.WriteRoles)]
    public static Task<IResult> Post(Guid tenantId, CreateOrganisation? command, HttpContext http, TenantStreams streams, OrganisationStore store,
        MessageContext context, CancellationToken cancellation)
    {
        if (command is null) return Task.FromResult(Infrastructure.Problem.Malformed("The body must be a JSON object.").ToResult());
        var id = Guid.CreateVersion7();
        return OrgHttp.Command(http, streams, store, context, tenantId, (standing, graph) =>
                command.ParentId is { } parent && OrgHttp.Authorise(standing, graph, Permissions.OrgManage, parent, "parent organisation") is { } no
                    ? OrgDecision.Refuse(no)
                    : OrganisationDecisions.Create(graph, id, command.ParentId, command.Name, command.Kind, command.Jurisdiction, standing.Actor, streams.Now,
                        OrgLimits.Of(streams.Options)),
            applied =>
            {
                var created = applied.Events.OfType<OrganisationCreated>().Single();
                http.Response.Headers.ETag = TenantHttp.ETag(1);
                var view = new OrganisationView(id, created.ParentId, created.Name, created.Kind, created.Jurisdiction, "open", -1, 1);
                return store.ReadAsync(tenantId, g => g.Find(id) is { } node ? OrgHttp.View(node, created.Name) : view, cancellation)
                    .ContinueWith(t => Results.Created($"/api/tenants/{tenantId}/organisations/{id}", t.Result), cancellation);
            }, cancellation);
    }
}
