using Microsoft.AspNetCore.Authorization;
using Wolverine.Http;
using Wolverine.Runtime;

namespace TenantEvents.Scim;

/// <summary>SCIM 2.0 /Users of a tenant (RFC 7644 section 3): create, get, replace, patch, delete, list and .search.</summary>
public static class ScimUsersEndpoints
{
    private const string Path = "/api/tenants/{tenantId}/scim/v2/Users";
    private const string Kind = ScimResource.User;

    [WolverinePost(Path, OperationId = "ScimCreateUser")]
    [Authorize(Roles = ScimHttp.Roles)]
    public static Task<IResult> Create(Guid tenantId, HttpContext http, ScimStore store, MessageContext context, CancellationToken cancellation) =>
        ScimResources.Create(http, tenantId, Kind, store, context, cancellation);

    [WolverineGet(Path, OperationId = "ScimListUsers")]
    [Authorize(Roles = ScimHttp.Roles)]
    public static Task<IResult> List(Guid tenantId, HttpContext http, ScimStore store, CancellationToken cancellation) =>
        ScimResources.List(http, tenantId, Kind, store, cancellation);

    [WolverinePost(Path + "/.search", OperationId = "ScimSearchUsers")]
    [Authorize(Roles = ScimHttp.Roles)]
    public static Task<IResult> Search(Guid tenantId, HttpContext http, ScimStore store, CancellationToken cancellation) =>
        ScimResources.SearchPost(http, tenantId, Kind, store, cancellation);

    [WolverineGet(Path + "/{id}", OperationId = "ScimGetUser")]
    [Authorize(Roles = ScimHttp.Roles)]
    public static Task<IResult> Get(Guid tenantId, Guid id, HttpContext http, ScimStore store, CancellationToken cancellation) =>
        ScimResources.Get(http, tenantId, id, Kind, store, cancellation);

    [WolverinePut(Path + "/{id}", OperationId = "ScimReplaceUser")]
    [Authorize(Roles = ScimHttp.Roles)]
    public static Task<IResult> Replace(Guid tenantId, Guid id, HttpContext http, ScimStore store, MessageContext context, CancellationToken cancellation) =>
        ScimResources.Replace(http, tenantId, id, Kind, store, context, cancellation);

    [WolverinePatch(Path + "/{id}", OperationId = "ScimPatchUser")]
    [Authorize(Roles = ScimHttp.Roles)]
    public static Task<IResult> Patch(Guid tenantId, Guid id, HttpContext http, ScimStore store, MessageContext context, CancellationToken cancellation) =>
        ScimResources.Patch(http, tenantId, id, Kind, store, context, cancellation);

    [WolverineDelete(Path + "/{id}", OperationId = "ScimDeleteUser")]
    [Authorize(Roles = ScimHttp.Roles)]
    public static Task<IResult> Delete(Guid tenantId, Guid id, HttpContext http, ScimStore store, MessageContext context, CancellationToken cancellation) =>
        ScimResources.Delete(http, tenantId, id, Kind, store, context, cancellation);
}
