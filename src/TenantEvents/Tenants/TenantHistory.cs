using Marten;
using Microsoft.AspNetCore.Authorization;
using Wolverine.Http;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Security;

namespace TenantEvents.Tenants;

public sealed record TenantEventEntry(long Version, long Sequence, string Type, DateTimeOffset Timestamp, object Data);

public static class TenantHistoryEndpoint
{
    /// <summary>
    /// The tenant's event stream as stored, oldest first, optionally up to a version (replay to a point in time).
    /// The full audit API (before/after, JSON Patch, Merkle proofs) builds on this stream in its own issue.
    /// </summary>
    [WolverineGet("/api/tenants/{tenantId}/events", OperationId = "GetTenantEvents")]
    [Authorize(Roles = $"{Roles.PlatformAdmin},{Roles.Auditor},{Roles.TenantAdmin},{Roles.TenantMember}")]
    public static async Task<IResult> Get(Guid tenantId, HttpContext http, IDocumentStore store, TenantStreams streams,
        TenantEvents.Audit.ContentDisclosure disclosure, CancellationToken cancellation)
    {
        // A tenant member reads its tenant's trail with audit.read at the root organisation.
        if (await TenantHttp.InvisibleAsync(http, tenantId, "audit.read", cancellation) is { } hidden) return hidden;
        long toVersion = 0;
        if (http.Request.Query["toVersion"].ToString() is { Length: > 0 } v && (!long.TryParse(v, out toVersion) || toVersion < 1))
            return Problem.Validation("toVersion", "out-of-range", "must be a stream version of 1 or more.").ToResult();
        await using var session = store.QuerySession(tenantId.ToString());
        IReadOnlyList<TenantEventEntry> entries;
        try
        {
            (var tenant, entries) = await streams.ReplayAsync(session, tenantId, cancellation, toVersion);
            if (tenant is null) return Problem.NotFound("tenant").ToResult();
            // Each event's data as the caller may see it (contacts are people's data: Audit/ContentDisclosure).
            var lens = await disclosure.ForCallerAsync(http.Caller(), tenantId, cancellation);
            var shown = new List<TenantEventEntry>(entries.Count);
            foreach (var entry in entries) shown.Add(entry with { Data = (object?)await lens.ShowEventAsync(entry.Data, cancellation) ?? entry.Data });
            entries = shown;
        }
        catch (TenantEvents.Keys.KeyDestroyedException)
        {
            return Problem.Gone().ToResult();
        }
        return Results.Json(entries, Json.Options);
    }
}
