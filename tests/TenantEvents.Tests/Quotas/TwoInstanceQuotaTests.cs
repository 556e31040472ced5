using System.Net;
using Microsoft.Extensions.DependencyInjection;
using TenantEvents.Quotas;
using TenantEvents.Tests.Support;

namespace TenantEvents.Tests.Quotas;

/// <summary>Two service instances on one database: counts add up, limits hold between them, fair share turns a flood away.</summary>
public class TwoInstanceQuotaTests(AppFixture fixture) : IntegrationTest(fixture)
{
    private async Task<(HttpClient One, HttpClient Two, QuotaLedger LedgerOne, QuotaLedger LedgerTwo)> Instances(Guid tenant)
    {
        var second = await Fixture.SecondHost();
        var token = Fixture.Token(TenantEvents.Infrastructure.Security.Roles.TenantAdmin, "tenant-admin", tenant);
        return (Fixture.Client(token), Fixture.SecondClient(second, token), Fixture.Host.Services.GetRequiredService<QuotaLedger>(),
            second.Services.GetRequiredService<QuotaLedger>());
    }

    private async Task<long> UsedToday(Guid tenant) =>
        (await Admin.Get($"/api/tenants/{tenant}/quotas")).ShouldBe(HttpStatusCode.OK).Json.GetProperty("quotas").EnumerateArray()
        .Single(q => q.GetProperty("kind").GetString() == QuotaKinds.ApiCallsPerDay).GetProperty("used").GetInt64();

    [Fact]
    public async Task calls_racing_on_two_instances_are_admitted_exactly_up_to_the_limit_and_counted_once()
    {
        var tenant = await ActiveWithQuotas(new { apiCallsPerDay = 17 });
        var (one, two, ledgerOne, ledgerTwo) = await Instances(tenant);
        var replies = await Task.WhenAll(Enumerable.Range(0, 36).Select(i => (i % 2 == 0 ? one : two).Get($"/api/tenants/{tenant}")));
        replies.Count(r => r.Status == HttpStatusCode.OK).ShouldBe(17);
        replies.Where(r => r.Status != HttpStatusCode.OK).ShouldAllBe(r => r.Status == HttpStatusCode.TooManyRequests);
        await ledgerOne.FlushAsync(default);
        await ledgerTwo.FlushAsync(default);
        (await UsedToday(tenant)).ShouldBe(17);
    }

    [Fact]
    public async Task a_quota_used_up_on_one_instance_is_refused_on_the_other_at_once_without_waiting_for_a_flush()
    {
        var tenant = await ActiveWithQuotas(new { apiCallsPerDay = 4 });
        var (one, two, _, _) = await Instances(tenant);
        for (var i = 0; i < 4; i++) (await one.Get($"/api/tenants/{tenant}")).ShouldBe(HttpStatusCode.OK);
        var refused = await two.Get($"/api/tenants/{tenant}");
        refused.ShouldBeProblem(HttpStatusCode.TooManyRequests, "quota-exceeded");
        refused.Json.GetProperty("used").GetInt64().ShouldBe(4);
    }

    [Fact]
    public async Task an_allocation_made_on_one_instance_is_enforced_by_the_other_once_it_reloads_the_tenants_quotas()
    {
        var tenant = await ActiveWithQuotas(new { aiComputeUnitsPerMonth = 10 });
        var (one, two, _, _) = await Instances(tenant);
        var county = Guid.Parse((await one.Post($"/api/tenants/{tenant}/organisations", new { parentId = await RootOf(tenant), name = "County", kind = "unit" }))
            .ShouldBe(HttpStatusCode.Created).Str("id"));
        // The second instance knows the tenant's quotas with no allocation yet.
        (await two.Post($"/api/tenants/{tenant}/ai-compute/reservations", new { units = 1 })).ShouldBe(HttpStatusCode.Created);
        (await one.Put($"/api/tenants/{tenant}/organisations/{county}/quotas/{QuotaKinds.AiCompute}", new { guaranteed = 9 })).ShouldBe(HttpStatusCode.OK);
        // Its next reload (every QuotaPolicyRefresh; here at once) sees the new organisation graph: the county's 9 are kept for it.
        await (await Fixture.SecondHost()).Services.GetRequiredService<QuotaPolicies>().PolicyAsync(tenant, CancellationToken.None, fresh: true);
        (await two.Post($"/api/tenants/{tenant}/ai-compute/reservations", new { units = 1 })).ShouldBeProblem(HttpStatusCode.Forbidden, "quota-exceeded");
        (await two.Post($"/api/tenants/{tenant}/ai-compute/reservations", new { units = 9, organisationId = county })).ShouldBe(HttpStatusCode.Created);
    }

    [Fact]
    public async Task counts_from_both_instances_add_up_and_idle_leases_are_given_back_at_the_flush()
    {
        var tenant = await ActiveWithQuotas(new { apiCallsPerDay = 100_000 });
        var (one, two, ledgerOne, ledgerTwo) = await Instances(tenant);
        for (var i = 0; i < 7; i++) (await one.Get($"/api/tenants/{tenant}")).ShouldBe(HttpStatusCode.OK);
        for (var i = 0; i < 5; i++) (await two.Get($"/api/tenants/{tenant}")).ShouldBe(HttpStatusCode.OK);
        // The first flush writes the counts; a bucket that was busy keeps its lease until a flush finds it idle.
        foreach (var ledger in new[] { ledgerOne, ledgerTwo, ledgerOne, ledgerTwo }) await ledger.FlushAsync(default);
        var usage = (await Admin.Get($"/api/tenants/{tenant}/quotas")).ShouldBe(HttpStatusCode.OK).Json.GetProperty("quotas").EnumerateArray()
            .Single(q => q.GetProperty("kind").GetString() == QuotaKinds.ApiCallsPerDay);
        usage.GetProperty("used").GetInt64().ShouldBe(12);
        usage.GetProperty("held").GetInt64().ShouldBe(0);
    }

    [Fact]
    public async Task a_flooding_tenant_is_turned_away_by_its_fair_share_while_another_tenant_is_served()
    {
        var noisy = await ActiveWithQuotas(new { apiCallsPerDay = 100_000 });
        var quiet = await ActiveWithQuotas(new { apiCallsPerDay = 100_000 }, "bexar-sheriff");
        var second = await Fixture.SecondHost(); // fair share there: 20 a second, bursts of 20
        var noisyClient = Fixture.SecondClient(second, Fixture.Token(TenantEvents.Infrastructure.Security.Roles.TenantAdmin, "noisy", noisy));
        var quietClient = Fixture.SecondClient(second, Fixture.Token(TenantEvents.Infrastructure.Security.Roles.TenantAdmin, "quiet", quiet));
        var flood = await Task.WhenAll(Enumerable.Range(0, 80).Select(_ => noisyClient.Get($"/api/tenants/{noisy}")));
        var served = await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => quietClient.Get($"/api/tenants/{quiet}")));
        served.ShouldAllBe(r => r.Status == HttpStatusCode.OK);
        var limited = flood.Where(r => r.Status == HttpStatusCode.TooManyRequests).ToList();
        // The burst of 20 (and at most a few refilled while the flood ran) got through; the rest was refused at the door.
        flood.Count(r => r.Status == HttpStatusCode.OK).ShouldBeInRange(20, 40);
        limited.Count.ShouldBe(80 - flood.Count(r => r.Status == HttpStatusCode.OK));
        limited[0].ShouldBeProblem(HttpStatusCode.TooManyRequests, "rate-limited");
        limited[0].Headers.RetryAfter!.Delta!.Value.ShouldBeGreaterThan(TimeSpan.Zero);
    }
}
