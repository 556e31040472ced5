using System.Net;
using TenantEvents.Infrastructure.Security;

namespace TenantEvents.Tests.Infrastructure;

/// <summary>Whose allowance an anonymous request spends: one per IPv4 address, one per IPv6 /64.</summary>
public class AnonymousRateLimitTests
{
    [Fact]
    public void every_address_of_one_ipv6_slash_64_shares_one_allowance()
    {
        var a = AnonymousRateLimit.Address(IPAddress.Parse("2001:db8:1:2:aaaa::1"));
        AnonymousRateLimit.Address(IPAddress.Parse("2001:db8:1:2:ffff:ffff:ffff:fffe")).ShouldBe(a);
        AnonymousRateLimit.Address(IPAddress.Parse("2001:db8:1:3::1")).ShouldNotBe(a);
    }

    [Fact]
    public void ipv4_addresses_are_their_own_and_mapped_ones_count_as_ipv4()
    {
        AnonymousRateLimit.Address(IPAddress.Parse("203.0.113.7")).ShouldBe("203.0.113.7");
        AnonymousRateLimit.Address(IPAddress.Parse("::ffff:203.0.113.7")).ShouldBe("203.0.113.7");
        AnonymousRateLimit.Address(IPAddress.Parse("203.0.113.8")).ShouldNotBe("203.0.113.7");
        AnonymousRateLimit.Address(null).ShouldBe("unknown");
    }
}
