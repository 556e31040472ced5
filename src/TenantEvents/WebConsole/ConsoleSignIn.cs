using Microsoft.AspNetCore.Authorization;
using TenantEvents.Identity;
using TenantEvents.Infrastructure;
using TenantEvents.Tenants;
using Wolverine.Http;

namespace TenantEvents.WebConsole;

/// <summary>The console's sign-in choices: where a tenant's people sign in, and whether development tokens are taken.</summary>
public sealed record ConsoleSignInOptions(bool Development, ConsoleProvider? Platform);

/// <summary>
/// A public client's view of an OpenID provider: its issuer, the client id the console presents there (the audience
/// configured: the console's ID token names it), and the redirect URI registered there: one per provider
/// ({PublicUrl}/console/signin/t/{short name}, or /console/signin/staff), so that an answer that comes back from another
/// provider than the one the person chose lands on another address and is refused (mix-up defence, RFC 9700 4.4.2).
/// </summary>
public sealed record ConsoleProvider(string Issuer, string ClientId, string RedirectPath);

/// <summary>Who the console's caller is, as the service judged their token: what the console offers follows from it.</summary>
public sealed record ConsoleCaller(string Subject, string? Name, string? Email, IReadOnlyList<string> Roles, Guid? TenantId);

public sealed record ConsoleTenantSignIn(ConsoleProvider Provider);

/// <summary>
/// GET /api/console/sign-in (anonymous): what the sign-in page offers. With ?tenant=SHORT-NAME, that tenant's OpenID
/// provider (issuer and client id, no more), as a sign-in page names it to anyone who types the name (as Keycloak's realm
/// or Entra's tenant sign-in do). A short name nobody holds and a tenant without a provider answer the same 404. Nothing
/// is unsealed for it: the slug index and the providers' index only.
/// </summary>
public static class ConsoleSignInEndpoint
{
    [WolverineGet("/api/console/sign-in", OperationId = "ConsoleSignIn")]
    [AllowAnonymous]
    public static async Task<IResult> Get(HttpContext http, TenantStreams streams, FederationRegistry federation, IHostEnvironment environment,
        TenantEventsOptions options, CancellationToken cancellation)
    {
        var slug = http.Request.Query["tenant"].ToString().Trim().ToLowerInvariant();
        if (slug.Length == 0)
            return Results.Json(new ConsoleSignInOptions(environment.IsDevelopment() && options.DevTokens,
                options.PlatformIdentityProvider is { Configured: true } staff ? new ConsoleProvider(staff.Issuer, staff.Audience, "/console/signin/staff") : null),
                Json.Options);
        if (slug.Length > 100 || !slug.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-'))
            return Problem.Validation("tenant", "invalid", "is a tenant's short name (lower-case letters, digits and hyphens, at most 100).").ToResult();
        var none = new Problem("not-found", 404, "Not found", "No sign-in is set up under that name.").ToResult();
        if (await streams.Directory.TenantOfSlugAsync(slug, cancellation) is not { } tenant) return none;
        var provider = await federation.ForTenantAsync(tenant, cancellation);
        if (provider is null) return none;
        return Results.Json(new ConsoleTenantSignIn(new ConsoleProvider(provider.Settings.Issuer, provider.Settings.Audience, $"/console/signin/t/{slug}")),
            Json.Options);
    }

    /// <summary>GET /api/console/me: the caller as the service sees them (roles from the token as judged, never as claimed).</summary>
    [WolverineGet("/api/console/me", OperationId = "ConsoleCaller")]
    [Authorize]
    public static IResult Me(HttpContext http)
    {
        var user = http.User;
        var roles = user.FindAll(TenantEvents.Infrastructure.Security.Claims.Role).Select(c => c.Value).Distinct().ToList();
        var tenant = Guid.TryParse(user.FindFirst(TenantEvents.Infrastructure.Security.Claims.TenantId)?.Value, out var t) ? t : (Guid?)null;
        return Results.Json(new ConsoleCaller(user.FindFirst(TenantEvents.Infrastructure.Security.Claims.Subject)?.Value ?? "",
            user.FindFirst(TenantEvents.Infrastructure.Security.Claims.Name)?.Value, user.FindFirst(TenantEvents.Infrastructure.Security.Claims.Email)?.Value,
            roles, tenant), Json.Options);
    }
}
