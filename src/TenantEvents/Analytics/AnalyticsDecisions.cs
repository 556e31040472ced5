using System.Globalization;

namespace TenantEvents.Analytics;

/// <summary>The feature areas usage is counted in, named in one place, and the route prefixes that belong to each.</summary>
public static class FeatureAreas
{
    public static readonly IReadOnlyDictionary<string, string> All = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["tenant"] = "the tenant itself: its settings, lifecycle, exports",
        ["organisations"] = "the organisation tree, roles, grants, members, effective access",
        ["identity"] = "service accounts, the identity provider",
        ["scim"] = "SCIM provisioning of users and groups",
        ["audit"] = "the audit trail, ledger proofs, exports",
        ["quotas"] = "quota usage, allocations, AI compute reservations",
        ["case-files"] = "case files",
        ["sharing"] = "sharing agreements, COI channels, joint investigations",
        ["delivery"] = "webhooks and the event stream",
        ["analytics"] = "these analytics",
        ["graphql"] = "the GraphQL API",
    };

    /// <summary>The area of a route template (/api/tenants/{tenantId}/case-files/... → case-files); null for routes of no tenant area.</summary>
    public static string? Of(string? route)
    {
        if (route is null) return null;
        if (route.StartsWith("/graphql", StringComparison.Ordinal) || route.StartsWith("graphql", StringComparison.Ordinal)) return "graphql";
        var parts = route.Trim('/').Split('/');
        if (parts.Length < 3 || parts[0] != "api" || parts[1] != "tenants" || parts[2] != "{tenantId}") return null;
        if (parts.Length == 3) return "tenant";
        return parts[3] switch
        {
            "organisations" or "roles" or "access" or "members" => "organisations",
            "service-accounts" or "identity-provider" => "identity",
            "scim" => "scim",
            "audit" => "audit",
            "events" => parts.Length > 4 && parts[4] == "stream" ? "delivery" : "audit",
            "webhooks" => "delivery",
            "quotas" or "ai-compute" => "quotas",
            "case-files" => "case-files",
            "sharing" or "collaborations" => "sharing",
            "analytics" => "analytics",
            _ => "tenant",
        };
    }
}

public enum Granularity { Day, Week, Month }

/// <summary>Periods in UTC: days, ISO weeks (Monday to Sunday), calendar months.</summary>
public static class Periods
{
    public static DateOnly Start(DateOnly day, Granularity granularity) => granularity switch
    {
        Granularity.Day => day,
        Granularity.Week => day.AddDays(-(((int)day.DayOfWeek + 6) % 7)),
        _ => new DateOnly(day.Year, day.Month, 1),
    };

    public static DateOnly End(DateOnly start, Granularity granularity) => granularity switch
    {
        Granularity.Day => start,
        Granularity.Week => start.AddDays(6),
        _ => start.AddMonths(1).AddDays(-1),
    };

    /// <summary>The periods that cover [from, to], in order.</summary>
    public static IReadOnlyList<DateOnly> Between(DateOnly from, DateOnly to, Granularity granularity)
    {
        var list = new List<DateOnly>();
        for (var start = Start(from, granularity); start <= to; start = End(start, granularity).AddDays(1)) list.Add(start);
        return list;
    }

    /// <summary>A period's name: 2026-12-03, 2026-W49 (ISO week), 2026-12.</summary>
    public static string Name(DateOnly start, Granularity granularity) => granularity switch
    {
        Granularity.Day => start.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
        Granularity.Week => $"{ISOWeek.GetYear(start.ToDateTime(TimeOnly.MinValue))}-W{ISOWeek.GetWeekOfYear(start.ToDateTime(TimeOnly.MinValue)):00}",
        _ => start.ToString("yyyy-MM", CultureInfo.InvariantCulture),
    };
}
