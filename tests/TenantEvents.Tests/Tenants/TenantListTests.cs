using System.Net;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Tests.Support;

namespace TenantEvents.Tests.Tenants;

public class TenantListTests(AppFixture fixture) : IntegrationTest(fixture)
{
    [Fact]
    public async Task tenants_are_filtered_by_state_template_and_zone_and_paged_without_gaps_or_repeats()
    {
        var requested = await Requested("req-one");
        var texas = await Active("tx-agency");
        var gb = Guid.Parse((await Admin.Post("/api/tenants", TenantRequest("gb-firm", "commercial-saas", "GB", "GB-SCT"))).Str("id"));
        var ids = new List<Guid> { requested, texas, gb };
        for (var i = 0; i < 7; i++) ids.Add(await Requested($"bulk-{i}"));

        async Task<IReadOnlyList<Guid>> Ids(string query) =>
            (await As(Roles.Analyst).Get("/api/tenants" + query)).ShouldBe(HttpStatusCode.OK)
            .Json.GetProperty("items").EnumerateArray().Select(t => t.GetProperty("id").GetGuid()).ToList();

        (await Ids("?state=active")).ShouldBe([texas]);
        (await Ids("?template=commercial-saas")).ShouldBe([gb]);
        (await Ids("?country=GB")).ShouldBe([gb]);
        (await Ids("?subdivision=US-TX&state=requested")).Count.ShouldBe(8);

        var seen = new List<Guid>();
        string? cursor = null;
        do
        {
            var page = await As(Roles.Auditor).Get("/api/tenants?limit=3" + (cursor is null ? "" : "&cursor=" + cursor));
            var items = page.Json.GetProperty("items").EnumerateArray().Select(t => t.GetProperty("id").GetGuid()).ToList();
            items.Count.ShouldBeLessThanOrEqualTo(3);
            seen.AddRange(items);
            cursor = page.Json.TryGetProperty("nextCursor", out var next) ? next.GetString() : null;
        } while (cursor is not null);
        seen.ShouldBe(ids); // creation order, every tenant exactly once
    }
}
