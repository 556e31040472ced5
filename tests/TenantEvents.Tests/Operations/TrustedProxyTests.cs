using System.Net;
using Microsoft.Extensions.Configuration;
using TenantEvents.Tests.Support;

namespace TenantEvents.Tests.Operations;

/// <summary>
/// Behind an ingress every request comes from the proxy's address: limits per client address must apply to the client
/// the proxy names (X-Forwarded-For), and only when the proxy is one the operator trusts (a client cannot name itself
/// someone else to escape its limit).
/// </summary>
public class TrustedProxyTests(AppFixture fixture) : IntegrationTest(fixture)
{
    private static async Task<HttpStatusCode> Anonymous(ServiceProcess service, string? forwardedFor)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, service.Url + "/api/audit/log-key");
        if (forwardedFor is not null) request.Headers.Add("X-Forwarded-For", forwardedFor);
        using var http = new HttpClient();
        return (await http.SendAsync(request)).StatusCode;
    }

    [Fact]
    public async Task the_anonymous_limit_applies_per_forwarded_client_only_behind_a_trusted_proxy()
    {
        var limits = new Dictionary<string, string> { ["TenantEvents:AnonymousRequestsPerWindow"] = "3", ["TenantEvents:AnonymousRateWindow"] = "01:00:00" };
        var db = await ServiceProcess.FreshDatabaseAsync("tenantevents_test_proxy");

        // Trusted (the test connects from 127.0.0.1): each forwarded client has its own allowance.
        await using (var trusted = await ServiceProcess.StartAsync(db, Directory.CreateTempSubdirectory("tenantevents-proxy-").FullName,
                         new Dictionary<string, string>(limits) { ["TenantEvents:TrustedProxies:0"] = "127.0.0.0/8" }))
        {
            for (var i = 0; i < 3; i++) (await Anonymous(trusted, "203.0.113.5")).ShouldBe(HttpStatusCode.OK);
            (await Anonymous(trusted, "203.0.113.5")).ShouldBe(HttpStatusCode.TooManyRequests);
            (await Anonymous(trusted, "203.0.113.6")).ShouldBe(HttpStatusCode.OK); // another client behind the same proxy
        }

        // Not trusted: the header is ignored, the connection's address counts (naming another client escapes nothing). The
        // allowance of 127.0.0.1 is shared with the start-up's readiness polls, so it runs out within the first few.
        await using var untrusted = await ServiceProcess.StartAsync(db, Directory.CreateTempSubdirectory("tenantevents-proxy-").FullName, limits);
        var answers = new List<HttpStatusCode>();
        for (var i = 0; i < 4; i++) answers.Add(await Anonymous(untrusted, $"198.51.100.{i}"));
        answers.ShouldContain(HttpStatusCode.TooManyRequests);
        (await Anonymous(untrusted, "198.51.100.99")).ShouldBe(HttpStatusCode.TooManyRequests);
    }

    [Theory]
    [InlineData("0.0.0.0/0")]
    [InlineData("10.0.0.0/7")]
    [InlineData("::/0")]
    [InlineData("not-an-address")]
    public void trusting_nearly_everyone_or_nonsense_is_refused_at_start(string proxy)
    {
        var configuration = new Microsoft.Extensions.Configuration.ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["TenantEvents:TrustedProxies:0"] = proxy }).Build();
        Should.Throw<InvalidOperationException>(() => TenantEvents.Infrastructure.TenantEventsOptions.From(configuration)).Message.ShouldContain("TrustedProxies");
    }
}
