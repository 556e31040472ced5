using Microsoft.AspNetCore.Authorization;
using Wolverine.Http;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Security;

namespace TenantEvents.Keys;

public sealed record KeyServiceStatus(string Provider, string WrapAlgorithm, bool Sealing, long UnwrapsSinceStart);

public static class KeyServiceStatusEndpoint
{
    /// <summary>For operators: which key service is in use and how often it was asked to unwrap a data key.</summary>
    [WolverineGet("/api/platform/key-service", OperationId = "GetKeyServiceStatus")]
    [Authorize(Roles = Roles.PlatformAdmin)]
    public static IResult Get(IKeyService keys, TenantKeyRing ring, TenantEventsOptions options) =>
        Results.Json(new KeyServiceStatus(keys.Provider, keys.WrapAlgorithm, options.Sealing, ring.UnwrapCount), Json.Options);
}
