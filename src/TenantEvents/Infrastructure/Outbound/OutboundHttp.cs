using System.Net;
using System.Net.Sockets;

namespace TenantEvents.Infrastructure.Outbound;

/// <summary>A fetch on a tenant's behalf was not made: the host resolves to no public address.</summary>
public sealed class OutboundAddressRefusedException(string host)
    : Exception($"{host} resolves to no public address; outbound fetches reach the public internet only.");

/// <summary>A fetched document was larger than the service reads.</summary>
public sealed class OutboundTooLargeException(long limit) : Exception($"The answer is larger than {limit} bytes.");

/// <summary>
/// The one way the service fetches from addresses a tenant chose (webhook endpoints, its identity provider's discovery
/// document and keys, the domain it claims). Every client it makes: resolves the host and filters every address when it connects (the check is
/// on the address actually connected to, so a name that resolves to a private address only later, DNS rebinding, is
/// refused too; see <see cref="OutboundAddresses"/>); follows no redirect (a redirect is an answer, not a new
/// target, or a public URL could lead inside); ignores proxy settings (HTTP_PROXY and friends would send the request,
/// and the filter's decision, to another host); bounds connecting, answers and headers. The filter is lifted only by an
/// explicit setting, per purpose: TenantEvents:AllowPrivateWebhooks, TenantEvents:AllowInsecureIdentityProviders,
/// TenantEvents:AllowPrivateDomainVerification (development and tests, whose peers listen on loopback).
/// </summary>
public sealed class OutboundHttp : IDisposable
{
    /// <summary>The most a fetched document (discovery, JWKS) may hold; real ones are a few kilobytes.</summary>
    public const int MaxDocumentBytes = 256 * 1024;

    /// <summary>How long one document fetch may take, connecting and reading included.</summary>
    public static readonly TimeSpan DocumentTimeout = TimeSpan.FromSeconds(5);

    private readonly Lazy<HttpClient> _webhooks;
    private readonly Lazy<HttpClient> _identityProviders;
    private readonly Lazy<HttpClient> _domains;

    /// <summary>The most a domain's verification answer may hold: the challenge, and some slack for a trailing newline.</summary>
    public const int MaxChallengeBytes = 1024;

    public OutboundHttp(TenantEventsOptions options)
    {
        _webhooks = new(() => CreateClient(() => options.AllowPrivateWebhooks, "TenantEvents-Webhooks/1.0", options.WebhookConcurrency));
        _identityProviders = new(() => CreateClient(() => options.AllowInsecureIdentityProviders, "TenantEvents-Federation/1.0", 4));
        // A claimed domain's address comes from the operator's resolver when one is named (OutboundDns), the host's otherwise.
        _domains = new(() => CreateClient(() => options.AllowPrivateDomainVerification, "TenantEvents-DomainVerification/1.0", 2,
            (host, cancellation) => options.DomainResolverEndPoint is { } resolver
                ? OutboundDns.AddressesAsync(resolver, host, cancellation)
                : Dns.GetHostAddressesAsync(host, cancellation)));
    }

    /// <summary>Webhook deliveries (the caller bounds each attempt with TenantEvents:WebhookTimeout).</summary>
    public HttpClient Webhooks => _webhooks.Value;

    /// <summary>Tenants' identity providers: their discovery documents and keys, through <see cref="GetDocumentAsync"/>.</summary>
    public HttpClient IdentityProviders => _identityProviders.Value;

    /// <summary>
    /// A client under the outbound policy. <paramref name="allowPrivate"/> is asked at every connection, so the setting
    /// is the one in force when the connection is made.
    /// </summary>
    public static HttpClient CreateClient(Func<bool> allowPrivate, string userAgent, int maxConnectionsPerServer,
        Func<string, CancellationToken, Task<IPAddress[]>>? resolve = null) =>
        new(CreateHandler(allowPrivate, maxConnectionsPerServer, resolve))
        {
            Timeout = Timeout.InfiniteTimeSpan, // callers bound their own requests (a webhook's attempt, a document's fetch)
            DefaultRequestHeaders = { { "User-Agent", userAgent } },
        };

    /// <summary>The handler under the policy (public so that a test can see its settings).</summary>
    /// <param name="resolve">How a host name becomes addresses (default: the host's resolver).</param>
    public static SocketsHttpHandler CreateHandler(Func<bool> allowPrivate, int maxConnectionsPerServer,
        Func<string, CancellationToken, Task<IPAddress[]>>? resolve = null) => new()
    {
        AllowAutoRedirect = false,
        UseProxy = false,
        UseCookies = false,
        AutomaticDecompression = DecompressionMethods.None, // a small compressed answer cannot unpack past the size cap
        PooledConnectionLifetime = TimeSpan.FromMinutes(2),
        MaxConnectionsPerServer = maxConnectionsPerServer,
        ConnectTimeout = TimeSpan.FromSeconds(5),
        MaxResponseHeadersLength = 64, // kilobytes
        ResponseDrainTimeout = TimeSpan.FromSeconds(1),
        ConnectCallback = async (context, cancellation) =>
        {
            var host = context.DnsEndPoint.Host;
            var addresses = IPAddress.TryParse(host, out var literal) ? [literal]
                : await (resolve ?? Dns.GetHostAddressesAsync)(host, cancellation);
            var allowed = allowPrivate() ? addresses : addresses.Where(OutboundAddresses.IsPublic).ToArray();
            if (allowed.Length == 0) throw new OutboundAddressRefusedException(host);
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(allowed, context.DnsEndPoint.Port, cancellation);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        },
    };

    /// <summary>
    /// What a claimed domain serves at a verification address: a 200 answer's text of at most <see cref="MaxChallengeBytes"/>,
    /// within <see cref="DocumentTimeout"/>; anything else throws, as <see cref="GetDocumentAsync"/> does.
    /// </summary>
    public async Task<string> GetChallengeAsync(Uri uri, CancellationToken cancellation) =>
        System.Text.Encoding.UTF8.GetString(await GetCappedAsync(_domains.Value, uri, null, MaxChallengeBytes, cancellation));

    /// <summary>
    /// A JSON document from a tenant's identity provider: a 200 answer of at most <see cref="MaxDocumentBytes"/>, within
    /// <see cref="DocumentTimeout"/>. Anything else throws (a redirect, another status, a larger body, a refused address,
    /// a network failure); what went wrong is for the service's log, not for whoever caused the fetch.
    /// </summary>
    public Task<byte[]> GetDocumentAsync(Uri uri, CancellationToken cancellation) =>
        GetCappedAsync(IdentityProviders, uri, "application/json", MaxDocumentBytes, cancellation);

    /// <summary>One GET through a client under the policy: a 200 answer of at most <paramref name="limit"/> bytes, within <see cref="DocumentTimeout"/>.</summary>
    private static async Task<byte[]> GetCappedAsync(HttpClient client, Uri uri, string? accept, int limit, CancellationToken cancellation)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        timeout.CancelAfter(DocumentTimeout);
        using var request = new HttpRequestMessage(HttpMethod.Get, uri);
        if (accept is not null) request.Headers.Accept.ParseAdd(accept);
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
        if (response.StatusCode != HttpStatusCode.OK) throw new HttpRequestException($"HTTP {(int)response.StatusCode}", null, response.StatusCode);
        return await ReadCappedAsync(response.Content, limit, timeout.Token);
    }

    /// <summary>The body, refused as soon as it is known to exceed the limit (by its Content-Length, or while reading).</summary>
    public static async Task<byte[]> ReadCappedAsync(HttpContent content, int limit, CancellationToken cancellation)
    {
        if (content.Headers.ContentLength > limit) throw new OutboundTooLargeException(limit);
        await using var stream = await content.ReadAsStreamAsync(cancellation);
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await stream.ReadAsync(chunk, cancellation)) > 0)
        {
            if (buffer.Length + read > limit) throw new OutboundTooLargeException(limit);
            buffer.Write(chunk, 0, read);
        }
        return buffer.ToArray();
    }

    public void Dispose()
    {
        if (_webhooks.IsValueCreated) _webhooks.Value.Dispose();
        if (_identityProviders.IsValueCreated) _identityProviders.Value.Dispose();
        if (_domains.IsValueCreated) _domains.Value.Dispose();
    }
}
