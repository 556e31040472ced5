using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Authorization;
using Wolverine.Http;
using TenantEvents.Infrastructure;
using TenantEvents.Tenants;

namespace TenantEvents.Audit;

/// <summary>
/// GET /api/tenants/{id}/audit/entries: the audit trail, oldest first, by stream, actor, event type and time range
/// (from inclusive, to exclusive), paginated by cursor (the last entry's index). format=ndjson or csv (or Accept:
/// application/x-ndjson, text/csv) exports every matching entry as a stream instead of a page.
/// </summary>
public static class AuditEntriesEndpoint
{
    public const int ExportBatch = 500;

    [WolverineGet("/api/tenants/{tenantId}/audit/entries", OperationId = "GetAuditEntries")]
    [Authorize(Roles = AuditHttp.Readers)]
    public static async Task<IResult> Get(Guid tenantId, HttpContext http, TenantStreams streams, AuditProjector projector,
        ContentDisclosure disclosure, CancellationToken cancellation)
    {
        var (refusal, record) = await AuditHttp.GuardAsync(http, tenantId, streams, cancellation);
        if (refusal is not null) return refusal;
        if (record!.Shredded) return Problem.Gone().ToResult();
        var request = http.Request;
        var errors = new List<FieldError>();
        Guid? stream = null;
        if (request.Query["stream"].ToString() is { Length: > 0 } s)
            if (Guid.TryParse(s, out var g)) stream = g; else errors.Add(new("stream", "invalid", "must be a stream id (UUID)."));
        DateTimeOffset? Time(string name)
        {
            var text = request.Query[name].ToString();
            if (text.Length == 0) return null;
            if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var t)) return t;
            errors.Add(new(name, "invalid", "must be an ISO 8601 date-time."));
            return null;
        }
        var from = Time("from");
        var to = Time("to");
        if (from is not null && to is not null && to < from) errors.Add(new("to", "out-of-range", "must not be before from."));
        var limit = streams.Options.MaxPageSize;
        if (!AuditHttp.TryLong(request, "after", 0, out var after, out var afterError)) return afterError!;
        if (!AuditHttp.TryLong(request, "limit", 1, out var askedLimit, out var limitError)) return limitError!;
        if (askedLimit is { } l)
        {
            if (l > streams.Options.MaxPageSize) errors.Add(new("limit", "out-of-range", $"must be at most {streams.Options.MaxPageSize}."));
            else limit = (int)l;
        }
        var format = request.Query["format"].ToString() is { Length: > 0 } f ? f
            : request.Headers.Accept.ToString().Contains("application/x-ndjson", StringComparison.OrdinalIgnoreCase) ? "ndjson"
            : request.Headers.Accept.ToString().Contains("text/csv", StringComparison.OrdinalIgnoreCase) ? "csv" : "json";
        if (format is not ("json" or "ndjson" or "csv")) errors.Add(new("format", "invalid", "must be json, ndjson or csv."));
        var actor = request.Query["actor"].ToString() is { Length: > 0 } a ? a : null;
        var type = request.Query["type"].ToString() is { Length: > 0 } t ? t : null;
        if (errors.Count > 0) return Problem.Validation(errors).ToResult();

        if (!await projector.CatchUpAsync(tenantId, cancellation)) return Problem.Gone().ToResult();
        var lens = await disclosure.ForCallerAsync(http.Caller(), tenantId, cancellation);
        var query = new AuditQuery(stream, actor, type, from, to, after, limit);
        if (format == "json")
        {
            var page = await projector.QueryAsync(tenantId, query, lens, cancellation);
            return Results.Json(new { entries = page, next = page.Count == limit ? page[^1].Index : (long?)null }, Json.Options);
        }
        return new ExportResult(tenantId, projector, lens, query with { Limit = ExportBatch }, format);
    }

    /// <summary>Every matching entry, streamed in batches: one JSON object per line, or CSV rows (RFC 4180).</summary>
    private sealed class ExportResult(Guid tenant, AuditProjector projector, DisclosureLens lens, AuditQuery query, string format) : IResult
    {
        public async Task ExecuteAsync(HttpContext http)
        {
            var cancellation = http.RequestAborted;
            http.Response.ContentType = format == "csv" ? "text/csv; charset=utf-8" : "application/x-ndjson";
            http.Response.Headers.ContentDisposition = $"attachment; filename=\"audit-{tenant}.{format}\"";
            var output = http.Response.Body;
            if (format == "csv")
                await output.WriteAsync(Encoding.UTF8.GetBytes(
                    "index,seq,eventId,streamId,streamKind,version,type,time,actorSubject,actorKind,actorTenant,clientId,onBehalfOf,correlationId,causationId,retainUntil,before,after,patch\r\n"),
                    cancellation);
            var q = query;
            while (true)
            {
                var batch = await projector.QueryAsync(tenant, q, lens, cancellation);
                var text = new StringBuilder();
                foreach (var e in batch)
                {
                    if (format == "ndjson") text.Append(JsonSerializer.Serialize(e, Json.Options)).Append('\n');
                    else
                    {
                        string[] cells =
                        [
                            e.Index.ToString(CultureInfo.InvariantCulture), e.Seq.ToString(CultureInfo.InvariantCulture), e.EventId.ToString(), e.StreamId.ToString(),
                            e.StreamKind, e.Version.ToString(CultureInfo.InvariantCulture), e.Type, e.Time.UtcDateTime.ToString("O"), e.Actor.Subject ?? "",
                            e.Actor.Kind ?? "", e.Actor.TenantId?.ToString() ?? "", e.Actor.ClientId ?? "", e.OnBehalfOf?.ToString() ?? "", e.CorrelationId ?? "",
                            e.CausationId ?? "", e.RetainUntil.UtcDateTime.ToString("O"), e.Before?.ToJsonString() ?? "", e.After?.ToJsonString() ?? "",
                            e.Patch.ToJsonString(),
                        ];
                        text.Append(CsvText.Row(cells));
                    }
                }
                await output.WriteAsync(Encoding.UTF8.GetBytes(text.ToString()), cancellation);
                if (batch.Count < q.Limit) break;
                q = q with { After = batch[^1].Index };
            }
        }
    }
}
