using TenantEvents.Tenants;

namespace TenantEvents.Quotas;

/// <summary>How often a quota's count starts again: each UTC day, each UTC calendar month.</summary>
public enum QuotaPeriod { Day, Month }

/// <summary>
/// The quota kinds, named in one place with the same names as the tenant settings' quota fields: licences (active
/// users of the tenant), AI compute units per month, API calls per day and per month.
/// </summary>
public static class QuotaKinds
{
    public const string Licences = "licences";
    public const string AiCompute = "aiComputeUnitsPerMonth";
    public const string ApiCallsPerDay = "apiCallsPerDay";
    public const string ApiCallsPerMonth = "apiCallsPerMonth";

    public static readonly IReadOnlyList<string> All = [Licences, AiCompute, ApiCallsPerDay, ApiCallsPerMonth];

    /// <summary>Kinds that organisations can be allocated a share of (licences are counted for the tenant as a whole).</summary>
    public static readonly IReadOnlyList<string> Allocatable = [AiCompute, ApiCallsPerDay, ApiCallsPerMonth];

    public static bool IsKnown(string? kind) => kind is not null && All.Contains(kind);

    /// <summary>Licences are a standing count; their alerts re-arm each month like the monthly quotas'.</summary>
    public static QuotaPeriod PeriodOf(string kind) => kind == ApiCallsPerDay ? QuotaPeriod.Day : QuotaPeriod.Month;

    /// <summary>The unit each kind counts, for people reading usage.</summary>
    public static string UnitOf(string kind) => kind switch
    {
        Licences => "active users",
        AiCompute => "AI compute units",
        _ => "API calls",
    };

    public static long LimitOf(QuotaDefaults quotas, string kind) => kind switch
    {
        Licences => quotas.Licences,
        AiCompute => quotas.AiComputeUnitsPerMonth,
        ApiCallsPerDay => quotas.ApiCallsPerDay,
        ApiCallsPerMonth => quotas.ApiCallsPerMonth,
        _ => throw new ArgumentException($"Unknown quota kind {kind}."),
    };

    public static QuotaMode ModeOf(QuotaDefaults quotas, string kind) =>
        quotas.Modes is { } modes && modes.TryGetValue(kind, out var mode) ? mode : quotas.Mode;

    public static string ModeName(QuotaMode mode) => mode == QuotaMode.Hard ? "hard" : "observe-only";

    /// <summary>The period a moment falls in: [start, end).</summary>
    public static (DateTimeOffset Start, DateTimeOffset End) PeriodAt(string kind, DateTimeOffset at)
    {
        var utc = at.ToUniversalTime();
        return PeriodOf(kind) switch
        {
            QuotaPeriod.Day => (new DateTimeOffset(utc.Date, TimeSpan.Zero), new DateTimeOffset(utc.Date, TimeSpan.Zero).AddDays(1)),
            _ => (new DateTimeOffset(utc.Year, utc.Month, 1, 0, 0, 0, TimeSpan.Zero), new DateTimeOffset(utc.Year, utc.Month, 1, 0, 0, 0, TimeSpan.Zero).AddMonths(1)),
        };
    }

    /// <summary>The usage history metric a kind's consumption is recorded under (both API call kinds count the same calls).</summary>
    public static string MetricOf(string kind) => kind switch
    {
        Licences => "licences",
        AiCompute => "aiCompute",
        _ => "apiCalls",
    };

    public static readonly IReadOnlyList<string> Metrics = ["apiCalls", "aiCompute", "licences"];

    /// <summary>Largest limit accepted for each kind: beyond these a figure is a mistake, not a plan.</summary>
    public static long MaximumOf(string kind) => kind switch
    {
        Licences => 10_000_000,
        AiCompute => 1_000_000_000_000_000,
        _ => 1_000_000_000_000,
    };
}
