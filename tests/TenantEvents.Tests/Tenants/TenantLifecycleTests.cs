using System.Net;
using Marten;
using Microsoft.Extensions.DependencyInjection;
using Wolverine.Tracking;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Tenants;
using TenantEvents.Tests.Support;

namespace TenantEvents.Tests.Tenants;

public class TenantLifecycleTests(AppFixture fixture) : IntegrationTest(fixture)
{
    [Fact]
    public async Task a_tenant_goes_from_request_to_decommission_over_http()
    {
        var created = (await Admin.Post("/api/tenants", TenantRequest())).ShouldBe(HttpStatusCode.Created);
        var id = Guid.Parse(created.Str("id"));
        created.ETag.ShouldBe("\"1\"");
        created.Headers.Location!.ToString().ShouldBe($"/api/tenants/{id}");
        created.Str("state").ShouldBe("requested");
        created.Json.GetProperty("requestedBy").GetProperty("subject").GetString().ShouldBe("alice");
        created.Str("requestedAt").ShouldEndWith("Z");

        (await Approver.Post($"/api/tenants/{id}/approve", new { comment = "budget confirmed" })).ShouldBe(HttpStatusCode.OK).Str("state").ShouldBe("approved");
        var active = (await Admin.Post($"/api/tenants/{id}/provision")).ShouldBe(HttpStatusCode.OK);
        active.Str("state").ShouldBe("active");
        active.ETag.ShouldBe("\"3\"");
        active.Json.GetProperty("organisations").GetArrayLength().ShouldBe(6);
        active.Json.GetProperty("roles").EnumerateArray().Select(r => r.GetProperty("name").GetString()).ShouldContain("investigator");

        (await Admin.Post($"/api/tenants/{id}/suspend", new { reason = "invoice overdue" })).ShouldBe(HttpStatusCode.OK).Str("state").ShouldBe("suspended");
        (await Admin.Post($"/api/tenants/{id}/reactivate")).ShouldBe(HttpStatusCode.OK).Str("state").ShouldBe("active");
        (await Admin.Send(HttpMethod.Put, $"/api/tenants/{id}/name", new { name = "Travis County Sheriff's Office" }))
            .ShouldBe(HttpStatusCode.OK).Str("name").ShouldBe("Travis County Sheriff's Office");
        (await Admin.Send(HttpMethod.Patch, $"/api/tenants/{id}/settings", new { auditRetentionDays = 365, quotas = new { licences = 800 } }))
            .ShouldBe(HttpStatusCode.OK).Json.GetProperty("settings").GetProperty("quotas").GetProperty("licences").GetInt32().ShouldBe(800);

        (await Admin.Post($"/api/tenants/{id}/decommission", new { reason = "merged into the state police" }))
            .ShouldBe(HttpStatusCode.OK).Str("state").ShouldBe("decommission-requested");
        var scheduled = (await Approver.Post($"/api/tenants/{id}/decommission/approve")).ShouldBe(HttpStatusCode.OK);
        scheduled.Str("state").ShouldBe("decommission-scheduled");
        // The law-enforcement template promised 2555 days for the records written before the change to 365.
        var notBefore = DateTimeOffset.Parse(scheduled.Str("decommissionNotBefore"));
        notBefore.ShouldBe(Fixture.Time.GetUtcNow().AddDays(2555));

        (await Admin.Post($"/api/tenants/{id}/decommission/complete")).ShouldBeProblem(HttpStatusCode.Conflict, "retention-window")
            .Json.GetProperty("notBefore").GetString().ShouldNotBeNull();

        var hold = (await Admin.Post($"/api/tenants/{id}/legal-holds", new { reference = "CASE-2026-0042", reason = "pending litigation" }))
            .ShouldBe(HttpStatusCode.OK);
        var holdId = hold.Json.GetProperty("legalHolds")[0].GetProperty("holdId").GetGuid();
        Fixture.Time.Advance(TimeSpan.FromDays(2556));
        (await Admin.Post($"/api/tenants/{id}/decommission/complete")).ShouldBeProblem(HttpStatusCode.Conflict, "legal-hold");
        (await Admin.Post($"/api/tenants/{id}/legal-holds/{holdId}/lift", new { reason = "case closed" })).ShouldBe(HttpStatusCode.OK);
        // The record of lifting the hold is itself an audit record, kept for the 365 days now in force.
        var liftedAt = Fixture.Time.GetUtcNow();
        (await Admin.Post($"/api/tenants/{id}/decommission/complete")).ShouldBeProblem(HttpStatusCode.Conflict, "retention-window")
            .Str("notBefore").ShouldBe(liftedAt.AddDays(365).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'"));
        Fixture.Time.Advance(TimeSpan.FromDays(365));
        var history = (await As(Roles.Auditor).Get($"/api/tenants/{id}/events")).ShouldBe(HttpStatusCode.OK);
        history.Json.EnumerateArray().Select(e => e.GetProperty("type").GetString()).ShouldBe([
            "tenant_requested", "tenant_approved", "tenant_provisioned", "tenant_suspended", "tenant_reactivated", "tenant_renamed",
            "tenant_settings_updated", "tenant_decommission_requested", "tenant_decommission_scheduled", "legal_hold_placed",
            "legal_hold_lifted"]);
        (await As(Roles.Auditor).Get($"/api/tenants/{id}/events?toVersion=3")).Json.GetArrayLength().ShouldBe(3);
        var export = (await Admin.Get($"/api/tenants/{id}/export")).ShouldBe(HttpStatusCode.OK);
        // Every stream of the tenant is exported; its own lifecycle stream holds the eleven events above.
        export.Json.GetProperty("events").EnumerateArray().Count(e => e.GetProperty("streamKind").GetString() == "tenant").ShouldBe(11);
        export.Json.GetProperty("tenant").GetProperty("name").GetString().ShouldBe("Travis County Sheriff's Office");

        var (_, done) = await Track(() => Admin.Post($"/api/tenants/{id}/decommission/complete"));
        done.ShouldBe(HttpStatusCode.OK).Str("state").ShouldBe("decommissioned");

        // Crypto-shredded: the events stay in the immutable trail, but nothing of the tenant can be read any more.
        (await EventCount(id)).ShouldBe(12);
        var gone = (await Admin.Get($"/api/tenants/{id}")).ShouldBeProblem(HttpStatusCode.Gone, "tenant-decommissioned");
        gone.Json.GetProperty("tenant").GetProperty("state").GetString().ShouldBe("decommissioned");
        (await As(Roles.Auditor).Get($"/api/tenants/{id}/events")).ShouldBeProblem(HttpStatusCode.Gone, "tenant-decommissioned");
        (await Admin.Get($"/api/tenants/{id}/export")).ShouldBeProblem(HttpStatusCode.Gone, "tenant-decommissioned");
        (await Admin.Post($"/api/tenants/{id}/legal-holds", new { reference = "late", reason = "too late" }))
            .ShouldBeProblem(HttpStatusCode.Gone, "tenant-decommissioned");
    }

    [Fact]
    public async Task the_response_of_every_write_is_what_the_read_model_then_serves()
    {
        var id = await Active();
        foreach (var (method, url, body) in new (HttpMethod, string, object?)[]
                 {
                     (HttpMethod.Post, "suspend", new { reason = "audit" }),
                     (HttpMethod.Put, "name", new { name = "Renamed" }),
                     (HttpMethod.Post, "legal-holds", new { reference = "H-1", reason = "r" }),
                 })
        {
            var written = (await Admin.Send(method, $"/api/tenants/{id}/{url}", body)).ShouldBe(HttpStatusCode.OK);
            (await Read(id)).Body.ShouldBe(written.Body);
        }
    }

    [Fact]
    public async Task approval_schedules_the_completion_and_the_due_message_decommissions_the_tenant()
    {
        var id = await Active();
        (await Admin.Post($"/api/tenants/{id}/decommission", new { reason = "closing" })).ShouldBe(HttpStatusCode.OK);

        var (tracked, reply) = await Track(() => Approver.Post($"/api/tenants/{id}/decommission/approve"));
        reply.ShouldBe(HttpStatusCode.OK);
        var scheduled = tracked.Scheduled.SingleMessage<CompleteDueDecommission>();
        scheduled.TenantId.ShouldBe(id);

        // Early delivery (a clock behind the window) changes nothing.
        await Due(id);
        (await Read(id)).Str("state").ShouldBe("decommission-scheduled");

        Fixture.Time.Advance(TimeSpan.FromDays(2556));
        await Due(id);
        (await Admin.Get($"/api/tenants/{id}")).ShouldBeProblem(HttpStatusCode.Gone, "tenant-decommissioned");
    }

    [Fact]
    public async Task a_due_decommission_waits_for_the_legal_hold_and_lifting_the_last_hold_schedules_it_again()
    {
        var id = await Active();
        (await Admin.Post($"/api/tenants/{id}/decommission", new { reason = "closing" })).ShouldBe(HttpStatusCode.OK);
        (await Approver.Post($"/api/tenants/{id}/decommission/approve")).ShouldBe(HttpStatusCode.OK);
        var hold = await Admin.Post($"/api/tenants/{id}/legal-holds", new { reference = "LH-1", reason = "subpoena" });
        var holdId = hold.Json.GetProperty("legalHolds")[0].GetProperty("holdId").GetGuid();

        Fixture.Time.Advance(TimeSpan.FromDays(3000));
        await Due(id);
        (await Read(id)).Str("state").ShouldBe("decommission-scheduled");

        var (tracked, _) = await Track(() => Admin.Post($"/api/tenants/{id}/legal-holds/{holdId}/lift", new { reason = "released" }));
        tracked.Scheduled.SingleMessage<CompleteDueDecommission>().TenantId.ShouldBe(id);
    }

    [Fact]
    public async Task an_invalid_transition_is_a_409_naming_the_state_and_appends_nothing()
    {
        var id = await Requested();
        var before = await EventCount(id);
        foreach (var (url, body) in new (string, object?)[]
                 {
                     ("provision", null), ("suspend", new { reason = "x" }), ("reactivate", null),
                     ("decommission", new { reason = "x" }), ("decommission/approve", null), ("decommission/complete", null),
                     ("decommission/cancel", new { reason = "x" }),
                 })
        {
            var client = url == "decommission/approve" ? Approver : Admin;
            var problem = (await client.Post($"/api/tenants/{id}/{url}", body)).ShouldBeProblem(HttpStatusCode.Conflict, "invalid-transition");
            problem.Str("currentState").ShouldBe("requested");
            problem.Json.GetProperty("version").GetInt32().ShouldBe(1);
        }
        (await EventCount(id)).ShouldBe(before);
    }

    [Fact]
    public async Task the_requester_cannot_approve_their_own_request_even_with_both_roles()
    {
        var both = Fixture.Client(DevTokens.Issue(Fixture.TokenKey, "carol", [Roles.PlatformAdmin, Roles.PlatformApprover], null,
            TimeSpan.FromMinutes(5), DateTime.UtcNow));
        var id = Guid.Parse((await both.Post("/api/tenants", TenantRequest())).ShouldBe(HttpStatusCode.Created).Str("id"));
        (await both.Post($"/api/tenants/{id}/approve")).ShouldBeProblem(HttpStatusCode.Forbidden, "four-eyes");
        (await EventCount(id)).ShouldBe(1);
        (await Read(id)).Str("state").ShouldBe("requested");
    }

    [Fact]
    public async Task a_stale_if_match_is_a_412_and_a_current_one_goes_through()
    {
        var id = await Active();
        var stale = (await Admin.Post($"/api/tenants/{id}/suspend", new { reason = "x" }, new Dictionary<string, string> { ["If-Match"] = "\"2\"" }))
            .ShouldBeProblem(HttpStatusCode.PreconditionFailed, "stale-version");
        stale.Json.GetProperty("currentVersion").GetInt64().ShouldBe(3);
        stale.ETag.ShouldBe("\"3\"");
        (await EventCount(id)).ShouldBe(3);
        (await Admin.Post($"/api/tenants/{id}/suspend", new { reason = "x" }, new Dictionary<string, string> { ["If-Match"] = "\"3\"" }))
            .ShouldBe(HttpStatusCode.OK).ETag.ShouldBe("\"4\"");
        foreach (var bad in new[] { "3", "W/\"4\"", "\"four\"", "\"4\", \"5\"" })
            (await Admin.Post($"/api/tenants/{id}/reactivate", null, new Dictionary<string, string> { ["If-Match"] = bad }))
                .ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
    }

    [Fact]
    public async Task a_conditional_get_answers_304_when_nothing_changed()
    {
        var id = await Requested();
        var first = await Read(id);
        (await Admin.Get($"/api/tenants/{id}", new Dictionary<string, string> { ["If-None-Match"] = first.ETag! })).Status.ShouldBe(HttpStatusCode.NotModified);
    }

    [Fact]
    public async Task concurrent_writes_with_the_same_if_match_let_exactly_one_through()
    {
        var id = await Active();
        var headers = new Dictionary<string, string> { ["If-Match"] = "\"3\"" };
        var replies = await Task.WhenAll(Enumerable.Range(0, 6).Select(i =>
            Admin.Send(HttpMethod.Put, $"/api/tenants/{id}/name", new { name = $"Name {i}" }, headers)));
        replies.Count(r => r.Status == HttpStatusCode.OK).ShouldBe(1);
        replies.Where(r => r.Status != HttpStatusCode.OK).ShouldAllBe(r => r.Status == HttpStatusCode.PreconditionFailed);
        (await EventCount(id)).ShouldBe(4);
    }

    [Fact]
    public async Task concurrent_writes_without_if_match_never_fail_with_a_500()
    {
        var id = await Active();
        var replies = await Task.WhenAll(Enumerable.Range(0, 6).Select(i =>
            Admin.Send(HttpMethod.Put, $"/api/tenants/{id}/name", new { name = $"Name {i}" })));
        replies.ShouldAllBe(r => r.Status == HttpStatusCode.OK || r.Status == HttpStatusCode.Conflict);
        (await EventCount(id)).ShouldBe(3 + replies.Count(r => r.Status == HttpStatusCode.OK));
    }

    [Fact]
    public async Task a_rejected_request_frees_its_slug_and_a_taken_slug_is_a_409()
    {
        var id = await Requested("harris-sheriff");
        (await Admin.Post("/api/tenants", TenantRequest("harris-sheriff"))).ShouldBeProblem(HttpStatusCode.Conflict, "slug-taken");
        (await Approver.Post($"/api/tenants/{id}/reject", new { reason = "duplicate of an existing agency" })).ShouldBe(HttpStatusCode.OK);
        (await Admin.Post("/api/tenants", TenantRequest("harris-sheriff"))).ShouldBe(HttpStatusCode.Created);
    }

    [Fact]
    public async Task a_retried_create_with_the_same_idempotency_key_returns_the_first_tenant()
    {
        var key = new Dictionary<string, string> { ["Idempotency-Key"] = "create-travis-1" };
        var first = (await Admin.Post("/api/tenants", TenantRequest(), key)).ShouldBe(HttpStatusCode.Created);
        var retry = (await Admin.Post("/api/tenants", TenantRequest(), key)).ShouldBe(HttpStatusCode.Created);
        retry.Str("id").ShouldBe(first.Str("id"));
        retry.Headers.GetValues("Idempotent-Replayed").ShouldBe(["true"]);
        var id = Guid.Parse(first.Str("id"));
        (await EventCount(id)).ShouldBe(1);

        (await Admin.Post("/api/tenants", TenantRequest("other-slug"), key)).ShouldBeProblem(HttpStatusCode.UnprocessableEntity, "idempotency-key-reused");
        // The key belongs to its caller: someone else's identical key is a different request.
        var dave = (await As(Roles.PlatformAdmin, "dave").Post("/api/tenants", TenantRequest("dave-slug"), key)).ShouldBe(HttpStatusCode.Created);
        Guid.Parse(dave.Str("id")).ShouldNotBe(id);
        (await EventCount(Guid.Parse(dave.Str("id")))).ShouldBe(1);
        (await EventCount(id)).ShouldBe(1);
    }

    [Fact]
    public async Task concurrent_retries_with_one_idempotency_key_create_one_tenant()
    {
        var key = new Dictionary<string, string> { ["Idempotency-Key"] = "burst" };
        var replies = await Task.WhenAll(Enumerable.Range(0, 5).Select(_ => Admin.Post("/api/tenants", TenantRequest(), key)));
        replies.ShouldAllBe(r => r.Status == HttpStatusCode.Created);
        replies.Select(r => r.Str("id")).Distinct().Count().ShouldBe(1);
        (await EventCount()).ShouldBe(1);
    }

    [Fact]
    public async Task templates_are_listed_and_a_request_may_override_their_defaults()
    {
        var templates = (await As(Roles.Analyst).Get("/api/templates")).ShouldBe(HttpStatusCode.OK);
        templates.Json.EnumerateArray().Select(t => t.GetProperty("name").GetString())
            .ShouldBe(["commercial-saas", "government-services", "intelligence", "law-enforcement"]);
        (await As(Roles.Analyst).Get("/api/templates/intelligence")).ShouldBe(HttpStatusCode.OK).Json.GetProperty("dedicatedDatabase").GetBoolean().ShouldBeTrue();
        (await As(Roles.Analyst).Get("/api/templates/nope")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");

        var reply = (await Admin.Post("/api/tenants", TenantRequest("acme", "commercial-saas", "GB", null,
            overrides: new { auditRetentionDays = 90, features = new[] { "case-files", "analytics" }, quotas = new { licences = 75 } })))
            .ShouldBe(HttpStatusCode.Created);
        var settings = reply.Json.GetProperty("settings");
        settings.GetProperty("auditRetentionDays").GetInt32().ShouldBe(90);
        settings.GetProperty("quotas").GetProperty("licences").GetInt32().ShouldBe(75);
        settings.GetProperty("quotas").GetProperty("apiCallsPerDay").GetInt64().ShouldBe(100000);
        settings.GetProperty("quotas").GetProperty("mode").GetString().ShouldBe("observe-only");
    }

    [Fact]
    public async Task the_stored_read_model_is_the_fold_of_the_stored_events()
    {
        var id = await Active();
        await Admin.Post($"/api/tenants/{id}/suspend", new { reason = "x" });
        var streams = Fixture.Host.Services.GetRequiredService<TenantStreams>();
        await using var session = Fixture.Store.QuerySession(id.ToString());
        var (folded, _) = await streams.ReplayAsync(session, id, CancellationToken.None);
        var stored = await streams.ReadAsync((await session.LoadAsync<TenantRecord>(id))!, CancellationToken.None);
        System.Text.Json.JsonSerializer.Serialize(stored, TenantEvents.Infrastructure.Json.Options)
            .ShouldBe(System.Text.Json.JsonSerializer.Serialize(folded, TenantEvents.Infrastructure.Json.Options));
    }

    /// <summary>Delivers the scheduled completion as Wolverine would when it comes due: for that tenant.</summary>
    private Task Due(Guid id) =>
        Fixture.Host.ExecuteAndWaitAsync(bus => bus.InvokeForTenantAsync(id.ToString(), new CompleteDueDecommission(id)));

    private async Task<(ITrackedSession, Reply)> Track(Func<Task<Reply>> action)
    {
        Reply reply = null!;
        var tracked = await Fixture.Host.ExecuteAndWaitAsync(async () => { reply = await action(); });
        return (tracked, reply);
    }
}
