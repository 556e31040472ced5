using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Authorization;
using TenantEvents.Audit;
using TenantEvents.Identity;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Keys;
using TenantEvents.Organisations;
using TenantEvents.Tenants;
using Wolverine.Http;

namespace TenantEvents.Delivery;

/// <summary>
/// Wakes the readers of a tenant's event stream when its events are committed (from the database's notifications), and
/// counts the streams open on this instance (per tenant and in all) so that one tenant cannot hold every connection.
/// </summary>
public sealed class EventSignals
{
    private readonly ConcurrentDictionary<Guid, TaskCompletionSource> _waiting = new();
    private readonly ConcurrentDictionary<Guid, int> _open = new();
    private int _total;

    public void Committed(Guid tenant)
    {
        if (_waiting.TryRemove(tenant, out var waiting)) waiting.TrySetResult();
    }

    /// <summary>Completes at the tenant's next commit (or never; the caller bounds the wait).</summary>
    public Task Next(Guid tenant) => _waiting.GetOrAdd(tenant, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;

    /// <summary>Takes a stream slot for the tenant; false when the tenant's or the instance's limit is reached.</summary>
    public bool TryOpen(Guid tenant, int perTenant, int perInstance)
    {
        if (Interlocked.Increment(ref _total) > perInstance)
        {
            Interlocked.Decrement(ref _total);
            return false;
        }
        var mine = _open.AddOrUpdate(tenant, 1, (_, n) => n + 1);
        if (mine <= perTenant) return true;
        Close(tenant);
        return false;
    }

    public void Close(Guid tenant)
    {
        _open.AddOrUpdate(tenant, 0, (_, n) => Math.Max(0, n - 1));
        Interlocked.Decrement(ref _total);
    }

    public int OpenFor(Guid tenant) => _open.TryGetValue(tenant, out var n) ? n : 0;
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
    /// at the root, while the tenant is active. Authorisation is not decided once at open: every cycle the token is
    /// validated again (expiry, revocation, a disabled account, a person deactivated in the directory), events.read is
    /// checked again and the tenant must still be active; the stream ends when any of these fails. Each event's content
    /// is shown as the caller's lens (Audit/ContentDisclosure) allows, re-made every cycle.
    /// </summary>
    [WolverineGet("/api/tenants/{tenantId}/events/stream", OperationId = "StreamTenantEvents")]
    [Authorize(Roles = WebhookHttp.TenantRoles)]
    public static async Task<IResult> Get(Guid tenantId, HttpContext http, EventFeed feed, EventSignals signals, ContentDisclosure disclosure,
        TokenValidator tokens, OrganisationStore organisations, TenantEventsOptions options, CancellationToken cancellation)
    {
        if (await Refusal(http, tenantId, organisations, cancellation) is { } refusal) return refusal;
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
            var lens = await disclosure.ForCallerAsync(http.Caller(), tenantId, cancellation);
            if (!signals.TryOpen(tenantId, options.EventStreamsPerTenant, options.EventStreamsPerInstance))
                return new Problem("too-many-streams", 429, "Too many event streams open",
                    $"At most {options.EventStreamsPerTenant} event streams of one tenant may be open at once on an instance; close one or use a webhook.")
                    .ToResult();
            var token = http.Request.Headers.Authorization.ToString() is var header && header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)
                ? header["Bearer ".Length..].Trim() : "";
            return new Stream(tenantId, from, types, feed, signals, lens, async ct =>
            {
                // The same checks as at open, on the token as it stands now.
                var check = await tokens.ValidateAsync(token, ct);
                if (check.Principal is null) return null;
                http.User = check.Principal;
                if (await Refusal(http, tenantId, organisations, ct) is not null) return null;
                return await disclosure.ForCallerAsync(http.Caller(), tenantId, ct);
            });
        }
        catch (KeyDestroyedException)
        {
            return Problem.Gone().ToResult();
        }
    }

    /// <summary>Why the caller may not follow the tenant's events now (null: it may).</summary>
    private static async Task<IResult?> Refusal(HttpContext http, Guid tenantId, OrganisationStore organisations, CancellationToken cancellation)
    {
        var caller = http.Caller();
        if (!caller.AdministersTenant(tenantId) && !caller.IsMemberOf(tenantId)) return Problem.NotFound("tenant").ToResult();
        if (await TenantHttp.InvisibleAsync(http, tenantId, "events.read", cancellation) is { } hidden) return hidden;
        var status = await organisations.ReadAsync(tenantId, (s, _) => s, cancellation);
        if (status.Shredded) return Problem.Gone().ToResult();
        return status.State == nameof(TenantState.Active) ? null
            : new Problem("tenant-not-active", 409, "The tenant is not active", "A tenant's events can be followed while it is active.")
                .With("state", status.State).ToResult();
    }

    private sealed class Stream(Guid tenant, long from, IReadOnlyList<string> types, EventFeed feed, EventSignals signals, DisclosureLens lens,
        Func<CancellationToken, Task<DisclosureLens?>> reauthorise) : IResult
    {
        public async Task ExecuteAsync(HttpContext http)
        {
            try
            {
                await RunAsync(http);
            }
            finally
            {
                signals.Close(tenant);
            }
        }

        private async Task RunAsync(HttpContext http)
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
            var first = true;
            try
            {
                while (!cancellation.IsCancellationRequested)
                {
                    var next = signals.Next(tenant);
                    // Every cycle but the first (decided a moment ago at open): still allowed, and with what lens.
                    if (!first)
                    {
                        if (await reauthorise(cancellation) is not { } now)
                        {
                            await body.WriteAsync("event: end\ndata: {\"reason\":\"authorisation-ended\"}\n\n"u8.ToArray(), cancellation);
                            await body.FlushAsync(cancellation);
                            return;
                        }
                        lens = now;
                    }
                    first = false;
                    await feed.FlushAsync(tenant, cancellation);
                    var events = await feed.ReadAsync(tenant, position, Batch, cancellation);
                    foreach (var e in events)
                    {
                        position = e.Index + 1;
                        if (!EventFeed.Matches(types, e.Type)) continue;
                        var data = JsonSerializer.Serialize(await feed.CloudEventAsync(e, lens, cancellation));
                        var text = $"id: {e.Index.ToString(CultureInfo.InvariantCulture)}\nevent: {e.Type}\ndata: {data}\n\n";
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
