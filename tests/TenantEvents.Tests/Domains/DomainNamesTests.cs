using Microsoft.AspNetCore.Http;
using TenantEvents.Domains;

namespace TenantEvents.Tests.Domains;

/// <summary>The pure rules of names: one spelling, what is a host name, what a tenant's name serves.</summary>
public class DomainNamesTests
{
    [Theory]
    [InlineData("Events.Agency.GOV.", "events.agency.gov")]
    [InlineData("  events.agency.gov ", "events.agency.gov")]
    [InlineData("bücher.example", "xn--bcher-kva.example")]
    [InlineData("xn--bcher-kva.example", "xn--bcher-kva.example")]
    [InlineData("a-b.c-d.example", "a-b.c-d.example")]
    public void a_name_has_one_spelling(string input, string expected) => DomainNames.Normalise("domain", input).Name.ShouldBe(expected);

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("gov")]
    [InlineData("*.agency.gov")]
    [InlineData("agency_.gov")]
    [InlineData("agency..gov")]
    [InlineData("-agency.gov")]
    [InlineData("agency-.gov")]
    [InlineData("192.168.1.1")]
    [InlineData("::1")]
    [InlineData("agency.gov:443")]
    [InlineData("http://agency.gov")]
    [InlineData("agency.gov/path")]
    [InlineData("user@agency.gov")]
    [InlineData("agency.123")]
    public void what_is_not_a_host_name_is_refused(string? input) => DomainNames.Normalise("domain", input).Error.ShouldNotBeNull();

    [Fact]
    public void names_are_limited_to_63_per_label_and_253_in_all()
    {
        DomainNames.Normalise("d", new string('a', 63) + ".gov").Error.ShouldBeNull();
        DomainNames.Normalise("d", new string('a', 64) + ".gov").Error.ShouldNotBeNull();
        var long253 = string.Join('.', Enumerable.Repeat(new string('a', 49), 5)) + ".gov"; // 5*50 + 3 = 253
        DomainNames.Normalise("d", long253).Error.ShouldBeNull();
        DomainNames.Normalise("d", "a" + long253).Error.ShouldNotBeNull();
    }

    [Theory]
    [InlineData("EVENTS.example.test", "events.example.test")]
    [InlineData("events.example.test.", "events.example.test")]
    [InlineData("bücher.example", "xn--bcher-kva.example")]
    [InlineData("", null)]
    public void a_request_host_is_read_in_the_same_spelling(string host, string? expected) => DomainNames.OfHost(host).ShouldBe(expected);

    [Fact]
    public void the_platforms_names_and_zone_are_not_a_tenants_own_domain()
    {
        DomainNames.Custom("d", "events.example.gov", "events.example.gov", "tenants.example.gov").ShouldNotBeNull();
        DomainNames.Custom("d", "api.events.example.gov", "events.example.gov", null).ShouldNotBeNull();
        DomainNames.Custom("d", "x.tenants.example.gov", "events.example.gov", "tenants.example.gov").ShouldNotBeNull();
        DomainNames.Custom("d", "tenants.example.gov", "events.example.gov", "tenants.example.gov").ShouldNotBeNull();
        DomainNames.Custom("d", "myevents.example.gov", "events.example.gov", "tenants.example.gov").ShouldBeNull(); // not under it: a label apart
        DomainNames.Subdomain("s", "x", null).Error!.Code.ShouldBe("not-offered");
        DomainNames.Subdomain("s", "Admin", "tenants.example.gov").Error!.Code.ShouldBe("reserved-name");
        DomainNames.Subdomain("s", "travis-sheriff", "tenants.example.gov").Name.ShouldBe("travis-sheriff.tenants.example.gov");
    }

    [Theory]
    [InlineData("/api/tenants/{T}", true)]
    [InlineData("/api/tenants/{T}/organisations", true)]
    [InlineData("/API/TENANTS/{T}/organisations", true)]
    [InlineData("/api/tenants/{O}/organisations", false)]
    [InlineData("/api/tenants", false)]
    [InlineData("/api/tenants/", false)]
    [InlineData("/api/tenants/{T}x", false)]
    [InlineData("/api/platform/version", false)]
    [InlineData("/graphql", false)]
    [InlineData("/.well-known/openid-configuration", true)]
    [InlineData("/oauth2/token", true)]
    [InlineData("/oauth2/token/x", false)]
    [InlineData("/health/ready", true)]
    [InlineData("/", false)]
    public void a_tenants_name_serves_its_own_api_discovery_token_endpoint_and_probes(string path, bool served)
    {
        var (tenant, other) = (Guid.CreateVersion7(), Guid.CreateVersion7());
        DomainHosts.ServedOnTenantName(new PathString(path.Replace("{T}", tenant.ToString()).Replace("{O}", other.ToString())), tenant).ShouldBe(served);
    }
}
