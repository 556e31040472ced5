using System.Net;
using DnsClient;

namespace TenantEvents.Infrastructure.Outbound;

/// <summary>
/// Questions to one chosen DNS server (not the host's resolver): for domain verification, where the operator names the
/// resolver (TenantEvents:DomainVerificationResolver), so that the answers are the public ones and not a split-horizon
/// view of the network the service runs in. No cache, 3 s, one retry, TCP when an answer is truncated.
/// </summary>
public static class OutboundDns
{
    public static LookupClient Client(IPEndPoint resolver) => new(new LookupClientOptions(new NameServer(resolver))
    {
        UseCache = false, Timeout = TimeSpan.FromSeconds(3), Retries = 1, ThrowDnsErrors = false, UseTcpFallback = true,
    });

    /// <summary>The name's IPv4 and IPv6 addresses, as the resolver answers (CNAMEs followed by it).</summary>
    public static async Task<IPAddress[]> AddressesAsync(IPEndPoint resolver, string host, CancellationToken cancellation)
    {
        var client = Client(resolver);
        var v4 = await client.QueryAsync(host, QueryType.A, cancellationToken: cancellation);
        var v6 = await client.QueryAsync(host, QueryType.AAAA, cancellationToken: cancellation);
        return [.. v4.Answers.ARecords().Select(r => r.Address), .. v6.Answers.AaaaRecords().Select(r => r.Address)];
    }

    /// <summary>The name's TXT values (each record's strings joined: one value may be split in strings of 255 bytes).</summary>
    public static async Task<IReadOnlyList<string>> TextAsync(IPEndPoint resolver, string name, CancellationToken cancellation)
    {
        var answer = await Client(resolver).QueryAsync(name, QueryType.TXT, cancellationToken: cancellation);
        return answer.Answers.TxtRecords().Select(r => string.Concat(r.Text)).ToList();
    }
}
