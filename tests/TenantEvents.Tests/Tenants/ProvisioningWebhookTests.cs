using System.Net;
using System.Text;
using System.Text.Json;
using TenantEvents.Tests.Support;

namespace TenantEvents.Tests.Tenants;

public class ProvisioningWebhookTests(AppFixture fixture) : IntegrationTest(fixture)
{
    private const string Url = "/api/provisioning/tenant-requests";

    private Task<Reply> Deliver(string body, string id, long timestamp, string? signature = null) =>
        Fixture.Client().SendRaw(HttpMethod.Post, Url, body, new Dictionary<string, string>
        {
            ["webhook-id"] = id,
            ["webhook-timestamp"] = timestamp.ToString(),
            ["webhook-signature"] = signature ?? Fixture.Webhooks.Sign(id, timestamp, Encoding.UTF8.GetBytes(body)),
        });

    private long Now => Fixture.Time.GetUtcNow().ToUnixTimeSeconds();
    private static string Body(string slug = "webhook-agency") => JsonSerializer.Serialize(TenantRequest(slug), TenantEvents.Infrastructure.Json.Options);

    [Fact]
    public async Task a_signed_delivery_requests_a_tenant_that_still_needs_an_approver()
    {
        var reply = (await Deliver(Body(), "msg_001", Now)).ShouldBe(HttpStatusCode.Created);
        reply.Str("state").ShouldBe("requested");
        reply.Json.GetProperty("requestedBy").GetProperty("subject").GetString().ShouldBe("webhook:provisioning");
        var id = reply.Str("id");
        (await Approver.Post($"/api/tenants/{id}/approve")).ShouldBe(HttpStatusCode.OK);
        (await Admin.Post($"/api/tenants/{id}/provision")).ShouldBe(HttpStatusCode.OK).Str("state").ShouldBe("active");
    }

    [Fact]
    public async Task a_replayed_delivery_is_refused_and_creates_nothing_more()
    {
        var body = Body();
        var first = (await Deliver(body, "msg_replay", Now)).ShouldBe(HttpStatusCode.Created);
        (await Deliver(body, "msg_replay", Now)).ShouldBeProblem(HttpStatusCode.Conflict, "webhook-replayed")
            .Str("tenantId").ShouldBe(first.Str("id"));
        (await EventCount()).ShouldBe(1);
    }

    public static IEnumerable<object[]> Forgeries() =>
    [
        ["no signature", "v1,"],
        ["signature of another body", "other-body"],
        ["signed with another secret", "other-secret"],
        ["stale", "stale"],
        ["from the future", "future"],
        ["no headers", "none"],
    ];

    [Theory]
    [MemberData(nameof(Forgeries))]
    public async Task a_bad_or_stale_signature_is_a_401_and_stores_nothing(string what, string kind)
    {
        var body = Body();
        var timestamp = kind switch { "stale" => Now - 301, "future" => Now + 301, _ => Now };
        var signature = kind switch
        {
            "other-body" => Fixture.Webhooks.Sign("msg_x", timestamp, Encoding.UTF8.GetBytes(Body("other"))),
            "other-secret" => new TenantEvents.Infrastructure.Webhooks.StandardWebhooks(TenantEvents.Infrastructure.Webhooks.StandardWebhooks.NewSecret())
                .Sign("msg_x", timestamp, Encoding.UTF8.GetBytes(body)),
            "v1," => "v1,",
            _ => null,
        };
        var reply = kind == "none"
            ? await Fixture.Client().SendRaw(HttpMethod.Post, Url, body)
            : await Deliver(body, "msg_x", timestamp, signature);
        reply.ShouldBeProblem(HttpStatusCode.Unauthorized, "webhook-signature-invalid");
        (await EventCount()).ShouldBe(0, what);
    }

    [Fact]
    public async Task a_signed_but_invalid_request_is_a_400()
    {
        (await Deliver("{\"name\":", "msg_bad", Now)).ShouldBeProblem(HttpStatusCode.BadRequest, "malformed-request");
        (await Deliver(Body("A B"), "msg_bad2", Now)).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await EventCount()).ShouldBe(0);
    }
}
