using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using Microsoft.IdentityModel.Tokens;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Tests.Support;

namespace TenantEvents.Tests.Tenants;

/// <summary>Who may call what: 401 without a valid token, 403 for the wrong role, 404 for another tenant's data.</summary>
public class TenantAccessTests(AppFixture fixture) : IntegrationTest(fixture)
{
    private static readonly string[] OrgReaders = [Roles.PlatformAdmin, Roles.PlatformApprover, Roles.Auditor, Roles.Analyst, Roles.TenantAdmin, Roles.TenantMember];
    private static readonly string[] OrgWriters = [Roles.PlatformAdmin, Roles.TenantAdmin, Roles.TenantMember];

    /// <summary>Every tenant endpoint, with a body that would be valid, and the roles it accepts.</summary>
    public static readonly (HttpMethod Method, string Path, object? Body, string[] Roles)[] Endpoints =
    [
        (HttpMethod.Get, "/api/tenants/{id}", null, [Roles.PlatformAdmin, Roles.PlatformApprover, Roles.Auditor, Roles.Analyst, Roles.TenantAdmin, Roles.TenantMember]),
        (HttpMethod.Get, "/api/tenants/{id}/events", null, [Roles.PlatformAdmin, Roles.Auditor, Roles.TenantAdmin, Roles.TenantMember]),
        (HttpMethod.Post, "/api/tenants/{id}/approve", new { comment = "ok" }, [Roles.PlatformApprover]),
        (HttpMethod.Post, "/api/tenants/{id}/reject", new { reason = "no" }, [Roles.PlatformApprover]),
        (HttpMethod.Post, "/api/tenants/{id}/provision", null, [Roles.PlatformAdmin]),
        (HttpMethod.Post, "/api/tenants/{id}/suspend", new { reason = "x" }, [Roles.PlatformAdmin]),
        (HttpMethod.Post, "/api/tenants/{id}/reactivate", null, [Roles.PlatformAdmin]),
        (HttpMethod.Put, "/api/tenants/{id}/name", new { name = "Stolen" }, [Roles.PlatformAdmin, Roles.TenantAdmin, Roles.TenantMember]),
        (HttpMethod.Patch, "/api/tenants/{id}/settings", new { auditRetentionDays = 31 }, [Roles.PlatformAdmin]),
        (HttpMethod.Post, "/api/tenants/{id}/decommission", new { reason = "x" }, [Roles.PlatformAdmin, Roles.TenantAdmin]),
        (HttpMethod.Post, "/api/tenants/{id}/decommission/approve", null, [Roles.PlatformApprover]),
        (HttpMethod.Post, "/api/tenants/{id}/decommission/cancel", new { reason = "x" }, [Roles.PlatformAdmin, Roles.PlatformApprover]),
        (HttpMethod.Post, "/api/tenants/{id}/decommission/complete", null, [Roles.PlatformAdmin]),
        (HttpMethod.Post, "/api/tenants/{id}/legal-holds", new { reference = "R", reason = "x" }, [Roles.PlatformAdmin]),
        (HttpMethod.Post, "/api/tenants/{id}/legal-holds/{hold}/lift", new { reason = "x" }, [Roles.PlatformAdmin]),
        (HttpMethod.Post, "/api/tenants/{id}/keys/rotate", new { key = "data" }, [Roles.PlatformAdmin]),
        (HttpMethod.Get, "/api/tenants/{id}/export", null, [Roles.PlatformAdmin, Roles.TenantAdmin]),
        (HttpMethod.Post, "/api/tenants/{id}/contacts/{hold}/erase", null, [Roles.PlatformAdmin, Roles.TenantAdmin]),
        (HttpMethod.Put, "/api/tenants/{id}/contacts", new { contacts = new[] { new { name = "Mallory", email = "mallory@evil.example.com" } } },
            [Roles.PlatformAdmin, Roles.TenantAdmin, Roles.TenantMember]),
        (HttpMethod.Post, "/api/tenants/{id}/access/repair", new { reason = "x" }, [Roles.PlatformAdmin]),
        // Domains (Domains/): identity.manage at the root for members.
        (HttpMethod.Get, "/api/tenants/{id}/domains", null, OrgWriters),
        (HttpMethod.Post, "/api/tenants/{id}/domains", new { subdomain = "stolen" }, OrgWriters),
        // Organisations and access (Organisations/): who gets through the role check; the tree then decides.
        (HttpMethod.Get, "/api/tenants/{id}/organisations", null, OrgReaders),
        (HttpMethod.Post, "/api/tenants/{id}/organisations", new { parentId = "{org}", name = "Stolen Unit", kind = "unit" }, OrgWriters),
        (HttpMethod.Get, "/api/tenants/{id}/organisations/{org}", null, OrgReaders),
        (HttpMethod.Get, "/api/tenants/{id}/organisations/{org}/children", null, OrgReaders),
        (HttpMethod.Get, "/api/tenants/{id}/organisations/{org}/descendants", null, OrgReaders),
        (HttpMethod.Get, "/api/tenants/{id}/organisations/{org}/ancestors", null, OrgReaders),
        (HttpMethod.Put, "/api/tenants/{id}/organisations/{org}/name", new { name = "Stolen" }, OrgWriters),
        (HttpMethod.Put, "/api/tenants/{id}/organisations/{org}/attributes", new { kind = "unit" }, OrgWriters),
        (HttpMethod.Post, "/api/tenants/{id}/organisations/{org}/move", new { parentId = "{org}" }, OrgWriters),
        (HttpMethod.Post, "/api/tenants/{id}/organisations/{org}/close", new { subtree = true }, OrgWriters),
        (HttpMethod.Get, "/api/tenants/{id}/organisations/{org}/grants", null, OrgReaders),
        (HttpMethod.Post, "/api/tenants/{id}/organisations/{org}/grants", new { principal = new { kind = "user", id = "mallory" }, role = "agency-admin" }, OrgWriters),
        (HttpMethod.Delete, "/api/tenants/{id}/organisations/{org}/grants/{hold}", null, OrgWriters),
        (HttpMethod.Post, "/api/tenants/{id}/organisations/batch", new { organisations = new[] { new { id = "{hold}", parentId = "{org}", name = "Stolen", kind = "unit" } } }, OrgWriters),
        (HttpMethod.Post, "/api/tenants/{id}/grants/batch", new { grants = new[] { new { organisationId = "{org}", principal = new { kind = "user", id = "mallory" }, role = "officer" } } }, OrgWriters),
        (HttpMethod.Get, "/api/tenants/{id}/organisations/{org}/policies", null, OrgReaders),
        (HttpMethod.Put, "/api/tenants/{id}/organisations/{org}/policies/feature.case-files", new { mode = "locked", value = false }, OrgWriters),
        (HttpMethod.Delete, "/api/tenants/{id}/organisations/{org}/policies/feature.case-files", null, OrgWriters),
        (HttpMethod.Get, "/api/tenants/{id}/organisations/{org}/members", null, OrgReaders),
        (HttpMethod.Post, "/api/tenants/{id}/organisations/{org}/members", new { userId = "mallory" }, OrgWriters),
        (HttpMethod.Delete, "/api/tenants/{id}/organisations/{org}/members/mallory", null, OrgWriters),
        (HttpMethod.Post, "/api/tenants/{id}/members/mallory/move", new { fromOrganisationId = "{org}", toOrganisationId = "{hold}" }, OrgWriters),
        (HttpMethod.Get, "/api/tenants/{id}/members/mallory/organisations", null, OrgReaders),
        (HttpMethod.Get, "/api/tenants/{id}/roles", null, OrgReaders),
        (HttpMethod.Put, "/api/tenants/{id}/roles/stolen", new { permissions = new[] { "case.read" } }, OrgWriters),
        (HttpMethod.Delete, "/api/tenants/{id}/roles/officer", null, OrgWriters),
        (HttpMethod.Get, "/api/tenants/{id}/access/explain?principal=user:mallory&permission=case.read&organisationId={org}", null, OrgReaders),
        (HttpMethod.Post, "/api/tenants/{id}/access/check", new { checks = new[] { new { principal = "user:mallory", permission = "case.read", organisationId = "{org}" } } }, OrgReaders),
        (HttpMethod.Get, "/api/tenants/{id}/access/organisations?principal=user:mallory&permission=case.read", null, OrgReaders),
    ];

    /// <summary>The body with "{org}" replaced by the organisation id (the bodies above name it as a placeholder).</summary>
    private static object? Body(object? body, Guid org) => body is null ? null
        : System.Text.Json.JsonSerializer.Deserialize<System.Text.Json.JsonElement>(
            System.Text.Json.JsonSerializer.Serialize(body).Replace("{org}", org.ToString()).Replace("{hold}", Guid.CreateVersion7().ToString()));

    private static string Url(string path, Guid id, Guid? org = null) =>
        path.Replace("{id}", id.ToString()).Replace("{hold}", Guid.NewGuid().ToString()).Replace("{org}", (org ?? Guid.NewGuid()).ToString());


    [Fact]
    public async Task without_a_token_every_endpoint_answers_401_as_problem_json()
    {
        var id = await Active();
        var anonymous = Fixture.Client();
        foreach (var (method, path, body, _) in Endpoints.Append((HttpMethod.Post, "/api/tenants", TenantRequest("x-y-z"), [])).Append((HttpMethod.Get, "/api/tenants", null, [])).Append((HttpMethod.Get, "/api/templates", null, [])))
        {
            var reply = (await anonymous.Send(method, Url(path, id), body)).ShouldBeProblem(HttpStatusCode.Unauthorized, "unauthenticated");
            reply.Headers.WwwAuthenticate.ToString().ShouldStartWith("Bearer");
        }
        (await EventCount(id)).ShouldBe(3);
    }

    public static IEnumerable<object[]> BadTokens()
    {
        yield return ["garbage"];
        yield return ["eyJhbGciOiJub25lIn0.eyJzdWIiOiJldmUiLCJyb2xlIjpbInBsYXRmb3JtLWFkbWluIl19."]; // alg: none
        yield return ["signed by another key"];
        yield return ["expired"];
        yield return ["wrong audience"];
        yield return ["tampered payload"];
    }

    [Theory]
    [MemberData(nameof(BadTokens))]
    public async Task a_token_that_is_not_ours_or_not_valid_now_is_a_401(string kind)
    {
        var now = DateTime.UtcNow;
        var other = new ECDsaSecurityKey(ECDsa.Create(ECCurve.NamedCurves.nistP256)) { KeyId = Fixture.TokenKey.KeyId };
        string Sign(ECDsaSecurityKey key, DateTime issued, TimeSpan life) => DevTokens.Issue(key, "eve", [Roles.PlatformAdmin], null, life, issued);
        var token = kind switch
        {
            "signed by another key" => Sign(other, now, TimeSpan.FromMinutes(5)),
            "expired" => Sign(Fixture.TokenKey, now.AddHours(-2), TimeSpan.FromMinutes(5)),
            "wrong audience" => new Microsoft.IdentityModel.JsonWebTokens.JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
            {
                Issuer = DevTokens.Issuer, Audience = "someone-else", Expires = now.AddMinutes(5),
                Claims = new Dictionary<string, object> { ["sub"] = "eve", ["role"] = new[] { Roles.PlatformAdmin } },
                SigningCredentials = new SigningCredentials(Fixture.TokenKey, SecurityAlgorithms.EcdsaSha256),
            }),
            "tampered payload" => Tamper(Fixture.Token(Roles.Analyst, "eve")),
            _ => kind,
        };
        var client = Fixture.Client();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        (await client.Post("/api/tenants", TenantRequest())).ShouldBeProblem(HttpStatusCode.Unauthorized, "unauthenticated");
        (await EventCount()).ShouldBe(0);
    }

    /// <summary>Swaps the payload for one that claims platform-admin, keeping the analyst's signature.</summary>
    private static string Tamper(string token)
    {
        var parts = token.Split('.');
        var payload = System.Text.Encoding.UTF8.GetString(Base64UrlEncoder.DecodeBytes(parts[1])).Replace("\"analyst\"", "\"platform-admin\"");
        return $"{parts[0]}.{Base64UrlEncoder.Encode(payload)}.{parts[2]}";
    }

    [Fact]
    public async Task a_role_not_named_by_an_endpoint_gets_403_and_changes_nothing()
    {
        var id = await Active();
        var root = await RootOf(id);
        var before = await EventCount();
        foreach (var (method, path, body, allowed) in Endpoints)
        foreach (var role in Roles.All.Except(allowed))
        {
            // On its own tenant, a tenant administrator or member refused by role gets a plain 403.
            var client = role is Roles.TenantAdmin or Roles.TenantMember ? As(role, "someone", id) : As(role);
            (await client.Send(method, Url(path, id, root), Body(body, root))).ShouldBeProblem(HttpStatusCode.Forbidden, "forbidden");
        }
        foreach (var role in Roles.All.Except([Roles.PlatformAdmin]))
            (await As(role, tenant: role is Roles.TenantAdmin or Roles.TenantMember ? id : null).Post("/api/tenants", TenantRequest("another-one")))
                .ShouldBeProblem(HttpStatusCode.Forbidden, "forbidden");
        (await EventCount()).ShouldBe(before);
    }

    [Fact]
    public async Task another_tenants_administrator_gets_404_on_every_endpoint_and_learns_nothing()
    {
        var victim = await Active("victim-agency");
        var attacker = await Active("attacker-agency");
        var victimRoot = await RootOf(victim);
        var victimRead = await Read(victim);
        var victimTree = (await Admin.Get($"/api/tenants/{victim}/organisations")).ShouldBe(HttpStatusCode.OK).Body;
        var before = await EventCount();

        // Every tenant endpoint, including those a tenant administrator may never call, with the victim's own tenant and
        // organisation ids, from the attacker's administrator and from its members: 404, as for a missing id.
        foreach (var client in new[] { TenantAdminOf(attacker), As(Roles.TenantMember, "mallory", attacker) })
        foreach (var (method, path, body, allowed) in Endpoints)
        {
            var reply = (await client.Send(method, Url(path, victim, victimRoot), Body(body, victimRoot))).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
            reply.Body.ShouldNotContain("victim");
            reply.Body.ShouldNotContain("Travis");
            // The same answer as for an id that does not exist at all: no hint of existence.
            var missing = (await client.Send(method, Url(path, Guid.CreateVersion7()), Body(body, Guid.CreateVersion7()))).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
            reply.Json.GetProperty("detail").GetString().ShouldBe(missing.Json.GetProperty("detail").GetString());
        }
        (await Read(victim)).Body.ShouldBe(victimRead.Body);
        (await Admin.Get($"/api/tenants/{victim}/organisations")).Body.ShouldBe(victimTree);
        (await EventCount()).ShouldBe(before);

        var attackerAdmin = TenantAdminOf(attacker);
        var list = (await attackerAdmin.Get("/api/tenants")).ShouldBe(HttpStatusCode.OK);
        list.Json.GetProperty("items").EnumerateArray().Select(t => t.GetProperty("id").GetGuid()).ShouldBe([attacker]);
        (await attackerAdmin.Get("/api/tenants?state=active&cursor=" + Guid.Empty)).Json.GetProperty("items").GetArrayLength().ShouldBe(1);
    }

    [Fact]
    public async Task a_tenant_administrator_manages_its_own_tenant_within_its_role()
    {
        var id = await Active();
        var own = TenantAdminOf(id);
        (await own.Get($"/api/tenants/{id}")).ShouldBe(HttpStatusCode.OK);
        (await own.Send(HttpMethod.Put, $"/api/tenants/{id}/name", new { name = "Our new name" })).ShouldBe(HttpStatusCode.OK)
            .Json.GetProperty("lastChangedBy").GetProperty("tenantId").GetGuid().ShouldBe(id);
        (await own.Send(HttpMethod.Patch, $"/api/tenants/{id}/settings", new { quotas = new { licences = 100000 } }))
            .ShouldBeProblem(HttpStatusCode.Forbidden, "forbidden");
        (await own.Post($"/api/tenants/{id}/decommission", new { reason = "we are merging" })).ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task a_tenant_member_reaches_the_tenant_itself_only_through_grants_at_its_root()
    {
        var id = await Active();
        var root = await RootOf(id);
        var admin = TenantAdminOf(id);
        var member = As(Roles.TenantMember, "rhea", id);
        // No grant: the tenant does not exist for her.
        (await member.Get($"/api/tenants/{id}")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await member.Get($"/api/tenants/{id}/events")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        // A grant below the root is not enough either.
        var unit = (await admin.Post($"/api/tenants/{id}/organisations", new { parentId = root, name = "Unit", kind = "unit" })).Json.GetProperty("id").GetGuid();
        (await admin.Post($"/api/tenants/{id}/organisations/{unit}/grants", new { principal = new { kind = "user", id = "rhea" }, role = "agency-admin" })).ShouldBe(HttpStatusCode.Created);
        (await member.Get($"/api/tenants/{id}")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        // records-clerk at the root: she sees the trail; agency-admin at the root: she reads and renames the tenant.
        (await admin.Post($"/api/tenants/{id}/organisations/{root}/grants", new { principal = new { kind = "user", id = "rhea" }, role = "records-clerk" })).ShouldBe(HttpStatusCode.Created);
        (await member.Get($"/api/tenants/{id}/events")).ShouldBe(HttpStatusCode.OK);
        // The tenant exists for her now (she holds powers at its root); reading its record needs org.read there.
        (await member.Get($"/api/tenants/{id}")).ShouldBeProblem(HttpStatusCode.Forbidden, "forbidden");
        (await admin.Post($"/api/tenants/{id}/organisations/{root}/grants", new { principal = new { kind = "user", id = "rhea" }, role = "agency-admin" })).ShouldBe(HttpStatusCode.Created);
        (await member.Get($"/api/tenants/{id}")).ShouldBe(HttpStatusCode.OK);
        (await member.Send(HttpMethod.Put, $"/api/tenants/{id}/name", new { name = "Renamed by Rhea" })).ShouldBe(HttpStatusCode.OK);
        // Decommissioning stays with the tenant's administrators.
        (await member.Post($"/api/tenants/{id}/decommission", new { reason = "x" })).ShouldBeProblem(HttpStatusCode.Forbidden, "forbidden");
    }

    [Fact]
    public async Task an_unroutable_tenant_id_is_a_404_problem()
    {
        (await Approver.Post("/api/tenants/not-a-uuid/approve")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await Admin.Get($"/api/tenants/{Guid.CreateVersion7()}")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
    }
}
