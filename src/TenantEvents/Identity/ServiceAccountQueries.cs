using Microsoft.AspNetCore.Authorization;
using TenantEvents.Infrastructure;
using TenantEvents.Organisations;
using Wolverine.Http;

namespace TenantEvents.Identity;

public static class ServiceAccountQueries
{
    [WolverineGet("/api/tenants/{tenantId}/service-accounts", OperationId = "ListServiceAccounts")]
    [Authorize(Roles = OrgHttp.WriteRoles)]
    public static async Task<IResult> List(Guid tenantId, HttpContext http, ServiceAccountStore accounts, CancellationToken cancellation)
    {
        var (_, refusal) = await accounts.EnterAsync(http, tenantId, writing: false, null, cancellation);
        if (refusal is not null) return refusal;
        var items = (await accounts.ListAsync(tenantId, cancellation)).Select(a => a.View()).ToList();
        return Results.Json(new { items }, Json.Options);
    }

    [WolverineGet("/api/tenants/{tenantId}/service-accounts/{accountId}", OperationId = "GetServiceAccount")]
    [Authorize(Roles = OrgHttp.WriteRoles)]
    public static async Task<IResult> Get(Guid tenantId, Guid accountId, HttpContext http, ServiceAccountStore accounts, CancellationToken cancellation)
    {
        var (_, refusal) = await accounts.EnterAsync(http, tenantId, writing: false, null, cancellation);
        if (refusal is not null) return refusal;
        if (await accounts.LoadAsync(tenantId, accountId, cancellation) is not { } record) return Problem.NotFound("service account").ToResult();
        http.Response.Headers.ETag = Tenants.TenantHttp.ETag(record.Version);
        return Results.Json(record.View(), Json.Options);
    }
}
