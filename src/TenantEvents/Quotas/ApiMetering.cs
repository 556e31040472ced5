using System.Globalization;
using System.Threading.RateLimiting;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Organisations;
using TenantEvents.Tenants;

namespace TenantEvents.Quotas;

/// <summary>
/// Fair share: a token bucket per tenant on each instance (<see cref="TenantEventsOptions.FairShareRequestsPerSecond"/>,
/// <see cref="TenantEventsOptions.FairShareBurst"/>), so that one tenant's flood is turned away at the door, cheaply,
/// before it reaches the handlers, the database or the other tenants' share of the threads.
/// </summary>
public sealed class FairShare : IDisposable
{
    private readonly PartitionedRateLimiter<Guid>? _limiter;

    public FairShare(TenantEventsOptions options)
    {
        if (options.FairShareRequestsPerSecond <= 0) return;
        // Refilled ten times a second: smoother than whole seconds, and the Retry-After it gives is short.
        var perTick = Math.Max(1, options.FairShareRequestsPerSecond / 10);
        _limiter = PartitionedRateLimiter.Create<Guid, Guid>(tenant => RateLimitPartition.GetTokenBucketLimiter(tenant, _ => new TokenBucketRateLimiterOptions
        {
            TokenLimit = Math.Max(options.FairShareBurst, perTick),
            TokensPerPeriod = perTick,
            ReplenishmentPeriod = TimeSpan.FromMilliseconds(100),
            QueueLimit = 0,
            AutoReplenishment = true,
        }));
    }

    /// <summary>Whether the tenant may make a request now; otherwise how long to wait.</summary>
    public bool TryEnter(Guid tenant, out TimeSpan retryAfter)
    {
        retryAfter = TimeSpan.Zero;
        if (_limiter is null) return true;
        using var lease = _limiter.AttemptAcquire(tenant);
        if (lease.IsAcquired) return true;
        retryAfter = lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? wait : TimeSpan.FromSeconds(1);
        return false;
    }

    public void Dispose() => _limiter?.Dispose();
}

/// <summary>
/// Every request of a tenant's caller (its users, service accounts, directory) passes here after authentication: first
/// its tenant's fair share (429 rate-limited), then its API call quotas, charged to the caller's own tenant: at the
/// organisation the route names when the caller holds something there, else at the tenant as a whole (429
/// quota-exceeded with the figures and Retry-After = when the period resets). Counting is in memory
/// (<see cref="QuotaLedger"/>): no event, no database write per request. Platform staff and anonymous requests are not
/// a tenant's calls and pass. GraphQL's REST-backed fields are REST calls run in process
/// (<see cref="TenantEvents.GraphQL.ApiInvoker"/>): each passes here too, so it is fair-shared and charged like the
/// REST call it is.
/// </summary>
public sealed class ApiMetering(QuotaLedger ledger, FairShare fairShare, OrganisationStore organisations, Clock clock, TenantEventsOptions options,
    TenantEvents.Operations.TenantLabels labels) : IMiddleware
{
    private static readonly byte[][] RateLimitedBodies = Enumerable.Range(0, 61).Select(seconds => System.Text.Encoding.UTF8.GetBytes(
        System.Text.Json.JsonSerializer.Serialize(new Problem("rate-limited", 429, "Too many requests from this tenant",
            $"The tenant's share of this service is used up for the moment; retry after {seconds} s.").With("retryAfterSeconds", seconds),
            Json.Options))).ToArray();

    private static byte[] RateLimitedBody(int seconds) => RateLimitedBodies[Math.Clamp(seconds, 0, 60)];

    public async Task InvokeAsync(HttpContext http, RequestDelegate next)
    {
        if (!options.QuotaMetering || http.User.FindFirst(Claims.TenantId)?.Value is not { } claim || !Guid.TryParse(claim, out var tenant)
            || http.User.Identity?.IsAuthenticated != true)
        {
            await next(http);
            return;
        }
        // Counted once the answer is known, whatever it is (refusals below included), under a bounded tenant label.
        var label = labels.For(tenant);
        http.Response.OnCompleted(() =>
        {
            TenantEvents.Operations.OperationsMetrics.TenantRequests.Add(1, new KeyValuePair<string, object?>("tenant", label),
                new KeyValuePair<string, object?>("status_class", (http.Response.StatusCode / 100) + "xx"));
            return Task.CompletedTask;
        });
        if (http.User.FindFirst(Claims.QuotaRefusal)?.Value is { } licence)
        {
            // A person the directory could not record at first sign-in: no licence was free.
            var figures = System.Text.Json.JsonSerializer.Deserialize<Dictionary<string, System.Text.Json.JsonElement>>(licence, Json.Options)!;
            var problem = new Problem("quota-exceeded", 403, "A quota is exhausted",
                "No licence is free for you: the tenant's licences are all held by active users. Ask your administrator.");
            foreach (var (key, value) in figures.Where(f => f.Key != "type")) problem.With(key, value);
            await problem.ToResult().ExecuteAsync(http);
            return;
        }
        if (!fairShare.TryEnter(tenant, out var wait))
        {
            // The flood's answer costs as little as possible: a body made once per wait, no serializer.
            var seconds = Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds));
            http.Response.StatusCode = 429;
            http.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
            http.Response.ContentType = Problem.ContentType;
            await http.Response.Body.WriteAsync(RateLimitedBody(seconds), http.RequestAborted);
            return;
        }
        Guid? organisation = http.GetRouteValue("orgId") is string org && Guid.TryParse(org, out var o) && await MayChargeAtAsync(http, tenant, o)
            ? o : null;
        if (await ledger.ChargeApiCallAsync(tenant, organisation, http.RequestAborted) is { } refusal)
        {
            var seconds = Math.Max(1, (long)Math.Ceiling((refusal.ResetAt - clock.UtcNow).TotalSeconds));
            http.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
            await refusal.ToProblem(429).ToResult().ExecuteAsync(http);
            return;
        }
        await next(http);
    }

    /// <summary>
    /// Whether the call may be charged at the organisation the route names. This runs before authorisation, so the name
    /// alone proves nothing: charged there on a caller's say-so, anyone in the tenant could use up a unit's guarantee
    /// or cap (and lock its people out) with requests the route then refuses. Charged there only when the caller holds
    /// something at it, as the routes decide it (<see cref="Standing.ActsAt"/>); otherwise at the tenant as a whole.
    /// The graph this instance holds answers without a round trip (a change made on another instance shows once this
    /// instance next reads the graph, which the route itself does); when it holds none, the graph is read.
    /// </summary>
    private async ValueTask<bool> MayChargeAtAsync(HttpContext http, Guid tenant, Guid org)
    {
        if (Standing.Of(http.Caller(), tenant) is not { } standing) return false;
        if (organisations.TryReadHeld(tenant, graph => standing.ActsAt(graph, org), out var acts)) return acts;
        return await organisations.ReadAsync(tenant, graph => standing.ActsAt(graph, org), http.RequestAborted);
    }
}
