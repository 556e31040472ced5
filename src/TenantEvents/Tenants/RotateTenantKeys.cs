using Microsoft.AspNetCore.Authorization;
using Wolverine.Http;
using Wolverine.Runtime;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Keys;

namespace TenantEvents.Tenants;

public sealed record RotateTenantKeys(KeyKind? Key);

public static class RotateTenantKeysEndpoint
{
    /// <summary>
    /// Rotates the tenant's data key (new writes sealed with a new version) or its key-encryption key (every data key
    /// re-wrapped, nothing re-encrypted), and records the rotation in the tenant's stream.
    /// </summary>
    [WolverinePost("/api/tenants/{tenantId}/keys/rotate", OperationId = "RotateTenantKeys")]
    [Authorize(Roles = Roles.PlatformAdmin)]
    public static async Task<IResult> Post(Guid tenantId, RotateTenantKeys? command, HttpContext http, TenantStreams streams,
        MessageContext context, CancellationToken cancellation)
    {
        var errors = command?.Key is null
            ? [new FieldError("key", "required", "must be \"data\" or \"key-encryption\".")]
            : TenantHttp.NoErrors;
        if (TenantHttp.Invisible(http.Caller(), tenantId) is { } hidden) return hidden;
        if (errors.Count > 0) return Problem.Validation(errors).ToResult();

        // The tenant must exist and be readable (not shredded) before its keys are touched.
        var exists = await streams.Execute(context, tenantId, null, (_, _) => Decision.Accept(), cancellation);
        if (exists is not Applied) return exists.Respond(http, "rotate keys");

        string reference;
        try
        {
            reference = command!.Key == KeyKind.Data
                ? (await streams.Keys.RotateDataKeyAsync(tenantId, cancellation)).ToString(System.Globalization.CultureInfo.InvariantCulture)
                : await streams.Keys.RotateKeyEncryptionKeyAsync(tenantId, cancellation);
        }
        catch (KeyDestroyedException)
        {
            return Problem.Gone().ToResult();
        }
        return await TenantHttp.Command(http, streams, context, tenantId, "rotate keys", TenantHttp.NoErrors,
            (by, tenant, now) => TenantDecisions.RecordKeyRotation(tenant, command.Key!.Value, reference, by, now), cancellation);
    }
}
