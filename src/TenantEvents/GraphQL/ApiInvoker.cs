using System.Text.Json;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing.Template;
using TenantEvents.Infrastructure;

namespace TenantEvents.GraphQL;

/// <summary>What a REST route answered: its status and its JSON (a problem for 4xx and 5xx).</summary>
public sealed record ApiReply(int Status, JsonElement Body)
{
    public bool Ok => Status is >= 200 and < 300;
}

/// <summary>
/// Runs a REST route in process, as the caller: the route's own handler with the caller's identity, after the same
/// role check its [Authorize] declares. GraphQL fields and mutations go through here, so they are decided by exactly the
/// code (validation, authorisation, tenant isolation, audit) that decides the REST calls; and each passes the API metering
/// (<see cref="TenantEvents.Quotas.ApiMetering"/>) first, so it is fair-shared and charged as one API call, at the
/// organisation its route names, exactly as the REST call would be.
/// </summary>
public sealed class ApiInvoker(EndpointDataSource endpoints)
{
    private sealed record Route(string Method, TemplateMatcher Matcher, RouteEndpoint Endpoint);

    private IReadOnlyList<Route>? _routes;

    private IReadOnlyList<Route> Routes => _routes ??= endpoints.Endpoints.OfType<RouteEndpoint>()
        .Where(e => e.RequestDelegate is not null && e.RoutePattern.RawText is { } raw && raw.StartsWith("/api/", StringComparison.Ordinal))
        .SelectMany(e => (e.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods ?? []).Select(m =>
            new Route(m, new TemplateMatcher(TemplateParser.Parse(e.RoutePattern.RawText!.TrimStart('/')), new RouteValueDictionary()), e)))
        .ToList();

    public async Task<ApiReply> SendAsync(HttpContext caller, string method, string pathAndQuery, object? body, CancellationToken cancellation,
        IReadOnlyDictionary<string, string>? headers = null)
    {
        var split = pathAndQuery.IndexOf('?');
        var path = new PathString(split < 0 ? pathAndQuery : pathAndQuery[..split]);
        var values = new RouteValueDictionary();
        var route = Routes.FirstOrDefault(r => r.Method == method && r.Matcher.TryMatch(path, values = new RouteValueDictionary()));
        if (route is null) return Reply(Problem.NotFound("resource"));

        var user = caller.User;
        if (route.Endpoint.Metadata.GetMetadata<IAllowAnonymous>() is null)
        {
            if (user.Identity?.IsAuthenticated != true) return Reply(Problem.Unauthenticated("A bearer token is required."));
            foreach (var rule in route.Endpoint.Metadata.GetOrderedMetadata<IAuthorizeData>())
                if (rule.Roles is { Length: > 0 } roles && !roles.Split(',').Any(r => user.IsInRole(r.Trim())))
                    return Reply(Problem.Forbidden("Your roles do not allow this operation."));
        }

        var context = new DefaultHttpContext { RequestServices = caller.RequestServices, User = user, TraceIdentifier = caller.TraceIdentifier };
        context.Request.Method = method;
        context.Request.Scheme = caller.Request.Scheme;
        context.Request.Host = caller.Request.Host;
        context.Request.Path = path;
        if (split >= 0) context.Request.QueryString = new QueryString(pathAndQuery[split..]);
        context.Request.Headers.Authorization = caller.Request.Headers.Authorization;
        // Only the headers a route reads as part of the request (a version expected, a retry's key), never the caller's others.
        foreach (var (name, value) in headers ?? new Dictionary<string, string>())
            if (name is "If-Match" or "Idempotency-Key") context.Request.Headers[name] = value;
        context.Request.RouteValues = values;
        if (body is not null)
        {
            var bytes = JsonSerializer.SerializeToUtf8Bytes(body, body.GetType(), Json.Options);
            context.Request.Body = new MemoryStream(bytes);
            context.Request.ContentType = "application/json";
            context.Request.ContentLength = bytes.Length;
        }
        using var buffer = new MemoryStream();
        context.Features.Set<IHttpResponseBodyFeature>(new StreamResponseBodyFeature(buffer));
        context.RequestAborted = cancellation;
        try
        {
            await caller.RequestServices.GetRequiredService<TenantEvents.Quotas.ApiMetering>().InvokeAsync(context, route.Endpoint.RequestDelegate!);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellation.IsCancellationRequested)
        {
            return Reply(Failures.ToProblem(e, System.Diagnostics.Activity.Current?.TraceId.ToString() ?? caller.TraceIdentifier));
        }
        var status = context.Response.StatusCode;
        if (buffer.Length == 0)
            return status is >= 200 and < 300 ? new ApiReply(status, default) : Reply(new Problem(status == 404 ? "not-found" : "bad-request", status, "Request failed"));
        return new ApiReply(status, JsonDocument.Parse(buffer.ToArray()).RootElement.Clone());
    }

    private static ApiReply Reply(Problem problem) => new(problem.Status, JsonSerializer.SerializeToElement(problem, Json.Options));
}
