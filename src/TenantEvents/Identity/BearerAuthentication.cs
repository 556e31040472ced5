using System.Collections.Concurrent;
using System.Security.Claims;
using System.Text.Encodings.Web;
using System.Text.Json;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Security;

namespace TenantEvents.Identity;

/// <summary>The outcome of checking a bearer token: a principal, or why not (never shown in detail to the caller).</summary>
public sealed record TokenCheck(ClaimsPrincipal? Principal, string? Failure)
{
    public static TokenCheck Fail(string why) => new(null, why);
}

/// <summary>
/// Every bearer token is judged by its issuer, and only by the keys of that issuer:
/// the platform's own access tokens (service accounts: ES256, typ at+jwt, our JWKS, revocation list), issued under the
/// platform's public URL or under one of the tenant's verified names (Domains/), and then only for that tenant;
/// a tenant's identity provider (its discovery + JWKS, its audience and algorithms, and the tenant it belongs to);
/// the development key (Development only). A token names its issuer, but the issuer decides nothing on its own: a
/// forged iss of tenant A signed by anyone but A's provider fails A's keys. The principal is built from mapped claims
/// only; nothing else of a foreign token reaches our authorisation.
/// </summary>
public sealed class TokenValidator
{
    private readonly TenantEventsOptions _options;
    private readonly PlatformSigningKeys _platformKeys;
    private readonly CredentialRevocations _revocations;
    private readonly FederationRegistry _federation;
    private readonly TenantEvents.Domains.DomainIndex _domains;
    private readonly TokenValidationParameters? _dev;
    private readonly JsonWebTokenHandler _handler = new() { MapInboundClaims = false };
    private readonly ConcurrentDictionary<string, TokenValidationParameters> _platformParameters = new(StringComparer.Ordinal);

    private readonly ServiceAccountStore _accounts;
    private readonly FederatedUsers _users;
    private readonly TenantEvents.Compliance.SecurityBaselines _baselines;

    public TokenValidator(TenantEventsOptions options, PlatformSigningKeys platformKeys, CredentialRevocations revocations,
        FederationRegistry federation, IHostEnvironment environment, ServiceAccountStore accounts, FederatedUsers users,
        TenantEvents.Domains.DomainIndex domains, TenantEvents.Compliance.SecurityBaselines baselines)
    {
        _baselines = baselines;
        _domains = domains;
        _accounts = accounts;
        _users = users;
        _options = options;
        _platformKeys = platformKeys;
        _revocations = revocations;
        _federation = federation;
        if (environment.IsDevelopment() && options.DevTokens)
            _dev = new TokenValidationParameters
            {
                ValidIssuer = DevTokens.Issuer,
                ValidAudience = DevTokens.Audience,
                IssuerSigningKey = DevTokenKeyFile.Load(options.DataFolder),
                ValidAlgorithms = [SecurityAlgorithms.EcdsaSha256],
                RequireSignedTokens = true,
                RequireExpirationTime = true,
                ClockSkew = options.ClockSkew,
                NameClaimType = Claims.Subject,
                RoleClaimType = Claims.Role,
            };
    }

    /// <summary>Longest token accepted (a real access token is under 2 KB; the bound keeps parsing cheap).</summary>
    private const int MaxTokenLength = 16 * 1024;

    /// <summary>A token already verified: what it proved, and until when. Revocation and the issuer's registration are checked again on every use.</summary>
    private sealed record Verified(ClaimsPrincipal Principal, DateTimeOffset Expires, string Issuer, Guid Tenant, Guid? Client, DateTimeOffset IssuedAt);

    private const int VerifiedCacheSize = 20_000;
    private readonly ConcurrentDictionary<string, Verified> _verified = new(StringComparer.Ordinal);

    /// <summary>
    /// Whether this token was verified here and has not expired (memory only; revocation is checked when it is used):
    /// the anonymous-request bound lets such a caller through when its address is over its allowance.
    /// </summary>
    public bool Remembers(string token) => _verified.TryGetValue(token, out var known) && known.Expires + _options.ClockSkew > DateTimeOffset.UtcNow;

    public async ValueTask<TokenCheck> ValidateAsync(string token, CancellationToken cancellation)
    {
        if (token.Length > MaxTokenLength) return TokenCheck.Fail("token too long");
        // A client sends the same token for its whole lifetime: its signature is checked once, not per request. The
        // key is the whole token, so a token that differs in one bit is a different entry and is verified afresh.
        if (_verified.TryGetValue(token, out var known))
        {
            if (await StillGoodAsync(known, cancellation)) return await DirectoryAsync(known.Principal.Clone(), fresh: false, cancellation);
            _verified.TryRemove(token, out _);
        }
        var check = await VerifyAsync(token, cancellation);
        if (check.Principal is { } principal && Remember(principal) is { } verified)
        {
            if (_verified.Count >= VerifiedCacheSize) _verified.Clear(); // bounded; refilled by the next requests
            _verified[token] = verified;
            return await DirectoryAsync(principal.Clone(), fresh: true, cancellation);
        }
        return check;
    }

    /// <summary>A federated user as the tenant's directory (SCIM) has them: deactivated ones are refused, their groups added.</summary>
    /// <param name="fresh">The token was just verified: the provider's membership rules are applied (once per token, not per request).</param>
    private async ValueTask<TokenCheck> DirectoryAsync(ClaimsPrincipal principal, bool fresh, CancellationToken cancellation)
    {
        if (principal.Identity?.AuthenticationType != "federated") return new TokenCheck(principal, null);
        // The tenant's security baseline, on every request (a baseline tightened applies to tokens already verified too).
        if (Guid.TryParse(principal.FindFirst(Claims.TenantId)?.Value, out var tenant)
            && TenantEvents.Compliance.SecurityBaselines.Shortfall(await _baselines.ForAsync(tenant, cancellation), principal, DateTimeOffset.UtcNow) is { } shortfall)
            return TokenCheck.Fail(shortfall);
        if (await _users.ApplyAsync(principal, cancellation) is not { } applied) return TokenCheck.Fail("deactivated in the directory");
        if (fresh && applied.FindFirst(Claims.IdentityProvider)?.Value is { } issuer && await _federation.FindAsync(issuer, cancellation) is { } provider)
            await _users.ApplyMembershipsAsync(applied, provider, cancellation);
        return new TokenCheck(applied, null);
    }

    private Verified? Remember(ClaimsPrincipal principal)
    {
        var identity = (ClaimsIdentity)principal.Identity!;
        if (identity.AuthenticationType is not ("platform" or "federated")) return null;
        var expires = principal.FindFirst(ExpiresClaim)?.Value is { } e ? DateTimeOffset.FromUnixTimeSeconds(long.Parse(e)) : DateTimeOffset.MinValue;
        var issued = principal.FindFirst(IssuedClaim)?.Value is { } i ? DateTimeOffset.FromUnixTimeMilliseconds(long.Parse(i)) : DateTimeOffset.MinValue;
        return new Verified(principal, expires, principal.FindFirst(Claims.IdentityProvider)?.Value ?? _options.PublicUrl,
            Guid.Parse(principal.FindFirst(Claims.TenantId)!.Value), Guid.TryParse(principal.FindFirst(Claims.ClientId)?.Value, out var c) ? c : null, issued);
    }

    /// <summary>Not expired (with the allowed skew), not revoked, and its issuer still serves the same tenant.</summary>
    private async ValueTask<bool> StillGoodAsync(Verified known, CancellationToken cancellation)
    {
        if (known.Expires + _options.ClockSkew <= DateTimeOffset.UtcNow) return false;
        if (known.Client is { } client)
        {
            // A token issued under a tenant's name dies with the name: released, or serving another tenant.
            if (known.Principal.FindFirst(DomainIssuerClaim)?.Value is { } domainIssuer
                && (await _domains.FindIssuerAsync(domainIssuer, cancellation) is not { } binding || binding.Tenant != known.Tenant
                    || known.Principal.FindFirst(DomainBindingClaim)?.Value != BindingOf(binding)))
                return false;
            return known.Principal.HasClaim(StaticClaim, "true")
                ? !_revocations.IsRevoked(client, known.IssuedAt) && !_revocations.IsRevoked(ScimCredential.RevocationId(client), known.IssuedAt)
                : !_revocations.IsRevoked(client, known.IssuedAt) && await _platformKeys.IsPublishedAsync(known.Principal, cancellation);
        }
        // A changed configuration (admin groups, e-mail domains, audience...) judges the token again from scratch.
        return await _federation.FindAsync(known.Issuer, cancellation) is { } provider && provider.Tenant == known.Tenant
               && known.Principal.FindFirst(ConfiguredClaim)?.Value == provider.ConfiguredAt.UtcTicks.ToString();
    }

    private const string ExpiresClaim = "exp_at";
    private const string IssuedClaim = "issued_ms";
    private const string ConfiguredClaim = "idp_configured";
    private const string DomainIssuerClaim = "domain_issuer";

    /// <summary>The claim naming which binding of a tenant's name a token was issued under (TokenEndpoint puts it in).</summary>
    public const string DomainBindingClaim = "domain_binding";

    /// <summary>A binding of a name, as its tokens name it: when it was made (a new binding of the same name is another).</summary>
    public static string BindingOf(TenantEvents.Domains.DomainBinding binding) => binding.Since.UtcTicks.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private async ValueTask<TokenCheck> VerifyAsync(string token, CancellationToken cancellation)
    {
        if (token.StartsWith(ScimCredential.Prefix, StringComparison.Ordinal)) return await ScimCredentialAsync(token, cancellation);
        JsonWebToken jwt;
        try
        {
            jwt = _handler.ReadJsonWebToken(token);
        }
        catch (Exception e) when (e is ArgumentException or SecurityTokenException or JsonException or FormatException)
        {
            return TokenCheck.Fail("malformed token");
        }
        var issuer = jwt.Issuer;
        if (string.IsNullOrEmpty(issuer)) return TokenCheck.Fail("no issuer");
        if (issuer == _options.PublicUrl) return await PlatformAsync(jwt, null, cancellation);
        // The platform staff's provider before any tenant's (a tenant may not register its issuer: ConfigureIdentityProvider).
        if (_options.PlatformIdentityProvider is { Configured: true } staff && issuer == staff.Issuer) return await StaffAsync(jwt, staff, cancellation);
        if (issuer == DevTokens.Issuer) return _dev is null ? TokenCheck.Fail("development tokens are not accepted here") : await DevAsync(jwt);
        // A tenant's verified name before the providers: the platform answers for it, whatever a provider claims.
        if (await _domains.FindIssuerAsync(issuer, cancellation) is { } domain) return await PlatformAsync(jwt, domain, cancellation);
        if (await _federation.FindAsync(issuer, cancellation) is { } provider) return await FederatedAsync(jwt, provider, cancellation);
        return TokenCheck.Fail("unknown issuer");
    }

    /// <summary>
    /// A directory's long-lived SCIM credential (what Entra ID, Okta and others are configured with): a service account
    /// holding scim.provision, its id and secret in one bearer string. It grants scim.provision and nothing else.
    /// </summary>
    private async Task<TokenCheck> ScimCredentialAsync(string token, CancellationToken cancellation)
    {
        if (ScimCredential.Parse(token) is not var (client, secret)) return TokenCheck.Fail("malformed SCIM credential");
        if (await _accounts.TenantOfClientAsync(client, cancellation) is not { } tenant) return TokenCheck.Fail("unknown client");
        var account = await _accounts.LoadAsync(tenant, client, cancellation);
        if (account is null || !account.Enabled || !account.Scopes.Contains(ScimCredential.Scope)) return TokenCheck.Fail("not a SCIM credential");
        if (!await _accounts.SecretMatchesAsync(tenant, account, secret, cancellation)) return TokenCheck.Fail("wrong secret");
        var claims = new List<Claim>
        {
            new(Claims.Subject, client.ToString()), new(Claims.ClientId, client.ToString()), new(Claims.TenantId, tenant.ToString()),
            new(Claims.Role, Roles.TenantMember), new(Claims.Kind, "service"), new(Claims.Scope, ScimCredential.Scope),
            // Remembered for a short while only, and dropped at once when the secret is rotated or the account disabled.
            new(ExpiresClaim, DateTimeOffset.UtcNow.AddSeconds(30).ToUnixTimeSeconds().ToString()),
            new(IssuedClaim, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds().ToString()), new(StaticClaim, "true"),
        };
        return new TokenCheck(new ClaimsPrincipal(new ClaimsIdentity(claims, "platform", Claims.Subject, Claims.Role)), null);
    }

    private const string StaticClaim = "static_credential";

    private async Task<TokenCheck> DevAsync(JsonWebToken jwt)
    {
        var result = await _handler.ValidateTokenAsync(jwt, _dev!);
        return result.IsValid ? new TokenCheck(new ClaimsPrincipal(result.ClaimsIdentity), null) : TokenCheck.Fail(result.Exception?.Message ?? "invalid");
    }

    /// <param name="domain">The tenant's verified name the token was issued under; null: the platform's public URL.</param>
    private async Task<TokenCheck> PlatformAsync(JsonWebToken jwt, TenantEvents.Domains.DomainBinding? domain, CancellationToken cancellation)
    {
        if (await _platformKeys.VerifierAsync(jwt.Kid, cancellation) is not { } key) return TokenCheck.Fail("unknown signing key");
        var parameters = _platformParameters.GetOrAdd(jwt.Kid, _ => new TokenValidationParameters
        {
            ValidIssuer = _options.PublicUrl,
            ValidAudience = DevTokens.Audience,
            IssuerSigningKey = key,
            ValidAlgorithms = [SecurityAlgorithms.EcdsaSha256],
            ValidTypes = ["at+jwt"],
            RequireSignedTokens = true,
            RequireExpirationTime = true,
            ClockSkew = _options.ClockSkew,
        });
        if (domain is not null)
        {
            // The same keys; the issuer is the name's origin (checked by the caller against the index).
            parameters = parameters.Clone();
            parameters.ValidIssuer = jwt.Issuer;
        }
        var result = await _handler.ValidateTokenAsync(jwt, parameters);
        if (!result.IsValid) return TokenCheck.Fail(result.Exception?.Message ?? "invalid");
        if (!Guid.TryParse(Claim(jwt, Claims.ClientId), out var client) || !Guid.TryParse(Claim(jwt, Claims.TenantId), out var tenant))
            return TokenCheck.Fail("no client or tenant");
        // A tenant's name issues tokens for that tenant only: another tenant's token under it is a forgery.
        if (domain is not null && domain.Tenant != tenant) return TokenCheck.Fail("issued under another tenant's name");
        if (!Guid.TryParse(Claim(jwt, "jti"), out var jti) || jti.Version != 7) return TokenCheck.Fail("no token id");
        // ...and for this binding of it: a token from an earlier holding of the name (released, then bound again) is not its.
        if (domain is not null && Claim(jwt, DomainBindingClaim) != BindingOf(domain)) return TokenCheck.Fail("issued under an earlier binding of the name");
        if (_revocations.IsRevoked(client, IssuedAt(jti))) return TokenCheck.Fail("revoked");
        var claims = new List<Claim>
        {
            new(Claims.Subject, client.ToString()), new(Claims.ClientId, client.ToString()), new(Claims.TenantId, tenant.ToString()),
            new(Claims.Role, Roles.TenantMember), new(Claims.Kind, "service"), new("kid", jwt.Kid),
            new(ExpiresClaim, new DateTimeOffset(jwt.ValidTo, TimeSpan.Zero).ToUnixTimeSeconds().ToString()),
            new(IssuedClaim, IssuedAt(jti).ToUnixTimeMilliseconds().ToString()),
        };
        if (domain is not null)
        {
            claims.Add(new Claim(DomainIssuerClaim, jwt.Issuer));
            claims.Add(new Claim(DomainBindingClaim, BindingOf(domain)));
        }
        claims.AddRange((Claim(jwt, Claims.Scope) ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(s => new Claim(Claims.Scope, s)));
        return new TokenCheck(new ClaimsPrincipal(new ClaimsIdentity(claims, "platform", Claims.Subject, Claims.Role)), null);
    }

    /// <summary>
    /// Platform staff signed in at the platform's own provider: its keys (fetched and refreshed as a tenant provider's are),
    /// its audience, and platform roles only through the configured group mapping. Not remembered between requests: the
    /// signature is checked each time (staff are few), so a changed mapping applies at once.
    /// </summary>
    private async Task<TokenCheck> StaffAsync(JsonWebToken jwt, PlatformStaffProvider staff, CancellationToken cancellation)
    {
        var settings = new IdentityProviderSettings(staff.Issuer, staff.Audience, staff.Algorithms, ClaimMappings.Default, [], []);
        if (await ProviderSignatureAsync(jwt, new FederatedProvider(Guid.Empty, settings, DateTimeOffset.MinValue), cancellation) is { } refused) return refused;
        var subject = Claim(jwt, "sub");
        if (string.IsNullOrWhiteSpace(subject) || subject.Length > 255) return TokenCheck.Fail("no subject");
        var roles = staff.RolesOf(Strings(jwt, staff.GroupsClaim));
        if (roles.Count == 0) return TokenCheck.Fail("no platform role for this person's groups");
        var claims = new List<Claim> { new(Claims.Subject, subject), new(Claims.Kind, "user"), new(Claims.IdentityProvider, staff.Issuer) };
        claims.AddRange(roles.Select(r => new Claim(Claims.Role, r)));
        if (Claim(jwt, staff.NameClaim) is { Length: <= 200 } name) claims.Add(new Claim(Claims.Name, name));
        return new TokenCheck(new ClaimsPrincipal(new ClaimsIdentity(claims, "staff", Claims.Subject, Claims.Role)), null);
    }

    /// <summary>
    /// A provider's token as the provider signed it: an accepted algorithm, a key of its JWKS (fetched and refreshed by
    /// <see cref="FederationRegistry.KeysAsync"/>), its issuer and audience, within its lifetime. Null when it holds.
    /// </summary>
    private async Task<TokenCheck?> ProviderSignatureAsync(JsonWebToken jwt, FederatedProvider provider, CancellationToken cancellation)
    {
        var settings = provider.Settings;
        if (!settings.Algorithms.Contains(jwt.Alg)) return TokenCheck.Fail($"algorithm {jwt.Alg} not accepted");
        var keys = await _federation.KeysAsync(provider, jwt.Kid, cancellation);
        if (jwt.Kid is { Length: > 0 } kid && keys.All(k => k.KeyId != kid)) return TokenCheck.Fail("unknown key id");
        var result = await _handler.ValidateTokenAsync(jwt, new TokenValidationParameters
        {
            ValidIssuer = settings.Issuer,
            ValidAudience = settings.Audience,
            IssuerSigningKeys = keys,
            ValidAlgorithms = settings.Algorithms,
            RequireSignedTokens = true,
            RequireExpirationTime = true,
            ClockSkew = _options.ClockSkew,
            TryAllIssuerSigningKeys = jwt.Kid is not { Length: > 0 },
        });
        return result.IsValid ? null : TokenCheck.Fail(result.Exception?.Message ?? "invalid");
    }

    private async Task<TokenCheck> FederatedAsync(JsonWebToken jwt, FederatedProvider provider, CancellationToken cancellation)
    {
        var settings = provider.Settings;
        if (await ProviderSignatureAsync(jwt, provider, cancellation) is { } refused) return refused;

        var subject = Claim(jwt, settings.Claims.Subject);
        if (string.IsNullOrWhiteSpace(subject) || subject.Length > 255) return TokenCheck.Fail("no subject");
        var email = Claim(jwt, settings.Claims.Email);
        if (settings.AllowedEmailDomains.Count > 0)
        {
            var domain = email?.Split('@') is [_, var d] ? d.ToLowerInvariant() : null;
            if (domain is null || !settings.AllowedEmailDomains.Contains(domain)) return TokenCheck.Fail("e-mail domain not allowed");
        }
        var groups = Strings(jwt, settings.Claims.Groups);
        var admin = groups.Any(settings.AdminGroups.Contains);
        var claims = new List<Claim>
        {
            new(Claims.Subject, subject), new(Claims.TenantId, provider.Tenant.ToString()), new(Claims.Kind, "user"),
            new(Claims.IdentityProvider, settings.Issuer), new(Claims.Role, admin ? Roles.TenantAdmin : Roles.TenantMember),
            new(ExpiresClaim, new DateTimeOffset(jwt.ValidTo, TimeSpan.Zero).ToUnixTimeSeconds().ToString()),
            new(ConfiguredClaim, provider.ConfiguredAt.UtcTicks.ToString()),
        };
        if (admin) claims.Add(new Claim(Claims.Role, Roles.TenantMember));
        if (email is not null) claims.Add(new Claim(Claims.Email, email));
        // A boolean in the token (some providers send the string "true"); anything else is "not verified".
        if (email is not null && string.Equals(Claim(jwt, Claims.EmailVerified), "true", StringComparison.OrdinalIgnoreCase))
            claims.Add(new Claim(Claims.EmailVerified, "true"));
        if (Claim(jwt, settings.Claims.Name) is { } name) claims.Add(new Claim(Claims.Name, name));
        claims.AddRange(groups.Select(g => new Claim(Claims.Groups, g)));
        // What the security baseline looks at: how strong the sign-in was, how, and when (auth_time, else iat).
        if (Claim(jwt, "acr") is { Length: <= 200 } acr) claims.Add(new Claim(TenantEvents.Compliance.SecurityBaselines.AcrClaim, acr));
        claims.AddRange(Strings(jwt, "amr").Take(20).Select(m => new Claim(TenantEvents.Compliance.SecurityBaselines.AmrClaim, m)));
        if ((Claim(jwt, "auth_time") ?? Claim(jwt, "iat")) is { } signedIn && long.TryParse(signedIn, out var signedInAt))
            claims.Add(new Claim(TenantEvents.Compliance.SecurityBaselines.AuthTimeClaim, signedInAt.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        return new TokenCheck(new ClaimsPrincipal(new ClaimsIdentity(claims, "federated", Claims.Subject, Claims.Role)), null);
    }

    /// <summary>
    /// When a platform token was issued, to the millisecond: its jti is a UUID v7, whose first 48 bits are the Unix time
    /// in milliseconds. iat has whole seconds only, too coarse to tell a token made just before a revocation from one
    /// made just after it.
    /// </summary>
    public static DateTimeOffset IssuedAt(Guid jti)
    {
        Span<byte> bytes = stackalloc byte[16];
        jti.TryWriteBytes(bytes, bigEndian: true, out _);
        long ms = 0;
        for (var i = 0; i < 6; i++) ms = (ms << 8) | bytes[i];
        return DateTimeOffset.FromUnixTimeMilliseconds(ms);
    }

    private static string? Claim(JsonWebToken jwt, string name) =>
        jwt.TryGetPayloadValue<object>(name, out var value) ? value switch { string s => s, null => null, var other => other.ToString() } : null;

    /// <summary>A claim that may be one string or an array of strings (groups).</summary>
    private static IReadOnlyList<string> Strings(JsonWebToken jwt, string name)
    {
        if (jwt.TryGetPayloadValue<string[]>(name, out var many) && many is not null) return many.Where(s => !string.IsNullOrEmpty(s)).ToList();
        if (jwt.TryGetPayloadValue<string>(name, out var one) && !string.IsNullOrEmpty(one)) return [one];
        return [];
    }
}

/// <summary>The Bearer scheme on top of <see cref="TokenValidator"/>, with problem+json challenges.</summary>
public sealed class BearerAuthenticationHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder,
    TokenValidator validator) : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public new const string Scheme = "Bearer";

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var header = Request.Headers.Authorization.ToString();
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)) return AuthenticateResult.NoResult();
        var token = header["Bearer ".Length..].Trim();
        if (token.Length == 0) return AuthenticateResult.Fail("empty bearer token");
        var check = await validator.ValidateAsync(token, Context.RequestAborted);
        if (check.Principal is null)
        {
            Logger.LogDebug("Bearer token refused: {Reason}", check.Failure);
            return AuthenticateResult.Fail(check.Failure ?? "invalid");
        }
        return AuthenticateResult.Success(new AuthenticationTicket(check.Principal, Scheme));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        var failed = (await HandleAuthenticateOnceSafeAsync()).Failure is not null;
        Response.Headers.WWWAuthenticate = failed ? "Bearer error=\"invalid_token\"" : "Bearer";
        if (Request.Path.Value?.Contains("/scim/v2", StringComparison.Ordinal) == true)
        {
            // A SCIM client reads SCIM's error schema.
            await new TenantEvents.Scim.ScimError(401, null, failed ? "The bearer credential was not accepted." : "Send the tenant's SCIM bearer credential.")
                .ToResult().ExecuteAsync(Context);
            return;
        }
        await (failed
                ? Problem.Unauthenticated("The bearer token was not accepted (signature, issuer, audience, lifetime or revocation).")
                : Problem.Unauthenticated("Send a bearer token in the Authorization header."))
            .ToResult().ExecuteAsync(Context);
    }

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties) =>
        Request.Path.Value?.Contains("/scim/v2", StringComparison.Ordinal) == true
            ? new TenantEvents.Scim.ScimError(403, null, "Your roles do not allow provisioning.").ToResult().ExecuteAsync(Context)
            : Problem.Forbidden("Your roles do not allow this operation.").ToResult().ExecuteAsync(Context);
}
