using Microsoft.AspNetCore.Authorization;
using Npgsql;
using NpgsqlTypes;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Databases;
using TenantEvents.Quotas;
using TenantEvents.Scim;
using TenantEvents.Tenants;
using Wolverine.Http;

namespace TenantEvents.Analytics;

/// <summary>One period of one quota: what was used against the limit in force at the period's end.</summary>
public sealed record UtilisationPeriod(string Period, DateOnly Start, DateOnly End, long Used, long Limit, double? Percent);

/// <summary>
/// One quota kind: now (limit, used, held, percent, how much is guaranteed to organisations) and per period over the
/// range, with the peak and the mean.
/// </summary>
public sealed record KindUtilisation(string Kind, string Unit, string Mode, string Period, long Limit, long Used, long Held, double PercentUsed,
    long AllocatedToOrganisations, double? PeakPercent, double? MeanPercent, IReadOnlyList<UtilisationPeriod> Periods);

public sealed record UtilisationReport(Guid TenantId, DateTimeOffset At, DateOnly From, DateOnly To, IReadOnlyList<KindUtilisation> Kinds);

public static class Utilisation
{
    /// <summary>
    /// The periods of a kind that meet [from, to] with their usage: API calls per day against the daily limit; API calls,
    /// AI compute and licences (the month's peak of active users) per calendar month against the monthly limit. Each
    /// month counts its whole usage (a quota counts whole months), the days only those in range. Pure.
    /// </summary>
    public static IReadOnlyList<UtilisationPeriod> Periods(string kind, long limit, DateOnly from, DateOnly to, IReadOnlyDictionary<DateOnly, long> daily,
        IReadOnlyList<(DateTimeOffset Since, long Limit)>? limits = null)
    {
        var byDay = QuotaKinds.PeriodOf(kind) == QuotaPeriod.Day;
        var peak = kind == QuotaKinds.Licences;
        var list = new List<UtilisationPeriod>();
        foreach (var start in Periods_(from, to, byDay))
        {
            var end = byDay ? start : start.AddMonths(1).AddDays(-1);
            var days = daily.Where(d => d.Key >= start && d.Key <= end).Select(d => d.Value).ToList();
            var used = days.Count == 0 ? 0 : peak ? days.Max() : days.Sum();
            var inForce = LimitAt(limits, new DateTimeOffset(end.AddDays(1).ToDateTime(TimeOnly.MinValue), TimeSpan.Zero)) ?? limit;
            list.Add(new UtilisationPeriod(byDay ? start.ToString("yyyy-MM-dd") : start.ToString("yyyy-MM"), start, end, used, inForce,
                inForce == 0 ? null : Math.Round(100.0 * used / inForce, 2)));
        }
        return list;
    }

    /// <summary>
    /// The limit in force at the end of a period (<paramref name="before"/>, exclusive): the last change before it; for a
    /// period before the first change known, that first one; null without any history (then the limit now serves).
    /// </summary>
    public static long? LimitAt(IReadOnlyList<(DateTimeOffset Since, long Limit)>? limits, DateTimeOffset before)
    {
        if (limits is null || limits.Count == 0) return null;
        var ordered = limits.OrderBy(l => l.Since).ToList();
        var earlier = ordered.Where(l => l.Since < before).ToList();
        return earlier.Count > 0 ? earlier[^1].Limit : ordered[0].Limit;
    }

    private static IEnumerable<DateOnly> Periods_(DateOnly from, DateOnly to, bool byDay)
    {
        if (byDay)
            for (var d = from; d <= to; d = d.AddDays(1)) yield return d;
        else
            for (var m = new DateOnly(from.Year, from.Month, 1); m <= to; m = m.AddMonths(1)) yield return m;
    }
}

public static class UtilisationEndpoint
{
    /// <summary>
    /// Resource utilisation: per quota kind, usage against allocation now and per period over from..to (default the
    /// last 30 days; API calls per day by day, the monthly kinds by calendar month), with peak and mean; each period
    /// against the limit in force at its end (quota_limits_history). From the quota counters and the daily usage
    /// history. ?format=csv (one row per kind and period).
    /// Who may see it: as for active users.
    /// </summary>
    [WolverineGet("/api/tenants/{tenantId}/analytics/utilisation", OperationId = "GetUtilisation")]
    [Authorize(Roles = AnalyticsHttp.Roles)]
    public static async Task<IResult> Get(Guid tenantId, HttpContext http, TenantStreams streams, QuotaLedger quotas, QuotaPolicies policies, ScimStore scim, CancellationToken cancellation)
    {
        if (await TenantHttp.InvisibleAsync(http, tenantId, "analytics.read", cancellation) is { } hidden) return hidden;
        var errors = new List<FieldError>();
        var (from, to) = AnalyticsHttp.Range(http.Request, DateOnly.FromDateTime(streams.Now.UtcDateTime), errors);
        var format = AnalyticsHttp.Format(http, errors);
        if (errors.Count > 0) return Problem.Validation(errors).ToResult();
        if (await QuotaQueries.NowAsync(tenantId, streams, quotas, policies, scim, cancellation) is not { } now) return Problem.NotFound("tenant").ToResult();
        await quotas.FlushAsync(cancellation, tenantId);
        // The daily history of each metric over whole months around the range (a month's period counts all its days).
        var first = new DateOnly(from.Year, from.Month, 1);
        var last = new DateOnly(to.Year, to.Month, 1).AddMonths(1).AddDays(-1);
        var history = QuotaKinds.Metrics.ToDictionary(m => m, _ => new Dictionary<DateOnly, long>());
        // One read transaction for the usage history and the limits history.
        await using var scope = await TenantReadScope.OpenAsync(streams.Databases, tenantId, cancellation);
        await using (var read = new NpgsqlCommand($"""
            select metric, day, case when metric = 'licences' then max(amount) else sum(amount) end::bigint
            from {streams.Options.DatabaseSchema}.usage_daily where tenant_id = $1 and day between $2 and $3 group by metric, day
            """, scope.Connection, scope.Transaction))
        {
            read.Parameters.Add(new NpgsqlParameter { Value = tenantId.ToString() });
            read.Parameters.Add(new NpgsqlParameter { Value = first, NpgsqlDbType = NpgsqlDbType.Date });
            read.Parameters.Add(new NpgsqlParameter { Value = last, NpgsqlDbType = NpgsqlDbType.Date });
            await using var reader = await read.ExecuteReaderAsync(cancellation);
            while (await reader.ReadAsync(cancellation))
                if (history.TryGetValue(reader.GetString(0), out var days)) days[reader.GetFieldValue<DateOnly>(1)] = reader.GetInt64(2);
        }
        // Each kind's limits as they changed (provisioning, settings changes).
        var limits = new Dictionary<string, List<(DateTimeOffset Since, long Limit)>>();
        await using (var read = new NpgsqlCommand($"""
            select kind, since, quota_limit from {streams.Options.DatabaseSchema}.quota_limits_history where tenant_id = $1 order by since
            """, scope.Connection, scope.Transaction))
        {
            read.Parameters.Add(new NpgsqlParameter { Value = tenantId.ToString() });
            await using var reader = await read.ExecuteReaderAsync(cancellation);
            while (await reader.ReadAsync(cancellation))
                (limits.TryGetValue(reader.GetString(0), out var list) ? list : limits[reader.GetString(0)] = []).Add((reader.GetFieldValue<DateTimeOffset>(1), reader.GetInt64(2)));
        }
        var kinds = now.Quotas.Select(q =>
        {
            var periods = Utilisation.Periods(q.Kind, q.Limit, from, to, history[QuotaKinds.MetricOf(q.Kind)], limits.GetValueOrDefault(q.Kind));
            var percents = periods.Where(p => p.Percent is not null).Select(p => p.Percent!.Value).ToList();
            return new KindUtilisation(q.Kind, q.Unit, q.Mode, QuotaKinds.PeriodOf(q.Kind) == QuotaPeriod.Day ? "day" : "month", q.Limit, q.Used, q.Held,
                q.PercentUsed, q.Allocations.Where(a => a.CarvedOutOf is null).Sum(a => a.Guaranteed),
                percents.Count == 0 ? null : percents.Max(), percents.Count == 0 ? null : Math.Round(percents.Average(), 2), periods);
        }).ToList();
        if (format == "csv")
            return AnalyticsHttp.Csv("utilisation.csv", ["kind", "period", "start", "end", "used", "limit", "percent"],
                kinds.SelectMany(k => k.Periods.Select(p => new object?[] { k.Kind, p.Period, p.Start.ToString("yyyy-MM-dd"), p.End.ToString("yyyy-MM-dd"), p.Used, p.Limit, p.Percent })));
        return Results.Json(new UtilisationReport(tenantId, now.At, from, to, kinds), Json.Options);
    }
}
