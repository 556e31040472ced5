using Microsoft.AspNetCore.Authorization;
using TenantEvents.Infrastructure;
using TenantEvents.Tenants;
using Wolverine.Http;

namespace TenantEvents.Organisations;

/// <summary>The tree, read: all organisations, an organisation's children, its descendants, its ancestors.</summary>
public static class ListOrganisationsEndpoint
{
    /// <summary>Every organisation the caller may see, in id order (creation order), paginated; ?asOf= for the tree as it was.</summary>
    [WolverineGet("/api/tenants/{tenantId}/organisations", OperationId = "ListOrganisations")]
    [Authorize(Roles = OrgHttp.Roles)]
    public static Task<IResult> All(Guid tenantId, HttpContext http, TenantStreams streams, OrganisationStore store, TenantEventsOptions options,
        CancellationToken cancellation) =>
        List(tenantId, null, (g, _) => g.Root is { } root ? g.SelfAndDescendants(root) : [], http, streams, store, options, cancellation);

    [WolverineGet("/api/tenants/{tenantId}/organisations/{orgId}/children", OperationId = "ListChildOrganisations")]
    [Authorize(Roles = OrgHttp.Roles)]
    public static Task<IResult> Children(Guid tenantId, Guid orgId, HttpContext http, TenantStreams streams, OrganisationStore store,
        TenantEventsOptions options, CancellationToken cancellation) =>
        List(tenantId, orgId, (g, id) => g.Find(id)!.Children.Select(c => g.Find(c)!), http, streams, store, options, cancellation);

    [WolverineGet("/api/tenants/{tenantId}/organisations/{orgId}/descendants", OperationId = "ListDescendantOrganisations")]
    [Authorize(Roles = OrgHttp.Roles)]
    public static Task<IResult> Descendants(Guid tenantId, Guid orgId, HttpContext http, TenantStreams streams, OrganisationStore store,
        TenantEventsOptions options, CancellationToken cancellation) =>
        List(tenantId, orgId, (g, id) => g.SelfAndDescendants(id).Skip(1), http, streams, store, options, cancellation);

    [WolverineGet("/api/tenants/{tenantId}/organisations/{orgId}/ancestors", OperationId = "ListAncestorOrganisations")]
    [Authorize(Roles = OrgHttp.Roles)]
    public static Task<IResult> Ancestors(Guid tenantId, Guid orgId, HttpContext http, TenantStreams streams, OrganisationStore store,
        TenantEventsOptions options, CancellationToken cancellation) =>
        List(tenantId, orgId, (g, id) => g.SelfAndAncestors(id).Skip(1), http, streams, store, options, cancellation);

    private static async Task<IResult> List(Guid tenantId, Guid? orgId, Func<AccessGraph, Guid, IEnumerable<OrgNode>> select, HttpContext http,
        TenantStreams streams, OrganisationStore store, TenantEventsOptions options, CancellationToken cancellation)
    {
        var (standing, refusal) = await OrgHttp.Enter(http, streams, store, tenantId, writing: false, cancellation);
        if (refusal is not null) return refusal;
        if (!OrgHttp.TryAsOf(http.Request, out var at, out var version, out var error)) return error!;
        if (!OrgHttp.TryPage(http.Request, options, out var limit, out var cursor, out error)) return error!;
        if (orgId is { } id && !await store.ReadAsync(tenantId, g => g.Find(id) is not null && standing!.CanSee(g, id), cancellation))
            return Problem.NotFound("organisation").ToResult();
        var page = await OrgHttp.Graph(store, tenantId, at, version, g =>
        {
            if (orgId is { } o && g.Find(o) is null) return null;
            return OrgHttp.Page(select(g, orgId ?? Guid.Empty), cursor, limit + 1).ToList();
        }, cancellation);
        if (page is null) return Problem.NotFound("organisation").ToResult();
        // What the caller may see is decided on the tree as it is now; a page may come out shorter than the limit.
        var items = await store.ReadAsync(tenantId, g => page.Take(limit).Where(n => standing!.CanSee(g, n.Id)).ToList(), cancellation);
        var names = await store.NamesAsync(tenantId, items.Where(n => n.Name is null).Select(n => n.Id).ToList(), cancellation);
        return Results.Json(new OrganisationPage(items.Select(n => OrgHttp.View(n, names.GetValueOrDefault(n.Id))).ToList(),
            page.Count > limit ? page[limit - 1].Id.ToString() : null), Json.Options);
    }
}
