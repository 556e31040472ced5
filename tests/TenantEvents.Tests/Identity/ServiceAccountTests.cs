using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.IdentityModel.JsonWebTokens;
using TenantEvents.Identity;
using TenantEvents.Tests.Support;
using Wolverine.Tracking;

namespace TenantEvents.Tests.Identity;

public class ServiceAccountTests(AppFixture fixture) : IntegrationTest(fixture)
{
    private async Task<(Guid Id, string Secret)> CreateAccount(Guid tenant, params string[] scopes)
    {
        var reply = (await TenantAdminOf(tenant).Post($"/api/tenants/{tenant}/service-accounts", new { name = "records sync", scopes }))
            .ShouldBe(HttpStatusCode.Created);
        reply.Headers.CacheControl!.NoStore.ShouldBeTrue();
        return (Guid.Parse(reply.Str("clientId")), reply.Str("clientSecret"));
    }

    private async Task<Reply> RequestToken(Guid client, string secret, string? scope = null, bool basic = true)
    {
        var form = new Dictionary<string, string> { ["grant_type"] = "client_credentials" };
        if (scope is not null) form["scope"] = scope;
        if (!basic)
        {
            form["client_id"] = client.ToString();
            form["client_secret"] = secret;
        }
        using var request = new HttpRequestMessage(HttpMethod.Post, TokenEndpoint.Path) { Content = new FormUrlEncodedContent(form) };
        if (basic)
            request.Headers.Authorization = new AuthenticationHeaderValue("Basic",
                Convert.ToBase64String(Encoding.UTF8.GetBytes($"{Uri.EscapeDataString(client.ToString())}:{Uri.EscapeDataString(secret)}")));
        using var response = await Fixture.Client().SendAsync(request);
        return new Reply(response.StatusCode, response.Headers, response.Content.Headers, await response.Content.ReadAsStringAsync());
    }

    private async Task<string> Token(Guid client, string secret, string? scope = null) =>
        (await RequestToken(client, secret, scope)).ShouldBe(HttpStatusCode.OK).Str("access_token");

    [Fact]
    public async Task a_service_account_gets_an_at_jwt_bound_to_its_tenant_and_scopes()
    {
        var tenant = await Active();
        var (client, secret) = await CreateAccount(tenant, "org.read", "access.read");
        var reply = (await RequestToken(client, secret)).ShouldBe(HttpStatusCode.OK);
        reply.Headers.CacheControl!.NoStore.ShouldBeTrue();
        reply.Str("token_type").ShouldBe("Bearer");
        reply.Json.GetProperty("expires_in").GetInt32().ShouldBe(300);
        reply.Str("scope").ShouldBe("access.read org.read");
        var jwt = new JsonWebToken(reply.Str("access_token"));
        jwt.Typ.ShouldBe("at+jwt");
        jwt.Alg.ShouldBe("ES256");
        jwt.GetClaim("tenant_id").Value.ShouldBe(tenant.ToString());
        jwt.GetClaim("client_id").Value.ShouldBe(client.ToString());
        jwt.Subject.ShouldBe(client.ToString());
        jwt.GetClaim("jti").Value.ShouldNotBeNullOrEmpty();
        jwt.Audiences.ShouldBe(["tenantevents"]);
        (jwt.ValidTo - jwt.IssuedAt).ShouldBe(TimeSpan.FromMinutes(5));

        // Form-field authentication works too; a narrower scope is granted as asked.
        (await RequestToken(client, secret, "org.read", basic: false)).ShouldBe(HttpStatusCode.OK).Str("scope").ShouldBe("org.read");
    }

    [Fact]
    public async Task the_secret_is_stored_only_as_a_sealed_hash_and_shown_once()
    {
        var tenant = await Active();
        var (client, secret) = await CreateAccount(tenant, "org.read");
        var shown = (await TenantAdminOf(tenant).Get($"/api/tenants/{tenant}/service-accounts/{client}")).ShouldBe(HttpStatusCode.OK);
        shown.Body.ShouldNotContain(secret);
        shown.Body.ShouldNotContain("secretHash", Case.Insensitive);
        foreach (var (_, _, connectionString) in await TestDatabase.Databases())
        {
            await using var connection = new Npgsql.NpgsqlConnection(connectionString);
            await connection.OpenAsync();
            await using var dump = new Npgsql.NpgsqlCommand(
                "select coalesce(string_agg(data::text, ''), '') from tenantevents.mt_doc_serviceaccountrecord union all select coalesce(string_agg(data::text, ''), '') from tenantevents.mt_events",
                connection);
            await using var reader = await dump.ExecuteReaderAsync();
            var hash = Convert.ToBase64String(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(secret)));
            while (await reader.ReadAsync())
            {
                reader.GetString(0).ShouldNotContain(secret);
                reader.GetString(0).ShouldNotContain(hash);
            }
        }
    }

    [Fact]
    public async Task wrong_credentials_and_bad_requests_get_rfc_6749_errors()
    {
        var tenant = await Active();
        var (client, secret) = await CreateAccount(tenant, "org.read");
        var wrong = (await RequestToken(client, secret + "x")).ShouldBe(HttpStatusCode.Unauthorized);
        wrong.Str("error").ShouldBe("invalid_client");
        wrong.Headers.WwwAuthenticate.ToString().ShouldStartWith("Basic");
        (await RequestToken(Guid.CreateVersion7(), secret)).ShouldBe(HttpStatusCode.Unauthorized).Str("error").ShouldBe("invalid_client");
        (await RequestToken(client, secret, "org.read org.manage")).ShouldBe(HttpStatusCode.BadRequest).Str("error").ShouldBe("invalid_scope");
        (await RequestToken(client, secret, "nonsense")).ShouldBe(HttpStatusCode.BadRequest).Str("error").ShouldBe("invalid_scope");

        using var password = new HttpRequestMessage(HttpMethod.Post, TokenEndpoint.Path)
        {
            Content = new FormUrlEncodedContent(new Dictionary<string, string> { ["grant_type"] = "password", ["username"] = "a", ["password"] = "b" }),
        };
        var unsupported = await Fixture.Client().SendAsync(password);
        unsupported.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        JsonDocument.Parse(await unsupported.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetString().ShouldBe("unsupported_grant_type");

        var many = await Fixture.Client().PostAsync(TokenEndpoint.Path, new FormUrlEncodedContent(
            Enumerable.Range(0, 2000).Select(i => KeyValuePair.Create($"f{i}", "x")).Append(KeyValuePair.Create("grant_type", "client_credentials"))));
        many.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        JsonDocument.Parse(await many.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetString().ShouldBe("invalid_request");

        var json = await Fixture.Client().PostAsync(TokenEndpoint.Path, new StringContent("{}", Encoding.UTF8, "application/json"));
        json.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        JsonDocument.Parse(await json.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetString().ShouldBe("invalid_request");
    }

    [Fact]
    public async Task an_endpoint_needing_a_scope_refuses_a_token_without_it()
    {
        var tenant = await Active();
        var root = await RootOf(tenant);
        var (client, secret) = await CreateAccount(tenant, "org.read", "org.manage");
        var reader = Fixture.Client(await Token(client, secret, "org.read"));
        var manager = Fixture.Client(await Token(client, secret, "org.manage"));

        (await reader.Get($"/api/tenants/{tenant}/organisations/{root}")).ShouldBe(HttpStatusCode.OK);
        (await reader.Post($"/api/tenants/{tenant}/organisations", new { parentId = root, name = "Unit", kind = "unit" }))
            .ShouldBeProblem(HttpStatusCode.Forbidden, "forbidden");
        var created = (await manager.Post($"/api/tenants/{tenant}/organisations", new { parentId = root, name = "Unit", kind = "unit" }))
            .ShouldBe(HttpStatusCode.Created);
        // Its actor is the service account.
        (await TenantAdminOf(tenant).Get($"/api/tenants/{tenant}/organisations/{created.Str("id")}")).ShouldBe(HttpStatusCode.OK);
        // Nothing beyond the tenant's organisation engine: tenant approval, platform listings stay closed.
        (await manager.Get("/api/tenants")).ShouldBe(HttpStatusCode.Forbidden);
        (await manager.Get($"/api/tenants/{tenant}/service-accounts")).ShouldBeProblem(HttpStatusCode.Forbidden, "forbidden");
    }

    [Fact]
    public async Task a_token_is_bound_to_its_tenant()
    {
        var a = await Active("agency-a");
        var b = await Active("agency-b");
        var (client, secret) = await CreateAccount(a, "org.read", "org.manage", "identity.manage");
        var token = Fixture.Client(await Token(client, secret));
        var rootB = await RootOf(b);
        (await token.Get($"/api/tenants/{b}/organisations/{rootB}")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await token.Get($"/api/tenants/{b}/organisations")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await token.Get($"/api/tenants/{b}")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await token.Get($"/api/tenants/{b}/service-accounts")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await token.Post($"/api/tenants/{b}/service-accounts", new { name = "x", scopes = new[] { "org.read" } }))
            .ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        // B's administrator sees nothing of A's accounts, and cannot touch them.
        (await TenantAdminOf(b).Get($"/api/tenants/{a}/service-accounts/{client}")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await TenantAdminOf(b).Post($"/api/tenants/{b}/service-accounts/{client}/disable")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await TenantAdminOf(b).Post($"/api/tenants/{a}/service-accounts/{client}/secret")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
    }

    [Fact]
    public async Task disabling_an_account_stops_its_tokens_at_once_and_enabling_does_not_revive_them()
    {
        var tenant = await Active();
        var root = await RootOf(tenant);
        var (client, secret) = await CreateAccount(tenant, "org.read");
        var before = Fixture.Client(await Token(client, secret));
        (await before.Get($"/api/tenants/{tenant}/organisations/{root}")).ShouldBe(HttpStatusCode.OK);

        (await TenantAdminOf(tenant).Post($"/api/tenants/{tenant}/service-accounts/{client}/disable", new { reason = "leaked" }))
            .ShouldBe(HttpStatusCode.OK).Str("state").ShouldBe("disabled");
        (await before.Get($"/api/tenants/{tenant}/organisations/{root}")).ShouldBeProblem(HttpStatusCode.Unauthorized, "unauthenticated");
        (await RequestToken(client, secret)).ShouldBe(HttpStatusCode.Unauthorized).Str("error").ShouldBe("invalid_client");

        (await TenantAdminOf(tenant).Post($"/api/tenants/{tenant}/service-accounts/{client}/enable")).ShouldBe(HttpStatusCode.OK);
        (await before.Get($"/api/tenants/{tenant}/organisations/{root}")).ShouldBe(HttpStatusCode.Unauthorized);
        var after = Fixture.Client(await Token(client, secret));
        (await after.Get($"/api/tenants/{tenant}/organisations/{root}")).ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task another_instance_sees_a_revocation_on_its_next_poll()
    {
        var tenant = await Active();
        var (client, _) = await CreateAccount(tenant, "org.read");
        // A second instance's view of revocations, over the same database.
        var other = new CredentialRevocations(Fixture.Host.Services.GetRequiredService<TenantEvents.Infrastructure.Databases.TenantDirectory>().Main,
            Fixture.Host.Services.GetRequiredService<TenantEvents.Infrastructure.TenantEventsOptions>(),
            Microsoft.Extensions.Logging.Abstractions.NullLogger<CredentialRevocations>.Instance);
        await other.PollAsync(CancellationToken.None);
        other.IsRevoked(client, DateTimeOffset.UtcNow).ShouldBeFalse();
        (await TenantAdminOf(tenant).Post($"/api/tenants/{tenant}/service-accounts/{client}/disable")).ShouldBe(HttpStatusCode.OK);
        await other.PollAsync(CancellationToken.None);
        other.IsRevoked(client, DateTimeOffset.UtcNow).ShouldBeTrue();
    }

    [Fact]
    public async Task a_rotated_secret_replaces_the_old_one_and_can_revoke_tokens()
    {
        var tenant = await Active();
        var root = await RootOf(tenant);
        var (client, oldSecret) = await CreateAccount(tenant, "org.read");
        var oldToken = Fixture.Client(await Token(client, oldSecret));
        var rotated = (await TenantAdminOf(tenant).Post($"/api/tenants/{tenant}/service-accounts/{client}/secret")).ShouldBe(HttpStatusCode.OK);
        var newSecret = rotated.Str("clientSecret");
        newSecret.ShouldNotBe(oldSecret);
        (await RequestToken(client, oldSecret)).ShouldBe(HttpStatusCode.Unauthorized);
        (await oldToken.Get($"/api/tenants/{tenant}/organisations/{root}")).ShouldBe(HttpStatusCode.OK); // not revoked unless asked
        var newToken = Fixture.Client(await Token(client, newSecret));

        (await TenantAdminOf(tenant).Post($"/api/tenants/{tenant}/service-accounts/{client}/secret", new { revokeTokens = true })).ShouldBe(HttpStatusCode.OK);
        (await oldToken.Get($"/api/tenants/{tenant}/organisations/{root}")).ShouldBe(HttpStatusCode.Unauthorized);
        (await newToken.Get($"/api/tenants/{tenant}/organisations/{root}")).ShouldBe(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task signing_keys_rotate_and_old_tokens_stay_valid_until_they_expire()
    {
        var tenant = await Active();
        var root = await RootOf(tenant);
        var (client, secret) = await CreateAccount(tenant, "org.read");
        var oldToken = await Token(client, secret);
        var oldKid = new JsonWebToken(oldToken).Kid;

        var rotated = (await Admin.Post("/api/platform/signing-keys/rotate")).ShouldBe(HttpStatusCode.Created);
        var newKid = rotated.Str("kid");
        newKid.ShouldNotBe(oldKid);
        var newToken = await Token(client, secret);
        new JsonWebToken(newToken).Kid.ShouldBe(newKid);

        (await Fixture.Client(oldToken).Get($"/api/tenants/{tenant}/organisations/{root}")).ShouldBe(HttpStatusCode.OK);
        (await Fixture.Client(newToken).Get($"/api/tenants/{tenant}/organisations/{root}")).ShouldBe(HttpStatusCode.OK);

        var jwks = (await Fixture.Client().Get("/.well-known/jwks.json")).ShouldBe(HttpStatusCode.OK);
        var kids = jwks.Json.GetProperty("keys").EnumerateArray().Select(k => k.GetProperty("kid").GetString()).ToList();
        kids.ShouldContain(oldKid);
        kids.ShouldContain(newKid);
        jwks.Json.GetProperty("keys").EnumerateArray().Count(k => k.TryGetProperty("d", out var _)).ShouldBe(0);

        var discovery = (await Fixture.Client().Get("/.well-known/openid-configuration")).ShouldBe(HttpStatusCode.OK);
        discovery.Str("issuer").ShouldBe("http://localhost:5080");
        discovery.Str("token_endpoint").ShouldBe("http://localhost:5080/oauth2/token");
        discovery.Str("jwks_uri").ShouldBe("http://localhost:5080/.well-known/jwks.json");
        (await Fixture.Client().Get("/.well-known/oauth-authorization-server")).ShouldBe(HttpStatusCode.OK).Str("issuer").ShouldBe("http://localhost:5080");
        (await As("tenant-admin", "x", tenant).Post("/api/platform/signing-keys/rotate")).ShouldBe(HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task a_token_signed_by_an_unknown_key_or_altered_is_refused()
    {
        var tenant = await Active();
        var root = await RootOf(tenant);
        var (client, secret) = await CreateAccount(tenant, "org.read");
        var token = await Token(client, secret);
        var parts = token.Split('.');
        // Same header and signature, a payload claiming more scopes.
        var payload = JsonSerializer.Deserialize<Dictionary<string, object>>(Microsoft.IdentityModel.Tokens.Base64UrlEncoder.Decode(parts[1]))!;
        payload["scope"] = "org.read org.manage";
        var tampered = $"{parts[0]}.{Microsoft.IdentityModel.Tokens.Base64UrlEncoder.Encode(JsonSerializer.Serialize(payload))}.{parts[2]}";
        (await Fixture.Client(tampered).Get($"/api/tenants/{tenant}/organisations/{root}")).ShouldBe(HttpStatusCode.Unauthorized);
        // A token we did not sign, though it names our issuer and a kid of ours.
        using var forger = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
        var forged = new JsonWebTokenHandler().CreateToken(new Microsoft.IdentityModel.Tokens.SecurityTokenDescriptor
        {
            TokenType = "at+jwt", Issuer = "http://localhost:5080", Audience = "tenantevents", Expires = DateTime.UtcNow.AddMinutes(5),
            Claims = new Dictionary<string, object> { ["sub"] = client.ToString(), ["client_id"] = client.ToString(), ["tenant_id"] = tenant.ToString(), ["scope"] = "org.manage" },
            SigningCredentials = new(new Microsoft.IdentityModel.Tokens.ECDsaSecurityKey(forger) { KeyId = new JsonWebToken(token).Kid }, "ES256"),
        });
        (await Fixture.Client(forged).Get($"/api/tenants/{tenant}/organisations/{root}")).ShouldBe(HttpStatusCode.Unauthorized);
        // A plain JWT (not at+jwt) signed by the platform's own key is not an access token of ours: checked by typ.
        var (kid, key) = await Fixture.Host.Services.GetRequiredService<PlatformSigningKeys>().SignerAsync(CancellationToken.None);
        var plain = new JsonWebTokenHandler().CreateToken(new Microsoft.IdentityModel.Tokens.SecurityTokenDescriptor
        {
            TokenType = "JWT", Issuer = "http://localhost:5080", Audience = "tenantevents", Expires = DateTime.UtcNow.AddMinutes(5),
            Claims = new Dictionary<string, object>
            {
                ["sub"] = client.ToString(), ["client_id"] = client.ToString(), ["tenant_id"] = tenant.ToString(), ["scope"] = "org.read",
                ["jti"] = Guid.CreateVersion7().ToString(),
            },
            SigningCredentials = new(key, "ES256"),
        });
        new JsonWebToken(plain).Kid.ShouldBe(kid);
        (await Fixture.Client(plain).Get($"/api/tenants/{tenant}/organisations/{root}")).ShouldBe(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task accounts_cannot_be_given_more_than_the_creator_holds()
    {
        var tenant = await Active();
        var (client, secret) = await CreateAccount(tenant, "identity.manage", "org.read");
        var manager = Fixture.Client(await Token(client, secret));
        (await manager.Post($"/api/tenants/{tenant}/service-accounts", new { name = "escalation", scopes = new[] { "org.manage" } }))
            .ShouldBeProblem(HttpStatusCode.Forbidden, "beyond-your-own");
        (await manager.Post($"/api/tenants/{tenant}/service-accounts", new { name = "reader", scopes = new[] { "org.read" } }))
            .ShouldBe(HttpStatusCode.Created);
        (await TenantAdminOf(tenant).Post($"/api/tenants/{tenant}/service-accounts", new { name = "", scopes = new[] { "nope" } }))
            .ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed").Json.GetProperty("errors").GetArrayLength().ShouldBe(2);
        (await TenantAdminOf(tenant).Put($"/api/tenants/{tenant}/service-accounts/{client}/scopes", new { scopes = new[] { "org.read" } },
            new Dictionary<string, string> { ["If-Match"] = "\"7\"" })).ShouldBeProblem(HttpStatusCode.PreconditionFailed, "stale-version");
        (await TenantAdminOf(tenant).Put($"/api/tenants/{tenant}/service-accounts/{client}/scopes", new { scopes = new[] { "org.read" } }))
            .ShouldBe(HttpStatusCode.OK).Json.GetProperty("scopes").EnumerateArray().Select(s => s.GetString()).ShouldBe(["org.read"]);
        (await RequestToken(client, secret, "identity.manage")).ShouldBe(HttpStatusCode.BadRequest).Str("error").ShouldBe("invalid_scope");
    }

    [Fact]
    public async Task a_decommissioned_tenants_tokens_die_and_its_issuer_is_released()
    {
        var doomed = await Active("doomed-agency");
        var other = await Active("other-agency");
        var (client, secret) = await CreateAccount(doomed, "org.read");
        var token = Fixture.Client(await Token(client, secret));
        var idp = await Fixture.IdentityProvider(0);
        (await TenantAdminOf(doomed).Put($"/api/tenants/{doomed}/identity-provider", new { issuer = idp.Issuer, audience = "doomed" })).ShouldBe(HttpStatusCode.OK);

        await Admin.Post($"/api/tenants/{doomed}/decommission", new { reason = "closing" });
        await Approver.Post($"/api/tenants/{doomed}/decommission/approve");
        Fixture.Time.Advance(TimeSpan.FromDays(2556));
        await Fixture.Host.ExecuteAndWaitAsync(() => Admin.Post($"/api/tenants/{doomed}/decommission/complete"));

        (await token.Get($"/api/tenants/{doomed}")).ShouldBe(HttpStatusCode.Unauthorized);
        (await RequestToken(client, secret)).ShouldBe(HttpStatusCode.Unauthorized).Str("error").ShouldBe("invalid_client");
        (await TenantAdminOf(other).Put($"/api/tenants/{other}/identity-provider", new { issuer = idp.Issuer, audience = "other" })).ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task a_suspended_tenants_accounts_get_no_tokens()
    {
        var tenant = await Active();
        var (client, secret) = await CreateAccount(tenant, "org.read");
        (await Admin.Post($"/api/tenants/{tenant}/suspend", new { reason = "unpaid invoices" })).ShouldBe(HttpStatusCode.OK);
        (await RequestToken(client, secret)).ShouldBe(HttpStatusCode.BadRequest).Str("error").ShouldBe("unauthorized_client");
    }
}
