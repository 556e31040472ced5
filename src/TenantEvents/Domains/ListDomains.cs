using Microsoft.AspNetCore.Authorization;
using TenantEvents.Identity;
using TenantEvents.Infrastructure;
using TenantEvents.Organisations;
using TenantEvents.Tenants;
using Wolverine.Http;

namespace TenantEvents.Domains;

/// <summary>A tenant's names, pending and verified (identity.manage at the root: pending ones carry their challenge).</summary>
public static class ListDomainsEndpoint
{
    [WolverineGet("/api/tenants/{tenantId}/domains", OperationId = "ListDomains")]
    [Authorize(Roles = OrgHttp.WriteRoles)]
    public static async Task<IResult> List(Guid tenantId, HttpContext http, ServiceAccountStore access, DomainIndex index,
        DomainVerification verification, CancellationToken cancellation)
    {
        var (_, refusal) = await access.EnterAsync(http, tenantId, writing: false, null, cancellation);
        if (refusal is not null) return refusal;
        var record = await DomainWrites.LoadAsync(access.Streams, tenantId, cancellation);
        http.Response.Headers.ETag = TenantHttp.ETag(record?.Version ?? 0);
        return Results.Json(new
        {
            domains = (record?.Domains ?? []).OrderBy(d => d.Name, StringComparer.Ordinal).Select(d => DomainWrites.View(d, index, verification)),
            version = record?.Version ?? 0,
        }, Json.Options);
    }

    [WolverineGet("/api/tenants/{tenantId}/domains/{domain}", OperationId = "GetDomain")]
    [Authorize(Roles = OrgHttp.WriteRoles)]
    public static async Task<IResult> Get(Guid tenantId, string domain, HttpContext http, ServiceAccountStore access, DomainIndex index,
        DomainVerification verification, CancellationToken cancellation)
    {
        var (_, refusal) = await access.EnterAsync(http, tenantId, writing: false, null, cancellation);
        if (refusal is not null) return refusal;
        var record = await DomainWrites.LoadAsync(access.Streams, tenantId, cancellation);
        return DomainWrites.RouteName(domain) is { } name && record?.Find(name) is { } entry
            ? DomainWrites.Answer(http, record, entry, index, verification)
            : Problem.NotFound("domain").ToResult();
    }
}
