using Microsoft.AspNetCore.Authorization;
using TenantEvents.Infrastructure;
using TenantEvents.Tenants;
using Wolverine.Http;

namespace TenantEvents.Organisations;

public static class GetOrganisationEndpoint
{
    /// <summary>One organisation with its ancestors (root first); ?asOf= or ?asOfVersion= for how it was then.</summary>
    [WolverineGet("/api/tenants/{tenantId}/organisations/{orgId}", OperationId = "GetOrganisation")]
    [Authorize(Roles = OrgHttp.Roles)]
    public static async Task<IResult> Get(Guid tenantId, Guid orgId, HttpContext http, TenantStreams streams, OrganisationStore store,
        CancellationToken cancellation)
    {
        if (!OrgHttp.TryAsOf(http.Request, out var at, out var version, out var error)) return error!;
        // Visibility is decided on the tree as it is now: a past grant does not reopen what the caller may no longer see.
        var (refusal, now) = await OrgHttp.ReadCore(http, streams, store, tenantId, (standing, g) =>
            g.Find(orgId) is { } node && standing.CanSee(g, orgId) ? OrgHttp.View(node, null, true, g) : null, cancellation);
        if (refusal is not null) return refusal;
        if (now is null) return Problem.NotFound("organisation").ToResult();
        var view = at is null && version is null ? now
            : (await store.AsOfAsync(tenantId, at, version, cancellation)) is var past && past.Find(orgId) is { } then ? OrgHttp.View(then, null, true, past)
            : null;
        if (view is null) return Problem.NotFound("organisation").ToResult();
        if (view.Name is null) view = view with { Name = await store.NameAsync(tenantId, orgId, cancellation) };
        http.Response.Headers.ETag = TenantHttp.ETag(view.Version);
        return Results.Json(view, Json.Options);
    }
}
