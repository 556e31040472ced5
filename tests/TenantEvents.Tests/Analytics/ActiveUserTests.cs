using System.Globalization;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using TenantEvents.Analytics;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Tests.Support;

namespace TenantEvents.Tests.Analytics;

/// <summary>
/// Active users from the activity the service captures (no event per request): distinct per day, ISO week and month in
/// UTC across their boundaries (with a controllable clock), DAU/MAU, per feature area, CSV, and who may see them.
/// </summary>
public class ActiveUserTests(AppFixture fixture) : IntegrationTest(fixture)
{
    private Task Flush() => Fixture.Host.Services.GetRequiredService<ActivityRecorder>().FlushAsync(CancellationToken.None);

    private HttpClient User(Guid tenant, string name) => As(Roles.TenantAdmin, name, tenant);

    /// <summary>Moves the business clock forward to the next time of day on the given weekday.</summary>
    private DateTimeOffset Next(DayOfWeek weekday, int hour)
    {
        var now = Fixture.Time.GetUtcNow();
        var day = now.UtcDateTime.Date.AddDays(1);
        while (day.DayOfWeek != weekday) day = day.AddDays(1);
        var at = new DateTimeOffset(day.AddHours(hour), TimeSpan.Zero);
        Fixture.Time.SetUtcNow(at);
        return at;
    }

    [Fact]
    public async Task users_are_counted_once_per_day_week_and_month_across_the_boundaries_in_utc()
    {
        var tenant = await Active();
        var activity = new List<(DateTimeOffset At, string User)>();
        async Task Use(string user, int times = 1)
        {
            for (var i = 0; i < times; i++) (await User(tenant, user).Get($"/api/tenants/{tenant}")).ShouldBe(HttpStatusCode.OK);
            activity.Add((Fixture.Time.GetUtcNow(), user));
        }

        // Sunday late, then Monday early: two ISO weeks. Alice is busy (counted once a day), Bob comes on Monday.
        var sunday = Next(DayOfWeek.Sunday, 23);
        await Use("alice", times: 5);
        Fixture.Time.Advance(TimeSpan.FromHours(2));
        await Use("alice", times: 3);
        await Use("bob");
        // The last day of the month late, then the first of the next: two months. Carol on both, Bob on the second.
        var last = new DateTimeOffset(new DateTime(sunday.Year, sunday.Month, 1).AddMonths(1).AddDays(-1).AddHours(22), TimeSpan.Zero);
        if (last <= Fixture.Time.GetUtcNow()) last = new DateTimeOffset(new DateTime(sunday.Year, sunday.Month, 1).AddMonths(2).AddDays(-1).AddHours(22), TimeSpan.Zero);
        Fixture.Time.SetUtcNow(last);
        await Use("carol");
        Fixture.Time.Advance(TimeSpan.FromHours(3));
        await Use("carol");
        await Use("bob", times: 2);
        await Flush();

        var from = DateOnly.FromDateTime(sunday.UtcDateTime);
        var to = DateOnly.FromDateTime(Fixture.Time.GetUtcNow().UtcDateTime);
        var days = activity.Select(a => (Day: DateOnly.FromDateTime(a.At.UtcDateTime), a.User)).ToList();
        foreach (var (granularity, key) in new (string, Func<DateOnly, string>)[]
                 {
                     ("day", d => d.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)),
                     ("week", d => $"{ISOWeek.GetYear(d.ToDateTime(TimeOnly.MinValue))}-W{ISOWeek.GetWeekOfYear(d.ToDateTime(TimeOnly.MinValue)):00}"),
                     ("month", d => d.ToString("yyyy-MM", CultureInfo.InvariantCulture)),
                 })
        {
            var expected = days.GroupBy(d => key(d.Day)).ToDictionary(g => g.Key, g => (long)g.Select(x => x.User).Distinct().Count());
            var report = (await Admin.Get($"/api/tenants/{tenant}/analytics/active-users?granularity={granularity}&from={from:yyyy-MM-dd}&to={to:yyyy-MM-dd}"))
                .ShouldBe(HttpStatusCode.OK).Json;
            var series = report.GetProperty("series").EnumerateArray().ToDictionary(p => p.GetProperty("period").GetString()!, p => p.GetProperty("activeUsers").GetInt64());
            foreach (var (period, count) in expected) series[period].ShouldBe(count, $"{granularity} {period}");
            series.Where(p => !expected.ContainsKey(p.Key)).ShouldAllBe(p => p.Value == 0);
        }

        // Sunday (alice) and Monday (alice, bob, and carol too when Monday is a month's last day) fall in two ISO weeks;
        // the weeks are clipped to the range asked for.
        var week = (await Admin.Get($"/api/tenants/{tenant}/analytics/active-users?granularity=week&from={from:yyyy-MM-dd}&to={from.AddDays(1):yyyy-MM-dd}"))
            .ShouldBe(HttpStatusCode.OK).Json.GetProperty("series").EnumerateArray().Select(p => p.GetProperty("activeUsers").GetInt64()).ToList();
        week.ShouldBe([1L, days.Where(d => d.Day == from.AddDays(1)).Select(d => d.User).Distinct().Count()]);
        week[1].ShouldBeGreaterThanOrEqualTo(2);

        // DAU/MAU on the last day: bob and carol that day, alice, bob, carol in the 30 days before.
        var sticky = (await Admin.Get($"/api/tenants/{tenant}/analytics/active-users?from={to:yyyy-MM-dd}&to={to:yyyy-MM-dd}")).ShouldBe(HttpStatusCode.OK)
            .Json.GetProperty("dauMau")[0];
        var monthBefore = days.Where(d => d.Day > to.AddDays(-30)).Select(d => d.User).Distinct().Count();
        sticky.GetProperty("dailyActiveUsers").GetInt64().ShouldBe(2);
        sticky.GetProperty("monthlyActiveUsers").GetInt64().ShouldBe(monthBefore);
        sticky.GetProperty("dauMauRatio").GetDouble().ShouldBe(Math.Round(2.0 / monthBefore, 4));
    }

    [Fact]
    public async Task repeated_activity_on_several_instances_is_one_record_and_feature_areas_are_counted_apart()
    {
        var tenant = await Active();
        Next(DayOfWeek.Wednesday, 10);
        var second = Fixture.SecondClient(await Fixture.SecondHost(), Fixture.Token(Roles.TenantAdmin, "dana", tenant));
        for (var i = 0; i < 3; i++)
        {
            (await User(tenant, "dana").Get($"/api/tenants/{tenant}")).ShouldBe(HttpStatusCode.OK);
            (await second.Get($"/api/tenants/{tenant}")).ShouldBe(HttpStatusCode.OK);
        }
        (await User(tenant, "erin").Get($"/api/tenants/{tenant}/organisations")).ShouldBe(HttpStatusCode.OK);
        await Flush();
        await (await Fixture.SecondHost()).Services.GetRequiredService<ActivityRecorder>().FlushAsync(CancellationToken.None);

        var today = DateOnly.FromDateTime(Fixture.Time.GetUtcNow().UtcDateTime);
        async Task<long> Count(string? feature) =>
            (await Admin.Get($"/api/tenants/{tenant}/analytics/active-users?from={today:yyyy-MM-dd}&to={today:yyyy-MM-dd}" + (feature is null ? "" : "&feature=" + feature)))
            .ShouldBe(HttpStatusCode.OK).Json.GetProperty("series")[0].GetProperty("activeUsers").GetInt64();
        (await Count(null)).ShouldBe(2);
        (await Count("tenant")).ShouldBe(1);
        (await Count("organisations")).ShouldBe(1);
        (await Count("case-files")).ShouldBe(0);
        await using var connection = new Npgsql.NpgsqlConnection(TestDatabase.OwnerConnectionString);
        await connection.OpenAsync();
        await using var rows = new Npgsql.NpgsqlCommand("select count(*), count(distinct user_token) from tenantevents.analytics_activity where tenant_id = $1", connection);
        rows.Parameters.Add(new Npgsql.NpgsqlParameter { Value = tenant.ToString() });
        await using var reader = await rows.ExecuteReaderAsync();
        await reader.ReadAsync();
        reader.GetInt64(0).ShouldBe(2); // dana once (two instances, six requests), erin once
        // Users are stored as tokens, not their ids.
        await reader.CloseAsync();
        await using var names = new Npgsql.NpgsqlCommand("select count(*) from tenantevents.analytics_activity where user_token like '%dana%'", connection);
        ((long)(await names.ExecuteScalarAsync())!).ShouldBe(0);
    }

    [Fact]
    public async Task a_csv_of_any_series_and_only_the_right_people_see_it()
    {
        var tenant = await Active("travis-sheriff");
        var other = await Active("bexar-sheriff");
        var today = DateOnly.FromDateTime(Fixture.Time.GetUtcNow().UtcDateTime);
        (await User(tenant, "frank").Get($"/api/tenants/{tenant}")).ShouldBe(HttpStatusCode.OK);
        await Flush();
        var route = $"/api/tenants/{tenant}/analytics/active-users";
        var csv = (await Admin.Get($"{route}?granularity=month&format=csv&from={today:yyyy-MM-dd}&to={today:yyyy-MM-dd}")).ShouldBe(HttpStatusCode.OK);
        csv.ContentHeaders!.ContentType!.MediaType.ShouldBe("text/csv");
        var lines = csv.Body.Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        lines[0].ShouldBe("period,start,end,active_users");
        lines[1].ShouldEndWith(",1");
        var dauMau = (await Admin.Get($"{route}?format=csv&series=dau-mau&from={today.AddDays(-1):yyyy-MM-dd}&to={today:yyyy-MM-dd}")).ShouldBe(HttpStatusCode.OK)
            .Body.Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        dauMau.ShouldBe(["day,daily_active_users,monthly_active_users,dau_mau_ratio", $"{today.AddDays(-1):yyyy-MM-dd},0,0,", $"{today:yyyy-MM-dd},1,1,1"]);
        (await Admin.Get($"{route}?format=csv&series=weekly")).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");

        foreach (var client in new[] { As(Roles.Analyst, "ann"), As(Roles.Auditor, "audrey"), TenantAdminOf(tenant) })
            (await client.Get(route)).ShouldBe(HttpStatusCode.OK);
        (await TenantAdminOf(other).Get(route)).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await As(Roles.TenantMember, "stranger", other).Get(route)).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await Fixture.Client(null).Get(route)).ShouldBe(HttpStatusCode.Unauthorized);

        (await Admin.Get($"{route}?granularity=year")).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await Admin.Get($"{route}?granularity=7")).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await Admin.Get($"{route}?from=2026-12-10&to=2026-12-01")).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await Admin.Get($"{route}?from=2020-01-01&to=2026-12-01")).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await Admin.Get($"{route}?from=yesterday")).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await Admin.Get($"{route}?feature=teleport")).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await Admin.Get($"{route}?format=xml")).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
    }
}

/// <summary>Feature adoption: within a tenant (share of its active users) and across the estate (share of active tenants).</summary>
public class AdoptionTests(AppFixture fixture) : IntegrationTest(fixture)
{
    [Fact]
    public async Task adoption_is_the_share_of_active_users_and_of_active_tenants_per_feature_area()
    {
        var a = await Active("travis-sheriff");
        var b = await Active("bexar-sheriff");
        var c = await Active("hays-sheriff");
        var day = Fixture.Time.GetUtcNow().UtcDateTime.Date.AddDays(1).AddHours(9);
        Fixture.Time.SetUtcNow(new DateTimeOffset(day, TimeSpan.Zero));
        async Task Use(Guid tenant, string user, string path) => (await As(Roles.TenantAdmin, user, tenant).Get($"/api/tenants/{tenant}{path}")).ShouldBe(HttpStatusCode.OK);
        // Tenant a: four users read the tenant, one of them also the organisations. Tenant b: one user, organisations.
        foreach (var user in new[] { "u1", "u2", "u3", "u4" }) await Use(a, user, "");
        await Use(a, "u1", "/organisations");
        await Use(b, "v1", "/organisations");
        await Fixture.Host.Services.GetRequiredService<ActivityRecorder>().FlushAsync(CancellationToken.None);
        var today = DateOnly.FromDateTime(day);
        var range = $"from={today:yyyy-MM-dd}&to={today:yyyy-MM-dd}";

        var inside = (await Admin.Get($"/api/tenants/{a}/analytics/adoption?{range}")).ShouldBe(HttpStatusCode.OK).Json.GetProperty("areas").EnumerateArray()
            .ToDictionary(x => x.GetProperty("feature").GetString()!);
        inside["tenant"].GetProperty("users").GetInt64().ShouldBe(4);
        inside["tenant"].GetProperty("share").GetDouble().ShouldBe(1.0);
        inside["organisations"].GetProperty("users").GetInt64().ShouldBe(1);
        inside["organisations"].GetProperty("share").GetDouble().ShouldBe(0.25);
        inside["case-files"].GetProperty("share").GetDouble().ShouldBe(0.0);
        inside.Keys.ShouldBe(FeatureAreas.All.Keys, ignoreOrder: true);

        // Across the estate: a and b were active (c was not); both used organisations, only a the tenant area.
        var estate = (await As(Roles.Analyst, "ann").Get($"/api/analytics/adoption?{range}")).ShouldBe(HttpStatusCode.OK).Json.GetProperty("areas")
            .EnumerateArray().ToDictionary(x => x.GetProperty("feature").GetString()!);
        estate["organisations"].GetProperty("tenants").GetInt64().ShouldBe(2);
        estate["organisations"].GetProperty("activeTenants").GetInt64().ShouldBe(2);
        estate["tenant"].GetProperty("share").GetDouble().ShouldBe(0.5);
        var csv = (await Admin.Get($"/api/analytics/adoption?{range}&format=csv")).ShouldBe(HttpStatusCode.OK).Body;
        csv.Split("\r\n")[0].ShouldBe("feature,tenants,active_tenants,share");

        // A tenant sees its own adoption only; the estate is the platform's.
        (await TenantAdminOf(b).Get($"/api/tenants/{a}/analytics/adoption")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await TenantAdminOf(c).Get("/api/analytics/adoption")).ShouldBe(HttpStatusCode.Forbidden);
        (await Admin.Get("/api/analytics/adoption?format=pdf")).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await Admin.Get($"/api/tenants/{a}/analytics/adoption?to=2026-13-01")).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
    }
}

/// <summary>Active users of one organisation: its members and those of the organisations below it.</summary>
public class OrganisationActiveUserTests(AppFixture fixture) : IntegrationTest(fixture)
{
    [Fact]
    public async Task an_organisations_active_users_are_the_active_members_of_its_subtree()
    {
        var tenant = await Active();
        var root = await RootOf(tenant);
        var admin = TenantAdminOf(tenant);
        async Task<Guid> Org(Guid parent, string name) => Guid.Parse((await admin.Post($"/api/tenants/{tenant}/organisations",
            new { parentId = parent, name, kind = "unit" })).ShouldBe(HttpStatusCode.Created).Str("id"));
        var patrol = await Org(root, "Patrol");
        var night = await Org(patrol, "Night shift");
        var records = await Org(root, "Records");
        foreach (var (org, user) in new[] { (patrol, "pat"), (night, "nina"), (records, "rex") })
            (await admin.Post($"/api/tenants/{tenant}/organisations/{org}/members", new { userId = user })).ShouldBe(HttpStatusCode.Created);
        foreach (var user in new[] { "pat", "nina", "rex", "outsider" })
            (await As(Roles.TenantAdmin, user, tenant).Get($"/api/tenants/{tenant}")).ShouldBe(HttpStatusCode.OK);
        await Fixture.Host.Services.GetRequiredService<ActivityRecorder>().FlushAsync(CancellationToken.None);
        var today = DateOnly.FromDateTime(Fixture.Time.GetUtcNow().UtcDateTime);
        async Task<long> Count(Guid? org) =>
            (await Admin.Get($"/api/tenants/{tenant}/analytics/active-users?from={today:yyyy-MM-dd}&to={today:yyyy-MM-dd}" + (org is null ? "" : $"&organisationId={org}")))
            .ShouldBe(HttpStatusCode.OK).Json.GetProperty("series")[0].GetProperty("activeUsers").GetInt64();
        (await Count(null)).ShouldBe(5);     // the four, and the administrator who built the tree
        (await Count(patrol)).ShouldBe(2);   // pat, and nina below
        (await Count(night)).ShouldBe(1);
        (await Count(records)).ShouldBe(1);
        (await Admin.Get($"/api/tenants/{tenant}/analytics/active-users?organisationId={Guid.NewGuid()}")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await Admin.Get($"/api/tenants/{tenant}/analytics/active-users?organisationId=nope")).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        // Another tenant's organisation is not this tenant's.
        var other = await Active("bexar-sheriff");
        (await Admin.Get($"/api/tenants/{other}/analytics/active-users?organisationId={patrol}")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
    }
}
