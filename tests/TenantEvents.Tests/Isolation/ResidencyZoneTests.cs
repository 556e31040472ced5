using System.Net;
using Npgsql;
using TenantEvents.Infrastructure;
using TenantEvents.Tests.Support;
using Wolverine.Tracking;

namespace TenantEvents.Tests.Isolation;

/// <summary>
/// Two residency zones on two databases (the default zone on the main database; "eu" for DE, FR and AT on its own) and
/// dedicated databases in each (AppFixture / TestDatabase.ConfigureZones): a tenant's data is written in its zone's
/// database, or in a database of its own, and nowhere else.
/// </summary>
public class ResidencyZoneTests(AppFixture fixture) : IntegrationTest(fixture)
{
    /// <summary>Per database, the tables whose rows mention the value anywhere (read as the platform role, past row-level security).</summary>
    private static async Task<Dictionary<string, List<string>>> WhereMentioned(string value)
    {
        var found = new Dictionary<string, List<string>>();
        foreach (var (id, database, _) in await TestDatabase.Databases())
        {
            await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(TestDatabase.PlatformConnectionString) { Database = database }.ConnectionString);
            await connection.OpenAsync();
            var tables = new List<string>();
            await using (var list = new NpgsqlCommand("select tablename from pg_tables where schemaname = 'tenantevents' order by tablename", connection))
            await using (var reader = await list.ExecuteReaderAsync())
                while (await reader.ReadAsync()) tables.Add(reader.GetString(0));
            foreach (var table in tables)
            {
                await using var count = new NpgsqlCommand($"select count(*) from tenantevents.\"{table}\" as r where r::text like '%' || @v || '%'", connection);
                count.Parameters.AddWithValue("v", value);
                if ((long)(await count.ExecuteScalarAsync())! == 0) continue;
                if (!found.TryGetValue(id, out var mentioned)) found[id] = mentioned = [];
                mentioned.Add(table);
            }
        }
        return found;
    }

    private static async Task<string> DatabaseOf(Guid tenant)
    {
        await using var connection = new NpgsqlConnection(TestDatabase.OwnerConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("select database_id from tenantevents.tenant_placements where tenant = @t", connection);
        command.Parameters.AddWithValue("t", tenant);
        return (string)(await command.ExecuteScalarAsync())!;
    }

    [Fact]
    public async Task tenants_land_in_their_zones_database_and_nowhere_else()
    {
        var berlin = await Active("berlin-police", template: "government-services", country: "DE", subdivision: "DE-BE");
        var travis = await Active("travis-sheriff");
        foreach (var id in new[] { berlin, travis })
        {
            (await Admin.Post($"/api/tenants/{id}/suspend", new { reason = "audit" })).ShouldBe(HttpStatusCode.OK);
            (await Admin.Post($"/api/tenants/{id}/keys/rotate", new { key = "data" })).ShouldBe(HttpStatusCode.OK);
        }

        (await DatabaseOf(berlin)).ShouldBe("eu");
        (await DatabaseOf(travis)).ShouldBe("default");
        var mentions = await WhereMentioned(berlin.ToString());
        // Its events, streams, read models (tenant, organisations, roles), data keys and its contacts' keys live in the zone's database...
        // (its audit ledger too: its events wait beside them for their place in its log; and its quota limits' history)...
        mentions["eu"].ShouldBe(["access_high_water", "access_versions", "audit_pending", "mt_doc_tenantrecord", "mt_events", "mt_streams", "org_nodes",
            "quota_limits_history", "subject_data_keys", "tenant_data_keys", "tenant_roles"], ignoreOrder: true);
        // ...the main database only routes to it...
        mentions["default"].ShouldBe(["tenant_placements", "tenant_slugs"], ignoreOrder: true);
        // ...and no other database has heard of it.
        mentions.Keys.ShouldBe(["default", "eu"], ignoreOrder: true);

        var local = await WhereMentioned(travis.ToString());
        local.Keys.ShouldBe(["default"]);
        local["default"].ShouldContain("mt_events");

        // Both work as any tenant does, each read from where it lives, and say where that is.
        var read = await Read(berlin);
        read.Str("state").ShouldBe("suspended");
        read.Json.GetProperty("storage").GetProperty("zone").GetString().ShouldBe("eu");
        read.Json.GetProperty("storage").GetProperty("database").GetString().ShouldBe("eu");
        read.Json.GetProperty("storage").GetProperty("dedicated").GetBoolean().ShouldBeFalse();
        (await As("analyst").Get("/api/tenants?zone=eu")).ShouldBe(HttpStatusCode.OK).Json.GetProperty("items").EnumerateArray()
            .Select(t => t.GetProperty("id").GetGuid()).ShouldBe([berlin]);
        (await Read(travis)).Str("state").ShouldBe("suspended");
        (await As("auditor").Get($"/api/tenants/{berlin}/events")).ShouldBe(HttpStatusCode.OK).Json.GetArrayLength().ShouldBe(5);
    }

    [Fact]
    public async Task a_subdivision_listed_by_a_zone_goes_there_and_an_unlisted_residency_stays_in_the_default_zone()
    {
        var zones = new TenantEvents.Infrastructure.Databases.ResidencyZones(new Dictionary<string, TenantEvents.Infrastructure.Databases.ZoneOptions>
        {
            ["eu"] = new() { Database = "eu_db", Codes = ["DE", "FR"] },
            ["us-west"] = new() { Database = "usw_db", Codes = ["US-CA", "US-OR"] },
            ["bavaria"] = new() { Database = "by_db", Codes = ["DE-BY"] },
        });
        zones.ZoneFor(new("DE", "DE-BE")).ShouldBe("eu");
        zones.ZoneFor(new("DE", "DE-BY")).ShouldBe("bavaria");
        zones.ZoneFor(new("DE")).ShouldBe("eu");
        zones.ZoneFor(new("US", "US-CA")).ShouldBe("us-west");
        zones.ZoneFor(new("US", "US-TX")).ShouldBe("default");
        zones.ZoneFor(new("US")).ShouldBe("default");
        zones.ZoneFor(new("GB", "GB-SCT")).ShouldBe("default");
    }

    [Theory]
    [InlineData("eu", "DE", "FR", "eu", "is in two zones")]
    [InlineData("eu", "XX", null, null, "neither an ISO 3166-1")]
    [InlineData("eu", "de", null, null, "neither an ISO 3166-1")]
    [InlineData("default", "DE", null, null, "takes no codes")]
    [InlineData("EU", "DE", null, null, "lower-case letters")]
    public void a_zone_configuration_that_would_map_a_residency_ambiguously_or_to_nothing_is_refused_at_start(string zone, string code,
        string? secondCode, string? secondZone, string message)
    {
        var zones = new Dictionary<string, TenantEvents.Infrastructure.Databases.ZoneOptions>
        {
            [zone] = new() { Database = "db1", Codes = [code] },
        };
        if (secondCode is not null) zones[secondZone == zone ? "other" : secondZone ?? "other"] = new() { Database = "db2", Codes = [secondCode, code] };
        Should.Throw<InvalidOperationException>(() => new TenantEvents.Infrastructure.Databases.ResidencyZones(zones)).Message.ShouldContain(message);
        Should.Throw<InvalidOperationException>(() => new TenantEvents.Infrastructure.Databases.ResidencyZones(
            new Dictionary<string, TenantEvents.Infrastructure.Databases.ZoneOptions> { ["nodb"] = new() { Codes = ["NL"] } })).Message.ShouldContain("names no database");
    }

    [Fact]
    public async Task a_tenant_that_needs_its_own_database_gets_one_alone_and_is_refused_cleanly_when_none_is_free()
    {
        var free = await FreeDedicated("default");
        var first = await Active("fusion-centre-1", template: "intelligence", subdivision: "US-VA");
        var second = await Active("fusion-centre-2", template: "intelligence", subdivision: "US-MD");
        var (one, two) = (await DatabaseOf(first), await DatabaseOf(second));
        one.ShouldStartWith("default-d");
        two.ShouldStartWith("default-d");
        one.ShouldNotBe(two);
        (await Read(first)).Json.GetProperty("storage").GetProperty("database").GetString().ShouldBe(one);
        (await Read(first)).Json.GetProperty("storage").GetProperty("dedicated").GetBoolean().ShouldBeTrue();
        (await WhereMentioned(first.ToString())).Keys.ShouldBe(["default", one], ignoreOrder: true);

        // Every other dedicated database of the zone is taken; then the next one is refused, and nothing of it is stored.
        for (var n = 3; n <= free; n++) await Requested($"fusion-centre-{n}", template: "intelligence", subdivision: "US-VA");
        var events = await EventCount();
        (await Admin.Post("/api/tenants", TenantRequest("fusion-centre-x", "intelligence", "US", "US-VA")))
            .ShouldBeProblem(HttpStatusCode.ServiceUnavailable, "no-dedicated-database").Json.GetProperty("zone").GetString().ShouldBe("default");
        (await EventCount()).ShouldBe(events);
        // The slug was not kept: a tenant that shares the zone's database can have it.
        (await Admin.Post("/api/tenants", TenantRequest("fusion-centre-x", "law-enforcement", "US", "US-VA"))).ShouldBe(HttpStatusCode.Created);

        // A European one takes the European zone's dedicated database, not a default one.
        var paris = await Requested("paris-intel", template: "intelligence", country: "FR", subdivision: null);
        (await DatabaseOf(paris)).ShouldStartWith("eu-d");
    }

    private static async Task<int> FreeDedicated(string zone)
    {
        await using var connection = new NpgsqlConnection(TestDatabase.OwnerConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("select count(*) from tenantevents.tenant_databases where zone = @z and dedicated and dedicated_to is null", connection);
        command.Parameters.AddWithValue("z", zone);
        return (int)(long)(await command.ExecuteScalarAsync())!;
    }

    [Fact]
    public async Task a_dedicated_database_added_by_migrate_serves_the_next_tenant_without_a_restart()
    {
        var free = await FreeDedicated("eu");
        for (var n = 1; n <= free; n++) await Requested($"eu-intel-{n}", template: "intelligence", country: "AT", subdivision: null);
        (await Admin.Post("/api/tenants", TenantRequest("eu-intel-next", "intelligence", "AT", null)))
            .ShouldBeProblem(HttpStatusCode.ServiceUnavailable, "no-dedicated-database");

        // The operator runs `migrate`: the pool of one free database is refilled, the running service is not restarted.
        (await DatabaseMigration.Run([])).ShouldBe(0);
        var next = await Requested("eu-intel-next", template: "intelligence", country: "AT", subdivision: null);
        (await DatabaseOf(next)).ShouldStartWith("eu-d");
        (await Approver.Post($"/api/tenants/{next}/approve")).ShouldBe(HttpStatusCode.OK);
        (await Read(next)).Str("state").ShouldBe("approved");
    }

    [Fact]
    public async Task a_zone_tenant_goes_through_its_whole_life_there_down_to_crypto_shredding()
    {
        var doomed = await Active("lyon-police", template: "government-services", country: "FR", subdivision: null);
        // It has quota state: an allocation, a reservation (with a free-text purpose), counters and alerts.
        (await Admin.Patch($"/api/tenants/{doomed}/settings", new { quotas = new { aiComputeUnitsPerMonth = 10 } })).ShouldBe(HttpStatusCode.OK);
        var admin = TenantAdminOf(doomed);
        var unit = (await admin.Post($"/api/tenants/{doomed}/organisations", new { parentId = await RootOf(doomed), name = "Unit", kind = "unit" }))
            .ShouldBe(HttpStatusCode.Created).Str("id");
        (await admin.Put($"/api/tenants/{doomed}/organisations/{unit}/quotas/aiComputeUnitsPerMonth", new { guaranteed = 5 })).ShouldBe(HttpStatusCode.OK);
        (await admin.Post($"/api/tenants/{doomed}/ai-compute/reservations", new { units = 10, organisationId = unit, purpose = "interview transcripts" })).ShouldBe(HttpStatusCode.Created);
        var quotaTables = new[] { "org_quota_allocations", "quota_usage", "quota_alerts", "ai_reservations" };
        foreach (var table in quotaTables) (await WhereMentioned(doomed.ToString()))["eu"].ShouldContain(table);
        await Admin.Post($"/api/tenants/{doomed}/decommission", new { reason = "merged" });
        await Approver.Post($"/api/tenants/{doomed}/decommission/approve");
        Fixture.Time.Advance(TimeSpan.FromDays(2556));
        await Fixture.Host.ExecuteAndWaitAsync(() => Admin.Post($"/api/tenants/{doomed}/decommission/complete"));

        (await Admin.Get($"/api/tenants/{doomed}")).ShouldBeProblem(HttpStatusCode.Gone, "tenant-decommissioned");
        (await Admin.Get($"/api/tenants/{doomed}/organisations")).ShouldBeProblem(HttpStatusCode.Gone, "tenant-decommissioned");
        (await Admin.Get($"/api/tenants/{doomed}/access/explain?principal=user:x&permission=case.read&organisationId={Guid.CreateVersion7()}"))
            .ShouldBeProblem(HttpStatusCode.Gone, "tenant-decommissioned");
        var mentions = await WhereMentioned(doomed.ToString());
        mentions["eu"].ShouldContain("mt_events");
        mentions["eu"].ShouldNotContain("tenant_data_keys");
        foreach (var table in new[] { "org_nodes", "tenant_roles", "access_versions" }.Concat(quotaTables)) mentions["eu"].ShouldNotContain(table);
        mentions.Keys.ShouldBe(["default", "eu"], ignoreOrder: true);
    }

    [Fact]
    public async Task tenants_in_different_databases_cannot_see_each_other()
    {
        var berlin = await Active("berlin-police", template: "government-services", country: "DE", subdivision: "DE-BE");
        var travis = await Active("travis-sheriff");
        foreach (var (me, other) in new[] { (berlin, travis), (travis, berlin) })
        {
            var admin = TenantAdminOf(me);
            (await admin.Get($"/api/tenants/{other}")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
            (await admin.Get($"/api/tenants/{other}/events")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
            (await admin.Send(HttpMethod.Patch, $"/api/tenants/{other}/settings", new { auditRetentionDays = 400 })).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
            (await admin.Get($"/api/tenants/{other}/export")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
            (await admin.Get($"/api/tenants/{me}")).ShouldBe(HttpStatusCode.OK);
            (await admin.Get("/api/tenants")).ShouldBe(HttpStatusCode.OK).Json.GetProperty("items").EnumerateArray()
                .Select(t => t.GetProperty("id").GetGuid()).ShouldBe([me]);
        }
    }

    [Fact]
    public async Task a_retried_request_for_a_zone_tenant_returns_the_first_and_a_rejected_one_frees_its_slug()
    {
        var key = new Dictionary<string, string> { ["Idempotency-Key"] = "req-berlin-1" };
        var first = (await Admin.Post("/api/tenants", TenantRequest("berlin-police", template: "government-services", country: "DE", subdivision: "DE-BE"), key)).ShouldBe(HttpStatusCode.Created);
        var again = (await Admin.Post("/api/tenants", TenantRequest("berlin-police", template: "government-services", country: "DE", subdivision: "DE-BE"), key)).ShouldBe(HttpStatusCode.Created);
        again.Str("id").ShouldBe(first.Str("id"));
        again.Headers.GetValues("Idempotent-Replayed").ShouldBe(["true"]);

        var id = Guid.Parse(first.Str("id"));
        (await Approver.Post($"/api/tenants/{id}/reject", new { reason = "duplicate agency" })).ShouldBe(HttpStatusCode.OK);
        (await Admin.Post("/api/tenants", TenantRequest("berlin-police", template: "government-services", country: "DE", subdivision: "DE-BE"))).ShouldBe(HttpStatusCode.Created);
    }
}
