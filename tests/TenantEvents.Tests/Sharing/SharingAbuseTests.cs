using System.Net;
using Npgsql;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Tests.Support;

namespace TenantEvents.Tests.Sharing;

/// <summary>
/// Sharing from the attacker's side: accepting for another tenant, widening without consent, sharing what one does not
/// own or into what one is not in, reaching another tenant's routes; bad input. Each refused, nothing changed. And the
/// database's own rule, without the service's queries.
/// </summary>
public class SharingAbuseTests(AppFixture fixture) : SharingScenario(fixture)
{
    [Fact]
    public async Task nobody_but_the_recipients_administrator_accepts_and_a_refusal_changes_nothing()
    {
        await ThreeAgencies();
        var file = await File(Police, "Gang roster", ["gang-unit"]);
        var agreement = await Offer(Police, Sheriff, new { tags = new[] { "gang-unit" } });
        var events = await EventCount();

        // A third tenant: through its own routes the agreement does not exist; through the recipient's it is not let in.
        (await TenantAdminOf(TaskForce).Post($"/api/tenants/{TaskForce}/sharing/agreements/{agreement}/accept", new { }))
            .ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await TenantAdminOf(TaskForce).Post($"/api/tenants/{Sheriff}/sharing/agreements/{agreement}/accept", new { }))
            .ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        // The owner cannot accept its own offer; a recipient's investigator (no sharing.manage) cannot either.
        (await TenantAdminOf(Police).Post($"/api/tenants/{Police}/sharing/agreements/{agreement}/accept", new { }))
            .ShouldBeProblem(HttpStatusCode.Forbidden, "forbidden");
        (await InvestigatorOf(Sheriff).Post($"/api/tenants/{Sheriff}/sharing/agreements/{agreement}/accept", new { }))
            .ShouldBeProblem(HttpStatusCode.Forbidden, "forbidden");
        // Platform staff do not act for a tenant here.
        (await Admin.Post($"/api/tenants/{Sheriff}/sharing/agreements/{agreement}/accept", new { })).ShouldBeProblem(HttpStatusCode.Forbidden, "forbidden");

        (await EventCount()).ShouldBe(events);
        (await Visible(InvestigatorOf(Sheriff), Sheriff)).ShouldBeEmpty();
        (await Visible(InvestigatorOf(TaskForce), TaskForce)).ShouldBeEmpty();
        (await TenantAdminOf(Sheriff).Get($"/api/tenants/{Sheriff}/sharing/agreements/{agreement}")).ShouldBe(HttpStatusCode.OK).Str("state").ShouldBe("offered");
        _ = file;
    }

    [Fact]
    public async Task an_accepted_agreement_cannot_be_widened_without_new_consent_but_can_be_narrowed()
    {
        await ThreeAgencies();
        var gangs = await File(Police, "Gang roster", ["gang-unit"]);
        var named = await File(Police, "Stolen vehicles");
        var narcotics = await File(Police, "Fentanyl route", ["narcotics"]);
        var expires = Fixture.Time.GetUtcNow() + TimeSpan.FromDays(30);
        var agreement = await Offer(Police, Sheriff, new { tags = new[] { "gang-unit" }, caseFileIds = new[] { named } }, ["read", "comment"]);
        (await AcceptAgreement(Sheriff, agreement)).ShouldBe(HttpStatusCode.OK);
        var deputy = InvestigatorOf(Sheriff);
        var url = $"/api/tenants/{Police}/sharing/agreements/{agreement}";
        var events = await EventCount();

        foreach (var wider in new object[]
                 {
                     new { scope = new { tags = new[] { "gang-unit", "narcotics" }, caseFileIds = new[] { named } } },
                     new { scope = new { tags = new[] { "gang-unit" }, caseFileIds = new[] { named, narcotics } } },
                     new { scope = new { tags = new[] { "gang-unit" }, caseFileIds = new[] { named }, classifications = new[] { "secret" } } },
                     new { permissions = new[] { "read", "comment", "contribute" } },
                     new { expiresAt = expires + TimeSpan.FromDays(1) },
                 })
            (await TenantAdminOf(Police).Patch(url, wider)).ShouldBeProblem(HttpStatusCode.Conflict, "consent-required");
        (await EventCount()).ShouldBe(events);
        (await Visible(deputy, Sheriff)).ShouldBe([gangs, named], ignoreOrder: true);

        // The recipient cannot change the scope at all.
        (await TenantAdminOf(Sheriff).Patch($"/api/tenants/{Sheriff}/sharing/agreements/{agreement}", new { permissions = new[] { "read" } }))
            .ShouldBeProblem(HttpStatusCode.Forbidden, "forbidden");

        var narrowed = (await TenantAdminOf(Police).Patch(url, new { scope = new { tags = new[] { "gang-unit" } }, permissions = new[] { "read" } }))
            .ShouldBe(HttpStatusCode.OK).Json;
        narrowed.GetProperty("state").GetString().ShouldBe("active");
        (await Visible(deputy, Sheriff)).ShouldBe([gangs]);
        (await deputy.Get($"/api/tenants/{Sheriff}/case-files/{gangs}")).ShouldBe(HttpStatusCode.OK).Json
            .GetProperty("access").EnumerateArray().Select(a => a.GetString()).ShouldBe(["read"]);
        (await deputy.Post($"/api/tenants/{Sheriff}/case-files/{gangs}/comments", new { text = "no longer allowed" }))
            .ShouldBeProblem(HttpStatusCode.Forbidden, "forbidden");
    }

    [Fact]
    public async Task a_tenant_cannot_share_a_file_it_does_not_own_nor_share_into_a_channel_it_is_not_in()
    {
        await ThreeAgencies();
        var policeFile = await File(Police, "Gang roster", ["gang-unit"]);
        var agreement = await Offer(Police, Sheriff, new { tags = new[] { "gang-unit" } }, ["read", "comment", "contribute"]);
        (await AcceptAgreement(Sheriff, agreement)).ShouldBe(HttpStatusCode.OK);
        var sheriffFile = await File(Sheriff, "Burglary series");
        var channel = await Collaboration(Police, "channel", TaskForce);
        var sheriffsChannel = await Collaboration(Sheriff, "channel", TaskForce);
        var events = await EventCount();

        // Re-sharing what was shared with it: neither in an agreement nor into a channel.
        (await TenantAdminOf(Sheriff).Post($"/api/tenants/{Sheriff}/sharing/agreements", new
        {
            recipientTenantId = TaskForce, scope = new { caseFileIds = new[] { policeFile } }, purpose = "re-share", expiresAt = Fixture.Time.GetUtcNow().AddDays(1),
        })).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed").Json.GetProperty("errors")[0].GetProperty("code").GetString().ShouldBe("not-owned");
        (await ShareInto(Sheriff, policeFile, sheriffsChannel, client: TenantAdminOf(Sheriff))).ShouldBeProblem(HttpStatusCode.Forbidden, "not-owner");
        // A partner never revises the owner's file.
        (await TenantAdminOf(Sheriff).Patch($"/api/tenants/{Sheriff}/case-files/{policeFile}", new { title = "mine now" }))
            .ShouldBeProblem(HttpStatusCode.Forbidden, "not-owner");
        // Into a channel it was never invited to, or only invited to: 404, as if it did not exist.
        (await ShareInto(Sheriff, sheriffFile, channel)).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await ShareInto(TaskForce, await File(TaskForce, "Federal file"), channel)).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        // Someone else's file it cannot see at all: 404.
        (await ShareInto(TaskForce, policeFile, sheriffsChannel, client: TenantAdminOf(TaskForce))).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");

        (await EventCount()).ShouldBe(events + 1, "only the task force's own new file");
        (await Visible(InvestigatorOf(TaskForce), TaskForce, "?source=shared")).ShouldBeEmpty();
        (await TenantAdminOf(Sheriff).Get($"/api/tenants/{Sheriff}/sharing/agreements?role=owner")).ShouldBe(HttpStatusCode.OK)
            .Json.GetProperty("items").GetArrayLength().ShouldBe(0);
    }

    [Fact]
    public async Task another_tenants_case_files_and_sharing_routes_answer_404_to_an_attacker()
    {
        await ThreeAgencies();
        var file = await File(Police, "Gang roster", ["gang-unit"]);
        var agreement = await Offer(Police, Sheriff, new { tags = new[] { "gang-unit" } });
        var channel = await Collaboration(Police, "channel", Sheriff);
        var attackers = new[] { TenantAdminOf(TaskForce), InvestigatorOf(TaskForce), As(Roles.TenantMember, "mallory", TaskForce) };
        var routes = new (HttpMethod Method, string Url, object? Body)[]
        {
            (HttpMethod.Get, $"/api/tenants/{Police}/case-files", null),
            (HttpMethod.Post, $"/api/tenants/{Police}/case-files", new { organisationId = await RootOf(Police), title = "x", classification = "official" }),
            (HttpMethod.Get, $"/api/tenants/{Police}/case-files/{file}", null),
            (HttpMethod.Patch, $"/api/tenants/{Police}/case-files/{file}", new { title = "x" }),
            (HttpMethod.Post, $"/api/tenants/{Police}/case-files/{file}/comments", new { text = "x" }),
            (HttpMethod.Post, $"/api/tenants/{Police}/case-files/{file}/contributions", new { text = "x" }),
            (HttpMethod.Put, $"/api/tenants/{Police}/case-files/{file}/collaborations/{channel}", new { }),
            (HttpMethod.Delete, $"/api/tenants/{Police}/case-files/{file}/collaborations/{channel}", null),
            (HttpMethod.Get, $"/api/tenants/{Police}/sharing/agreements", null),
            (HttpMethod.Post, $"/api/tenants/{Police}/sharing/agreements", new { recipientTenantId = TaskForce }),
            (HttpMethod.Get, $"/api/tenants/{Police}/sharing/agreements/{agreement}", null),
            (HttpMethod.Patch, $"/api/tenants/{Police}/sharing/agreements/{agreement}", new { }),
            (HttpMethod.Post, $"/api/tenants/{Police}/sharing/agreements/{agreement}/revoke", new { }),
            (HttpMethod.Post, $"/api/tenants/{Sheriff}/sharing/agreements/{agreement}/accept", new { }),
            (HttpMethod.Post, $"/api/tenants/{Sheriff}/sharing/agreements/{agreement}/decline", new { }),
            (HttpMethod.Get, $"/api/tenants/{Police}/collaborations", null),
            (HttpMethod.Post, $"/api/tenants/{Police}/collaborations", new { kind = "channel", name = "x", charter = "x" }),
            (HttpMethod.Get, $"/api/tenants/{Police}/collaborations/{channel}", null),
            (HttpMethod.Post, $"/api/tenants/{Police}/collaborations/{channel}/invitations", new { tenantId = TaskForce }),
            (HttpMethod.Post, $"/api/tenants/{Sheriff}/collaborations/{channel}/accept", null),
            (HttpMethod.Post, $"/api/tenants/{Sheriff}/collaborations/{channel}/decline", null),
            (HttpMethod.Post, $"/api/tenants/{Police}/collaborations/{channel}/leave", null),
            (HttpMethod.Delete, $"/api/tenants/{Police}/collaborations/{channel}/members/{Sheriff}", null),
            (HttpMethod.Put, $"/api/tenants/{Police}/collaborations/{channel}/charter", new { charter = "x" }),
            (HttpMethod.Post, $"/api/tenants/{Police}/collaborations/{channel}/close", null),
        };
        var events = await EventCount();
        foreach (var attacker in attackers)
            foreach (var (method, url, body) in routes)
                (await attacker.Send(method, url, body)).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        // Through its own routes, the attacker's tenant finds nothing of the victim's either.
        foreach (var (method, url, body) in routes)
            (await TenantAdminOf(TaskForce).Send(method, url.Replace(Police.ToString(), TaskForce.ToString()).Replace(Sheriff.ToString(), TaskForce.ToString()), body))
            .Status.ShouldBeOneOf(HttpStatusCode.NotFound, HttpStatusCode.BadRequest, HttpStatusCode.OK, HttpStatusCode.Created);
        (await Visible(TenantAdminOf(TaskForce), TaskForce)).ShouldNotContain(file);
        foreach (var (method, url, body) in routes)
            (await Fixture.Client().Send(method, url, body)).ShouldBeProblem(HttpStatusCode.Unauthorized, "unauthenticated");
        // Platform roles are not let into a tenant's case files (sovereignty).
        foreach (var role in new[] { Roles.PlatformAdmin, Roles.Auditor, Roles.Analyst })
            (await As(role, "staff").Get($"/api/tenants/{Police}/case-files/{file}")).ShouldBeProblem(HttpStatusCode.Forbidden, "forbidden");
        (await TenantAdminOf(Police).Get($"/api/tenants/{Police}/case-files/{file}")).ShouldBe(HttpStatusCode.OK).Str("title").ShouldBe("Gang roster");
    }

    [Fact]
    public async Task bad_input_is_refused_with_the_field_and_changes_nothing()
    {
        await ThreeAgencies();
        var admin = TenantAdminOf(Police);
        var root = await RootOf(Police);
        var file = await File(Police, "Gang roster", ["gang-unit"]);
        var events = await EventCount();
        var later = Fixture.Time.GetUtcNow().AddDays(1);
        var cases = new (HttpMethod Method, string Url, string? Body, string Code)[]
        {
            (HttpMethod.Post, $"/api/tenants/{Police}/case-files", "null", "malformed-request"),
            (HttpMethod.Post, $"/api/tenants/{Police}/case-files", Json(new { organisationId = root, title = "", classification = "official" }), "validation-failed"),
            (HttpMethod.Post, $"/api/tenants/{Police}/case-files", Json(new { organisationId = root, title = "x", classification = "cosmic" }), "validation-failed"),
            (HttpMethod.Post, $"/api/tenants/{Police}/case-files", Json(new { organisationId = root, title = "x", classification = "official", tags = new[] { "Not A Tag!" } }), "validation-failed"),
            (HttpMethod.Post, $"/api/tenants/{Police}/case-files", Json(new { title = "x", classification = "official" }), "validation-failed"),
            (HttpMethod.Post, $"/api/tenants/{Police}/case-files", Json(new { organisationId = root, title = new string('x', 201), classification = "official" }), "validation-failed"),
            (HttpMethod.Patch, $"/api/tenants/{Police}/case-files/{file}", "null", "malformed-request"),
            (HttpMethod.Patch, $"/api/tenants/{Police}/case-files/{file}", Json(new { classification = "cosmic" }), "validation-failed"),
            (HttpMethod.Post, $"/api/tenants/{Police}/case-files/{file}/comments", Json(new { text = "" }), "validation-failed"),
            (HttpMethod.Post, $"/api/tenants/{Police}/case-files/{file}/comments", "null", "malformed-request"),
            (HttpMethod.Get, $"/api/tenants/{Police}/case-files?limit=0", null, "validation-failed"),
            (HttpMethod.Get, $"/api/tenants/{Police}/case-files?cursor=bogus", null, "validation-failed"),
            (HttpMethod.Get, $"/api/tenants/{Police}/case-files?classification=cosmic", null, "validation-failed"),
            (HttpMethod.Get, $"/api/tenants/{Police}/case-files?source=everything", null, "validation-failed"),
            (HttpMethod.Get, $"/api/tenants/{Police}/case-files?collaborationId=nope", null, "validation-failed"),
            (HttpMethod.Post, $"/api/tenants/{Police}/sharing/agreements", "null", "malformed-request"),
            (HttpMethod.Post, $"/api/tenants/{Police}/sharing/agreements", Json(new { recipientTenantId = Sheriff, scope = new { }, purpose = "p", expiresAt = later }), "validation-failed"),
            (HttpMethod.Post, $"/api/tenants/{Police}/sharing/agreements", Json(new { recipientTenantId = Sheriff, scope = new { tags = new[] { "x" } }, purpose = "p", expiresAt = Fixture.Time.GetUtcNow().AddDays(-1) }), "validation-failed"),
            (HttpMethod.Post, $"/api/tenants/{Police}/sharing/agreements", Json(new { recipientTenantId = Sheriff, scope = new { tags = new[] { "x" } }, expiresAt = later }), "validation-failed"),
            (HttpMethod.Post, $"/api/tenants/{Police}/sharing/agreements", Json(new { recipientTenantId = Sheriff, scope = new { tags = new[] { "x" } }, purpose = "p", expiresAt = later, permissions = new[] { "delete" } }), "validation-failed"),
            (HttpMethod.Post, $"/api/tenants/{Police}/sharing/agreements", Json(new { recipientTenantId = Sheriff, scope = new { classifications = new[] { "cosmic" } }, purpose = "p", expiresAt = later }), "validation-failed"),
            (HttpMethod.Post, $"/api/tenants/{Police}/sharing/agreements", Json(new { recipientTenantId = Police, scope = new { tags = new[] { "x" } }, purpose = "p", expiresAt = later }), "validation-failed"),
            (HttpMethod.Post, $"/api/tenants/{Police}/sharing/agreements", Json(new { recipientTenantId = Guid.NewGuid(), scope = new { tags = new[] { "x" } }, purpose = "p", expiresAt = later }), "validation-failed"),
            (HttpMethod.Post, $"/api/tenants/{Police}/sharing/agreements", Json(new { recipientTenantId = Sheriff, scope = new { tags = new[] { "x" } }, purpose = "p", expiresAt = later, ownerOrganisationId = Guid.NewGuid() }), "validation-failed"),
            (HttpMethod.Get, $"/api/tenants/{Police}/sharing/agreements?state=weird", null, "validation-failed"),
            (HttpMethod.Post, $"/api/tenants/{Police}/collaborations", "null", "malformed-request"),
            (HttpMethod.Post, $"/api/tenants/{Police}/collaborations", Json(new { kind = "club", name = "x", charter = "x" }), "validation-failed"),
            (HttpMethod.Post, $"/api/tenants/{Police}/collaborations", Json(new { kind = "channel", name = "", charter = "x" }), "validation-failed"),
            (HttpMethod.Post, $"/api/tenants/{Police}/collaborations", Json(new { kind = "channel", name = "x", charter = "x", invite = new[] { Guid.NewGuid() } }), "validation-failed"),
        };
        foreach (var (method, url, body, code) in cases)
            (await admin.SendRaw(method, url, body)).ShouldBeProblem(code == "malformed-request" || code == "validation-failed" ? HttpStatusCode.BadRequest : HttpStatusCode.Conflict, code);
        (await EventCount()).ShouldBe(events);
    }

    [Fact]
    public async Task sharing_does_not_cross_a_residency_boundary()
    {
        await ThreeAgencies();
        var berlin = await Active("berlin-police", template: "government-services", country: "DE", subdivision: "DE-BE");
        var events = await EventCount();
        (await TenantAdminOf(Police).Post($"/api/tenants/{Police}/sharing/agreements", new
        {
            recipientTenantId = berlin, scope = new { tags = new[] { "gang-unit" } }, purpose = "Interpol request", expiresAt = Fixture.Time.GetUtcNow().AddDays(1),
        })).ShouldBeProblem(HttpStatusCode.Conflict, "residency-boundary");
        (await TenantAdminOf(Police).Post($"/api/tenants/{Police}/collaborations", new { kind = "channel", name = "x", charter = "x", invite = new[] { berlin } }))
            .ShouldBeProblem(HttpStatusCode.Conflict, "residency-boundary");
        (await EventCount()).ShouldBe(events);
    }

    [Fact]
    public async Task the_database_alone_shows_a_tenant_its_own_files_and_only_the_files_shared_with_it()
    {
        await ThreeAgencies();
        var gangs = await File(Police, "Gang roster", ["gang-unit"]);
        await File(Police, "Fentanyl route", ["narcotics"]);
        var own = await File(Sheriff, "Burglary series");
        var agreement = await Offer(Police, Sheriff, new { tags = new[] { "gang-unit" } });

        // As the service's role, bound to a tenant, with no query of the service's: row-level security decides.
        async Task<List<Guid>> Rows(Guid tenant, string table = "case_files", string column = "id")
        {
            await using var connection = new NpgsqlConnection(TestDatabase.ConnectionString);
            await connection.OpenAsync();
            await using var transaction = await connection.BeginTransactionAsync();
            await using (var set = new NpgsqlCommand("select set_config('app.tenant_id', $1, true), set_config('tenantevents.now', $2, true)", connection, transaction))
            {
                set.Parameters.AddWithValue(tenant.ToString());
                set.Parameters.AddWithValue(Fixture.Time.GetUtcNow().ToString("O"));
                await set.ExecuteNonQueryAsync();
            }
            await using var select = new NpgsqlCommand($"select {column} from tenantevents.{table}", connection, transaction);
            var ids = new List<Guid>();
            await using var reader = await select.ExecuteReaderAsync();
            while (await reader.ReadAsync()) ids.Add(reader.GetGuid(0));
            return ids;
        }

        (await Rows(Sheriff)).ShouldBe([own]);
        (await AcceptAgreement(Sheriff, agreement)).ShouldBe(HttpStatusCode.OK);
        (await Rows(Sheriff)).ShouldBe([own, gangs], ignoreOrder: true);
        (await Rows(Sheriff, "case_shares", "file_id")).ShouldBe([gangs]);
        (await Rows(TaskForce)).ShouldBeEmpty();
        (await Rows(TaskForce, "sharing_agreements")).ShouldBeEmpty();
        (await Rows(Sheriff, "sharing_agreements")).ShouldBe([agreement]);
        Fixture.Time.Advance(TimeSpan.FromDays(30));
        (await Rows(Sheriff)).ShouldBe([own], "expired by the service's clock");
        // A write for another tenant is refused by the database whatever the query says.
        await using var connection = new NpgsqlConnection(TestDatabase.ConnectionString);
        await connection.OpenAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        await using (var set = new NpgsqlCommand("select set_config('app.tenant_id', $1, true)", connection, transaction))
        {
            set.Parameters.AddWithValue(Sheriff.ToString());
            await set.ExecuteNonQueryAsync();
        }
        await using var forge = new NpgsqlCommand(
            $"insert into tenantevents.case_shares values ('{Police}', '{gangs}', gen_random_uuid(), 'agreement', '{TaskForce}', '{{read}}', null, now())",
            connection, transaction);
        (await Should.ThrowAsync<PostgresException>(() => forge.ExecuteNonQueryAsync())).SqlState.ShouldBe(PostgresErrorCodes.InsufficientPrivilege);
    }

    private static string Json(object value) => System.Text.Json.JsonSerializer.Serialize(value, TenantEvents.Infrastructure.Json.Options);
}
