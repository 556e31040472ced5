using Microsoft.Extensions.DependencyInjection;
using System.Net;
using System.Text.Json;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Tests.Support;

namespace TenantEvents.Tests.Organisations;

/// <summary>The organisation tree over HTTP: its commands, the access engine, subtree-scoped administration, time travel.</summary>
public class OrganisationTests(AppFixture fixture) : IntegrationTest(fixture)
{

    private async Task<Guid> Create(HttpClient client, Guid tenant, Guid parent, string name, string kind = "unit", string? jurisdiction = null)
    {
        var reply = (await client.Post($"/api/tenants/{tenant}/organisations", new { parentId = parent, name, kind, jurisdiction }))
            .ShouldBe(HttpStatusCode.Created);
        return reply.Json.GetProperty("id").GetGuid();
    }

    private async Task<Guid> Grant(HttpClient client, Guid tenant, Guid org, string principal, string role)
    {
        var parts = principal.Split(':');
        return (await client.Post($"/api/tenants/{tenant}/organisations/{org}/grants", new { principal = new { kind = parts[0], id = parts[1] }, role }))
            .ShouldBe(HttpStatusCode.Created).Json.GetProperty("id").GetGuid();
    }

    [Fact]
    public async Task provisioning_seeds_the_tree_and_roles_and_an_administrator_builds_on_it()
    {
        var tenant = await Active();
        var root = await RootOf(tenant);
        var tree = (await Admin.Get($"/api/tenants/{tenant}/organisations")).ShouldBe(HttpStatusCode.OK).Json.GetProperty("items");
        tree.GetArrayLength().ShouldBe(6);
        tree.EnumerateArray().Select(o => o.GetProperty("name").GetString()).ShouldContain("Field Office 1");
        var roles = (await Admin.Get($"/api/tenants/{tenant}/roles")).ShouldBe(HttpStatusCode.OK).Json.GetProperty("items");
        roles.EnumerateArray().Select(r => r.GetProperty("name").GetString()).ShouldBe(["agency-admin", "investigator", "officer", "records-clerk"]);

        var admin = TenantAdminOf(tenant);
        var county = await Create(admin, tenant, root, "County X", "county", "US-TX");
        var read = (await admin.Get($"/api/tenants/{tenant}/organisations/{county}")).ShouldBe(HttpStatusCode.OK);
        read.Str("name").ShouldBe("County X");
        read.Str("jurisdiction").ShouldBe("US-TX");
        read.Json.GetProperty("depth").GetInt32().ShouldBe(1);
        read.Json.GetProperty("ancestors").EnumerateArray().Select(a => a.GetGuid()).ShouldBe([root]);
        read.ETag.ShouldBe("\"1\"");

        (await admin.Send(HttpMethod.Put, $"/api/tenants/{tenant}/organisations/{county}/name", new { name = "Travis County" },
            new Dictionary<string, string> { ["If-Match"] = "\"1\"" })).ShouldBe(HttpStatusCode.OK).Str("name").ShouldBe("Travis County");
        (await admin.Send(HttpMethod.Put, $"/api/tenants/{tenant}/organisations/{county}/name", new { name = "Stale" },
            new Dictionary<string, string> { ["If-Match"] = "\"1\"" })).ShouldBeProblem(HttpStatusCode.PreconditionFailed, "stale-version");
        (await admin.Send(HttpMethod.Put, $"/api/tenants/{tenant}/organisations/{county}/attributes", new { kind = "county", jurisdiction = "US-CA" }))
            .ShouldBe(HttpStatusCode.OK).Str("jurisdiction").ShouldBe("US-CA");
        var children = (await admin.Get($"/api/tenants/{tenant}/organisations/{root}/children")).ShouldBe(HttpStatusCode.OK).Json.GetProperty("items");
        children.EnumerateArray().Select(c => c.GetProperty("id").GetGuid()).ShouldContain(county);
    }

    [Fact]
    public async Task bad_input_answers_4xx_and_appends_nothing()
    {
        var tenant = await Active();
        var other = await Active("other-agency");
        var root = await RootOf(tenant);
        var otherRoot = await RootOf(other);
        var admin = TenantAdminOf(tenant);
        var county = await Create(admin, tenant, root, "County X");
        var before = await EventCount();

        var url = $"/api/tenants/{tenant}/organisations";
        (await admin.Post(url, new { parentId = Guid.CreateVersion7(), name = "Orphan", kind = "unit" })).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        // A parent in another tenant is, from here, a parent that does not exist.
        (await admin.Post(url, new { parentId = otherRoot, name = "Sneaky", kind = "unit" })).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await admin.Post(url, new { parentId = root, name = "", kind = "unit" })).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await admin.Post(url, new { parentId = root, name = new string('x', 201), kind = "unit" })).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await admin.Post(url, new { parentId = root, name = "Ok", kind = "Not A Kind" })).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await admin.Post(url, new { parentId = root, name = "Ok", kind = "unit", jurisdiction = "Texas" })).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await admin.Post(url, new { parentId = root, name = "Ok", kind = "unit", colour = "red" })).ShouldBeProblem(HttpStatusCode.BadRequest, "malformed-request");
        (await admin.SendRaw(HttpMethod.Post, url, "null")).ShouldBeProblem(HttpStatusCode.BadRequest, "malformed-request");
        (await admin.Post($"{url}/{county}/move", new { parentId = county })).ShouldBeProblem(HttpStatusCode.Conflict, "would-create-cycle");
        (await admin.Post($"{url}/{root}/move", new { parentId = county })).ShouldBeProblem(HttpStatusCode.Conflict, "root-cannot-move");
        (await admin.Post($"{url}/{root}/close", new { subtree = true })).ShouldBeProblem(HttpStatusCode.Conflict, "root-cannot-close");
        (await admin.Post($"{url}/{county}/grants", new { principal = new { kind = "robot", id = "x" }, role = "officer" })).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await admin.Post($"{url}/{county}/grants", new { principal = new { kind = "user", id = "x" }, role = "emperor" })).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await admin.Send(HttpMethod.Put, $"/api/tenants/{tenant}/roles/Bad Name", new { permissions = new[] { "case.read" } })).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await admin.Send(HttpMethod.Put, $"/api/tenants/{tenant}/roles/spy", new { permissions = new[] { "everything" } })).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await admin.Get($"/api/tenants/{tenant}/access/explain?principal=robot&permission=case.read&organisationId={root}")).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await admin.Get($"{url}?asOf=yesterday")).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await admin.Get($"{url}?limit=0")).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await EventCount()).ShouldBe(before);
    }

    [Fact]
    public async Task the_administrator_of_one_county_manages_its_subtree_and_cannot_touch_another_county()
    {
        var tenant = await Active();
        var root = await RootOf(tenant);
        var admin = TenantAdminOf(tenant);
        var x = await Create(admin, tenant, root, "County X", "county");
        var y = await Create(admin, tenant, root, "County Y", "county");
        var yUnit = await Create(admin, tenant, y, "Y Patrol");
        await Grant(admin, tenant, x, "user:xavier", "agency-admin");
        (await admin.Send(HttpMethod.Put, $"/api/tenants/{tenant}/roles/patrol-reader",
            new { description = "Sees the unit and reads its cases", permissions = new[] { "org.read", "case.read" } })).ShouldBe(HttpStatusCode.OK);
        var xavier = Member(tenant, "xavier");

        // Inside County X: create, rename, grant what he holds himself.
        var x1 = await Create(xavier, tenant, x, "X Patrol");
        var x2 = await Create(xavier, tenant, x1, "X Patrol Night Shift");
        (await xavier.Send(HttpMethod.Put, $"/api/tenants/{tenant}/organisations/{x1}/name", new { name = "X Patrol Division" })).ShouldBe(HttpStatusCode.OK);
        await Grant(xavier, tenant, x1, "user:olivia", "patrol-reader");
        // An officer's role holds case.comment, which his does not: he cannot hand it out.
        (await xavier.Post($"/api/tenants/{tenant}/organisations/{x1}/grants", new { principal = new { kind = "user", id = "olivia" }, role = "officer" }))
            .ShouldBeProblem(HttpStatusCode.Forbidden, "beyond-your-own");
        (await xavier.Post($"/api/tenants/{tenant}/organisations/{x2}/move", new { parentId = x })).ShouldBe(HttpStatusCode.OK);

        // County Y and everything in it do not exist for him; the root he sees nothing of either.
        var before = await EventCount();
        foreach (var target in new[] { y, yUnit, root })
        {
            (await xavier.Get($"/api/tenants/{tenant}/organisations/{target}")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
            (await xavier.Post($"/api/tenants/{tenant}/organisations", new { parentId = target, name = "Intruder", kind = "unit" })).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
            (await xavier.Post($"/api/tenants/{tenant}/organisations/{target}/grants", new { principal = new { kind = "user", id = "xavier" }, role = "agency-admin" }))
                .ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        }
        // He cannot take his county's units to County Y, nor his county out from under its parent.
        (await xavier.Post($"/api/tenants/{tenant}/organisations/{x1}/move", new { parentId = y })).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await xavier.Post($"/api/tenants/{tenant}/organisations/{x}/move", new { parentId = x1 })).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await xavier.Send(HttpMethod.Put, $"/api/tenants/{tenant}/roles/officer", new { permissions = new[] { "case.read", "case.write" } })).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        // Listing the tree shows his subtree only.
        var visible = (await xavier.Get($"/api/tenants/{tenant}/organisations")).ShouldBe(HttpStatusCode.OK).Json.GetProperty("items")
            .EnumerateArray().Select(o => o.GetProperty("id").GetGuid()).ToList();
        visible.ShouldBe(new[] { x, x1, x2 }, ignoreOrder: true);
        (await EventCount()).ShouldBe(before);

        // Olivia reads X Patrol (and what is under it) but may not manage it; County X above it she does not see.
        var olivia = Member(tenant, "olivia");
        (await olivia.Get($"/api/tenants/{tenant}/organisations/{x1}")).ShouldBe(HttpStatusCode.OK);
        (await olivia.Send(HttpMethod.Put, $"/api/tenants/{tenant}/organisations/{x1}/name", new { name = "Mine" })).ShouldBeProblem(HttpStatusCode.Forbidden, "forbidden");
        (await olivia.Get($"/api/tenants/{tenant}/organisations/{x}")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        // Someone holding nothing in the tenant sees nothing of it.
        (await Member(tenant, "nobody").Get($"/api/tenants/{tenant}/organisations/{x1}")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
    }

    [Fact]
    public async Task nobody_grants_more_than_they_hold()
    {
        var tenant = await Active();
        var root = await RootOf(tenant);
        var admin = TenantAdminOf(tenant);
        var x = await Create(admin, tenant, root, "County X", "county");
        (await admin.Send(HttpMethod.Put, $"/api/tenants/{tenant}/roles/membership-clerk",
            new { description = "Manages memberships only", permissions = new[] { "member.manage", "org.read" } })).ShouldBe(HttpStatusCode.OK);
        await Grant(admin, tenant, x, "user:mia", "membership-clerk");
        var mia = Member(tenant, "mia");
        (await mia.Get($"/api/tenants/{tenant}/organisations/{x}")).ShouldBe(HttpStatusCode.OK);
        (await mia.Post($"/api/tenants/{tenant}/organisations/{x}/grants", new { principal = new { kind = "user", id = "mia" }, role = "agency-admin" }))
            .ShouldBeProblem(HttpStatusCode.Forbidden, "beyond-your-own");
        await Grant(mia, tenant, x, "user:ned", "membership-clerk");
        (await mia.Post($"/api/tenants/{tenant}/organisations", new { parentId = x, name = "Nope", kind = "unit" })).ShouldBeProblem(HttpStatusCode.Forbidden, "forbidden");
    }

    [Fact]
    public async Task effective_access_explains_checks_in_batches_and_lists_where()
    {
        var tenant = await Active();
        var root = await RootOf(tenant);
        var admin = TenantAdminOf(tenant);
        var x = await Create(admin, tenant, root, "County X", "county");
        var x1 = await Create(admin, tenant, x, "X Patrol");
        var y = await Create(admin, tenant, root, "County Y", "county");
        var grant = await Grant(admin, tenant, x, "group:detectives", "investigator");

        var why = (await As(Roles.Auditor).Get($"/api/tenants/{tenant}/access/explain?principal=user:dana&groups=detectives&permission=case.share&organisationId={x1}"))
            .ShouldBe(HttpStatusCode.OK).Json;
        why.GetProperty("allowed").GetBoolean().ShouldBeTrue();
        why.GetProperty("grant").GetProperty("id").GetGuid().ShouldBe(grant);
        why.GetProperty("grant").GetProperty("organisationId").GetGuid().ShouldBe(x);
        why.GetProperty("inherited").GetBoolean().ShouldBeTrue();
        why.GetProperty("path").EnumerateArray().Select(p => p.GetGuid()).ShouldBe([x, x1]);
        (await As(Roles.Auditor).Get($"/api/tenants/{tenant}/access/explain?principal=user:dana&permission=case.share&organisationId={x1}"))
            .Json.GetProperty("allowed").GetBoolean().ShouldBeFalse();

        var checks = new[]
        {
            new { principal = "group:detectives", permission = "case.read", organisationId = x1 },
            new { principal = "group:detectives", permission = "case.read", organisationId = y },
            new { principal = "group:detectives", permission = "org.manage", organisationId = x },
        };
        var results = (await admin.Post($"/api/tenants/{tenant}/access/check", new { checks })).ShouldBe(HttpStatusCode.OK).Json.GetProperty("results");
        results.EnumerateArray().Select(r => r.GetProperty("allowed").GetBoolean()).ShouldBe([true, false, false]);
        (await admin.Post($"/api/tenants/{tenant}/access/check", new { checks = Enumerable.Repeat(checks[0], 1001) }))
            .ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");

        var where = (await admin.Get($"/api/tenants/{tenant}/access/organisations?principal=group:detectives&permission=case.read&limit=1")).ShouldBe(HttpStatusCode.OK).Json;
        var first = where.GetProperty("items").EnumerateArray().Select(o => o.GetProperty("id").GetGuid()).ToList();
        var next = (await admin.Get($"/api/tenants/{tenant}/access/organisations?principal=group:detectives&permission=case.read&cursor={where.GetProperty("nextCursor").GetString()}"))
            .Json.GetProperty("items").EnumerateArray().Select(o => o.GetProperty("id").GetGuid()).ToList();
        first.Concat(next).ShouldBe([x, x1]);

        // A member asks about herself where she can see, not about others without access.read.
        await Grant(admin, tenant, x, "user:dana", "officer");
        await Grant(admin, tenant, x, "user:dana", "records-clerk");
        var dana = Member(tenant, "dana", "detectives");
        // She holds case.read at X1, so X1 exists for her: what explain tells her is what enforcement does.
        (await dana.Get($"/api/tenants/{tenant}/access/explain?principal=user:dana&permission=case.read&organisationId={x1}")).ShouldBe(HttpStatusCode.OK)
            .Json.GetProperty("allowed").GetBoolean().ShouldBeTrue();
        (await dana.Get($"/api/tenants/{tenant}/access/explain?principal=user:dana&permission=case.read&organisationId={y}")).ShouldBe(HttpStatusCode.NotFound);
        (await admin.Send(HttpMethod.Put, $"/api/tenants/{tenant}/roles/unit-reader", new { permissions = new[] { "org.read" } })).ShouldBe(HttpStatusCode.OK);
        await Grant(admin, tenant, x, "user:dana", "unit-reader");
        (await dana.Get($"/api/tenants/{tenant}/access/explain?principal=user:dana&permission=case.read&organisationId={x1}")).ShouldBe(HttpStatusCode.OK)
            .Json.GetProperty("allowed").GetBoolean().ShouldBeTrue();
        (await dana.Get($"/api/tenants/{tenant}/access/explain?principal=user:eve&permission=case.read&organisationId={x1}"))
            .ShouldBeProblem(HttpStatusCode.Forbidden, "forbidden");
    }

    [Fact]
    public async Task the_tree_and_the_grants_can_be_read_as_they_were()
    {
        var tenant = await Active();
        var root = await RootOf(tenant);
        var admin = TenantAdminOf(tenant);
        var x = await Create(admin, tenant, root, "County X", "county");
        var y = await Create(admin, tenant, root, "County Y", "county");
        var unit = await Create(admin, tenant, x, "Patrol");
        await Grant(admin, tenant, x, "user:carol", "officer");
        var before = Fixture.Time.GetUtcNow();
        var versionBefore = (await admin.Get($"/api/tenants/{tenant}/access/explain?principal=user:carol&permission=case.read&organisationId={unit}")).ShouldBe(HttpStatusCode.OK);
        versionBefore.Json.GetProperty("allowed").GetBoolean().ShouldBeTrue();

        Fixture.Time.Advance(TimeSpan.FromHours(1));
        (await admin.Post($"/api/tenants/{tenant}/organisations/{unit}/move", new { parentId = y })).ShouldBe(HttpStatusCode.OK);
        (await admin.Send(HttpMethod.Put, $"/api/tenants/{tenant}/organisations/{unit}/name", new { name = "Y Patrol" })).ShouldBe(HttpStatusCode.OK);

        var now = (await admin.Get($"/api/tenants/{tenant}/organisations/{unit}")).Json;
        now.GetProperty("parentId").GetGuid().ShouldBe(y);
        var then = (await admin.Get($"/api/tenants/{tenant}/organisations/{unit}?asOf={Uri.EscapeDataString(before.ToString("O"))}")).ShouldBe(HttpStatusCode.OK).Json;
        then.GetProperty("parentId").GetGuid().ShouldBe(x);
        then.GetProperty("name").GetString().ShouldBe("Patrol");
        (await admin.Get($"/api/tenants/{tenant}/access/explain?principal=user:carol&permission=case.read&organisationId={unit}")).Json.GetProperty("allowed").GetBoolean().ShouldBeFalse();
        (await admin.Get($"/api/tenants/{tenant}/access/explain?principal=user:carol&permission=case.read&organisationId={unit}&asOf={Uri.EscapeDataString(before.ToString("O"))}"))
            .Json.GetProperty("allowed").GetBoolean().ShouldBeTrue();
        // The grants as they were: revoked since, still there before.
        var grant = (await admin.Get($"/api/tenants/{tenant}/organisations/{x}/grants")).Json.GetProperty("items")[0].GetProperty("id").GetGuid();
        var beforeRevoke = Fixture.Time.GetUtcNow();
        Fixture.Time.Advance(TimeSpan.FromMinutes(1));
        (await admin.Send(HttpMethod.Delete, $"/api/tenants/{tenant}/organisations/{x}/grants/{grant}")).ShouldBe(HttpStatusCode.NoContent);
        (await admin.Get($"/api/tenants/{tenant}/organisations/{x}/grants")).Json.GetProperty("items").GetArrayLength().ShouldBe(0);
        (await admin.Get($"/api/tenants/{tenant}/organisations/{x}/grants?asOf={Uri.EscapeDataString(beforeRevoke.ToString("O"))}"))
            .ShouldBe(HttpStatusCode.OK).Json.GetProperty("items")[0].GetProperty("id").GetGuid().ShouldBe(grant);
        // By access version: 1 is the provisioned tree, in which the new counties did not exist yet.
        (await admin.Get($"/api/tenants/{tenant}/organisations/{unit}?asOfVersion=1")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await admin.Get($"/api/tenants/{tenant}/organisations?asOfVersion=1")).Json.GetProperty("items").GetArrayLength().ShouldBe(6);
    }

    [Fact]
    public async Task closing_needs_the_subtree_flag_when_children_are_open_and_a_suspended_tenants_tree_is_frozen()
    {
        var tenant = await Active();
        var root = await RootOf(tenant);
        var admin = TenantAdminOf(tenant);
        var x = await Create(admin, tenant, root, "County X", "county");
        var x1 = await Create(admin, tenant, x, "Patrol");
        (await admin.Post($"/api/tenants/{tenant}/organisations/{x}/close", new { })).ShouldBeProblem(HttpStatusCode.Conflict, "has-open-children")
            .Json.GetProperty("openDescendants").GetInt32().ShouldBe(1);
        (await admin.Post($"/api/tenants/{tenant}/organisations/{x}/close", new { subtree = true, reason = "merged" })).ShouldBe(HttpStatusCode.OK)
            .Json.GetProperty("closed").EnumerateArray().Select(c => c.GetGuid()).ShouldBe([x1, x]);
        (await admin.Get($"/api/tenants/{tenant}/organisations/{x1}")).ShouldBe(HttpStatusCode.OK).Str("state").ShouldBe("closed");

        (await Admin.Post($"/api/tenants/{tenant}/suspend", new { reason = "audit" })).ShouldBe(HttpStatusCode.OK);
        (await admin.Post($"/api/tenants/{tenant}/organisations", new { parentId = root, name = "During suspension", kind = "unit" }))
            .ShouldBeProblem(HttpStatusCode.Conflict, "tenant-not-active");
        (await admin.Get($"/api/tenants/{tenant}/organisations")).ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task guardrails_set_above_bind_a_subtree_administrator()
    {
        var tenant = await Active();
        var root = await RootOf(tenant);
        var admin = TenantAdminOf(tenant);
        var x = await Create(admin, tenant, root, "County X", "county");
        var x1 = await Create(admin, tenant, x, "X Patrol");
        await Grant(admin, tenant, x, "user:xavier", "agency-admin");
        var xavier = Member(tenant, "xavier");

        (await admin.Send(HttpMethod.Put, $"/api/tenants/{tenant}/organisations/{root}/policies/feature.joint-investigations", new { mode = "locked", value = false }))
            .ShouldBe(HttpStatusCode.OK);
        (await xavier.Send(HttpMethod.Put, $"/api/tenants/{tenant}/organisations/{x}/policies/setting.shift-hours", new { mode = "override", value = 10 }))
            .ShouldBe(HttpStatusCode.OK);
        var before = await EventCount();
        (await xavier.Send(HttpMethod.Put, $"/api/tenants/{tenant}/organisations/{x}/policies/feature.joint-investigations", new { mode = "override", value = true }))
            .ShouldBeProblem(HttpStatusCode.Conflict, "locked-by-ancestor").Json.GetProperty("lockedAt").GetGuid().ShouldBe(root);
        (await xavier.Send(HttpMethod.Put, $"/api/tenants/{tenant}/organisations/{root}/policies/feature.joint-investigations", new { mode = "override", value = true }))
            .ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await xavier.Send(HttpMethod.Put, $"/api/tenants/{tenant}/organisations/{x}/policies/Not A Key", new { mode = "override", value = 1 }))
            .ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await EventCount()).ShouldBe(before);

        var effective = (await xavier.Get($"/api/tenants/{tenant}/organisations/{x1}/policies")).ShouldBe(HttpStatusCode.OK).Json.GetProperty("items")
            .EnumerateArray().ToDictionary(p => p.GetProperty("key").GetString()!);
        effective["feature.joint-investigations"].GetProperty("value").GetBoolean().ShouldBeFalse();
        effective["feature.joint-investigations"].GetProperty("locked").GetBoolean().ShouldBeTrue();
        effective["feature.joint-investigations"].GetProperty("setAt").GetGuid().ShouldBe(root);
        effective["setting.shift-hours"].GetProperty("value").GetInt32().ShouldBe(10);
        effective["setting.shift-hours"].GetProperty("inherited").GetBoolean().ShouldBeTrue();
        (await xavier.Send(HttpMethod.Delete, $"/api/tenants/{tenant}/organisations/{x}/policies/setting.shift-hours")).ShouldBe(HttpStatusCode.OK);
        (await xavier.Get($"/api/tenants/{tenant}/organisations/{x1}/policies")).Json.GetProperty("items").GetArrayLength().ShouldBe(1);
    }

    [Fact]
    public async Task users_belong_to_several_organisations_and_move_between_them()
    {
        var tenant = await Active();
        var root = await RootOf(tenant);
        var admin = TenantAdminOf(tenant);
        var x = await Create(admin, tenant, root, "County X", "county");
        var y = await Create(admin, tenant, root, "County Y", "county");
        var task = await Create(admin, tenant, root, "Task Force", "unit");
        foreach (var org in new[] { x, task })
            (await admin.Post($"/api/tenants/{tenant}/organisations/{org}/members", new { userId = "dana" })).ShouldBe(HttpStatusCode.Created);
        (await admin.Post($"/api/tenants/{tenant}/organisations/{x}/members", new { userId = "dana" })).ShouldBeProblem(HttpStatusCode.Conflict, "already-member");
        (await admin.Post($"/api/tenants/{tenant}/organisations/{x}/members", new { userId = "" })).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");

        var moved = (await admin.Post($"/api/tenants/{tenant}/members/dana/move", new { fromOrganisationId = x, toOrganisationId = y })).ShouldBe(HttpStatusCode.OK);
        moved.Json.GetProperty("items").EnumerateArray().Select(o => o.GetGuid()).ShouldBe(new[] { y, task }, ignoreOrder: true);
        (await admin.Get($"/api/tenants/{tenant}/organisations/{y}/members")).Json.GetProperty("items").EnumerateArray().Select(m => m.GetString()).ShouldBe(["dana"]);
        (await admin.Get($"/api/tenants/{tenant}/organisations/{x}/members")).Json.GetProperty("items").GetArrayLength().ShouldBe(0);
        (await admin.Post($"/api/tenants/{tenant}/members/dana/move", new { fromOrganisationId = x, toOrganisationId = y })).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");

        // An administrator of County Y alone cannot pull people out of County X.
        await Grant(admin, tenant, y, "user:yolanda", "agency-admin");
        (await Member(tenant, "yolanda").Post($"/api/tenants/{tenant}/members/dana/move", new { fromOrganisationId = task, toOrganisationId = y }))
            .ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await admin.Send(HttpMethod.Delete, $"/api/tenants/{tenant}/organisations/{task}/members/dana")).ShouldBe(HttpStatusCode.NoContent);
    }

    [Fact]
    public async Task two_concurrent_moves_that_together_would_make_a_cycle_cannot_both_succeed()
    {
        var tenant = await Active();
        var root = await RootOf(tenant);
        var admin = TenantAdminOf(tenant);
        for (var round = 0; round < 5; round++)
        {
            var a = await Create(admin, tenant, root, $"A{round}");
            var b = await Create(admin, tenant, root, $"B{round}");
            var replies = await Task.WhenAll(
                admin.Post($"/api/tenants/{tenant}/organisations/{a}/move", new { parentId = b }),
                admin.Post($"/api/tenants/{tenant}/organisations/{b}/move", new { parentId = a }));
            replies.Count(r => r.Status == HttpStatusCode.OK).ShouldBe(1);
            replies.Single(r => r.Status != HttpStatusCode.OK).ShouldBeProblem(HttpStatusCode.Conflict, "would-create-cycle");
            // Still a tree: every organisation reaches the root.
            foreach (var id in new[] { a, b })
                (await admin.Get($"/api/tenants/{tenant}/organisations/{id}")).Json.GetProperty("ancestors")[0].GetGuid().ShouldBe(root);
        }
    }

    [Fact]
    public async Task graphs_dropped_from_memory_are_reloaded_with_the_same_answers()
    {
        var options = Fixture.Host.Services.GetRequiredService<TenantEvents.Infrastructure.TenantEventsOptions>();
        var store = Fixture.Host.Services.GetRequiredService<TenantEvents.Organisations.OrganisationStore>();
        var a = await Active("agency-a");
        var b = await Active("agency-b");
        var units = new Dictionary<Guid, Guid>();
        foreach (var t in new[] { a, b }) units[t] = await Create(TenantAdminOf(t), t, await RootOf(t), "Unit of " + t.ToString()[..4]);
        var size = options.AccessGraphCacheSize;
        options.AccessGraphCacheSize = 1;
        try
        {
            for (var i = 0; i < 3; i++)
                foreach (var t in new[] { a, b })
                {
                    (await TenantAdminOf(t).Get($"/api/tenants/{t}/organisations/{units[t]}")).ShouldBe(HttpStatusCode.OK).Str("name").ShouldStartWith("Unit of");
                    store.CachedGraphs.ShouldBeLessThanOrEqualTo(1);
                }
        }
        finally
        {
            options.AccessGraphCacheSize = size;
        }
    }

    [Fact]
    public async Task a_structure_is_imported_in_batches_all_or_nothing()
    {
        var tenant = await Active();
        var root = await RootOf(tenant);
        var admin = TenantAdminOf(tenant);
        Guid region = Guid.CreateVersion7(), district = Guid.CreateVersion7(), station = Guid.CreateVersion7();
        var organisations = new[]
        {
            new { id = region, parentId = root, name = "North Region", kind = "region" },
            new { id = district, parentId = region, name = "District 7", kind = "district" },
            new { id = station, parentId = district, name = "Station 7A", kind = "station" },
        };
        var before = await EventCount();
        // One bad item refuses the whole batch; an unknown parent is a 404, as one at a time.
        (await admin.Post($"/api/tenants/{tenant}/organisations/batch", new { organisations = organisations.Append(new { id = Guid.CreateVersion7(), parentId = station, name = "", kind = "unit" }) }))
            .ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed").Json.GetProperty("errors")[0].GetProperty("field").GetString().ShouldBe("organisations[3].name");
        (await admin.Post($"/api/tenants/{tenant}/organisations/batch", new { organisations = organisations.Append(new { id = Guid.CreateVersion7(), parentId = Guid.CreateVersion7(), name = "Lost", kind = "unit" }) }))
            .ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await EventCount()).ShouldBe(before);

        (await admin.Post($"/api/tenants/{tenant}/organisations/batch", new { organisations })).ShouldBe(HttpStatusCode.Created).Json.GetProperty("created").GetInt32().ShouldBe(3);
        (await admin.Get($"/api/tenants/{tenant}/organisations/{station}")).ShouldBe(HttpStatusCode.OK).Json.GetProperty("ancestors").EnumerateArray()
            .Select(a => a.GetGuid()).ShouldBe([root, region, district]);
        (await admin.Post($"/api/tenants/{tenant}/organisations/batch", new { organisations })).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");

        var grants = new[]
        {
            new { organisationId = region, principal = new { kind = "user", id = "rita" }, role = "officer" },
            new { organisationId = station, principal = new { kind = "group", id = "night-shift" }, role = "investigator" },
        };
        (await admin.Post($"/api/tenants/{tenant}/grants/batch", new { grants })).ShouldBe(HttpStatusCode.Created).Json.GetProperty("granted").GetInt32().ShouldBe(2);
        (await admin.Get($"/api/tenants/{tenant}/access/explain?principal=user:rita&permission=case.comment&organisationId={station}"))
            .Json.GetProperty("allowed").GetBoolean().ShouldBeTrue();
        (await admin.Post($"/api/tenants/{tenant}/grants/batch", new { grants })).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
    }

    [Fact]
    public async Task a_chain_a_thousand_levels_deep_works_end_to_end()
    {
        var tenant = await Active();
        var root = await RootOf(tenant);
        var admin = TenantAdminOf(tenant);
        var side = await Create(admin, tenant, root, "Side branch");
        var chain = new List<Guid>();
        var parent = root;
        for (var i = 1; i <= 1000; i++)
        {
            parent = await Create(admin, tenant, parent, $"Level {i}");
            chain.Add(parent);
        }
        await Grant(admin, tenant, chain[0], "user:deep", "officer");
        var bottom = (await admin.Get($"/api/tenants/{tenant}/organisations/{chain[^1]}")).ShouldBe(HttpStatusCode.OK).Json;
        bottom.GetProperty("depth").GetInt32().ShouldBe(1000);
        bottom.GetProperty("ancestors").GetArrayLength().ShouldBe(1000);
        var explain = $"/api/tenants/{tenant}/access/explain?principal=user:deep&permission=case.read&organisationId={chain[^1]}";
        (await admin.Get(explain)).Json.GetProperty("path").GetArrayLength().ShouldBe(1000);
        var before = Fixture.Time.GetUtcNow();
        Fixture.Time.Advance(TimeSpan.FromMinutes(1));

        // The lower half moves under the side branch: 500 organisations re-rooted by one command.
        (await admin.Post($"/api/tenants/{tenant}/organisations/{chain[500]}/move", new { parentId = side })).ShouldBe(HttpStatusCode.OK);
        (await admin.Get($"/api/tenants/{tenant}/organisations/{chain[^1]}")).Json.GetProperty("depth").GetInt32().ShouldBe(501);
        (await admin.Get(explain)).Json.GetProperty("allowed").GetBoolean().ShouldBeFalse();
        (await admin.Get($"/api/tenants/{tenant}/organisations/{side}/descendants?limit=200")).Json.GetProperty("items").GetArrayLength().ShouldBe(200);
        (await admin.Get($"{explain}&asOf={Uri.EscapeDataString(before.ToString("O"))}")).Json.GetProperty("allowed").GetBoolean().ShouldBeTrue();
        (await admin.Post($"/api/tenants/{tenant}/organisations/{chain[0]}/move", new { parentId = chain[499] })).ShouldBeProblem(HttpStatusCode.Conflict, "would-create-cycle");
    }
}
