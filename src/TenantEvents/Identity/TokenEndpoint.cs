using System.Text;
using Microsoft.AspNetCore.Authorization;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Tenants;
using Wolverine.Http;

namespace TenantEvents.Identity;

/// <summary>
/// The platform's OAuth 2.0 token endpoint, client credentials grant only (RFC 6749 section 4.4): a service account's
/// id and secret (HTTP Basic or form fields, RFC 6749 section 2.3.1) buy a short-lived JWT access token in the RFC 9068
/// profile (typ at+jwt), carrying the tenant's UUID and the granted scopes, never more than the account holds. Errors
/// are RFC 6749 section 5.2 JSON.
/// </summary>
public static class TokenEndpoint
{
    public const string Path = "/oauth2/token";

    [WolverinePost(Path, OperationId = "IssueToken")]
    [AllowAnonymous]
    public static async Task<IResult> Post(HttpContext http, ServiceAccountStore accounts, PlatformSigningKeys signingKeys,
        TenantEventsOptions options, CancellationToken cancellation)
    {
        http.Response.Headers.CacheControl = "no-store";
        http.Response.Headers.Pragma = "no-cache";
        if (!http.Request.HasFormContentType)
            return Error("invalid_request", "Send application/x-www-form-urlencoded (RFC 6749 section 4.4.2).");
        IFormCollection form;
        try
        {
            form = await http.Request.ReadFormAsync(cancellation);
        }
        catch (InvalidDataException e)
        {
            return Error("invalid_request", "The form could not be read: " + e.Message);
        }
        if (form.Any(f => f.Value.Count > 1)) return Error("invalid_request", "A parameter was sent more than once.");
        var grantType = form["grant_type"].ToString();
        if (grantType.Length == 0) return Error("invalid_request", "grant_type is required.");
        if (grantType != "client_credentials")
            return Error("unsupported_grant_type", "This endpoint issues tokens for the client_credentials grant only.");

        var basic = http.Request.Headers.Authorization.ToString();
        string? clientId = null, secret = null;
        var usedBasic = basic.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase);
        if (usedBasic)
        {
            if (form.ContainsKey("client_secret"))
                return Error("invalid_request", "Use one client authentication method: HTTP Basic or client_secret in the body, not both.");
            try
            {
                var decoded = Encoding.UTF8.GetString(Convert.FromBase64String(basic["Basic ".Length..].Trim()));
                var colon = decoded.IndexOf(':');
                if (colon > 0)
                {
                    clientId = Uri.UnescapeDataString(decoded[..colon].Replace('+', ' '));
                    secret = Uri.UnescapeDataString(decoded[(colon + 1)..].Replace('+', ' '));
                }
            }
            catch (FormatException)
            {
            }
            if (clientId is null) return InvalidClient(true, "The Basic credentials could not be read.");
            if (form["client_id"].ToString() is { Length: > 0 } bodyClient && bodyClient != clientId)
                return Error("invalid_request", "client_id in the body differs from the Basic credentials.");
        }
        else
        {
            clientId = form["client_id"].ToString();
            secret = form["client_secret"].ToString();
            if (clientId.Length == 0 || secret.Length == 0) return InvalidClient(false, "Client authentication is required (HTTP Basic or client_id and client_secret).");
        }

        // One answer for every way the credentials can be wrong: unknown client, wrong secret, disabled account.
        if (!Guid.TryParse(clientId, out var client)) return InvalidClient(usedBasic, "Unknown client or wrong secret.");
        var tenantId = await accounts.TenantOfClientAsync(client, cancellation);
        if (tenantId is not { } tenant) return InvalidClient(usedBasic, "Unknown client or wrong secret.");
        // At a tenant's name, only that tenant's accounts get tokens (another tenant's are unknown there).
        if (http.Features.Get<TenantEvents.Domains.TenantHost>() is { } host && host.Binding.Tenant != tenant)
            return InvalidClient(usedBasic, "Unknown client or wrong secret.");
        await using var session = accounts.Streams.Store.QuerySession(tenant.ToString());
        var account = await session.LoadAsync<ServiceAccountRecord>(client, cancellation);
        var tenantRecord = await session.LoadAsync<TenantRecord>(tenant, cancellation);
        if (account is null || tenantRecord is null || tenantRecord.Shredded) return InvalidClient(usedBasic, "Unknown client or wrong secret.");
        if (!await accounts.SecretMatchesAsync(tenant, account, secret!, cancellation)) return InvalidClient(usedBasic, "Unknown client or wrong secret.");
        if (!account.Enabled) return InvalidClient(usedBasic, "Unknown client or wrong secret.");
        if (tenantRecord.State != TenantState.Active)
            return Error("unauthorized_client", $"The tenant is {TenantHttp.Kebab(tenantRecord.State)}: its service accounts get no tokens.");

        var requested = form["scope"].ToString().Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var beyond = requested.Where(s => !account.Scopes.Contains(s)).ToList();
        if (beyond.Count > 0) return Error("invalid_scope", $"The account does not hold: {string.Join(" ", beyond)}.");
        var granted = requested.Length == 0 ? account.Scopes : requested.Distinct(StringComparer.Ordinal).ToList();

        var now = DateTimeOffset.UtcNow;
        var (_, key) = await signingKeys.SignerAsync(cancellation);
        var claims = new Dictionary<string, object>
        {
            [Claims.Subject] = client.ToString(),
            [Claims.ClientId] = client.ToString(),
            [Claims.TenantId] = tenant.ToString(),
            [Claims.Scope] = string.Join(' ', granted),
            // A UUID v7: its embedded millisecond time is what revocations are compared with.
            ["jti"] = Guid.CreateVersion7(now).ToString(),
        };
        // Under a tenant's name, which binding of it: a token outlives neither the name's release nor a later binding.
        if (http.Features.Get<TenantEvents.Domains.TenantHost>() is { } named) claims[TokenValidator.DomainBindingClaim] = TokenValidator.BindingOf(named.Binding);
        var token = new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            TokenType = "at+jwt",
            // The origin asked: the platform's public URL, or the tenant's verified name (Domains/DomainHosts.cs).
            Issuer = TenantEvents.Domains.PublicOrigins.PublicOrigin(http, options),
            Audience = DevTokens.Audience,
            IssuedAt = now.UtcDateTime,
            NotBefore = now.UtcDateTime,
            Expires = (now + options.ServiceTokenLifetime).UtcDateTime,
            Claims = claims,
            SigningCredentials = new SigningCredentials(key, SecurityAlgorithms.EcdsaSha256) { CryptoProviderFactory = key.CryptoProviderFactory },
        });
        return Results.Json(new Dictionary<string, object>
        {
            ["access_token"] = token,
            ["token_type"] = "Bearer",
            ["expires_in"] = (int)options.ServiceTokenLifetime.TotalSeconds,
            ["scope"] = string.Join(' ', granted),
        });
    }

    private static IResult Error(string error, string description, int status = 400) =>
        Results.Json(new Dictionary<string, string> { ["error"] = error, ["error_description"] = description }, statusCode: status);

    private static IResult InvalidClient(bool basic, string description) => new InvalidClientResult(basic, description);

    /// <summary>401 invalid_client; with a Basic challenge when the client tried Basic (RFC 6749 section 5.2).</summary>
    private sealed class InvalidClientResult(bool basic, string description) : IResult
    {
        public Task ExecuteAsync(HttpContext http)
        {
            if (basic) http.Response.Headers.WWWAuthenticate = "Basic realm=\"tenantevents\"";
            return Error("invalid_client", description, 401).ExecuteAsync(http);
        }
    }
}
