using Marten;
using Microsoft.AspNetCore.Authorization;
using Wolverine.Http;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Keys;

namespace TenantEvents.Tenants;

public sealed record TenantExport(string Format, DateTimeOffset ExportedAt, Tenant Tenant, IReadOnlyList<TenantEventEntry> Events);

public static class ExportTenantEndpoint
{
    /// <summary>
    /// Everything the platform holds for the tenant, opened: its read model and every event. The last chance before
    /// crypto-shredding makes it unreadable; afterwards this answers 410.
    /// </summary>
    [WolverineGet("/api/tenants/{tenantId}/export", OperationId = "ExportTenant")]
    [Authorize(Roles = $"{Roles.PlatformAdmin},{Roles.TenantAdmin}")]
    public static async Task<IResult> Get(Guid tenantId, HttpContext http, IDocumentStore store, TenantStreams streams,
        CancellationToken cancellation)
    {
        if (TenantHttp.Invisible(http.Caller(), tenantId) is { } hidden) return hidden;
        await using var session = store.QuerySession(tenantId.ToString());
        try
        {
            var (tenant, events) = await streams.ReplayAsync(session, tenantId, cancellation);
            if (tenant is null) return Problem.NotFound("tenant").ToResult();
            http.Response.Headers.ContentDisposition = $"attachment; filename=\"tenant-{tenant.Slug}-v{tenant.Version}.json\"";
            return Results.Json(new TenantExport("tenantevents-export/v1", streams.Now, tenant, events), Json.Options);
        }
        catch (KeyDestroyedException)
        {
            return Problem.Gone().ToResult();
        }
    }
}
