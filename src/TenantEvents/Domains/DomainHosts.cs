using Microsoft.AspNetCore.Connections.Features;
using TenantEvents.Infrastructure;

namespace TenantEvents.Domains;

/// <summary>A request that came to one of a tenant's verified names: the tenant, and the origin it is answered under.</summary>
public sealed record TenantHost(DomainBinding Binding, string Origin);

/// <summary>
/// Which tenant a request's host serves, decided once per request from the host the client connected to: the Host
/// header (HTTP's own name for the target, passed through unchanged by the proxies; X-Forwarded-Host is not read) and,
/// over TLS, the name the client asked for in SNI, which must be the same (otherwise 421 Misdirected Request,
/// RFC 9110 section 15.5.20: a connection opened for one name is not used for another). Only a verified name in the index
/// binds a request to a tenant; no header, query string or pending claim does, and any other host is the platform's.
/// On a tenant's name only that tenant's API, discovery, token endpoint and probes answer: a path of another tenant or of
/// the platform is 404 there.
/// </summary>
public sealed class DomainHosts(DomainIndex index) : IMiddleware
{
    public async Task InvokeAsync(HttpContext http, RequestDelegate next)
    {
        var host = DomainNames.OfHost(http.Request.Host.Host);
        if (http.Features.Get<ITlsHandshakeFeature>()?.HostName is { Length: > 0 } sni && host is not null && DomainNames.OfHost(sni) != host)
        {
            await new Problem("misdirected-request", 421, "This connection was opened for another name",
                $"The connection asked for {sni} (TLS SNI) and the request for {host}: open a connection to {host}.").ToResult().ExecuteAsync(http);
            return;
        }
        // A name binds; the platform's host, an address (a probe's Host is the pod's IP) or a probe path never needs to ask.
        if (host is not null && host != index.PlatformHost && !System.Net.IPAddress.TryParse(host.Trim('[', ']'), out _)
            && !http.Request.Path.StartsWithSegments("/health") && await index.FindAsync(host, http.RequestAborted) is { } binding)
        {
            http.Features.Set(new TenantHost(binding, index.Origin(binding.Domain)));
            if (!ServedOnTenantName(http.Request.Path, binding.Tenant))
            {
                // (Which tenant it is, is not said: the name is public, the tenant's id is for those who may see the tenant.)
                await new Problem("not-on-this-domain", 404, "Not served at this address",
                    $"{binding.Domain} serves one tenant's API, its discovery documents and token endpoint. Use the platform's address for anything else.")
                    .ToResult().ExecuteAsync(http);
                return;
            }
        }
        await next(http);
    }

    /// <summary>What a tenant's name serves: its own API, the discovery documents, keys, token endpoint, OpenAPI, probes, the console's calls.</summary>
    public static bool ServedOnTenantName(PathString path, Guid tenant)
    {
        var value = path.Value ?? "";
        if (value.StartsWith("/.well-known/", StringComparison.Ordinal) || value == Identity.TokenEndpoint.Path
            || value.StartsWith("/health/", StringComparison.Ordinal) || value.StartsWith("/openapi/", StringComparison.Ordinal)
            // The web console's own calls: its sign-in choices, who the caller is, and the audit log's public key.
            || value is "/api/console/sign-in" or "/api/console/me" or "/api/audit/log-key")
            return true;
        const string prefix = "/api/tenants/";
        if (!value.StartsWith(prefix, StringComparison.OrdinalIgnoreCase)) return false;
        var rest = value.AsSpan(prefix.Length);
        var end = rest.IndexOf('/');
        return Guid.TryParse(end < 0 ? rest : rest[..end], out var id) && id == tenant;
    }
}

public static class PublicOrigins
{
    /// <summary>
    /// The origin a request is answered under: the tenant's verified name it came to, or the platform's public URL. It is
    /// the issuer of tokens asked for there and the base of the discovery documents.
    /// </summary>
    public static string PublicOrigin(this HttpContext http, TenantEventsOptions options) =>
        http.Features.Get<TenantHost>()?.Origin ?? options.PublicUrl;
}
