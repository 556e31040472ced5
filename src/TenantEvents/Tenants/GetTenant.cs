using Marten;
using Microsoft.AspNetCore.Authorization;
using Wolverine.Http;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Security;

namespace TenantEvents.Tenants;

public static class GetTenantEndpoint
{
    /// <summary>
    /// The tenant detail read model (updated in the write's own transaction). Platform-wide roles see any tenant, a
    /// tenant administrator only its own, a tenant member its own with org.read at the root organisation; anything else is a 404. Answers 304 to a matching If-None-Match.
    /// </summary>
    [WolverineGet("/api/tenants/{tenantId}", OperationId = "GetTenant")]
    [Authorize(Roles = $"{Roles.PlatformAdmin},{Roles.PlatformApprover},{Roles.Auditor},{Roles.Analyst},{Roles.TenantAdmin},{Roles.TenantMember}")]
    public static async Task<IResult> Get(Guid tenantId, HttpContext http, IDocumentStore store, TenantStreams streams,
        CancellationToken cancellation)
    {
        if (await TenantHttp.InvisibleAsync(http, tenantId, TenantEvents.Organisations.Permissions.OrgRead, cancellation) is { } hidden) return hidden;
        await using var session = store.QuerySession(tenantId.ToString());
        var record = await session.LoadAsync<TenantRecord>(tenantId, cancellation);
        if (record is null) return Problem.NotFound("tenant").ToResult();
        if (record.Shredded) return TenantHttp.Gone(record);
        var tenant = await streams.ReadAsync(record, cancellation);
        var etag = TenantHttp.ETag(tenant.Version);
        http.Response.Headers.ETag = etag;
        if (http.Request.Headers.IfNoneMatch.ToString() == etag) return Results.StatusCode(StatusCodes.Status304NotModified);
        return Results.Json(tenant, Json.Options);
    }
}
