using Microsoft.AspNetCore.Authorization;
using TenantEvents.Infrastructure;
using TenantEvents.Tenants;
using Wolverine.Http;
using Wolverine.Runtime;

namespace TenantEvents.Organisations;

public sealed record DefineRole(string? Description, List<string>? Permissions);

public sealed record RoleView(string Name, string Description, IReadOnlyList<string> Permissions);

/// <summary>The tenant's roles: sets of permissions, defined (and seeded by the template) per tenant; role.manage at the root.</summary>
public static class RolesEndpoints
{
    [WolverineGet("/api/tenants/{tenantId}/roles", OperationId = "ListRoles")]
    [Authorize(Roles = OrgHttp.Roles)]
    public static async Task<IResult> List(Guid tenantId, HttpContext http, TenantStreams streams, OrganisationStore store, CancellationToken cancellation)
    {
        var (standing, refusal) = await OrgHttp.Enter(http, streams, store, tenantId, writing: false, cancellation);
        if (refusal is not null) return refusal;
        var roles = await store.ReadAsync(tenantId, g => g.Root is { } root && standing!.CanSee(g, root)
            ? g.Roles.Select(r => new RoleView(r.Name, r.Description, r.Permissions.Order(StringComparer.Ordinal).ToList())).ToList()
            : null, cancellation);
        return roles is null ? Problem.NotFound("tenant").ToResult() : Results.Json(new { items = roles, permissions = Permissions.All }, Json.Options);
    }

    [WolverinePut("/api/tenants/{tenantId}/roles/{name}", OperationId = "DefineRole")]
    [Authorize(Roles = OrgHttp.WriteRoles)]
    public static Task<IResult> Put(Guid tenantId, string name, DefineRole? command, HttpContext http, TenantStreams streams, OrganisationStore store,
        MessageContext context, CancellationToken cancellation)
    {
        if (command is null) return Task.FromResult(Problem.Malformed("The body must be a JSON object.").ToResult());
        return OrgHttp.Command(http, streams, store, context, tenantId, (standing, graph) =>
                OrgCommands.DefineRole(standing, graph, name, command.Description, command.Permissions, streams.Now),
            _ => store.ReadAsync(tenantId, g => g.Role(name) is { } r
                ? Results.Json(new RoleView(r.Name, r.Description, r.Permissions.Order(StringComparer.Ordinal).ToList()), Json.Options)
                : Problem.NotFound("role").ToResult(), cancellation), cancellation);
    }

    [WolverineDelete("/api/tenants/{tenantId}/roles/{name}", OperationId = "RemoveRole")]
    [Authorize(Roles = OrgHttp.WriteRoles)]
    public static Task<IResult> Delete(Guid tenantId, string name, HttpContext http, TenantStreams streams, OrganisationStore store,
        MessageContext context, CancellationToken cancellation) =>
        OrgHttp.Command(http, streams, store, context, tenantId, (standing, graph) =>
                OrgCommands.RemoveRole(standing, graph, name, streams.Now),
            _ => Task.FromResult(Results.NoContent()), cancellation);
}
