using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.Authorization;
using Npgsql;
using NpgsqlTypes;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Databases;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Tenants;
using Wolverine.Http;

namespace TenantEvents.Analytics;

public sealed record ActivePeriod(string Period, DateOnly Start, DateOnly End, long ActiveUsers);

public sealed record StickyDay(DateOnly Day, long DailyActiveUsers, long MonthlyActiveUsers, double? DauMauRatio);

public sealed record ActiveUsersReport(Guid TenantId, string Granularity, DateOnly From, DateOnly To, string? Feature, Guid? OrganisationId,
    IReadOnlyList<ActivePeriod> Series, IReadOnlyList<StickyDay> DauMau);

public static class AnalyticsHttp
{
    public const string Roles = $"{Infrastructure.Security.Roles.PlatformAdmin},{Infrastructure.Security.Roles.Analyst},{Infrastructure.Security.Roles.Auditor},"
                                + $"{Infrastructure.Security.Roles.TenantAdmin},{Infrastructure.Security.Roles.TenantMember}";

    public const int MaxDays = 732;

    /// <summary>from and to (inclusive, UTC days; default: the last 30 days up to today), at most two years apart.</summary>
    public static (DateOnly From, DateOnly To) Range(HttpRequest request, DateOnly today, List<FieldError> errors)
    {
        DateOnly Parse(string name, DateOnly fallback)
        {
            var text = request.Query[name].ToString();
            if (text.Length == 0) return fallback;
            if (DateOnly.TryParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var day)) return day;
            errors.Add(new(name, "invalid-date", "a day as YYYY-MM-DD (UTC)."));
            return fallback;
        }
        var to = Parse("to", today);
        var from = Parse("from", to.AddDays(-29));
        if (from > to) errors.Add(new("from", "out-of-range", "must not be after to."));
        else if (to.DayNumber - from.DayNumber >= MaxDays) errors.Add(new("to", "out-of-range", $"at most {MaxDays} days from from."));
        return (from, to);
    }

    /// <summary>?format=json (default) or csv.</summary>
    public static string Format(HttpContext http, List<FieldError> errors)
    {
        var format = http.Request.Query["format"].ToString() is { Length: > 0 } f ? f : "json";
        if (format is not ("json" or "csv")) errors.Add(new("format", "invalid-format", "json or csv."));
        return format;
    }

    public static IResult Csv(string name, IEnumerable<string> header, IEnumerable<IEnumerable<object?>> rows)
    {
        var text = new StringBuilder(CsvText.Row(header));
        foreach (var row in rows) text.Append(CsvText.Row(row));
        return Results.File(Encoding.UTF8.GetBytes(text.ToString()), "text/csv; charset=utf-8", name);
    }
}

public static class ActiveUsersEndpoint
{
    /// <summary>
    /// Distinct users (people, not service accounts) who used the tenant's API, per day, ISO week or month (UTC), from
    /// the activity records; optionally in one feature area, or among the members of one organisation and those below it. With each day's DAU, MAU (the 30 days ending that day) and
    /// their ratio. ?format=csv for the periods, with &amp;series=dau-mau for the daily DAU/MAU. Platform administrators, analysts and auditors; the tenant's
    /// administrators and members with analytics.read at the root.
    /// </summary>
    [WolverineGet("/api/tenants/{tenantId}/analytics/active-users", OperationId = "GetActiveUsers")]
    [Authorize(Roles = AnalyticsHttp.Roles)]
    public static async Task<IResult> Get(Guid tenantId, HttpContext http, TenantDatabases databases, Clock clock, TenantEventsOptions options, ActivityRecorder recorder, CancellationToken cancellation)
    {
        if (await TenantHttp.InvisibleAsync(http, tenantId, "analytics.read", cancellation) is { } hidden) return hidden;
        var errors = new List<FieldError>();
        var q = http.Request.Query;
        var granularity = Granularity.Day;
        if (q["granularity"].ToString() is { Length: > 0 } g && !Enum.TryParse(g, ignoreCase: true, out granularity) | !Enum.IsDefined(granularity))
            errors.Add(new("granularity", "invalid-granularity", "day, week or month."));
        var feature = q["feature"].ToString() is { Length: > 0 } f ? f : null;
        if (feature is not null && !FeatureAreas.All.ContainsKey(feature))
            errors.Add(new("feature", "unknown-feature", $"one of {string.Join(", ", FeatureAreas.All.Keys)}."));
        var format = AnalyticsHttp.Format(http, errors);
        // Which series a CSV carries: the periods (default) or each day's DAU, MAU and ratio.
        var csvSeries = q["series"].ToString() is { Length: > 0 } cs ? cs : "periods";
        if (csvSeries is not ("periods" or "dau-mau")) errors.Add(new("series", "unknown-series", "periods or dau-mau."));
        Guid? organisation = null;
        if (q["organisationId"].ToString() is { Length: > 0 } o)
        {
            if (Guid.TryParse(o, out var id)) organisation = id;
            else errors.Add(new("organisationId", "invalid-id", "an organisation's id."));
        }
        var (from, to) = AnalyticsHttp.Range(http.Request, DateOnly.FromDateTime(clock.UtcNow.UtcDateTime), errors);
        if (errors.Count > 0) return Problem.Validation(errors).ToResult();

        await using var scope = await Infrastructure.Databases.TenantReadScope.OpenAsync(databases, tenantId, cancellation);
        // An organisation's users: the members of it and of every organisation below it, as the records' tokens.
        string[]? members = null;
        if (organisation is { } org)
        {
            var users = new List<string>();
            var exists = false;
            await using (var read = new NpgsqlCommand($"""
                select n.id = $2, m.user_id from {options.DatabaseSchema}.org_nodes n
                left join {options.DatabaseSchema}.org_members m on m.tenant_id = n.tenant_id and m.org_id = n.id
                where n.tenant_id = $1 and n.path @> array[$2]::uuid[]
                """, scope.Connection, scope.Transaction))
            {
                read.Parameters.Add(new NpgsqlParameter { Value = tenantId.ToString() });
                read.Parameters.Add(new NpgsqlParameter { Value = org });
                await using var reader = await read.ExecuteReaderAsync(cancellation);
                while (await reader.ReadAsync(cancellation))
                {
                    exists |= reader.GetBoolean(0);
                    if (!reader.IsDBNull(1)) users.Add(reader.GetString(1));
                }
            }
            if (!exists) return Problem.NotFound("organisation").ToResult();
            var token = await recorder.TokenizerAsync(tenantId, cancellation);
            members = users.Distinct().Select(u => token(ActivityRecorder.UserTerm(u))).ToArray();
        }
        var periods = Periods.Between(from, to, granularity);
        var series = new List<ActivePeriod>();
        // One count per period (distinct users over the period's days), clipped to [from, to].
        await using (var read = new NpgsqlCommand($"""
            select p.start, (select count(distinct a.user_token) from {options.DatabaseSchema}.analytics_activity a
                             where a.tenant_id = $1 and a.day between greatest(p.start, $3) and least(p.finish, $4) and ($5::text is null or a.feature = $5)
                               and ($7::text[] is null or a.user_token = any($7)))
            from unnest($2::date[], $6::date[]) as p(start, finish) order by p.start
            """, scope.Connection, scope.Transaction))
        {
            read.Parameters.Add(new NpgsqlParameter { Value = tenantId.ToString() });
            read.Parameters.Add(new NpgsqlParameter { Value = periods.ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Date });
            read.Parameters.Add(new NpgsqlParameter { Value = from, NpgsqlDbType = NpgsqlDbType.Date });
            read.Parameters.Add(new NpgsqlParameter { Value = to, NpgsqlDbType = NpgsqlDbType.Date });
            read.Parameters.Add(new NpgsqlParameter { Value = (object?)feature ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
            read.Parameters.Add(new NpgsqlParameter { Value = periods.Select(p => Periods.End(p, granularity)).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Date });
            read.Parameters.Add(new NpgsqlParameter { Value = (object?)members ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
            await using var reader = await read.ExecuteReaderAsync(cancellation);
            while (await reader.ReadAsync(cancellation))
            {
                var start = reader.GetFieldValue<DateOnly>(0);
                var end = Periods.End(start, granularity);
                series.Add(new ActivePeriod(Periods.Name(start, granularity), start < from ? from : start, end > to ? to : end, reader.GetInt64(1)));
            }
        }
        // DAU, MAU (rolling 30 days ending that day) and DAU/MAU for every day of the range.
        var sticky = new List<StickyDay>();
        await using (var read = new NpgsqlCommand($"""
            select d::date,
                   (select count(distinct a.user_token) from {options.DatabaseSchema}.analytics_activity a
                    where a.tenant_id = $1 and a.day = d::date and ($4::text is null or a.feature = $4) and ($5::text[] is null or a.user_token = any($5))),
                   (select count(distinct a.user_token) from {options.DatabaseSchema}.analytics_activity a
                    where a.tenant_id = $1 and a.day between d::date - 29 and d::date and ($4::text is null or a.feature = $4)
                      and ($5::text[] is null or a.user_token = any($5)))
            from generate_series($2::date, $3::date, interval '1 day') as d order by 1
            """, scope.Connection, scope.Transaction))
        {
            read.Parameters.Add(new NpgsqlParameter { Value = tenantId.ToString() });
            read.Parameters.Add(new NpgsqlParameter { Value = from, NpgsqlDbType = NpgsqlDbType.Date });
            read.Parameters.Add(new NpgsqlParameter { Value = to, NpgsqlDbType = NpgsqlDbType.Date });
            read.Parameters.Add(new NpgsqlParameter { Value = (object?)feature ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
            read.Parameters.Add(new NpgsqlParameter { Value = (object?)members ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
            await using var reader = await read.ExecuteReaderAsync(cancellation);
            while (await reader.ReadAsync(cancellation))
            {
                var (dau, mau) = (reader.GetInt64(1), reader.GetInt64(2));
                sticky.Add(new StickyDay(reader.GetFieldValue<DateOnly>(0), dau, mau, mau == 0 ? null : Math.Round((double)dau / mau, 4)));
            }
        }
        var name = granularity.ToString().ToLowerInvariant();
        if (format == "csv" && csvSeries == "dau-mau")
            return AnalyticsHttp.Csv("dau-mau.csv", ["day", "daily_active_users", "monthly_active_users", "dau_mau_ratio"],
                sticky.Select(d => new object?[] { d.Day.ToString("yyyy-MM-dd"), d.DailyActiveUsers, d.MonthlyActiveUsers, d.DauMauRatio }));
        if (format == "csv")
            return AnalyticsHttp.Csv($"active-users-{name}.csv", ["period", "start", "end", "active_users"],
                series.Select(p => new object?[] { p.Period, p.Start.ToString("yyyy-MM-dd"), p.End.ToString("yyyy-MM-dd"), p.ActiveUsers }));
        return Results.Json(new ActiveUsersReport(tenantId, name, from, to, feature, organisation, series, sticky), Json.Options);
    }
}
