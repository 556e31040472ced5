using System.Net;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Outbound;

namespace TenantEvents.Delivery;

/// <summary>The states of a subscription and of a delivery.</summary>
public static class WebhookStates
{
    public const string Active = "active";
    public const string Paused = "paused";

    public const string Pending = "pending";
    public const string Retrying = "retrying";
    public const string Delivered = "delivered";
    public const string Dead = "dead";
    public const string Cancelled = "cancelled";

    public static readonly IReadOnlyList<string> Deliveries = [Pending, Retrying, Delivered, Dead, Cancelled];
}

/// <summary>What the sender does after one attempt.</summary>
public sealed record AttemptOutcome(string Status, DateTimeOffset? NextAttemptAt);

/// <summary>Pure rules of webhooks: what a subscription may say, when to try again, when to give up.</summary>
public static class WebhookDecisions
{
    public const int MaxTypes = 100;
    public const int MaxDescription = 500;

    /// <summary>
    /// The waits between attempts (the Standard Webhooks schedule, shortened at the end): 5 s, 5 min, 30 min, 2 h, 5 h,
    /// 10 h, 10 h; the attempt after the last wait is the last one.
    /// </summary>
    public static readonly IReadOnlyList<TimeSpan> Backoff =
    [
        TimeSpan.FromSeconds(5), TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(30), TimeSpan.FromHours(2), TimeSpan.FromHours(5),
        TimeSpan.FromHours(10), TimeSpan.FromHours(10),
    ];

    /// <summary>
    /// After attempt number <paramref name="attempt"/> (1 for the first): delivered on a 2xx; otherwise retried after the
    /// attempt's wait (with up to 10% jitter from <paramref name="jitter"/> in [0, 1)), or dead once
    /// <paramref name="maxAttempts"/> attempts have failed.
    /// </summary>
    public static AttemptOutcome After(int attempt, int? statusCode, int maxAttempts, DateTimeOffset now, double jitter)
    {
        if (statusCode is >= 200 and < 300) return new(WebhookStates.Delivered, null);
        if (attempt >= maxAttempts) return new(WebhookStates.Dead, null);
        var wait = Backoff[Math.Min(attempt - 1, Backoff.Count - 1)];
        return new(WebhookStates.Retrying, now + wait + TimeSpan.FromTicks((long)(wait.Ticks * 0.1 * jitter)));
    }

    /// <summary>
    /// The endpoint a subscription posts to: absolute https (http only where allowed), no credentials in it, no fragment,
    /// and not a literal non-public address (told now, for clarity; the guard is the outbound policy's check of every
    /// address connected to, which also covers names: Infrastructure/Outbound).
    /// </summary>
    public static Uri? Url(string? url, bool allowHttp, List<FieldError> errors)
    {
        if (string.IsNullOrWhiteSpace(url)) { errors.Add(new("url", "required", "the endpoint that receives the events.")); return null; }
        if (url.Length > 2000 || !Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttps && uri.Scheme != Uri.UriSchemeHttp))
        {
            errors.Add(new("url", "invalid-url", "must be an absolute https URL of at most 2,000 characters."));
            return null;
        }
        if (uri.Scheme == Uri.UriSchemeHttp && !allowHttp)
            errors.Add(new("url", "insecure-url", "must use https (plain http is allowed only where TenantEvents:AllowPrivateWebhooks is set)."));
        else if (uri.UserInfo.Length > 0) errors.Add(new("url", "credentials-in-url", "must not carry a user name or password; deliveries are signed instead."));
        else if (uri.Fragment.Length > 0) errors.Add(new("url", "fragment", "must not have a fragment."));
        else if (!allowHttp && (uri.IsLoopback || (IPAddress.TryParse(uri.Host, out var address) && !OutboundAddresses.IsPublic(address))))
            errors.Add(new("url", "private-address", "must point at a public address (TenantEvents:AllowPrivateWebhooks allows others)."));
        else return uri;
        return null;
    }

    /// <summary>An event-type filter: known CloudEvents types, or prefixes ending in * ("com.tenantevents.organisation_*"); empty for all.</summary>
    public static IReadOnlyList<string> Types(IReadOnlyList<string?>? types, IReadOnlyCollection<string> allowed, List<FieldError> errors)
    {
        if (types is null) return [];
        if (types.Count > MaxTypes) { errors.Add(new("types", "too-many", $"at most {MaxTypes} types.")); return []; }
        var result = new List<string>();
        foreach (var type in types)
        {
            if (string.IsNullOrWhiteSpace(type)) { errors.Add(new("types", "empty", "a type must not be empty.")); continue; }
            var known = type.EndsWith('*') ? allowed.Any(a => a.StartsWith(type[..^1], StringComparison.Ordinal)) : allowed.Contains(type);
            if (!known) errors.Add(new("types", "unknown-type", $"'{Short(type)}' is not an event type this subscription can receive (GET /api/event-types lists them)."));
            else if (!result.Contains(type)) result.Add(type);
        }
        return result;
    }

    public static string Description(string? description, List<FieldError> errors)
    {
        var text = description?.Trim() ?? "";
        if (text.Length > MaxDescription) errors.Add(new("description", "too-long", $"at most {MaxDescription} characters."));
        return text;
    }

    private static string Short(string s) => s.Length <= 80 ? s : s[..80] + "…";
}
