using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using TenantEvents.Identity;
using TenantEvents.Tests.Support;

namespace TenantEvents.Tests.Identity;

/// <summary>
/// Two tenants, each federated with its own real OpenID provider process (tests/idp): tokens are accepted only for the
/// tenant whose provider issued them, and every forgery of the usual kinds gets 401 on every endpoint group.
/// </summary>
public class FederationTests(AppFixture fixture) : IntegrationTest(fixture)
{
    private const string AudienceA = "tenantevents-agency-a";
    private const string AudienceB = "tenantevents-agency-b";

    private async Task<(Guid A, Guid B, TestIdentityProvider IdpA, TestIdentityProvider IdpB)> TwoFederatedTenants()
    {
        var a = await Active("agency-a");
        var b = await Active("agency-b");
        var idpA = await Fixture.IdentityProvider(0);
        var idpB = await Fixture.IdentityProvider(1);
        (await TenantAdminOf(a).Put($"/api/tenants/{a}/identity-provider",
            new { issuer = idpA.Issuer, audience = AudienceA, adminGroups = new[] { "it-admins" } })).ShouldBe(HttpStatusCode.OK);
        (await TenantAdminOf(b).Put($"/api/tenants/{b}/identity-provider",
            new { issuer = idpB.Issuer, audience = AudienceB, adminGroups = new[] { "it-admins" } })).ShouldBe(HttpStatusCode.OK);
        return (a, b, idpA, idpB);
    }

    /// <summary>Every protected endpoint group of a tenant, as (method, path) with the tenant's id and root organisation filled in.</summary>
    private static IReadOnlyList<(HttpMethod Method, string Path, object? Body)> EndpointGroups(Guid tenant, Guid root) =>
    [
        (HttpMethod.Get, $"/api/tenants/{tenant}", null),
        (HttpMethod.Get, $"/api/tenants/{tenant}/events", null),
        (HttpMethod.Get, $"/api/tenants/{tenant}/organisations", null),
        (HttpMethod.Get, $"/api/tenants/{tenant}/organisations/{root}", null),
        (HttpMethod.Get, $"/api/tenants/{tenant}/organisations/{root}/children", null),
        (HttpMethod.Get, $"/api/tenants/{tenant}/organisations/{root}/grants", null),
        (HttpMethod.Get, $"/api/tenants/{tenant}/organisations/{root}/members", null),
        (HttpMethod.Get, $"/api/tenants/{tenant}/organisations/{root}/policies", null),
        (HttpMethod.Get, $"/api/tenants/{tenant}/roles", null),
        (HttpMethod.Get, $"/api/tenants/{tenant}/access/organisations?principal=user:x&permission=org.read", null),
        (HttpMethod.Get, $"/api/tenants/{tenant}/service-accounts", null),
        (HttpMethod.Get, $"/api/tenants/{tenant}/identity-provider", null),
        (HttpMethod.Post, $"/api/tenants/{tenant}/organisations", new { parentId = root, name = "Federated unit", kind = "unit" }),
        (HttpMethod.Put, $"/api/tenants/{tenant}/organisations/{root}/name", new { name = "Renamed root" }),
    ];

    private static readonly HashSet<string> CreatesSomething = ["/organisations"];

    [Fact]
    public async Task a_providers_token_is_accepted_for_its_own_tenant_only()
    {
        var (a, b, idpA, idpB) = await TwoFederatedTenants();
        var rootA = await RootOf(a);
        var rootB = await RootOf(b);
        var adminOfA = Fixture.Client(await idpA.UserTokenAsync("carol", AudienceA, ["it-admins"]));
        var adminOfB = Fixture.Client(await idpB.UserTokenAsync("dave", AudienceB, ["it-admins"]));

        foreach (var (method, path, body) in EndpointGroups(a, rootA))
            (await adminOfA.Send(method, path, body)).Status.ShouldBeOneOf(HttpStatusCode.OK, HttpStatusCode.Created);
        // B's users reach nothing of A: 404, as for every other cross-tenant attempt.
        foreach (var (method, path, body) in EndpointGroups(a, rootA))
            (await adminOfB.Send(method, path, body)).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        foreach (var (method, path, body) in EndpointGroups(b, rootB))
            (await adminOfA.Send(method, path, body)).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        // The platform listing shows a tenant's administrator its own tenant only.
        (await adminOfA.Get("/api/tenants")).ShouldBe(HttpStatusCode.OK).Json.GetProperty("items").EnumerateArray()
            .Select(t => t.GetProperty("id").GetGuid()).ShouldBe([a]);
    }

    [Fact]
    public async Task a_newly_configured_providers_first_users_arriving_together_all_get_in()
    {
        // A provider of its own (a new issuer: no keys held for it yet). Configuring it checks its keys but does not keep
        // them; the first tokens then arrive at once, as a console's first page does (several requests in parallel).
        var tenant = await Active("agency-first-wave");
        await using var idp = await TestIdentityProvider.StartAsync();
        (await TenantAdminOf(tenant).Put($"/api/tenants/{tenant}/identity-provider",
            new { issuer = idp.Issuer, audience = AudienceA, adminGroups = new[] { "it-admins" } })).ShouldBe(HttpStatusCode.OK);
        var tokens = await Task.WhenAll(Enumerable.Range(0, 3).Select(i => idp.UserTokenAsync($"first-{i}", AudienceA, ["it-admins"])));
        var answers = await Task.WhenAll(tokens.SelectMany(t => Enumerable.Range(0, 4).Select(_ => Fixture.Client(t).Get($"/api/tenants/{tenant}"))));
        answers.Select(a => a.Status).ShouldAllBe(s => s == HttpStatusCode.OK);
    }

    [Fact]
    public async Task forged_and_invalid_tokens_get_401_on_every_endpoint_group()
    {
        var (a, _, idpA, idpB) = await TwoFederatedTenants();
        var root = await RootOf(a);
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var valid = await idpA.UserTokenAsync("carol", AudienceA, ["it-admins"]);
        var parts = valid.Split('.');
        var header = JsonSerializer.Deserialize<Dictionary<string, object>>(Base64UrlEncoder.Decode(parts[0]))!;
        var payload = JsonSerializer.Deserialize<Dictionary<string, object>>(Base64UrlEncoder.Decode(parts[1]))!;
        string Encode(object o) => Base64UrlEncoder.Encode(JsonSerializer.Serialize(o));

        // The provider's public key, as an attacker would use it for an HS256 "key confusion" token.
        using var jwks = JsonDocument.Parse(await new HttpClient().GetStringAsync(idpA.Issuer + "/jwks"));
        var jwk = new JsonWebKey(jwks.RootElement.GetProperty("keys")[0].GetRawText());
        using var rsa = RSA.Create(new RSAParameters { Modulus = Base64UrlEncoder.DecodeBytes(jwk.N), Exponent = Base64UrlEncoder.DecodeBytes(jwk.E) });
        var publicPem = Encoding.UTF8.GetBytes(rsa.ExportSubjectPublicKeyInfoPem());
        var hsHeader = Encode(new Dictionary<string, object>(header) { ["alg"] = "HS256" });
        var hsSigned = $"{hsHeader}.{parts[1]}";
        var hsToken = $"{hsSigned}.{Base64UrlEncoder.Encode(HMACSHA256.HashData(publicPem, Encoding.ASCII.GetBytes(hsSigned)))}";

        var tamperedPayload = new Dictionary<string, object>(payload) { ["sub"] = "mallory" };
        var signature = parts[2].ToCharArray();
        signature[10] = signature[10] == 'A' ? 'B' : 'A';

        var bad = new Dictionary<string, string>
        {
            ["alg none"] = $"{Encode(new Dictionary<string, object>(header) { ["alg"] = "none" })}.{parts[1]}.",
            ["HS256 signed with the public key"] = hsToken,
            ["unknown key id"] = await idpA.TokenAsync(Claims("carol", AudienceA), new { kid = "no-such-key" }),
            ["tampered payload"] = $"{parts[0]}.{Encode(tamperedPayload)}.{parts[2]}",
            ["tampered signature"] = $"{parts[0]}.{parts[1]}.{new string(signature)}",
            ["expired"] = await idpA.TokenAsync(Claims("carol", AudienceA, ("exp", now - 3600), ("iat", now - 7200), ("nbf", now - 7200))),
            ["not yet valid"] = await idpA.TokenAsync(Claims("carol", AudienceA, ("nbf", now + 3600), ("iat", now + 3600))),
            ["wrong audience"] = await idpA.UserTokenAsync("carol", "someone-else", ["it-admins"]),
            ["another tenant's audience"] = await idpA.UserTokenAsync("carol", AudienceB, ["it-admins"]),
            ["wrong issuer"] = await idpA.TokenAsync(Claims("carol", AudienceA, ("iss", "http://127.0.0.1:9/not-a-provider"))),
            ["forged issuer claim (B's key, A's issuer)"] = await idpB.TokenAsync(Claims("carol", AudienceA, ("iss", idpA.Issuer))),
            ["no subject"] = await idpA.TokenAsync(new Dictionary<string, object?> { ["aud"] = AudienceA }),
            ["garbage"] = "not.a.jwt",
        };
        foreach (var (name, token) in bad)
        {
            var client = Fixture.Client(token);
            foreach (var (method, path, body) in EndpointGroups(a, root))
            {
                var reply = await client.Send(method, path, body);
                reply.Status.ShouldBe(HttpStatusCode.Unauthorized, $"{name}: {method} {path} answered {reply.Status} {reply.Body}");
                reply.Headers.WwwAuthenticate.ToString().ShouldContain("invalid_token");
            }
        }
        // The valid token, for contrast, passes.
        (await Fixture.Client(valid).Get($"/api/tenants/{a}")).ShouldBe(HttpStatusCode.OK);
    }

    private static Dictionary<string, object?> Claims(string subject, string audience, params (string Name, object Value)[] more)
    {
        var claims = new Dictionary<string, object?> { ["sub"] = subject, ["aud"] = audience, ["groups"] = new[] { "it-admins" } };
        foreach (var (name, value) in more) claims[name] = value;
        return claims;
    }

    /// <summary>Every route the service serves that needs a caller (found by reflection, so a new endpoint cannot be forgotten).</summary>
    private static IReadOnlyList<(HttpMethod Method, string Template)> ProtectedRoutes() =>
        typeof(TenantEvents.Infrastructure.Hosting).Assembly.GetTypes()
            .SelectMany(t => t.GetMethods(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static))
            .Where(m => m.GetCustomAttributes(typeof(Microsoft.AspNetCore.Authorization.AllowAnonymousAttribute), false).Length == 0)
            .SelectMany(m => m.GetCustomAttributes(typeof(Wolverine.Http.WolverineHttpMethodAttribute), false).Cast<Wolverine.Http.WolverineHttpMethodAttribute>())
            .Select(a => (new HttpMethod(a.HttpMethod), a.Template)).Distinct().ToList();

    private static string Fill(string template, Guid tenant, Guid root) =>
        System.Text.RegularExpressions.Regex.Replace(template.Replace("{tenantId}", tenant.ToString()).Replace("{orgId}", root.ToString()),
            "{(\\w+)}", m => m.Groups[1].Value switch { "name" => "analyst", "key" => "setting.retention", "userId" => "someone", _ => Guid.CreateVersion7().ToString() });

    [Fact]
    public async Task every_protected_route_refuses_forged_tokens_and_knows_the_providers_users()
    {
        var (a, _, idpA, idpB) = await TwoFederatedTenants();
        var root = await RootOf(a);
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var valid = await idpA.UserTokenAsync("carol", AudienceA, ["it-admins"]);
        var parts = valid.Split('.');
        var header = JsonSerializer.Deserialize<Dictionary<string, object>>(Base64UrlEncoder.Decode(parts[0]))!;
        var forged = new Dictionary<string, string>
        {
            ["alg none"] = $"{Base64UrlEncoder.Encode(JsonSerializer.Serialize(new Dictionary<string, object>(header) { ["alg"] = "none" }))}.{parts[1]}.",
            ["forged issuer"] = await idpB.TokenAsync(Claims("carol", AudienceA, ("iss", idpA.Issuer))),
            ["expired"] = await idpA.TokenAsync(Claims("carol", AudienceA, ("exp", now - 3600), ("iat", now - 7200), ("nbf", now - 7200))),
        };
        var routes = ProtectedRoutes();
        routes.Count.ShouldBeGreaterThan(60);
        foreach (var (name, token) in forged)
        {
            var client = Fixture.Client(token);
            foreach (var (method, template) in routes)
            {
                var reply = await client.SendRaw(method, Fill(template, a, root), method == HttpMethod.Get || method == HttpMethod.Delete ? null : "{}");
                reply.Status.ShouldBe(HttpStatusCode.Unauthorized, $"{name}: {method} {template} answered {reply.Status}");
            }
        }
        // The provider's own user is authenticated on every route that only reads (what it may see is the routes' business).
        var carol = Fixture.Client(valid);
        foreach (var (method, template) in routes.Where(r => r.Method == HttpMethod.Get))
        {
            // The event stream does not end: its status is all there is to read.
            using var response = await carol.SendAsync(new HttpRequestMessage(HttpMethod.Get, Fill(template, a, root)), HttpCompletionOption.ResponseHeadersRead);
            response.StatusCode.ShouldNotBe(HttpStatusCode.Unauthorized, $"GET {template}");
        }
    }

    [Fact]
    public async Task clock_skew_is_bounded()
    {
        var (a, _, idpA, _) = await TwoFederatedTenants();
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        // Expired 10 s ago: within the 30 s skew. Expired 2 minutes ago: refused.
        var justExpired = await idpA.TokenAsync(Claims("carol", AudienceA, ("exp", now - 10), ("iat", now - 600), ("nbf", now - 600)));
        var longExpired = await idpA.TokenAsync(Claims("carol", AudienceA, ("exp", now - 120), ("iat", now - 600), ("nbf", now - 600)));
        (await Fixture.Client(justExpired).Get($"/api/tenants/{a}")).ShouldBe(HttpStatusCode.OK);
        (await Fixture.Client(longExpired).Get($"/api/tenants/{a}")).ShouldBe(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task provider_key_rotation_is_picked_up_and_unknown_key_ids_cannot_hammer_the_provider()
    {
        var (a, _, idpA, _) = await TwoFederatedTenants();
        (await Fixture.Client(await idpA.UserTokenAsync("carol", AudienceA, ["it-admins"])).Get($"/api/tenants/{a}")).ShouldBe(HttpStatusCode.OK);

        // A flood of tokens with made-up key ids: at most one refresh of the provider's keys in the refresh interval.
        var before = await idpA.JwksRequestsAsync();
        for (var i = 0; i < 20; i++)
        {
            var token = await idpA.TokenAsync(Claims("carol", AudienceA), new { kid = "made-up-" + i });
            (await Fixture.Client(token).Get($"/api/tenants/{a}")).ShouldBe(HttpStatusCode.Unauthorized);
        }
        ((await idpA.JwksRequestsAsync()) - before).ShouldBeLessThanOrEqualTo(1);

        // The provider rotates: once the refresh interval has passed, a token under the new key is accepted (its kid is
        // unknown, so the keys are fetched again) and the old key's tokens still pass.
        var old = await idpA.UserTokenAsync("carol", AudienceA, ["it-admins"]);
        var newKid = await idpA.RotateAsync();
        var fresh = await idpA.UserTokenAsync("carol", AudienceA, ["it-admins"]);
        new JsonWebToken(fresh).Kid.ShouldBe(newKid);
        var options = Fixture.Host.Services.GetRequiredService<TenantEvents.Infrastructure.TenantEventsOptions>();
        var interval = options.FederationKeyRefreshInterval;
        options.FederationKeyRefreshInterval = TimeSpan.Zero;
        try
        {
            (await Fixture.Client(fresh).Get($"/api/tenants/{a}")).ShouldBe(HttpStatusCode.OK);
            (await Fixture.Client(old).Get($"/api/tenants/{a}")).ShouldBe(HttpStatusCode.OK);
        }
        finally
        {
            options.FederationKeyRefreshInterval = interval;
        }
    }

    [Fact]
    public async Task groups_map_to_roles_at_organisations_and_admin_groups_to_tenant_administration()
    {
        var (a, _, idpA, _) = await TwoFederatedTenants();
        var root = await RootOf(a);
        var unit = Guid.Parse((await TenantAdminOf(a).Post($"/api/tenants/{a}/organisations", new { parentId = root, name = "Homicide", kind = "unit" }))
            .ShouldBe(HttpStatusCode.Created).Str("id"));
        // The provider's group "detectives" holds a role at the unit (a grant to group:detectives).
        var roles = (await TenantAdminOf(a).Get($"/api/tenants/{a}/roles")).ShouldBe(HttpStatusCode.OK).Json.GetProperty("items");
        var manager = roles.EnumerateArray().First(r => r.GetProperty("permissions").EnumerateArray().Any(p => p.GetString() == "org.manage"))
            .GetProperty("name").GetString();
        (await TenantAdminOf(a).Post($"/api/tenants/{a}/organisations/{unit}/grants", new { principal = new { kind = "group", id = "detectives" }, role = manager }))
            .ShouldBe(HttpStatusCode.Created);

        var detective = Fixture.Client(await idpA.UserTokenAsync("erin", AudienceA, ["detectives"]));
        var outsider = Fixture.Client(await idpA.UserTokenAsync("frank", AudienceA, ["records"]));
        var admin = Fixture.Client(await idpA.UserTokenAsync("carol", AudienceA, ["it-admins"]));
        (await detective.Post($"/api/tenants/{a}/organisations", new { parentId = unit, name = "Cold cases", kind = "team" })).ShouldBe(HttpStatusCode.Created);
        (await detective.Post($"/api/tenants/{a}/organisations", new { parentId = root, name = "Elsewhere", kind = "team" }))
            .Status.ShouldBeOneOf(HttpStatusCode.Forbidden, HttpStatusCode.NotFound);
        (await outsider.Get($"/api/tenants/{a}/organisations/{unit}")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await admin.Get($"/api/tenants/{a}/service-accounts")).ShouldBe(HttpStatusCode.OK);
        (await detective.Get($"/api/tenants/{a}/service-accounts")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found"); // cannot see the root
    }

    [Fact]
    public async Task a_changed_configuration_applies_to_tokens_already_in_use()
    {
        var (a, _, idpA, _) = await TwoFederatedTenants();
        var carol = Fixture.Client(await idpA.UserTokenAsync("carol", AudienceA, ["it-admins"]));
        (await carol.Get($"/api/tenants/{a}/service-accounts")).ShouldBe(HttpStatusCode.OK);
        // it-admins no longer makes tenant administrators: the same token, already verified once, loses the role.
        (await TenantAdminOf(a).Put($"/api/tenants/{a}/identity-provider", new { issuer = idpA.Issuer, audience = AudienceA, adminGroups = new[] { "others" } }))
            .ShouldBe(HttpStatusCode.OK);
        (await carol.Get($"/api/tenants/{a}/service-accounts")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
    }

    [Fact]
    public async Task a_first_sign_in_with_no_licence_free_is_refused_with_403_and_the_figures_until_one_is_freed()
    {
        var (a, _, idpA, _) = await TwoFederatedTenants();
        var root = await RootOf(a);
        (await Admin.Patch($"/api/tenants/{a}/settings", new { quotas = new { licences = 1 } })).ShouldBe(HttpStatusCode.OK);
        var erin = Fixture.Client(await idpA.UserTokenAsync("erin", AudienceA, ["it-admins"], "erin@agency-a.gov"));
        (await erin.Get($"/api/tenants/{a}/organisations/{root}")).ShouldBe(HttpStatusCode.OK); // recorded: the one licence
        var frank = Fixture.Client(await idpA.UserTokenAsync("frank", AudienceA, ["it-admins"], "frank@agency-a.gov"));
        var refused = await frank.Get($"/api/tenants/{a}/organisations/{root}");
        refused.ShouldBeProblem(HttpStatusCode.Forbidden, "quota-exceeded");
        refused.Json.GetProperty("quota").GetString().ShouldBe("licences");
        refused.Json.GetProperty("used").GetInt64().ShouldBe(1);
        refused.Json.GetProperty("limit").GetInt64().ShouldBe(1);
        // A licence is freed (erin deactivated by the directory): frank's next request records him and is served.
        var scimAccount = (await TenantAdminOf(a).Post($"/api/tenants/{a}/service-accounts", new { name = "directory", scopes = new[] { "scim.provision" } }))
            .ShouldBe(HttpStatusCode.Created);
        var scim = Fixture.Client(scimAccount.Str("scimToken"));
        var erinId = (await scim.Get($"/api/tenants/{a}/scim/v2/Users?filter=" + Uri.EscapeDataString("userName eq \"erin\""))).ShouldBe(HttpStatusCode.OK)
            .Json.GetProperty("Resources")[0].GetProperty("id").GetString();
        (await scim.Patch($"/api/tenants/{a}/scim/v2/Users/{erinId}", new { schemas = new[] { "urn:ietf:params:scim:api:messages:2.0:PatchOp" },
            Operations = new[] { new { op = "replace", path = "active", value = (object)false } } })).ShouldBe(HttpStatusCode.OK);
        (await frank.Get($"/api/tenants/{a}/organisations/{root}")).ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task federated_users_appear_in_the_directory_and_the_directory_decides_who_signs_in_and_their_groups()
    {
        var (a, _, idpA, _) = await TwoFederatedTenants();
        var root = await RootOf(a);
        var scimAccount = (await TenantAdminOf(a).Post($"/api/tenants/{a}/service-accounts", new { name = "directory", scopes = new[] { "scim.provision" } }))
            .ShouldBe(HttpStatusCode.Created);
        var scim = Fixture.Client(scimAccount.Str("scimToken"));
        var scimBase = $"/api/tenants/{a}/scim/v2";

        // First sign-in: the person is recorded as a user of the tenant.
        var erin = Fixture.Client(await idpA.UserTokenAsync("erin", AudienceA, [], "erin@agency-a.gov"));
        (await erin.Get($"/api/tenants/{a}/organisations/{root}")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found"); // no grants yet
        var listed = (await scim.Get($"{scimBase}/Users?filter=" + Uri.EscapeDataString("userName eq \"erin\""))).ShouldBe(HttpStatusCode.OK);
        listed.Json.GetProperty("totalResults").GetInt32().ShouldBe(1);
        var erinId = listed.Json.GetProperty("Resources")[0].GetProperty("id").GetString();
        listed.Json.GetProperty("Resources")[0].GetProperty("emails")[0].GetProperty("value").GetString().ShouldBe("erin@agency-a.gov");

        // The directory puts her in a group that holds a role at the root: her token (no groups claim) now carries it.
        var roles = (await TenantAdminOf(a).Get($"/api/tenants/{a}/roles")).Json.GetProperty("items");
        var reader = roles.EnumerateArray().First(r => r.GetProperty("permissions").EnumerateArray().Any(p => p.GetString() is "org.read" or "org.manage")).GetProperty("name").GetString();
        (await TenantAdminOf(a).Post($"/api/tenants/{a}/organisations/{root}/grants", new { principal = new { kind = "group", id = "Analysts" }, role = reader }))
            .ShouldBe(HttpStatusCode.Created);
        (await scim.Post($"{scimBase}/Groups", new { schemas = new[] { "urn:ietf:params:scim:schemas:core:2.0:Group" }, displayName = "Analysts",
            members = new[] { new { value = erinId } } })).ShouldBe(HttpStatusCode.Created);
        (await erin.Get($"/api/tenants/{a}/organisations/{root}")).ShouldBe(HttpStatusCode.OK);

        // Deprovisioned in the directory: her still-valid token stops working at once.
        (await scim.Patch($"{scimBase}/Users/{erinId}", new { schemas = new[] { "urn:ietf:params:scim:api:messages:2.0:PatchOp" },
            Operations = new[] { new { op = "replace", path = "active", value = (object)false } } })).ShouldBe(HttpStatusCode.OK);
        (await erin.Get($"/api/tenants/{a}/organisations/{root}")).ShouldBe(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task an_e_mail_address_the_provider_did_not_verify_gets_nothing_of_the_directorys_person_with_that_address()
    {
        var (a, _, idpA, _) = await TwoFederatedTenants();
        var root = await RootOf(a);
        var scimAccount = (await TenantAdminOf(a).Post($"/api/tenants/{a}/service-accounts", new { name = "directory", scopes = new[] { "scim.provision" } }))
            .ShouldBe(HttpStatusCode.Created);
        var scim = Fixture.Client(scimAccount.Str("scimToken"));
        var scimBase = $"/api/tenants/{a}/scim/v2";
        const string userUrn = "urn:ietf:params:scim:schemas:core:2.0:User";
        // The directory knows people by their addresses: alice is an analyst (her group holds a role at the root); dora left.
        var aliceId = (await scim.Post($"{scimBase}/Users", new { schemas = new[] { userUrn }, userName = "alice@agency-a.gov", active = true }))
            .ShouldBe(HttpStatusCode.Created).Str("id");
        (await scim.Post($"{scimBase}/Users", new { schemas = new[] { userUrn }, userName = "dora@agency-a.gov", active = false }))
            .ShouldBe(HttpStatusCode.Created);
        var roles = (await TenantAdminOf(a).Get($"/api/tenants/{a}/roles")).Json.GetProperty("items");
        var reader = roles.EnumerateArray().First(r => r.GetProperty("permissions").EnumerateArray().Any(p => p.GetString() is "org.read" or "org.manage")).GetProperty("name").GetString();
        (await TenantAdminOf(a).Post($"/api/tenants/{a}/organisations/{root}/grants", new { principal = new { kind = "group", id = "Analysts" }, role = reader }))
            .ShouldBe(HttpStatusCode.Created);
        (await scim.Post($"{scimBase}/Groups", new { schemas = new[] { "urn:ietf:params:scim:schemas:core:2.0:Group" }, displayName = "Analysts",
            members = new[] { new { value = aliceId } } })).ShouldBe(HttpStatusCode.Created);

        async Task<HttpClient> SignIn(string subject, string email, bool? verified)
        {
            var claims = new Dictionary<string, object?> { ["sub"] = subject, ["aud"] = AudienceA, ["email"] = email, ["name"] = subject };
            if (verified is { } v) claims["email_verified"] = v;
            return Fixture.Client(await idpA.TokenAsync(claims));
        }

        // Mallory types alice's address into her profile at the provider: unverified (false, or not said), it is not alice.
        (await (await SignIn("mallory", "alice@agency-a.gov", false)).Get($"/api/tenants/{a}/organisations/{root}"))
            .ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await (await SignIn("mallory-2", "alice@agency-a.gov", null)).Get($"/api/tenants/{a}/organisations/{root}"))
            .ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        // Nor is she dora: dora's record decides nothing about her (she is herself, a new person without grants).
        (await (await SignIn("mallory-3", "dora@agency-a.gov", false)).Get($"/api/tenants/{a}/organisations/{root}"))
            .ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        // Each got a record of her own; alice's and dora's are as they were.
        foreach (var subject in new[] { "mallory", "mallory-2", "mallory-3" })
            (await scim.Get($"{scimBase}/Users?filter=" + Uri.EscapeDataString($"userName eq \"{subject}\""))).ShouldBe(HttpStatusCode.OK)
                .Json.GetProperty("totalResults").GetInt32().ShouldBe(1);
        var alice = (await scim.Get($"{scimBase}/Users/{aliceId}")).ShouldBe(HttpStatusCode.OK);
        alice.Str("userName").ShouldBe("alice@agency-a.gov");
        alice.Json.TryGetProperty("externalId", out _).ShouldBeFalse();

        // Alice herself, whose address the provider verified, is matched to her record and reads as an analyst.
        (await (await SignIn("alice-at-the-provider", "alice@agency-a.gov", true)).Get($"/api/tenants/{a}/organisations/{root}"))
            .ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task mapping_rules_make_group_members_members_of_organisations_with_roles_there_and_removing_a_rule_revokes_it()
    {
        var (a, _, idpA, _) = await TwoFederatedTenants();
        var root = await RootOf(a);
        var unit = Guid.Parse((await TenantAdminOf(a).Post($"/api/tenants/{a}/organisations", new { parentId = root, name = "Homicide", kind = "unit" }))
            .ShouldBe(HttpStatusCode.Created).Str("id"));
        var roles = (await TenantAdminOf(a).Get($"/api/tenants/{a}/roles")).Json.GetProperty("items");
        var manager = roles.EnumerateArray().First(r => r.GetProperty("permissions").EnumerateArray().Any(p => p.GetString() == "org.manage")).GetProperty("name").GetString();
        object Settings(params object[] mappings) => new { issuer = idpA.Issuer, audience = AudienceA, adminGroups = new[] { "it-admins" }, groupMappings = mappings };

        (await TenantAdminOf(a).Put($"/api/tenants/{a}/identity-provider", Settings(new { group = "homicide", organisationId = Guid.CreateVersion7() })))
            .ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await TenantAdminOf(a).Put($"/api/tenants/{a}/identity-provider", Settings(new { group = "homicide", organisationId = unit, role = "no-such-role" })))
            .ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        // A stale If-Match changes nothing, grants included.
        (await TenantAdminOf(a).Put($"/api/tenants/{a}/identity-provider", Settings(new { group = "homicide", organisationId = unit, role = manager }),
            new Dictionary<string, string> { ["If-Match"] = "\"9\"" })).ShouldBeProblem(HttpStatusCode.PreconditionFailed, "stale-version");
        (await TenantAdminOf(a).Get($"/api/tenants/{a}/organisations/{unit}/grants")).Body.ShouldNotContain("homicide");
        (await TenantAdminOf(a).Put($"/api/tenants/{a}/identity-provider", Settings(new { group = "homicide", organisationId = unit, role = manager })))
            .ShouldBe(HttpStatusCode.OK);
        var grants = (await TenantAdminOf(a).Get($"/api/tenants/{a}/organisations/{unit}/grants")).ShouldBe(HttpStatusCode.OK).Body;
        grants.ShouldContain("homicide");

        var detective = Fixture.Client(await idpA.UserTokenAsync("gina", AudienceA, ["homicide"]));
        (await detective.Post($"/api/tenants/{a}/organisations", new { parentId = unit, name = "Cold cases", kind = "team" })).ShouldBe(HttpStatusCode.Created);
        (await TenantAdminOf(a).Get($"/api/tenants/{a}/organisations/{unit}/members")).Body.ShouldContain("gina");

        // The rule goes: so does its grant (the membership stays; the directory or an administrator removes people).
        (await TenantAdminOf(a).Put($"/api/tenants/{a}/identity-provider", Settings())).ShouldBe(HttpStatusCode.OK);
        (await TenantAdminOf(a).Get($"/api/tenants/{a}/organisations/{unit}/grants")).Body.ShouldNotContain("homicide");
        (await detective.Post($"/api/tenants/{a}/organisations", new { parentId = unit, name = "Warm cases", kind = "team" }))
            .Status.ShouldBeOneOf(HttpStatusCode.Forbidden, HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task e_mail_domains_can_be_restricted()
    {
        var a = await Active("agency-a");
        var idp = await Fixture.IdentityProvider(0);
        (await TenantAdminOf(a).Put($"/api/tenants/{a}/identity-provider",
            new { issuer = idp.Issuer, audience = AudienceA, adminGroups = new[] { "it-admins" }, allowedEmailDomains = new[] { "agency-a.gov" } }))
            .ShouldBe(HttpStatusCode.OK);
        (await Fixture.Client(await idp.UserTokenAsync("carol", AudienceA, ["it-admins"], "carol@agency-a.gov")).Get($"/api/tenants/{a}"))
            .ShouldBe(HttpStatusCode.OK);
        (await Fixture.Client(await idp.UserTokenAsync("carol", AudienceA, ["it-admins"], "carol@elsewhere.com")).Get($"/api/tenants/{a}"))
            .ShouldBe(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task the_providers_own_token_endpoint_issues_tokens_we_accept()
    {
        var (a, _, idpA, _) = await TwoFederatedTenants();
        using var http = new HttpClient();
        var response = await http.PostAsync(idpA.Issuer + "/token", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "client_credentials", ["client_id"] = "reporting-job", ["audience"] = AudienceA, ["subject"] = "reporting-job",
        }));
        response.EnsureSuccessStatusCode();
        var token = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("access_token").GetString()!;
        // A member with no grants: authenticated, sees nothing.
        (await Fixture.Client(token).Get($"/api/tenants/{a}/organisations/{await RootOf(a)}")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await Fixture.Client(token).Get($"/api/tenants/{a}/service-accounts")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await Fixture.Client(token).Get($"/api/tenants/{Guid.CreateVersion7()}/organisations")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
    }

    [Fact]
    public async Task configuring_a_provider_is_validated_and_an_issuer_serves_one_tenant()
    {
        var a = await Active("agency-a");
        var b = await Active("agency-b");
        var idp = await Fixture.IdentityProvider(0);
        (await TenantAdminOf(a).Put($"/api/tenants/{a}/identity-provider", new { issuer = idp.Issuer, audience = AudienceA, algorithms = new[] { "HS256" } }))
            .ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await TenantAdminOf(a).Put($"/api/tenants/{a}/identity-provider", new { issuer = "not a url", audience = "" }))
            .ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed").Json.GetProperty("errors").GetArrayLength().ShouldBe(2);
        (await TenantAdminOf(a).Put($"/api/tenants/{a}/identity-provider", new { issuer = "http://127.0.0.1:9", audience = AudienceA }))
            .ShouldBeProblem((HttpStatusCode)422, "identity-provider-unreachable");
        (await TenantAdminOf(a).Get($"/api/tenants/{a}/identity-provider")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");

        var configured = (await TenantAdminOf(a).Put($"/api/tenants/{a}/identity-provider", new { issuer = idp.Issuer, audience = AudienceA }))
            .ShouldBe(HttpStatusCode.OK);
        configured.Json.GetProperty("settings").GetProperty("algorithms").EnumerateArray().Select(x => x.GetString()).ShouldBe(["RS256", "ES256"]);
        (await TenantAdminOf(b).Put($"/api/tenants/{b}/identity-provider", new { issuer = idp.Issuer, audience = AudienceB }))
            .ShouldBeProblem(HttpStatusCode.Conflict, "issuer-taken");
        (await TenantAdminOf(b).Get($"/api/tenants/{a}/identity-provider")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await TenantAdminOf(b).Put($"/api/tenants/{a}/identity-provider", new { issuer = idp.Issuer, audience = AudienceB }))
            .ShouldBeProblem(HttpStatusCode.NotFound, "not-found");

        // Removed: its tokens stop at once.
        var token = Fixture.Client(await idp.UserTokenAsync("carol", AudienceA));
        (await token.Get($"/api/tenants/{a}/organisations")).Status.ShouldNotBe(HttpStatusCode.Unauthorized);
        (await TenantAdminOf(a).Delete($"/api/tenants/{a}/identity-provider")).ShouldBe(HttpStatusCode.NoContent);
        (await token.Get($"/api/tenants/{a}/organisations")).ShouldBe(HttpStatusCode.Unauthorized);
        // The issuer is free again.
        (await TenantAdminOf(b).Put($"/api/tenants/{b}/identity-provider", new { issuer = idp.Issuer, audience = AudienceB })).ShouldBe(HttpStatusCode.OK);
    }
}
