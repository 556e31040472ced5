using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Authorization;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Keys;
using TenantEvents.Tenants;
using Wolverine.Http;

namespace TenantEvents.Delivery;

/// <summary>Wakes the readers of a tenant's event stream when its events are committed (from the database's notifications).</summary>
public sealed class EventSignals
{
    private readonly ConcurrentDictionary<Guid, TaskCompletionSource> _waiting = new();

    public void Committed(Guid tenant)
    {
        if (_waiting.TryRemove(tenant, out var waiting)) waiting.TrySetResult();
    }

    /// <summary>Completes at the tenant's next commit (or never; the caller bounds the wait).</summary>
    public Task Next(Guid tenant) => _waiting.GetOrAdd(tenant, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
}

public static class EventStreamEndpoint
{
    private const int Batch = 200;
    private static readonly TimeSpan Heartbeat = TimeSpan.FromSeconds(15);

    /// <summary>
    /// The tenant's events as server-sent events (text/event-stream), each a CloudEvent with its log index as the SSE id:
    /// a client that reconnects with Last-Event-ID (or ?after=) resumes right after what it had, with nothing lost and
    /// nothing repeated. Without a position it starts with the next event (?after=-1: from the first). Filter with
    /// ?types= (repeatable; a trailing * for a prefix). The tenant's own administrators, and members with events.read
    /// at the root.
    /// </summary>
    [WolverineGet("/api/tenants/{tenantId}/events/stream", OperationId = "StreamTenantEvents")]
    [Authorize(Roles = WebhookHttp.TenantRoles)]
    public static async Task<IResult> Get(Guid tenantId, HttpContext http, EventFeed feed, EventSignals signals, CancellationToken cancellation)
    {
        var caller = http.Caller();
        if (!caller.AdministersTenant(tenantId) && !caller.IsMemberOf(tenantId)) return Problem.NotFound("tenant").ToResult();
        if (await TenantHttp.InvisibleAsync(http, tenantId, "events.read", cancellation) is { } hidden) return hidden;
        var errors = new List<FieldError>();
        long? after = null;
        var position = http.Request.Headers["Last-Event-ID"].ToString() is { Length: > 0 } last ? last : http.Request.Query["after"].ToString();
        if (position.Length > 0)
        {
            if (long.TryParse(position, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var a) && a >= -1) after = a;
            else errors.Add(new("after", "invalid-position", "Last-Event-ID or after must be the id of an event received (a log index), or -1 for the first."));
        }
        var types = WebhookDecisions.Types(http.Request.Query["types"].ToArray(), EventFeed.AllTypes, errors);
        if (errors.Count > 0) return Problem.Validation(errors).ToResult();
        try
        {
            await feed.FlushAsync(tenantId, cancellation);
            var from = after is { } p ? p + 1 : await feed.EndAsync(tenantId, cancellation);
            return new Stream(tenantId, from, types, feed, signals);
        }
        catch (KeyDestroyedException)
        {
            return Problem.Gone().ToResult();
        }
    }

    private sealed class Stream(Guid tenant, long from, IReadOnlyList<string> types, EventFeed feed, EventSignals signals) : IResult
    {
        public async Task ExecuteAsync(HttpContext http)
        {
            var cancellation = http.RequestAborted;
            http.Response.ContentType = "text/event-stream; charset=utf-8";
            http.Response.Headers.CacheControl = "no-cache";
            http.Response.Headers["X-Accel-Buffering"] = "no";
            var body = http.Response.Body;
            // The client waits this long before reconnecting after a drop.
            await body.WriteAsync("retry: 2000\n\n"u8.ToArray(), cancellation);
            await http.Response.Body.FlushAsync(cancellation);
            var position = from;
            var quiet = System.Diagnostics.Stopwatch.GetTimestamp();
            try
            {
                while (!cancellation.IsCancellationRequested)
                {
                    var next = signals.Next(tenant);
                    await feed.FlushAsync(tenant, cancellation);
                    var events = await feed.ReadAsync(tenant, position, Batch, cancellation);
                    foreach (var e in events)
                    {
                        position = e.Index + 1;
                        if (!EventFeed.Matches(types, e.Type)) continue;
                        var text = $"id: {e.Index.ToString(CultureInfo.InvariantCulture)}\nevent: {e.Type}\ndata: {JsonSerializer.Serialize(feed.CloudEvent(e))}\n\n";
                        await body.WriteAsync(Encoding.UTF8.GetBytes(text), cancellation);
                    }
                    if (events.Count > 0) await body.FlushAsync(cancellation);
                    if (events.Count == Batch) continue;
                    if (events.Count > 0) quiet = System.Diagnostics.Stopwatch.GetTimestamp();
                    // Woken by the next commit; a second at most (a commit on another instance, or notifications off).
                    await Task.WhenAny(next, Task.Delay(TimeSpan.FromSeconds(1), cancellation));
                    if (System.Diagnostics.Stopwatch.GetElapsedTime(quiet) >= Heartbeat)
                    {
                        await body.WriteAsync(": keep-alive\n\n"u8.ToArray(), cancellation);
                        await body.FlushAsync(cancellation);
                        quiet = System.Diagnostics.Stopwatch.GetTimestamp();
                    }
                }
            }
            catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
            {
            }
            catch (KeyDestroyedException)
            {
                // The tenant was shredded while the stream was open: nothing more can be read; the stream ends.
            }
        }
    }
}
