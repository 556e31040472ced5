using Microsoft.AspNetCore.Authorization;
using Npgsql;
using NpgsqlTypes;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Databases;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Tenants;
using Wolverine.Http;

namespace TenantEvents.Analytics;

public sealed record AreaAdoption(string Feature, string Description, long Users, long ActiveUsers, double? Share);

public sealed record TenantAdoption(Guid TenantId, DateOnly From, DateOnly To, IReadOnlyList<AreaAdoption> Areas);

public sealed record EstateAreaAdoption(string Feature, string Description, long Tenants, long ActiveTenants, double? Share);

public sealed record EstateAdoption(DateOnly From, DateOnly To, IReadOnlyList<EstateAreaAdoption> Areas);

public static class AdoptionEndpoints
{
    /// <summary>
    /// Feature adoption inside a tenant over a range (default: the last 30 days): per feature area, the users who used it
    /// and their share of the tenant's active users. ?format=csv. Who may see it: as for active users.
    /// </summary>
    [WolverineGet("/api/tenants/{tenantId}/analytics/adoption", OperationId = "GetTenantAdoption")]
    [Authorize(Roles = AnalyticsHttp.Roles)]
    public static async Task<IResult> Tenant(Guid tenantId, HttpContext http, TenantDatabases databases, Clock clock, TenantEventsOptions options, CancellationToken cancellation)
    {
        if (await TenantHttp.InvisibleAsync(http, tenantId, "analytics.read", cancellation) is { } hidden) return hidden;
        var errors = new List<FieldError>();
        var (from, to) = AnalyticsHttp.Range(http.Request, DateOnly.FromDateTime(clock.UtcNow.UtcDateTime), errors);
        var format = AnalyticsHttp.Format(http, errors);
        if (errors.Count > 0) return Problem.Validation(errors).ToResult();
        await using var scope = await Infrastructure.Databases.TenantReadScope.OpenAsync(databases, tenantId, cancellation);
        var counts = new Dictionary<string, long>();
        long active;
        await using (var read = new NpgsqlCommand($"""
            select feature, count(distinct user_token) from {options.DatabaseSchema}.analytics_activity
            where tenant_id = $1 and day between $2 and $3 group by rollup (feature)
            """, scope.Connection, scope.Transaction))
        {
            Range(read, tenantId.ToString(), from, to);
            await using var reader = await read.ExecuteReaderAsync(cancellation);
            active = 0;
            while (await reader.ReadAsync(cancellation))
                if (reader.IsDBNull(0)) active = reader.GetInt64(1);
                else counts[reader.GetString(0)] = reader.GetInt64(1);
        }
        var areas = FeatureAreas.All.Select(a => new AreaAdoption(a.Key, a.Value, counts.GetValueOrDefault(a.Key), active,
            active == 0 ? null : Math.Round((double)counts.GetValueOrDefault(a.Key) / active, 4))).ToList();
        if (format == "csv")
            return AnalyticsHttp.Csv("adoption.csv", ["feature", "users", "active_users", "share"], areas.Select(a => new object?[] { a.Feature, a.Users, a.ActiveUsers, a.Share }));
        return Results.Json(new TenantAdoption(tenantId, from, to, areas), Json.Options);
    }

    /// <summary>
    /// Feature adoption across the estate: per feature area, the tenants whose users used it in the range and their
    /// share of the tenants with any active user. Platform administrators and analysts. Reads every database as the
    /// platform role.
    /// </summary>
    [WolverineGet("/api/analytics/adoption", OperationId = "GetEstateAdoption")]
    [Authorize(Roles = $"{Roles.PlatformAdmin},{Roles.Analyst}")]
    public static async Task<IResult> Estate(HttpContext http, TenantDatabases databases, Clock clock, TenantEventsOptions options, CancellationToken cancellation)
    {
        var errors = new List<FieldError>();
        var (from, to) = AnalyticsHttp.Range(http.Request, DateOnly.FromDateTime(clock.UtcNow.UtcDateTime), errors);
        var format = AnalyticsHttp.Format(http, errors);
        if (errors.Count > 0) return Problem.Validation(errors).ToResult();
        var tenantsByArea = new Dictionary<string, HashSet<string>>();
        var activeTenants = new HashSet<string>();
        foreach (var database in databases.All)
        {
            if (database.Platform.Value is not { } platform) continue;
            await using var read = platform.CreateCommand($"""
                select distinct tenant_id, feature from {options.DatabaseSchema}.analytics_activity where day between $1 and $2
                """);
            read.Parameters.Add(new NpgsqlParameter { Value = from, NpgsqlDbType = NpgsqlDbType.Date });
            read.Parameters.Add(new NpgsqlParameter { Value = to, NpgsqlDbType = NpgsqlDbType.Date });
            await using var reader = await read.ExecuteReaderAsync(cancellation);
            while (await reader.ReadAsync(cancellation))
            {
                var (tenant, feature) = (reader.GetString(0), reader.GetString(1));
                activeTenants.Add(tenant);
                (tenantsByArea.TryGetValue(feature, out var set) ? set : tenantsByArea[feature] = []).Add(tenant);
            }
        }
        var areas = FeatureAreas.All.Select(a =>
        {
            var n = tenantsByArea.TryGetValue(a.Key, out var set) ? set.Count : 0;
            return new EstateAreaAdoption(a.Key, a.Value, n, activeTenants.Count, activeTenants.Count == 0 ? null : Math.Round((double)n / activeTenants.Count, 4));
        }).ToList();
        if (format == "csv")
            return AnalyticsHttp.Csv("estate-adoption.csv", ["feature", "tenants", "active_tenants", "share"],
                areas.Select(a => new object?[] { a.Feature, a.Tenants, a.ActiveTenants, a.Share }));
        return Results.Json(new EstateAdoption(from, to, areas), Json.Options);
    }

    private static void Range(NpgsqlCommand command, string tenant, DateOnly from, DateOnly to)
    {
        command.Parameters.Add(new NpgsqlParameter { Value = tenant });
        command.Parameters.Add(new NpgsqlParameter { Value = from, NpgsqlDbType = NpgsqlDbType.Date });
        command.Parameters.Add(new NpgsqlParameter { Value = to, NpgsqlDbType = NpgsqlDbType.Date });
    }
}
