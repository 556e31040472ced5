using System.Net;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using TenantEvents.Analytics;
using TenantEvents.Audit;
using TenantEvents.Infrastructure.Projections;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Tests.Support;

namespace TenantEvents.Tests.Analytics;

/// <summary>
/// The one list of read models (GET /api/platform/projections): the inline ones as declared, and every asynchronous one
/// the daemon runs with its position and lag per database, which move as the projection catches up.
/// </summary>
public class ProjectionDaemonTests(AppFixture fixture) : IntegrationTest(fixture)
{
    private async Task<Dictionary<string, JsonElement>> Asynchronous()
    {
        var report = (await Admin.Get("/api/platform/projections")).ShouldBe(HttpStatusCode.OK).Json;
        return report.GetProperty("asynchronous").EnumerateArray().ToDictionary(p => p.GetProperty("name").GetString()!, p => p.Clone());
    }

    [Fact]
    public async Task every_read_model_is_listed_and_each_asynchronous_one_says_how_far_behind_it_is_until_it_catches_up()
    {
        var report = (await Admin.Get("/api/platform/projections")).ShouldBe(HttpStatusCode.OK).Json;
        report.GetProperty("inline").EnumerateArray().Select(p => p.GetProperty("name").GetString())
            .ShouldBe(ProjectionRegistry.Inline.Select(p => p.Name), ignoreOrder: true);
        report.GetProperty("inline").EnumerateArray().ShouldContain(p => p.GetProperty("name").GetString() == "access-state"
            && p.GetProperty("writtenBy").GetString() == "OrganisationStore.Execute");
        // What waits to be sent on, per database: nothing yet (nobody subscribed).
        var sending = report.GetProperty("sending").EnumerateArray().ToList();
        sending.Count.ShouldBe(Fixture.Host.Services.GetRequiredService<TenantEvents.Infrastructure.Databases.TenantDatabases>().All.Count());
        sending.ShouldAllBe(d => d.GetProperty("waiting").GetInt64() == 0 && d.GetProperty("dueNow").GetInt64() == 0);
        var running = Fixture.Host.Services.GetRequiredService<ProjectionDaemon>().Projections.Select(p => p.Name).ToList();
        running.ShouldBe(["analytics", "audit-ledger", "audit-entries", "event-fan-out"], ignoreOrder: true);
        (await Asynchronous()).Keys.ShouldBe(running, ignoreOrder: true);

        // The tests flush the ledger and run the analytics projector on demand (their intervals are an hour): a new
        // tenant's events wait for both, and each says so, in every database consistently.
        var tenant = await Active("projections-lag");
        var before = await Asynchronous();
        foreach (var name in new[] { "audit-ledger", "analytics" })
        {
            var projection = before[name];
            projection.GetProperty("enabled").GetBoolean().ShouldBeTrue();
            projection.GetProperty("eventsBehind").GetInt64().ShouldBeGreaterThan(0, name);
            projection.GetProperty("lagSeconds").GetDouble().ShouldBeGreaterThanOrEqualTo(0);
            var databases = projection.GetProperty("databases").EnumerateArray().ToList();
            databases.Count.ShouldBe(Fixture.Host.Services.GetRequiredService<TenantEvents.Infrastructure.Databases.TenantDatabases>().All.Count());
            databases.Sum(d => d.GetProperty("eventsBehind").GetInt64()).ShouldBe(projection.GetProperty("eventsBehind").GetInt64());
        }
        // A database with pending events has its position before the oldest of them; one without, at its head.
        before["audit-ledger"].GetProperty("databases").EnumerateArray().ShouldAllBe(d => d.GetProperty("eventsBehind").GetInt64() > 0
            ? d.GetProperty("position").GetInt64() < d.GetProperty("head").GetInt64()
            : d.GetProperty("position").GetInt64() == d.GetProperty("head").GetInt64());
        // Each loop says how it is doing on this instance.
        var runs = before["audit-ledger"].GetProperty("runs");
        runs.GetProperty("alive").GetBoolean().ShouldBeTrue();
        runs.GetProperty("consecutiveFailures").GetInt32().ShouldBe(0);

        await Fixture.Host.Services.GetRequiredService<AuditJobs>().FlushAllAsync(CancellationToken.None);
        await Fixture.Host.Services.GetRequiredService<AnalyticsProjector>().CatchUpAsync(CancellationToken.None);
        var after = await Asynchronous();
        foreach (var name in new[] { "audit-ledger", "analytics" })
        {
            after[name].GetProperty("eventsBehind").GetInt64().ShouldBe(0, name);
            after[name].GetProperty("lagSeconds").GetDouble().ShouldBe(0, name);
        }
        // The followers of the tenants' logs (the audit entries, the fan-out) see the entries the flush just made: the
        // entries are behind until the tenant is caught up (here by a read of its trail, as an auditor's query would).
        var entries = after["audit-entries"];
        entries.GetProperty("eventsBehind").GetInt64().ShouldBeGreaterThan(0);
        entries.GetProperty("lagSeconds").GetDouble().ShouldBeGreaterThanOrEqualTo(0);
        // Nobody subscribed to webhooks: the fan-out follows no tenant, so nothing is behind for it.
        after["event-fan-out"].GetProperty("eventsBehind").GetInt64().ShouldBe(0);
        (await As(Roles.Auditor, "carol").Get($"/api/tenants/{tenant}/audit/entries")).ShouldBe(HttpStatusCode.OK);
        (await Asynchronous())["audit-entries"].GetProperty("eventsBehind").GetInt64().ShouldBe(0);
    }

    [Fact]
    public async Task an_operator_wakes_a_projection_and_its_round_runs_now()
    {
        await Active("projections-wake");
        (await Asynchronous())["analytics"].GetProperty("eventsBehind").GetInt64().ShouldBeGreaterThan(0);
        (await Admin.Post("/api/platform/projections/analytics/wake")).ShouldBe(HttpStatusCode.Accepted);
        // The round runs on the daemon's own loop (its interval here is an hour): the report shows it caught up.
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while ((await Asynchronous())["analytics"].GetProperty("eventsBehind").GetInt64() > 0)
        {
            DateTime.UtcNow.ShouldBeLessThan(deadline, "the woken round did not run");
            await Task.Delay(50);
        }
        (await Admin.Post("/api/platform/projections/no-such-projection/wake")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await As(Roles.Analyst, "ana").Post("/api/platform/projections/analytics/wake")).ShouldBeProblem(HttpStatusCode.Forbidden, "forbidden");
        (await Fixture.Client().Post("/api/platform/projections/analytics/wake")).ShouldBe(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task the_fan_out_follows_a_tenant_once_it_subscribes()
    {
        long WebhooksHead(Dictionary<string, JsonElement> report) => report["event-fan-out"].GetProperty("databases").EnumerateArray()
            .Where(d => d.GetProperty("follower").GetString() == "webhooks").Sum(d => d.GetProperty("head").GetInt64());
        var tenant = await Active("projections-fan-out");
        var jobs = Fixture.Host.Services.GetRequiredService<AuditJobs>();
        await jobs.FlushAllAsync(CancellationToken.None);
        // The tenant has a log, but nobody subscribed: the fan-out follows no one.
        WebhooksHead(await Asynchronous()).ShouldBe(0);

        var receiver = await Fixture.WebhookReceiver();
        (await TenantAdminOf(tenant).Post($"/api/tenants/{tenant}/webhooks", new { url = receiver.Hook("lag"), description = "lag" }))
            .ShouldBe(HttpStatusCode.Created);
        await jobs.FlushAllAsync(CancellationToken.None);
        // Now it follows the tenant: its whole log is the fan-out's head (however far the fan-out has got meanwhile).
        var after = await Asynchronous();
        WebhooksHead(after).ShouldBeGreaterThan(0);
        after["event-fan-out"].GetProperty("databases").EnumerateArray()
            .ShouldAllBe(d => d.GetProperty("position").GetInt64() <= d.GetProperty("head").GetInt64());
    }

    [Fact]
    public void the_inline_declarations_name_declared_tables_only()
    {
        var tables = TenantEvents.Infrastructure.Databases.DatabasePrivileges.Tables.Select(t => t.Table).ToHashSet();
        foreach (var projection in ProjectionRegistry.Inline)
            foreach (var word in System.Text.RegularExpressions.Regex.Matches(projection.Builds, "[a-z]+(_[a-z]+)+").Select(m => m.Value))
                tables.ShouldContain(word, $"{projection.Name} builds {word}");
    }

    [Fact]
    public async Task only_platform_administrators_see_the_projections()
    {
        var tenant = await Active("projections-who");
        (await As(Roles.Analyst, "ana").Get("/api/platform/projections")).ShouldBeProblem(HttpStatusCode.Forbidden, "forbidden");
        (await As(Roles.PlatformApprover, "bob").Get("/api/platform/projections")).ShouldBeProblem(HttpStatusCode.Forbidden, "forbidden");
        (await TenantAdminOf(tenant).Get("/api/platform/projections")).ShouldBeProblem(HttpStatusCode.Forbidden, "forbidden");
        (await Fixture.Client().Get("/api/platform/projections")).ShouldBe(HttpStatusCode.Unauthorized);
    }
}
