using System.Net;
using System.Net.Http.Headers;
using System.Text;
using TenantEvents.Identity;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Tests.Sharing;
using TenantEvents.Tests.Support;

namespace TenantEvents.Tests.Organisations;

/// <summary>
/// Who may confer which power, from the attacker's side: a member holding one managing permission tries every path that
/// confers power beyond it. And what access/explain says a member holds is what enforcement lets it do.
/// </summary>
public class GrantorBoundTests(AppFixture fixture) : SharingScenario(fixture)
{
    private const string Beyond = "beyond-your-own";


    private static object Principal(string principal) => new { kind = principal.Split(':')[0], id = principal.Split(':')[1] };

    private static async Task GrantAs(HttpClient client, Guid tenant, Guid org, string principal, string role) =>
        (await client.Post($"/api/tenants/{tenant}/organisations/{org}/grants", new { principal = Principal(principal), role })).ShouldBe(HttpStatusCode.Created);

    [Fact]
    public async Task what_explain_allows_a_security_officer_enforcement_allows_too()
    {
        var tenant = await Active("fusion-centre", template: "intelligence", subdivision: "US-VA");
        var root = await RootOf(tenant);
        var admin = TenantAdminOf(tenant);
        await GrantAs(admin, tenant, root, "user:olga", "security-officer");

        var explained = (await admin.Get($"/api/tenants/{tenant}/access/explain?principal=user:olga&permission=audit.read&organisationId={root}"))
            .ShouldBe(HttpStatusCode.OK).Json;
        explained.GetProperty("allowed").GetBoolean().ShouldBeTrue();

        var olga = Member(tenant, "olga");
        (await olga.Get($"/api/tenants/{tenant}/audit/entries")).ShouldBe(HttpStatusCode.OK);
        (await olga.Get($"/api/tenants/{tenant}/events")).ShouldBe(HttpStatusCode.OK);
        // She asks about herself and is told the same.
        (await olga.Get($"/api/tenants/{tenant}/access/explain?principal=user:olga&permission=audit.read&organisationId={root}"))
            .ShouldBe(HttpStatusCode.OK).Json.GetProperty("allowed").GetBoolean().ShouldBeTrue();
        // The tenant exists for her (she holds a power in it); its record (contacts, holds, placement) needs org.read,
        // which explain says she does not hold, and enforcement agrees: 403 naming it, not a 404.
        (await olga.Get($"/api/tenants/{tenant}/access/explain?principal=user:olga&permission=org.read&organisationId={root}"))
            .ShouldBe(HttpStatusCode.OK).Json.GetProperty("allowed").GetBoolean().ShouldBeFalse();
        (await olga.Get($"/api/tenants/{tenant}")).ShouldBeProblem(HttpStatusCode.Forbidden, "forbidden")
            .Json.GetProperty("permission").GetString().ShouldBe("org.read");
        (await admin.Put($"/api/tenants/{tenant}/roles/tree-reader", new { permissions = new[] { "org.read" } })).ShouldBe(HttpStatusCode.OK);
        await GrantAs(admin, tenant, root, "user:olga", "tree-reader");
        (await olga.Get($"/api/tenants/{tenant}")).ShouldBe(HttpStatusCode.OK);
        // What explain denies, enforcement denies: she holds no case.write, and no org.manage.
        (await olga.Get($"/api/tenants/{tenant}/access/explain?principal=user:olga&permission=org.manage&organisationId={root}"))
            .ShouldBe(HttpStatusCode.OK).Json.GetProperty("allowed").GetBoolean().ShouldBeFalse();
        (await olga.Post($"/api/tenants/{tenant}/organisations", new { parentId = root, name = "Shadow", kind = "unit" }))
            .ShouldBeProblem(HttpStatusCode.Forbidden, "forbidden");
        // Someone holding nothing in the tenant still learns nothing of it.
        (await Member(tenant, "nobody").Get($"/api/tenants/{tenant}")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await Member(tenant, "nobody").Get($"/api/tenants/{tenant}/audit/entries")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
    }

    /// <summary>A member holding exactly these permissions at the root (through a role defined for the test).</summary>
    private async Task<HttpClient> Holding(Guid tenant, string subject, params string[] permissions)
    {
        var admin = TenantAdminOf(tenant);
        var role = subject + "-role";
        (await admin.Put($"/api/tenants/{tenant}/roles/{role}", new { permissions })).ShouldBe(HttpStatusCode.OK);
        await GrantAs(admin, tenant, await RootOf(tenant), "user:" + subject, role);
        return Member(tenant, subject);
    }

    [Fact]
    public async Task a_role_manager_cannot_redefine_a_role_with_more_than_it_holds()
    {
        var tenant = await Active();
        var rory = await Holding(tenant, "rory", "role.manage");
        var url = $"/api/tenants/{tenant}/roles/rory-role";

        // Her own role, widened to the tree's management: refused, and the role is as it was.
        (await rory.Put(url, new { permissions = new[] { "role.manage", "org.manage" } })).ShouldBeProblem(HttpStatusCode.Forbidden, Beyond)
            .Json.GetProperty("permissions").EnumerateArray().Select(p => p.GetString()).ShouldBe(["org.manage"]);
        // Nor a new role, nor another granted role, with what she does not hold.
        (await rory.Put($"/api/tenants/{tenant}/roles/everything", new { permissions = new[] { "identity.manage" } })).ShouldBeProblem(HttpStatusCode.Forbidden, Beyond);
        (await rory.Put($"/api/tenants/{tenant}/roles/officer", new { permissions = new[] { "case.read", "case.comment", "audit.read" } }))
            .ShouldBeProblem(HttpStatusCode.Forbidden, Beyond);
        var roles = (await TenantAdminOf(tenant).Get($"/api/tenants/{tenant}/roles")).ShouldBe(HttpStatusCode.OK).Json.GetProperty("items").EnumerateArray().ToList();
        roles.Single(r => r.GetProperty("name").GetString() == "rory-role").GetProperty("permissions").EnumerateArray().Select(p => p.GetString()).ShouldBe(["role.manage"]);
        roles.ShouldNotContain(r => r.GetProperty("name").GetString() == "everything");
        // What she holds (role.manage brings org.read) she may put in a role; taking permissions away confers nothing.
        (await rory.Put($"/api/tenants/{tenant}/roles/tree-reader", new { permissions = new[] { "org.read" } })).ShouldBe(HttpStatusCode.OK);
        (await rory.Put($"/api/tenants/{tenant}/roles/officer", new { permissions = new[] { "case.read" } })).ShouldBe(HttpStatusCode.OK);
        // The tenant's administrator holds everything.
        (await TenantAdminOf(tenant).Put(url, new { permissions = new[] { "role.manage", "org.manage" } })).ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task a_member_manager_grants_within_its_own_permissions_one_at_a_time_and_in_batches()
    {
        var tenant = await Active();
        var root = await RootOf(tenant);
        var mia = await Holding(tenant, "mia", "member.manage");
        (await mia.Post($"/api/tenants/{tenant}/organisations/{root}/grants", new { principal = Principal("user:mia"), role = "agency-admin" }))
            .ShouldBeProblem(HttpStatusCode.Forbidden, Beyond);
        (await mia.Post($"/api/tenants/{tenant}/grants/batch", new { grants = new[] { new { organisationId = root, principal = Principal("user:mia"), role = "officer" } } }))
            .ShouldBeProblem(HttpStatusCode.Forbidden, Beyond);
        await GrantAs(mia, tenant, root, "user:ned", "mia-role");
    }

    [Fact]
    public async Task an_identity_manager_cannot_make_itself_administrator_through_a_provider_nor_replace_the_tenants_provider()
    {
        var tenant = await Active();
        var real = await Fixture.IdentityProvider(0);
        var rogue = await Fixture.IdentityProvider(1);
        var url = $"/api/tenants/{tenant}/identity-provider";
        (await TenantAdminOf(tenant).Put(url, new { issuer = real.Issuer, audience = "agency", adminGroups = new[] { "it-admins" } })).ShouldBe(HttpStatusCode.OK);
        // identity.manage, and sight of the tree (without it, the old visibility rule hid the endpoint from it).
        var ivan = await Holding(tenant, "ivan", "identity.manage", "org.read");

        // Its own group among the administrators: refused.
        (await ivan.Put(url, new { issuer = real.Issuer, audience = "agency", adminGroups = new[] { "it-admins", "ivans-friends" } }))
            .ShouldBeProblem(HttpStatusCode.Forbidden, Beyond);
        // The tenant's provider replaced by one it runs (whose tokens say who everyone is), or removed to make room: refused.
        (await ivan.Put(url, new { issuer = rogue.Issuer, audience = "agency" })).ShouldBeProblem(HttpStatusCode.Forbidden, Beyond);
        (await ivan.Put(url, new { issuer = real.Issuer, audience = "agency", adminGroups = new[] { "it-admins" }, claims = new { subject = "email" } }))
            .ShouldBeProblem(HttpStatusCode.Forbidden, Beyond);
        (await ivan.Delete(url)).ShouldBeProblem(HttpStatusCode.Forbidden, Beyond);
        var configured = (await TenantAdminOf(tenant).Get(url)).ShouldBe(HttpStatusCode.OK).Json.GetProperty("settings");
        configured.GetProperty("issuer").GetString().ShouldBe(real.Issuer);
        configured.GetProperty("adminGroups").EnumerateArray().Select(g => g.GetString()).ShouldBe(["it-admins"]);
        // A group mapped to a role beyond its own: refused.
        (await ivan.Put(url, new { issuer = real.Issuer, audience = "agency", adminGroups = new[] { "it-admins" },
            groupMappings = new[] { new { group = "ivans-friends", organisationId = await RootOf(tenant), role = "agency-admin" } } }))
            .ShouldBeProblem(HttpStatusCode.Forbidden, Beyond);

        // A provider without administrators is its business: it configures one, and still cannot add administrators to it.
        (await TenantAdminOf(tenant).Delete(url)).ShouldBe(HttpStatusCode.NoContent);
        (await ivan.Put(url, new { issuer = rogue.Issuer, audience = "agency" })).ShouldBe(HttpStatusCode.OK);
        (await ivan.Put(url, new { issuer = rogue.Issuer, audience = "agency", adminGroups = new[] { "ivans-friends" } }))
            .ShouldBeProblem(HttpStatusCode.Forbidden, Beyond);
    }

    private async Task<(Guid Id, string Secret)> Account(Guid tenant, params string[] scopes)
    {
        var reply = (await TenantAdminOf(tenant).Post($"/api/tenants/{tenant}/service-accounts", new { name = "records sync", scopes }))
            .ShouldBe(HttpStatusCode.Created);
        return (Guid.Parse(reply.Str("clientId")), reply.Str("clientSecret"));
    }

    private async Task<HttpClient> TokenOf(Guid client, string secret)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, TokenEndpoint.Path)
        {
            Content = new FormUrlEncodedContent(new Dictionary<string, string> { ["grant_type"] = "client_credentials" }),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{client}:{secret}")));
        using var response = await Fixture.Client().SendAsync(request);
        var reply = new Reply(response.StatusCode, response.Headers, response.Content.Headers, await response.Content.ReadAsStringAsync());
        return Fixture.Client(reply.ShouldBe(HttpStatusCode.OK).Str("access_token"));
    }

    [Fact]
    public async Task an_identity_manager_cannot_take_over_an_account_broader_than_itself()
    {
        var tenant = await Active();
        var (broad, _) = await Account(tenant, "org.manage", "org.read");
        var (narrow, _) = await Account(tenant, "org.read");
        var ivan = await Holding(tenant, "ivan", "identity.manage", "org.read");
        var accounts = $"/api/tenants/{tenant}/service-accounts";

        // A new secret of the broad account would be the broad account's power in its hands; so would reopening it.
        (await ivan.Post($"{accounts}/{broad}/secret", new { })).ShouldBeProblem(HttpStatusCode.Forbidden, Beyond);
        (await ivan.Put($"{accounts}/{broad}/scopes", new { scopes = new[] { "org.read" } })).ShouldBeProblem(HttpStatusCode.Forbidden, Beyond);
        (await ivan.Put($"{accounts}/{narrow}/scopes", new { scopes = new[] { "org.read", "org.manage" } })).ShouldBeProblem(HttpStatusCode.Forbidden, Beyond);
        // Stopping an account takes power away: anyone managing accounts may; starting it again is bounded.
        (await ivan.Post($"{accounts}/{broad}/disable", new { reason = "suspected leak" })).ShouldBe(HttpStatusCode.OK);
        (await ivan.Post($"{accounts}/{broad}/enable")).ShouldBeProblem(HttpStatusCode.Forbidden, Beyond);
        var account = (await TenantAdminOf(tenant).Get($"{accounts}/{broad}")).ShouldBe(HttpStatusCode.OK).Json;
        account.GetProperty("scopes").EnumerateArray().Select(s => s.GetString()).ShouldBe(["org.manage", "org.read"]);
        account.TryGetProperty("secretRotatedAt", out _).ShouldBeFalse();
        // Within its own: allowed.
        (await ivan.Post($"{accounts}/{narrow}/secret", new { })).ShouldBe(HttpStatusCode.OK).Str("clientSecret").ShouldStartWith("tes_");
    }

    [Fact]
    public async Task narrowing_an_accounts_scopes_ends_the_wider_tokens_it_already_has()
    {
        var tenant = await Active();
        var root = await RootOf(tenant);
        var (client, secret) = await Account(tenant, "org.manage", "org.read");
        var wide = await TokenOf(client, secret);
        (await wide.Post($"/api/tenants/{tenant}/organisations", new { parentId = root, name = "Before", kind = "unit" })).ShouldBe(HttpStatusCode.Created);

        (await TenantAdminOf(tenant).Put($"/api/tenants/{tenant}/service-accounts/{client}/scopes", new { scopes = new[] { "org.read" } }))
            .ShouldBe(HttpStatusCode.OK);
        (await wide.Post($"/api/tenants/{tenant}/organisations", new { parentId = root, name = "After", kind = "unit" })).ShouldBe(HttpStatusCode.Unauthorized);
        var now = await TokenOf(client, secret);
        (await now.Get($"/api/tenants/{tenant}/organisations/{root}")).ShouldBe(HttpStatusCode.OK);
        (await now.Post($"/api/tenants/{tenant}/organisations", new { parentId = root, name = "After", kind = "unit" })).ShouldBeProblem(HttpStatusCode.Forbidden, "forbidden");
        // Widening leaves the tokens it has as they are.
        (await TenantAdminOf(tenant).Put($"/api/tenants/{tenant}/service-accounts/{client}/scopes", new { scopes = new[] { "org.read", "access.read" } }))
            .ShouldBe(HttpStatusCode.OK);
        (await now.Get($"/api/tenants/{tenant}/organisations/{root}")).ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task a_sharing_manager_cannot_offer_files_it_cannot_read()
    {
        await ThreeAgencies();
        var root = await RootOf(Police);
        var narcotics = await Organisation(Police, root, "Narcotics");
        var route = await File(Police, "Fentanyl route", ["narcotics"], org: narcotics);
        var sid = await Holding(Police, "sid", "sharing.manage");
        object Offer(object scope, string[]? permissions = null, Guid? ownerOrganisationId = null) => new
        {
            recipientTenantId = Sheriff, scope, permissions = permissions ?? ["read"], purpose = "Joint operation",
            expiresAt = Fixture.Time.GetUtcNow() + TimeSpan.FromDays(30), ownerOrganisationId,
        };
        var url = $"/api/tenants/{Police}/sharing/agreements";
        var events = await EventCount();

        // Reading none of the police's files, it offers them by name, by tag, by classification: refused, nothing stored.
        (await sid.Post(url, Offer(new { caseFileIds = new[] { route } }))).ShouldBeProblem(HttpStatusCode.Forbidden, Beyond);
        (await sid.Post(url, Offer(new { tags = new[] { "narcotics" } }))).ShouldBeProblem(HttpStatusCode.Forbidden, Beyond);
        (await sid.Post(url, Offer(new { classifications = new[] { "official" } }))).ShouldBeProblem(HttpStatusCode.Forbidden, Beyond);
        (await EventCount()).ShouldBe(events);

        // Reading the narcotics unit's files: it may offer them (by name, or by tag within the unit), for reading only.
        await GrantAs(TenantAdminOf(Police), Police, narcotics, "user:sid", "officer");
        (await sid.Post(url, Offer(new { caseFileIds = new[] { route } }))).ShouldBe(HttpStatusCode.Created);
        (await sid.Post(url, Offer(new { tags = new[] { "narcotics" } }, ownerOrganisationId: narcotics))).ShouldBe(HttpStatusCode.Created);
        // Not every tagged file of the agency (it does not read at the root), and not the right to add to them (no case.write).
        (await sid.Post(url, Offer(new { tags = new[] { "narcotics" } }))).ShouldBeProblem(HttpStatusCode.Forbidden, Beyond);
        (await sid.Post(url, Offer(new { caseFileIds = new[] { route } }, ["read", "contribute"]))).ShouldBeProblem(HttpStatusCode.Forbidden, Beyond);
        (await sid.Post(url, Offer(new { caseFileIds = new[] { route } }, ["read", "comment"]))).ShouldBe(HttpStatusCode.Created);
    }

    [Fact]
    public async Task a_member_who_may_share_but_not_read_cannot_share_a_file_into_a_collaboration()
    {
        await ThreeAgencies();
        var collaboration = await Collaboration(Police, "channel", Sheriff);
        await Join(Sheriff, collaboration);
        var file = await File(Police, "Fentanyl route", ["narcotics"]);
        // case.share alone: it may not hand partner tenants reading (or adding to) a file it cannot read itself.
        var sam = await Holding(Police, "sam", "case.share");
        var events = await EventCount();
        (await ShareInto(Police, file, collaboration, ["read"], sam)).ShouldBeProblem(HttpStatusCode.Forbidden, Beyond);
        (await EventCount()).ShouldBe(events);
        (await Visible(InvestigatorOf(Sheriff), Sheriff)).ShouldNotContain(file);
        // With case.read as well it shares for reading, not for contributing (no case.write).
        var reader = await Holding(Police, "rea", "case.share", "case.read");
        (await ShareInto(Police, file, collaboration, ["read", "contribute"], reader)).ShouldBeProblem(HttpStatusCode.Forbidden, Beyond);
        (await ShareInto(Police, file, collaboration, ["read"], reader)).ShouldBe(HttpStatusCode.OK);
        (await Visible(InvestigatorOf(Sheriff), Sheriff)).ShouldContain(file);
    }

    [Fact]
    public async Task a_member_who_manages_the_tree_cannot_move_a_unit_under_grants_it_does_not_hold_there()
    {
        await ThreeAgencies();
        var root = await RootOf(Police);
        var narcotics = await Organisation(Police, root, "Narcotics");
        var intelligence = await Organisation(Police, root, "Intelligence");
        var secret = await File(Police, "Informant list", org: intelligence);
        // Mo manages the tree at the root and reads case files in Narcotics only.
        var mo = await Holding(Police, "mo", "org.manage");
        (await TenantAdminOf(Police).Put($"/api/tenants/{Police}/roles/reader", new { permissions = new[] { "case.read" } })).ShouldBe(HttpStatusCode.OK);
        await GrantAs(TenantAdminOf(Police), Police, narcotics, "user:mo", "reader");
        (await mo.Get($"/api/tenants/{Police}/case-files/{secret}")).Status.ShouldBeOneOf(HttpStatusCode.NotFound, HttpStatusCode.Forbidden);

        // Moving Intelligence under Narcotics would hand Mo (and everyone granted at Narcotics) its files: refused.
        var events = await EventCount();
        (await mo.Post($"/api/tenants/{Police}/organisations/{intelligence}/move", new { parentId = narcotics }))
            .ShouldBeProblem(HttpStatusCode.Forbidden, Beyond);
        (await EventCount()).ShouldBe(events);
        (await mo.Get($"/api/tenants/{Police}/case-files/{secret}")).Status.ShouldBeOneOf(HttpStatusCode.NotFound, HttpStatusCode.Forbidden);
        // The tenant's administrator may (it holds everything it confers).
        (await TenantAdminOf(Police).Post($"/api/tenants/{Police}/organisations/{intelligence}/move", new { parentId = narcotics })).ShouldBe(HttpStatusCode.OK);
    }
}
