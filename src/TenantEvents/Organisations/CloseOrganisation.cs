using TenantEvents.Infrastructure;
using Microsoft.AspNetCore.Authorization;
using TenantEvents.Tenants;
using Wolverine.Http;
using Wolverine.Runtime;

namespace TenantEvents.Organisations;

/// <param name="Subtree">Close every open organisation under it too (otherwise open children refuse the close).</param>
public sealed record CloseOrganisation(bool? Subtree, string? Reason);

public static class CloseOrganisationEndpoint
{
    [WolverinePost("/api/tenants/{tenantId}/organisations/{orgId}/close", OperationId = "CloseOrganisation")]
    [Authorize(Roles = OrgHttp.WriteRoles)]
    public static Task<IResult> Post(Guid tenantId, Guid orgId, CloseOrganisation? command, HttpContext http, TenantStreams streams,
        OrganisationStore store, MessageContext context, CancellationToken cancellation)
    {
        command ??= new CloseOrganisation(false, null);
        return OrgHttp.Command(http, streams, store, context, tenantId, (standing, graph) =>
                OrgCommands.Close(standing, graph, orgId, command.Subtree == true, command.Reason, streams.Now),
            applied => Task.FromResult(Results.Json(new { closed = applied.Events.OfType<OrganisationClosed>().Select(c => c.OrganisationId).ToList() },
                Infrastructure.Json.Options)), cancellation, versioned: orgId);
    }
}
