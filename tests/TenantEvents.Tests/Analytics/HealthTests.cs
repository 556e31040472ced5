using System.Net;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using TenantEvents.Analytics;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Quotas;
using TenantEvents.Tests.Support;

namespace TenantEvents.Tests.Analytics;

/// <summary>
/// The tenant health summary (state, activity trend, quota pressure, failed deliveries, approvals waiting) and resource
/// utilisation (usage against the quota limits per kind and period, from the quota data), and who may see them.
/// </summary>
public class HealthTests(AppFixture fixture) : IntegrationTest(fixture)
{
    private static List<string> Codes(JsonElement health) =>
        health.GetProperty("findings").EnumerateArray().Select(f => f.GetProperty("code").GetString()!).ToList();

    private async Task<JsonElement> Health(Guid tenant) =>
        (await Admin.Get($"/api/tenants/{tenant}/analytics/health")).ShouldBe(HttpStatusCode.OK).Json;

    [Fact]
    public async Task a_quiet_active_tenant_is_healthy_and_each_problem_shows_as_a_finding()
    {
        var tenant = await ActiveWithQuotas(new { apiCallsPerDay = 10 });
        var health = await Health(tenant);
        health.GetProperty("state").GetString().ShouldBe("active");
        health.GetProperty("status").GetString().ShouldBe("healthy", health.ToString());
        Codes(health).ShouldBeEmpty();
        health.GetProperty("quotas").EnumerateArray().Select(q => q.GetProperty("kind").GetString()).ShouldBe(QuotaKinds.All);

        // Quota pressure: 8 of 10 calls is the 80 % threshold (high); 10 of 10 a hard limit reached (critical).
        var client = TenantAdminOf(tenant);
        for (var i = 0; i < 8; i++) (await client.Get($"/api/tenants/{tenant}")).ShouldBe(HttpStatusCode.OK);
        health = await Health(tenant);
        var daily = health.GetProperty("quotas").EnumerateArray().Single(q => q.GetProperty("kind").GetString() == QuotaKinds.ApiCallsPerDay);
        daily.GetProperty("used").GetInt64().ShouldBe(8);
        daily.GetProperty("level").GetString().ShouldBe("high");
        daily.GetProperty("thresholdReached").GetInt32().ShouldBe(80);
        health.GetProperty("status").GetString().ShouldBe("attention");
        Codes(health).ShouldBe(["quota-high"]);
        for (var i = 0; i < 2; i++) (await client.Get($"/api/tenants/{tenant}")).ShouldBe(HttpStatusCode.OK);
        health = await Health(tenant);
        health.GetProperty("status").GetString().ShouldBe("critical");
        Codes(health).ShouldBe(["quota-exceeded"]);

        // Deliveries that died. (Reaching "dead" takes eight failed attempts over hours: the row is written as the
        // delivery worker would leave it; the webhook tests drive that path for real.)
        await using (var connection = new NpgsqlConnection(TestDatabase.OwnerConnectionString))
        {
            await connection.OpenAsync();
            foreach (var status in new[] { "dead", "dead", "retrying", "delivered" })
            {
                await using var insert = new NpgsqlCommand("""
                    insert into tenantevents.webhook_deliveries (tenant_id, id, subscription_id, source_tenant, log_index, seq_id, event_id, stream_id,
                      event_type, status, attempts, attempt_base, next_attempt_at, created_at)
                    values ($1, gen_random_uuid(), gen_random_uuid(), $2, 0, 0, gen_random_uuid(), $2, 'tenant_renamed', $3, 8, 0, now(), now())
                    """, connection);
                insert.Parameters.Add(new NpgsqlParameter { Value = tenant.ToString() });
                insert.Parameters.Add(new NpgsqlParameter { Value = tenant });
                insert.Parameters.Add(new NpgsqlParameter { Value = status });
                await insert.ExecuteNonQueryAsync();
            }
        }
        health = await Health(tenant);
        health.GetProperty("deliveries").GetProperty("dead").GetInt64().ShouldBe(2);
        health.GetProperty("deliveries").GetProperty("retrying").GetInt64().ShouldBe(1);
        Codes(health).ShouldBe(["quota-exceeded", "deliveries-dead", "deliveries-retrying"]);

        // Suspended: critical whatever else.
        (await Admin.Post($"/api/tenants/{tenant}/suspend", new { reason = "unpaid" })).ShouldBe(HttpStatusCode.OK);
        health = await Health(tenant);
        health.GetProperty("state").GetString().ShouldBe("suspended");
        Codes(health)[0].ShouldBe("tenant-suspended");
    }

    [Fact]
    public async Task approvals_waiting_are_counted_for_both_sides_of_an_agreement_and_for_a_decommission()
    {
        var police = await Active("austin-police");
        var sheriff = await Active("travis-sheriff");
        var file = Guid.Parse((await TenantAdminOf(police).Post($"/api/tenants/{police}/case-files",
            new { organisationId = await RootOf(police), title = "Burglary series", classification = "official", tags = Array.Empty<string>(), body = "" }))
            .ShouldBe(HttpStatusCode.Created).Str("id"));
        (await TenantAdminOf(police).Post($"/api/tenants/{police}/sharing/agreements", new
        {
            recipientTenantId = sheriff, scope = new { caseFileIds = new[] { file } }, purpose = "joint burglary work", expiresAt = Fixture.Time.GetUtcNow().AddDays(30),
        })).ShouldBe(HttpStatusCode.Created);

        var offeredBy = (await Health(police)).GetProperty("approvals");
        offeredBy.GetProperty("agreementsAwaitingPartners").GetInt32().ShouldBe(1);
        offeredBy.GetProperty("agreementsOfferedToTenant").GetInt32().ShouldBe(0);
        var offeredTo = await Health(sheriff);
        offeredTo.GetProperty("approvals").GetProperty("agreementsOfferedToTenant").GetInt32().ShouldBe(1);
        offeredTo.GetProperty("approvals").GetProperty("total").GetInt32().ShouldBe(1);
        Codes(offeredTo).ShouldBe(["approvals-pending"]);
        // Past its expiry an offer is no longer waiting for anyone.
        Fixture.Time.Advance(TimeSpan.FromDays(31));
        (await Health(sheriff)).GetProperty("approvals").GetProperty("total").GetInt32().ShouldBe(0);

        (await TenantAdminOf(sheriff).Post($"/api/tenants/{sheriff}/decommission", new { reason = "merging" })).ShouldBe(HttpStatusCode.OK);
        var decommission = await Health(sheriff);
        decommission.GetProperty("state").GetString().ShouldBe("decommission-requested");
        decommission.GetProperty("approvals").GetProperty("decommissionAwaitingApproval").GetBoolean().ShouldBeTrue();
        Codes(decommission).ShouldBe(["decommission-requested", "approvals-pending"]);
    }

    [Fact]
    public async Task the_activity_trend_compares_the_last_seven_days_with_the_seven_before()
    {
        // Events are counted by the time PostgreSQL recorded them: the service's clock is set to it.
        Fixture.Time.SetUtcNow(DateTimeOffset.UtcNow);
        var tenant = await Active("trend-sheriff");
        var recorder = Fixture.Host.Services.GetRequiredService<ActivityRecorder>();
        // Three people ten days ago, one today: falling.
        Fixture.Time.Advance(TimeSpan.FromDays(-10));
        foreach (var user in new[] { "u1", "u2", "u3" }) (await As(Roles.TenantAdmin, user, tenant).Get($"/api/tenants/{tenant}")).ShouldBe(HttpStatusCode.OK);
        Fixture.Time.Advance(TimeSpan.FromDays(10));
        (await As(Roles.TenantAdmin, "u1", tenant).Get($"/api/tenants/{tenant}")).ShouldBe(HttpStatusCode.OK);
        await recorder.FlushAsync(CancellationToken.None);
        await Fixture.Host.Services.GetRequiredService<AnalyticsProjector>().CatchUpAsync(CancellationToken.None);

        var health = await Health(tenant);
        var users = health.GetProperty("activeUsers");
        users.GetProperty("last7Days").GetInt64().ShouldBe(1);
        users.GetProperty("previous7Days").GetInt64().ShouldBe(3);
        users.GetProperty("direction").GetString().ShouldBe("falling");
        Codes(health).ShouldContain("activity-falling");
        // The tenant's events (request, approval, provisioning...) all happened today: new.
        var events = health.GetProperty("events");
        events.GetProperty("last7Days").GetInt64().ShouldBe(await EventCount(tenant) + await OrganisationEvents(tenant));
        events.GetProperty("previous7Days").GetInt64().ShouldBe(0);
        events.GetProperty("direction").GetString().ShouldBe("new");
    }

    private static async Task<long> OrganisationEvents(Guid tenant)
    {
        long total = 0;
        foreach (var (_, _, connectionString) in await TestDatabase.Databases())
        {
            await using var connection = new NpgsqlConnection(connectionString);
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand("select count(*) from tenantevents.mt_events where tenant_id = $1 and stream_id <> $2 and type <> 'tombstone'", connection);
            command.Parameters.Add(new NpgsqlParameter { Value = tenant.ToString() });
            command.Parameters.Add(new NpgsqlParameter { Value = tenant });
            total += (long)(await command.ExecuteScalarAsync())!;
        }
        return total;
    }

    [Fact]
    public async Task utilisation_is_usage_against_the_limit_per_kind_and_period_from_the_quota_data()
    {
        var tenant = await ActiveWithQuotas(new { apiCallsPerDay = 20, apiCallsPerMonth = 100 });
        var client = TenantAdminOf(tenant);
        // 28 November: 5 calls; 30 November: the daily limit goes up to 40, then 10 calls; 1 December: 4 (a new month).
        async Task Calls(int n) { for (var i = 0; i < n; i++) (await client.Get($"/api/tenants/{tenant}")).ShouldBe(HttpStatusCode.OK); }
        await Calls(5);
        Fixture.Time.SetUtcNow(new DateTimeOffset(2026, 11, 30, 12, 0, 0, TimeSpan.Zero));
        (await Admin.Patch($"/api/tenants/{tenant}/settings", new { quotas = new { apiCallsPerDay = 40 } })).ShouldBe(HttpStatusCode.OK);
        await Calls(10);
        Fixture.Time.SetUtcNow(new DateTimeOffset(2026, 12, 1, 8, 0, 0, TimeSpan.Zero));
        await Calls(4);

        var report = (await Admin.Get($"/api/tenants/{tenant}/analytics/utilisation?from=2026-11-28&to=2026-12-01")).ShouldBe(HttpStatusCode.OK).Json;
        JsonElement Kind(string kind) => report.GetProperty("kinds").EnumerateArray().Single(k => k.GetProperty("kind").GetString() == kind);
        var daily = Kind(QuotaKinds.ApiCallsPerDay);
        daily.GetProperty("period").GetString().ShouldBe("day");
        daily.GetProperty("limit").GetInt64().ShouldBe(40);
        daily.GetProperty("used").GetInt64().ShouldBe(4, "today's calls");
        // Each day against the limit in force that day: 20 until the change on the 30th, 40 after.
        daily.GetProperty("periods").EnumerateArray().Select(p => (p.GetProperty("period").GetString(), p.GetProperty("used").GetInt64(),
                p.GetProperty("limit").GetInt64(), p.GetProperty("percent").GetDouble()))
            .ShouldBe([("2026-11-28", 5L, 20L, 25.0), ("2026-11-29", 0L, 20L, 0.0), ("2026-11-30", 10L, 40L, 25.0), ("2026-12-01", 4L, 40L, 10.0)]);
        daily.GetProperty("peakPercent").GetDouble().ShouldBe(25);
        daily.GetProperty("meanPercent").GetDouble().ShouldBe(15);
        var monthly = Kind(QuotaKinds.ApiCallsPerMonth);
        monthly.GetProperty("period").GetString().ShouldBe("month");
        monthly.GetProperty("periods").EnumerateArray().Select(p => (p.GetProperty("period").GetString(), p.GetProperty("used").GetInt64(), p.GetProperty("percent").GetDouble()))
            .ShouldBe([("2026-11", 15L, 15.0), ("2026-12", 4L, 4.0)]);
        monthly.GetProperty("used").GetInt64().ShouldBe(4);
        Kind(QuotaKinds.Licences).GetProperty("limit").GetInt64().ShouldBe(500);

        var csv = (await Admin.Get($"/api/tenants/{tenant}/analytics/utilisation?from=2026-11-28&to=2026-12-01&format=csv")).ShouldBe(HttpStatusCode.OK);
        csv.ContentHeaders!.ContentType!.MediaType.ShouldBe("text/csv");
        var lines = csv.Body.Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        lines[0].ShouldBe("kind,period,start,end,used,limit,percent");
        lines.ShouldContain("apiCallsPerDay,2026-11-30,2026-11-30,2026-11-30,10,40,25");
        lines.ShouldContain("apiCallsPerMonth,2026-11,2026-11-01,2026-11-30,15,100,15");
    }

    [Fact]
    public async Task health_and_utilisation_are_the_tenants_own_and_refuse_bad_input()
    {
        var tenant = await Active("travis-sheriff");
        var other = await Active("bexar-sheriff");
        foreach (var route in new[] { $"/api/tenants/{tenant}/analytics/health", $"/api/tenants/{tenant}/analytics/utilisation" })
        {
            foreach (var client in new[] { Admin, As(Roles.Analyst, "ann"), As(Roles.Auditor, "audrey"), TenantAdminOf(tenant) })
                (await client.Get(route)).ShouldBe(HttpStatusCode.OK);
            // Another tenant's administrator and members: as if the tenant did not exist.
            (await TenantAdminOf(other).Get(route)).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
            (await As(Roles.TenantMember, "stranger", other).Get(route)).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
            (await As(Roles.PlatformApprover, "bob").Get(route)).ShouldBe(HttpStatusCode.Forbidden);
            (await Fixture.Client(null).Get(route)).ShouldBe(HttpStatusCode.Unauthorized);
            // No tenant by that id.
            (await Admin.Get(route.Replace(tenant.ToString(), Guid.NewGuid().ToString()))).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        }
        // The tenant's own analysts: a member holding analytics.read at the root sees both; one who sees the tree without it gets 403.
        var admin = TenantAdminOf(tenant);
        (await admin.Put($"/api/tenants/{tenant}/roles/analytics-reader", new { description = "Reads analytics", permissions = new[] { "analytics.read" } }))
            .ShouldBe(HttpStatusCode.OK);
        (await admin.Post($"/api/tenants/{tenant}/organisations/{await RootOf(tenant)}/grants", new { principal = new { kind = "user", id = "ada" }, role = "analytics-reader" }))
            .ShouldBe(HttpStatusCode.Created);
        (await admin.Put($"/api/tenants/{tenant}/roles/viewer", new { description = "Sees the tree", permissions = new[] { "org.read" } })).ShouldBe(HttpStatusCode.OK);
        (await admin.Post($"/api/tenants/{tenant}/organisations/{await RootOf(tenant)}/grants", new { principal = new { kind = "user", id = "cy" }, role = "viewer" }))
            .ShouldBe(HttpStatusCode.Created);
        (await admin.Post($"/api/tenants/{tenant}/organisations/{await RootOf(tenant)}/grants", new { principal = new { kind = "user", id = "dee" }, role = "officer" }))
            .ShouldBe(HttpStatusCode.Created);
        foreach (var route in new[] { $"/api/tenants/{tenant}/analytics/health", $"/api/tenants/{tenant}/analytics/utilisation" })
        {
            (await As(Roles.TenantMember, "ada", tenant).Get(route)).ShouldBe(HttpStatusCode.OK);
            (await As(Roles.TenantMember, "cy", tenant).Get(route)).ShouldBeProblem(HttpStatusCode.Forbidden, "forbidden");
            // A member holding other powers at the root: the tenant exists for her (as access/explain tells her), not its analytics.
            (await As(Roles.TenantMember, "dee", tenant).Get(route)).ShouldBeProblem(HttpStatusCode.Forbidden, "forbidden");
            (await As(Roles.TenantMember, "nobody", tenant).Get(route)).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
            (await As(Roles.TenantMember, "ada", other).Get(route)).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        }
        var utilisation = $"/api/tenants/{tenant}/analytics/utilisation";
        foreach (var bad in new[] { "from=2026-12-10&to=2026-12-01", "from=2020-01-01&to=2026-12-01", "from=soon", "format=xml" })
            (await Admin.Get($"{utilisation}?{bad}")).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
    }
}
