using System.Net;
using System.Net.Sockets;

namespace TenantEvents.Infrastructure.Outbound;

/// <summary>
/// Pure: whether an address is on the public internet, the only place a fetch on a tenant's behalf (webhook deliveries,
/// an identity provider's discovery document and keys) may connect to. Everything else would make the service a proxy
/// into where it runs: its host, its private networks, the cloud's metadata service, a NAT64 or 6to4 gateway that
/// leads back to those. Ranges from the IANA IPv4 and IPv6 Special-Purpose Address Registries.
/// </summary>
public static class OutboundAddresses
{
    private static readonly (uint Network, int Prefix)[] BlockedV4 =
    [
        (V4(0, 0, 0, 0), 8), // "this network" (0.0.0.0 reaches the host itself)
        (V4(10, 0, 0, 0), 8), // private
        (V4(100, 64, 0, 0), 10), // carrier-grade NAT (shared address space)
        (V4(127, 0, 0, 0), 8), // loopback
        (V4(169, 254, 0, 0), 16), // link-local (cloud metadata at 169.254.169.254)
        (V4(172, 16, 0, 0), 12), // private
        (V4(192, 0, 0, 0), 24), // IETF protocol assignments (DS-Lite, NAT64 discovery, ...)
        (V4(192, 0, 2, 0), 24), // documentation (TEST-NET-1)
        (V4(192, 88, 99, 0), 24), // 6to4 relay anycast (deprecated)
        (V4(192, 168, 0, 0), 16), // private
        (V4(198, 18, 0, 0), 15), // benchmarking: network interconnect devices
        (V4(198, 51, 100, 0), 24), // documentation (TEST-NET-2)
        (V4(203, 0, 113, 0), 24), // documentation (TEST-NET-3)
        (V4(224, 0, 0, 0), 4), // multicast
        (V4(240, 0, 0, 0), 4), // reserved, and 255.255.255.255 broadcast
    ];

    /// <summary>
    /// Inside global unicast (2000::/3), the ranges that are not a public host: IETF protocol assignments (Teredo,
    /// benchmarking, ORCHID; Teredo tunnels to any IPv4 address), documentation, and 6to4 (deprecated; it tunnels to the
    /// IPv4 address inside it).
    /// </summary>
    private static readonly (UInt128 Network, int Prefix)[] BlockedV6 =
    [
        (V6(0x2001, 0x0000), 23), // IETF protocol assignments: Teredo 2001::/32, benchmarking 2001:2::/48, ORCHID, ...
        (V6(0x2001, 0x0db8), 32), // documentation
        (V6(0x2002, 0x0000), 16), // 6to4
        (V6(0x3fff, 0x0000), 20), // documentation (RFC 9637)
    ];

    private static readonly UInt128 Nat64Prefix = V6(0x0064, 0xff9b); // 64:ff9b::/96, the well-known NAT64 prefix

    /// <summary>
    /// True when the address is a public host. IPv4-mapped IPv6 (::ffff:a.b.c.d) and the well-known NAT64 prefix
    /// (64:ff9b::a.b.c.d, where DNS64 puts every IPv4 destination on an IPv6-only network) are judged by the IPv4
    /// address they lead to; any other IPv6 address must be global unicast (2000::/3) outside the blocked ranges, which
    /// leaves out loopback, unspecified, IPv4-compatible, discard-only, unique local fc00::/7, link-local fe80::/10,
    /// site-local and multicast.
    /// </summary>
    public static bool IsPublic(IPAddress address)
    {
        if (address.AddressFamily == AddressFamily.InterNetwork) return IsPublicV4(ToUInt32(address.GetAddressBytes(), 0));
        if (address.AddressFamily != AddressFamily.InterNetworkV6) return false;
        var bytes = address.GetAddressBytes();
        var value = ToUInt128(bytes);
        if (value >> 32 == 0xffff || value >> 32 == Nat64Prefix >> 32) return IsPublicV4(ToUInt32(bytes, 12));
        if (value >> 125 != 1) return false; // not 2000::/3
        foreach (var (network, prefix) in BlockedV6)
            if (value >> (128 - prefix) == network >> (128 - prefix)) return false;
        return true;
    }

    private static bool IsPublicV4(uint value)
    {
        foreach (var (network, prefix) in BlockedV4)
            if (value >> (32 - prefix) == network >> (32 - prefix)) return false;
        return true;
    }

    private static uint V4(byte a, byte b, byte c, byte d) => (uint)(a << 24 | b << 16 | c << 8 | d);

    private static UInt128 V6(ushort first, ushort second) => (UInt128)((ulong)first << 48 | (ulong)second << 32) << 64;

    private static uint ToUInt32(byte[] b, int at) => (uint)(b[at] << 24 | b[at + 1] << 16 | b[at + 2] << 8 | b[at + 3]);

    private static UInt128 ToUInt128(byte[] b)
    {
        UInt128 value = 0;
        foreach (var x in b) value = value << 8 | x;
        return value;
    }
}
