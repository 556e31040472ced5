using Microsoft.AspNetCore.Authorization;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Security;
using Wolverine.Http;

namespace TenantEvents.Identity;

public sealed record SigningKeyView(string Kid, string Algorithm, string State, DateTimeOffset CreatedAt, DateTimeOffset? RetiredAt);

/// <summary>The platform's token signing keys: list, and rotate now (they also rotate by themselves after SigningKeyLifetime).</summary>
public static class SigningKeyEndpoints
{
    [WolverineGet("/api/platform/signing-keys", OperationId = "ListSigningKeys")]
    [Authorize(Roles = $"{Roles.PlatformAdmin},{Roles.Auditor}")]
    public static async Task<IResult> List(PlatformSigningKeys keys, CancellationToken cancellation)
    {
        var published = await keys.PublishedAsync(cancellation);
        return Results.Json(new { items = published.Select(View) }, Json.Options);
    }

    /// <summary>A new signing key from now on; tokens signed by the old one stay valid until they expire.</summary>
    [WolverinePost("/api/platform/signing-keys/rotate", OperationId = "RotateSigningKey")]
    [Authorize(Roles = Roles.PlatformAdmin)]
    public static async Task<IResult> Rotate(PlatformSigningKeys keys, CancellationToken cancellation) =>
        Results.Json(View(await keys.RotateAsync(onlyIfDue: false, cancellation)), Json.Options, statusCode: StatusCodes.Status201Created);

    private static SigningKeyView View(SigningKey k) => new(k.Kid, "ES256", k.Active ? "signing" : "retired", k.CreatedAt, k.RetiredAt);
}
