using System.Net;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using TenantEvents.Compliance;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Tests.Support;
using Wolverine.Tracking;

namespace TenantEvents.Tests.Compliance;

/// <summary>
/// Data-subject requests end to end on a German agency: the due date and its extension, the access package of one person
/// (their records from each capability and nothing of another's), erasure (then the package is empty, the partner agency
/// and the webhook subscriber told, the ledger still verifying), the job's overdue event, and another tenant's 404.
/// </summary>
public class DataSubjectRequestTests(AppFixture fixture) : IntegrationTest(fixture)
{
    private const string Ada = "ada.lovelace@polizei-berlin.example.de", Bob = "bob.builder@polizei-berlin.example.de";
    private static readonly DateTimeOffset Start = new(2027, 1, 31, 10, 0, 0, TimeSpan.Zero);

    private async Task<Guid> Berlin(string slug = "berlin-police")
    {
        Fixture.Time.SetUtcNow(Start);
        return await Active(slug, template: "government-services", country: "DE", subdivision: "DE-BE");
    }

    private static string Requests(Guid tenant) => $"/api/tenants/{tenant}/data-subject-requests";

    /// <summary>A call and the work it sent through the outbox (the keys it destroys), waited for.</summary>
    private async Task<Reply> Tracked(Func<Task<Reply>> call)
    {
        Reply reply = null!;
        await Fixture.Host.ExecuteAndWaitAsync(async () => { reply = await call(); });
        return reply;
    }

    private async Task<Reply> Receive(Guid tenant, string kind, string email, string? name = null) =>
        (await TenantAdminOf(tenant).Post(Requests(tenant), new { kind, email, name })).ShouldBe(HttpStatusCode.Created);

    private async Task<Reply> Verified(Guid tenant, string kind, string email, string? name = null)
    {
        var id = (await Receive(tenant, kind, email, name)).Str("id");
        return (await TenantAdminOf(tenant).Post($"{Requests(tenant)}/{id}/verify", new { method = "signed-in account and id document seen" })).ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task a_request_is_due_in_one_month_and_extended_once_with_reasons_within_it_and_the_job_marks_it_overdue()
    {
        var tenant = await Berlin();
        var admin = TenantAdminOf(tenant);
        var received = await Receive(tenant, "access", Ada, "Ada Lovelace");
        received.Str("ruleId").ShouldBe("gdpr-art12-requests");
        received.Str("dueAt").ShouldBe("2027-02-28T10:00:00.0000000Z");
        var id = received.Str("id");

        (await admin.Post($"{Requests(tenant)}/{id}/extend", new { reasons = "" })).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await admin.Post($"{Requests(tenant)}/{id}/extend", new { reasons = "Records in three archives", until = "2027-06-01T00:00:00Z" }))
            .ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        var extended = (await admin.Post($"{Requests(tenant)}/{id}/extend", new { reasons = "Records in three archives" })).ShouldBe(HttpStatusCode.OK);
        extended.Str("dueAt").ShouldBe("2027-04-30T10:00:00.0000000Z");
        (await admin.Post($"{Requests(tenant)}/{id}/extend", new { reasons = "Once more" })).ShouldBeProblem(HttpStatusCode.Conflict, "already-extended");

        // A second request left unanswered: not overdue a second before its date, overdue at it (the job's round).
        var late = (await Receive(tenant, "erasure", Bob)).Str("id");
        var jobs = Fixture.Host.Services.GetRequiredService<ComplianceJobs>();
        Fixture.Time.SetUtcNow(new DateTimeOffset(2027, 2, 28, 9, 59, 59, TimeSpan.Zero));
        await jobs.RunOnceAsync(CancellationToken.None);
        (await admin.Get($"{Requests(tenant)}/{late}")).ShouldBe(HttpStatusCode.OK).Json.GetProperty("overdue").GetBoolean().ShouldBeFalse();
        Fixture.Time.SetUtcNow(new DateTimeOffset(2027, 2, 28, 10, 0, 0, TimeSpan.Zero));
        await jobs.RunOnceAsync(CancellationToken.None);
        (await admin.Get($"{Requests(tenant)}/{late}")).ShouldBe(HttpStatusCode.OK).Json.GetProperty("overdue").GetBoolean().ShouldBeTrue();
        (await admin.Get($"{Requests(tenant)}/{id}")).ShouldBe(HttpStatusCode.OK).Json.GetProperty("overdue").GetBoolean().ShouldBeFalse();
        // Extending after the first due date is too late (Art. 12(3): within one month of receipt).
        (await admin.Post($"{Requests(tenant)}/{late}/extend", new { reasons = "Busy" })).ShouldBeProblem(HttpStatusCode.Conflict, "extension-too-late");
        var audit = await As(Roles.Auditor, "carol").Get($"/api/tenants/{tenant}/audit/entries?type=data_subject_request_overdue");
        audit.ShouldBe(HttpStatusCode.OK).Json.GetProperty("entries").GetArrayLength().ShouldBe(1);
    }

    /// <summary>Ada and Bob each a contact, a directory user, a member and grantee, an actor in the trail, and named in a case file.</summary>
    private async Task<(Guid Tenant, Guid AdaFile, Guid BobFile)> TwoPeople(Guid tenant)
    {
        var admin = TenantAdminOf(tenant);
        (await admin.Put($"/api/tenants/{tenant}/contacts", new
        {
            contacts = new[]
            {
                new { name = "Ada Lovelace", email = Ada, role = "data protection officer" },
                new { name = "Bob Builder", email = Bob, role = "chief" },
            },
        })).ShouldBe(HttpStatusCode.OK);
        var account = (await admin.Post($"/api/tenants/{tenant}/service-accounts", new { name = "IdP provisioning", scopes = new[] { "scim.provision" } }))
            .ShouldBe(HttpStatusCode.Created);
        var scim = Fixture.Client(account.Str("scimToken"));
        foreach (var (email, external, given) in new[] { (Ada, "idp|ada", "Ada"), (Bob, "idp|bob", "Bob") })
            (await scim.Post($"/api/tenants/{tenant}/scim/v2/Users", new Dictionary<string, object>
            {
                ["schemas"] = new[] { "urn:ietf:params:scim:schemas:core:2.0:User" }, ["userName"] = email, ["externalId"] = external,
                ["name"] = new { givenName = given }, ["emails"] = new[] { new { value = email, primary = true } }, ["active"] = true,
            })).ShouldBe(HttpStatusCode.Created);
        var root = await RootOf(tenant);
        foreach (var user in new[] { "idp|ada", "idp|bob" })
        {
            (await admin.Post($"/api/tenants/{tenant}/organisations/{root}/members", new { userId = user })).ShouldBe(HttpStatusCode.Created);
            (await admin.Post($"/api/tenants/{tenant}/organisations/{root}/grants", new { principal = new { kind = "user", id = user }, role = "caseworker" }))
                .ShouldBe(HttpStatusCode.Created);
        }
        async Task<Guid> File(string by, string body) =>
            Guid.Parse((await As(Roles.TenantMember, by, tenant).Post($"/api/tenants/{tenant}/case-files",
                new { organisationId = root, title = "Burglary at Museumsinsel", classification = "official", tags = Array.Empty<string>(), body }))
                .ShouldBe(HttpStatusCode.Created).Str("id"));
        var adaFile = await File("idp|ada", "Witness statement taken from Ada Lovelace on the night of the burglary; she saw two people leave.");
        var bobFile = await File("idp|bob", "Bob Builder reported the broken window; contact bob.builder@polizei-berlin.example.de for access.");
        return (tenant, adaFile, bobFile);
    }

    private static List<string> Texts(JsonElement array, string property) =>
        array.EnumerateArray().Select(e => e.GetProperty(property).ToString()).ToList();

    [Fact]
    public async Task an_access_package_holds_the_persons_records_from_each_capability_and_nothing_of_another_persons()
    {
        var (tenant, adaFile, bobFile) = await TwoPeople(await Berlin());
        var request = await Verified(tenant, "access", Ada, "Ada Lovelace");
        var id = request.Str("id");
        var fulfilled = (await TenantAdminOf(tenant).Post($"{Requests(tenant)}/{id}/fulfil", new { })).ShouldBe(HttpStatusCode.OK);
        var package = fulfilled.Json.GetProperty("package");

        Texts(package.GetProperty("contacts"), "email").ShouldBe([Ada]);
        Texts(package.GetProperty("directory"), "userName").ShouldBe([Ada]);
        Texts(package.GetProperty("memberships"), "userId").ShouldBe(["idp|ada"]);
        Texts(package.GetProperty("grants"), "userId").ShouldBe(["idp|ada"]);
        Texts(package.GetProperty("grants"), "role").ShouldBe(["caseworker"]);
        package.GetProperty("auditEntries").GetArrayLength().ShouldBeGreaterThan(0);
        package.GetProperty("auditEntries").EnumerateArray().ShouldAllBe(e => e.GetProperty("actorSubject").GetString() != "idp|bob");
        Texts(package.GetProperty("caseFiles"), "id").ShouldBe([adaFile.ToString()]);
        package.GetProperty("caseFiles")[0].GetProperty("mentions")[0].GetProperty("excerpt").GetString()!.ShouldContain("Ada Lovelace");
        var text = package.GetRawText();
        text.ShouldNotContain("Bob Builder");
        text.ShouldNotContain("bob.builder", Case.Insensitive);
        text.ShouldNotContain("idp|bob");
        text.ShouldNotContain(bobFile.ToString());

        // What was sent is recorded by digest and counts; the package reads again as JSON, HTML and PDF.
        var done = fulfilled.Json.GetProperty("request");
        done.GetProperty("state").GetString().ShouldBe("fulfilled");
        done.GetProperty("packageDigest").GetString()!.ShouldStartWith("sha256:");
        done.GetProperty("found").GetProperty("caseFiles").GetInt32().ShouldBe(1);
        var html = (await TenantAdminOf(tenant).Get($"{Requests(tenant)}/{id}/package?format=html")).ShouldBe(HttpStatusCode.OK);
        html.Body.ShouldContain("Witness statement taken from Ada Lovelace");
        html.Body.ShouldNotContain("Bob");
        var pdf = await TenantAdminOf(tenant).GetAsync($"{Requests(tenant)}/{id}/package?format=pdf");
        pdf.Content.Headers.ContentType!.MediaType.ShouldBe("application/pdf");
        (await pdf.Content.ReadAsByteArrayAsync())[..5].ShouldBe("%PDF-"u8.ToArray());
    }

    [Fact]
    public async Task erasure_empties_the_package_tells_the_partner_and_the_subscriber_and_the_ledger_still_verifies()
    {
        var (tenant, adaFile, _) = await TwoPeople(await Berlin());
        // The file naming Ada went to a partner agency under an agreement; a webhook subscriber follows the tenant (case files only).
        var partner = await Active("brandenburg-police", template: "government-services", country: "DE", subdivision: "DE-BB");
        var offer = (await TenantAdminOf(tenant).Post($"/api/tenants/{tenant}/sharing/agreements", new
        {
            recipientTenantId = partner, scope = new { caseFileIds = new[] { adaFile } }, permissions = new[] { "read" }, purpose = "Joint burglary series",
            expiresAt = Fixture.Time.GetUtcNow().AddDays(30),
        })).ShouldBe(HttpStatusCode.Created);
        (await TenantAdminOf(partner).Post($"/api/tenants/{partner}/sharing/agreements/{offer.Str("id")}/accept", new { })).ShouldBe(HttpStatusCode.OK);
        var receiver = await Fixture.WebhookReceiver();
        var hook = "dsr" + Guid.NewGuid().ToString("N")[..10];
        var subscribed = (await TenantAdminOf(tenant).Post($"/api/tenants/{tenant}/webhooks",
            new { url = receiver.Hook(hook), types = new[] { "com.tenantevents.case_file_*" } })).ShouldBe(HttpStatusCode.Created);
        await receiver.ConfigureAsync(hook, subscribed.Str("secret"));

        var erasure = (await Verified(tenant, "erasure", Ada, "Ada Lovelace")).Str("id");
        // Four eyes: who verified her identity does not also erase her.
        (await TenantAdminOf(tenant).Post($"{Requests(tenant)}/{erasure}/fulfil", new { caseFiles = "redact" })).ShouldBeProblem(HttpStatusCode.Conflict, "four-eyes");
        var done = (await Tracked(() => As(Roles.TenantAdmin, "second-admin", tenant).Post($"{Requests(tenant)}/{erasure}/fulfil", new { caseFiles = "redact" })))
            .ShouldBe(HttpStatusCode.OK).Json.GetProperty("request");
        done.GetProperty("state").GetString().ShouldBe("fulfilled");
        done.GetProperty("subject").GetProperty("erased").GetBoolean().ShouldBeTrue();
        done.GetProperty("erased").EnumerateArray().Select(e => e.GetString()).ShouldBe(["caseFiles", "memberships", "grants", "directory", "contacts"]);
        done.GetProperty("retained").EnumerateArray().Single().GetProperty("category").GetString().ShouldBe("auditEntries");
        var notified = done.GetProperty("notified").EnumerateArray().ToList();
        notified.ShouldContain(n => n.GetProperty("kind").GetString() == "partner-tenant" && n.GetProperty("id").GetString() == partner.ToString());
        notified.ShouldContain(n => n.GetProperty("kind").GetString() == "webhook" && n.GetProperty("id").GetString() == subscribed.Str("id"));

        // Asked again, the tenant holds nothing about her; Bob is untouched.
        var again = (await Verified(tenant, "access", Ada, "Ada Lovelace")).Str("id");
        var package = (await TenantAdminOf(tenant).Get($"{Requests(tenant)}/{again}/package")).ShouldBe(HttpStatusCode.OK).Json;
        package.GetProperty("counts").EnumerateObject().ShouldAllBe(c => c.Value.GetInt32() == 0);
        var bob = (await Verified(tenant, "access", Bob, "Bob Builder")).Str("id");
        var bobs = (await TenantAdminOf(tenant).Get($"{Requests(tenant)}/{bob}/package")).ShouldBe(HttpStatusCode.OK).Json.GetProperty("counts");
        bobs.GetProperty("contacts").GetInt32().ShouldBe(1);
        bobs.GetProperty("directory").GetInt32().ShouldBe(1);
        bobs.GetProperty("caseFiles").GetInt32().ShouldBe(1);
        // The tenant's own reads show her gone: contact erased, file redacted.
        (await TenantAdminOf(tenant).Get($"/api/tenants/{tenant}")).Body.ShouldNotContain(Ada);
        (await TenantAdminOf(tenant).Get($"/api/tenants/{tenant}/case-files/{adaFile}")).ShouldBe(HttpStatusCode.OK).Body.ShouldNotContain("Ada Lovelace");
        // The erased request itself no longer says who it was about.
        (await TenantAdminOf(tenant).Get($"{Requests(tenant)}/{erasure}")).Body.ShouldNotContain("lovelace", Case.Insensitive);

        // The partner was told in its own trail; the subscriber got the notice although it follows case files only.
        var partnerView = (await TenantAdminOf(partner).Get($"/api/tenants/{partner}/compliance")).ShouldBe(HttpStatusCode.OK).Json;
        var notice = partnerView.GetProperty("erasureNotices").EnumerateArray().Single();
        notice.GetProperty("fromTenantId").GetString().ShouldBe(tenant.ToString());
        notice.GetProperty("caseFileIds")[0].GetString().ShouldBe(adaFile.ToString());
        var seen = await receiver.WaitAsync(hook, s => s.Events.Any(e => e.GetProperty("type").GetString() == "com.tenantevents.data_subject_erasure_notified"));
        seen.Rejected.ShouldBeEmpty();
        // The subscriber is told which records went, by the ids it saw before (so it can erase its copies), and nothing of her.
        var told = seen.Events.Single(e => e.GetProperty("type").GetString() == "com.tenantevents.data_subject_erasure_notified");
        var records = told.GetProperty("data").GetProperty("records").EnumerateArray()
            .Select(r => (r.GetProperty("kind").GetString(), r.GetProperty("id").GetString())).ToList();
        records.ShouldContain(("case-file", adaFile.ToString()));
        records.ShouldContain(("membership", "idp|ada"));
        records.Count(r => r.Item1 == "directory-user").ShouldBe(1);
        records.Count(r => r.Item1 == "contact").ShouldBe(1);
        told.GetRawText().ShouldNotContain("lovelace", Case.Insensitive);
        told.GetProperty("data").TryGetProperty("recipients", out _).ShouldBeFalse(); // whom else it told is the tenant's business

        // The ledger still verifies: the events are there, sealed; only the keys that opened her data are gone.
        var auditor = As(Roles.Auditor, "carol");
        (await auditor.Post($"/api/tenants/{tenant}/audit/checkpoints")).ShouldBe(HttpStatusCode.Created);
        var bundle = JsonSerializer.Deserialize<TenantEvents.Ledger.AuditBundle>(
            (await auditor.Get($"/api/tenants/{tenant}/audit/export")).ShouldBe(HttpStatusCode.OK).Body, TenantEvents.Ledger.AuditBundle.Json)!;
        var key = TenantEvents.Ledger.NoteKey.ParseVerifier((await Fixture.Client(null).Get("/api/audit/log-key")).ShouldBe(HttpStatusCode.OK).Str("verifierKey"));
        var report = TenantEvents.Ledger.BundleVerifier.Verify(bundle, key);
        report.Problems.ShouldBeEmpty();
        report.Verified.ShouldBeTrue();
    }

    [Fact]
    public async Task fulfilment_needs_a_verified_identity_and_bad_input_changes_nothing()
    {
        var tenant = await Berlin();
        var admin = TenantAdminOf(tenant);
        (await admin.Post(Requests(tenant), new { kind = "forget-me", email = "not-an-address" })).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await admin.Post(Requests(tenant), new { kind = "access", email = Ada, receivedAt = "2030-01-01T00:00:00Z" }))
            .ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await admin.SendRaw(HttpMethod.Post, Requests(tenant), "null")).ShouldBe(HttpStatusCode.BadRequest);
        var id = (await Receive(tenant, "erasure", Ada)).Str("id");
        (await admin.Post($"{Requests(tenant)}/{id}/fulfil", new { })).ShouldBeProblem(HttpStatusCode.Conflict, "identity-not-verified");
        (await admin.Post($"{Requests(tenant)}/{id}/verify", new { method = "id document" })).ShouldBe(HttpStatusCode.OK);
        var second = As(Roles.TenantAdmin, "second-admin", tenant);
        (await second.Post($"{Requests(tenant)}/{id}/fulfil", new { caseFiles = "retain" })).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await second.Post($"{Requests(tenant)}/{id}/fulfil", new { caseFiles = "shred" })).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await admin.Post($"{Requests(tenant)}/{id}/close", new { })).ShouldBeProblem(HttpStatusCode.Conflict, "request-state");
        (await admin.Get($"{Requests(tenant)}?state=open")).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await admin.Get($"{Requests(tenant)}?state=verified")).ShouldBe(HttpStatusCode.OK).Json.GetProperty("items").GetArrayLength().ShouldBe(1);
    }

    [Fact]
    public async Task a_privacy_officer_handles_requests_but_erasure_and_the_baseline_are_the_administrators_and_every_package_read_is_recorded()
    {
        var tenant = await Berlin();
        var admin = TenantAdminOf(tenant);
        (await admin.Put($"/api/tenants/{tenant}/roles/privacy-officer", new { description = "Handles data-subject requests", permissions = new[] { "compliance.manage" } }))
            .Status.ShouldBeOneOf(HttpStatusCode.OK, HttpStatusCode.Created);
        foreach (var officer in new[] { "dpo", "dpo-b" })
            (await admin.Post($"/api/tenants/{tenant}/organisations/{await RootOf(tenant)}/grants", new { principal = new { kind = "user", id = officer }, role = "privacy-officer" }))
                .ShouldBe(HttpStatusCode.Created);
        // A case file naming Ada, in an organisation the privacy officer holds no case.read at.
        var file = Guid.Parse((await admin.Post($"/api/tenants/{tenant}/case-files", new
        {
            organisationId = await RootOf(tenant), title = "Museum burglary", classification = "official", tags = Array.Empty<string>(),
            body = "Statement of Ada Lovelace, who saw the van; plate noted by the night guard.",
        })).ShouldBe(HttpStatusCode.Created).Str("id"));
        var dpo = As(Roles.TenantMember, "dpo", tenant);
        var access = (await dpo.Post(Requests(tenant), new { kind = "access", email = Ada, name = "Ada Lovelace" })).ShouldBe(HttpStatusCode.Created).Str("id");
        (await dpo.Post($"{Requests(tenant)}/{access}/verify", new { method = "id document" })).ShouldBe(HttpStatusCode.OK);
        // Two reads at once: both answered (a lock waited for is not taken for tampering), both recorded.
        var reads = await Task.WhenAll(dpo.Get($"{Requests(tenant)}/{access}/package"), dpo.Get($"{Requests(tenant)}/{access}/package?format=html"));
        reads.ShouldAllBe(r => r.Status == HttpStatusCode.OK);
        // The officer learns the file names her, not what it says: the passages are for who may read the file.
        var listed = reads[0].Json.GetProperty("caseFiles").EnumerateArray().Single();
        listed.GetProperty("id").GetString().ShouldBe(file.ToString());
        listed.GetProperty("mentions").GetArrayLength().ShouldBe(0);
        listed.GetProperty("withheld").GetInt32().ShouldBe(1);
        reads[0].Body.ShouldNotContain("van");
        (await admin.Get($"{Requests(tenant)}/{access}/package")).ShouldBe(HttpStatusCode.OK).Body.ShouldContain("saw the van");
        (await dpo.Get($"{Requests(tenant)}/{access}")).ShouldBe(HttpStatusCode.OK).Json.GetProperty("packageReads").GetInt32().ShouldBe(3);
        (await As(Roles.Auditor, "carol").Get($"/api/tenants/{tenant}/audit/entries?type=data_subject_package_disclosed")).ShouldBe(HttpStatusCode.OK)
            .Json.GetProperty("entries").GetArrayLength().ShouldBe(3);

        var erasure = (await dpo.Post(Requests(tenant), new { kind = "erasure", email = Ada })).ShouldBe(HttpStatusCode.Created).Str("id");
        (await dpo.Post($"{Requests(tenant)}/{erasure}/verify", new { method = "id document" })).ShouldBe(HttpStatusCode.OK);
        (await As(Roles.TenantMember, "nobody", tenant).Post($"{Requests(tenant)}/{erasure}/fulfil", new { })).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        // Another privacy officer may not carry out the erasure: it removes access and directory records, the administrators' powers.
        (await As(Roles.TenantMember, "dpo-b", tenant).Post($"{Requests(tenant)}/{erasure}/fulfil", new { })).ShouldBeProblem(HttpStatusCode.Forbidden, "forbidden");
        (await As(Roles.TenantAdmin, "dpo", tenant).Post($"{Requests(tenant)}/{erasure}/fulfil", new { })).ShouldBeProblem(HttpStatusCode.Conflict, "four-eyes");
        (await dpo.Put($"/api/tenants/{tenant}/security-baseline", new { adminNetworks = new[] { "203.0.113.7/32" } })).ShouldBeProblem(HttpStatusCode.Forbidden, "forbidden");
        (await Tracked(() => admin.Post($"{Requests(tenant)}/{erasure}/fulfil", new { }))).ShouldBe(HttpStatusCode.OK);
        // Her earlier access request named her too: it no longer does.
        var earlier = (await admin.Get($"{Requests(tenant)}/{access}")).ShouldBe(HttpStatusCode.OK);
        earlier.Json.GetProperty("subject").GetProperty("erased").GetBoolean().ShouldBeTrue();
        earlier.Body.ShouldNotContain("lovelace", Case.Insensitive);
    }

    [Fact]
    public async Task another_tenant_and_a_member_without_the_permission_see_no_requests()
    {
        var tenant = await Berlin();
        var other = await Active("hamburg-police", template: "government-services", country: "DE", subdivision: "DE-HH");
        var id = (await Receive(tenant, "access", Ada)).Str("id");
        var intruder = TenantAdminOf(other);
        foreach (var path in new[] { Requests(tenant), $"{Requests(tenant)}/{id}", $"{Requests(tenant)}/{id}/package", $"/api/tenants/{tenant}/compliance",
                     $"/api/tenants/{tenant}/compliance/records-of-processing", $"/api/tenants/{tenant}/security-baseline" })
            (await intruder.Get(path)).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await intruder.Post($"{Requests(tenant)}/{id}/verify", new { method = "x" })).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await intruder.Post(Requests(tenant), new { kind = "access", email = Ada })).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        // GraphQL runs the same routes as the caller: the owner sees the request, the intruder an error and nothing.
        var query = new { query = $$"""{ tenant(id: "{{tenant}}") { compliance dataSubjectRequests(first: 10) { nodes { id kind ruleId dueAt } } } }""" };
        var own = (await TenantAdminOf(tenant).Post("/graphql", query)).ShouldBe(HttpStatusCode.OK);
        own.Body.ShouldContain(id);
        own.Body.ShouldContain("gdpr-art12-requests");
        var stolen = await intruder.Post("/graphql", query);
        stolen.Body.ShouldNotContain(id);
        stolen.Body.ShouldNotContain("gdpr-art12-requests");
        // The other tenant's own list is its own: empty.
        (await intruder.Get(Requests(other))).ShouldBe(HttpStatusCode.OK).Json.GetProperty("items").GetArrayLength().ShouldBe(0);
        // A member with nothing at the root: 404 as well; an auditor reads but may not change.
        (await As(Roles.TenantMember, "someone", tenant).Get(Requests(tenant))).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await As(Roles.Auditor, "carol").Get($"{Requests(tenant)}/{id}")).ShouldBe(HttpStatusCode.OK);
        (await As(Roles.Auditor, "carol").Get($"{Requests(tenant)}/{id}/package")).ShouldBeProblem(HttpStatusCode.Forbidden, "forbidden");
        (await As(Roles.Auditor, "carol").Post($"{Requests(tenant)}/{id}/verify", new { method = "x" })).ShouldBeProblem(HttpStatusCode.Forbidden, "forbidden");
    }
}
