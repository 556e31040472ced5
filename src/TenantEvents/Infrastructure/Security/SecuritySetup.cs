using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Authorization;
using Microsoft.IdentityModel.Tokens;

namespace TenantEvents.Infrastructure.Security;

public static class SecuritySetup
{
    /// <summary>
    /// Bearer tokens only. In Development the local dev-token key is trusted; in every other environment no issuer is
    /// trusted yet (federation with real identity providers arrives with its own issue), so every token is refused.
    /// Deny by default: the fallback policy demands an authenticated caller on every endpoint that does not opt out.
    /// </summary>
    public static IServiceCollection AddTenantEventsSecurity(this IServiceCollection services, IHostEnvironment environment,
        TenantEventsOptions options)
    {
        var trustedKeys = new List<SecurityKey>();
        if (environment.IsDevelopment() && options.DevTokens)
            trustedKeys.Add(DevTokenKeyFile.Load(options.DataFolder));

        services.AddAuthentication(JwtBearerDefaults.AuthenticationScheme)
            .AddJwtBearer(jwt =>
            {
                jwt.MapInboundClaims = false;
                jwt.TokenValidationParameters = new TokenValidationParameters
                {
                    ValidIssuer = DevTokens.Issuer,
                    ValidAudience = DevTokens.Audience,
                    IssuerSigningKeys = trustedKeys,
                    ValidAlgorithms = [SecurityAlgorithms.EcdsaSha256],
                    RequireSignedTokens = true,
                    RequireExpirationTime = true,
                    ClockSkew = TimeSpan.FromSeconds(30),
                    NameClaimType = Claims.Subject,
                    RoleClaimType = Claims.Role,
                };
                jwt.Events = new JwtBearerEvents
                {
                    OnChallenge = async context =>
                    {
                        context.HandleResponse();
                        context.Response.Headers.WWWAuthenticate = context.AuthenticateFailure is null
                            ? "Bearer"
                            : "Bearer error=\"invalid_token\"";
                        await Problem.Unauthenticated(context.AuthenticateFailure is null
                                ? "Send a bearer token in the Authorization header."
                                : "The bearer token was not accepted (signature, issuer, audience or lifetime).")
                            .ToResult().ExecuteAsync(context.HttpContext);
                    },
                    OnForbidden = context =>
                        Problem.Forbidden("Your roles do not allow this operation.").ToResult().ExecuteAsync(context.HttpContext),
                };
            });

        services.AddSingleton<Microsoft.AspNetCore.Authorization.IAuthorizationMiddlewareResultHandler, TenantScopedForbidden>();
        services.AddAuthorizationBuilder()
            .SetFallbackPolicy(new AuthorizationPolicyBuilder().RequireAuthenticatedUser().Build());
        return services;
    }
}

/// <summary>Loads the development key, creating it on first use; safe when two processes start at once.</summary>
public static class DevTokenKeyFile
{
    public static ECDsaSecurityKey Load(string dataFolder)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return DevTokens.LoadOrCreateKey(dataFolder);
            }
            catch (IOException) when (attempt < 5)
            {
                // Another process created the file between our check and our create: read theirs.
                Thread.Sleep(50);
            }
        }
    }
}
