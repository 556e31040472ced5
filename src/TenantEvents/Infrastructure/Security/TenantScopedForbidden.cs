using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Authorization.Policy;

namespace TenantEvents.Infrastructure.Security;

/// <summary>
/// A caller bound to one tenant who is refused on another tenant's resource gets 404, never 403: whatever the endpoint,
/// another tenant's identifiers reveal nothing, not even that they exist. On its own tenant, or for platform-wide
/// callers, a refusal stays a 403.
/// </summary>
public sealed class TenantScopedForbidden : IAuthorizationMiddlewareResultHandler
{
    private readonly AuthorizationMiddlewareResultHandler _default = new();

    public Task HandleAsync(RequestDelegate next, HttpContext context, AuthorizationPolicy policy, PolicyAuthorizationResult result)
    {
        if (result.Forbidden && context.Request.RouteValues.TryGetValue("tenantId", out var raw))
        {
            var caller = new Caller(context.User);
            var other = !Guid.TryParse(raw?.ToString(), out var tenantId) || caller.Actor.TenantId != tenantId;
            if (!caller.HasAny(Roles.PlatformWide) && other)
                return Problem.NotFound("tenant").ToResult().ExecuteAsync(context);
        }
        return _default.HandleAsync(next, context, policy, result);
    }
}
