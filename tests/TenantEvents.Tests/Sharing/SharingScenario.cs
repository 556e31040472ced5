using System.Net;
using System.Text.Json;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Tests.Support;

namespace TenantEvents.Tests.Sharing;

/// <summary>
/// Three agencies on one platform (state police, county sheriff, federal task force), each with an investigator at its
/// root, and the calls the sharing tests make.
/// </summary>
public abstract class SharingScenario(AppFixture fixture) : IntegrationTest(fixture)
{
    protected Guid Police, Sheriff, TaskForce;

    protected async Task ThreeAgencies()
    {
        Police = await Active("state-police");
        Sheriff = await Active("travis-sheriff");
        TaskForce = await Active("federal-task-force");
        foreach (var t in new[] { Police, Sheriff, TaskForce }) await Grant(t, await RootOf(t), Investigator(t), "investigator");
    }

    protected static string Investigator(Guid tenant) => "investigator-" + tenant.ToString()[..8];

    /// <summary>The agency's investigator (case.read, case.write, case.share at its root).</summary>
    protected HttpClient InvestigatorOf(Guid tenant) => As(Roles.TenantMember, Investigator(tenant), tenant);

    protected async Task Grant(Guid tenant, Guid org, string user, string role) =>
        (await TenantAdminOf(tenant).Post($"/api/tenants/{tenant}/organisations/{org}/grants", new { principal = new { kind = "user", id = user }, role }))
            .ShouldBe(HttpStatusCode.Created);

    protected async Task<Guid> Organisation(Guid tenant, Guid parent, string name) =>
        Guid.Parse((await TenantAdminOf(tenant).Post($"/api/tenants/{tenant}/organisations", new { parentId = parent, name, kind = "unit" }))
            .ShouldBe(HttpStatusCode.Created).Str("id"));

    protected async Task<Guid> File(Guid tenant, string title, string[]? tags = null, string classification = "official", string body = "",
        Guid? org = null) =>
        Guid.Parse((await TenantAdminOf(tenant).Post($"/api/tenants/{tenant}/case-files",
            new { organisationId = org ?? await RootOf(tenant), title, classification, tags = tags ?? [], body })).ShouldBe(HttpStatusCode.Created).Str("id"));

    /// <summary>The ids of the files the client sees in its tenant's list (every page).</summary>
    protected static async Task<HashSet<Guid>> Visible(HttpClient client, Guid tenant, string query = "")
    {
        var seen = new HashSet<Guid>();
        string? cursor = null;
        do
        {
            var sep = query.Length == 0 ? "?" : query + "&";
            var page = (await client.Get($"/api/tenants/{tenant}/case-files{sep}limit=100{(cursor is null ? "" : "&cursor=" + cursor)}"))
                .ShouldBe(HttpStatusCode.OK).Json;
            foreach (var item in page.GetProperty("items").EnumerateArray()) seen.Add(item.GetProperty("id").GetGuid()).ShouldBeTrue("listed twice");
            cursor = page.TryGetProperty("nextCursor", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString() : null;
        } while (cursor is not null);
        return seen;
    }

    protected async Task<Guid> Offer(Guid owner, Guid recipient, object scope, string[]? permissions = null, TimeSpan? term = null, Guid? ownerOrg = null)
    {
        var reply = (await TenantAdminOf(owner).Post($"/api/tenants/{owner}/sharing/agreements", new
        {
            recipientTenantId = recipient, scope, permissions = permissions ?? ["read"], purpose = "Operation Lone Star: gang activity on I-35",
            expiresAt = Fixture.Time.GetUtcNow() + (term ?? TimeSpan.FromDays(30)), ownerOrganisationId = ownerOrg,
        })).ShouldBe(HttpStatusCode.Created);
        reply.Str("state").ShouldBe("offered");
        return Guid.Parse(reply.Str("id"));
    }

    protected async Task<Reply> AcceptAgreement(Guid recipient, Guid agreement, object? body = null) =>
        await TenantAdminOf(recipient).Post($"/api/tenants/{recipient}/sharing/agreements/{agreement}/accept", body ?? new { });

    protected async Task<Guid> Collaboration(Guid convenor, string kind, params Guid[] invite) =>
        Guid.Parse((await TenantAdminOf(convenor).Post($"/api/tenants/{convenor}/collaborations",
            new { kind, name = kind == "channel" ? "I-35 corridor gangs COI" : "Operation Lone Star", charter = "Share what bears on gang activity along I-35.", invite }))
            .ShouldBe(HttpStatusCode.Created).Str("id"));

    protected async Task Join(Guid tenant, Guid collaboration) =>
        (await TenantAdminOf(tenant).Post($"/api/tenants/{tenant}/collaborations/{collaboration}/accept")).ShouldBe(HttpStatusCode.OK);

    protected async Task<Reply> ShareInto(Guid tenant, Guid file, Guid collaboration, string[]? permissions = null, HttpClient? client = null) =>
        await (client ?? InvestigatorOf(tenant)).Put($"/api/tenants/{tenant}/case-files/{file}/collaborations/{collaboration}",
            new { permissions = permissions ?? ["read"] });

    protected async Task<List<JsonElement>> AccessEntries(Guid tenant) =>
        (await As(Roles.Auditor, "carol").Get($"/api/tenants/{tenant}/audit/entries?type=cross_tenant_access_recorded&limit=200"))
        .ShouldBe(HttpStatusCode.OK).Json.GetProperty("entries").EnumerateArray().ToList();
}
