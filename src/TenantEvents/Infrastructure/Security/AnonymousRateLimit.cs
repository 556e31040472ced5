using System.Threading.RateLimiting;
using TenantEvents.Identity;

namespace TenantEvents.Infrastructure.Security;

/// <summary>
/// A per-client-address bound on requests without a verified credential (TenantEvents:AnonymousRequestsPerWindow per
/// :AnonymousRateWindow, a token bucket from System.Threading.RateLimiting). Such requests reach the database before
/// anyone is known: the token endpoint (client lookup, secret check), a SCIM credential that fails (client directory,
/// account, secret), JWKS and the log key, the readiness probe (every database), the provisioning webhook, and a
/// platform token naming an unknown key. Two steps around authentication:
/// <list type="number">
/// <item>before it, <see cref="Gate"/>: an address whose allowance is used up gets 429 at once, unless its request
/// carries a token already verified on this instance (known callers behind the same address are not shut out);</item>
/// <item>after it, <see cref="Count"/>: a request that is still anonymous (no credential, or one that failed) takes one
/// from its address's allowance, or gets 429.</item>
/// </list>
/// Authenticated callers are bounded per tenant by fair share (Quotas/ApiMetering) instead. The address is the
/// connection's: behind a reverse proxy, configure forwarded headers, or every client shares the proxy's allowance.
/// </summary>
public sealed class AnonymousRateLimit(TenantEventsOptions options, TokenValidator tokens)
{
    private sealed record Current(int Permits, TimeSpan Window, TimeSpan Period, PartitionedRateLimiter<string> Limiter);

    private Current? _current;
    private readonly Lock _gate = new();

    /// <summary>The limiter for the settings in force now (made again when they change: the settings are read per request).</summary>
    private Current? Limiter()
    {
        var permits = options.AnonymousRequestsPerWindow;
        var window = options.AnonymousRateWindow;
        if (permits <= 0) return null;
        var current = Volatile.Read(ref _current);
        if (current is not null && current.Permits == permits && current.Window == window) return current;
        lock (_gate)
        {
            current = _current;
            if (current is not null && current.Permits == permits && current.Window == window) return current;
            // The partitioned limiter replenishes its buckets on a 100 ms heartbeat: periods shorter than that are folded
            // into it (more tokens per period), so the rate holds whatever the settings. Idle addresses' buckets are dropped.
            var period = TimeSpan.FromTicks(Math.Max(window.Ticks / permits, TimeSpan.FromMilliseconds(100).Ticks));
            var perPeriod = (int)Math.Max(1, Math.Round(permits * (double)period.Ticks / window.Ticks));
            var limiter = PartitionedRateLimiter.Create<string, string>(address => RateLimitPartition.GetTokenBucketLimiter(address, _ =>
                new TokenBucketRateLimiterOptions
                {
                    TokenLimit = permits, TokensPerPeriod = perPeriod, ReplenishmentPeriod = period, AutoReplenishment = false, QueueLimit = 0,
                }));
            // The one it replaces is not disposed: a request may be using it this instant (settings change rarely).
            current = new Current(permits, window, period, limiter);
            Volatile.Write(ref _current, current);
            return current;
        }
    }

    /// <summary>
    /// The allowance's key: an IPv4 address, or an IPv6 address's /64 (one host is routinely given a whole /64, so a
    /// key per /128 would give it unlimited allowances). IPv4-mapped IPv6 counts as the IPv4 address.
    /// </summary>
    public static string Address(System.Net.IPAddress? address)
    {
        if (address is null) return "unknown";
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        if (address.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6) return address.ToString();
        var bytes = address.GetAddressBytes();
        Array.Clear(bytes, 8, 8);
        return new System.Net.IPAddress(bytes) + "/64";
    }

    private static string Address(HttpContext http) => Address(http.Connection.RemoteIpAddress);

    /// <summary>Before authentication: no verification work for an address that is over its allowance.</summary>
    public Task Gate(HttpContext http, RequestDelegate next)
    {
        if (Limiter() is not { } current) return next(http);
        var header = http.Request.Headers.Authorization.ToString();
        if (header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) && tokens.Remembers(header["Bearer ".Length..].Trim())) return next(http);
        return current.Limiter.GetStatistics(Address(http)) is { CurrentAvailablePermits: <= 0 } ? RefuseAsync(http, current) : next(http);
    }

    /// <summary>After authentication: an anonymous request takes one from its address's allowance.</summary>
    public Task Count(HttpContext http, RequestDelegate next)
    {
        if (http.User.Identity?.IsAuthenticated == true || Limiter() is not { } current) return next(http);
        using var lease = current.Limiter.AttemptAcquire(Address(http));
        return lease.IsAcquired ? next(http) : RefuseAsync(http, current);
    }

    private static Task RefuseAsync(HttpContext http, Current current)
    {
        var seconds = (int)Math.Ceiling(current.Period.TotalSeconds);
        http.Response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return Problem.LimitReached("too-many-anonymous-requests", "Too many requests without a verified credential from this address",
                $"At most {current.Permits} requests without a verified credential per {current.Window} from one address; retry after {seconds} s.",
                current.Permits, nameof(TenantEventsOptions.AnonymousRequestsPerWindow), status: 429)
            .With("window", current.Window.ToString("c")).With("retryAfterSeconds", seconds)
            .ToResult().ExecuteAsync(http);
    }
}
