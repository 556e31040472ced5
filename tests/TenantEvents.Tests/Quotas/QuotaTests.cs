using System.Net;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Quotas;
using TenantEvents.Tests.Support;

namespace TenantEvents.Tests.Quotas;

/// <summary>Quotas through the API: limits, hierarchical allocation, metering and enforcement, alerts, usage and history.</summary>
public class QuotaTests(AppFixture fixture) : IntegrationTest(fixture)
{
    private QuotaLedger Ledger => Fixture.Host.Services.GetRequiredService<QuotaLedger>();

    private async Task<Guid> Organisation(Guid tenant, Guid parent, string name) =>
        Guid.Parse((await TenantAdminOf(tenant).Post($"/api/tenants/{tenant}/organisations", new { parentId = parent, name, kind = "unit" }))
            .ShouldBe(HttpStatusCode.Created).Str("id"));

    /// <summary>A root with a county under it and a station under the county: the tree most quota tests allocate on.</summary>
    private async Task<(Guid Root, Guid County, Guid Station)> CountyAndStation(Guid tenant)
    {
        var root = await RootOf(tenant);
        var county = await Organisation(tenant, root, "County");
        return (root, county, await Organisation(tenant, county, "Station"));
    }

    /// <summary>A role of these permissions, defined by the tenant's administrator and granted to a user at an organisation.</summary>
    private async Task Grant(Guid tenant, Guid org, string user, string role, params string[] permissions)
    {
        var admin = TenantAdminOf(tenant);
        (await admin.Put($"/api/tenants/{tenant}/roles/{role}", new { description = "Quota work", permissions })).ShouldBe(HttpStatusCode.OK);
        (await admin.Post($"/api/tenants/{tenant}/organisations/{org}/grants", new { principal = new { kind = "user", id = user }, role }))
            .ShouldBe(HttpStatusCode.Created);
    }

    private static JsonElement Quota(Reply usage, string kind) =>
        usage.Json.GetProperty("quotas").EnumerateArray().Single(q => q.GetProperty("kind").GetString() == kind);

    private static void ShouldBeQuotaRefusal(Reply reply, HttpStatusCode status, string kind, long used, long limit)
    {
        reply.ShouldBeProblem(status, "quota-exceeded");
        reply.Json.GetProperty("quota").GetString().ShouldBe(kind);
        reply.Json.GetProperty("used").GetInt64().ShouldBe(used);
        reply.Json.GetProperty("limit").GetInt64().ShouldBe(limit);
        reply.Json.GetProperty("resetAt").GetDateTimeOffset().ShouldBeGreaterThan(new DateTimeOffset(2026, 11, 28, 9, 0, 0, TimeSpan.Zero));
    }

    // ---- API calls --------------------------------------------------------------------------------------------------

    [Fact]
    public async Task api_calls_up_to_the_daily_limit_pass_and_the_next_gets_429_with_the_figures_and_retry_after()
    {
        var tenant = await ActiveWithQuotas(new { apiCallsPerDay = 5 });
        var client = TenantAdminOf(tenant);
        for (var i = 0; i < 5; i++) (await client.Get($"/api/tenants/{tenant}")).ShouldBe(HttpStatusCode.OK);
        var refused = await client.Get($"/api/tenants/{tenant}");
        ShouldBeQuotaRefusal(refused, HttpStatusCode.TooManyRequests, QuotaKinds.ApiCallsPerDay, 5, 5);
        refused.Json.GetProperty("resetAt").GetDateTimeOffset().ShouldBe(new DateTimeOffset(2026, 11, 29, 0, 0, 0, TimeSpan.Zero));
        // 09:00 -> midnight UTC: 15 hours.
        refused.Headers.RetryAfter!.Delta.ShouldBe(TimeSpan.FromHours(15));
        // The refused call was not counted; platform staff are not the tenant's calls and are not refused.
        (await Admin.Get($"/api/tenants/{tenant}")).ShouldBe(HttpStatusCode.OK);
        var usage = (await Admin.Get($"/api/tenants/{tenant}/quotas")).ShouldBe(HttpStatusCode.OK);
        Quota(usage, QuotaKinds.ApiCallsPerDay).GetProperty("used").GetInt64().ShouldBe(5);
        Quota(usage, QuotaKinds.ApiCallsPerMonth).GetProperty("used").GetInt64().ShouldBe(5);
        Quota(usage, QuotaKinds.ApiCallsPerDay).GetProperty("held").GetInt64().ShouldBe(0);
    }

    [Fact]
    public async Task many_parallel_calls_racing_for_the_last_units_let_exactly_the_limit_through()
    {
        var tenant = await ActiveWithQuotas(new { apiCallsPerDay = 23 });
        var client = TenantAdminOf(tenant);
        var replies = await Task.WhenAll(Enumerable.Range(0, 60).Select(_ => client.Get($"/api/tenants/{tenant}")));
        replies.Count(r => r.Status == HttpStatusCode.OK).ShouldBe(23);
        replies.Count(r => r.Status == HttpStatusCode.TooManyRequests).ShouldBe(37);
        await Ledger.FlushAsync(default);
        var usage = (await Admin.Get($"/api/tenants/{tenant}/quotas")).ShouldBe(HttpStatusCode.OK);
        Quota(usage, QuotaKinds.ApiCallsPerDay).GetProperty("used").GetInt64().ShouldBe(23);
    }

    [Fact]
    public async Task the_daily_count_starts_again_at_midnight_utc_and_the_monthly_at_the_first_of_the_month()
    {
        var tenant = await ActiveWithQuotas(new { apiCallsPerDay = 3, apiCallsPerMonth = 5 });
        var client = TenantAdminOf(tenant);
        for (var i = 0; i < 3; i++) (await client.Get($"/api/tenants/{tenant}")).ShouldBe(HttpStatusCode.OK);
        ShouldBeQuotaRefusal(await client.Get($"/api/tenants/{tenant}"), HttpStatusCode.TooManyRequests, QuotaKinds.ApiCallsPerDay, 3, 3);
        Fixture.Time.SetUtcNow(new DateTimeOffset(2026, 11, 29, 0, 0, 0, TimeSpan.Zero));
        for (var i = 0; i < 2; i++) (await client.Get($"/api/tenants/{tenant}")).ShouldBe(HttpStatusCode.OK);
        // The month's 5 are used (3 yesterday, 2 today), though today's 3 are not.
        var monthly = await client.Get($"/api/tenants/{tenant}");
        ShouldBeQuotaRefusal(monthly, HttpStatusCode.TooManyRequests, QuotaKinds.ApiCallsPerMonth, 5, 5);
        monthly.Json.GetProperty("resetAt").GetDateTimeOffset().ShouldBe(new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero));
        Fixture.Time.SetUtcNow(new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero));
        (await client.Get($"/api/tenants/{tenant}")).ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task observe_only_quotas_count_and_alert_but_do_not_refuse()
    {
        var tenant = await ActiveWithQuotas(new { apiCallsPerDay = 4, modes = new Dictionary<string, string> { ["apiCallsPerDay"] = "observe-only" } });
        var client = TenantAdminOf(tenant);
        for (var i = 0; i < 6; i++) (await client.Get($"/api/tenants/{tenant}")).ShouldBe(HttpStatusCode.OK);
        await Ledger.FlushAsync(default);
        var usage = (await Admin.Get($"/api/tenants/{tenant}/quotas")).ShouldBe(HttpStatusCode.OK);
        var daily = Quota(usage, QuotaKinds.ApiCallsPerDay);
        daily.GetProperty("used").GetInt64().ShouldBe(6);
        daily.GetProperty("mode").GetString().ShouldBe("observe-only");
        Quota(usage, QuotaKinds.ApiCallsPerMonth).GetProperty("mode").GetString().ShouldBe("hard");
        var alerts = (await Admin.Get($"/api/tenants/{tenant}/quotas/alerts?kind=apiCallsPerDay")).ShouldBe(HttpStatusCode.OK);
        alerts.Json.GetProperty("items").EnumerateArray().Select(a => a.GetProperty("threshold").GetInt32()).Order().ShouldBe([80, 90, 100]);
    }

    // ---- alerts -----------------------------------------------------------------------------------------------------

    [Fact]
    public async Task each_threshold_raises_one_alert_per_period_in_the_audit_trail_and_is_rearmed_next_period()
    {
        var tenant = await ActiveWithQuotas(new { apiCallsPerDay = 10, alertThresholds = new[] { 50, 80, 100 } });
        var client = TenantAdminOf(tenant);
        async Task Calls(int n)
        {
            for (var i = 0; i < n; i++) (await client.Get($"/api/tenants/{tenant}")).ShouldBe(HttpStatusCode.OK);
            await Ledger.FlushAsync(default);
        }
        async Task<List<(int Threshold, DateTimeOffset Period)>> Alerts() =>
            (await Admin.Get($"/api/tenants/{tenant}/quotas/alerts?kind=apiCallsPerDay")).ShouldBe(HttpStatusCode.OK).Json.GetProperty("items")
            .EnumerateArray().Select(a => (a.GetProperty("threshold").GetInt32(), a.GetProperty("periodStart").GetDateTimeOffset())).ToList();

        await Calls(4);
        (await Alerts()).ShouldBeEmpty();
        await Calls(1); // 5 of 10: 50%
        (await Alerts()).Select(a => a.Threshold).ShouldBe([50]);
        await Calls(1);
        await Calls(1);
        (await Alerts()).Count.ShouldBe(1); // still once
        await Calls(3); // 10 of 10: 80% and 100% in one flush
        (await Alerts()).Select(a => a.Threshold).Order().ShouldBe([50, 80, 100]);

        Fixture.Time.SetUtcNow(new DateTimeOffset(2026, 11, 29, 9, 0, 0, TimeSpan.Zero));
        await Calls(5);
        var all = await Alerts();
        all.Count.ShouldBe(4);
        all.Count(a => a.Period == new DateTimeOffset(2026, 11, 29, 0, 0, 0, TimeSpan.Zero)).ShouldBe(1);

        // Each alert is an event of the tenant's quota stream: in the audit trail, with the figures.
        var entries = (await Admin.Get($"/api/tenants/{tenant}/audit/entries?type=quota_threshold_crossed&limit=50")).ShouldBe(HttpStatusCode.OK);
        var items = entries.Json.GetProperty("entries").EnumerateArray().ToList();
        items.Count.ShouldBe(4);
        items.ShouldAllBe(e => e.GetProperty("streamKind").GetString() == "quota");
    }

    // ---- allocation -------------------------------------------------------------------------------------------------

    [Fact]
    public async Task allocations_are_carved_out_of_the_parent_and_are_refused_when_they_do_not_fit_changing_nothing()
    {
        var tenant = await ActiveWithQuotas(new { aiComputeUnitsPerMonth = 100 });
        var (root, county, station) = await CountyAndStation(tenant);
        var other = await Organisation(tenant, root, "Other county");
        var admin = TenantAdminOf(tenant);
        string Url(Guid org) => $"/api/tenants/{tenant}/organisations/{org}/quotas/{QuotaKinds.AiCompute}";

        var set = (await admin.Put(Url(county), new { guaranteed = 60, cap = 80 })).ShouldBe(HttpStatusCode.OK);
        set.Json.GetProperty("guaranteed").GetInt64().ShouldBe(60);
        set.Json.TryGetProperty("carvedOutOf", out _).ShouldBeFalse(); // out of the tenant's limit itself
        (await admin.Put(Url(station), new { guaranteed = 60 })).ShouldBe(HttpStatusCode.OK).Json.GetProperty("carvedOutOf").GetGuid().ShouldBe(county);
        (await admin.Put(Url(other), new { guaranteed = 40 })).ShouldBe(HttpStatusCode.OK);
        var eventsBefore = await EventCount();

        // Up: one more unit for the other county does not fit in the tenant's 100.
        var up = await admin.Put(Url(other), new { guaranteed = 41 });
        up.ShouldBeProblem(HttpStatusCode.Conflict, "allocation-exceeds-parent");
        up.Json.GetProperty("allocated").GetInt64().ShouldBe(101);
        // Down: the station's 60 no longer fits in a county cut to 59.
        var down = await admin.Put(Url(county), new { guaranteed = 59 });
        down.ShouldBeProblem(HttpStatusCode.Conflict, "allocation-exceeds-parent");
        down.Json.GetProperty("organisationId").GetGuid().ShouldBe(county);
        // The tenant's limit may not drop below what is allocated out of it.
        (await Admin.Patch($"/api/tenants/{tenant}/settings", new { quotas = new { aiComputeUnitsPerMonth = 99 } }))
            .ShouldBeProblem(HttpStatusCode.Conflict, "limit-below-allocations");
        // Moving the station (60) under the other county (40) would break that county's share.
        (await admin.Post($"/api/tenants/{tenant}/organisations/{station}/move", new { parentId = other }))
            .ShouldBeProblem(HttpStatusCode.Conflict, "allocation-exceeds-parent");
        (await EventCount()).ShouldBe(eventsBefore);

        var usage = (await Admin.Get($"/api/tenants/{tenant}/quotas")).ShouldBe(HttpStatusCode.OK);
        var allocations = Quota(usage, QuotaKinds.AiCompute).GetProperty("allocations").EnumerateArray()
            .ToDictionary(a => a.GetProperty("organisationId").GetGuid(), a => a.GetProperty("guaranteed").GetInt64());
        allocations.ShouldBe(new Dictionary<Guid, long> { [county] = 60, [station] = 60, [other] = 40 }, ignoreOrder: true);

        // Removing the county's share hangs the station's 60 directly under the tenant beside the other county's 40: fits.
        (await admin.Delete(Url(county))).ShouldBe(HttpStatusCode.NoContent);
        (await admin.Delete(Url(county))).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        // The limit may now go down to the 100 allocated, not below.
        (await Admin.Patch($"/api/tenants/{tenant}/settings", new { quotas = new { aiComputeUnitsPerMonth = 100 } })).ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task closing_an_organisation_gives_its_shares_back()
    {
        var tenant = await ActiveWithQuotas(new { aiComputeUnitsPerMonth = 100 });
        var (root, county, station) = await CountyAndStation(tenant);
        var admin = TenantAdminOf(tenant);
        (await admin.Put($"/api/tenants/{tenant}/organisations/{county}/quotas/{QuotaKinds.AiCompute}", new { guaranteed = 70 })).ShouldBe(HttpStatusCode.OK);
        (await admin.Put($"/api/tenants/{tenant}/organisations/{station}/quotas/{QuotaKinds.AiCompute}", new { guaranteed = 30 })).ShouldBe(HttpStatusCode.OK);
        (await Reserve(admin, tenant, 31)).ShouldBe(HttpStatusCode.Forbidden); // 70 are the county's
        (await admin.Post($"/api/tenants/{tenant}/organisations/{county}/close", new { subtree = true })).ShouldBe(HttpStatusCode.OK);
        var usage = Quota((await Admin.Get($"/api/tenants/{tenant}/quotas")).ShouldBe(HttpStatusCode.OK), QuotaKinds.AiCompute);
        usage.GetProperty("allocations").GetArrayLength().ShouldBe(0);
        (await Reserve(admin, tenant, 100)).ShouldBe(HttpStatusCode.Created);
    }

    [Fact]
    public async Task bad_allocations_and_bad_limits_are_400_and_change_nothing()
    {
        var tenant = await ActiveWithQuotas(new { aiComputeUnitsPerMonth = 100 });
        var root = await RootOf(tenant);
        var county = await Organisation(tenant, root, "County");
        var admin = TenantAdminOf(tenant);
        var eventsBefore = await EventCount();
        var url = $"/api/tenants/{tenant}/organisations/{county}/quotas";
        (await admin.Put($"{url}/gpuHours", new { guaranteed = 1 })).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed")
            .Json.GetProperty("errors")[0].GetProperty("code").GetString().ShouldBe("unknown-quota-kind");
        (await admin.Put($"{url}/licences", new { guaranteed = 1 })).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed")
            .Json.GetProperty("errors")[0].GetProperty("code").GetString().ShouldBe("not-allocatable");
        (await admin.Put($"{url}/{QuotaKinds.AiCompute}", new { guaranteed = -5 })).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await admin.Put($"{url}/{QuotaKinds.AiCompute}", new { guaranteed = 10, cap = 5 })).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await admin.Put($"{url}/{QuotaKinds.AiCompute}", new { guaranteed = long.MaxValue })).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await admin.SendRaw(HttpMethod.Put, $"{url}/{QuotaKinds.AiCompute}", "null")).ShouldBeProblem(HttpStatusCode.BadRequest, "malformed-request");
        (await admin.SendRaw(HttpMethod.Put, $"{url}/{QuotaKinds.AiCompute}", "{\"guaranteed\": \"lots\"}")).Status.ShouldBe(HttpStatusCode.BadRequest);
        (await admin.Delete($"{url}/gpuHours")).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");

        foreach (var quotas in new object[]
                 {
                     new { licences = -1 }, new { apiCallsPerDay = -10 }, new { aiComputeUnitsPerMonth = 2_000_000_000_000_000_000 },
                     new { licences = 20_000_000 }, new { modes = new Dictionary<string, string> { ["gpuHours"] = "hard" } },
                     new { modes = new Dictionary<string, string> { ["licences"] = "sometimes" } }, new { alertThresholds = new[] { 90, 80 } },
                 })
            (await Admin.Patch($"/api/tenants/{tenant}/settings", new { quotas })).Status.ShouldBe(HttpStatusCode.BadRequest, JsonSerializer.Serialize(quotas));
        (await EventCount()).ShouldBe(eventsBefore);
    }

    [Fact]
    public async Task an_organisations_administrator_cannot_raise_its_own_share_but_the_parents_can()
    {
        var tenant = await ActiveWithQuotas(new { aiComputeUnitsPerMonth = 100 });
        var (root, county, station) = await CountyAndStation(tenant);
        var admin = TenantAdminOf(tenant);
        await Grant(tenant, county, "carol", "quota-officer", "quota.manage", "org.read");
        var carol = As(Roles.TenantMember, "carol", tenant);
        (await carol.Put($"/api/tenants/{tenant}/organisations/{county}/quotas/{QuotaKinds.AiCompute}", new { guaranteed = 50 }))
            .ShouldBeProblem(HttpStatusCode.Forbidden, "forbidden");
        (await admin.Put($"/api/tenants/{tenant}/organisations/{county}/quotas/{QuotaKinds.AiCompute}", new { guaranteed = 50 })).ShouldBe(HttpStatusCode.OK);
        (await carol.Put($"/api/tenants/{tenant}/organisations/{station}/quotas/{QuotaKinds.AiCompute}", new { guaranteed = 20 })).ShouldBe(HttpStatusCode.OK);
        // An organisation carol cannot see does not exist for her.
        var elsewhere = await Organisation(tenant, root, "Elsewhere");
        var hidden = await Organisation(tenant, elsewhere, "Hidden");
        (await carol.Put($"/api/tenants/{tenant}/organisations/{hidden}/quotas/{QuotaKinds.AiCompute}", new { guaranteed = 1 }))
            .ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
    }

    [Fact]
    public async Task an_organisations_administrators_see_its_share_what_it_may_still_use_and_nothing_above_it()
    {
        var tenant = await ActiveWithQuotas(new { aiComputeUnitsPerMonth = 100 });
        var (root, county, station) = await CountyAndStation(tenant);
        var admin = TenantAdminOf(tenant);
        await Grant(tenant, county, "carol", "quota-officer", "quota.manage", "org.read");
        (await admin.Put($"/api/tenants/{tenant}/organisations/{county}/quotas/{QuotaKinds.AiCompute}", new { guaranteed = 50, cap = 70 })).ShouldBe(HttpStatusCode.OK);
        (await Reserve(admin, tenant, 10, station)).ShouldBe(HttpStatusCode.Created);
        var carol = As(Roles.TenantMember, "carol", tenant);
        JsonElement Ai(Reply r) => r.Json.GetProperty("quotas").EnumerateArray().Single(q => q.GetProperty("kind").GetString() == QuotaKinds.AiCompute);

        var ofCounty = Ai((await carol.Get($"/api/tenants/{tenant}/organisations/{county}/quotas")).ShouldBe(HttpStatusCode.OK));
        ofCounty.GetProperty("guaranteed").GetInt64().ShouldBe(50);
        ofCounty.GetProperty("cap").GetInt64().ShouldBe(70);
        ofCounty.GetProperty("chargedTo").GetGuid().ShouldBe(county);
        ofCounty.GetProperty("load").GetInt64().ShouldBe(10);
        ofCounty.GetProperty("free").GetInt64().ShouldBe(60);
        ofCounty.GetProperty("heldBySubtree").GetInt64().ShouldBe(10);
        var ofStation = Ai((await carol.Get($"/api/tenants/{tenant}/organisations/{station}/quotas")).ShouldBe(HttpStatusCode.OK));
        ofStation.TryGetProperty("guaranteed", out _).ShouldBeFalse();
        ofStation.GetProperty("chargedTo").GetGuid().ShouldBe(county);
        ofStation.GetProperty("free").GetInt64().ShouldBe(60);
        // Above her organisation she sees nothing; someone without a grant there sees nothing either.
        (await carol.Get($"/api/tenants/{tenant}/organisations/{root}/quotas")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await As(Roles.TenantMember, "dave", tenant).Get($"/api/tenants/{tenant}/organisations/{county}/quotas")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
    }

    // ---- AI compute -------------------------------------------------------------------------------------------------

    private async Task<Reply> Reserve(HttpClient client, Guid tenant, long units, Guid? organisationId = null, int? lifetimeSeconds = null) =>
        await client.Post($"/api/tenants/{tenant}/ai-compute/reservations", new { units, organisationId, lifetimeSeconds, purpose = "transcription" });

    [Fact]
    public async Task ai_compute_is_reserved_then_committed_or_released_and_the_last_unit_goes_to_exactly_one()
    {
        var tenant = await ActiveWithQuotas(new { aiComputeUnitsPerMonth = 10 });
        var admin = TenantAdminOf(tenant);
        var first = (await Reserve(admin, tenant, 6)).ShouldBe(HttpStatusCode.Created);
        first.Headers.Location.ShouldNotBeNull();
        var id = first.Str("id");
        first.Str("state").ShouldBe("held");
        ShouldBeQuotaRefusal(await Reserve(admin, tenant, 5), HttpStatusCode.Forbidden, QuotaKinds.AiCompute, 6, 10);
        // Commit 4 of the 6: 2 go back.
        (await admin.Post($"/api/tenants/{tenant}/ai-compute/reservations/{id}/commit", new { units = 7 }))
            .ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        var committed = (await admin.Post($"/api/tenants/{tenant}/ai-compute/reservations/{id}/commit", new { units = 4 })).ShouldBe(HttpStatusCode.OK);
        committed.Str("state").ShouldBe("committed");
        (await admin.Post($"/api/tenants/{tenant}/ai-compute/reservations/{id}/commit", new { units = 4 }))
            .ShouldBeProblem(HttpStatusCode.Conflict, "reservation-settled");
        (await admin.Post($"/api/tenants/{tenant}/ai-compute/reservations/{id}/release")).ShouldBeProblem(HttpStatusCode.Conflict, "reservation-settled");
        (await admin.Post($"/api/tenants/{tenant}/ai-compute/reservations/{Guid.NewGuid()}/release")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");

        // 6 left: 30 racing reservations of one unit, exactly 6 granted.
        var racing = await Task.WhenAll(Enumerable.Range(0, 30).Select(_ => Reserve(admin, tenant, 1)));
        racing.Count(r => r.Status == HttpStatusCode.Created).ShouldBe(6);
        racing.Count(r => r.Status == HttpStatusCode.Forbidden).ShouldBe(24);
        // Releasing one makes room for exactly one more.
        var some = racing.First(r => r.Status == HttpStatusCode.Created).Str("id");
        (await admin.Post($"/api/tenants/{tenant}/ai-compute/reservations/{some}/release")).ShouldBe(HttpStatusCode.OK).Str("state").ShouldBe("released");
        (await Reserve(admin, tenant, 1)).ShouldBe(HttpStatusCode.Created);
        (await Reserve(admin, tenant, 1)).ShouldBe(HttpStatusCode.Forbidden);

        var usage = Quota((await Admin.Get($"/api/tenants/{tenant}/quotas")).ShouldBe(HttpStatusCode.OK), QuotaKinds.AiCompute);
        usage.GetProperty("used").GetInt64().ShouldBe(4);
        usage.GetProperty("held").GetInt64().ShouldBe(6);
        usage.GetProperty("remaining").GetInt64().ShouldBe(0);
    }

    [Fact]
    public async Task a_reservation_not_settled_before_its_expiry_gives_its_units_back_by_itself()
    {
        var tenant = await ActiveWithQuotas(new { aiComputeUnitsPerMonth = 10 });
        var admin = TenantAdminOf(tenant);
        var held = (await Reserve(admin, tenant, 10, lifetimeSeconds: 60)).ShouldBe(HttpStatusCode.Created).Str("id");
        (await Reserve(admin, tenant, 1)).ShouldBe(HttpStatusCode.Forbidden);
        Fixture.Time.Advance(TimeSpan.FromSeconds(59));
        (await Reserve(admin, tenant, 1)).ShouldBe(HttpStatusCode.Forbidden);
        Fixture.Time.Advance(TimeSpan.FromSeconds(1));
        (await Reserve(admin, tenant, 10)).ShouldBe(HttpStatusCode.Created);
        (await admin.Get($"/api/tenants/{tenant}/ai-compute/reservations/{held}")).ShouldBe(HttpStatusCode.OK).Str("state").ShouldBe("expired");
        (await admin.Post($"/api/tenants/{tenant}/ai-compute/reservations/{held}/commit", new { units = 3 }))
            .ShouldBeProblem(HttpStatusCode.Conflict, "reservation-settled");
    }

    [Fact]
    public async Task an_organisations_guarantee_is_kept_for_it_and_its_cap_holds_it_back()
    {
        var tenant = await ActiveWithQuotas(new { aiComputeUnitsPerMonth = 10 });
        var (root, county, station) = await CountyAndStation(tenant);
        var other = await Organisation(tenant, root, "Other county");
        var admin = TenantAdminOf(tenant);
        (await admin.Put($"/api/tenants/{tenant}/organisations/{county}/quotas/{QuotaKinds.AiCompute}", new { guaranteed = 6, cap = 8 })).ShouldBe(HttpStatusCode.OK);
        // The other county may have only what the county is not guaranteed.
        ShouldBeQuotaRefusal(await Reserve(admin, tenant, 5, other), HttpStatusCode.Forbidden, QuotaKinds.AiCompute, 0, 10);
        (await Reserve(admin, tenant, 4, other)).ShouldBe(HttpStatusCode.Created);
        // Its whole 6 are still there for the county (through its station), and no more: the tenant has nothing else left.
        (await Reserve(admin, tenant, 6, station)).ShouldBe(HttpStatusCode.Created);
        (await Reserve(admin, tenant, 1, county)).ShouldBe(HttpStatusCode.Forbidden);
        // A cap of 8 holds the county back even when the tenant has room.
        var tenant2 = await ActiveWithQuotas(new { aiComputeUnitsPerMonth = 100 }, "bexar-sheriff");
        var root2 = await RootOf(tenant2);
        var county2 = await Organisation(tenant2, root2, "County");
        var admin2 = TenantAdminOf(tenant2);
        (await admin2.Put($"/api/tenants/{tenant2}/organisations/{county2}/quotas/{QuotaKinds.AiCompute}", new { guaranteed = 6, cap = 8 })).ShouldBe(HttpStatusCode.OK);
        (await Reserve(admin2, tenant2, 8, county2)).ShouldBe(HttpStatusCode.Created);
        (await Reserve(admin2, tenant2, 1, county2)).ShouldBe(HttpStatusCode.Forbidden);
        (await Reserve(admin2, tenant2, 92)).ShouldBe(HttpStatusCode.Created);
    }

    [Fact]
    public async Task reserving_needs_compute_use_where_it_is_charged_and_bad_requests_are_400()
    {
        var tenant = await ActiveWithQuotas(new { aiComputeUnitsPerMonth = 10 });
        var root = await RootOf(tenant);
        var county = await Organisation(tenant, root, "County");
        var member = As(Roles.TenantMember, "dave", tenant);
        (await Reserve(member, tenant, 1)).ShouldBeProblem(HttpStatusCode.Forbidden, "forbidden");
        (await Reserve(member, tenant, 1, county)).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        var admin = TenantAdminOf(tenant);
        await Grant(tenant, county, "dave", "analyst-ai", "compute.use", "org.read");
        var reserved = (await Reserve(member, tenant, 1, county)).ShouldBe(HttpStatusCode.Created).Str("id");
        (await Reserve(member, tenant, 1)).ShouldBeProblem(HttpStatusCode.Forbidden, "forbidden"); // the root is not his
        (await member.Post($"/api/tenants/{tenant}/ai-compute/reservations/{reserved}/commit", new { units = 1 })).ShouldBe(HttpStatusCode.OK);

        foreach (var body in new object?[] { new { units = 0 }, new { units = -3 }, new { units = 1, lifetimeSeconds = 7200 }, new { units = 1, purpose = new string('x', 201) }, new { } })
            (await admin.Post($"/api/tenants/{tenant}/ai-compute/reservations", body)).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await admin.SendRaw(HttpMethod.Post, $"/api/tenants/{tenant}/ai-compute/reservations", "null")).ShouldBeProblem(HttpStatusCode.BadRequest, "malformed-request");
        (await admin.Post($"/api/tenants/{tenant}/ai-compute/reservations/{reserved}/commit", new { units = -1 })).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
    }

    // ---- licences ---------------------------------------------------------------------------------------------------

    private async Task<HttpClient> Directory(Guid tenant)
    {
        var created = (await TenantAdminOf(tenant).Post($"/api/tenants/{tenant}/service-accounts", new { name = "Directory", scopes = new[] { "scim.provision" } }))
            .ShouldBe(HttpStatusCode.Created);
        return Fixture.Client(created.Str("scimToken"));
    }

    private static async Task<Reply> ScimCreate(HttpClient scim, Guid tenant, string userName, bool active = true)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/api/tenants/{tenant}/scim/v2/Users");
        request.Content = new StringContent(JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["schemas"] = new[] { "urn:ietf:params:scim:schemas:core:2.0:User" }, ["userName"] = userName, ["active"] = active,
        }), System.Text.Encoding.UTF8, "application/scim+json");
        using var response = await scim.SendAsync(request);
        return new Reply(response.StatusCode, response.Headers, response.Content.Headers, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task licences_refuse_the_user_one_over_and_racing_creations_get_exactly_the_free_licences()
    {
        var tenant = await ActiveWithQuotas(new { licences = 3 });
        var scim = await Directory(tenant);
        var first = (await ScimCreate(scim, tenant, "one@example.gov")).ShouldBe(HttpStatusCode.Created).Str("id");
        (await ScimCreate(scim, tenant, "two@example.gov")).ShouldBe(HttpStatusCode.Created);
        (await ScimCreate(scim, tenant, "inactive@example.gov", active: false)).ShouldBe(HttpStatusCode.Created); // holds no licence
        (await ScimCreate(scim, tenant, "three@example.gov")).ShouldBe(HttpStatusCode.Created);
        var refused = await ScimCreate(scim, tenant, "four@example.gov");
        refused.Status.ShouldBe(HttpStatusCode.Forbidden);
        refused.ContentHeaders!.ContentType!.MediaType.ShouldBe("application/scim+json");
        refused.Json.GetProperty("schemas")[0].GetString().ShouldBe("urn:ietf:params:scim:api:messages:2.0:Error");
        refused.Json.GetProperty("quota").GetString().ShouldBe("licences");
        refused.Json.GetProperty("used").GetInt64().ShouldBe(3);
        refused.Json.GetProperty("limit").GetInt64().ShouldBe(3);

        // Deactivating one frees its licence; then 10 racing creations: exactly one gets it.
        using (var patch = new HttpRequestMessage(HttpMethod.Patch, $"/api/tenants/{tenant}/scim/v2/Users/{first}"))
        {
            patch.Content = new StringContent("""{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"active","value":false}]}""",
                System.Text.Encoding.UTF8, "application/scim+json");
            (await scim.SendAsync(patch)).StatusCode.ShouldBe(HttpStatusCode.OK);
        }
        var racing = await Task.WhenAll(Enumerable.Range(0, 10).Select(i => ScimCreate(scim, tenant, $"racer{i}@example.gov")));
        racing.Count(r => r.Status == HttpStatusCode.Created).ShouldBe(1);
        racing.Count(r => r.Status == HttpStatusCode.Forbidden).ShouldBe(9);
        // Reactivating the first would be a fourth.
        using (var patch = new HttpRequestMessage(HttpMethod.Patch, $"/api/tenants/{tenant}/scim/v2/Users/{first}"))
        {
            patch.Content = new StringContent("""{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"active","value":true}]}""",
                System.Text.Encoding.UTF8, "application/scim+json");
            (await scim.SendAsync(patch)).StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        }
        var usage = Quota((await Admin.Get($"/api/tenants/{tenant}/quotas")).ShouldBe(HttpStatusCode.OK), QuotaKinds.Licences);
        usage.GetProperty("used").GetInt64().ShouldBe(3);
        // The day's peak of active users is in the history.
        var history = (await Admin.Get($"/api/tenants/{tenant}/quotas/history?metric=licences&from=2026-11-28&to=2026-11-28")).ShouldBe(HttpStatusCode.OK);
        history.Json.GetProperty("days")[0].GetProperty("amount").GetInt64().ShouldBe(3);
    }

    // ---- usage history ----------------------------------------------------------------------------------------------

    [Fact]
    public async Task daily_history_counts_the_calls_of_each_day_per_organisation_and_exports_csv()
    {
        var tenant = await ActiveWithQuotas(new { apiCallsPerDay = 1000 });
        var root = await RootOf(tenant);
        var admin = TenantAdminOf(tenant);
        for (var i = 0; i < 3; i++) (await admin.Get($"/api/tenants/{tenant}/organisations/{root}")).ShouldBe(HttpStatusCode.OK);
        Fixture.Time.SetUtcNow(new DateTimeOffset(2026, 11, 29, 9, 0, 0, TimeSpan.Zero));
        await Ledger.FlushAsync(default);
        for (var i = 0; i < 2; i++) (await admin.Get($"/api/tenants/{tenant}")).ShouldBe(HttpStatusCode.OK);
        var history = (await Admin.Get($"/api/tenants/{tenant}/quotas/history?metric=apiCalls&from=2026-11-27&to=2026-11-29")).ShouldBe(HttpStatusCode.OK);
        history.Json.GetProperty("days").EnumerateArray().Select(d => d.GetProperty("amount").GetInt64()).ShouldBe([0L, 3L, 2L]);
        var ofRoot = (await Admin.Get($"/api/tenants/{tenant}/quotas/history?metric=apiCalls&from=2026-11-28&to=2026-11-29&organisationId={root}"))
            .ShouldBe(HttpStatusCode.OK);
        ofRoot.Json.GetProperty("days").EnumerateArray().Select(d => d.GetProperty("amount").GetInt64()).ShouldBe([3L, 0L]);
        var csv = (await Admin.Get($"/api/tenants/{tenant}/quotas/history?metric=apiCalls&from=2026-11-28&to=2026-11-29&format=csv")).ShouldBe(HttpStatusCode.OK);
        csv.ContentHeaders!.ContentType!.MediaType.ShouldBe("text/csv");
        csv.Body.ShouldBe("day,metric,amount\r\n2026-11-28,apiCalls,3\r\n2026-11-29,apiCalls,2\r\n");

        foreach (var query in new[] { "metric=gpu", "from=28-11-2026", "from=2026-11-29&to=2026-11-28", "from=2025-01-01&to=2026-11-28", "organisationId=x", "format=xml",
                     "to=0001-01-01&from=9999-12-31" })
            (await Admin.Get($"/api/tenants/{tenant}/quotas/history?{query}")).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await Admin.Get($"/api/tenants/{tenant}/quotas/history?organisationId={Guid.NewGuid()}")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await Admin.Get($"/api/tenants/{tenant}/quotas/history?to=0001-01-01")).ShouldBe(HttpStatusCode.OK); // the first day there is
        (await Admin.Get($"/api/tenants/{tenant}/quotas/alerts?kind=gpu")).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
    }

    [Fact]
    public async Task naming_an_organisation_one_holds_nothing_at_does_not_spend_its_share_of_api_calls()
    {
        // The county may make 3 calls a day; carol reads there. All set up by platform staff, whose calls are not metered.
        var tenant = await ActiveWithQuotas(new { apiCallsPerDay = 1000 });
        var root = await RootOf(tenant);
        var county = Guid.Parse((await Admin.Post($"/api/tenants/{tenant}/organisations", new { parentId = root, name = "County", kind = "unit" }))
            .ShouldBe(HttpStatusCode.Created).Str("id"));
        (await Admin.Put($"/api/tenants/{tenant}/roles/county-reader", new { description = "Reads the county", permissions = new[] { "org.read" } }))
            .ShouldBe(HttpStatusCode.OK);
        (await Admin.Post($"/api/tenants/{tenant}/organisations/{county}/grants", new { principal = new { kind = "user", id = "carol" }, role = "county-reader" }))
            .ShouldBe(HttpStatusCode.Created);
        (await Admin.Put($"/api/tenants/{tenant}/organisations/{county}/quotas/{QuotaKinds.ApiCallsPerDay}", new { guaranteed = 3, cap = 3 }))
            .ShouldBe(HttpStatusCode.OK);

        // Mallory, a member with no rights at the county, names it again and again: refused by the route, charged to the
        // tenant as a whole, never to the county (else the county's 3 would be gone and carol locked out).
        var mallory = As(Roles.TenantMember, "mallory", tenant);
        for (var i = 0; i < 6; i++)
            (await mallory.Get($"/api/tenants/{tenant}/organisations/{county}")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        // Nor does anyone of another tenant, whose calls are its own tenant's.
        var outsiderTenant = await Active("bexar-sheriff");
        var outsider = TenantAdminOf(outsiderTenant);
        for (var i = 0; i < 4; i++)
            (await outsider.Get($"/api/tenants/{tenant}/organisations/{county}")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");

        var carol = As(Roles.TenantMember, "carol", tenant);
        for (var i = 0; i < 3; i++) (await carol.Get($"/api/tenants/{tenant}/organisations/{county}")).ShouldBe(HttpStatusCode.OK);
        // The county's cap still binds those who act there.
        (await carol.Get($"/api/tenants/{tenant}/organisations/{county}")).ShouldBeProblem(HttpStatusCode.TooManyRequests, "quota-exceeded")
            .Json.GetProperty("quota").GetString().ShouldBe(QuotaKinds.ApiCallsPerDay);

        await Ledger.FlushAsync(default);
        var ofCounty = (await Admin.Get($"/api/tenants/{tenant}/quotas/history?metric=apiCalls&from=2026-11-28&to=2026-11-28&organisationId={county}"))
            .ShouldBe(HttpStatusCode.OK);
        ofCounty.Json.GetProperty("days").EnumerateArray().Select(d => d.GetProperty("amount").GetInt64()).ShouldBe([3L]);
        Quota((await Admin.Get($"/api/tenants/{tenant}/quotas")).ShouldBe(HttpStatusCode.OK), QuotaKinds.ApiCallsPerDay)
            .GetProperty("used").GetInt64().ShouldBe(6 + 3); // mallory's and carol's, nothing of the outsider's
        Quota((await Admin.Get($"/api/tenants/{outsiderTenant}/quotas")).ShouldBe(HttpStatusCode.OK), QuotaKinds.ApiCallsPerDay)
            .GetProperty("used").GetInt64().ShouldBe(4);
    }

    // ---- isolation --------------------------------------------------------------------------------------------------

    [Fact]
    public async Task another_tenants_administrator_finds_nothing_on_any_quota_route_and_members_need_the_permissions()
    {
        var tenant = await ActiveWithQuotas(new { aiComputeUnitsPerMonth = 100 });
        var root = await RootOf(tenant);
        var county = await Organisation(tenant, root, "County");
        var reservation = (await Reserve(TenantAdminOf(tenant), tenant, 5)).ShouldBe(HttpStatusCode.Created).Str("id");
        (await TenantAdminOf(tenant).Put($"/api/tenants/{tenant}/organisations/{county}/quotas/{QuotaKinds.AiCompute}", new { guaranteed = 10 }))
            .ShouldBe(HttpStatusCode.OK);
        var attackerTenant = await Active("bexar-sheriff");
        var attacker = TenantAdminOf(attackerTenant);
        var eventsBefore = await EventCount(); // after both tenants are set up
        var routes = new (HttpMethod Method, string Url, object? Body)[]
        {
            (HttpMethod.Get, $"/api/tenants/{tenant}/quotas", null),
            (HttpMethod.Get, $"/api/tenants/{tenant}/quotas/history", null),
            (HttpMethod.Get, $"/api/tenants/{tenant}/quotas/alerts", null),
            (HttpMethod.Get, $"/api/tenants/{tenant}/organisations/{county}/quotas", null),
            (HttpMethod.Put, $"/api/tenants/{tenant}/organisations/{county}/quotas/{QuotaKinds.AiCompute}", new { guaranteed = 99 }),
            (HttpMethod.Delete, $"/api/tenants/{tenant}/organisations/{county}/quotas/{QuotaKinds.AiCompute}", null),
            (HttpMethod.Post, $"/api/tenants/{tenant}/ai-compute/reservations", new { units = 1 }),
            (HttpMethod.Get, $"/api/tenants/{tenant}/ai-compute/reservations/{reservation}", null),
            (HttpMethod.Post, $"/api/tenants/{tenant}/ai-compute/reservations/{reservation}/commit", new { units = 1 }),
            (HttpMethod.Post, $"/api/tenants/{tenant}/ai-compute/reservations/{reservation}/release", null),
        };
        foreach (var (method, url, body) in routes)
        {
            (await attacker.Send(method, url, body)).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
            (await Fixture.Client().Send(method, url, body)).Status.ShouldBe(HttpStatusCode.Unauthorized);
        }
        (await EventCount()).ShouldBe(eventsBefore);
        (await TenantAdminOf(tenant).Get($"/api/tenants/{tenant}/ai-compute/reservations/{reservation}")).ShouldBe(HttpStatusCode.OK).Str("state").ShouldBe("held");
        // A member without billing.read sees the tenant's organisations but not its usage.
        var member = As(Roles.TenantMember, "erin", tenant);
        (await member.Get($"/api/tenants/{tenant}/quotas")).ShouldBeProblem(HttpStatusCode.Forbidden, "forbidden");
        // The attacker's own calls count against its own quota, never against the victim's.
        await Ledger.FlushAsync(default);
        var usage = Quota((await Admin.Get($"/api/tenants/{tenant}/quotas")).ShouldBe(HttpStatusCode.OK), QuotaKinds.ApiCallsPerDay);
        var attackerUsage = Quota((await Admin.Get($"/api/tenants/{attackerTenant}/quotas")).ShouldBe(HttpStatusCode.OK), QuotaKinds.ApiCallsPerDay);
        attackerUsage.GetProperty("used").GetInt64().ShouldBe(routes.Length);
        usage.GetProperty("used").GetInt64().ShouldBeLessThan(10); // the tenant's own set-up calls only
    }
}
