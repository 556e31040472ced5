using System.Net;
using System.Text;
using Microsoft.AspNetCore.Http;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Outbound;
using TenantEvents.Tests.Support;

namespace TenantEvents.Tests.Infrastructure;

/// <summary>
/// The outbound policy every fetch on a tenant's behalf goes through (webhooks, identity providers): which addresses it
/// may connect to, and what its clients refuse, tried against a real server on loopback.
/// </summary>
public class OutboundPolicyTests
{
    [Theory]
    // IPv4 that is not the public internet.
    [InlineData("127.0.0.1")]
    [InlineData("127.255.0.9")]
    [InlineData("10.1.2.3")]
    [InlineData("172.16.0.1")]
    [InlineData("172.31.255.255")]
    [InlineData("192.168.1.1")]
    [InlineData("169.254.169.254")]
    [InlineData("100.64.0.1")]
    [InlineData("100.127.255.254")]
    [InlineData("0.0.0.0")]
    [InlineData("0.1.2.3")]
    [InlineData("192.0.0.8")]
    [InlineData("192.0.0.170")]
    [InlineData("192.0.2.10")]
    [InlineData("198.18.0.1")]
    [InlineData("198.19.255.255")]
    [InlineData("198.51.100.7")]
    [InlineData("203.0.113.9")]
    [InlineData("224.0.0.251")]
    [InlineData("239.255.255.250")]
    [InlineData("240.0.0.1")]
    [InlineData("255.255.255.255")]
    // IPv6 that is not, and IPv6 forms that lead to refused IPv4 addresses.
    [InlineData("::")]
    [InlineData("::1")]
    [InlineData("::127.0.0.1")]
    [InlineData("::ffff:127.0.0.1")]
    [InlineData("::ffff:10.0.0.1")]
    [InlineData("::ffff:198.18.0.1")]
    [InlineData("64:ff9b::7f00:1")]
    [InlineData("64:ff9b::a9fe:a9fe")]
    [InlineData("64:ff9b::c000:8")]
    [InlineData("64:ff9b:1::808:808")]
    [InlineData("100::1")]
    [InlineData("fe80::1")]
    [InlineData("fec0::1")]
    [InlineData("fc00::1")]
    [InlineData("fd12:3456::1")]
    [InlineData("ff02::1")]
    [InlineData("2001::1")]
    [InlineData("2001:2::1")]
    [InlineData("2001:db8::1")]
    [InlineData("2002:7f00:1::1")]
    [InlineData("3fff::1")]
    public void no_fetch_connects_to_an_address_outside_the_public_internet(string address) =>
        OutboundAddresses.IsPublic(IPAddress.Parse(address)).ShouldBeFalse(address);

    [Theory]
    [InlineData("8.8.8.8")]
    [InlineData("1.1.1.1")]
    [InlineData("172.32.0.1")]
    [InlineData("100.128.0.1")]
    [InlineData("198.20.0.1")]
    [InlineData("192.0.1.1")]
    [InlineData("::ffff:8.8.8.8")]
    [InlineData("64:ff9b::808:808")]
    [InlineData("2001:4860:4860::8888")]
    [InlineData("2606:4700:4700::1111")]
    public void public_addresses_may_be_reached(string address) =>
        OutboundAddresses.IsPublic(IPAddress.Parse(address)).ShouldBeTrue(address);

    private static TenantEventsOptions Locked() => new() { AllowPrivateWebhooks = false, AllowInsecureIdentityProviders = false };

    [Fact]
    public async Task the_clients_refuse_to_connect_to_internal_addresses_by_literal_or_by_name_and_reach_nothing()
    {
        await using var sink = await LocalHttpSink.StartAsync();
        sink.Handler = http => http.Response.WriteAsync("{}");
        using var outbound = new OutboundHttp(Locked());
        string[] targets =
        [
            $"http://127.0.0.1:{sink.Port}/a", $"http://localhost:{sink.Port}/b", $"http://[::ffff:127.0.0.1]:{sink.Port}/c",
            $"http://[::1]:{sink.Port}/d", "http://198.18.0.1/e", "http://192.0.0.8/f", "http://[64:ff9b::7f00:1]/g", "http://169.254.169.254/h",
        ];
        foreach (var target in targets)
        {
            var webhook = await Should.ThrowAsync<HttpRequestException>(() => outbound.Webhooks.PostAsync(target, new StringContent("{}")));
            webhook.InnerException.ShouldBeOfType<OutboundAddressRefusedException>(target);
            var document = await Should.ThrowAsync<HttpRequestException>(() => outbound.GetDocumentAsync(new Uri(target), CancellationToken.None));
            document.InnerException.ShouldBeOfType<OutboundAddressRefusedException>(target);
        }
        sink.Requests.ShouldBeEmpty();

        // The explicit opt-in (development, tests) lifts the address check, for its own purpose only.
        using var webhooksOpen = new OutboundHttp(new TenantEventsOptions { AllowPrivateWebhooks = true });
        (await webhooksOpen.Webhooks.PostAsync($"http://[::ffff:127.0.0.1]:{sink.Port}/open", new StringContent("{}"))).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await Should.ThrowAsync<HttpRequestException>(() => webhooksOpen.GetDocumentAsync(new Uri($"{sink.Url}/closed"), CancellationToken.None)))
            .InnerException.ShouldBeOfType<OutboundAddressRefusedException>();
        sink.Requests.ShouldBe(["/open"]);
    }

    [Fact]
    public void the_handler_ignores_proxy_settings_follows_no_redirect_and_does_not_decompress()
    {
        using var handler = OutboundHttp.CreateHandler(() => false, 8);
        handler.UseProxy.ShouldBeFalse(); // HTTP_PROXY would send the request, and the address decision, to another host
        handler.AllowAutoRedirect.ShouldBeFalse();
        handler.AutomaticDecompression.ShouldBe(DecompressionMethods.None);
        handler.ConnectCallback.ShouldNotBeNull();
    }

    [Fact]
    public async Task the_clients_follow_no_redirect_and_cap_what_they_read()
    {
        await using var sink = await LocalHttpSink.StartAsync();
        using var outbound = new OutboundHttp(new TenantEventsOptions { AllowPrivateWebhooks = true, AllowInsecureIdentityProviders = true });
        sink.Handler = http =>
        {
            if (http.Request.Path == "/moved") http.Response.Redirect("/inside");
            else if (http.Request.Path == "/big") return http.Response.WriteAsync(new string(' ', OutboundHttp.MaxDocumentBytes + 1));
            else if (http.Request.Path == "/big-chunked") return Chunked(http, OutboundHttp.MaxDocumentBytes + 1);
            else if (http.Request.Path == "/fits") return Chunked(http, OutboundHttp.MaxDocumentBytes);
            return Task.CompletedTask;
        };
        (await outbound.Webhooks.PostAsync($"{sink.Url}/moved", new StringContent("{}"))).StatusCode.ShouldBe(HttpStatusCode.Redirect);
        (await Should.ThrowAsync<HttpRequestException>(() => outbound.GetDocumentAsync(new Uri($"{sink.Url}/moved"), CancellationToken.None)))
            .StatusCode.ShouldBe(HttpStatusCode.Redirect);
        await Should.ThrowAsync<OutboundTooLargeException>(() => outbound.GetDocumentAsync(new Uri($"{sink.Url}/big"), CancellationToken.None));
        await Should.ThrowAsync<OutboundTooLargeException>(() => outbound.GetDocumentAsync(new Uri($"{sink.Url}/big-chunked"), CancellationToken.None));
        (await outbound.GetDocumentAsync(new Uri($"{sink.Url}/fits"), CancellationToken.None)).Length.ShouldBe(OutboundHttp.MaxDocumentBytes);
        sink.Requests.ShouldBe(["/moved", "/moved", "/big", "/big-chunked", "/fits"]); // never "/inside"
    }

    /// <summary>A body of this many bytes without a Content-Length (chunked), so only reading can find its size.</summary>
    private static async Task Chunked(HttpContext http, int bytes)
    {
        var chunk = Encoding.ASCII.GetBytes(new string(' ', 10_000));
        for (var left = bytes; left > 0; left -= chunk.Length)
        {
            await http.Response.Body.WriteAsync(chunk.AsMemory(0, Math.Min(left, chunk.Length)));
            await http.Response.Body.FlushAsync();
        }
    }
}
