using TenantEvents.Infrastructure;
using Microsoft.AspNetCore.Authorization;
using TenantEvents.Tenants;
using Wolverine.Http;
using Wolverine.Runtime;

namespace TenantEvents.Organisations;

/// <summary>The organisation's attributes, whole: kind, and an optional ISO 3166-2 jurisdiction (null clears it).</summary>
public sealed record UpdateOrganisation(string? Kind, string? Jurisdiction);

public static class UpdateOrganisationEndpoint
{
    [WolverinePut("/api/tenants/{tenantId}/organisations/{orgId}/attributes", OperationId = "UpdateOrganisationAttributes")]
    [Authorize(Roles = OrgHttp.WriteRoles)]
    public static Task<IResult> Put(Guid tenantId, Guid orgId, UpdateOrganisation? command, HttpContext http, TenantStreams streams,
        OrganisationStore store, MessageContext context, CancellationToken cancellation)
    {
        if (command is null) return Task.FromResult(Infrastructure.Problem.Malformed("The body must be a JSON object.").ToResult());
        return OrgHttp.Command(http, streams, store, context, tenantId, (standing, graph) =>
                OrgCommands.UpdateAttributes(standing, graph, orgId, command.Kind, command.Jurisdiction, streams.Now),
            _ => OrgReplies.Current(http, store, tenantId, orgId, cancellation), cancellation, versioned: orgId);
    }
}
