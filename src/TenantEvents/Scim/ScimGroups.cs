using Microsoft.AspNetCore.Authorization;
using Wolverine.Http;
using Wolverine.Runtime;

namespace TenantEvents.Scim;

/// <summary>SCIM 2.0 /Groups of a tenant (RFC 7644 section 3): create, get, replace, patch, delete, list and .search.</summary>
public static class ScimGroupsEndpoints
{
    private const string Path = "/api/tenants/{tenantId}/scim/v2/Groups";
    private const string Kind = ScimResource.Group;

    [WolverinePost(Path, OperationId = "ScimCreateGroup")]
    [Authorize(Roles = ScimHttp.Roles)]
    public static Task<IResult> Create(Guid tenantId, HttpContext http, ScimStore store, MessageContext context, CancellationToken cancellation) =>
        ScimResources.Create(http, tenantId, Kind, store, context, cancellation);

    [WolverineGet(Path, OperationId = "ScimListGroups")]
    [Authorize(Roles = ScimHttp.Roles)]
    public static Task<IResult> List(Guid tenantId, HttpContext http, ScimStore store, CancellationToken cancellation) =>
        ScimResources.List(http, tenantId, Kind, store, cancellation);

    [WolverinePost(Path + "/.search", OperationId = "ScimSearchGroups")]
    [Authorize(Roles = ScimHttp.Roles)]
    public static Task<IResult> Search(Guid tenantId, HttpContext http, ScimStore store, CancellationToken cancellation) =>
        ScimResources.SearchPost(http, tenantId, Kind, store, cancellation);

    [WolverineGet(Path + "/{id}", OperationId = "ScimGetGroup")]
    [Authorize(Roles = ScimHttp.Roles)]
    public static Task<IResult> Get(Guid tenantId, Guid id, HttpContext http, ScimStore store, CancellationToken cancellation) =>
        ScimResources.Get(http, tenantId, id, Kind, store, cancellation);

    [WolverinePut(Path + "/{id}", OperationId = "ScimReplaceGroup")]
    [Authorize(Roles = ScimHttp.Roles)]
    public static Task<IResult> Replace(Guid tenantId, Guid id, HttpContext http, ScimStore store, MessageContext context, CancellationToken cancellation) =>
        ScimResources.Replace(http, tenantId, id, Kind, store, context, cancellation);

    [WolverinePatch(Path + "/{id}", OperationId = "ScimPatchGroup")]
    [Authorize(Roles = ScimHttp.Roles)]
    public static Task<IResult> Patch(Guid tenantId, Guid id, HttpContext http, ScimStore store, MessageContext context, CancellationToken cancellation) =>
        ScimResources.Patch(http, tenantId, id, Kind, store, context, cancellation);

    [WolverineDelete(Path + "/{id}", OperationId = "ScimDeleteGroup")]
    [Authorize(Roles = ScimHttp.Roles)]
    public static Task<IResult> Delete(Guid tenantId, Guid id, HttpContext http, ScimStore store, MessageContext context, CancellationToken cancellation) =>
        ScimResources.Delete(http, tenantId, id, Kind, store, context, cancellation);
}
