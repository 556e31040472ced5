using TenantEvents.Delivery;
using TenantEvents.Infrastructure;

namespace TenantEvents.Tests.Delivery;

/// <summary>The pure rules of webhooks: back-off, dead letters, endpoints and the addresses a delivery may reach.</summary>
public class WebhookDecisionTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 3, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void a_2xx_is_delivered_anything_else_is_retried_after_a_growing_wait_then_dead()
    {
        WebhookDecisions.After(1, 200, 8, Now, 0).ShouldBe(new AttemptOutcome(WebhookStates.Delivered, null));
        WebhookDecisions.After(3, 204, 8, Now, 0.9).Status.ShouldBe(WebhookStates.Delivered);
        var waits = Enumerable.Range(1, 7).Select(a => WebhookDecisions.After(a, 500, 8, Now, 0).NextAttemptAt!.Value - Now).ToList();
        waits.ShouldBe([TimeSpan.FromSeconds(5), TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(30), TimeSpan.FromHours(2), TimeSpan.FromHours(5),
            TimeSpan.FromHours(10), TimeSpan.FromHours(10)]);
        WebhookDecisions.After(8, 500, 8, Now, 0).ShouldBe(new AttemptOutcome(WebhookStates.Dead, null));
        WebhookDecisions.After(1, null, 1, Now, 0).Status.ShouldBe(WebhookStates.Dead);
        WebhookDecisions.After(2, 302, 8, Now, 0).Status.ShouldBe(WebhookStates.Retrying); // a redirect is not a delivery
        // Jitter adds at most a tenth of the wait.
        (WebhookDecisions.After(2, 503, 8, Now, 0.999).NextAttemptAt!.Value - Now).ShouldBeLessThan(TimeSpan.FromMinutes(5.5));
        WebhookDecisions.After(20, 500, 30, Now, 0).NextAttemptAt.ShouldBe(Now + TimeSpan.FromHours(10));
    }

    [Theory]
    [InlineData("https://hooks.example.org/tenantevents", null)]
    [InlineData("http://hooks.example.org/tenantevents", "insecure-url")]
    [InlineData("https://user:secret@hooks.example.org/", "credentials-in-url")]
    [InlineData("https://hooks.example.org/#x", "fragment")]
    [InlineData("ftp://hooks.example.org/", "invalid-url")]
    [InlineData("/relative", "invalid-url")]
    [InlineData("", "required")]
    [InlineData("https://198.18.0.1/hook", "private-address")]
    [InlineData("https://192.0.0.8/hook", "private-address")]
    [InlineData("https://[64:ff9b::7f00:1]/hook", "private-address")]
    [InlineData("https://[::ffff:127.0.0.1]:8443/hook", "private-address")]
    [InlineData("https://localhost/hook", "private-address")]
    [InlineData("https://169.254.169.254/latest/meta-data", "private-address")]
    [InlineData("https://203.0.114.1/hook", null)]
    public void an_endpoint_is_an_absolute_https_url_without_credentials(string url, string? code)
    {
        var errors = new List<FieldError>();
        var uri = WebhookDecisions.Url(url, allowHttp: false, errors);
        if (code is null) { errors.ShouldBeEmpty(); uri.ShouldNotBeNull(); }
        else errors.ShouldHaveSingleItem().Code.ShouldBe(code);
    }

    [Fact]
    public void filters_name_known_types_or_prefixes()
    {
        var errors = new List<FieldError>();
        WebhookDecisions.Types(["com.tenantevents.organisation_*", "com.tenantevents.tenant_renamed", "com.tenantevents.tenant_renamed"],
            EventFeed.AllTypes, errors).ShouldBe(["com.tenantevents.organisation_*", "com.tenantevents.tenant_renamed"]);
        errors.ShouldBeEmpty();
        WebhookDecisions.Types(["com.tenantevents.nothing_*", "x", " "], EventFeed.AllTypes, errors);
        errors.Select(e => e.Code).ShouldBe(["unknown-type", "unknown-type", "empty"]);
        EventFeed.Matches(["com.tenantevents.organisation_*"], "com.tenantevents.organisation_renamed").ShouldBeTrue();
        EventFeed.Matches(["com.tenantevents.organisation_*"], "com.tenantevents.tenant_renamed").ShouldBeFalse();
        EventFeed.Matches([], "com.tenantevents.tenant_renamed").ShouldBeTrue();
        EventFeed.PlatformTypes.ShouldContain("com.tenantevents.tenant_suspended");
        EventFeed.PlatformTypes.ShouldContain("com.tenantevents.domain_verified"); // for an operator's certificate automation
        EventFeed.PlatformTypes.ShouldNotContain("com.tenantevents.case_file_opened");
        EventFeed.PlatformTypes.ShouldNotContain("com.tenantevents.organisation_created");
        EventFeed.AllTypes.ShouldContain("com.tenantevents.case_file_opened");
    }
}
