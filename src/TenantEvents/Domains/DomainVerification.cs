using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Outbound;

namespace TenantEvents.Domains;

/// <summary>What a verification found: proven (and how), or what was looked at, for the tenant to put right.</summary>
public sealed record VerificationOutcome(string? Method, IReadOnlyList<string> Checked)
{
    public bool Proven => Method is not null;
}

/// <summary>
/// Proves that a tenant holds a name, the two ways ACME (RFC 8555) and the peers (ZITADEL's organisation domains, Google
/// Workspace) do: the challenge published at http://DOMAIN/.well-known/tenantevents-challenge/CHALLENGE (fetched
/// through the outbound policy: public addresses only, no redirect, 1 KB, 5 s; the name resolved by the configured
/// resolver when there is one), or a TXT record
/// _tenantevents-challenge.DOMAIN holding it (asked of the configured resolver, TenantEvents:DomainVerificationResolver,
/// and only when one is configured). The service never answers a challenge itself: a name that already points at the
/// platform would otherwise be proven by whoever claims it.
/// </summary>
public sealed class DomainVerification(OutboundHttp outbound, TenantEventsOptions options, ILogger<DomainVerification> log)
{
    public const string WellKnownPath = "/.well-known/tenantevents-challenge/";
    public const string DnsLabel = "_tenantevents-challenge";

    public string HttpUrl(string domain, string challenge) =>
        $"http://{domain}{(options.DomainVerificationHttpPort == 80 ? "" : ":" + options.DomainVerificationHttpPort)}{WellKnownPath}{challenge}";

    public static string DnsName(string domain) => $"{DnsLabel}.{domain}";

    /// <summary>Whether DNS TXT verification is offered (a resolver is configured).</summary>
    public bool OffersDns => options.DomainResolverEndPoint is not null;

    /// <summary>
    /// Tries the method asked for, or every method offered (DNS first: it works while the name already points at the
    /// platform). What went wrong is logged; the caller hears only what was checked.
    /// </summary>
    public async Task<VerificationOutcome> CheckAsync(string domain, string challenge, string? method, CancellationToken cancellation)
    {
        var tried = new List<string>();
        if (method is null or VerificationMethods.Dns && OffersDns)
        {
            tried.Add($"DNS: a TXT record {DnsName(domain)} holding the challenge");
            if (await DnsAsync(domain, challenge, cancellation)) return new VerificationOutcome(VerificationMethods.Dns, tried);
        }
        if (method is null or VerificationMethods.Http)
        {
            var url = HttpUrl(domain, challenge);
            tried.Add($"HTTP: {url} answering 200 with the challenge as its body");
            if (await HttpAsync(url, challenge, cancellation)) return new VerificationOutcome(VerificationMethods.Http, tried);
        }
        return new VerificationOutcome(null, tried);
    }

    private async Task<bool> HttpAsync(string url, string challenge, CancellationToken cancellation)
    {
        try
        {
            var body = await outbound.GetChallengeAsync(new Uri(url), cancellation);
            return body.Trim() == challenge;
        }
        catch (Exception e) when (!cancellation.IsCancellationRequested)
        {
            log.LogInformation("Domain verification over HTTP at {Url} failed: {Reason}", url, e.Message);
            return false;
        }
    }

    private async Task<bool> DnsAsync(string domain, string challenge, CancellationToken cancellation)
    {
        var resolver = options.DomainResolverEndPoint!;
        // As bounded as an HTTP check: 5 s in all, retries and a TCP fallback included.
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        timeout.CancelAfter(OutboundHttp.DocumentTimeout);
        try
        {
            return (await OutboundDns.TextAsync(resolver, DnsName(domain), timeout.Token)).Contains(challenge);
        }
        catch (Exception e) when (!cancellation.IsCancellationRequested)
        {
            // Whatever went wrong (a timeout, a refused or malformed answer, a socket error) is the log's, not the caller's.
            log.LogInformation("Domain verification over DNS for {Domain} at {Resolver} failed: {Reason}", domain, resolver, e.Message);
            return false;
        }
    }
}
