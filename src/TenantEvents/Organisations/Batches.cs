using Microsoft.AspNetCore.Authorization;
using TenantEvents.Infrastructure;
using TenantEvents.Tenants;
using Wolverine.Http;
using Wolverine.Runtime;

namespace TenantEvents.Organisations;

public sealed record NewOrganisation(Guid? Id, Guid? ParentId, string? Name, string? Kind, string? Jurisdiction);

public sealed record CreateOrganisations(List<NewOrganisation>? Organisations);

public sealed record NewGrant(Guid? OrganisationId, Principal? Principal, string? Role);

public sealed record GrantRoles(List<NewGrant>? Grants);

/// <summary>
/// Bulk changes for importing a structure (up to 1,000 items, all or nothing, one transaction and one access version):
/// organisations with ids chosen by the caller so that a batch can hold parents and their children; grants.
/// The same rules and the same authorisation as one at a time.
/// </summary>
public static class BatchEndpoints
{
    [WolverinePost("/api/tenants/{tenantId}/organisations/batch", OperationId = "CreateOrganisations")]
    [Authorize(Roles = OrgHttp.WriteRoles)]
    public static Task<IResult> Organisations(Guid tenantId, CreateOrganisations? command, HttpContext http, TenantStreams streams,
        OrganisationStore store, MessageContext context, CancellationToken cancellation)
    {
        if (command?.Organisations is not { } items || items.Any(i => i is null))
            return Task.FromResult(Problem.Validation("organisations", "required", "a list of {id, parentId, name, kind, jurisdiction?}.").ToResult());
        return OrgHttp.Command(http, streams, store, context, tenantId, (standing, graph) => OrgCommands.CreateMany(standing, graph,
                items.Select(i => (i.Id ?? Guid.Empty, i.ParentId, i.Name, i.Kind, i.Jurisdiction)).ToList(), streams.Now, OrgLimits.Of(streams.Options)),
            applied => Task.FromResult(Results.Json(new { created = applied.Events.Count, accessVersion = applied.AccessVersion }, Json.Options,
                statusCode: 201)), cancellation);
    }

    [WolverinePost("/api/tenants/{tenantId}/grants/batch", OperationId = "GrantRoles")]
    [Authorize(Roles = OrgHttp.WriteRoles)]
    public static Task<IResult> Grants(Guid tenantId, GrantRoles? command, HttpContext http, TenantStreams streams, OrganisationStore store,
        MessageContext context, CancellationToken cancellation)
    {
        if (command?.Grants is not { } items || items.Any(i => i is null))
            return Task.FromResult(Problem.Validation("grants", "required", "a list of {organisationId, principal, role}.").ToResult());
        return OrgHttp.Command(http, streams, store, context, tenantId, (standing, graph) => OrgCommands.GrantMany(standing, graph,
                items.Select(i => (i.OrganisationId ?? Guid.Empty, i.Principal, i.Role)).ToList(), Guid.CreateVersion7, streams.Now),
            applied => Task.FromResult(Results.Json(new { granted = applied.Events.Count, accessVersion = applied.AccessVersion }, Json.Options,
                statusCode: 201)), cancellation);
    }
}
