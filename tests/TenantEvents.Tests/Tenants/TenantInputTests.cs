using System.Net;
using System.Text.Json;
using TenantEvents.Tests.Support;

namespace TenantEvents.Tests.Tenants;

/// <summary>Bad input gets a 4xx problem naming the field, and nothing is appended.</summary>
public class TenantInputTests(AppFixture fixture) : IntegrationTest(fixture)
{
    private static string Request(Action<Dictionary<string, object?>> change)
    {
        var body = JsonSerializer.Deserialize<Dictionary<string, object?>>(JsonSerializer.Serialize(TenantRequest(),
            TenantEvents.Infrastructure.Json.Options))!;
        change(body);
        return JsonSerializer.Serialize(body);
    }

    public static IEnumerable<object[]> BadRequests() =>
    [
        ["malformed JSON", "{\"name\": \"Travis", "malformed-request", null!],
        ["a JSON null", "null", "malformed-request", null!],
        ["a JSON array", "[1,2]", "malformed-request", null!],
        ["an unknown field", Request(b => b["colour"] = "blue"), "malformed-request", null!],
        ["an unknown template", Request(b => b["template"] = "pirate-ship"), "validation-failed", "template"],
        ["a made-up country", Request(b => b["residency"] = new { country = "XK1" }), "validation-failed", "residency.country"],
        ["a lower-case country", Request(b => b["residency"] = new { country = "us", subdivision = "US-TX" }), "validation-failed", "residency.country"],
        ["a made-up subdivision", Request(b => b["residency"] = new { country = "US", subdivision = "US-ZZ" }), "validation-failed", "residency.subdivision"],
        ["another country's subdivision", Request(b => b["residency"] = new { country = "US", subdivision = "MX-CMX" }), "validation-failed", "residency.subdivision"],
        ["retention of 29 days", Request(b => b["overrides"] = new { auditRetentionDays = 29 }), "validation-failed", "overrides.auditRetentionDays"],
        ["retention of 3651 days", Request(b => b["overrides"] = new { auditRetentionDays = 3651 }), "validation-failed", "overrides.auditRetentionDays"],
        ["an empty name", Request(b => b["name"] = ""), "validation-failed", "name"],
        ["a blank name", Request(b => b["name"] = "   "), "validation-failed", "name"],
        ["an oversized name", Request(b => b["name"] = new string('n', 201)), "validation-failed", "name"],
        ["no slug", Request(b => b.Remove("slug")), "validation-failed", "slug"],
        ["a bad slug", Request(b => b["slug"] = "Travis Sheriff"), "validation-failed", "slug"],
        ["no contacts", Request(b => b["contacts"] = Array.Empty<object>()), "validation-failed", "contacts"],
        ["a contact without e-mail", Request(b => b["contacts"] = new[] { new { name = "Sally" } }), "validation-failed", "contacts[0].email"],
        ["a null contact", Request(b => b["contacts"] = new object?[] { null }), "validation-failed", "contacts[0]"],
        ["an unknown feature", Request(b => b["overrides"] = new { features = new[] { "time-travel" } }), "validation-failed", "overrides.features"],
        ["a negative quota", Request(b => b["overrides"] = new { quotas = new { licences = -1 } }), "validation-failed", "overrides.quotas.licences"],
        ["a wrong type", Request(b => b["overrides"] = new { auditRetentionDays = "ninety" }), "malformed-request", null!],
        ["a quota mode that does not exist", Request(b => b["overrides"] = new { quotas = new { mode = "sometimes" } }), "malformed-request", null!],
    ];

    [Theory]
    [MemberData(nameof(BadRequests))]
    public async Task a_bad_tenant_request_is_a_400_and_appends_nothing(string what, string body, string code, string? field)
    {
        var reply = (await Admin.SendRaw(HttpMethod.Post, "/api/tenants", body)).ShouldBeProblem(HttpStatusCode.BadRequest, code);
        if (field is not null)
            reply.Json.GetProperty("errors").EnumerateArray().Select(e => e.GetProperty("field").GetString()).ShouldContain(field, what);
        (await EventCount()).ShouldBe(0, what);
        (await Admin.Get("/api/tenants")).Json.GetProperty("items").GetArrayLength().ShouldBe(0);
    }

    [Fact]
    public async Task a_template_that_demands_a_subdivision_refuses_a_request_without_one()
    {
        var reply = (await Admin.Post("/api/tenants", TenantRequest(subdivision: null))).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        reply.Json.GetProperty("errors")[0].GetProperty("field").GetString().ShouldBe("residency.subdivision");
        (await Admin.Post("/api/tenants", TenantRequest(country: "FR", subdivision: null))).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed")
            .Body.ShouldContain("residency-not-allowed");
    }

    public static IEnumerable<object[]> BadCommands() =>
    [
        ["suspend", "{}", "reason"],
        ["suspend", "{\"reason\": \"\"}", "reason"],
        ["suspend", "null", "reason"],
        ["reject", "{\"reason\": \"" + new string('r', 2001) + "\"}", "reason"],
        ["legal-holds", "{\"reason\": \"x\"}", "reference"],
        ["decommission", "{\"reason\": \"  \"}", "reason"],
    ];

    [Theory]
    [MemberData(nameof(BadCommands))]
    public async Task a_bad_command_body_is_a_400_naming_the_field_and_appends_nothing(string command, string body, string field)
    {
        var id = await Active();
        var client = command == "reject" ? Approver : Admin;
        var reply = (await client.SendRaw(HttpMethod.Post, $"/api/tenants/{id}/{command}", body)).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        reply.Json.GetProperty("errors")[0].GetProperty("field").GetString().ShouldBe(field);
        (await EventCount(id)).ShouldBe(3);
    }

    [Theory]
    [InlineData("{\"auditRetentionDays\": 29}", "auditRetentionDays")]
    [InlineData("{\"auditRetentionDays\": 3651}", "auditRetentionDays")]
    [InlineData("{\"quotas\": {\"apiCallsPerDay\": 999999999999}}", "quotas.apiCallsPerDay")]
    [InlineData("{\"quotas\": {\"alertThresholds\": [90, 80]}}", "quotas.alertThresholds")]
    [InlineData("{\"features\": [\"case-files\", \"case-files\"]}", "features")]
    [InlineData("null", "")]
    public async Task bad_settings_are_a_400_and_append_nothing(string body, string field)
    {
        var id = await Active();
        var reply = (await Admin.SendRaw(HttpMethod.Patch, $"/api/tenants/{id}/settings", body)).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        reply.Json.GetProperty("errors")[0].GetProperty("field").GetString().ShouldBe(field);
        (await EventCount(id)).ShouldBe(3);
    }

    [Fact]
    public async Task an_oversized_idempotency_key_is_refused()
    {
        (await Admin.Post("/api/tenants", TenantRequest(), new Dictionary<string, string> { ["Idempotency-Key"] = new string('k', 201) }))
            .ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await EventCount()).ShouldBe(0);
    }

    [Fact]
    public async Task list_parameters_are_validated()
    {
        (await Admin.Get("/api/tenants?state=sleeping")).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await Admin.Get("/api/tenants?limit=0")).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await Admin.Get("/api/tenants?limit=100000")).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await Admin.Get("/api/tenants?cursor=page-2")).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await As("auditor").Get($"/api/tenants/{Guid.NewGuid()}/events?toVersion=-1")).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
    }
}
