using Microsoft.AspNetCore.Authorization;
using Npgsql;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Databases;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Tenants;
using Wolverine.Http;

namespace TenantEvents.Analytics;

public sealed record Tally(string Name, int Tenants);

public sealed record ProjectionLag(long EventsBehind, double LagSeconds)
{
    /// <summary>Over every database: the events not yet read, and the longest wait.</summary>
    public static ProjectionLag Of(IReadOnlyList<ProjectionProgress> progress) =>
        new(progress.Sum(p => p.EventsBehind), progress.Count == 0 ? 0 : progress.Max(p => p.LagSeconds));
}

public sealed record EstateReport(DateTimeOffset At, int Tenants, int ActiveLast30Days, IReadOnlyList<Tally> ByState, IReadOnlyList<Tally> ByTemplate,
    IReadOnlyList<Tally> ByZone, IReadOnlyList<GrowthMonth> Growth, ProjectionLag Projection);

public static class EstateOverviewEndpoint
{
    public static readonly IReadOnlyList<string> Series = ["state", "template", "zone", "growth"];

    /// <summary>
    /// The estate at a glance, for platform administrators and analysts: tenants by lifecycle state, template and
    /// residency zone; growth per month (requested, provisioned, decommissioned, live at the month's end; ?months=1..60,
    /// default 12); tenants with any event in the last 30 days; and how far the projections behind it lag the events.
    /// From the event-fed analytics projections of every database. ?format=csv&amp;series=state|template|zone|growth.
    /// </summary>
    [WolverineGet("/api/analytics/estate", OperationId = "GetEstateOverview")]
    [Authorize(Roles = $"{Roles.PlatformAdmin},{Roles.Analyst}")]
    public static async Task<IResult> Get(HttpContext http, TenantDatabases databases, Clock clock, TenantEventsOptions options, AnalyticsProjector projector, CancellationToken cancellation)
    {
        var errors = new List<FieldError>();
        var q = http.Request.Query;
        var months = 12;
        if (q["months"].ToString() is { Length: > 0 } m && (!int.TryParse(m, out months) || months is < 1 or > 60))
            errors.Add(new("months", "out-of-range", "a whole number of months from 1 to 60."));
        var format = AnalyticsHttp.Format(http, errors);
        var series = q["series"].ToString() is { Length: > 0 } s ? s : "state";
        if (!Series.Contains(series)) errors.Add(new("series", "unknown-series", $"one of {string.Join(", ", Series)}."));
        if (errors.Count > 0) return Problem.Validation(errors).ToResult();

        var now = clock.UtcNow;
        var rows = new List<(string? State, string? Template, string? Zone, DateTimeOffset? Requested, DateTimeOffset? Provisioned, DateTimeOffset? Decommissioned, DateTimeOffset Last)>();
        var reads = databases.All.Where(d => d.Platform.Value is not null).Select(async database =>
        {
            var found = new List<(string?, string?, string?, DateTimeOffset?, DateTimeOffset?, DateTimeOffset?, DateTimeOffset)>();
            await using var read = database.Platform.Value!.CreateCommand($"""
                select state, template, zone, requested_at, provisioned_at, decommissioned_at, last_event_at
                from {options.DatabaseSchema}.analytics_tenants where requested_at is not null
                """);
            await using var reader = await read.ExecuteReaderAsync(cancellation);
            while (await reader.ReadAsync(cancellation))
                found.Add((Text(reader, 0), Text(reader, 1), Text(reader, 2), Time(reader, 3), Time(reader, 4), Time(reader, 5),
                    reader.GetFieldValue<DateTimeOffset>(6)));
            return found;
        });
        foreach (var found in await Task.WhenAll(reads)) rows.AddRange(found);

        static List<Tally> By(IEnumerable<string?> names) =>
            names.GroupBy(n => n ?? "unknown").Select(g => new Tally(g.Key, g.Count())).OrderByDescending(t => t.Tenants).ThenBy(t => t.Name, StringComparer.Ordinal).ToList();
        var thisMonth = new DateOnly(now.UtcDateTime.Year, now.UtcDateTime.Month, 1);
        var growth = AnalyticsFold.Growth(rows.Select(r => (r.Requested, r.Provisioned, r.Decommissioned)), thisMonth.AddMonths(1 - months), thisMonth);
        var byState = By(rows.Select(r => r.State));
        var byTemplate = By(rows.Select(r => r.Template));
        var byZone = By(rows.Select(r => r.Zone));
        if (format == "csv")
            return series == "growth"
                ? AnalyticsHttp.Csv("estate-growth.csv", ["month", "requested", "provisioned", "decommissioned", "live_at_end"],
                    growth.Select(g => new object?[] { g.Month, g.Requested, g.Provisioned, g.Decommissioned, g.LiveAtEnd }))
                : AnalyticsHttp.Csv($"estate-by-{series}.csv", [series, "tenants"],
                    (series switch { "state" => byState, "template" => byTemplate, _ => byZone }).Select(t => new object?[] { t.Name, t.Tenants }));
        var progress = await projector.ProgressAsync(cancellation);
        return Results.Json(new EstateReport(now, rows.Count, rows.Count(r => r.Last >= now.AddDays(-30)), byState, byTemplate, byZone, growth,
            ProjectionLag.Of(progress)), Json.Options);
    }

    private static string? Text(NpgsqlDataReader reader, int i) => reader.IsDBNull(i) ? null : reader.GetString(i);

    private static DateTimeOffset? Time(NpgsqlDataReader reader, int i) => reader.IsDBNull(i) ? null : reader.GetFieldValue<DateTimeOffset>(i);
}

public sealed record ProjectionsReport(long EventsBehind, double LagSeconds, IReadOnlyList<ProjectionProgress> Databases);

public static class AnalyticsProjectionEndpoints
{
    /// <summary>
    /// The analytics projections' progress in every database: position, the newest event, events not yet read and the
    /// lag (how long the oldest unread event has waited), events projected, sequence numbers still awaited, last rebuild.
    /// </summary>
    [WolverineGet("/api/analytics/projections", OperationId = "GetAnalyticsProjections")]
    [Authorize(Roles = $"{Roles.PlatformAdmin},{Roles.Analyst}")]
    public static async Task<IResult> Get(AnalyticsProjector projector, CancellationToken cancellation) =>
        Results.Json(Report(await projector.ProgressAsync(cancellation)), Json.Options);

    /// <summary>
    /// Rebuilds the analytics projections from the events: empties them in every database and lets the projector read
    /// every event again (in the background; 202 with the progress, which GET /api/analytics/projections follows).
    /// Platform administrators only. The activity records (who was active) are not event-fed and are kept.
    /// </summary>
    [WolverinePost("/api/analytics/projections/rebuild", OperationId = "RebuildAnalyticsProjections")]
    [Authorize(Roles = Roles.PlatformAdmin)]
    public static async Task<IResult> Rebuild(AnalyticsProjector projector, ILogger<AnalyticsProjector> logger, HttpContext http, CancellationToken cancellation)
    {
        await projector.ResetAsync(cancellation);
        logger.LogInformation("Analytics projections rebuild started by {Subject}", http.Caller().Actor.Subject);
        return Results.Json(Report(await projector.ProgressAsync(cancellation)), Json.Options, statusCode: StatusCodes.Status202Accepted);
    }

    private static ProjectionsReport Report(IReadOnlyList<ProjectionProgress> progress)
    {
        var lag = ProjectionLag.Of(progress);
        return new(lag.EventsBehind, lag.LagSeconds, progress);
    }
}
