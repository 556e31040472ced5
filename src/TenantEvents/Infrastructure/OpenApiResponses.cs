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
    public static void Describe(HttpChain chain)
    {
        var route = chain.RoutePattern.RawText ?? "";
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
            (_, var r) when r.StartsWith("/api/tenants/{tenantId}", StringComparison.Ordinal) => (200, typeof(Tenant)),
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
