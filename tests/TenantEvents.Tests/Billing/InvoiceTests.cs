using System.Net;
using Microsoft.Extensions.DependencyInjection;
using TenantEvents.Billing;
using TenantEvents.Tests.Support;

namespace TenantEvents.Tests.Billing;

/// <summary>
/// A month's invoices with the controllable clock across the month end: every figure worked out here by hand from the usage
/// the test put in (November 2026 has 30 days), and the same invoices read back through the API.
/// </summary>
public class InvoiceTests(AppFixture fixture) : BillingTest(fixture)
{
    [Fact]
    public async Task a_month_closes_into_the_tenants_invoice_and_one_per_organisation_with_figures_worked_out_by_hand()
    {
        var t = await Billed();
        await AddCard(t.Tenant, Card());
        var admin = TenantAdminOf(t.Tenant);
        // 1,000 AI compute units guaranteed to county A from 2 November; moved to county B on 16 November.
        (await admin.Put($"/api/tenants/{t.Tenant}/organisations/{t.CountyA}/quotas/aiComputeUnitsPerMonth", new { guaranteed = 1000 })).ShouldBe(HttpStatusCode.OK);
        await UseAi(t.Tenant, t.CountyA, 2_000, At(11, 10));
        ClockAt(At(11, 16));
        (await admin.Delete($"/api/tenants/{t.Tenant}/organisations/{t.CountyA}/quotas/aiComputeUnitsPerMonth")).ShouldBe(HttpStatusCode.NoContent);
        (await admin.Put($"/api/tenants/{t.Tenant}/organisations/{t.CountyB}/quotas/aiComputeUnitsPerMonth", new { guaranteed = 1000 })).ShouldBe(HttpStatusCode.OK);
        await UseAi(t.Tenant, t.CountyB, 500, At(11, 20));
        await UseAi(t.Tenant, null, 100, At(11, 25));

        ClockAt(At(11, 30, 23));
        (await Close(t.Tenant, "2026-11")).ShouldBeProblem(HttpStatusCode.Conflict, "month-open");
        ClockAt(At(12, 1, 3));
        var closed = (await Close(t.Tenant, "2026-11")).ShouldBe(HttpStatusCode.Created);
        (await Close(t.Tenant, "2026-11")).ShouldBeProblem(HttpStatusCode.Conflict, "month-closed");

        // By hand. AI compute at 0.05: A 2,000 -> 100.00, B 500 -> 25.00, the tenant as a whole 100 -> 5.00 (the root's).
        // Allocated units at 0.002 a unit-month, held at each day's end: A 2-15 November (14 days), B 16-30 (15 days):
        // the tenant 1,000 x 29/30 x 0.002 = 1.9333 -> 1.93, split 14:15 to the cent: A 0.93, B 1.00.
        // The fee of 300 is shared, and with no cost centres the root bears it.
        const decimal aiA = 100.00m, aiB = 25.00m, aiRoot = 5.00m, allocA = 0.93m, allocB = 1.00m, fee = 300m;
        var subtotal = aiA + aiB + aiRoot + allocA + allocB + fee;                      // 431.93
        var tax = Math.Round(subtotal * 0.10m, 2, MidpointRounding.AwayFromZero);      // 43.19
        Dec(closed.Json, "subtotal").ShouldBe(subtotal);
        Dec(closed.Json, "tax").ShouldBe(tax);
        Dec(closed.Json, "total").ShouldBe(subtotal + tax);
        closed.Json.GetProperty("invoices").GetInt32().ShouldBe(4);

        var invoices = await Invoices(t.Tenant, "2026-11");
        var tenantInvoice = await Invoice(t.Tenant, Of(invoices, null));
        tenantInvoice.GetProperty("state").GetString().ShouldBe("draft");
        tenantInvoice.GetProperty("currency").GetString().ShouldBe("USD");
        tenantInvoice.GetProperty("seller").GetProperty("name").GetString().ShouldBe("TenantEvents Platform Operator");
        tenantInvoice.GetProperty("buyer").GetProperty("name").GetString().ShouldBe("Travis County Sheriff");
        var lines = Lines(tenantInvoice);
        lines.Single(l => l.GetProperty("metric").GetString() == "aiCompute").GetProperty("quantity").GetDecimal().ShouldBe(2_600m);
        Dec(lines.Single(l => l.GetProperty("metric").GetString() == "aiCompute"), "amount").ShouldBe(aiA + aiB + aiRoot);
        Dec(lines.Single(l => l.GetProperty("metric").GetString() == "allocated:aiComputeUnitsPerMonth"), "amount").ShouldBe(1.93m);

        var a = await Invoice(t.Tenant, Of(invoices, t.CountyA));
        var b = await Invoice(t.Tenant, Of(invoices, t.CountyB));
        var root = await Invoice(t.Tenant, Of(invoices, t.Root));
        Dec(a, "subtotal").ShouldBe(aiA + allocA);
        Dec(b, "subtotal").ShouldBe(aiB + allocB);
        Dec(root, "subtotal").ShouldBe(aiRoot + fee);
        a.GetProperty("buyer").GetProperty("name").GetString().ShouldBe("County A");
        a.GetProperty("seller").GetProperty("name").GetString().ShouldBe("Travis County Sheriff");
        // The allocation moved mid-month: each county pays for its own days.
        Dec(Lines(a).Single(l => l.GetProperty("metric").GetString()!.StartsWith("allocated:")), "amount").ShouldBe(allocA);
        Dec(Lines(b).Single(l => l.GetProperty("metric").GetString()!.StartsWith("allocated:")), "amount").ShouldBe(allocB);
        // Each organisation's tax is its share of the tenant's (to the cent), and together they are the tenant's invoice exactly.
        foreach (var org in new[] { a, b, root })
            Math.Abs(Dec(org, "tax") - Dec(org, "subtotal") * 0.10m).ShouldBeLessThanOrEqualTo(0.01m);
        (Dec(a, "total") + Dec(b, "total") + Dec(root, "total")).ShouldBe(subtotal + tax);

        // Roll-up: the root's subtree is the tenant's invoice.
        var month = (await Admin.Get($"/api/tenants/{t.Tenant}/billing/months/2026-11")).ShouldBe(HttpStatusCode.OK).Json;
        Dec(month, "tenantTotal").ShouldBe(subtotal + tax);
        var rolled = month.GetProperty("organisations").EnumerateArray().ToDictionary(o => o.GetProperty("organisationId").GetGuid());
        Dec(rolled[t.Root], "rolledUp").ShouldBe(subtotal + tax);
        Dec(rolled[t.CountyA], "rolledUp").ShouldBe(Dec(a, "total"));
    }

    [Fact]
    public async Task a_rate_card_changed_mid_month_prices_each_part_from_its_effective_date()
    {
        var t = await Billed();
        await AddCard(t.Tenant, Card());
        await AddCard(t.Tenant, Card(version: 2, from: "2026-11-16", fee: 450m, ai: 0.08m));
        await UseAi(t.Tenant, t.CountyA, 1_000, At(11, 10));
        await UseAi(t.Tenant, t.CountyA, 1_000, At(11, 20));
        ClockAt(At(12, 1, 3));
        var closed = (await Close(t.Tenant, "2026-11")).ShouldBe(HttpStatusCode.Created).Json;

        // 1-15 November by version 1: fee 300 x 15/30 = 150, 1,000 units x 0.05 = 50; 16-30 by version 2: 450 x 15/30 = 225, 1,000 x 0.08 = 80.
        Dec(closed, "subtotal").ShouldBe(150m + 50m + 225m + 80m);
        var tenantInvoice = await Invoice(t.Tenant, Of(await Invoices(t.Tenant, "2026-11"), null));
        var lines = Lines(tenantInvoice);
        var ai = lines.Where(l => l.GetProperty("metric").GetString() == "aiCompute").OrderBy(l => l.GetProperty("from").GetString()).ToList();
        ai.Select(l => (l.GetProperty("rateCardVersion").GetInt32(), l.GetProperty("from").GetString(), l.GetProperty("to").GetString(), Dec(l, "amount")))
            .ShouldBe([(1, "2026-11-01", "2026-11-15", 50m), (2, "2026-11-16", "2026-11-30", 80m)]);
        // A card cannot reach back into a closed month, and must be the next version.
        (await Admin.Post($"/api/tenants/{t.Tenant}/billing/rate-cards", Card(version: 3, from: "2026-11-20"))).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await Admin.Post($"/api/tenants/{t.Tenant}/billing/rate-cards", Card(version: 5, from: "2026-12-01"))).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
    }

    [Fact]
    public async Task licences_are_billed_per_day_held_at_a_days_peak_and_then_at_the_count_its_last_change_left()
    {
        var t = await Billed();
        await AddCard(t.Tenant, new
        {
            name = "licences", version = 1, effectiveFrom = "2026-11-01", currency = "USD",
            charges = new object[] { new { name = "Licences", metric = "licences", unitPrice = 30m } },
        });
        // As the directory writes them: on 2 November 0 -> 10 active users; on 16 November 10 -> 12, then down to 4.
        var store = Fixture.Host.Services.GetRequiredService<TenantEvents.Quotas.QuotaUsageStore>();
        await store.InTenantAsync(t.Tenant, "test", async (connection, transaction) =>
        {
            await using var batch = new Npgsql.NpgsqlBatch(connection, transaction);
            foreach (var (day, peak, count) in new[] { (2, 10L, 10L), (16, 12L, 4L) })
            {
                batch.BatchCommands.Add(store.DailyCommand("licences", At(11, day), Guid.Empty, peak, peak: true));
                batch.BatchCommands.Add(store.DailyCommand(TenantEvents.Quotas.QuotaLedger.LicencesHeld, At(11, day), Guid.Empty, count, last: true));
            }
            await batch.ExecuteNonQueryAsync();
            return 0;
        }, CancellationToken.None);
        ClockAt(At(12, 1, 3));
        (await Close(t.Tenant, "2026-11")).ShouldBe(HttpStatusCode.Created);
        // Licence-days: 2-15 November 10 a day (140), the 16th its peak 12, 17-30 the 4 left (56): 208 / 30 licence-months at 30.
        var line = Lines(await Invoice(t.Tenant, Of(await Invoices(t.Tenant, "2026-11"), null))).Single();
        Dec(line, "amount").ShouldBe(208.00m);
    }

    [Fact]
    public async Task an_allocation_nested_in_another_is_carved_out_of_it_not_charged_twice()
    {
        var t = await Billed();
        await AddCard(t.Tenant, Card(fee: 0m, tax: 0m, allocated: 0.01m));
        var admin = TenantAdminOf(t.Tenant);
        var station = Guid.Parse((await admin.Post($"/api/tenants/{t.Tenant}/organisations", new { parentId = t.CountyA, name = "Station", kind = "unit" }))
            .ShouldBe(HttpStatusCode.Created).Str("id"));
        (await admin.Put($"/api/tenants/{t.Tenant}/organisations/{t.CountyA}/quotas/aiComputeUnitsPerMonth", new { guaranteed = 1000 })).ShouldBe(HttpStatusCode.OK);
        (await admin.Put($"/api/tenants/{t.Tenant}/organisations/{station}/quotas/aiComputeUnitsPerMonth", new { guaranteed = 400 })).ShouldBe(HttpStatusCode.OK);
        ClockAt(At(12, 1, 3));
        (await Close(t.Tenant, "2026-11")).ShouldBe(HttpStatusCode.Created);
        // 1,000 units held 2-30 November (29 days) in all, 400 of them by the station: 1,000 x 29/30 x 0.01 = 9.67 for the
        // tenant; the county 600 of them (5.802 -> 5.80), the station 400 (3.868 -> 3.87).
        var invoices = await Invoices(t.Tenant, "2026-11");
        Dec(Of(invoices, null), "total").ShouldBe(9.67m);
        Dec(Of(invoices, t.CountyA), "total").ShouldBe(5.80m);
        Dec(Of(invoices, station), "total").ShouldBe(3.87m);
        // Each shows its own quantity (unit-months), never the tenant's.
        Lines(await Invoice(t.Tenant, Of(invoices, station))).Single().GetProperty("quantity").GetDecimal().ShouldBe(decimal.Round(400m * 29 / 30, 4));
    }

    [Fact]
    public async Task partial_recovery_with_fixed_cost_centres_charges_the_counties_their_part_and_the_root_bears_the_rest()
    {
        var t0 = await Billed();
        var t = t0;
        // Terms again: the fee split 60/40 between the counties, 25 % subsidised by the tenant.
        (await TenantAdminOf(t.Tenant).Put($"/api/tenants/{t.Tenant}/billing/terms", Terms("partial", 0.25m, "fixed",
            [new { organisationId = t.CountyA, percent = 60 }, new { organisationId = t.CountyB, percent = 40 }]))).ShouldBe(HttpStatusCode.OK);
        await AddCard(t.Tenant, Card(tax: 0m));
        await UseAi(t.Tenant, t.CountyA, 1_000, At(11, 10));   // 50.00
        ClockAt(At(12, 1, 3));
        (await Close(t.Tenant, "2026-11")).ShouldBe(HttpStatusCode.Created);
        var invoices = await Invoices(t.Tenant, "2026-11");
        // Shown: A 180 (fee) + 50 (AI) = 230, B 120. Charged 75 %: A 172.50, B 90.00; the root bears 57.50 + 30.00 = 87.50.
        Dec(Of(invoices, t.CountyA), "subtotal").ShouldBe(172.50m);
        Dec(Of(invoices, t.CountyB), "subtotal").ShouldBe(90.00m);
        var root = await Invoice(t.Tenant, Of(invoices, t.Root));
        Dec(root, "subtotal").ShouldBe(87.50m);
        Lines(root).Single().GetProperty("metric").GetString().ShouldBe("borne");
        Dec(Of(invoices, null), "total").ShouldBe(350m);
        var month = (await Admin.Get($"/api/tenants/{t.Tenant}/billing/months/2026-11")).ShouldBe(HttpStatusCode.OK).Json;
        Dec(month.GetProperty("organisations").EnumerateArray().Single(o => o.GetProperty("organisationId").GetGuid() == t.Root), "rolledUp").ShouldBe(350m);
    }

    [Fact]
    public async Task usage_counted_after_its_month_closed_goes_on_the_next_invoice_and_says_so()
    {
        var t = await Billed();
        await AddCard(t.Tenant, Card(fee: 0m, tax: 0m));
        await UseAi(t.Tenant, t.CountyA, 1_000, At(11, 29));
        ClockAt(At(12, 1, 3));
        (await Close(t.Tenant, "2026-12")).ShouldBeProblem(HttpStatusCode.Conflict, "month-open");
        (await Close(t.Tenant, "2026-11")).ShouldBe(HttpStatusCode.Created);
        // 400 units of 30 November land after November closed.
        await CountLate(t.Tenant, t.CountyA, "aiCompute", At(11, 30), 400);
        await UseAi(t.Tenant, t.CountyB, 200, At(12, 5));
        // The billing job closes December once its grace has passed (TenantEvents:BillingCloseGrace).
        ClockAt(At(13, 1, 1));
        var jobs = Fixture.Host.Services.GetRequiredService<BillingJobs>();
        (await jobs.RunOnceAsync(CancellationToken.None)).ShouldBe(0);
        ClockAt(At(13, 1, 7));
        (await jobs.RunOnceAsync(CancellationToken.None)).ShouldBe(1);
        var december = await Invoices(t.Tenant, "2026-12");
        var a = await Invoice(t.Tenant, Of(december, t.CountyA));
        var late = Lines(a).Single();
        late.GetProperty("lateFor").GetString().ShouldBe("2026-11");
        late.GetProperty("description").GetString().ShouldBe("AI compute, late usage for 2026-11");
        late.GetProperty("quantity").GetDecimal().ShouldBe(400m);
        Dec(late, "amount").ShouldBe(20.00m);
        Dec(Of(december, t.CountyB), "subtotal").ShouldBe(10.00m);
        Dec(Of(december, null), "subtotal").ShouldBe(30.00m);
        // Counted once: January's close finds nothing more late.
        ClockAt(At(13, 31, 23).AddDays(1).AddHours(8));
        (await jobs.RunOnceAsync(CancellationToken.None)).ShouldBe(1);
        (await Invoices(t.Tenant, "2027-01")).ShouldBeEmpty();
    }
}
