using TenantEvents.Analytics;

namespace TenantEvents.Tests.Analytics;

public class FeatureAreaTests
{
    [Theory]
    [InlineData("/api/tenants/{tenantId}", "tenant")]
    [InlineData("/api/tenants/{tenantId}/organisations/{orgId}/children", "organisations")]
    [InlineData("/api/tenants/{tenantId}/access/explain", "organisations")]
    [InlineData("/api/tenants/{tenantId}/case-files/{caseFileId}", "case-files")]
    [InlineData("/api/tenants/{tenantId}/sharing/agreements", "sharing")]
    [InlineData("/api/tenants/{tenantId}/collaborations", "sharing")]
    [InlineData("/api/tenants/{tenantId}/events", "audit")]
    [InlineData("/api/tenants/{tenantId}/events/stream", "delivery")]
    [InlineData("/api/tenants/{tenantId}/webhooks/{webhookId}", "delivery")]
    [InlineData("/api/tenants/{tenantId}/ai-compute/reservations", "quotas")]
    [InlineData("/api/tenants/{tenantId}/scim/v2/Users", "scim")]
    [InlineData("/graphql", "graphql")]
    [InlineData("/api/templates", null)]
    [InlineData("/health/live", null)]
    [InlineData(null, null)]
    public void every_route_belongs_to_one_named_area(string? route, string? area)
    {
        FeatureAreas.Of(route).ShouldBe(area);
        if (area is not null) FeatureAreas.All.ShouldContainKey(area);
    }

    [Fact]
    public void weeks_are_iso_weeks_and_months_calendar_months_in_utc()
    {
        var sunday = new DateOnly(2026, 11, 29);
        Periods.Start(sunday, Granularity.Week).ShouldBe(new DateOnly(2026, 11, 23));
        Periods.Start(sunday.AddDays(1), Granularity.Week).ShouldBe(new DateOnly(2026, 11, 30));
        Periods.Name(new DateOnly(2026, 11, 30), Granularity.Week).ShouldBe("2026-W49");
        Periods.Name(new DateOnly(2027, 1, 1), Granularity.Week).ShouldBe("2026-W53");
        Periods.Between(new DateOnly(2026, 11, 29), new DateOnly(2026, 12, 1), Granularity.Month).ShouldBe([new DateOnly(2026, 11, 1), new DateOnly(2026, 12, 1)]);
        Periods.End(new DateOnly(2028, 2, 1), Granularity.Month).ShouldBe(new DateOnly(2028, 2, 29));
    }
}
