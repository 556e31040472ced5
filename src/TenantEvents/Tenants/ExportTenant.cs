using System.Globalization;
using System.Text.Json;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Wolverine.Http;
using TenantEvents.Audit;
using TenantEvents.Delivery;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Keys;

namespace TenantEvents.Tenants;

/// <summary>One event of the export: its place in the tenant's log and in its stream, and its data as the caller may see it.</summary>
public sealed record TenantExportEvent(long Index, long Seq, Guid EventId, Guid StreamId, string StreamKind, long Version, string Type,
    DateTimeOffset Time, object? Data);

/// <summary>The shape of an export (for the OpenAPI document; the response is written as a stream in this shape).</summary>
public sealed record TenantExport(string Format, DateTimeOffset ExportedAt, Tenant Tenant, IReadOnlyList<TenantExportEvent> Events, JsonElement Ledger);

public static class ExportTenantEndpoint
{
    public const string Format = "tenantevents-export/v2";
    private const int Batch = 500;

    /// <summary>
    /// Everything the platform holds for the tenant, opened: its record, then every event of every stream of the tenant
    /// (the tenant itself, organisations, roles, directory users and groups, service accounts, the identity provider,
    /// case files, sharing agreements, collaborations, webhooks, cross-tenant access, quota alerts) in the order of its
    /// audit log, from the database the tenant is placed in, and the ledger bundle (checkpoints, consistency proofs,
    /// every leaf) that `tenantevents-audit verify` checks offline. Streamed, so its size is not bounded by memory.
    /// Secrets are never in it (credential hashes are removed); content is shown as the caller may see it
    /// (Audit/ContentDisclosure: a platform administrator gets the tenant's case files and people's data as keyed
    /// digests; the tenant's administrators get everything). The last chance before crypto-shredding makes it
    /// unreadable; afterwards this answers 410.
    /// </summary>
    [WolverineGet("/api/tenants/{tenantId}/export", OperationId = "ExportTenant")]
    [Authorize(Roles = $"{Roles.PlatformAdmin},{Roles.TenantAdmin}")]
    public static async Task<IResult> Get(Guid tenantId, HttpContext http, IDocumentStore store, TenantStreams streams, EventFeed feed, AuditLog log,
        ContentDisclosure disclosure, CancellationToken cancellation)
    {
        if (TenantHttp.Invisible(http.Caller(), tenantId) is { } hidden) return hidden;
        await using var session = store.QuerySession(tenantId.ToString());
        try
        {
            var (tenant, _) = await streams.ReplayAsync(session, tenantId, cancellation);
            if (tenant is null) return Problem.NotFound("tenant").ToResult();
            var lens = await disclosure.ForCallerAsync(http.Caller(), tenantId, cancellation);
            await feed.FlushAsync(tenantId, cancellation);
            try
            {
                await log.CheckpointAsync(tenantId, cancellation);
            }
            catch (AuditLogBrokenException)
            {
                // Exported as it is: the auditor's tool names the lost entry.
            }
            http.Response.Headers.ContentDisposition = $"attachment; filename=\"tenant-{tenant.Slug}-v{tenant.Version}.json\"";
            var record = await lens.ShowAsync("tenant", JsonSerializer.SerializeToNode(tenant, Json.Options), cancellation);
            return new ExportResult(tenantId, record, lens, feed, log, streams.Now);
        }
        catch (KeyDestroyedException)
        {
            return Problem.Gone().ToResult();
        }
    }

    private sealed class ExportResult(Guid tenant, System.Text.Json.Nodes.JsonNode? record, DisclosureLens lens, EventFeed feed, AuditLog log,
        DateTimeOffset now) : IResult
    {
        public async Task ExecuteAsync(HttpContext http)
        {
            var cancellation = http.RequestAborted;
            http.Response.ContentType = "application/json";
            var pipe = http.Response.BodyWriter;
            async Task Drain(CancellationToken ct) => await pipe.FlushAsync(ct);
            await using var json = new Utf8JsonWriter(pipe);
            json.WriteStartObject();
            json.WriteString("format", Format);
            json.WriteString("exportedAt", now.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture));
            json.WritePropertyName("tenant");
            JsonSerializer.Serialize(json, record, Json.Options);
            json.WriteStartArray("events");
            long next = 0;
            while (true)
            {
                var events = await feed.ReadAsync(tenant, next, Batch, cancellation);
                foreach (var e in events)
                {
                    var data = await lens.ShowEventAsync(e.Data, cancellation);
                    JsonSerializer.Serialize(json, new TenantExportEvent(e.Index, e.Seq, e.EventId, e.StreamId, e.Kind, e.Version,
                        e.Type[EventFeed.TypePrefix.Length..], e.Time, data), Json.Options);
                    next = e.Index + 1;
                }
                json.Flush();
                await Drain(cancellation);
                if (events.Count < Batch) break;
            }
            json.WriteEndArray();
            // The events stop before an entry the log holds but the store does not (removed behind the service's back):
            // the export says so instead of looking complete; the ledger below names the lost entry.
            var end = await feed.EndAsync(tenant, cancellation);
            json.WriteBoolean("complete", next >= end);
            if (next < end) json.WriteNumber("brokenAt", next);
            json.WritePropertyName("ledger");
            await log.WriteBundleAsync(tenant, json, null, cancellation, Drain);
            json.WriteEndObject();
            json.Flush();
            await Drain(cancellation);
        }
    }
}
