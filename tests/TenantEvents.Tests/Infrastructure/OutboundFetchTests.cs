using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using TenantEvents.Identity;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Outbound;
using TenantEvents.Tests.Support;

namespace TenantEvents.Tests.Infrastructure;

/// <summary>
/// From the attacker's side, what the service fetches on a tenant's behalf: a tenant administrator pointing its identity
/// provider or a webhook inside, using the answers as a port scanner, feeding an endless document; an anonymous caller
/// sending tokens with made-up key ids to make the service hammer a provider. The "provider" is a real HTTP server on
/// loopback that serves discovery documents and keys as the test says, and counts what it is asked.
/// </summary>
public class OutboundFetchTests(AppFixture fixture) : IntegrationTest(fixture)
{
    private const string Audience = "tenantevents-fetch";
    private const string KeyId = "k1";
    private static readonly RSA Key = RSA.Create(2048);

    private TenantEventsOptions Options => Fixture.Host.Services.GetRequiredService<TenantEventsOptions>();

    /// <summary>An OpenID provider at {sink}/{name}: its discovery document and JWKS, each padded to a size when asked.</summary>
    private sealed class Provider(LocalHttpSink sink, string name)
    {
        public string Issuer => $"{sink.Url}/{name}";
        public int DiscoveryPadding { get; set; }
        public int JwksPadding { get; set; }

        public string Discovery(string issuer) => JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["issuer"] = issuer, ["jwks_uri"] = $"{Issuer}/jwks", ["padding"] = new string(' ', DiscoveryPadding),
        });

        public string Jwks()
        {
            var p = Key.ExportParameters(false);
            return JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["keys"] = new[] { new { kty = "RSA", use = "sig", alg = "RS256", kid = KeyId, n = Base64UrlEncoder.Encode(p.Modulus), e = Base64UrlEncoder.Encode(p.Exponent) } },
                ["padding"] = new string(' ', JwksPadding),
            });
        }

        public async Task<bool> Serve(HttpContext http)
        {
            var path = http.Request.Path.Value!;
            if (path == $"/{name}/.well-known/openid-configuration") await http.Response.WriteAsync(Discovery(Issuer));
            else if (path == $"/{name}/jwks") await http.Response.WriteAsync(Jwks());
            else return false;
            return true;
        }
    }

    private static string Token(string issuer, string kid) => new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
    {
        Issuer = issuer, Audience = Audience, Expires = DateTime.UtcNow.AddMinutes(10),
        Claims = new Dictionary<string, object> { ["sub"] = "carol", ["email"] = "carol@example.gov", ["name"] = "carol", ["groups"] = new[] { "it-admins" } },
        SigningCredentials = new SigningCredentials(new RsaSecurityKey(Key) { KeyId = kid }, SecurityAlgorithms.RsaSha256),
    });

    private Task<Reply> Federate(Guid tenant, string issuer) =>
        TenantAdminOf(tenant).Put($"/api/tenants/{tenant}/identity-provider", new { issuer, audience = Audience, adminGroups = new[] { "it-admins" } });

    [Fact]
    public async Task a_burst_of_anonymous_tokens_with_made_up_key_ids_fetches_the_providers_keys_at_most_once()
    {
        await using var sink = await LocalHttpSink.StartAsync();
        var provider = new Provider(sink, "idp");
        sink.Handler = async http => { if (!await provider.Serve(http)) http.Response.StatusCode = 404; };
        var tenant = await Active();
        (await Federate(tenant, provider.Issuer)).ShouldBe(HttpStatusCode.OK);

        var interval = Options.FederationKeyRefreshInterval;
        Options.FederationKeyRefreshInterval = TimeSpan.FromHours(1); // the bound under test; no timing involved
        try
        {
            var before = sink.Requests.Count;
            // The provider's keys are not cached yet: the first of these may fetch them, none of the others.
            var burst = await Task.WhenAll(Enumerable.Range(0, 40).Select(_ =>
                Fixture.Client(Token(provider.Issuer, "made-up-" + Guid.NewGuid().ToString("N"))).Get($"/api/tenants/{tenant}")));
            burst.ShouldAllBe(r => r.Status == HttpStatusCode.Unauthorized);
            var fetched = sink.Requests.Skip(before).ToList();
            fetched.Count(p => p.EndsWith("/jwks")).ShouldBeLessThanOrEqualTo(1);
            fetched.Count(p => p.EndsWith("/openid-configuration")).ShouldBeLessThanOrEqualTo(1);

            // The provider's real key works (fetched at most that once), and another burst fetches nothing.
            (await Fixture.Client(Token(provider.Issuer, KeyId)).Get($"/api/tenants/{tenant}")).ShouldBe(HttpStatusCode.OK);
            var settled = sink.Requests.Count;
            (await Task.WhenAll(Enumerable.Range(0, 20).Select(_ =>
                Fixture.Client(Token(provider.Issuer, "made-up-" + Guid.NewGuid().ToString("N"))).Get($"/api/tenants/{tenant}"))))
                .ShouldAllBe(r => r.Status == HttpStatusCode.Unauthorized);
            sink.Requests.Count.ShouldBe(settled);
        }
        finally
        {
            Options.FederationKeyRefreshInterval = interval;
        }
    }

    [Fact]
    public async Task a_provider_whose_discovery_redirects_elsewhere_is_refused_and_the_redirect_is_not_followed()
    {
        await using var sink = await LocalHttpSink.StartAsync();
        var provider = new Provider(sink, "idp");
        sink.Handler = async http =>
        {
            if (http.Request.Path == "/idp/.well-known/openid-configuration") http.Response.Redirect($"{sink.Url}/inside/openid-configuration");
            else if (http.Request.Path == "/inside/openid-configuration") await http.Response.WriteAsync(provider.Discovery(provider.Issuer));
            else if (!await provider.Serve(http)) http.Response.StatusCode = 404;
        };
        var tenant = await Active();
        (await Federate(tenant, provider.Issuer)).ShouldBeProblem(HttpStatusCode.UnprocessableEntity, "identity-provider-unreachable");
        sink.Requests.ShouldBe(["/idp/.well-known/openid-configuration"]);
        (await TenantAdminOf(tenant).Get($"/api/tenants/{tenant}/identity-provider")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
    }

    [Fact]
    public async Task an_oversized_discovery_document_or_key_set_is_refused()
    {
        await using var sink = await LocalHttpSink.StartAsync();
        var provider = new Provider(sink, "idp");
        sink.Handler = async http => { if (!await provider.Serve(http)) http.Response.StatusCode = 404; };
        var tenant = await Active();
        (await Federate(tenant, provider.Issuer)).ShouldBe(HttpStatusCode.OK); // as served normally, it is a provider

        provider.DiscoveryPadding = OutboundHttp.MaxDocumentBytes;
        (await Federate(tenant, provider.Issuer)).ShouldBeProblem(HttpStatusCode.UnprocessableEntity, "identity-provider-unreachable");
        provider.DiscoveryPadding = 0;
        provider.JwksPadding = 10 * OutboundHttp.MaxDocumentBytes;
        (await Federate(tenant, provider.Issuer)).ShouldBeProblem(HttpStatusCode.UnprocessableEntity, "identity-provider-unreachable");
    }

    [Fact]
    public async Task a_refused_fetch_answers_the_same_whatever_the_remote_said_so_it_cannot_scan_ports()
    {
        await using var sink = await LocalHttpSink.StartAsync();
        sink.Handler = async http =>
        {
            var path = http.Request.Path.Value!;
            if (path.StartsWith("/error/"))
            {
                http.Response.StatusCode = 500;
                await http.Response.WriteAsync("FATAL: password authentication failed for user \"postgres\"");
            }
            else if (path.StartsWith("/banner/")) await http.Response.WriteAsync("SSH-2.0-OpenSSH_9.6 internal-build-host");
            else if (path.StartsWith("/other/")) await http.Response.WriteAsync(JsonSerializer.Serialize(new { issuer = "http://secret-admin.internal/", jwks_uri = "x" }));
            else http.Response.StatusCode = 404;
        };
        var closed = new TcpListener(IPAddress.Loopback, 0);
        closed.Start();
        var closedPort = ((IPEndPoint)closed.LocalEndpoint).Port;
        closed.Stop();

        var tenant = await Active();
        var answers = new List<JsonElement>();
        foreach (var issuer in new[] { $"{sink.Url}/error", $"{sink.Url}/banner", $"{sink.Url}/other", $"{sink.Url}/missing", $"http://127.0.0.1:{closedPort}" })
        {
            var reply = (await Federate(tenant, issuer)).ShouldBeProblem(HttpStatusCode.UnprocessableEntity, "identity-provider-unreachable");
            foreach (var echo in new[] { "postgres", "OpenSSH", "secret-admin", "refused", "Internal Server Error", "Not Found", "status code" })
                reply.Body.ShouldNotContain(echo, Case.Insensitive);
            answers.Add(reply.Json);
        }
        answers.Select(a => (a.GetProperty("title").GetString(), a.GetProperty("detail").GetString())).Distinct().ShouldHaveSingleItem()
            .Item2.ShouldBe(IdentityProviderUnreachableException.Generic);
    }

    [Fact]
    public async Task a_webhook_cannot_be_pointed_inside_by_a_literal_address_or_by_a_name_that_resolves_there()
    {
        await using var sink = await LocalHttpSink.StartAsync();
        var tenant = await Active();
        var admin = TenantAdminOf(tenant);
        var route = $"/api/tenants/{tenant}/webhooks";
        // A subscription made while private endpoints were allowed (a development setting), by name.
        var hook = (await admin.Post(route, new { url = $"http://localhost:{sink.Port}/hook" })).ShouldBe(HttpStatusCode.Created);
        var allowed = Options.AllowPrivateWebhooks;
        Options.AllowPrivateWebhooks = false;
        try
        {
            foreach (var url in new[] { "https://198.18.0.1/hook", "https://192.0.0.8/hook", "https://[64:ff9b::7f00:1]/hook", $"https://[::ffff:127.0.0.1]:{sink.Port}/hook" })
                (await admin.Post(route, new { url })).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed").Body.ShouldContain("private-address");

            // Its deliveries are refused when connecting: the receiver on loopback gets nothing, and the owner learns
            // only that there was no answer.
            (await admin.Post($"/api/tenants/{tenant}/organisations", new { parentId = await RootOf(tenant), name = "Patrol", kind = "unit" }))
                .ShouldBe(HttpStatusCode.Created);
            var delivery = await Retrying(tenant, Guid.Parse(hook.Str("id")));
            (delivery.TryGetProperty("lastStatusCode", out var code) ? code.ValueKind : JsonValueKind.Null).ShouldBe(JsonValueKind.Null);
            delivery.GetProperty("lastError").GetString()!.ShouldStartWith("no HTTP answer");
            sink.Requests.ShouldBeEmpty();
        }
        finally
        {
            Options.AllowPrivateWebhooks = allowed;
        }
    }

    /// <summary>A delivery of the subscription once an attempt has failed (its own webhook_subscribed event may be one too: each fails alike).</summary>
    private async Task<JsonElement> Retrying(Guid tenant, Guid id)
    {
        for (var i = 0; ; i++)
        {
            var items = (await TenantAdminOf(tenant).Get($"/api/tenants/{tenant}/webhooks/{id}/deliveries?status=retrying")).ShouldBe(HttpStatusCode.OK)
                .Json.GetProperty("items").EnumerateArray().ToList();
            if (items.Count > 0 || i == 1500)
            {
                items.ShouldNotBeEmpty();
                return items[0];
            }
            await Task.Delay(20);
        }
    }
}
