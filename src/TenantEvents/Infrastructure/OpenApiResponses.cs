using Wolverine.Http;
using TenantEvents.Tenants;
using TenantEvents.Tenants.Templates;

namespace TenantEvents.Infrastructure;

/// <summary>
/// What each endpoint answers, for the OpenAPI document: the success body (endpoints return IResult, which says
/// nothing) and the problem+json answers every caller should expect.
/// </summary>
public static class OpenApiResponses
{
    /// <summary>The lifecycle routes whose answer is the tenant (TenantHttp.Command).</summary>
    private static readonly HashSet<string> TenantAnswers = new(StringComparer.Ordinal)
    {
        "/api/tenants/{tenantId}/approve", "/api/tenants/{tenantId}/reject", "/api/tenants/{tenantId}/provision",
        "/api/tenants/{tenantId}/suspend", "/api/tenants/{tenantId}/reactivate", "/api/tenants/{tenantId}/decommission",
        "/api/tenants/{tenantId}/decommission/approve", "/api/tenants/{tenantId}/decommission/cancel",
        "/api/tenants/{tenantId}/decommission/complete", "/api/tenants/{tenantId}/legal-holds",
        "/api/tenants/{tenantId}/legal-holds/{holdId}/lift", "/api/tenants/{tenantId}/keys/rotate",
        "/api/tenants/{tenantId}/name", "/api/tenants/{tenantId}/contacts", "/api/tenants/{tenantId}/settings",
    };

    public static void Describe(HttpChain chain)
    {
        var route = chain.RoutePattern?.RawText ?? "";
        var method = chain.HttpMethods.FirstOrDefault() ?? "GET";
        var metadata = chain.Metadata;

        var success = (method, route) switch
        {
            ("POST", "/api/tenants") or ("POST", "/api/provisioning/tenant-requests") => (201, typeof(Tenant)),
            ("GET", "/api/tenants") => (200, typeof(TenantPage)),
            ("GET", "/api/tenants/{tenantId}/events") => (200, typeof(List<TenantEventEntry>)),
            ("GET", "/api/tenants/{tenantId}/export") => (200, typeof(TenantExport)),
            ("GET", "/api/templates") => (200, typeof(List<TenantTemplate>)),
            ("GET", "/api/templates/{name}") => (200, typeof(TenantTemplate)),
            ("GET", "/api/platform/key-service") => (200, typeof(Keys.KeyServiceStatus)),
            ("POST", "/api/tenants/{tenantId}/organisations") => (201, typeof(Organisations.OrganisationView)),
            ("GET", "/api/tenants/{tenantId}/organisations" or "/api/tenants/{tenantId}/organisations/{orgId}/children"
                or "/api/tenants/{tenantId}/organisations/{orgId}/descendants" or "/api/tenants/{tenantId}/organisations/{orgId}/ancestors"
                or "/api/tenants/{tenantId}/access/organisations") => (200, typeof(Organisations.OrganisationPage)),
            ("GET", "/api/tenants/{tenantId}/organisations/{orgId}") or ("PUT", "/api/tenants/{tenantId}/organisations/{orgId}/name")
                or ("PUT", "/api/tenants/{tenantId}/organisations/{orgId}/attributes") or ("POST", "/api/tenants/{tenantId}/organisations/{orgId}/move")
                => (200, typeof(Organisations.OrganisationView)),
            ("GET", "/api/tenants/{tenantId}/access/explain") => (200, typeof(Organisations.AccessAnswer)),
            ("POST", "/api/tenants/{tenantId}/organisations/{orgId}/grants") => (201, typeof(Organisations.GrantView)),
            ("PUT", "/api/tenants/{tenantId}/roles/{name}") => (200, typeof(Organisations.RoleView)),
            // The other organisation and access answers are small ad-hoc objects (or 204): described by their endpoints' docs.
            (_, var r) when r.StartsWith("/api/tenants/{tenantId}/", StringComparison.Ordinal)
                && (r.Contains("/organisations") || r.Contains("/roles") || r.Contains("/access/") || r.Contains("/grants") || r.Contains("/members"))
                => (200, (Type?)null),
            // The tenant's own lifecycle answers the tenant; every other capability under /api/tenants/{tenantId} answers
            // its own view (described by its endpoint's docs), never the tenant.
            ("GET", "/api/tenants/{tenantId}") => (200, typeof(Tenant)),
            (_, var r) when TenantAnswers.Contains(r) => (200, typeof(Tenant)),
            _ => (200, (Type?)null),
        };
        if (success.Item2 is { } body) metadata.Produces(success.Item1, body, "application/json");

        int[] problems = route.StartsWith("/api/provisioning", StringComparison.Ordinal) ? [400, 401, 409, 413] : [400, 401, 403];
        foreach (var status in problems) metadata.Produces(status, typeof(Problem), Problem.ContentType);
        if (route.Contains('{')) metadata.Produces(404, typeof(Problem), Problem.ContentType);
        if (route.StartsWith("/api/tenants/{tenantId}", StringComparison.Ordinal))
        {
            metadata.Produces(410, typeof(Problem), Problem.ContentType);
            if (method != "GET")
            {
                metadata.Produces(409, typeof(Problem), Problem.ContentType);
                metadata.Produces(412, typeof(Problem), Problem.ContentType);
            }
        }
        if (method == "POST" && route == "/api/tenants") metadata.Produces(409, typeof(Problem), Problem.ContentType).Produces(422, typeof(Problem), Problem.ContentType);
    }
}
