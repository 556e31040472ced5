using System.Net;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using TenantEvents.Analytics;
using TenantEvents.Audit;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Tenants;
using TenantEvents.Tests.Support;

namespace TenantEvents.Tests.Analytics;

/// <summary>
/// The event-fed analytics projections: what they hold is checked against the events themselves (counted here in SQL,
/// independently of the fold), a rebuild from scratch gives the same rows, an event whose transaction commits after
/// later ones is still counted once, and the projections report their lag.
/// </summary>
public class ProjectionTests(AppFixture fixture) : IntegrationTest(fixture)
{
    private AnalyticsProjector Projector => Fixture.Host.Services.GetRequiredService<AnalyticsProjector>();

    /// <summary>A small estate: tenants in several states, templates and zones, with organisations and renames.</summary>
    private async Task<Dictionary<Guid, string>> Estate()
    {
        var states = new Dictionary<Guid, string>();
        var active = await Active("estate-active");
        var root = await RootOf(active);
        for (var i = 0; i < 3; i++)
            (await TenantAdminOf(active).Post($"/api/tenants/{active}/organisations", new { parentId = root, name = $"Unit {i}", kind = "unit" }))
                .ShouldBe(HttpStatusCode.Created);
        states[active] = "active";
        var saas = await Active("estate-saas", template: "commercial-saas", country: "DE", subdivision: null);
        states[saas] = "active";
        var suspended = await Active("estate-suspended", template: "government-services");
        (await Admin.Post($"/api/tenants/{suspended}/suspend", new { reason = "unpaid" })).ShouldBe(HttpStatusCode.OK);
        states[suspended] = "suspended";
        var rejected = await Requested("estate-rejected");
        (await Approver.Post($"/api/tenants/{rejected}/reject", new { reason = "duplicate" })).ShouldBe(HttpStatusCode.OK);
        states[rejected] = "rejected";
        states[await Requested("estate-requested", template: "intelligence")] = "requested";
        states[await Approved("estate-approved")] = "approved";
        return states;
    }

    private static async Task<List<string>> Rows(string sql)
    {
        var rows = new List<string>();
        foreach (var (_, _, connectionString) in await TestDatabase.Databases())
        {
            await using var connection = new NpgsqlConnection(connectionString);
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand(sql, connection);
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                var row = new StringBuilder();
                for (var i = 0; i < reader.FieldCount; i++) row.Append(reader.IsDBNull(i) ? "null" : Convert.ToString(reader.GetValue(i), System.Globalization.CultureInfo.InvariantCulture)).Append('|');
                rows.Add(row.ToString());
            }
        }
        rows.Sort(StringComparer.Ordinal);
        return rows;
    }

    private static Task<List<string>> Projected() => Rows("""
        select 'tenant', tenant_id, state, state_version::text, template, zone, country, requested_at::text, provisioned_at::text, decommissioned_at::text,
          first_event_at::text, last_event_at::text, events::text
        from tenantevents.analytics_tenants
        union all select 'day', tenant_id, day::text, events::text, records::text, null, null, null, null, null, null, null, null from tenantevents.analytics_event_days
        union all select 'kind', tenant_id, kind, events::text, records::text, null, null, null, null, null, null, null, null from tenantevents.analytics_record_kinds
        """);

    [Fact]
    public async Task the_projections_hold_what_the_events_say_and_a_rebuild_from_scratch_gives_the_same_rows()
    {
        var states = await Estate();
        (await Projector.CatchUpAsync(CancellationToken.None)).ShouldBeGreaterThan(0);

        // Per tenant and UTC day, and per tenant: the events and new streams counted straight from mt_events.
        (await Rows("select tenant_id, day::text, events::text, records::text from tenantevents.analytics_event_days"))
            .ShouldBe(await Rows("""
                select tenant_id, (timestamp at time zone 'UTC')::date::text, count(*)::text, count(*) filter (where version = 1)::text
                from tenantevents.mt_events where type <> 'tombstone' group by 1, 2
                """));
        (await Rows("select tenant_id, events from tenantevents.analytics_tenants"))
            .ShouldBe(await Rows("select tenant_id, count(*) from tenantevents.mt_events where type <> 'tombstone' group by 1"));
        // Record kinds: the organisations (the template's and the three added) and the tenants' own streams.
        var organisations = await Sum($"select records from tenantevents.analytics_record_kinds where tenant_id = '{states.Keys.First()}' and kind = 'organisation'");
        organisations.ShouldBe(await Sum($"select count(distinct stream_id) from tenantevents.mt_events where tenant_id = '{states.Keys.First()}' and type = 'organisation_created'"));
        organisations.ShouldBeGreaterThanOrEqualTo(4);
        // Lifecycle state, template and zone agree with the tenants' records.
        foreach (var (tenant, state) in states)
        {
            var row = (await Rows($"select state, template, zone from tenantevents.analytics_tenants where tenant_id = '{tenant}'")).Single();
            var record = (await Read(tenant)).Json;
            row.ShouldBe($"{state}|{record.GetProperty("template").GetString()}|{record.GetProperty("storage").GetProperty("zone").GetString()}|");
        }

        var before = await Projected();
        before.Count.ShouldBeGreaterThan(states.Count * 2);
        var rebuild = (await Admin.Post("/api/analytics/projections/rebuild")).ShouldBe(HttpStatusCode.Accepted).Json;
        rebuild.GetProperty("eventsBehind").GetInt64().ShouldBe(await EventCount() + await Tombstones());
        (await Projected()).ShouldBeEmpty();
        await Projector.CatchUpAsync(CancellationToken.None);
        (await Projected()).ShouldBe(before);
        // Again on the second instance, whose projector reads 100 sequence numbers a batch (the next read while the
        // last is applied): the same rows.
        var second = (await Fixture.SecondHost()).Services.GetRequiredService<AnalyticsProjector>();
        (await second.RebuildAsync(CancellationToken.None)).ShouldBe(await EventCount());
        (await Projected()).ShouldBe(before);

        var progress = (await Admin.Get("/api/analytics/projections")).ShouldBe(HttpStatusCode.OK).Json;
        progress.GetProperty("eventsBehind").GetInt64().ShouldBe(0);
        progress.GetProperty("lagSeconds").GetDouble().ShouldBe(0);
        var databases = progress.GetProperty("databases").EnumerateArray().ToList();
        databases.Sum(d => d.GetProperty("eventsProjected").GetInt64()).ShouldBe(await EventCount(), "every event of every database, tombstones aside");
        databases.ShouldAllBe(d => d.GetProperty("rebuiltAt").ValueKind == System.Text.Json.JsonValueKind.String);
        databases.ShouldAllBe(d => d.GetProperty("position").GetInt64() == d.GetProperty("head").GetInt64());
    }

    private static Task<long> Tombstones() => Sum("select count(*) from tenantevents.mt_events where type = 'tombstone'");

    /// <summary>A one-number query summed over every database.</summary>
    private static async Task<long> Sum(string sql) => (await Rows(sql)).Sum(r => r == "null|" ? 0 : long.Parse(r.TrimEnd('|')));

    [Fact]
    public async Task the_projections_report_their_lag_until_they_have_read_the_new_events()
    {
        await Projector.CatchUpAsync(CancellationToken.None);
        var before = await EventCount();
        await Active("lagging");
        var added = await EventCount() - before;
        var behind = (await Admin.Get("/api/analytics/projections")).ShouldBe(HttpStatusCode.OK).Json;
        behind.GetProperty("eventsBehind").GetInt64().ShouldBeGreaterThanOrEqualTo(added);
        behind.GetProperty("lagSeconds").GetDouble().ShouldBeGreaterThanOrEqualTo(0);
        // The estate overview says how far behind it is, and does not show the tenant yet.
        var estate = (await Admin.Get("/api/analytics/estate")).ShouldBe(HttpStatusCode.OK).Json;
        estate.GetProperty("projection").GetProperty("eventsBehind").GetInt64().ShouldBeGreaterThanOrEqualTo(added);
        estate.GetProperty("tenants").GetInt32().ShouldBe(0);
        await Projector.CatchUpAsync(CancellationToken.None);
        (await Admin.Get("/api/analytics/projections")).Json.GetProperty("eventsBehind").GetInt64().ShouldBe(0);
        (await Admin.Get("/api/analytics/estate")).Json.GetProperty("tenants").GetInt32().ShouldBe(1);
    }

    [Fact]
    public async Task an_event_whose_transaction_commits_after_later_ones_were_read_is_counted_once_when_it_commits()
    {
        var early = await Active("early");
        var late = await Active("late-writer");
        await Projector.CatchUpAsync(CancellationToken.None);
        var streams = Fixture.Host.Services.GetRequiredService<TenantStreams>();

        // A transaction takes the next sequence number for the early tenant's event and stays open...
        var stream = AuditEventTypes.AccessStream(early);
        var sealedEvents = await streams.SealAsync(early, [new CrossTenantAccessRecorded(early, late, "owner", "read", "case-file", "x", null,
            Actor.System, Fixture.Time.GetUtcNow())], CancellationToken.None, stream: stream);
        await using var connection = await (await streams.Databases.ForAsync(early)).Service.OpenConnectionAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        await using (var bind = new NpgsqlCommand("select set_config('app.tenant_id', $1, true)", connection, transaction))
        {
            bind.Parameters.Add(new NpgsqlParameter { Value = early.ToString() });
            await bind.ExecuteNonQueryAsync();
        }
        var options = Marten.Services.SessionOptions.ForTransaction(transaction);
        options.TenantId = early.ToString();
        await using (var session = streams.Store.LightweightSession(options))
        {
            session.Events.Append(stream, sealedEvents);
            await session.SaveChangesAsync();
        }
        // ...while another tenant's events commit after it, and the projector reads them.
        (await Admin.Put($"/api/tenants/{late}/name", new { name = "Renamed" })).ShouldBe(HttpStatusCode.OK);
        await Projector.CatchUpAsync(CancellationToken.None);
        (await Sum("select count(*) from tenantevents.analytics_holes")).ShouldBe(1);
        (await Sum($"select count(*) from tenantevents.analytics_record_kinds where tenant_id = '{early}' and kind = 'cross-tenant-access'")).ShouldBe(0);

        await transaction.CommitAsync();
        await Projector.CatchUpAsync(CancellationToken.None);
        (await Sum("select count(*) from tenantevents.analytics_holes")).ShouldBe(0);
        (await Rows($"select events, records from tenantevents.analytics_record_kinds where tenant_id = '{early}' and kind = 'cross-tenant-access'"))
            .Single().ShouldBe("1|1|");
        (await Rows("select tenant_id, events from tenantevents.analytics_tenants"))
            .ShouldBe(await Rows("select tenant_id, count(*) from tenantevents.mt_events where type <> 'tombstone' group by 1"));
        // Caught up again, nothing is counted twice.
        await Projector.CatchUpAsync(CancellationToken.None);
        (await Rows($"select events from tenantevents.analytics_record_kinds where tenant_id = '{early}' and kind = 'cross-tenant-access'")).Single().ShouldBe("1|");
    }

    [Fact]
    public async Task the_estate_overview_counts_tenants_by_state_template_and_zone_with_growth_and_csv_for_each_series()
    {
        // Growth is by the events' recorded time (PostgreSQL's clock): the service's clock is set to it for this test.
        Fixture.Time.SetUtcNow(DateTimeOffset.UtcNow);
        var states = await Estate();
        await Projector.CatchUpAsync(CancellationToken.None);
        var estate = (await As(Roles.Analyst, "ana").Get("/api/analytics/estate")).ShouldBe(HttpStatusCode.OK).Json;
        estate.GetProperty("tenants").GetInt32().ShouldBe(states.Count);
        Dictionary<string, int> Tally(string name) =>
            estate.GetProperty(name).EnumerateArray().ToDictionary(t => t.GetProperty("name").GetString()!, t => t.GetProperty("tenants").GetInt32());
        Tally("byState").ShouldBe(states.Values.GroupBy(s => s).ToDictionary(g => g.Key, g => g.Count()), ignoreOrder: true);
        var records = new List<System.Text.Json.JsonElement>();
        foreach (var id in states.Keys) records.Add((await Read(id)).Json);
        Tally("byTemplate").ShouldBe(records.GroupBy(r => r.GetProperty("template").GetString()!).ToDictionary(g => g.Key, g => g.Count()), ignoreOrder: true);
        Tally("byZone").ShouldBe(records.GroupBy(r => r.GetProperty("storage").GetProperty("zone").GetString()!).ToDictionary(g => g.Key, g => g.Count()), ignoreOrder: true);
        Tally("byTemplate").Count.ShouldBe(4);
        Tally("byZone").Count.ShouldBeGreaterThanOrEqualTo(2, "a US and a German tenant live in different zones");
        // Growth: every tenant was requested this month (by the events' recorded time), three provisioned, none ended.
        var growth = estate.GetProperty("growth").EnumerateArray().ToList();
        growth.Count.ShouldBe(12);
        var month = growth[^1];
        month.GetProperty("month").GetString().ShouldBe(DateTimeOffset.UtcNow.ToString("yyyy-MM"));
        month.GetProperty("requested").GetInt32().ShouldBe(states.Count);
        month.GetProperty("provisioned").GetInt32().ShouldBe(3);
        month.GetProperty("liveAtEnd").GetInt32().ShouldBe(3);
        growth.Take(11).ShouldAllBe(g => g.GetProperty("requested").GetInt32() == 0);
        estate.GetProperty("activeLast30Days").GetInt32().ShouldBe(states.Count);
        (await Admin.Get("/api/analytics/estate?months=3")).ShouldBe(HttpStatusCode.OK).Json.GetProperty("growth").GetArrayLength().ShouldBe(3);

        var csv = await Admin.Get("/api/analytics/estate?format=csv&series=state");
        csv.ShouldBe(HttpStatusCode.OK).ContentHeaders!.ContentType!.MediaType.ShouldBe("text/csv");
        var lines = csv.Body.Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        lines[0].ShouldBe("state,tenants");
        lines.Skip(1).ShouldContain("active,2");
        (await Admin.Get("/api/analytics/estate?format=csv&series=growth")).Body.Split("\r\n", StringSplitOptions.RemoveEmptyEntries)[0]
            .ShouldBe("month,requested,provisioned,decommissioned,live_at_end");
        (await Admin.Get("/api/analytics/estate?format=csv&series=template")).Body.ShouldContain("commercial-saas,1");
        (await Admin.Get("/api/analytics/estate?format=csv&series=zone")).Body.Split("\r\n")[0].ShouldBe("zone,tenants");
    }

    [Fact]
    public async Task estate_and_projection_endpoints_are_for_platform_staff_and_refuse_bad_input()
    {
        var tenant = await Active("estate-access");
        foreach (var url in new[] { "/api/analytics/estate", "/api/analytics/projections" })
        {
            (await As(Roles.TenantAdmin, "ta", tenant).Get(url)).ShouldBe(HttpStatusCode.Forbidden);
            (await As(Roles.TenantMember, "tm", tenant).Get(url)).ShouldBe(HttpStatusCode.Forbidden);
            (await As(Roles.Auditor, "au").Get(url)).ShouldBe(HttpStatusCode.Forbidden);
            (await Fixture.Client(null).Get(url)).ShouldBe(HttpStatusCode.Unauthorized);
            (await As(Roles.Analyst, "an").Get(url)).ShouldBe(HttpStatusCode.OK);
        }
        // Only a platform administrator rebuilds.
        (await As(Roles.Analyst, "an").Post("/api/analytics/projections/rebuild")).ShouldBe(HttpStatusCode.Forbidden);
        (await As(Roles.TenantAdmin, "ta", tenant).Post("/api/analytics/projections/rebuild")).ShouldBe(HttpStatusCode.Forbidden);
        (await Fixture.Client(null).Post("/api/analytics/projections/rebuild")).ShouldBe(HttpStatusCode.Unauthorized);
        foreach (var bad in new[] { "months=0", "months=61", "months=x", "series=colour", "format=xml" })
            (await Admin.Get("/api/analytics/estate?" + bad)).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
    }
}
