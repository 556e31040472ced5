using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.IdentityModel.Tokens;

namespace TenantEvents.Infrastructure.Security;

public static class SecuritySetup
{
    /// <summary>
    /// Bearer tokens only, judged by their issuer (Identity/BearerAuthentication.cs): the platform's own service tokens,
    /// each tenant's identity provider, and in Development the local dev-token key. Deny by default: the fallback
    /// policy demands an authenticated caller on every endpoint that does not opt out.
    /// </summary>
    public static IServiceCollection AddTenantEventsSecurity(this IServiceCollection services, IHostEnvironment environment,
        TenantEventsOptions options, Npgsql.NpgsqlDataSource main, Npgsql.NpgsqlDataSource platform)
    {
        // The signing keys are the platform's: written as the platform role, which the service's role cannot impersonate.
        services.AddSingleton(provider => new TenantEvents.Identity.PlatformSigningKeys(platform, options,
            provider.GetRequiredService<TenantEvents.Keys.IKeyService>(), TimeProvider.System));
        services.AddSingleton(provider => new TenantEvents.Identity.CredentialRevocations(main, options,
            provider.GetRequiredService<ILogger<TenantEvents.Identity.CredentialRevocations>>(), platform));
        services.AddHostedService(provider => provider.GetRequiredService<TenantEvents.Identity.CredentialRevocations>());
        services.AddSingleton(provider => new TenantEvents.Identity.FederationRegistry(main, options,
            provider.GetRequiredService<Marten.IDocumentStore>(), provider.GetRequiredService<TenantEvents.Infrastructure.Outbound.OutboundHttp>(),
            provider.GetRequiredService<ILogger<TenantEvents.Identity.FederationRegistry>>()));
        services.AddSingleton<TenantEvents.Identity.FederatedUsers>();
        services.AddSingleton<TenantEvents.Identity.TokenValidator>();
        services.AddSingleton<AnonymousRateLimit>();
        services.AddSingleton<TenantEvents.Identity.ServiceAccountStore>();

        services.AddAuthentication(TenantEvents.Identity.BearerAuthenticationHandler.Scheme)
            .AddScheme<AuthenticationSchemeOptions, TenantEvents.Identity.BearerAuthenticationHandler>(
                TenantEvents.Identity.BearerAuthenticationHandler.Scheme, _ => { });

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
