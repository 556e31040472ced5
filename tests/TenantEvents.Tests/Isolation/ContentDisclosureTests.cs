using System.Net;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Tests.Sharing;
using TenantEvents.Tests.Support;

namespace TenantEvents.Tests.Isolation;

/// <summary>
/// Content disclosure (Audit/ContentDisclosure), from the attacker's side: whoever may read the trail or follow the
/// events sees who did what to which record, but a case file's content only with case.read at its organisation, a
/// person's directory record only with the identity permissions; and every outbound path obeys the same rule.
/// </summary>
public class ContentDisclosureTests(AppFixture fixture) : SharingScenario(fixture)
{
    private const string Title = "Operation Nightjar";
    private const string Body = "Informant Kestrel meets the courier at pier 9";
    private const string Comment = "Kestrel confirmed the date";

    /// <summary>A tenant with a top-secret file in its Intelligence unit, a comment on it, and members with one role each.</summary>
    private async Task<(Guid Tenant, Guid Unit, Guid File)> Scenario()
    {
        var tenant = await Active();
        var admin = TenantAdminOf(tenant);
        var root = await RootOf(tenant);
        var unit = await Organisation(tenant, root, "Intelligence");
        (await admin.Put($"/api/tenants/{tenant}/roles/trail-reader", new { description = "Reads the trail", permissions = new[] { "audit.read", "events.read" } }))
            .ShouldBe(HttpStatusCode.OK);
        (await admin.Put($"/api/tenants/{tenant}/roles/case-reader", new { description = "Reads files and the trail", permissions = new[] { "audit.read", "case.read" } }))
            .ShouldBe(HttpStatusCode.OK);
        await Grant(tenant, root, "trail-reader", "trail-reader");
        // case-reader reads the trail across the tenant (at the root) and case files only in the Intelligence unit.
        await Grant(tenant, root, "case-reader", "trail-reader");
        await Grant(tenant, unit, "case-reader", "case-reader");
        var file = await File(tenant, Title, ["informants"], "top-secret", Body, unit);
        (await admin.Post($"/api/tenants/{tenant}/case-files/{file}/comments", new { text = Comment })).Status.ShouldBeOneOf(HttpStatusCode.OK, HttpStatusCode.Created);
        return (tenant, unit, file);
    }

    private HttpClient Member(Guid tenant, string subject) => As(Roles.TenantMember, subject, tenant);

    private static void ShouldHoldNoContent(string text)
    {
        text.ShouldNotContain("Nightjar");
        text.ShouldNotContain("Kestrel");
        text.ShouldNotContain("informants");
        text.ShouldNotContain("secretHash", Case.Insensitive);
    }

    private static IEnumerable<JsonElement> Entries(Reply reply) => reply.Json.GetProperty("entries").EnumerateArray();

    [Fact]
    public async Task a_platform_auditor_and_a_member_with_audit_read_see_who_touched_a_case_file_but_never_its_content()
    {
        var (tenant, _, file) = await Scenario();
        // Neither may read the file itself...
        (await As(Roles.Auditor).Get($"/api/tenants/{tenant}/case-files/{file}")).Status.ShouldBeOneOf(HttpStatusCode.Forbidden, HttpStatusCode.NotFound);
        (await Member(tenant, "trail-reader").Get($"/api/tenants/{tenant}/case-files/{file}")).Status.ShouldBeOneOf(HttpStatusCode.Forbidden, HttpStatusCode.NotFound);
        foreach (var reader in new[] { As(Roles.Auditor), Member(tenant, "trail-reader") })
        {
            // ...nor its content through the trail, in any of its formats.
            var page = (await reader.Get($"/api/tenants/{tenant}/audit/entries?limit=200")).ShouldBe(HttpStatusCode.OK);
            ShouldHoldNoContent(page.Body);
            var opened = Entries(page).Single(e => e.GetProperty("type").GetString() == "case_file_opened");
            var after = opened.GetProperty("after");
            after.GetProperty("classification").GetString().ShouldBe("top-secret");
            after.GetProperty("id").GetGuid().ShouldBe(file);
            after.TryGetProperty("body", out _).ShouldBeFalse();
            var digests = after.GetProperty("withheld").GetProperty("digests");
            digests.GetProperty("title").GetString()!.ShouldStartWith("hmac-sha256:");
            digests.GetProperty("body").GetString()!.ShouldStartWith("hmac-sha256:");
            opened.GetProperty("actor").GetProperty("subject").GetString().ShouldNotBeNullOrEmpty();
            // The patch is computed between what is shown: it names the change, not the content.
            ShouldHoldNoContent(opened.GetProperty("patch").GetRawText());
            ShouldHoldNoContent((await reader.Get($"/api/tenants/{tenant}/audit/entries?format=ndjson")).ShouldBe(HttpStatusCode.OK).Body);
            ShouldHoldNoContent((await reader.Get($"/api/tenants/{tenant}/audit/entries?format=csv")).ShouldBe(HttpStatusCode.OK).Body);
            ShouldHoldNoContent((await reader.Get($"/api/tenants/{tenant}/audit/export")).ShouldBe(HttpStatusCode.OK).Body);
        }
        // GraphQL's audit field is the same route run as the caller.
        var graph = (await As(Roles.Auditor).Post("/graphql", new
        {
            query = $$"""{ tenant(id: "{{tenant}}") { auditEntries(first: 100) { nodes { type after } } } }""",
        })).ShouldBe(HttpStatusCode.OK);
        graph.Body.ShouldContain("case_file_opened");
        ShouldHoldNoContent(graph.Body);
    }

    [Fact]
    public async Task the_content_is_shown_to_whoever_may_read_the_file_and_the_digests_match_across_readers()
    {
        var (tenant, _, _) = await Scenario();
        JsonElement Opened(Reply r) => Entries(r).Single(e => e.GetProperty("type").GetString() == "case_file_opened").GetProperty("after");
        var byCaseReader = (await Member(tenant, "case-reader").Get($"/api/tenants/{tenant}/audit/entries?limit=200")).ShouldBe(HttpStatusCode.OK);
        byCaseReader.Body.ShouldContain(Body);
        byCaseReader.Body.ShouldContain(Comment);
        Opened(byCaseReader).GetProperty("title").GetString().ShouldBe(Title);
        var byAdmin = (await TenantAdminOf(tenant).Get($"/api/tenants/{tenant}/audit/entries?limit=200")).ShouldBe(HttpStatusCode.OK);
        Opened(byAdmin).GetProperty("body").GetString().ShouldBe(Body);
        // Two readers without case.read get the same keyed digest: the tenant can match a copy against the trail.
        var a = Opened((await As(Roles.Auditor).Get($"/api/tenants/{tenant}/audit/entries?limit=200")).ShouldBe(HttpStatusCode.OK));
        var b = Opened((await Member(tenant, "trail-reader").Get($"/api/tenants/{tenant}/audit/entries?limit=200")).ShouldBe(HttpStatusCode.OK));
        a.GetProperty("withheld").GetProperty("digests").GetProperty("body").GetString()
            .ShouldBe(b.GetProperty("withheld").GetProperty("digests").GetProperty("body").GetString());
    }

    [Fact]
    public async Task people_data_and_contacts_in_the_trail_need_the_identity_permissions()
    {
        var (tenant, _, _) = await Scenario();
        // A member with audit.read only: the tenant's contacts (people's data) are withheld in the trail and the history.
        var history = (await Member(tenant, "trail-reader").Get($"/api/tenants/{tenant}/events")).ShouldBe(HttpStatusCode.OK);
        history.Body.ShouldNotContain("sally@travis");
        history.Body.ShouldContain("withheld");
        var trail = (await Member(tenant, "trail-reader").Get($"/api/tenants/{tenant}/audit/entries?type=tenant_requested")).ShouldBe(HttpStatusCode.OK);
        trail.Body.ShouldNotContain("sally@travis");
        // Platform staff see the tenant record's contacts, as GET /api/tenants/{id} shows them.
        (await As(Roles.Auditor).Get($"/api/tenants/{tenant}/events")).ShouldBe(HttpStatusCode.OK).Body.ShouldContain("sally@travis");
    }

    [Fact]
    public async Task the_export_holds_every_stream_of_the_tenant_with_its_ledger_and_no_secret()
    {
        var (tenant, _, file) = await Scenario();
        var admin = TenantAdminOf(tenant);
        (await admin.Post($"/api/tenants/{tenant}/service-accounts", new { name = "exporter", scopes = new[] { "org.read" } })).ShouldBe(HttpStatusCode.Created);
        var receiver = await Fixture.WebhookReceiver();
        (await admin.Post($"/api/tenants/{tenant}/webhooks", new { url = receiver.Hook("export-" + Guid.NewGuid().ToString("N")[..8]) })).ShouldBe(HttpStatusCode.Created);

        var mine = (await admin.Get($"/api/tenants/{tenant}/export")).ShouldBe(HttpStatusCode.OK);
        mine.Json.GetProperty("format").GetString().ShouldBe("tenantevents-export/v2");
        mine.Json.GetProperty("complete").GetBoolean().ShouldBeTrue();
        var events = mine.Json.GetProperty("events").EnumerateArray().ToList();
        var kinds = events.Select(e => e.GetProperty("streamKind").GetString()).ToHashSet();
        foreach (var kind in new[] { "tenant", "organisation", "roles", "case-file", "service-account", "webhook" }) kinds.ShouldContain(kind);
        events.Select(e => e.GetProperty("index").GetInt64()).ShouldBe(Enumerable.Range(0, events.Count).Select(i => (long)i));
        mine.Body.ShouldContain(Body);
        mine.Body.ShouldNotContain("secretHash", Case.Insensitive);
        // The trail's own count and the ledger agree with the export: nothing of the tenant is left out.
        var trail = (await admin.Get($"/api/tenants/{tenant}/audit/entries?limit=200")).ShouldBe(HttpStatusCode.OK);
        Entries(trail).Count().ShouldBe(events.Count);
        var ledger = mine.Json.GetProperty("ledger");
        ledger.GetProperty("entries").GetArrayLength().ShouldBe(events.Count);
        ledger.GetProperty("checkpoints").GetArrayLength().ShouldBeGreaterThan(0);

        // A platform administrator exports the tenant too, but not its case files' content.
        var platform = (await Admin.Get($"/api/tenants/{tenant}/export")).ShouldBe(HttpStatusCode.OK);
        platform.Json.GetProperty("events").GetArrayLength().ShouldBe(events.Count);
        ShouldHoldNoContent(platform.Body);
        platform.Body.ShouldContain(file.ToString());
        // Another tenant's administrator learns nothing.
        var other = await Active("bexar-sheriff");
        (await TenantAdminOf(other).Get($"/api/tenants/{tenant}/export")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
    }

    [Fact]
    public async Task a_tenants_webhook_carries_a_case_files_metadata_and_not_its_content()
    {
        var tenant = await Active();
        var receiver = await Fixture.WebhookReceiver();
        var name = "cd" + Guid.NewGuid().ToString("N")[..10];
        var reply = (await TenantAdminOf(tenant).Post($"/api/tenants/{tenant}/webhooks",
            new { url = receiver.Hook(name), types = new[] { "com.tenantevents.case_file_*" } })).ShouldBe(HttpStatusCode.Created);
        await receiver.ConfigureAsync(name, reply.Str("secret"));
        var file = await File(tenant, Title, ["informants"], "top-secret", Body);
        var seen = await receiver.WaitAsync(name, s => s.Events.Count >= 1);
        var e = seen.Events.Single();
        e.GetProperty("type").GetString().ShouldBe("com.tenantevents.case_file_opened");
        e.GetProperty("data").GetProperty("caseFileId").GetGuid().ShouldBe(file);
        e.GetProperty("data").GetProperty("classification").GetString().ShouldBe("top-secret");
        ShouldHoldNoContent(e.GetRawText());
    }

    /// <summary>Reads an SSE response until the server ends it; the events' data lines and whether it ended on an "end" event.</summary>
    private static async Task<(List<string> Data, bool Ended)> ReadUntilEnd(HttpResponseMessage response, Func<List<string>, Task>? onEvent = null)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(timeout.Token));
        var data = new List<string>();
        string? name = null;
        while (await reader.ReadLineAsync(timeout.Token) is { } line)
        {
            if (line.StartsWith("event: ")) name = line[7..];
            else if (line.StartsWith("data: "))
            {
                if (name == "end") return (data, true);
                data.Add(line[6..]);
                if (onEvent is not null) await onEvent(data);
            }
        }
        return (data, false);
    }

    private async Task<HttpResponseMessage> OpenStream(HttpClient client, Guid tenant)
    {
        var response = await client.SendAsync(new HttpRequestMessage(HttpMethod.Get, $"/api/tenants/{tenant}/events/stream?after=-1"),
            HttpCompletionOption.ResponseHeadersRead);
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        return response;
    }

    [Fact]
    public async Task the_event_stream_shows_content_as_the_caller_may_see_it_and_ends_when_the_callers_grant_is_revoked()
    {
        var (tenant, _, _) = await Scenario();
        var admin = TenantAdminOf(tenant);
        var root = await RootOf(tenant);
        var grant = (await admin.Post($"/api/tenants/{tenant}/organisations/{root}/grants",
            new { principal = new { kind = "user", id = "follower" }, role = "trail-reader" })).ShouldBe(HttpStatusCode.Created).Str("id");
        using var response = await OpenStream(Member(tenant, "follower"), tenant);
        var revoked = false;
        var (data, ended) = await ReadUntilEnd(response, async seen =>
        {
            // Once the history has arrived (the comment is the scenario's last case-file event), the grant is revoked.
            if (!revoked && seen.Any(d => d.Contains("case_file_entry_added")))
            {
                revoked = true;
                (await admin.Delete($"/api/tenants/{tenant}/organisations/{root}/grants/{grant}")).Status
                    .ShouldBeOneOf(HttpStatusCode.OK, HttpStatusCode.NoContent);
            }
        });
        ended.ShouldBeTrue("the stream goes on after the grant that allowed it was revoked");
        data.ShouldContain(d => d.Contains("case_file_opened"));
        ShouldHoldNoContent(string.Join("\n", data));
    }

    [Fact]
    public async Task the_event_stream_ends_when_the_tenant_is_suspended_and_cannot_be_reopened_until_it_is_active()
    {
        var tenant = await Active();
        using var response = await OpenStream(TenantAdminOf(tenant), tenant);
        var suspended = false;
        var (_, ended) = await ReadUntilEnd(response, async seen =>
        {
            if (suspended || seen.Count < 3) return;
            suspended = true;
            (await Admin.Post($"/api/tenants/{tenant}/suspend", new { reason = "unpaid" })).ShouldBe(HttpStatusCode.OK);
        });
        ended.ShouldBeTrue();
        (await TenantAdminOf(tenant).Get($"/api/tenants/{tenant}/events/stream")).ShouldBeProblem(HttpStatusCode.Conflict, "tenant-not-active");
    }

    [Fact]
    public async Task one_tenant_cannot_hold_more_than_its_share_of_open_event_streams()
    {
        var tenant = await Active();
        var other = await Active("bexar-sheriff");
        var options = Fixture.Host.Services.GetRequiredService<TenantEvents.Infrastructure.TenantEventsOptions>();
        var open = new List<HttpResponseMessage>();
        try
        {
            for (var i = 0; i < options.EventStreamsPerTenant; i++) open.Add(await OpenStream(TenantAdminOf(tenant), tenant));
            (await TenantAdminOf(tenant).Get($"/api/tenants/{tenant}/events/stream")).ShouldBeProblem((HttpStatusCode)429, "too-many-streams");
            // Another tenant is not affected.
            using var theirs = await OpenStream(TenantAdminOf(other), other);
        }
        finally
        {
            foreach (var r in open) r.Dispose();
        }
    }
}
