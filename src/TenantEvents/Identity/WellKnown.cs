using Microsoft.AspNetCore.Authorization;
using TenantEvents.Domains;
using TenantEvents.Infrastructure;
using TenantEvents.Organisations;
using Wolverine.Http;

namespace TenantEvents.Identity;

/// <summary>
/// What a resource server or client needs to trust the platform's tokens: authorization server metadata (RFC 8414,
/// also at the OpenID Connect discovery address) and the JWKS with every key whose tokens may still be alive.
/// </summary>
public static class WellKnown
{
    public const string JwksPath = "/.well-known/jwks.json";

    [WolverineGet("/.well-known/oauth-authorization-server", OperationId = "AuthorizationServerMetadata")]
    [AllowAnonymous]
    public static IResult Metadata(HttpContext http, TenantEventsOptions options) => Results.Json(Document(http.PublicOrigin(options)));

    [WolverineGet("/.well-known/openid-configuration", OperationId = "OpenIdConfiguration")]
    [AllowAnonymous]
    public static IResult OpenIdConfiguration(HttpContext http, TenantEventsOptions options) => Results.Json(Document(http.PublicOrigin(options)));

    [WolverineGet(JwksPath, OperationId = "Jwks")]
    [AllowAnonymous]
    public static async Task<IResult> Jwks(HttpContext http, PlatformSigningKeys keys, CancellationToken cancellation)
    {
        var published = await keys.PublishedAsync(cancellation);
        // Short caching: a verifier that sees an unknown kid fetches again anyway; a rotation shows within a minute.
        http.Response.Headers.CacheControl = "public, max-age=60";
        return Results.Json(new
        {
            keys = published.Select(k => k.Jwk()).Select(j => new { kty = j.Kty, crv = j.Crv, x = j.X, y = j.Y, kid = j.Kid, use = j.Use, alg = j.Alg }),
        });
    }

    /// <summary>The metadata under an origin: the platform's public URL, or the tenant's verified name the request came to.</summary>
    private static Dictionary<string, object> Document(string origin) => new()
    {
        ["issuer"] = origin,
        ["token_endpoint"] = origin + TokenEndpoint.Path,
        ["jwks_uri"] = origin + JwksPath,
        ["grant_types_supported"] = new[] { "client_credentials" },
        ["token_endpoint_auth_methods_supported"] = new[] { "client_secret_basic", "client_secret_post" },
        ["response_types_supported"] = new[] { "token" },
        ["scopes_supported"] = Permissions.All.Keys.ToArray(),
        ["id_token_signing_alg_values_supported"] = new[] { "ES256" },
        ["token_endpoint_auth_signing_alg_values_supported"] = new[] { "ES256" },
        ["subject_types_supported"] = new[] { "public" },
    };
}
