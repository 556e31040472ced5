using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Tests.Sharing;
using TenantEvents.Tests.Support;

namespace TenantEvents.Tests.Isolation;

/// <summary>
/// Bounds on what one tenant or partner can grow (TenantEventsOptions, docs/configuration.md "Limits"), from the side of whoever pushes
/// past them: each refusal is a 4xx naming the limit, and nothing changes. The limits are large by default; each test sets
/// the one it tests small (the settings are read per request) and puts it back.
/// </summary>
public class BoundsTests(AppFixture fixture) : SharingScenario(fixture)
{
    private TenantEventsOptions Options => Fixture.Host.Services.GetRequiredService<TenantEventsOptions>();

    /// <summary>Runs <paramref name="test"/> with a setting changed, and puts it back whatever happens.</summary>
    /// <summary>
    /// Runs a test with a bound set on every instance sharing the test database (the fixture's second host fans out
    /// deliveries and runs background work for the same tenants, so a bound set on one instance only would not hold).
    /// </summary>
    private async Task With<T>(Func<TenantEventsOptions, T> get, Action<TenantEventsOptions, T> set, T value, Func<Task> test)
    {
        var all = new[] { Options, (await Fixture.SecondHost()).Services.GetRequiredService<TenantEventsOptions>() };
        var before = all.Select(get).ToList();
        foreach (var options in all) set(options, value);
        try
        {
            await test();
        }
        finally
        {
            for (var i = 0; i < all.Length; i++) set(all[i], before[i]);
        }
    }

    private static void ShouldNameTheLimit(Reply reply, long limit, string setting)
    {
        reply.Json.GetProperty("limit").GetInt64().ShouldBe(limit);
        reply.Json.GetProperty("setting").GetString().ShouldBe("TenantEvents:" + setting);
    }

    [Fact]
    public async Task a_partner_cannot_comment_a_case_file_past_its_entry_limit_and_the_trail_keeps_a_count_not_every_entry()
    {
        await ThreeAgencies();
        var file = await File(Police, "Shared gang roster", ["gang-unit"]);
        var agreement = await Offer(Police, Sheriff, new { tags = new[] { "gang-unit" } }, ["read", "comment"]);
        (await AcceptAgreement(Sheriff, agreement)).ShouldBe(HttpStatusCode.OK);
        var deputy = InvestigatorOf(Sheriff);
        await With(o => o.MaxCaseFileEntries, (o, v) => o.MaxCaseFileEntries = v, 2, async () =>
        {
            (await deputy.Post($"/api/tenants/{Sheriff}/case-files/{file}/comments", new { text = "Two of these are in our jail." })).ShouldBe(HttpStatusCode.Created);
            (await deputy.Post($"/api/tenants/{Sheriff}/case-files/{file}/comments", new { text = "A third one was released." })).ShouldBe(HttpStatusCode.Created);
            var owner = (await InvestigatorOf(Police).Get($"/api/tenants/{Police}/case-files/{file}")).ShouldBe(HttpStatusCode.OK);

            var refused = (await deputy.Post($"/api/tenants/{Sheriff}/case-files/{file}/comments", new { text = "And one more." }))
                .ShouldBeProblem(HttpStatusCode.Conflict, "case-file-full");
            ShouldNameTheLimit(refused, 2, nameof(TenantEventsOptions.MaxCaseFileEntries));
            // The owner's own people meet the same bound; nothing was added, the file's version did not move.
            (await InvestigatorOf(Police).Post($"/api/tenants/{Police}/case-files/{file}/comments", new { text = "Noted." }))
                .ShouldBeProblem(HttpStatusCode.Conflict, "case-file-full");
            var after = (await InvestigatorOf(Police).Get($"/api/tenants/{Police}/case-files/{file}")).ShouldBe(HttpStatusCode.OK);
            after.Json.GetProperty("entries").GetArrayLength().ShouldBe(2);
            after.ETag.ShouldBe(owner.ETag);
        });

        // Each entry's audit record holds the file's state before and after: a count and the last entry, not the thread.
        var trail = (await TenantAdminOf(Police).Get($"/api/tenants/{Police}/audit/entries?stream={file}")).ShouldBe(HttpStatusCode.OK)
            .Json.GetProperty("entries").EnumerateArray().ToList();
        var last = trail.Last(e => e.GetProperty("type").GetString() == "case_file_entry_added");
        last.GetProperty("before").GetProperty("entryCount").GetInt64().ShouldBe(1);
        last.GetProperty("after").GetProperty("entryCount").GetInt64().ShouldBe(2);
        last.GetProperty("after").GetProperty("lastEntry").GetProperty("text").GetString().ShouldBe("A third one was released.");
        last.GetProperty("after").TryGetProperty("entries", out _).ShouldBeFalse();
        last.GetProperty("before").GetProperty("lastEntry").GetProperty("text").GetString().ShouldBe("Two of these are in our jail.");
        last.GetProperty("after").GetRawText().ShouldNotContain("Two of these are in our jail.");
    }

    [Fact]
    public async Task a_tenant_cannot_grow_its_tree_past_its_organisation_count_or_depth_by_any_path()
    {
        var tenant = await Active();
        var admin = TenantAdminOf(tenant);
        var root = await RootOf(tenant);
        var url = $"/api/tenants/{tenant}/organisations";
        var held = (await admin.Get($"{url}?limit=200")).ShouldBe(HttpStatusCode.OK).Json.GetProperty("items").GetArrayLength();

        await With(o => o.MaxOrganisationsPerTenant, (o, v) => o.MaxOrganisationsPerTenant = v, held + 1, async () =>
        {
            var a = await Organisation(tenant, root, "Patrol");
            var full = (await admin.Post(url, new { parentId = root, name = "Traffic", kind = "unit" })).ShouldBeProblem(HttpStatusCode.Conflict, "organisation-limit");
            ShouldNameTheLimit(full, held + 1, nameof(TenantEventsOptions.MaxOrganisationsPerTenant));
            (await admin.Post($"{url}/batch", new { organisations = new[] { new { id = Guid.CreateVersion7(), parentId = a, name = "Squad", kind = "unit" } } }))
                .ShouldBeProblem(HttpStatusCode.Conflict, "organisation-limit");
            (await admin.Get($"{url}?limit=200")).Json.GetProperty("items").GetArrayLength().ShouldBe(held + 1);
        });

        // Depth: the root is 0. Two levels below it may be made; a third, by a create, a batch or a move of a subtree, may not.
        var one = await Organisation(tenant, root, "Division");
        var two = await Organisation(tenant, one, "Bureau");
        var side = await Organisation(tenant, root, "Side office");
        var sideChild = await Organisation(tenant, side, "Side desk");
        await With(o => o.MaxOrganisationDepth, (o, v) => o.MaxOrganisationDepth = v, 2, async () =>
        {
            var deep = (await admin.Post(url, new { parentId = two, name = "Desk", kind = "unit" })).ShouldBeProblem(HttpStatusCode.Conflict, "organisation-too-deep");
            ShouldNameTheLimit(deep, 2, nameof(TenantEventsOptions.MaxOrganisationDepth));
            var x = Guid.CreateVersion7();
            (await admin.Post($"{url}/batch", new
            {
                organisations = new object[]
                {
                    new { id = x, parentId = one, name = "Desk A", kind = "unit" },
                    new { id = Guid.CreateVersion7(), parentId = x, name = "Desk B", kind = "unit" },
                },
            })).ShouldBeProblem(HttpStatusCode.Conflict, "organisation-too-deep");
            // Side office moves under Division: itself at depth 2 fits, its desk at 3 does not.
            (await admin.Post($"{url}/{side}/move", new { parentId = one })).ShouldBeProblem(HttpStatusCode.Conflict, "organisation-too-deep");
            (await admin.Get($"{url}/{side}")).ShouldBe(HttpStatusCode.OK).Json.GetProperty("parentId").GetGuid().ShouldBe(root);
            (await admin.Get($"{url}/{x}")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
            // A move that keeps the subtree within the bound is fine.
            (await admin.Post($"{url}/{sideChild}/move", new { parentId = one })).ShouldBe(HttpStatusCode.OK);
        });
    }

    [Fact]
    public async Task a_time_travel_read_that_would_replay_more_organisation_events_than_the_bound_is_refused()
    {
        var tenant = await Active();
        var admin = TenantAdminOf(tenant);
        var root = await RootOf(tenant);
        await Organisation(tenant, root, "Patrol");
        var url = $"/api/tenants/{tenant}/organisations";
        await With(o => o.MaxTimeTravelEvents, (o, v) => o.MaxTimeTravelEvents = v, 3, async () =>
        {
            // Provisioning alone made more than three organisation events (roles and the template's tree).
            var refused = (await admin.Get($"{url}?asOfVersion=1")).ShouldBeProblem((HttpStatusCode)422, "time-travel-too-long");
            ShouldNameTheLimit(refused, 3, nameof(TenantEventsOptions.MaxTimeTravelEvents));
            (await admin.Get($"{url}/{root}?asOf={Uri.EscapeDataString(Fixture.Time.GetUtcNow().ToString("O"))}"))
                .ShouldBeProblem((HttpStatusCode)422, "time-travel-too-long");
            (await admin.Get($"/api/tenants/{tenant}/access/explain?principal=user:carol&permission=case.read&organisationId={root}&asOfVersion=1"))
                .ShouldBeProblem((HttpStatusCode)422, "time-travel-too-long");
            // A point before the tenant's history replays nothing; the tree now is no time travel.
            (await admin.Get($"{url}?asOf={Uri.EscapeDataString(new DateTimeOffset(2000, 1, 1, 0, 0, 0, TimeSpan.Zero).ToString("O"))}"))
                .ShouldBe(HttpStatusCode.OK).Json.GetProperty("items").GetArrayLength().ShouldBe(0);
            (await admin.Get(url)).ShouldBe(HttpStatusCode.OK);
        });
        (await admin.Get($"{url}?asOfVersion=1")).ShouldBe(HttpStatusCode.OK);
    }

    private static StringContent ScimBody(object body) => new(JsonSerializer.Serialize(body), Encoding.UTF8, "application/scim+json");

    private static async Task<Reply> Read(HttpResponseMessage response) =>
        new(response.StatusCode, response.Headers, response.Content.Headers, await response.Content.ReadAsStringAsync());

    [Fact]
    public async Task a_directory_cannot_hold_more_users_or_groups_than_the_bound_and_is_told_in_scims_error_schema()
    {
        var tenant = await Active();
        var created = (await TenantAdminOf(tenant).Post($"/api/tenants/{tenant}/service-accounts", new { name = "Entra ID provisioning", scopes = new[] { "scim.provision" } }))
            .ShouldBe(HttpStatusCode.Created);
        var scim = Fixture.Client(created.Str("scimToken"));
        var baseUrl = $"/api/tenants/{tenant}/scim/v2";
        object User(string name) => new { schemas = new[] { "urn:ietf:params:scim:schemas:core:2.0:User" }, userName = name, active = false };
        object Group(string name) => new { schemas = new[] { "urn:ietf:params:scim:schemas:core:2.0:Group" }, displayName = name };

        await With(o => (o.MaxScimUsers, o.MaxScimGroups), (o, v) => (o.MaxScimUsers, o.MaxScimGroups) = v, (2, 1), async () =>
        {
            (await Read(await scim.PostAsync($"{baseUrl}/Users", ScimBody(User("ann@example.com"))))).ShouldBe(HttpStatusCode.Created);
            (await Read(await scim.PostAsync($"{baseUrl}/Users", ScimBody(User("ben@example.com"))))).ShouldBe(HttpStatusCode.Created);
            var full = await Read(await scim.PostAsync($"{baseUrl}/Users", ScimBody(User("cal@example.com"))));
            full.ShouldBe(HttpStatusCode.Conflict);
            full.ContentHeaders!.ContentType!.MediaType.ShouldBe("application/scim+json");
            full.Json.GetProperty("schemas")[0].GetString().ShouldBe("urn:ietf:params:scim:api:messages:2.0:Error");
            full.Json.GetProperty("status").GetString().ShouldBe("409");
            ShouldNameTheLimit(full, 2, nameof(TenantEventsOptions.MaxScimUsers));

            (await Read(await scim.PostAsync($"{baseUrl}/Groups", ScimBody(Group("Patrol"))))).ShouldBe(HttpStatusCode.Created);
            var groups = await Read(await scim.PostAsync($"{baseUrl}/Groups", ScimBody(Group("Traffic"))));
            groups.ShouldBe(HttpStatusCode.Conflict);
            ShouldNameTheLimit(groups, 1, nameof(TenantEventsOptions.MaxScimGroups));

            // Nothing was added; a search (filtered outside the directory's lock) still sees exactly what is there.
            (await Read(await scim.GetAsync($"{baseUrl}/Users"))).ShouldBe(HttpStatusCode.OK).Json.GetProperty("totalResults").GetInt32().ShouldBe(2);
            (await Read(await scim.GetAsync($"{baseUrl}/Users?filter={Uri.EscapeDataString("userName sw \"c\"")}"))).Json.GetProperty("totalResults").GetInt32().ShouldBe(0);
            (await Read(await scim.GetAsync($"{baseUrl}/Groups"))).Json.GetProperty("totalResults").GetInt32().ShouldBe(1);
        });
    }

    private const string Sink = "http://127.0.0.1:9/sink"; // never reached: the subscriptions here are paused or refused

    /// <summary>The subscription's deliveries (in a state) once there are this many (delivery runs in the background).</summary>
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
    public async Task a_tenant_cannot_hold_more_webhook_subscriptions_than_the_bound()
    {
        var tenant = await Active();
        var admin = TenantAdminOf(tenant);
        await With(o => o.MaxWebhooksPerTenant, (o, v) => o.MaxWebhooksPerTenant = v, 2, async () =>
        {
            for (var i = 0; i < 2; i++) (await admin.Post($"/api/tenants/{tenant}/webhooks", new { url = Sink + i })).ShouldBe(HttpStatusCode.Created);
            var full = (await admin.Post($"/api/tenants/{tenant}/webhooks", new { url = Sink })).ShouldBeProblem(HttpStatusCode.Conflict, "webhook-limit");
            ShouldNameTheLimit(full, 2, nameof(TenantEventsOptions.MaxWebhooksPerTenant));
            (await admin.Get($"/api/tenants/{tenant}/webhooks")).ShouldBe(HttpStatusCode.OK).Json.GetArrayLength().ShouldBe(2);
        });
    }

    [Fact]
    public async Task deliveries_beyond_the_bound_on_waiting_ones_are_dead_lettered_with_the_reason_and_redelivery_fills_only_the_room_left()
    {
        var tenant = await Active();
        var admin = TenantAdminOf(tenant);
        var id = Guid.Parse((await admin.Post($"/api/tenants/{tenant}/webhooks", new { url = Sink, types = new[] { "com.tenantevents.organisation_created" } }))
            .ShouldBe(HttpStatusCode.Created).Str("id"));
        // Paused: its deliveries wait (pending), as they would behind an endpoint that is down.
        (await admin.Patch($"/api/tenants/{tenant}/webhooks/{id}", new { state = "paused" })).ShouldBe(HttpStatusCode.OK);
        await With(o => o.MaxPendingDeliveries, (o, v) => o.MaxPendingDeliveries = v, 2, async () =>
        {
            var root = await RootOf(tenant);
            foreach (var name in new[] { "Patrol", "Traffic", "Narcotics" }) await Organisation(tenant, root, name);
            var all = await Deliveries(tenant, id, 3);
            all.Count(d => d.GetProperty("status").GetString() == "pending").ShouldBe(2);
            var dead = all.Single(d => d.GetProperty("status").GetString() == "dead");
            dead.GetProperty("attempts").GetInt32().ShouldBe(0);
            dead.GetProperty("lastError").GetString()!.ShouldContain("TenantEvents:MaxPendingDeliveries");

            // Sending the dead letter again would go past the bound: nothing moves.
            (await admin.Post($"/api/tenants/{tenant}/webhooks/{id}/redeliver", new { status = "dead" })).ShouldBe(HttpStatusCode.Accepted)
                .Json.GetProperty("redelivering").GetInt32().ShouldBe(0);
            var one = (await admin.Post($"/api/tenants/{tenant}/webhooks/{id}/deliveries/{dead.GetProperty("id").GetString()}/redeliver"))
                .ShouldBeProblem(HttpStatusCode.Conflict, "webhook-backlog-full");
            ShouldNameTheLimit(one, 2, nameof(TenantEventsOptions.MaxPendingDeliveries));
            (await Deliveries(tenant, id, 1, "dead")).ShouldHaveSingleItem();
        });
    }

    /// <summary>A request from a client address of our choosing, straight through the test server (no credential unless given).</summary>
    private async Task<(int Status, JsonElement? Problem)> From(string address, string method, string path, string? authorization = null, string? form = null)
    {
        var context = await Fixture.Host.Server.SendAsync(c =>
        {
            c.Connection.RemoteIpAddress = IPAddress.Parse(address);
            c.Request.Method = method;
            c.Request.Path = path;
            if (authorization is not null) c.Request.Headers.Authorization = authorization;
            if (form is not null)
            {
                c.Request.ContentType = "application/x-www-form-urlencoded";
                c.Request.Body = new MemoryStream(Encoding.UTF8.GetBytes(form));
            }
        });
        var body = await new StreamReader(context.Response.Body).ReadToEndAsync();
        var problem = context.Response.ContentType?.StartsWith("application/problem+json") == true ? JsonDocument.Parse(body).RootElement : (JsonElement?)null;
        return (context.Response.StatusCode, problem);
    }

    [Fact]
    public async Task one_address_making_requests_without_a_verified_credential_is_limited_before_they_reach_the_database()
    {
        var tenant = await Active();
        var scim = $"/api/tenants/{tenant}/scim/v2/Users";
        await With(o => (o.AnonymousRequestsPerWindow, o.AnonymousRateWindow), (o, v) => (o.AnonymousRequestsPerWindow, o.AnonymousRateWindow) = v,
            (3, TimeSpan.FromHours(1)), async () =>
            {
                const string attacker = "203.0.113.7";
                (await From(attacker, "GET", "/.well-known/jwks.json")).Status.ShouldBe(200);
                (await From(attacker, "GET", "/health/ready")).Status.ShouldBe(200);
                // A SCIM credential that fails (its lookup reached the database) counts too.
                (await From(attacker, "GET", scim, "Bearer tescim." + Guid.NewGuid().ToString("N") + ".tes_wrongwrongwrong")).Status.ShouldBe(401);

                var (status, problem) = await From(attacker, "GET", "/.well-known/jwks.json");
                status.ShouldBe(429);
                problem!.Value.GetProperty("type").GetString().ShouldBe("urn:tenantevents:problem:too-many-anonymous-requests");
                problem.Value.GetProperty("limit").GetInt32().ShouldBe(3);
                problem.Value.GetProperty("setting").GetString().ShouldBe("TenantEvents:AnonymousRequestsPerWindow");
                // Now refused before authentication or the endpoint does anything: the token endpoint, a bad SCIM credential.
                (await From(attacker, "POST", "/oauth2/token", form: $"grant_type=client_credentials&client_id={Guid.NewGuid()}&client_secret=x")).Status.ShouldBe(429);
                (await From(attacker, "GET", scim, "Bearer tescim." + Guid.NewGuid().ToString("N") + ".tes_wrongwrongwrong")).Status.ShouldBe(429);

                // Another address is not affected; an authenticated caller is bounded by its tenant's fair share instead.
                (await From("203.0.113.8", "GET", "/.well-known/jwks.json")).Status.ShouldBe(200);
                (await From("203.0.113.8", "GET", $"/api/tenants/{tenant}", "Bearer " + Fixture.Token(Roles.PlatformAdmin, "alice"))).Status.ShouldBe(200);
            });
        // Back to the fixture's setting: the address is served again.
        (await From("203.0.113.7", "GET", "/.well-known/jwks.json")).Status.ShouldBe(200);
    }
}
