using System.Net;
using Microsoft.Extensions.DependencyInjection;
using TenantEvents.Billing;
using TenantEvents.Tests.Support;

namespace TenantEvents.Tests.Billing;

/// <summary>Budgets per organisation: thresholds raised once as events, and a hard budget refusing through the quotas at 100 %.</summary>
public class BudgetEnforcementTests(AppFixture fixture) : BillingTest(fixture)
{
    private async Task<Reply> Check(Guid tenant) => (await TenantAdminOf(tenant).Post($"/api/tenants/{tenant}/billing/budgets/check")).ShouldBe(HttpStatusCode.OK);

    private static List<(decimal Threshold, string Basis)> Raised(Reply check, Guid org) =>
        check.Json.GetProperty("items").EnumerateArray().Single(b => b.GetProperty("organisationId").GetGuid() == org)
            .GetProperty("raisedNow").EnumerateArray().Select(a => (a.GetProperty("threshold").GetDecimal(), a.GetProperty("basis").GetString()!)).ToList();

    [Fact]
    public async Task a_budget_crossing_80_percent_raises_one_alert_and_at_100_percent_a_hard_budget_refuses_the_subtrees_compute()
    {
        var t = await Billed();
        await AddCard(t.Tenant, Card(fee: 0m, tax: 0m));   // AI compute at 0.05 a unit
        var admin = TenantAdminOf(t.Tenant);
        var station = Guid.Parse((await admin.Post($"/api/tenants/{t.Tenant}/organisations", new { parentId = t.CountyA, name = "Station", kind = "unit" }))
            .ShouldBe(HttpStatusCode.Created).Str("id"));
        (await admin.Put($"/api/tenants/{t.Tenant}/organisations/{t.CountyA}/budget", new { amount = 100m, thresholds = new[] { 0.8m }, hard = true }))
            .ShouldBe(HttpStatusCode.OK);
        var before = await EventCount(t.Tenant, everyStream: true);

        await UseAi(t.Tenant, t.CountyA, 1_000, At(11, 10));   // 50.00: nothing yet
        Raised(await Check(t.Tenant), t.CountyA).ShouldBeEmpty();
        await UseAi(t.Tenant, station, 700, At(11, 11));        // the subtree's 85.00: 80 % crossed
        Raised(await Check(t.Tenant), t.CountyA).ShouldBe([(0.8m, "actual")]);
        Raised(await Check(t.Tenant), t.CountyA).ShouldBeEmpty();   // once
        (await EventCount(t.Tenant, everyStream: true) - before).ShouldBeGreaterThan(0);

        await UseAi(t.Tenant, t.CountyA, 400, At(11, 12));      // 105.00
        var refused = await Check(t.Tenant);
        Raised(refused, t.CountyA).ShouldBe([(1.0m, "actual")]);
        refused.Json.GetProperty("items")[0].GetProperty("refusing").GetBoolean().ShouldBeTrue();
        // The county and everything below it are refused compute; county B is not.
        foreach (var org in new[] { t.CountyA, station })
            (await admin.Post($"/api/tenants/{t.Tenant}/ai-compute/reservations", new { units = 1, organisationId = org }))
                .ShouldBeProblem(HttpStatusCode.Forbidden, "budget-exhausted");
        (await admin.Post($"/api/tenants/{t.Tenant}/ai-compute/reservations", new { units = 1, organisationId = t.CountyB })).ShouldBe(HttpStatusCode.Created);
        // The alerts are in the audit trail as events of the billing account.
        var entries = (await Admin.Get($"/api/tenants/{t.Tenant}/audit/entries?type=budget_threshold_crossed&limit=50")).ShouldBe(HttpStatusCode.OK)
            .Json.GetProperty("entries").EnumerateArray().ToList();
        entries.Count.ShouldBe(2);
        entries.ShouldAllBe(e => e.GetProperty("streamKind").GetString() == "billing");

        // Raising the budget lifts the refusal; alerts start afresh.
        (await admin.Put($"/api/tenants/{t.Tenant}/organisations/{t.CountyA}/budget", new { amount = 200m, thresholds = new[] { 0.8m }, hard = true }))
            .ShouldBe(HttpStatusCode.OK);
        (await admin.Post($"/api/tenants/{t.Tenant}/ai-compute/reservations", new { units = 1, organisationId = station })).ShouldBe(HttpStatusCode.Created);
        Raised(await Check(t.Tenant), t.CountyA).ShouldBeEmpty();
    }

    [Fact]
    public async Task a_soft_budget_alerts_on_its_forecast_and_never_refuses()
    {
        var t = await Billed();
        await AddCard(t.Tenant, Card(fee: 0m, tax: 0m));
        var admin = TenantAdminOf(t.Tenant);
        (await admin.Put($"/api/tenants/{t.Tenant}/organisations/{t.CountyB}/budget", new { amount = 100m, forecast = true })).ShouldBe(HttpStatusCode.OK);
        // 40.00 by 10 November: the month's forecast is 40 / 10 x 30 = 120, past 50 %, 80 % and 100 % of the budget.
        await UseAi(t.Tenant, t.CountyB, 800, At(11, 10));
        var check = await Check(t.Tenant);
        Raised(check, t.CountyB).ShouldBe([(0.5m, "forecast"), (0.8m, "forecast"), (1.0m, "forecast")]);
        Dec(check.Json.GetProperty("items")[0], "forecast").ShouldBe(120m);
        await UseAi(t.Tenant, t.CountyB, 2_000, At(11, 11));    // 140 actual: soft, so alerts only
        Raised(await Check(t.Tenant), t.CountyB).ShouldBe([(0.5m, "actual"), (0.8m, "actual"), (1.0m, "actual")]);
        (await admin.Post($"/api/tenants/{t.Tenant}/ai-compute/reservations", new { units = 1, organisationId = t.CountyB })).ShouldBe(HttpStatusCode.Created);
    }

    [Fact]
    public async Task an_organisation_does_not_set_its_own_budget()
    {
        var t = await Billed();
        var admin = TenantAdminOf(t.Tenant);
        (await admin.Put($"/api/tenants/{t.Tenant}/roles/county-finance", new { description = "County finance", permissions = new[] { "billing.read", "billing.manage", "org.read" } }))
            .ShouldBe(HttpStatusCode.OK);
        (await admin.Post($"/api/tenants/{t.Tenant}/organisations/{t.CountyA}/grants", new { principal = new { kind = "user", id = "fin-a" }, role = "county-finance" }))
            .ShouldBe(HttpStatusCode.Created);
        var finance = Member(t.Tenant, "fin-a");
        (await finance.Put($"/api/tenants/{t.Tenant}/organisations/{t.CountyA}/budget", new { amount = 1_000_000m })).ShouldBeProblem(HttpStatusCode.Forbidden, "forbidden");
        (await finance.Put($"/api/tenants/{t.Tenant}/organisations/{t.CountyB}/budget", new { amount = 1m })).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await admin.Put($"/api/tenants/{t.Tenant}/organisations/{t.CountyA}/budget", new { amount = -5m })).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await admin.Put($"/api/tenants/{t.Tenant}/organisations/{t.CountyA}/budget", new { amount = 5m, thresholds = new[] { 0.5m, 0.5m } }))
            .ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        // An amount so large that its thresholds would overflow the arithmetic, or a storm of thresholds: refused, not a 500 later.
        (await admin.Put($"/api/tenants/{t.Tenant}/organisations/{t.CountyA}/budget", new { amount = 1e28m, thresholds = new[] { 10m } }))
            .ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await admin.Put($"/api/tenants/{t.Tenant}/organisations/{t.CountyA}/budget", new { amount = 5m, thresholds = Enumerable.Range(1, 11).Select(i => i / 100m) }))
            .ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
    }

    [Fact]
    public async Task the_billing_job_checks_budgets_on_its_own()
    {
        var t = await Billed();
        await AddCard(t.Tenant, Card(fee: 0m, tax: 0m));
        (await TenantAdminOf(t.Tenant).Put($"/api/tenants/{t.Tenant}/organisations/{t.CountyA}/budget", new { amount = 10m, hard = true })).ShouldBe(HttpStatusCode.OK);
        await UseAi(t.Tenant, t.CountyA, 300, At(11, 10));   // 15.00
        await Fixture.Host.Services.GetRequiredService<BillingJobs>().RunOnceAsync(CancellationToken.None);
        (await TenantAdminOf(t.Tenant).Post($"/api/tenants/{t.Tenant}/ai-compute/reservations", new { units = 1, organisationId = t.CountyA }))
            .ShouldBeProblem(HttpStatusCode.Forbidden, "budget-exhausted");
        var billing = (await Admin.Get($"/api/tenants/{t.Tenant}/billing")).ShouldBe(HttpStatusCode.OK).Json;
        billing.GetProperty("budgets")[0].GetProperty("refusing").GetBoolean().ShouldBeTrue();

        // With the service role's password: the county's refusal deleted, one planted for county B. The next check puts
        // the refusals back as the sealed account says they are.
        await using (var connection = new Npgsql.NpgsqlConnection(TestDatabase.ConnectionString))
        {
            await connection.OpenAsync();
            await using var tamper = new Npgsql.NpgsqlCommand("select set_config('app.tenant_id', $1, false)", connection);
            tamper.Parameters.AddWithValue(t.Tenant.ToString());
            await tamper.ExecuteNonQueryAsync();
            await using var delete = new Npgsql.NpgsqlCommand("delete from tenantevents.budget_refusals where org_id = $1", connection);
            delete.Parameters.AddWithValue(t.CountyA);
            (await delete.ExecuteNonQueryAsync()).ShouldBe(1);
            await using var plant = new Npgsql.NpgsqlCommand("insert into tenantevents.budget_refusals (tenant_id, org_id, month) values ($1, $2, '2026-11')", connection);
            plant.Parameters.AddWithValue(t.Tenant.ToString());
            plant.Parameters.AddWithValue(t.CountyB);
            (await plant.ExecuteNonQueryAsync()).ShouldBe(1);
        }
        await Fixture.Host.Services.GetRequiredService<BillingJobs>().RunOnceAsync(CancellationToken.None);
        (await TenantAdminOf(t.Tenant).Post($"/api/tenants/{t.Tenant}/ai-compute/reservations", new { units = 1, organisationId = t.CountyA }))
            .ShouldBeProblem(HttpStatusCode.Forbidden, "budget-exhausted");
        (await TenantAdminOf(t.Tenant).Post($"/api/tenants/{t.Tenant}/ai-compute/reservations", new { units = 1, organisationId = t.CountyB }))
            .ShouldBe(HttpStatusCode.Created);
    }
}
