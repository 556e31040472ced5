using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using TenantEvents.Audit;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Ledger;
using TenantEvents.Tests.Support;

namespace TenantEvents.Tests.Audit;

/// <summary>
/// The audit trail as auditors query it: per write, the actor, the time, the record before and after and the RFC 6902
/// patch between them; filters, pagination, NDJSON and CSV exports; retention; cross-tenant access in both trails.
/// </summary>
public class AuditTrailTests(AppFixture fixture) : IntegrationTest(fixture)
{
    private HttpClient Auditor => As(Roles.Auditor, "carol");

    private async Task<List<JsonElement>> Entries(Guid tenant, string query = "", HttpClient? reader = null)
    {
        var reply = (await (reader ?? Auditor).Get($"/api/tenants/{tenant}/audit/entries{query}")).ShouldBe(HttpStatusCode.OK);
        return reply.Json.GetProperty("entries").EnumerateArray().ToList();
    }

    private static JsonArray Patch(JsonElement entry) => JsonNode.Parse(entry.GetProperty("patch").GetRawText())!.AsArray();

    private static JsonNode? Node(JsonElement entry, string name) =>
        entry.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null ? JsonNode.Parse(v.GetRawText()) : null;

    /// <summary>Every entry's patch turns its before into its after (RFC 6902 as applied by an independent reader).</summary>
    private static void PatchesHold(IEnumerable<JsonElement> entries)
    {
        foreach (var e in entries)
            JsonNode.DeepEquals(JsonPatch.Apply(Node(e, "before"), Patch(e)), Node(e, "after")).ShouldBeTrue(e.GetRawText());
    }

    [Fact]
    public async Task each_tenant_write_records_actor_before_after_and_the_patch()
    {
        var id = await Active();
        (await Admin.Put($"/api/tenants/{id}/name", new { name = "Travis County Sheriff's Office" })).ShouldBe(HttpStatusCode.OK);
        var entries = await Entries(id, $"?stream={id}");
        entries.Select(e => e.GetProperty("type").GetString()).ShouldBe(["tenant_requested", "tenant_approved", "tenant_provisioned", "tenant_renamed"]);
        entries.Select(e => e.GetProperty("version").GetInt64()).ShouldBe([1L, 2, 3, 4]);
        PatchesHold(entries);

        var requested = entries[0];
        Node(requested, "before").ShouldBeNull();
        Patch(requested).Single()!["op"]!.GetValue<string>().ShouldBe("add");
        requested.GetProperty("after").GetProperty("name").GetString().ShouldBe("Travis County Sheriff");
        requested.GetProperty("streamKind").GetString().ShouldBe("tenant");

        var renamed = entries[3];
        renamed.GetProperty("before").GetProperty("name").GetString().ShouldBe("Travis County Sheriff");
        renamed.GetProperty("after").GetProperty("name").GetString().ShouldBe("Travis County Sheriff's Office");
        var ops = Patch(renamed).Select(o => (o!["op"]!.GetValue<string>(), o["path"]!.GetValue<string>())).ToList();
        ops.ShouldContain(("replace", "/name"));
        ops.ShouldContain(("replace", "/version"));
        Patch(renamed).First(o => o!["path"]!.GetValue<string>() == "/name")!["value"]!.GetValue<string>().ShouldBe("Travis County Sheriff's Office");
        // A platform administrator acted on the tenant's record: on behalf of the tenant.
        renamed.GetProperty("actor").GetProperty("subject").GetString().ShouldBe("alice");
        renamed.GetProperty("actor").GetProperty("kind").GetString().ShouldBe("user");
        renamed.GetProperty("onBehalfOf").GetGuid().ShouldBe(id);
        // The approval was bob's.
        entries[1].GetProperty("actor").GetProperty("subject").GetString().ShouldBe("bob");
        // ISO 8601 times, and the retention promised (the template's 2555 days).
        var time = entries[3].GetProperty("time").GetDateTimeOffset();
        entries[3].GetProperty("retainUntil").GetDateTimeOffset().ShouldBe(time.AddDays(2555));
        entries[3].GetProperty("time").GetString()!.ShouldMatch(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d");
    }

    [Fact]
    public async Task organisation_grant_and_membership_writes_patch_what_changed()
    {
        var id = await Active();
        var root = await RootOf(id);
        var ta = TenantAdminOf(id);
        var org = (await ta.Post($"/api/tenants/{id}/organisations", new { parentId = root, name = "Precinct 4", kind = "field-office" })).ShouldBe(HttpStatusCode.Created);
        var orgId = Guid.Parse(org.Str("id"));
        var grant = (await ta.Post($"/api/tenants/{id}/organisations/{orgId}/grants", new { principal = new { kind = "user", id = "xavier" }, role = "agency-admin" }))
            .ShouldBe(HttpStatusCode.Created);
        var grantId = grant.Str("id");
        (await ta.Post($"/api/tenants/{id}/organisations/{orgId}/members", new { userId = "yolanda" })).Status.ShouldBeOneOf(HttpStatusCode.OK, HttpStatusCode.Created);
        (await ta.Delete($"/api/tenants/{id}/organisations/{orgId}/grants/{grantId}")).Status.ShouldBeOneOf(HttpStatusCode.OK, HttpStatusCode.NoContent);

        var entries = await Entries(id, $"?stream={orgId}");
        entries.Select(e => e.GetProperty("type").GetString()).ShouldBe(["organisation_created", "role_granted", "member_added", "grant_revoked"]);
        PatchesHold(entries);
        Node(entries[0], "before").ShouldBeNull();
        entries[0].GetProperty("after").GetProperty("name").GetString().ShouldBe("Precinct 4");
        var granted = Patch(entries[1]).Single()!;
        granted["op"]!.GetValue<string>().ShouldBe("add");
        granted["path"]!.GetValue<string>().ShouldBe($"/grants/{grantId}");
        granted["value"]!["role"]!.GetValue<string>().ShouldBe("agency-admin");
        Patch(entries[2]).Single()!["path"]!.GetValue<string>().ShouldBe("/members/yolanda");
        var revoked = Patch(entries[3]).Single()!;
        (revoked["op"]!.GetValue<string>(), revoked["path"]!.GetValue<string>()).ShouldBe(("remove", $"/grants/{grantId}"));
        // The tenant's administrator is of the tenant: no on-behalf-of.
        entries[1].GetProperty("actor").GetProperty("tenantId").GetGuid().ShouldBe(id);
        Node(entries[1], "onBehalfOf").ShouldBeNull();
    }

    [Fact]
    public async Task scim_users_and_service_accounts_are_audited_without_secrets()
    {
        var id = await Active();
        var account = (await TenantAdminOf(id).Post($"/api/tenants/{id}/service-accounts", new { name = "Entra ID provisioning", scopes = new[] { "scim.provision" } }))
            .ShouldBe(HttpStatusCode.Created);
        var scim = Fixture.Client(account.Str("scimToken"));
        var user = await scim.Post($"/api/tenants/{id}/scim/v2/Users", new Dictionary<string, object>
        {
            ["schemas"] = new[] { "urn:ietf:params:scim:schemas:core:2.0:User" }, ["userName"] = "bjensen@example.com", ["password"] = "t1meMa$heen",
            ["name"] = new { givenName = "Barbara", familyName = "Jensen" },
        });
        user.ShouldBe(HttpStatusCode.Created);
        var userId = Guid.Parse(user.Str("id"));
        (await scim.Patch($"/api/tenants/{id}/scim/v2/Users/{userId}", new
        {
            schemas = new[] { "urn:ietf:params:scim:api:messages:2.0:PatchOp" },
            Operations = new object[] { new { op = "replace", path = "title", value = "Tour Guide" } },
        })).ShouldBe(HttpStatusCode.OK);

        // A person's directory record is people's data: the tenant's administrator sees it in the trail...
        var userEntries = await Entries(id, $"?stream={userId}", TenantAdminOf(id));
        userEntries.Select(e => e.GetProperty("type").GetString()).ShouldBe(["scim_user_created", "scim_user_patched"]);
        PatchesHold(userEntries);
        userEntries[0].GetProperty("after").GetProperty("userName").GetString().ShouldBe("bjensen@example.com");
        var titled = Patch(userEntries[1]);
        titled.ShouldContain(o => o!["path"]!.GetValue<string>() == "/title" && o["value"]!.GetValue<string>() == "Tour Guide");
        userEntries[1].GetProperty("actor").GetProperty("kind").GetString().ShouldBe("service");
        // ...a platform auditor sees who changed which record and when, with the person's data withheld (Audit/ContentDisclosure).
        var seenByAuditor = await Entries(id, $"?stream={userId}");
        seenByAuditor.Select(e => e.GetProperty("type").GetString()).ShouldBe(["scim_user_created", "scim_user_patched"]);
        seenByAuditor[0].GetProperty("after").TryGetProperty("userName", out _).ShouldBeFalse();
        seenByAuditor[0].GetProperty("after").GetProperty("withheld").GetProperty("digests").TryGetProperty("userName", out _).ShouldBeTrue();
        JsonSerializer.Serialize(seenByAuditor).ShouldNotContain("bjensen");

        var accountEntries = await Entries(id, $"?stream={account.Str("clientId")}");
        accountEntries.Single().GetProperty("type").GetString().ShouldBe("service_account_created");
        var all = (await Auditor.Get($"/api/tenants/{id}/audit/entries?limit=200")).Body;
        all.ShouldNotContain("t1meMa$heen");
        all.ShouldNotContain("secretHash", Case.Insensitive);
        all.ShouldNotContain(account.Str("clientSecret"));
    }

    [Fact]
    public async Task entries_filter_by_actor_type_time_and_page_by_cursor()
    {
        var id = await Active();
        Fixture.Time.Advance(TimeSpan.FromHours(1));
        var later = Fixture.Time.GetUtcNow();
        (await Admin.Put($"/api/tenants/{id}/name", new { name = "One" })).ShouldBe(HttpStatusCode.OK);
        (await Admin.Put($"/api/tenants/{id}/name", new { name = "Two" })).ShouldBe(HttpStatusCode.OK);
        (await Entries(id, "?actor=bob")).Select(e => e.GetProperty("type").GetString()).ShouldBe(["tenant_approved"]);
        (await Entries(id, "?type=tenant_renamed")).Count.ShouldBe(2);
        var since = Uri.EscapeDataString(later.ToString("O"));
        (await Entries(id, $"?from={since}")).Select(e => e.GetProperty("type").GetString()).ShouldBe(["tenant_renamed", "tenant_renamed"]);
        (await Entries(id, $"?to={since}")).ShouldNotContain(e => e.GetProperty("type").GetString() == "tenant_renamed");

        var all = await Entries(id, "?limit=200");
        var seen = new List<long>();
        string? cursor = null;
        do
        {
            var page = (await Auditor.Get($"/api/tenants/{id}/audit/entries?limit=3{(cursor is null ? "" : "&after=" + cursor)}")).ShouldBe(HttpStatusCode.OK).Json;
            seen.AddRange(page.GetProperty("entries").EnumerateArray().Select(e => e.GetProperty("index").GetInt64()));
            cursor = page.TryGetProperty("next", out var next) && next.ValueKind == JsonValueKind.Number ? next.GetInt64().ToString() : null;
        } while (cursor is not null);
        seen.ShouldBe(all.Select(e => e.GetProperty("index").GetInt64()));
        seen.ShouldBe(Enumerable.Range(0, seen.Count).Select(i => (long)i));

        foreach (var bad in new[] { "?limit=0", "?limit=100000", "?after=-1", "?from=yesterday", "?stream=nope", "?format=xml", $"?from={since}&to=2000-01-01T00:00:00Z" })
            (await Auditor.Get($"/api/tenants/{id}/audit/entries{bad}")).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
    }

    [Fact]
    public async Task entries_export_as_ndjson_and_csv()
    {
        var id = await Active();
        (await Admin.Put($"/api/tenants/{id}/name", new { name = "=HYPERLINK(\"http://evil\")" })).ShouldBe(HttpStatusCode.OK);
        var count = (await Entries(id, "?limit=200")).Count;

        var ndjson = (await Auditor.Get($"/api/tenants/{id}/audit/entries?format=ndjson")).ShouldBe(HttpStatusCode.OK);
        ndjson.ContentHeaders!.ContentType!.MediaType.ShouldBe("application/x-ndjson");
        var lines = ndjson.Body.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        lines.Length.ShouldBe(count);
        lines.Select(l => JsonDocument.Parse(l).RootElement.GetProperty("index").GetInt64()).ShouldBe(Enumerable.Range(0, count).Select(i => (long)i));

        var csv = (await Auditor.Get($"/api/tenants/{id}/audit/entries", new Dictionary<string, string> { ["Accept"] = "text/csv" })).ShouldBe(HttpStatusCode.OK);
        csv.ContentHeaders!.ContentType!.MediaType.ShouldBe("text/csv");
        var rows = csv.Body.Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        rows[0].ShouldStartWith("index,seq,eventId,streamId,streamKind,version,type,time,actorSubject");
        // Quoted JSON cells may hold line breaks of their own: count records by the index column instead.
        csv.Body.Split("\r\n").Count(r => System.Text.RegularExpressions.Regex.IsMatch(r, @"^\d+,\d+,[0-9a-f-]{36},")).ShouldBe(count);
        csv.Body.ShouldNotContain(",=HYPERLINK");
    }

    [Fact]
    public async Task retention_is_bounded_and_a_shortened_window_keeps_what_was_promised()
    {
        var id = await Active();
        foreach (var days in new[] { 29, 3651, -1 })
            (await Admin.Patch($"/api/tenants/{id}/settings", new { auditRetentionDays = days })).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await Admin.Patch($"/api/tenants/{id}/settings", new { auditRetentionDays = 3650 })).ShouldBe(HttpStatusCode.OK);
        (await Admin.Patch($"/api/tenants/{id}/settings", new { auditRetentionDays = 30 })).ShouldBe(HttpStatusCode.OK);
        // Written under the 30-day window.
        (await Admin.Put($"/api/tenants/{id}/name", new { name = "Short-lived" })).ShouldBe(HttpStatusCode.OK);
        var before = await Entries(id, "?limit=200");
        var renamed = before.Single(e => e.GetProperty("type").GetString() == "tenant_renamed");
        renamed.GetProperty("retainUntil").GetDateTimeOffset().ShouldBe(renamed.GetProperty("time").GetDateTimeOffset().AddDays(30));

        var projector = Fixture.Host.Services.GetRequiredService<AuditProjector>();
        Fixture.Time.Advance(TimeSpan.FromDays(29));
        (await projector.PruneAsync(CancellationToken.None)).ShouldBe(0);
        Fixture.Time.Advance(TimeSpan.FromDays(2));
        (await projector.PruneAsync(CancellationToken.None)).ShouldBeGreaterThan(0);
        var after = await Entries(id, "?limit=200");
        // Gone: what was written under 30 days. Kept: everything written while the window was longer (2555, then 3650 days).
        after.ShouldNotContain(e => e.GetProperty("type").GetString() == "tenant_renamed");
        after.ShouldContain(e => e.GetProperty("type").GetString() == "tenant_requested");
        after.Count.ShouldBe(before.Count(e => e.GetProperty("retainUntil").GetDateTimeOffset() > Fixture.Time.GetUtcNow()));
        // The ledger keeps every event whatever the query model holds.
        var bundle = (await Auditor.Get($"/api/tenants/{id}/audit/export")).ShouldBe(HttpStatusCode.OK).Json;
        bundle.GetProperty("entries").GetArrayLength().ShouldBeGreaterThanOrEqualTo(before.Count);
    }

    [Fact]
    public async Task a_legal_hold_keeps_every_audit_entry_past_its_retention_until_it_is_lifted()
    {
        var id = await Active();
        (await Admin.Patch($"/api/tenants/{id}/settings", new { auditRetentionDays = 30 })).ShouldBe(HttpStatusCode.OK);
        (await Admin.Put($"/api/tenants/{id}/name", new { name = "Under investigation" })).ShouldBe(HttpStatusCode.OK);
        var holdId = (await Admin.Post($"/api/tenants/{id}/legal-holds", new { reference = "CASE-2026-0117", reason = "pending litigation" }))
            .ShouldBe(HttpStatusCode.OK).Json.GetProperty("legalHolds")[0].GetProperty("holdId").GetGuid();
        var before = await Entries(id, "?limit=200");
        before.ShouldContain(e => e.GetProperty("type").GetString() == "tenant_renamed");

        // Past the 30 days: the hold binds the trail, so the pruning job takes nothing of this tenant.
        var projector = Fixture.Host.Services.GetRequiredService<AuditProjector>();
        Fixture.Time.Advance(TimeSpan.FromDays(31));
        await projector.PruneAsync(CancellationToken.None);
        (await Entries(id, "?limit=200")).Select(e => e.GetProperty("index").GetInt64())
            .ShouldBe(before.Select(e => e.GetProperty("index").GetInt64()));

        // Lifted: retention resumes, and what the hold kept past its window goes.
        (await Admin.Post($"/api/tenants/{id}/legal-holds/{holdId}/lift", new { reason = "case closed" })).ShouldBe(HttpStatusCode.OK);
        (await projector.PruneAsync(CancellationToken.None)).ShouldBeGreaterThan(0);
        var after = await Entries(id, "?limit=200");
        after.ShouldNotContain(e => e.GetProperty("type").GetString() == "tenant_renamed");
        after.ShouldContain(e => e.GetProperty("type").GetString() == "legal_hold_lifted");
    }

    [Fact]
    public async Task a_cross_tenant_access_is_in_both_tenants_trails_and_ledgers()
    {
        var owner = await Active();
        var accessor = await Active("state-police");
        var access = Fixture.Host.Services.GetRequiredService<CrossTenantAccess>();
        await access.RecordAsync(owner, accessor, new Actor("dana", "user", accessor), "read", "case-file", "CF-2026-001", "joint investigation", CancellationToken.None);

        var mine = (await Entries(owner, "?type=cross_tenant_access_recorded")).Single();
        mine.GetProperty("after").GetProperty("last").GetProperty("side").GetString().ShouldBe("owner");
        mine.GetProperty("after").GetProperty("last").GetProperty("accessorTenantId").GetGuid().ShouldBe(accessor);
        mine.GetProperty("actor").GetProperty("subject").GetString().ShouldBe("dana");
        mine.GetProperty("actor").GetProperty("tenantId").GetGuid().ShouldBe(accessor);
        mine.GetProperty("onBehalfOf").GetGuid().ShouldBe(owner);
        var theirs = (await Entries(accessor, "?type=cross_tenant_access_recorded")).Single();
        theirs.GetProperty("after").GetProperty("last").GetProperty("side").GetString().ShouldBe("accessor");
        theirs.GetProperty("after").GetProperty("last").GetProperty("resourceId").GetString().ShouldBe("CF-2026-001");
        // Neither tenant sees the other's trail.
        (await TenantAdminOf(accessor).Get($"/api/tenants/{owner}/audit/entries")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
    }

    [Fact]
    public async Task an_auditor_replays_a_stream_offline_from_the_bundle()
    {
        var id = await Active();
        (await Admin.Put($"/api/tenants/{id}/name", new { name = "One" })).ShouldBe(HttpStatusCode.OK);
        (await Admin.Put($"/api/tenants/{id}/name", new { name = "Two" })).ShouldBe(HttpStatusCode.OK);
        var bundle = (await Auditor.Get($"/api/tenants/{id}/audit/export")).ShouldBe(HttpStatusCode.OK);
        var path = Path.Combine(Fixture.DataFolder, $"replay-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(path, bundle.Body);

        var output = new StringWriter();
        TenantEvents.Cli.Program.Run(["audit", "replay", "--bundle", path, "--stream", id.ToString(), "--version", "4", "--json"], output, output).ShouldBe(0, output.ToString());
        var replay = JsonNode.Parse(output.ToString())!;
        replay["state"]!["name"]!.GetValue<string>().ShouldBe("One");
        replay["history"]!.AsArray().Count.ShouldBe(4);
        replay["history"]!.AsArray().ShouldAllBe(h => h!["consistent"]!.GetValue<bool>());

        output = new StringWriter();
        TenantEvents.Cli.Program.Run(["audit", "replay", "--bundle", path, "--stream", id.ToString()], output, output).ShouldBe(0);
        output.ToString().ShouldContain("replace /name = \"Two\"");
        output.ToString().ShouldContain("by alice");
    }
}
