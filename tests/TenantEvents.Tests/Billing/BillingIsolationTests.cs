using System.Net;
using System.Text;
using System.Text.Json;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Tests.Support;

namespace TenantEvents.Tests.Billing;

/// <summary>Billing from the attacker's side: another tenant, a member with one permission, staff who only read, anonymous.</summary>
public class BillingIsolationTests(AppFixture fixture) : BillingTest(fixture)
{
    /// <summary>A billed tenant whose November is closed: both counties used AI compute.</summary>
    private async Task<Tree> ClosedNovember()
    {
        var t = await Billed();
        await AddCard(t.Tenant, Card());
        await UseAi(t.Tenant, t.CountyA, 100, At(11, 10));
        await UseAi(t.Tenant, t.CountyB, 100, At(11, 10));
        ClockAt(At(12, 2));
        (await Close(t.Tenant, "2026-11")).ShouldBe(HttpStatusCode.Created);
        return t;
    }

    [Fact]
    public async Task another_tenants_billing_routes_answer_404_and_change_nothing()
    {
        var t = await ClosedNovember();
        var invoice = Of(await Invoices(t.Tenant, "2026-11"), t.CountyA).GetProperty("id").GetGuid();
        var other = await Active("hays-sheriff");
        var intruder = TenantAdminOf(other);
        var before = await EventCount(t.Tenant, everyStream: true);
        var b = $"/api/tenants/{t.Tenant}/billing";
        var attempts = new (HttpMethod Method, string Url, object? Body)[]
        {
            (HttpMethod.Get, b, null), (HttpMethod.Put, b + "/terms", Terms()), (HttpMethod.Get, b + "/invoices", null),
            (HttpMethod.Get, $"{b}/invoices/{invoice}", null), (HttpMethod.Post, $"{b}/invoices/{invoice}/finalise", null),
            (HttpMethod.Post, $"{b}/invoices/{invoice}/approve", null), (HttpMethod.Put, $"{b}/invoices/{invoice}/purchase-order", new { purchaseOrder = "x" }),
            (HttpMethod.Post, $"{b}/invoices/{invoice}/payments", new { amount = 1m }), (HttpMethod.Post, $"{b}/invoices/{invoice}/void", new { reason = "x" }),
            (HttpMethod.Post, $"{b}/invoices/{invoice}/credit-notes", new { reason = "x" }), (HttpMethod.Get, $"{b}/months/2026-11", null),
            (HttpMethod.Get, $"{b}/budgets", null), (HttpMethod.Post, $"{b}/budgets/check", null),
            (HttpMethod.Put, $"/api/tenants/{t.Tenant}/organisations/{t.CountyA}/budget", new { amount = 1m }),
            (HttpMethod.Get, $"{b}/invoices/{invoice}/csv", null), (HttpMethod.Get, $"{b}/invoices/{invoice}/ubl", null),
            (HttpMethod.Get, $"{b}/invoices/{invoice}/pdf", null),
        };
        foreach (var (method, url, body) in attempts)
            (await intruder.Send(method, url, body)).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        // The same invoice id asked of the intruder's own tenant is not there either.
        (await intruder.Get($"/api/tenants/{other}/billing/invoices/{invoice}")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        // Platform-only routes: not for the tenant's own administrators either.
        (await intruder.Post($"{b}/rate-cards", Card(version: 2, from: "2026-12-01"))).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await intruder.Post($"{b}/months/2026-12/close")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await TenantAdminOf(t.Tenant).Post($"{b}/rate-cards", Card(version: 2, from: "2026-12-01"))).ShouldBe(HttpStatusCode.Forbidden);
        (await TenantAdminOf(t.Tenant).Post($"{b}/months/2026-12/close")).ShouldBe(HttpStatusCode.Forbidden);
        (await EventCount(t.Tenant, everyStream: true)).ShouldBe(before);
    }

    [Fact]
    public async Task a_member_reads_the_invoices_of_the_organisations_it_holds_billing_read_at_and_nothing_else()
    {
        var t = await ClosedNovember();
        var invoices = await Invoices(t.Tenant, "2026-11");
        var admin = TenantAdminOf(t.Tenant);
        (await admin.Put($"/api/tenants/{t.Tenant}/roles/county-reader", new { description = "Reads county billing", permissions = new[] { "billing.read" } }))
            .ShouldBe(HttpStatusCode.OK);
        (await admin.Post($"/api/tenants/{t.Tenant}/organisations/{t.CountyA}/grants", new { principal = new { kind = "user", id = "reader-a" }, role = "county-reader" }))
            .ShouldBe(HttpStatusCode.Created);
        var reader = Member(t.Tenant, "reader-a");
        var seen = (await reader.Get($"/api/tenants/{t.Tenant}/billing/invoices")).ShouldBe(HttpStatusCode.OK).Json.GetProperty("items").EnumerateArray().ToList();
        seen.Select(i => i.GetProperty("organisationId").GetGuid()).ShouldBe([t.CountyA]);
        (await Invoice(t.Tenant, Of(invoices, t.CountyA), reader)).GetProperty("total").GetDecimal().ShouldBeGreaterThan(0m);
        foreach (var hidden in new[] { Of(invoices, t.CountyB), Of(invoices, null), Of(invoices, t.Root) })
            (await reader.Get($"/api/tenants/{t.Tenant}/billing/invoices/{hidden.GetProperty("id").GetGuid()}")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await reader.Get($"/api/tenants/{t.Tenant}/billing")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await reader.Get($"/api/tenants/{t.Tenant}/billing/months/2026-11")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        // Reading is not approving, finalising or paying.
        (await reader.Post($"/api/tenants/{t.Tenant}/billing/invoices/{Of(invoices, t.CountyA).GetProperty("id").GetGuid()}/approve"))
            .ShouldBeProblem(HttpStatusCode.Forbidden, "forbidden");
        (await reader.Post($"/api/tenants/{t.Tenant}/billing/invoices/{Of(invoices, t.CountyA).GetProperty("id").GetGuid()}/finalise"))
            .ShouldBeProblem(HttpStatusCode.Forbidden, "forbidden");
        // A member with nothing sees no invoice; an analyst reads them all and changes none.
        (await Member(t.Tenant, "nobody").Get($"/api/tenants/{t.Tenant}/billing/invoices")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        var analyst = As(Roles.Analyst, "ann");
        (await analyst.Get($"/api/tenants/{t.Tenant}/billing/invoices")).ShouldBe(HttpStatusCode.OK).Json.GetProperty("items").GetArrayLength().ShouldBe(invoices.Count);
        (await analyst.Post($"/api/tenants/{t.Tenant}/billing/invoices/{Of(invoices, t.CountyA).GetProperty("id").GetGuid()}/finalise")).ShouldBe(HttpStatusCode.Forbidden);
        (await Fixture.Client(null).Get($"/api/tenants/{t.Tenant}/billing/invoices")).ShouldBe(HttpStatusCode.Unauthorized);
    }

    private static async Task<Reply> Gql(HttpClient client, string query)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/graphql")
        {
            Content = new StringContent(JsonSerializer.Serialize(new { query }), Encoding.UTF8, "application/json"),
        };
        request.Headers.Accept.ParseAdd(TenantEvents.GraphQL.GraphQLHttp.ResponseType);
        using var response = await client.SendAsync(request);
        return new Reply(response.StatusCode, response.Headers, response.Content.Headers, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task graphql_reads_billing_through_the_same_routes_with_the_same_answers_and_refusals()
    {
        var t = await ClosedNovember();
        var query = $$"""{ tenant(id: "{{t.Tenant}}") { invoices(month: "2026-11", kind: "invoice", first: 1) { nodes { id organisationId total } pageInfo { hasNextPage endCursor } } billingMonth(month: "2026-11") } }""";
        var reply = (await Gql(TenantAdminOf(t.Tenant), query)).ShouldBe(HttpStatusCode.OK);
        reply.Json.TryGetProperty("errors", out _).ShouldBeFalse(reply.Body);
        var tenant = reply.Json.GetProperty("data").GetProperty("tenant");
        tenant.GetProperty("invoices").GetProperty("nodes").GetArrayLength().ShouldBe(1);
        tenant.GetProperty("invoices").GetProperty("pageInfo").GetProperty("hasNextPage").GetBoolean().ShouldBeTrue();
        var rest = (await TenantAdminOf(t.Tenant).Get($"/api/tenants/{t.Tenant}/billing/months/2026-11")).ShouldBe(HttpStatusCode.OK).Json;
        tenant.GetProperty("billingMonth").GetProperty("tenantTotal").GetDecimal().ShouldBe(rest.GetProperty("tenantTotal").GetDecimal());
        // Another tenant's administrator asks for the same: the route's 404, as a GraphQL error.
        var other = await Active("hays-sheriff");
        var refused = await Gql(TenantAdminOf(other), $$"""{ tenant(id: "{{t.Tenant}}") { billing } }""");
        refused.Json.GetProperty("errors")[0].GetProperty("extensions").GetProperty("code").GetString().ShouldBe("NOT_FOUND");
        refused.Body.ShouldNotContain("Travis");
    }

    [Fact]
    public async Task the_audit_trail_shows_billing_content_only_to_who_reads_billing_there()
    {
        var t = await ClosedNovember();
        var admin = TenantAdminOf(t.Tenant);
        (await admin.Put($"/api/tenants/{t.Tenant}/roles/trail-reader", new { description = "Reads the trail", permissions = new[] { "audit.read" } })).ShouldBe(HttpStatusCode.OK);
        (await admin.Put($"/api/tenants/{t.Tenant}/roles/county-billing", new { description = "County billing", permissions = new[] { "audit.read", "billing.read" } }))
            .ShouldBe(HttpStatusCode.OK);
        (await admin.Post($"/api/tenants/{t.Tenant}/organisations/{t.Root}/grants", new { principal = new { kind = "user", id = "clerk" }, role = "trail-reader" }))
            .ShouldBe(HttpStatusCode.Created);
        (await admin.Post($"/api/tenants/{t.Tenant}/organisations/{t.Root}/grants", new { principal = new { kind = "user", id = "fin-a" }, role = "trail-reader" }))
            .ShouldBe(HttpStatusCode.Created);
        (await admin.Post($"/api/tenants/{t.Tenant}/organisations/{t.CountyA}/grants", new { principal = new { kind = "user", id = "fin-a" }, role = "county-billing" }))
            .ShouldBe(HttpStatusCode.Created);
        List<JsonElement> Drafts(Reply reply) => reply.ShouldBe(HttpStatusCode.OK).Json.GetProperty("entries").EnumerateArray().ToList();
        var clerk = Drafts(await Member(t.Tenant, "clerk").Get($"/api/tenants/{t.Tenant}/audit/entries?type=invoice_drafted&limit=50"));
        clerk.Count.ShouldBe(4);
        static bool HasLines(JsonElement entry) => entry.GetProperty("after").TryGetProperty("lines", out _);
        static bool Withholds(JsonElement entry) => entry.GetProperty("after").TryGetProperty("withheld", out _);
        clerk.All(e => !HasLines(e) && Withholds(e)).ShouldBeTrue();
        // County A's finance officer sees its own invoice's lines, and no other's.
        var finance = Drafts(await Member(t.Tenant, "fin-a").Get($"/api/tenants/{t.Tenant}/audit/entries?type=invoice_drafted&limit=50"));
        finance.Where(HasLines).Select(e => e.GetProperty("after").GetProperty("organisationId").GetGuid())
            .ShouldBe([t.CountyA]);
        Drafts(await admin.Get($"/api/tenants/{t.Tenant}/audit/entries?type=invoice_drafted&limit=50")).All(HasLines).ShouldBeTrue();
    }

    [Fact]
    public async Task an_invoice_put_back_as_it_was_with_the_service_roles_password_is_refused_not_trusted()
    {
        var t = await ClosedNovember();
        var id = Of(await Invoices(t.Tenant, "2026-11"), t.CountyA).GetProperty("id").GetGuid();
        await using var connection = new Npgsql.NpgsqlConnection(TestDatabase.ConnectionString);
        await connection.OpenAsync();
        await using (var set = new Npgsql.NpgsqlCommand("select set_config('app.tenant_id', $1, false)", connection))
        {
            set.Parameters.AddWithValue(t.Tenant.ToString());
            await set.ExecuteNonQueryAsync();
        }
        async Task<object[]> Row()
        {
            await using var read = new Npgsql.NpgsqlCommand("select version, key_version, nonce, ciphertext, state from tenantevents.billing_documents where id = $1", connection);
            read.Parameters.AddWithValue(id);
            await using var reader = await read.ExecuteReaderAsync();
            (await reader.ReadAsync()).ShouldBeTrue();
            var values = new object[5];
            reader.GetValues(values);
            return values;
        }
        var draft = await Row();
        (await TenantAdminOf(t.Tenant).Post($"/api/tenants/{t.Tenant}/billing/invoices/{id}/finalise")).ShouldBe(HttpStatusCode.OK);
        // The draft's genuine snapshot, written back over the finalised one: it authenticates, but it is not the stream's.
        await using (var back = new Npgsql.NpgsqlCommand(
                         "update tenantevents.billing_documents set version = $2, key_version = $3, nonce = $4, ciphertext = $5, state = $6 where id = $1", connection))
        {
            back.Parameters.AddWithValue(id);
            foreach (var value in draft) back.Parameters.AddWithValue(value);
            (await back.ExecuteNonQueryAsync()).ShouldBe(1);
        }
        (await TenantAdminOf(t.Tenant).Get($"/api/tenants/{t.Tenant}/billing/invoices/{id}")).ShouldBeProblem(HttpStatusCode.InternalServerError, "integrity-violation");
        (await TenantAdminOf(t.Tenant).Post($"/api/tenants/{t.Tenant}/billing/invoices/{id}/void", new { reason = "again" }))
            .ShouldBeProblem(HttpStatusCode.InternalServerError, "integrity-violation");
    }

    [Fact]
    public async Task terms_and_rate_cards_that_cannot_bill_are_refused_naming_the_field_and_change_nothing()
    {
        var t = await Billed();
        var admin = TenantAdminOf(t.Tenant);
        var version = (await Admin.Get($"/api/tenants/{t.Tenant}/billing")).ShouldBe(HttpStatusCode.OK).Json.GetProperty("version").GetInt64();
        (await admin.Put($"/api/tenants/{t.Tenant}/billing/terms", new { buyer = new { name = "X", country = "usa" } }))
            .ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed").Body.ShouldContain("buyer.country");
        (await admin.Put($"/api/tenants/{t.Tenant}/billing/terms", Terms("partial"))).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed").Body.ShouldContain("subsidy");
        (await admin.Put($"/api/tenants/{t.Tenant}/billing/terms", Terms(split: "fixed", costCentres: [new { organisationId = t.CountyA, percent = 70 }])))
            .ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed").Body.ShouldContain("not-100");
        (await admin.Put($"/api/tenants/{t.Tenant}/billing/terms", Terms(split: "even", costCentres: [new { organisationId = Guid.NewGuid(), percent = 0 }])))
            .ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed").Body.ShouldContain("unknown-organisation");
        (await admin.SendRaw(HttpMethod.Put, $"/api/tenants/{t.Tenant}/billing/terms", "null")).ShouldBeProblem(HttpStatusCode.BadRequest, "malformed-request");
        (await Admin.Post($"/api/tenants/{t.Tenant}/billing/rate-cards", new
        {
            name = "bad", version = 1, effectiveFrom = "2026-11-01", currency = "XYZ",
            charges = new object[] { new { name = "x", metric = "bananas", unitPrice = 1 }, new { name = "t", metric = "apiCalls", model = "graduated", tiers = new[] { new { upTo = 10, unitPrice = 1 } } } },
        })).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed").Body.ShouldSatisfyAllConditions(
            body => body.ShouldContain("currency"), body => body.ShouldContain("charges[0].metric"), body => body.ShouldContain("charges[1].tiers"));
        (await Admin.SendRaw(HttpMethod.Post, $"/api/tenants/{t.Tenant}/billing/rate-cards", "null")).ShouldBeProblem(HttpStatusCode.BadRequest, "malformed-request");
        (await Admin.Get($"/api/tenants/{t.Tenant}/billing")).ShouldBe(HttpStatusCode.OK).Json.GetProperty("version").GetInt64().ShouldBe(version);
        // Months: a month not yet billed, a month before billing began, a month that is not one.
        (await Close(t.Tenant, "2026-10")).ShouldBeProblem(HttpStatusCode.Conflict, "month-not-billed");
        (await Close(t.Tenant, "2026-13")).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await Close(t.Tenant, "2026-1%20")).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");   // one month, one name
        (await Close(t.Tenant, "+026-11")).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await Admin.Get($"/api/tenants/{t.Tenant}/billing/invoices?month=nope")).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
    }
}
