using Microsoft.AspNetCore.Authorization;
using TenantEvents.Identity;
using TenantEvents.Infrastructure;
using TenantEvents.Tenants;
using Wolverine.Http;

namespace TenantEvents.WebConsole;

/// <summary>The console's sign-in choices: where a tenant's people sign in, and whether development tokens are taken.</summary>
public sealed record ConsoleSignInOptions(bool Development, ConsoleProvider? Platform);

/// <summary>
/// A public client's view of an OpenID provider: its issuer, and the client id the console presents there (the audience
/// the tenant configured: register the console under that client id, redirect URI {PublicUrl}/console/).
/// </summary>
public sealed record ConsoleProvider(string Issuer, string ClientId, Guid? TenantId);

public sealed record ConsoleTenantSignIn(ConsoleProvider Provider);

/// <summary>
/// GET /api/console/sign-in (anonymous): what the sign-in page offers. With ?tenant=SHORT-NAME, that tenant's OpenID
/// provider, as a sign-in page names it to anyone who types the name (as Keycloak's realm or Entra's tenant sign-in do).
/// A short name nobody holds, a tenant that is not active and a tenant without a provider all answer the same 404.
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
                options.PlatformIdentityProvider is { Configured: true } staff ? new ConsoleProvider(staff.Issuer, staff.Audience, null) : null), Json.Options);
        if (slug.Length > 100) return Problem.Validation("tenant", "too-long", "is at most 100 characters.").ToResult();
        await using var command = streams.Directory.Main.CreateCommand($"select tenant from {streams.Directory.Schema}.tenant_slugs where slug = $1");
        command.Parameters.Add(new Npgsql.NpgsqlParameter { Value = slug });
        var none = new Problem("not-found", 404, "Not found", "No sign-in is set up under that name.").ToResult();
        if (await command.ExecuteScalarAsync(cancellation) is not Guid tenant) return none;
        var state = await streams.CurrentAsync(tenant, cancellation);
        if (state is not { State: TenantState.Active }) return none;
        var provider = await federation.ForTenantAsync(tenant, cancellation);
        if (provider is null) return none;
        return Results.Json(new ConsoleTenantSignIn(new ConsoleProvider(provider.Settings.Issuer, provider.Settings.Audience, tenant)), Json.Options);
    }
}
