using System.Net;
using System.Text.Json;
using TenantEvents.Infrastructure.Security;
using Microsoft.Extensions.DependencyInjection;
using TenantEvents.Tests.Support;

namespace TenantEvents.Tests.Delivery;

/// <summary>
/// Events out through webhooks, checked by a real receiver process with independent libraries (Standard Webhooks
/// signatures, CloudEvents envelopes): what a tenant's subscriber gets and never gets, order per stream, retries with
/// back-off, dead letters and redelivery, the platform's subscriptions, and who may manage them.
/// </summary>
public class WebhookTests(AppFixture fixture) : IntegrationTest(fixture)
{
    private async Task<(Guid Id, string Secret)> Subscribe(HttpClient client, string route, string url, object? types = null)
    {
        var reply = (await client.Post(route, new { url, types, description = "test receiver" })).ShouldBe(HttpStatusCode.Created);
        reply.Str("secret").ShouldStartWith("whsec_");
        return (Guid.Parse(reply.Str("id")), reply.Str("secret"));
    }

    private async Task<(TestWebhookReceiver Receiver, string Name, Guid Id, string Secret)> Hooked(Guid tenant, object? types = null, int failFirst = 0)
    {
        var receiver = await Fixture.WebhookReceiver();
        var name = "t" + Guid.NewGuid().ToString("N")[..12];
        var (id, secret) = await Subscribe(TenantAdminOf(tenant), $"/api/tenants/{tenant}/webhooks", receiver.Hook(name), types);
        await receiver.ConfigureAsync(name, secret, failFirst);
        return (receiver, name, id, secret);
    }

    private async Task<Guid> Org(Guid tenant, string name) =>
        Guid.Parse((await TenantAdminOf(tenant).Post($"/api/tenants/{tenant}/organisations",
            new { parentId = await RootOf(tenant), name, kind = "unit" })).ShouldBe(HttpStatusCode.Created).Str("id"));

    private Task Rename(Guid tenant, Guid org, string name) =>
        TenantAdminOf(tenant).Put($"/api/tenants/{tenant}/organisations/{org}/name", new { name });

    private static string S(JsonElement e, string p) => e.GetProperty(p).GetString()!;

    /// <summary>Tells the sender there is work (instead of waiting for its next poll), after the clock moved.</summary>
    private void Wake() => Fixture.Host.Services.GetRequiredService<TenantEvents.Delivery.EventDelivery>().WakeSender();

    /// <summary>The subscription's deliveries (in a state) once there are this many.</summary>
    private async Task<List<JsonElement>> Deliveries(Guid tenant, Guid id, int count, string? status = null)
    {
        for (var i = 0; ; i++)
        {
            var page = (await TenantAdminOf(tenant).Get($"/api/tenants/{tenant}/webhooks/{id}/deliveries" + (status is null ? "" : $"?status={status}")))
                .ShouldBe(HttpStatusCode.OK);
            var items = page.Json.GetProperty("items").EnumerateArray().ToList();
            if (items.Count >= count || i == 1500) return items;
            await Task.Delay(20);
        }
    }

    [Fact]
    public async Task a_tenants_subscriber_gets_its_events_signed_as_cloudevents_and_never_another_tenants()
    {
        var a = await Active("travis-sheriff");
        var b = await Active("bexar-sheriff");
        var (receiverA, hookA, _, _) = await Hooked(a);
        var (_, hookB, _, _) = await Hooked(b);

        var orgA = await Org(a, "Patrol");
        await Rename(a, orgA, "Patrol Division");
        var orgB = await Org(b, "Narcotics");

        var seenA = await receiverA.WaitAsync(hookA, s => s.Events.Count(e => S(e, "type").StartsWith("com.tenantevents.organisation_")) >= 2);
        var seenB = await receiverA.WaitAsync(hookB, s => s.Events.Any(e => S(e, "type") == "com.tenantevents.organisation_created"));
        seenA.Rejected.ShouldBeEmpty();
        seenB.Rejected.ShouldBeEmpty();
        seenA.Events.ShouldAllBe(e => S(e, "tenantid") == a.ToString());
        seenB.Events.ShouldAllBe(e => S(e, "tenantid") == b.ToString());
        seenA.Events.ShouldNotContain(e => e.GetRawText().Contains(orgB.ToString()));

        var created = seenA.Events.Single(e => S(e, "type") == "com.tenantevents.organisation_created");
        S(created, "specversion").ShouldBe("1.0");
        S(created, "source").ShouldEndWith($"/api/tenants/{a}");
        S(created, "subject").ShouldBe($"organisation/{orgA}");
        S(created, "datacontenttype").ShouldBe("application/json");
        S(created, "webhookId").ShouldBe(S(created, "id"));
        DateTimeOffset.Parse(S(created, "time")).Year.ShouldBeGreaterThan(2000);
        created.GetProperty("data").GetProperty("name").GetString().ShouldBe("Patrol");
        var renamed = seenA.Events.Single(e => S(e, "type") == "com.tenantevents.organisation_renamed");
        long.Parse(S(renamed, "sequence")).ShouldBeGreaterThan(long.Parse(S(created, "sequence")));
        S(renamed, "streamversion").ShouldBe("2");
    }

    [Fact]
    public async Task a_failing_endpoint_is_retried_with_back_off_and_the_streams_next_event_waits_its_turn()
    {
        var tenant = await Active();
        var (receiver, hook, id, _) = await Hooked(tenant, types: new[] { "com.tenantevents.organisation_*" }, failFirst: 1);
        var org = await Org(tenant, "Patrol");
        await receiver.WaitAsync(hook, s => s.Attempts >= 1);
        await Rename(tenant, org, "Patrol Division");
        await Rename(tenant, org, "Patrol Bureau");

        // The first attempt failed: the delivery waits 5 s (and up to 10% more) of the service's clock; the stream's
        // later events wait behind it.
        var items = await Deliveries(tenant, id, 3);
        items.Count.ShouldBe(3);
        var first = items.Single(i => S(i, "type") == "com.tenantevents.organisation_created");
        S(first, "status").ShouldBe("retrying");
        first.GetProperty("lastStatusCode").GetInt32().ShouldBe(500);
        (await receiver.SeenAsync(hook)).Events.ShouldBeEmpty();

        Fixture.Time.Advance(TimeSpan.FromSeconds(6));
        var seen = await receiver.WaitAsync(hook, s => s.Events.Count == 3, poke: Wake);
        seen.Events.Select(e => S(e, "type")).ShouldBe(["com.tenantevents.organisation_created", "com.tenantevents.organisation_renamed",
            "com.tenantevents.organisation_renamed"]);
        seen.Events.Select(e => e.GetProperty("data").GetProperty("name").GetString()).ShouldBe(["Patrol", "Patrol Division", "Patrol Bureau"]);

        var one = (await TenantAdminOf(tenant).Get($"/api/tenants/{tenant}/webhooks/{id}/deliveries/{S(first, "id")}")).ShouldBe(HttpStatusCode.OK);
        S(one.Json, "status").ShouldBe("delivered");
        one.Json.GetProperty("history").EnumerateArray().Select(h => h.GetProperty("statusCode").GetInt32()).ShouldBe([500, 204]);
    }

    [Fact]
    public async Task a_delivery_is_dead_lettered_after_its_last_attempt_and_can_be_sent_again()
    {
        var tenant = await Active();
        var (receiver, hook, id, secret) = await Hooked(tenant, types: new[] { "com.tenantevents.organisation_created" }, failFirst: 1000);
        await Org(tenant, "Patrol");
        var client = TenantAdminOf(tenant);
        for (var attempt = 1; attempt <= 8; attempt++)
        {
            await receiver.WaitAsync(hook, s => s.Attempts >= attempt, poke: Wake);
            Fixture.Time.Advance(TimeSpan.FromHours(11));
        }
        var dead = (await Deliveries(tenant, id, 1, "dead")).ShouldHaveSingleItem();
        dead.GetProperty("attempts").GetInt32().ShouldBe(8);
        (await receiver.SeenAsync(hook)).Attempts.ShouldBe(8);

        // The endpoint is fixed; an administrator sends the dead letters again.
        await receiver.ConfigureAsync(hook, secret);
        (await client.Post($"/api/tenants/{tenant}/webhooks/{id}/redeliver", new { status = "dead" })).ShouldBe(HttpStatusCode.Accepted)
            .Json.GetProperty("redelivering").GetInt32().ShouldBe(1);
        var seen = await receiver.WaitAsync(hook, s => s.Events.Count == 1);
        seen.Attempts.ShouldBe(1); // since the receiver was reconfigured
        var again = (await Deliveries(tenant, id, 1, "delivered")).ShouldHaveSingleItem();
        again.GetProperty("attempts").GetInt32().ShouldBe(9);
        S(seen.Events[0], "type").ShouldBe("com.tenantevents.organisation_created");
    }

    [Fact]
    public async Task a_paused_subscription_keeps_its_deliveries_until_it_is_active_again()
    {
        var tenant = await Active();
        var (receiver, hook, id, _) = await Hooked(tenant, types: new[] { "com.tenantevents.organisation_created" });
        var client = TenantAdminOf(tenant);
        var paused = (await client.Patch($"/api/tenants/{tenant}/webhooks/{id}", new { state = "paused" })).ShouldBe(HttpStatusCode.OK);
        S(paused.Json, "state").ShouldBe("paused");
        await Org(tenant, "Patrol");
        await Org(tenant, "Traffic");
        (await Deliveries(tenant, id, 2, "pending")).Count.ShouldBe(2);
        (await receiver.SeenAsync(hook)).Attempts.ShouldBe(0);
        // The operator's view of the estate shows them waiting to be sent.
        var sending = (await Admin.Get("/api/platform/projections")).ShouldBe(HttpStatusCode.OK).Json.GetProperty("sending").EnumerateArray().ToList();
        sending.Sum(d => d.GetProperty("waiting").GetInt64()).ShouldBe(2);
        sending.ShouldContain(d => d.GetProperty("oldestWaitingSeconds").ValueKind == System.Text.Json.JsonValueKind.Number);

        (await client.Patch($"/api/tenants/{tenant}/webhooks/{id}", new { state = "active" }, new Dictionary<string, string> { ["If-Match"] = "\"2\"" }))
            .ShouldBe(HttpStatusCode.OK);
        (await receiver.WaitAsync(hook, s => s.Events.Count == 2)).Events.Select(e => e.GetProperty("data").GetProperty("name").GetString())
            .ShouldBe(["Patrol", "Traffic"], ignoreOrder: true); // two streams: no order between them

        // Who sent the tenant's events where, and when, is in its audit trail.
        var trail = (await client.Get($"/api/tenants/{tenant}/audit/entries?stream={id}")).ShouldBe(HttpStatusCode.OK).Json.GetProperty("entries")
            .EnumerateArray().ToList();
        trail.Select(e => S(e, "type")).ShouldBe(["webhook_subscribed", "webhook_subscription_changed", "webhook_subscription_changed"]);
        trail.ShouldAllBe(e => e.GetProperty("actor").GetProperty("subject").GetString()!.StartsWith("tenant-admin-"));
        trail[1].GetProperty("after").GetProperty("state").GetString().ShouldBe("paused");
        trail[0].GetProperty("after").GetProperty("url").GetString().ShouldBe(receiver.Hook(hook));
    }

    [Fact]
    public async Task the_platforms_subscriber_gets_the_lifecycle_of_every_tenant_and_nothing_inside_them()
    {
        var receiver = await Fixture.WebhookReceiver();
        var name = "p" + Guid.NewGuid().ToString("N")[..12];
        var (_, secret) = await Subscribe(Admin, "/api/platform/webhooks", receiver.Hook(name), new[] { "com.tenantevents.tenant_*" });
        await receiver.ConfigureAsync(name, secret);

        var tenant = await Active("hays-sheriff");
        await Org(tenant, "Patrol");
        var seen = await receiver.WaitAsync(name, s => s.Events.Any(e => S(e, "type") == "com.tenantevents.tenant_provisioned" && S(e, "tenantid") == tenant.ToString()));
        seen.Events.Where(e => S(e, "tenantid") == tenant.ToString()).Select(e => S(e, "type"))
            .ShouldBe(["com.tenantevents.tenant_requested", "com.tenantevents.tenant_approved", "com.tenantevents.tenant_provisioned"], ignoreOrder: false);
        seen.Events.ShouldAllBe(e => S(e, "type").StartsWith("com.tenantevents.tenant_"));
        seen.Rejected.ShouldBeEmpty();

        // Only tenant lifecycle types can be asked for.
        (await Admin.Post("/api/platform/webhooks", new { url = receiver.Hook("x"), types = new[] { "com.tenantevents.case_file_opened" } }))
            .ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
    }

    [Fact]
    public async Task only_the_tenants_own_administrators_and_holders_of_webhooks_manage_manage_its_webhooks()
    {
        var tenant = await Active("travis-sheriff");
        var other = await Active("bexar-sheriff");
        var (_, _, id, _) = await Hooked(tenant);
        var route = $"/api/tenants/{tenant}/webhooks";
        var url = (await Fixture.WebhookReceiver()).Hook("attacker");

        // Platform staff: their roles do not reach a tenant's events at all (the tenant's data, not the platform's).
        foreach (var client in new[] { Admin, As(Roles.Auditor, "audrey"), As(Roles.Analyst, "ann"), Approver })
        {
            (await client.Get(route)).ShouldBe(HttpStatusCode.Forbidden);
            (await client.Post(route, new { url })).ShouldBe(HttpStatusCode.Forbidden);
            (await client.Delete($"{route}/{id}")).ShouldBe(HttpStatusCode.Forbidden);
            (await client.Get($"/api/tenants/{tenant}/events/stream?after=-1")).ShouldBe(HttpStatusCode.Forbidden);
        }
        // Another tenant's administrator and member: the tenant is not there.
        foreach (var client in new[] { TenantAdminOf(other), As(Roles.TenantMember, "m", other) })
        {
            (await client.Get(route)).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
            (await client.Get($"{route}/{id}")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
            (await client.Post(route, new { url })).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
            (await client.Patch($"{route}/{id}", new { url })).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
            (await client.Delete($"{route}/{id}")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
            (await client.Get($"{route}/{id}/deliveries")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
            (await client.Post($"{route}/{id}/redeliver", new { })).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
            (await client.Get($"/api/tenants/{tenant}/events/stream?after=-1")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        }
        // Another tenant's administrator naming this tenant's subscription through its own tenant: not there either.
        (await TenantAdminOf(other).Get($"/api/tenants/{other}/webhooks/{id}")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await TenantAdminOf(other).Delete($"/api/tenants/{other}/webhooks/{id}")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        // A member of the tenant who sees its organisations but holds no webhooks.manage: refused, and nothing changed.
        await TenantAdminOf(tenant).Post($"/api/tenants/{tenant}/organisations/{await RootOf(tenant)}/grants",
            new { principal = new { kind = "user", id = "ivan" }, role = "agency-admin" });
        var member = As(Roles.TenantMember, "ivan", tenant);
        (await member.Post(route, new { url })).ShouldBeProblem(HttpStatusCode.Forbidden, "forbidden");
        (await member.Delete($"{route}/{id}")).ShouldBeProblem(HttpStatusCode.Forbidden, "forbidden");
        // Tenant staff cannot manage the platform's subscriptions; anonymous callers nothing.
        (await TenantAdminOf(tenant).Get("/api/platform/webhooks")).ShouldBe(HttpStatusCode.Forbidden);
        (await Fixture.Client(null).Get(route)).ShouldBe(HttpStatusCode.Unauthorized);
        (await TenantAdminOf(tenant).Get(route)).ShouldBe(HttpStatusCode.OK).Json.EnumerateArray().Single().GetProperty("id").GetString().ShouldBe(id.ToString());
    }

    [Fact]
    public async Task bad_subscriptions_are_refused_and_nothing_is_stored()
    {
        var tenant = await Active();
        var client = TenantAdminOf(tenant);
        var route = $"/api/tenants/{tenant}/webhooks";
        (await client.Post(route, new { })).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await client.Post(route, new { url = "ftp://example.org/x" })).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await client.Post(route, new { url = "https://user:pw@example.org/x" })).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await client.Post(route, new { url = "not a url" })).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await client.Post(route, new { url = "https://example.org/x", types = new[] { "com.example.nothing" } })).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await client.Post(route, new { url = "https://example.org/x", description = new string('x', 501) })).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await client.SendRaw(HttpMethod.Post, route, "{not json")).Status.ShouldBe(HttpStatusCode.BadRequest);
        (await client.Post(route, new { url = "https://example.org/x", colour = "blue" })).Status.ShouldBe(HttpStatusCode.BadRequest);
        (await client.Get(route)).ShouldBe(HttpStatusCode.OK).Json.GetArrayLength().ShouldBe(0);

        var (_, _, id, _) = await Hooked(tenant);
        (await client.Patch($"{route}/{id}", new { state = "sleeping" })).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await client.Patch($"{route}/{id}", new { url = "https://example.org/y" }, new Dictionary<string, string> { ["If-Match"] = "\"7\"" }))
            .ShouldBeProblem(HttpStatusCode.PreconditionFailed, "stale-version");
        (await client.Get($"{route}/{id}/deliveries?status=lost")).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await client.Get($"{route}/{id}/deliveries?cursor=%%%")).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await client.Get($"{route}/{id}/deliveries?limit=0")).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await client.Post($"{route}/{id}/redeliver", new { status = "pending" })).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await client.Post($"{route}/{Guid.NewGuid()}/deliveries/{Guid.NewGuid()}/redeliver")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await client.Get($"{route}/{Guid.NewGuid()}")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        var unchanged = (await client.Get($"{route}/{id}")).ShouldBe(HttpStatusCode.OK);
        unchanged.Json.GetProperty("version").GetInt64().ShouldBe(1);
        unchanged.Json.TryGetProperty("secret", out _).ShouldBeFalse();
        (await client.Delete($"{route}/{id}")).ShouldBe(HttpStatusCode.NoContent);
        (await client.Delete($"{route}/{id}")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
    }
}
