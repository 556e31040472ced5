using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.IdentityModel.JsonWebTokens;
using Npgsql;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Tests.Support;

namespace TenantEvents.Tests.Domains;

/// <summary>
/// A tenant's names, from the outside: claimed, proven by a challenge served over HTTP by a real server or published in
/// a real DNS server (dnsmasq), unique across tenants, and then the only thing that binds a request to a tenant: there
/// the discovery documents and tokens carry the name, and nothing of another tenant or of the platform answers.
/// </summary>
public class DomainTests(AppFixture fixture) : IntegrationTest(fixture)
{
    private const string Zone = "tenants.example.test";
    private TenantEventsOptions Options => Fixture.Host.Services.GetRequiredService<TenantEventsOptions>();

    /// <summary>Every event of the tenant, in all its streams (its domains stream among them).</summary>
    private static Task<long> TenantEventCount(Guid tenant) => EventCount(tenant, everyStream: true);

    private static Dictionary<string, string> At(string host) => new() { ["Host"] = host };

    private static string Unique(string label) => $"{label}-{Guid.NewGuid().ToString("N")[..8]}.agency.example.test";

    /// <summary>Runs with this instance asking the given DNS server, and fetching challenges from the given port.</summary>
    private async Task With(TestDns? dns, int? httpPort, Func<Task> body)
    {
        var (resolver, port) = (Options.DomainVerificationResolver, Options.DomainVerificationHttpPort);
        Options.DomainVerificationResolver = dns?.Setting;
        Options.DomainVerificationHttpPort = httpPort ?? 80;
        try
        {
            await body();
        }
        finally
        {
            (Options.DomainVerificationResolver, Options.DomainVerificationHttpPort) = (resolver, port);
        }
    }

    private async Task<string> Claim(Guid tenant, string domain) =>
        (await TenantAdminOf(tenant).Post($"/api/tenants/{tenant}/domains", new { domain })).ShouldBe(HttpStatusCode.Created)
            .Json.GetProperty("verification").GetProperty("http").GetProperty("body").GetString()!;

    /// <summary>A name the tenant holds, proven with a TXT record.</summary>
    private async Task<string> Verified(Guid tenant, string? domain = null)
    {
        domain ??= Unique("records");
        var challenge = await Claim(tenant, domain);
        await using var dns = await TestDns.StartAsync(texts: new Dictionary<string, string> { [$"_tenantevents-challenge.{domain}"] = challenge });
        await With(dns, null, async () =>
            (await TenantAdminOf(tenant).Post($"/api/tenants/{tenant}/domains/{domain}/verify", new { method = "dns" })).ShouldBe(HttpStatusCode.OK)
                .Str("state").ShouldBe("verified"));
        return domain;
    }

    private async Task<string> Issuer(string host) =>
        (await Fixture.Client().Get("/.well-known/openid-configuration", At(host))).ShouldBe(HttpStatusCode.OK).Str("issuer");

    [Fact]
    public async Task a_custom_domain_is_pending_until_its_challenge_is_served_over_http()
    {
        var tenant = await Active();
        var admin = TenantAdminOf(tenant);
        var domain = Unique("events");
        var claimed = (await admin.Post($"/api/tenants/{tenant}/domains", new { domain = domain.ToUpperInvariant() + "." })).ShouldBe(HttpStatusCode.Created);
        claimed.Str("domain").ShouldBe(domain); // one spelling: lower case, no trailing dot
        claimed.Str("kind").ShouldBe("custom");
        claimed.Str("state").ShouldBe("pending");
        var challenge = claimed.Json.GetProperty("verification").GetProperty("http").GetProperty("body").GetString()!;
        challenge.Length.ShouldBeGreaterThanOrEqualTo(43); // 256 bits
        // Claiming it again answers the same claim.
        (await admin.Post($"/api/tenants/{tenant}/domains", new { domain })).ShouldBe(HttpStatusCode.OK).Json.GetProperty("verification")
            .GetProperty("http").GetProperty("body").GetString().ShouldBe(challenge);

        // Pending, the name binds nothing: it is answered as the platform.
        (await Issuer(domain)).ShouldBe(Options.PublicUrl);

        await using var site = await LocalHttpSink.StartAsync();
        await using var dns = await TestDns.StartAsync(addresses: new Dictionary<string, string> { [domain] = "127.0.0.1" });
        await With(dns, site.Port, async () =>
        {
            // Not published yet: 422, saying where it looked, nothing written.
            var events = await TenantEventCount(tenant);
            var missing = (await admin.Post($"/api/tenants/{tenant}/domains/{domain}/verify", new { method = "http" }))
                .ShouldBeProblem(HttpStatusCode.UnprocessableEntity, "domain-not-verified");
            missing.Json.GetProperty("checked")[0].GetString()!.ShouldContain($"http://{domain}:{site.Port}/.well-known/tenantevents-challenge/{challenge}");
            (await TenantEventCount(tenant)).ShouldBe(events);
            // Another body is not the challenge.
            site.Handler = http => http.Response.WriteAsync("something else");
            (await admin.Post($"/api/tenants/{tenant}/domains/{domain}/verify", null)).ShouldBeProblem(HttpStatusCode.UnprocessableEntity, "domain-not-verified");

            site.Handler = http => http.Request.Path == $"/.well-known/tenantevents-challenge/{challenge}"
                ? http.Response.WriteAsync(challenge + "\n")
                : Task.CompletedTask;
            var verified = (await admin.Post($"/api/tenants/{tenant}/domains/{domain}/verify", null)).ShouldBe(HttpStatusCode.OK);
            verified.Str("state").ShouldBe("verified");
            verified.Str("method").ShouldBe("http");
            verified.Json.TryGetProperty("verification", out _).ShouldBeFalse(); // nothing left to publish
        });

        // From now on the name is the tenant's: its discovery document names it.
        var origin = $"http://{domain}:5080";
        (await Issuer(domain)).ShouldBe(origin);
        var metadata = (await Fixture.Client().Get("/.well-known/oauth-authorization-server", At(domain))).ShouldBe(HttpStatusCode.OK);
        metadata.Str("token_endpoint").ShouldBe(origin + "/oauth2/token");
        metadata.Str("jwks_uri").ShouldBe(origin + "/.well-known/jwks.json");
        // Every step is in the tenant's audit trail.
        var trail = (await As(Roles.Auditor, "carol").Get($"/api/tenants/{tenant}/audit/entries?limit=200")).ShouldBe(HttpStatusCode.OK).Body;
        trail.ShouldContain("domain_claimed");
        trail.ShouldContain("domain_verified");
    }

    [Fact]
    public async Task a_domain_is_proven_by_a_txt_record_and_not_by_another_value()
    {
        var tenant = await Active();
        var domain = Unique("dns");
        var challenge = await Claim(tenant, domain);
        await using (var wrong = await TestDns.StartAsync(texts: new Dictionary<string, string> { [$"_tenantevents-challenge.{domain}"] = "not-the-challenge" }))
            await With(wrong, null, async () =>
                (await TenantAdminOf(tenant).Post($"/api/tenants/{tenant}/domains/{domain}/verify", new { method = "dns" }))
                    .ShouldBeProblem(HttpStatusCode.UnprocessableEntity, "domain-not-verified"));
        // Without a resolver configured, DNS is not offered at all.
        await With(null, null, async () =>
            (await TenantAdminOf(tenant).Post($"/api/tenants/{tenant}/domains/{domain}/verify", new { method = "dns" }))
                .ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed"));
        await using var dns = await TestDns.StartAsync(texts: new Dictionary<string, string> { [$"_tenantevents-challenge.{domain}"] = challenge });
        await With(dns, null, async () =>
        {
            var listed = (await TenantAdminOf(tenant).Get($"/api/tenants/{tenant}/domains")).ShouldBe(HttpStatusCode.OK);
            listed.Json.GetProperty("domains")[0].GetProperty("verification").GetProperty("dns").GetProperty("name").GetString()
                .ShouldBe($"_tenantevents-challenge.{domain}");
            var verified = (await TenantAdminOf(tenant).Post($"/api/tenants/{tenant}/domains/{domain}/verify", null)).ShouldBe(HttpStatusCode.OK);
            verified.Str("method").ShouldBe("dns");
        });
    }

    [Fact]
    public async Task a_verified_name_serves_one_tenant_and_is_free_again_once_released()
    {
        var first = await Active("first-agency");
        var second = await Active("second-agency");
        var domain = await Verified(first);
        // Anyone may claim a name (so nobody can block its owner by claiming first); proving it is what counts.
        var challenge = await Claim(second, domain);
        await using var dns = await TestDns.StartAsync(texts: new Dictionary<string, string> { [$"_tenantevents-challenge.{domain}"] = challenge });
        await With(dns, null, async () =>
        {
            (await TenantAdminOf(second).Post($"/api/tenants/{second}/domains/{domain}/verify", null)).ShouldBeProblem(HttpStatusCode.Conflict, "domain-taken");
            (await Issuer(domain)).ShouldBe($"http://{domain}:5080");
            (await Fixture.Client().Get($"/api/tenants/{second}", At(domain))).ShouldBeProblem(HttpStatusCode.NotFound, "not-on-this-domain")
                .Body.ShouldNotContain(first.ToString()); // whose name it is, is not said

            (await TenantAdminOf(first).Delete($"/api/tenants/{first}/domains/{domain}")).ShouldBe(HttpStatusCode.NoContent);
            (await TenantAdminOf(first).Get($"/api/tenants/{first}/domains/{domain}")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
            (await Issuer(domain)).ShouldBe(Options.PublicUrl); // released: nobody's

            (await TenantAdminOf(second).Post($"/api/tenants/{second}/domains/{domain}/verify", null)).ShouldBe(HttpStatusCode.OK);
        });
        (await Admin.Get($"/api/tenants/{second}", At(domain))).ShouldBe(HttpStatusCode.OK);
        (await Admin.Get($"/api/tenants/{first}", At(domain))).ShouldBeProblem(HttpStatusCode.NotFound, "not-on-this-domain");
    }

    [Fact]
    public async Task a_platform_subdomain_is_granted_at_once_to_one_tenant_and_the_platforms_names_are_refused()
    {
        var first = await Active("first-agency");
        var second = await Active("second-agency");
        var granted = (await TenantAdminOf(first).Post($"/api/tenants/{first}/domains", new { subdomain = "Sheriff" })).ShouldBe(HttpStatusCode.Created);
        granted.Str("domain").ShouldBe("sheriff." + Zone);
        granted.Str("kind").ShouldBe("platform");
        granted.Str("state").ShouldBe("verified");
        granted.Str("method").ShouldBe("platform");
        (await Issuer("sheriff." + Zone)).ShouldBe($"http://sheriff.{Zone}:5080");
        (await TenantAdminOf(second).Post($"/api/tenants/{second}/domains", new { subdomain = "sheriff" })).ShouldBeProblem(HttpStatusCode.Conflict, "domain-taken");
        (await TenantAdminOf(second).Get($"/api/tenants/{second}/domains")).ShouldBe(HttpStatusCode.OK).Json.GetProperty("domains").GetArrayLength().ShouldBe(0);

        var events = await TenantEventCount(second);
        foreach (var (body, code) in new (object?, string)[]
                 {
                     (new { subdomain = "www" }, "reserved-name"),
                     (new { subdomain = "two.labels" }, "invalid-label"),
                     (new { subdomain = "xn--shrff-nua" }, "invalid-label"), // a lookalike, with nothing proven
                     (new { domain = "county." + Zone }, "platform-name"), // in the zone: a subdomain, not a custom domain
                     (new { domain = "localhost.example" }, "invalid-domain"), // fine as a name...
                     (new { domain = "api.localhost" }, "platform-name"), // ...but not under the platform's own host
                     (new { domain = "https://agency.example.test/" }, "invalid-domain"),
                     (new { domain = "10.0.0.7" }, "invalid-domain"),
                     (new { domain = "-bad.example.test" }, "invalid-domain"),
                     (new { domain = "single" }, "invalid-domain"),
                     (new { domain = "a.example.123" }, "invalid-domain"),
                     (new { domain = new string('a', 64) + ".example.test" }, "invalid-domain"),
                     (new { domain = "x.test", subdomain = "x" }, "one-of"),
                     (new { }, "one-of"),
                 })
        {
            var reply = (await TenantAdminOf(second).Post($"/api/tenants/{second}/domains", body));
            if (code == "invalid-domain" && body!.ToString()!.Contains("localhost.example")) { reply.ShouldBe(HttpStatusCode.Created); continue; }
            reply.ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
            reply.Body.ShouldContain(code);
        }
        (await TenantAdminOf(second).SendRaw(HttpMethod.Post, $"/api/tenants/{second}/domains", "null")).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await TenantEventCount(second)).ShouldBe(events + 1); // localhost.example only
        // An internationalised name is stored in its ASCII form.
        (await TenantAdminOf(second).Post($"/api/tenants/{second}/domains", new { domain = "bücher.example.test" })).ShouldBe(HttpStatusCode.Created)
            .Str("domain").ShouldBe("xn--bcher-kva.example.test");
    }

    [Fact]
    public async Task on_a_tenants_name_only_that_tenant_answers_and_only_a_verified_host_binds()
    {
        var tenant = await Active("first-agency");
        var other = await Active("second-agency");
        var domain = await Verified(tenant);
        (await TenantAdminOf(tenant).Get($"/api/tenants/{tenant}", At(domain))).ShouldBe(HttpStatusCode.OK);
        (await TenantAdminOf(tenant).Get($"/api/tenants/{tenant}/organisations", At(domain.ToUpperInvariant()))).ShouldBe(HttpStatusCode.OK);
        // The platform administrator reaches the other tenant, the platform's routes and GraphQL only at the platform's address.
        foreach (var path in new[] { $"/api/tenants/{other}", $"/api/tenants/{other}/organisations", "/api/tenants", "/api/platform/version", "/graphql?query={__typename}" })
            (await Admin.Get(path, At(domain))).ShouldBeProblem(HttpStatusCode.NotFound, "not-on-this-domain");
        (await Admin.Get($"/api/tenants/{other}")).ShouldBe(HttpStatusCode.OK);
        // Headers and query strings bind nothing: the host the request was sent to does.
        (await Admin.Get($"/api/tenants/{other}", new Dictionary<string, string> { ["X-Forwarded-Host"] = domain, ["Forwarded"] = $"host={domain}" }))
            .ShouldBe(HttpStatusCode.OK);
        (await Admin.Get($"/api/tenants/{other}?host={domain}")).ShouldBe(HttpStatusCode.OK);
        (await Fixture.Client().Get("/.well-known/openid-configuration", new Dictionary<string, string> { ["X-Forwarded-Host"] = domain }))
            .Str("issuer").ShouldBe(Options.PublicUrl);
        // A pending claim binds nothing either.
        var pending = Unique("pending");
        await Claim(other, pending);
        (await Admin.Get($"/api/tenants/{tenant}", At(pending))).ShouldBe(HttpStatusCode.OK);
        (await Issuer(pending)).ShouldBe(Options.PublicUrl);
        // Probes answer on every name.
        (await Fixture.Client().Get("/health/live", At(domain))).ShouldBe(HttpStatusCode.OK);
    }

    private async Task<(Guid Client, string Secret)> Account(Guid tenant)
    {
        var reply = (await TenantAdminOf(tenant).Post($"/api/tenants/{tenant}/service-accounts", new { name = "portal", scopes = new[] { "org.read" } }))
            .ShouldBe(HttpStatusCode.Created);
        return (Guid.Parse(reply.Str("clientId")), reply.Str("clientSecret"));
    }

    private async Task<Reply> Token(Guid client, string secret, string? host)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/oauth2/token")
        {
            Content = new FormUrlEncodedContent(new Dictionary<string, string> { ["grant_type"] = "client_credentials" }),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{client}:{secret}")));
        if (host is not null) request.Headers.Host = host;
        using var response = await Fixture.Client().SendAsync(request);
        return new Reply(response.StatusCode, response.Headers, response.Content.Headers, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task tokens_asked_for_at_a_tenants_name_carry_it_as_issuer_serve_that_tenant_only_and_die_with_the_name()
    {
        var tenant = await Active("first-agency");
        var other = await Active("second-agency");
        var domain = await Verified(tenant);
        var (client, secret) = await Account(tenant);
        var (otherClient, otherSecret) = await Account(other);

        var token = (await Token(client, secret, domain)).ShouldBe(HttpStatusCode.OK).Str("access_token");
        new JsonWebToken(token).Issuer.ShouldBe($"http://{domain}:5080");
        // Good at the name and at the platform's address, for its own tenant.
        (await Fixture.Client(token).Get($"/api/tenants/{tenant}/organisations", At(domain))).ShouldBe(HttpStatusCode.OK);
        (await Fixture.Client(token).Get($"/api/tenants/{tenant}/organisations")).ShouldBe(HttpStatusCode.OK);
        // Another tenant's account is unknown at this name; at the platform's address it gets a platform token.
        (await Token(otherClient, otherSecret, domain)).ShouldBe(HttpStatusCode.Unauthorized).Str("error").ShouldBe("invalid_client");
        new JsonWebToken((await Token(otherClient, otherSecret, null)).ShouldBe(HttpStatusCode.OK).Str("access_token")).Issuer.ShouldBe(Options.PublicUrl);

        // Released, the name issues nothing and its tokens are refused at once.
        (await TenantAdminOf(tenant).Delete($"/api/tenants/{tenant}/domains/{domain}")).ShouldBe(HttpStatusCode.NoContent);
        (await Fixture.Client(token).Get($"/api/tenants/{tenant}/organisations")).ShouldBe(HttpStatusCode.Unauthorized);
        new JsonWebToken((await Token(client, secret, domain)).ShouldBe(HttpStatusCode.OK).Str("access_token")).Issuer.ShouldBe(Options.PublicUrl);

        // Bound again (to the same tenant), the name does not bring back the tokens of its earlier binding.
        await Verified(tenant, domain);
        (await Fixture.Client(token).Get($"/api/tenants/{tenant}/organisations")).ShouldBe(HttpStatusCode.Unauthorized);
        var fresh = (await Token(client, secret, domain)).ShouldBe(HttpStatusCode.OK).Str("access_token");
        (await Fixture.Client(fresh).Get($"/api/tenants/{tenant}/organisations", At(domain))).ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task no_identity_provider_may_have_its_issuer_at_a_name_the_platform_answers_for()
    {
        var tenant = await Active("first-agency");
        var other = await Active("second-agency");
        var domain = await Verified(tenant);
        (await TenantAdminOf(other).Post($"/api/tenants/{other}/domains", new { subdomain = "county" })).ShouldBe(HttpStatusCode.Created);
        foreach (var issuer in new[] { $"http://{domain}:5080", $"https://{domain}", $"http://anything.{Zone}:5080", $"http://county.{Zone}:5080" })
        {
            var refused = (await TenantAdminOf(other).Put($"/api/tenants/{other}/identity-provider", new { issuer, audience = "tenantevents" }))
                .ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
            refused.Body.ShouldContain("reserved-issuer");
        }
        // The tenant's own tokens under its name still work: nobody's provider stands in for the name.
        var reply = (await TenantAdminOf(tenant).Post($"/api/tenants/{tenant}/service-accounts", new { name = "portal", scopes = new[] { "org.read" } }))
            .ShouldBe(HttpStatusCode.Created);
        var token = (await Token(Guid.Parse(reply.Str("clientId")), reply.Str("clientSecret"), domain)).ShouldBe(HttpStatusCode.OK).Str("access_token");
        (await Fixture.Client(token).Get($"/api/tenants/{tenant}/organisations")).ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task the_platforms_subscriber_hears_of_names_claimed_verified_and_released()
    {
        var receiver = await Fixture.WebhookReceiver();
        var hook = "d" + Guid.NewGuid().ToString("N")[..12];
        var subscribed = (await Admin.Post("/api/platform/webhooks", new { url = receiver.Hook(hook), types = new[] { "com.tenantevents.domain_*" } }))
            .ShouldBe(HttpStatusCode.Created);
        await receiver.ConfigureAsync(hook, subscribed.Str("secret"));
        var tenant = await Active();
        (await TenantAdminOf(tenant).Post($"/api/tenants/{tenant}/domains", new { subdomain = "harris" })).ShouldBe(HttpStatusCode.Created);
        (await TenantAdminOf(tenant).Delete($"/api/tenants/{tenant}/domains/harris.{Zone}")).ShouldBe(HttpStatusCode.NoContent);
        string Type(System.Text.Json.JsonElement e) => e.GetProperty("type").GetString()!;
        var seen = await receiver.WaitAsync(hook, r => r.Events.Any(e => Type(e) == "com.tenantevents.domain_released"));
        seen.Events.Select(Type).ShouldBe(["com.tenantevents.domain_claimed", "com.tenantevents.domain_verified", "com.tenantevents.domain_released"]);
        seen.Rejected.ShouldBeEmpty();
    }

    [Fact]
    public async Task a_record_changed_with_the_service_roles_password_proves_nothing()
    {
        var tenant = await Active();
        var domain = Unique("forged");
        await Claim(tenant, domain);
        // With the service role's password (row-level security bound to the tenant), the tenant's record is made to say verified.
        await using (var connection = new NpgsqlConnection(TestDatabase.ConnectionString))
        {
            await connection.OpenAsync();
            await using var transaction = await connection.BeginTransactionAsync();
            await TenantEvents.Infrastructure.Databases.Sql.SetTenantAsync(connection, transaction, tenant, CancellationToken.None);
            await using var forge = new NpgsqlCommand(
                "update tenantevents.mt_doc_tenantdomainsrecord set data = replace(data::text, '\"pending\"', '\"verified\"')::jsonb", connection, transaction);
            (await forge.ExecuteNonQueryAsync()).ShouldBe(1);
            await transaction.CommitAsync();
        }
        (await TenantAdminOf(tenant).Get($"/api/tenants/{tenant}/domains/{domain}")).ShouldBe(HttpStatusCode.OK).Str("state").ShouldBe("verified");
        // Asked to point the name at the tenant again, the service looks for the proof, and there is none.
        await using var dns = await TestDns.StartAsync();
        await With(dns, null, async () =>
            (await TenantAdminOf(tenant).Post($"/api/tenants/{tenant}/domains/{domain}/verify", null)).ShouldBeProblem(HttpStatusCode.UnprocessableEntity, "domain-not-verified"));
        (await Issuer(domain)).ShouldBe(Options.PublicUrl);
        (await Admin.Get($"/api/tenants/{tenant}", At(domain))).ShouldBe(HttpStatusCode.OK); // a platform route: the name binds nothing
    }

    [Fact]
    public async Task another_tenant_a_member_without_identity_manage_and_an_anonymous_caller_change_and_see_nothing()
    {
        var tenant = await Active("first-agency");
        var other = await Active("second-agency");
        var domain = await Verified(tenant);
        var pending = Unique("pending");
        await Claim(tenant, pending);
        var events = await TenantEventCount(tenant);
        foreach (var caller in new[] { TenantAdminOf(other), Member(tenant, "dana"), Fixture.Client() })
        {
            var list = await caller.Get($"/api/tenants/{tenant}/domains");
            ((int)list.Status).ShouldBeOneOf(401, 403, 404);
            list.Body.ShouldNotContain(domain);
            ((int)(await caller.Get($"/api/tenants/{tenant}/domains/{pending}")).Status).ShouldBeOneOf(401, 403, 404);
            ((int)(await caller.Post($"/api/tenants/{tenant}/domains", new { domain = Unique("stolen") })).Status).ShouldBeOneOf(401, 403, 404);
            ((int)(await caller.Post($"/api/tenants/{tenant}/domains/{pending}/verify", null)).Status).ShouldBeOneOf(401, 403, 404);
            ((int)(await caller.Delete($"/api/tenants/{tenant}/domains/{domain}")).Status).ShouldBeOneOf(401, 403, 404);
        }
        (await TenantAdminOf(other).Get($"/api/tenants/{tenant}/domains")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await TenantEventCount(tenant)).ShouldBe(events);
        (await Issuer(domain)).ShouldBe($"http://{domain}:5080");
    }

    [Fact]
    public async Task the_services_database_role_cannot_point_a_name_at_a_tenant()
    {
        var tenant = await Active();
        await using var connection = new NpgsqlConnection(TestDatabase.ConnectionString);
        await connection.OpenAsync();
        foreach (var sql in new[]
                 {
                     $"insert into tenantevents.tenant_domains (domain, tenant, kind) values ('hijack.example.test', '{tenant}', 'custom')",
                     "update tenantevents.tenant_domains set tenant = gen_random_uuid()",
                     "delete from tenantevents.tenant_domains",
                 })
        {
            await using var command = new NpgsqlCommand(sql, connection);
            (await Should.ThrowAsync<PostgresException>(() => command.ExecuteNonQueryAsync())).SqlState.ShouldBe("42501", sql); // insufficient_privilege
        }
    }
}
