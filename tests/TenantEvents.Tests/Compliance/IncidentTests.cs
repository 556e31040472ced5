using System.Net;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using TenantEvents.Compliance;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Tests.Support;

namespace TenantEvents.Tests.Compliance;

/// <summary>
/// NIS2 incidents with the controllable clock (deadlines firing on time, across a restart of the service), platform
/// incidents fanning out to the tenants they touch, the jurisdiction's rules refusing a retention below its minimum,
/// the records of processing, the security baseline at the door, and another tenant's 404.
/// </summary>
public class IncidentTests(AppFixture fixture) : IntegrationTest(fixture)
{
    private static readonly DateTimeOffset Aware = new(2027, 3, 1, 6, 0, 0, TimeSpan.Zero);

    private async Task<Guid> Berlin(string slug = "berlin-police")
    {
        Fixture.Time.SetUtcNow(Aware);
        return await Active(slug, template: "government-services", country: "DE", subdivision: "DE-BE");
    }

    private static string Incidents(Guid tenant) => $"/api/tenants/{tenant}/incidents";

    private static async Task<List<string>> Types(HttpClient auditor, Guid tenant, Guid incident) =>
        (await auditor.Get($"/api/tenants/{tenant}/audit/entries?stream={incident}&limit=200")).ShouldBe(HttpStatusCode.OK).Json.GetProperty("entries")
        .EnumerateArray().Select(e => e.GetProperty("type").GetString()!).ToList();

    /// <summary>A round of the compliance job on a service instance started for it, at the time given, then stopped.</summary>
    private async Task RoundOnAFreshInstance(DateTimeOffset at)
    {
        Fixture.Time.SetUtcNow(at);
        await using var host = await Fixture.StartHost();
        await host.Services.GetRequiredService<ComplianceJobs>().RunOnceAsync(CancellationToken.None);
    }

    [Fact]
    public async Task a_significant_incidents_three_deadlines_fire_on_time_across_restarts()
    {
        var tenant = await Berlin();
        var auditor = As(Roles.Auditor, "carol");
        Guid id;
        // Registered and assessed on one instance, which then stops.
        await using (var first = await Fixture.StartHost())
        {
            var ciso = Fixture.SecondClient(first, Fixture.Token(Roles.TenantAdmin, "ciso", tenant));
            id = Guid.Parse((await ciso.Post(Incidents(tenant), new
            {
                title = "Ransomware on the records servers", description = "File shares encrypted; ransom note found.", category = "ransomware",
                awareAt = Aware,
            })).ShouldBe(HttpStatusCode.Created).Str("id"));
            var assessed = (await ciso.Post($"{Incidents(tenant)}/{id}/assess", new
            {
                significant = true, severity = "high", reasons = "Records unavailable to officers for hours", suspectedMalicious = true,
            })).ShouldBe(HttpStatusCode.OK).Json;
            assessed.GetProperty("deadlines").EnumerateArray().Select(d => (d.GetProperty("stage").GetString(), d.GetProperty("dueAt").GetString()))
                .ShouldBe([("early-warning", "2027-03-02T06:00:00.0000000Z"), ("notification", "2027-03-04T06:00:00.0000000Z")]);
        }

        // Each round on an instance started afresh: the deadlines live in the database, not in a process.
        await RoundOnAFreshInstance(Aware.AddHours(17).AddMinutes(59));
        (await Types(auditor, tenant, id)).ShouldNotContain("incident_reminder_raised");
        await RoundOnAFreshInstance(Aware.AddHours(18));
        (await Types(auditor, tenant, id)).Count(t => t == "incident_reminder_raised").ShouldBe(1);
        await RoundOnAFreshInstance(Aware.AddHours(23).AddMinutes(59));
        (await Types(auditor, tenant, id)).ShouldNotContain("incident_deadline_missed");
        await RoundOnAFreshInstance(Aware.AddHours(24));
        var types = await Types(auditor, tenant, id);
        types.Count(t => t == "incident_deadline_missed").ShouldBe(1);
        types.Count(t => t == "incident_escalated").ShouldBe(1);

        // The early warning sent late, the notification on time: the final report is due a month after the notification.
        var admin = TenantAdminOf(tenant);
        Fixture.Time.SetUtcNow(Aware.AddHours(30));
        (await admin.Post($"{Incidents(tenant)}/{id}/reports", new { stage = "early-warning", summary = "Suspected criminal act; no cross-border impact.", authority = "BSI" }))
            .ShouldBe(HttpStatusCode.OK);
        Fixture.Time.SetUtcNow(Aware.AddHours(60));
        var notified = (await admin.Post($"{Incidents(tenant)}/{id}/reports", new
        {
            stage = "notification", summary = "High severity; records restored from backup within 20 hours.", authority = "BSI", reference = "BSI-2027-0042",
        })).ShouldBe(HttpStatusCode.OK).Json;
        var finalDue = Aware.AddHours(60).AddMonths(1);
        notified.GetProperty("deadlines").EnumerateArray().Single(d => d.GetProperty("stage").GetString() == "final-report").GetProperty("dueAt").GetString()
            .ShouldBe(finalDue.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'"));
        await RoundOnAFreshInstance(Aware.AddHours(72));
        (await Types(auditor, tenant, id)).Count(t => t == "incident_deadline_missed").ShouldBe(1); // the notification was on time
        await RoundOnAFreshInstance(finalDue.AddSeconds(-1));
        (await Types(auditor, tenant, id)).Count(t => t == "incident_deadline_missed").ShouldBe(1);
        await RoundOnAFreshInstance(finalDue);
        (await Types(auditor, tenant, id)).Count(t => t == "incident_deadline_missed").ShouldBe(2);

        // Closing waits for the final report; its document reads as JSON and PDF.
        (await admin.Post($"{Incidents(tenant)}/{id}/close", new { resolution = "Restored" })).ShouldBeProblem(HttpStatusCode.Conflict, "reports-outstanding");
        (await admin.Post($"{Incidents(tenant)}/{id}/reports", new { stage = "final-report", summary = "Root cause: phished VPN credentials; MFA now enforced." }))
            .ShouldBe(HttpStatusCode.OK);
        var report = (await admin.Get($"{Incidents(tenant)}/{id}/reports/final-report")).ShouldBe(HttpStatusCode.OK).Json;
        report.GetProperty("status").GetString().ShouldBe("submitted");
        report.GetProperty("earlierReports").GetArrayLength().ShouldBe(2);
        var pdf = await admin.GetAsync($"{Incidents(tenant)}/{id}/reports/notification?format=pdf");
        pdf.Content.Headers.ContentType!.MediaType.ShouldBe("application/pdf");
        (await admin.Post($"{Incidents(tenant)}/{id}/close", new { resolution = "Restored; credentials rotated" })).ShouldBe(HttpStatusCode.OK)
            .Json.GetProperty("state").GetString().ShouldBe("closed");
    }

    /// <summary>Runs SQL in every test database as a superuser with the triggers off (an intruder's reach, and more).</summary>
    private static async Task Tamper(string sql, params object[] values)
    {
        foreach (var database in new[] { TestDatabase.MainDatabase, TestDatabase.MainDatabase + "_d1", TestDatabase.MainDatabase + "_d2", TestDatabase.EuDatabase,
                     TestDatabase.EuDatabase + "_d1" })
        {
            await using var connection = new Npgsql.NpgsqlConnection(new Npgsql.NpgsqlConnectionStringBuilder(TestDatabase.SuperuserConnectionString)
                { Database = database }.ConnectionString);
            try { await connection.OpenAsync(); }
            catch (Npgsql.PostgresException) { continue; } // not every layout has every database
            await using var command = new Npgsql.NpgsqlCommand(sql.Replace("{s}", "tenantevents"), connection);
            foreach (var value in values) command.Parameters.Add(new Npgsql.NpgsqlParameter { Value = value });
            try { await command.ExecuteNonQueryAsync(); }
            catch (Npgsql.PostgresException e) when (e.SqlState == "42P01") { } // the platform's tables are in the main database only
        }
    }

    [Fact]
    public async Task a_deadline_row_deleted_with_the_databases_password_comes_back_at_the_sweep_and_fires()
    {
        // The platform follows escalations through its own subscription (metadata only).
        var receiver = await Fixture.WebhookReceiver();
        var hook = "esc" + Guid.NewGuid().ToString("N")[..10];
        var subscribed = (await Admin.Post("/api/platform/webhooks", new { url = receiver.Hook(hook), types = new[] { "com.tenantevents.incident_*" } }))
            .ShouldBe(HttpStatusCode.Created);
        await receiver.ConfigureAsync(hook, subscribed.Str("secret"));
        var tenant = await Berlin();
        var admin = TenantAdminOf(tenant);
        var id = (await admin.Post(Incidents(tenant), new { title = "DDoS", description = "Portal unreachable", category = "denial-of-service", awareAt = Aware }))
            .ShouldBe(HttpStatusCode.Created).Str("id");
        (await admin.Post($"{Incidents(tenant)}/{id}/assess", new { significant = true, severity = "high", reasons = "Citizens cannot report crimes online" }))
            .ShouldBe(HttpStatusCode.OK);
        await Tamper("delete from {s}.compliance_deadlines where record_id = $1", Guid.Parse(id));
        var jobs = Fixture.Host.Services.GetRequiredService<ComplianceJobs>();
        Fixture.Time.SetUtcNow(Aware.AddHours(25));
        await jobs.RunOnceAsync(CancellationToken.None);
        var auditor = As(Roles.Auditor, "carol");
        (await Types(auditor, tenant, Guid.Parse(id))).ShouldNotContain("incident_deadline_missed"); // the row was the index, and it is gone
        await jobs.RunOnceAsync(CancellationToken.None, sweep: true);
        (await Types(auditor, tenant, Guid.Parse(id))).Count(t => t == "incident_deadline_missed").ShouldBe(1);   // the sealed record says it is due

        // Platform staff see what is late across the estate; a tenant's administrator does not.
        var late = (await auditor.Get("/api/platform/compliance/overdue")).ShouldBe(HttpStatusCode.OK).Json.GetProperty("items").EnumerateArray()
            .Where(i => i.GetProperty("id").GetString() == id).Select(i => i.GetProperty("what").GetString()).ToList();
        late.ShouldBe(["early-warning not submitted"]); // the notification is due at 72 hours
        (await admin.Get("/api/platform/compliance/overdue")).ShouldBe(HttpStatusCode.Forbidden);
        var seen = await receiver.WaitAsync(hook, s => s.Events.Any(e => e.GetProperty("type").GetString() == "com.tenantevents.incident_escalated"
                                                                       && e.GetProperty("tenantid").GetString() == tenant.ToString()));
        seen.Rejected.ShouldBeEmpty();
        var escalated = seen.Events.First(e => e.GetProperty("type").GetString() == "com.tenantevents.incident_escalated").GetRawText();
        escalated.ShouldNotContain("Portal unreachable");
        seen.Events.ShouldNotContain(e => e.GetProperty("type").GetString() == "com.tenantevents.incident_registered"); // the tenant's own
    }

    [Fact]
    public async Task a_platform_incident_fans_out_to_every_tenant_it_touches_and_no_other()
    {
        var berlin = await Berlin();
        var hamburg = await Active("hamburg-police", template: "government-services", country: "DE", subdivision: "DE-HH");
        var untouched = await Active("munich-police", template: "government-services", country: "DE", subdivision: "DE-BY");
        (await TenantAdminOf(berlin).Post("/api/platform/incidents", new { title = "x", description = "y", category = "other", affectedTenants = new[] { berlin } }))
            .ShouldBe(HttpStatusCode.Forbidden);
        var incident = (await Admin.Post("/api/platform/incidents", new
        {
            title = "Storage outage in the eu zone", description = "The eu database cluster was unavailable.", category = "availability",
            affectedTenants = new[] { berlin, hamburg },
        })).ShouldBe(HttpStatusCode.Created).Json;
        var id = incident.GetProperty("id").GetString();
        var assessed = (await Admin.Post($"/api/platform/incidents/{id}/assess", new { significant = true, severity = "medium", reasons = "Two agencies offline for an hour" }))
            .ShouldBe(HttpStatusCode.OK).Json;
        assessed.GetProperty("deadlines").GetArrayLength().ShouldBe(2); // the platform is in DE: NIS2
        foreach (var tenant in new[] { berlin, hamburg })
        {
            var notices = (await TenantAdminOf(tenant).Get($"/api/tenants/{tenant}/compliance")).ShouldBe(HttpStatusCode.OK).Json.GetProperty("incidentNotices");
            notices.EnumerateArray().Select(n => n.GetProperty("stage").GetString()).ShouldBe(["registered", "assessed"]);
            notices.GetRawText().ShouldNotContain("database cluster"); // the platform's own words stay the platform's
            notices.GetRawText().ShouldNotContain("Two agencies");
        }
        (await TenantAdminOf(untouched).Get($"/api/tenants/{untouched}/compliance")).ShouldBe(HttpStatusCode.OK).Json.GetProperty("incidentNotices")
            .GetArrayLength().ShouldBe(0);
        // Its snapshot row rewritten with the database's password (closed, no deadlines) changes nothing: it is read from its events.
        await Tamper("update {s}.platform_incidents set state = 'closed', snapshot = jsonb_set(jsonb_set(snapshot, '{state}', '\"closed\"'), '{deadlines}', '[]') where id = $1",
            Guid.Parse(id!));
        var read = (await Admin.Get($"/api/platform/incidents/{id}")).ShouldBe(HttpStatusCode.OK).Json;
        read.GetProperty("state").GetString().ShouldBe("assessed");
        read.GetProperty("deadlines").GetArrayLength().ShouldBe(2);
        // Its deadline rows deleted: the job's sweep writes them again from the events, and the missed stage fires.
        await Tamper("delete from {s}.platform_deadlines where record_id = $1", Guid.Parse(id!));
        var jobs = Fixture.Host.Services.GetRequiredService<ComplianceJobs>();
        Fixture.Time.SetUtcNow(Aware.AddHours(25));
        await jobs.RunOnceAsync(CancellationToken.None);
        (await Admin.Get($"/api/platform/incidents/{id}")).ShouldBe(HttpStatusCode.OK).Json.GetProperty("deadlines").EnumerateArray()
            .ShouldAllBe(d => !d.GetProperty("missed").GetBoolean());
        await jobs.RunOnceAsync(CancellationToken.None, sweep: true);
        (await Admin.Get($"/api/platform/incidents/{id}")).ShouldBe(HttpStatusCode.OK).Json.GetProperty("deadlines").EnumerateArray()
            .Count(d => d.GetProperty("missed").GetBoolean()).ShouldBe(1);
        // Tenants see notices, not the platform's incident itself; platform staff read it.
        (await TenantAdminOf(berlin).Get($"/api/platform/incidents/{id}")).ShouldBe(HttpStatusCode.Forbidden);
        (await As(Roles.Auditor, "carol").Get($"/api/platform/incidents/{id}")).ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task a_retention_below_the_jurisdictions_minimum_is_refused_with_the_rule_named()
    {
        var request = TenantRequest("mumbai-police", "commercial-saas", "IN", null, "Mumbai Police", overrides: new { auditRetentionDays = 90 });
        var refused = (await Admin.Post("/api/tenants", request)).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        refused.Body.ShouldContain("in-certin-log-retention");
        refused.Body.ShouldContain("below-jurisdiction-minimum");
        var tenant = await Active("mumbai-police", template: "commercial-saas", country: "IN", subdivision: null);
        var settings = $"/api/tenants/{tenant}/settings";
        (await Admin.Patch(settings, new { auditRetentionDays = 179 })).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed")
            .Body.ShouldContain("in-certin-log-retention");
        (await Admin.Patch(settings, new { auditRetentionDays = 180 })).ShouldBe(HttpStatusCode.OK);
        var view = (await Admin.Get($"/api/tenants/{tenant}/compliance")).ShouldBe(HttpStatusCode.OK).Json;
        view.GetProperty("rules").EnumerateArray().Select(r => r.GetProperty("rule").GetProperty("id").GetString())
            .ShouldContain("in-certin-log-retention");
        view.GetProperty("rules").EnumerateArray().Single(r => r.GetProperty("rule").GetProperty("id").GetString() == "in-certin-log-retention")
            .GetProperty("why").GetString().ShouldBe("the tenant's residency country is IN");
        view.GetProperty("dataSubjectRequests").GetProperty("ruleId").GetString().ShouldBe("platform-default-requests");
    }

    [Fact]
    public async Task records_of_processing_list_the_tenants_activities_and_the_platforms_with_recipients()
    {
        var tenant = await Berlin();
        var admin = TenantAdminOf(tenant);
        (await admin.Put($"/api/tenants/{tenant}/compliance/processing-activities", new { activities = new object?[] { null } }))
            .ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await admin.Put($"/api/tenants/{tenant}/compliance/processing-activities", new
        {
            activities = new[]
            {
                new { name = "Criminal investigations", purposes = new[] { "prevention and detection of crime" }, dataSubjects = new[] { "suspects", "witnesses" },
                    dataCategories = new[] { "identity", "statements" }, legalBasis = "Directive (EU) 2016/680 as transposed", retention = "as the case law requires" },
            },
        })).ShouldBe(HttpStatusCode.OK);
        var record = (await admin.Get($"/api/tenants/{tenant}/compliance/records-of-processing")).ShouldBe(HttpStatusCode.OK).Json;
        var names = record.GetProperty("activities").EnumerateArray().Select(a => a.GetProperty("name").GetString()).ToList();
        names.ShouldContain("Criminal investigations");
        names.ShouldContain("Audit trail");
        record.GetProperty("activities").EnumerateArray().Single(a => a.GetProperty("name").GetString() == "Audit trail").GetProperty("retention").GetString()!
            .ShouldContain("days");
        (await admin.Get($"/api/tenants/{tenant}/compliance/records-of-processing?format=csv")).ShouldBe(HttpStatusCode.OK).Body
            .ShouldStartWith("name,source,purposes");
        (await admin.Get($"/api/tenants/{tenant}/compliance/records-of-processing?format=pdf")).ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task the_security_baseline_keeps_administrators_to_their_networks_and_reports_its_evidence()
    {
        var tenant = await Berlin();
        var path = $"/api/tenants/{tenant}/security-baseline";
        (await TenantAdminOf(tenant).Put(path, new { adminNetworks = new[] { "not-a-network" } })).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        // An administrator cannot lock themselves out; the platform's administrator sets the networks.
        (await TenantAdminOf(tenant).Put(path, new { adminNetworks = new[] { "10.20.0.0/16" } })).ShouldBeProblem(HttpStatusCode.Conflict, "would-lock-you-out");
        (await Admin.Put(path, new { requiredAmr = new[] { "mfa" }, maxTokenAgeMinutes = 60, adminNetworks = new[] { "10.20.0.0/16" }, keyRotationDays = 90 }))
            .ShouldBe(HttpStatusCode.OK);
        (await TenantAdminOf(tenant).Get($"/api/tenants/{tenant}/organisations")).ShouldBeProblem(HttpStatusCode.Forbidden, "network-not-allowed");
        var evidence = (await Admin.Get(path + "/evidence")).ShouldBe(HttpStatusCode.OK).Json.GetProperty("controls").EnumerateArray()
            .ToDictionary(c => c.GetProperty("control").GetString()!, c => c.GetProperty("status").GetString());
        evidence.ShouldBe(new Dictionary<string, string?>
        {
            ["authentication-strength"] = "met", ["token-age"] = "met", ["administrative-networks"] = "met", ["key-rotation"] = "met",
        });
        // The data key made when the tenant was provisioned is due for rotation 90 days on: the job says so once.
        var jobs = Fixture.Host.Services.GetRequiredService<ComplianceJobs>();
        Fixture.Time.SetUtcNow(Aware.AddDays(89));
        await jobs.RunOnceAsync(CancellationToken.None);
        Fixture.Time.SetUtcNow(Aware.AddDays(91));
        await jobs.RunOnceAsync(CancellationToken.None);
        await jobs.RunOnceAsync(CancellationToken.None);
        (await As(Roles.Auditor, "carol").Get($"/api/tenants/{tenant}/audit/entries?type=key_rotation_overdue")).ShouldBe(HttpStatusCode.OK).Json
            .GetProperty("entries").GetArrayLength().ShouldBe(1);
        var overdue = (await Admin.Get(path + "/evidence")).ShouldBe(HttpStatusCode.OK).Json;
        overdue.GetProperty("controls").EnumerateArray()
            .Single(c => c.GetProperty("control").GetString() == "key-rotation").GetProperty("status").GetString().ShouldBe("not-met");
        overdue.GetProperty("keyRotationOverdue").GetProperty("keyRotationDays").GetInt32().ShouldBe(90);
        (await Admin.Put(path, new { })).ShouldBe(HttpStatusCode.OK);
        (await TenantAdminOf(tenant).Get($"/api/tenants/{tenant}/organisations")).ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public void a_federated_sign_in_short_of_the_baseline_is_refused_with_the_reason()
    {
        var baseline = new SecurityBaseline(["urn:eidas:loa:high"], ["mfa"], 60, [], null);
        var now = DateTimeOffset.UtcNow;
        System.Security.Claims.ClaimsPrincipal Principal(string? acr, string[] amr, DateTimeOffset? authTime) => new(new System.Security.Claims.ClaimsIdentity(
            new[] { acr is null ? null : new System.Security.Claims.Claim("acr", acr) }.OfType<System.Security.Claims.Claim>()
                .Concat(amr.Select(m => new System.Security.Claims.Claim("amr", m)))
                .Concat(authTime is { } t ? [new System.Security.Claims.Claim("auth_time", t.ToUnixTimeSeconds().ToString())] : []), "federated"));
        SecurityBaselines.Shortfall(baseline, Principal("urn:eidas:loa:high", ["pwd", "mfa"], now.AddMinutes(-5)), now).ShouldBeNull();
        SecurityBaselines.Shortfall(baseline, Principal("urn:eidas:loa:low", ["mfa"], now), now)!.ShouldContain("acr");
        SecurityBaselines.Shortfall(baseline, Principal("urn:eidas:loa:high", ["pwd"], now), now)!.ShouldContain("mfa");
        SecurityBaselines.Shortfall(baseline, Principal("urn:eidas:loa:high", ["mfa"], now.AddMinutes(-61)), now)!.ShouldContain("60 minutes");
        SecurityBaselines.Shortfall(baseline, Principal("urn:eidas:loa:high", ["mfa"], null), now)!.ShouldContain("auth_time");
        SecurityBaselines.Shortfall(baseline, Principal("urn:eidas:loa:high", ["mfa"], DateTimeOffset.MaxValue.AddYears(-1)), now)!.ShouldContain("future");
    }

    [Fact]
    public async Task an_incidents_words_reach_who_reads_compliance_and_only_its_facts_reach_a_reader_of_the_trail()
    {
        var tenant = await Berlin();
        var admin = TenantAdminOf(tenant);
        var root = await RootOf(tenant);
        (await admin.Put($"/api/tenants/{tenant}/roles/trail-reader", new { description = "Reads the trail", permissions = new[] { "audit.read" } }))
            .Status.ShouldBeOneOf(HttpStatusCode.OK, HttpStatusCode.Created);
        (await admin.Put($"/api/tenants/{tenant}/roles/compliance-reader", new { description = "Reads the trail and compliance", permissions = new[] { "audit.read", "compliance.read" } }))
            .Status.ShouldBeOneOf(HttpStatusCode.OK, HttpStatusCode.Created);
        foreach (var (user, role) in new[] { ("trail", "trail-reader"), ("compliance", "compliance-reader") })
            (await admin.Post($"/api/tenants/{tenant}/organisations/{root}/grants", new { principal = new { kind = "user", id = user }, role })).ShouldBe(HttpStatusCode.Created);
        var id = (await admin.Post(Incidents(tenant), new { title = "Insider copied witness list", description = "Officer K. exported the list to a USB stick", category = "confidentiality" }))
            .ShouldBe(HttpStatusCode.Created).Str("id");
        (await admin.Put($"/api/tenants/{tenant}/security-baseline", new { requiredAmr = new[] { "mfa" } })).ShouldBe(HttpStatusCode.OK);
        var trail = (await Member(tenant, "trail").Get($"/api/tenants/{tenant}/audit/entries?limit=200")).ShouldBe(HttpStatusCode.OK).Body;
        trail.ShouldContain(id);                       // the fact: an incident was registered
        trail.ShouldContain("confidentiality");
        trail.ShouldNotContain("USB stick");           // its words: withheld
        trail.ShouldNotContain("witness list");
        trail.ShouldNotContain("\"mfa\"");            // the baseline's settings: withheld
        var reader = (await Member(tenant, "compliance").Get($"/api/tenants/{tenant}/audit/entries?limit=200")).ShouldBe(HttpStatusCode.OK).Body;
        reader.ShouldContain("USB stick");
        reader.ShouldContain("\"mfa\"");
    }

    [Fact]
    public async Task another_tenants_incidents_are_not_found()
    {
        var tenant = await Berlin();
        var other = await Active("hamburg-police", template: "government-services", country: "DE", subdivision: "DE-HH");
        var id = (await TenantAdminOf(tenant).Post(Incidents(tenant), new { title = "Phishing wave", description = "Staff targeted", category = "phishing" }))
            .ShouldBe(HttpStatusCode.Created).Str("id");
        var intruder = TenantAdminOf(other);
        foreach (var path in new[] { Incidents(tenant), $"{Incidents(tenant)}/{id}", $"{Incidents(tenant)}/{id}/reports/early-warning" })
            (await intruder.Get(path)).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await intruder.Post($"{Incidents(tenant)}/{id}/assess", new { significant = true, severity = "low", reasons = "x" }))
            .ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        // The id means nothing in the intruder's own tenant either.
        (await intruder.Get($"{Incidents(other)}/{id}")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await TenantAdminOf(tenant).Post(Incidents(tenant), new { title = "x", description = "y", category = "meteor" }))
            .ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
    }
}
