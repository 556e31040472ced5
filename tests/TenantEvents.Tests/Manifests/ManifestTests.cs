using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Manifests;
using TenantEvents.Tests.Support;
using Wolverine;

namespace TenantEvents.Tests.Manifests;

/// <summary>
/// Tenants as code through the API, as a CI job would use it: plan (writes nothing), apply with the plan's digest (all of
/// it or, if anything moved, nothing), export, drift; and from the other side: another tenant's slug, a member short of
/// the power a manifest confers.
/// </summary>
public class ManifestTests(AppFixture fixture) : IntegrationTest(fixture)
{
    private const string Root = "/Travis County Sheriff";

    private static string Manifest(string slug = "travis-sheriff", string extra = "", string organisations = "") => $$"""
        apiVersion: tenantevents.io/v1
        kind: Tenant
        metadata: {name: {{slug}}}
        spec:
          name: Travis County Sheriff
          template: law-enforcement
          residency: {country: US, subdivision: US-TX}
          contacts:
            - {name: Sally Hemphill, email: sally@travis.example.gov, role: sheriff}
          organisations:
            - {path: {{Root}}, kind: agency}
            - {path: {{Root}}/Patrol, kind: department}
            - {path: {{Root}}/Patrol/North District, kind: unit, members: [deputy-ortiz]}
            - {path: "{{Root}}/Records ~0 Evidence~1Property", kind: department}
        {{organisations}}
          roles:
            - {name: shift-supervisor, description: Runs a shift, permissions: [org.read, member.manage]}
          grants:
            - {organisation: {{Root}}/Patrol, principal: {kind: group, id: patrol-sergeants}, role: shift-supervisor}
        {{extra}}
        """;

    private static int LineOf(string text, string what) => text.Split('\n').ToList().FindIndex(l => l.Contains(what)) + 1;

    private static async Task<Reply> Plan(HttpClient client, string manifest, bool allowDelete = false) =>
        await client.SendRaw(HttpMethod.Post, "/api/manifests/plan" + (allowDelete ? "?allowDelete=true" : ""), manifest);

    private static async Task<Reply> Apply(HttpClient client, string manifest, string digest, bool allowDelete = false) =>
        await client.SendRaw(HttpMethod.Post, "/api/manifests/apply" + (allowDelete ? "?allowDelete=true" : ""), manifest,
            new Dictionary<string, string> { ["If-Match"] = $"\"{digest}\"" });

    private static List<(string Kind, string Action, string Target)> Changes(Reply plan) =>
        plan.Json.GetProperty("changes").EnumerateArray()
            .Select(c => (c.GetProperty("kind").GetString()!, c.GetProperty("action").GetString()!, c.GetProperty("target").GetString()!)).ToList();

    /// <summary>Plans and applies, as the caller; answers the apply.</summary>
    private async Task<Reply> PlanAndApply(HttpClient client, string manifest, bool allowDelete = false)
    {
        var plan = (await Plan(client, manifest, allowDelete)).ShouldBe(HttpStatusCode.OK);
        return await Apply(client, manifest, plan.Str("digest"), allowDelete);
    }

    private async Task<Dictionary<string, JsonElement>> OrganisationsByName(Guid tenant) =>
        (await Admin.Get($"/api/tenants/{tenant}/organisations?limit=200")).ShouldBe(HttpStatusCode.OK).Json.GetProperty("items").EnumerateArray()
        .Where(o => o.GetProperty("state").GetString() == "open").ToDictionary(o => o.GetProperty("name").GetString()!);

    [Fact]
    public async Task a_new_tenant_is_planned_requested_approved_by_someone_else_applied_and_then_planned_as_no_changes()
    {
        var manifest = Manifest(extra: "  serviceAccounts:\n    - {name: records-sync, scopes: [org.read]}\n");
        var before = await EventCount();

        var plan = (await Plan(Admin, manifest)).ShouldBe(HttpStatusCode.OK);
        plan.Json.GetProperty("inSync").GetBoolean().ShouldBeFalse();
        Changes(plan)[0].ShouldBe(("tenant", "request", "travis-sheriff"));
        (await EventCount()).ShouldBe(before); // a plan writes nothing

        // Apply asks for the tenant: four eyes, so it waits for another person.
        var requested = (await Apply(Admin, manifest, plan.Str("digest"))).ShouldBe(HttpStatusCode.Accepted);
        var tenant = Guid.Parse(requested.Str("tenantId"));
        requested.Json.GetProperty("pending")[0].GetProperty("waitingFor").GetString().ShouldBe("approval");
        (await Read(tenant)).Str("state").ShouldBe("requested");
        // Until it is active, the rest cannot be planned.
        (await Plan(Admin, manifest)).ShouldBeProblem(HttpStatusCode.Conflict, "tenant-not-active");

        (await Approver.Post($"/api/tenants/{tenant}/approve")).ShouldBe(HttpStatusCode.OK);
        (await Admin.Post($"/api/tenants/{tenant}/provision")).ShouldBe(HttpStatusCode.OK);

        var rest = (await Plan(Admin, manifest)).ShouldBe(HttpStatusCode.OK);
        Changes(rest).ShouldContain(("organisation", "create", $"{Root}/Patrol/North District"));
        Changes(rest).ShouldContain(("organisation", "create", $"{Root}/Records ~0 Evidence~1Property"));
        Changes(rest).ShouldContain(("role", "create", "shift-supervisor"));
        Changes(rest).ShouldContain(("grant", "create", $"{Root}/Patrol group:patrol-sergeants shift-supervisor"));
        Changes(rest).ShouldContain(("member", "create", $"{Root}/Patrol/North District deputy-ortiz"));
        Changes(rest).ShouldContain(("serviceAccount", "create", "records-sync"));
        var applied = (await Apply(Admin, manifest, rest.Str("digest"))).ShouldBe(HttpStatusCode.OK);
        // The account's secret is in this answer, once.
        var secret = applied.Json.GetProperty("secrets")[0];
        secret.GetProperty("name").GetString().ShouldBe("records-sync");
        secret.GetProperty("clientSecret").GetString()!.Length.ShouldBeGreaterThan(20);

        var orgs = await OrganisationsByName(tenant);
        new[] { "Travis County Sheriff", "Patrol", "North District", "Records ~ Evidence/Property" }.ShouldBeSubsetOf(orgs.Keys);
        orgs["North District"].GetProperty("parentId").GetGuid().ShouldBe(orgs["Patrol"].GetProperty("id").GetGuid());
        var grants = (await Admin.Get($"/api/tenants/{tenant}/organisations/{orgs["Patrol"].GetProperty("id")}/grants")).ShouldBe(HttpStatusCode.OK);
        grants.Json.GetProperty("items")[0].GetProperty("role").GetString().ShouldBe("shift-supervisor");

        var again = (await Plan(Admin, manifest)).ShouldBe(HttpStatusCode.OK);
        again.Json.GetProperty("inSync").GetBoolean().ShouldBeTrue();
        Changes(again).ShouldBeEmpty();
    }

    [Fact]
    public async Task a_change_between_plan_and_apply_refuses_the_apply_with_nothing_written()
    {
        var tenant = await Active();
        var admin = TenantAdminOf(tenant);
        var plan = (await Plan(admin, Manifest())).ShouldBe(HttpStatusCode.OK);
        // Someone changes the tree by hand after the plan.
        (await admin.Post($"/api/tenants/{tenant}/organisations", new { parentId = await RootOf(tenant), name = "Aviation", kind = "unit" }))
            .ShouldBe(HttpStatusCode.Created);
        var events = await EventCount(tenant, everyStream: true);

        (await Apply(admin, Manifest(), plan.Str("digest"))).ShouldBeProblem(HttpStatusCode.PreconditionFailed, "plan-stale");
        (await EventCount(tenant, everyStream: true)).ShouldBe(events);
        // Not even the record: a manifest is recorded as the tenant's only when applied.
        (await Fixture.Host.Services.GetRequiredService<ManifestService>().LoadRecordAsync(tenant, CancellationToken.None)).ShouldBeNull();
        (await OrganisationsByName(tenant)).Keys.ShouldNotContain("Patrol");
        // Without the plan's digest, apply does nothing either.
        (await admin.SendRaw(HttpMethod.Post, "/api/manifests/apply", Manifest())).ShouldBeProblem(HttpStatusCode.PreconditionRequired, "precondition-required");
        // A manifest changed after its plan is not the plan either.
        (await Apply(admin, Manifest(organisations: $"    - {{path: {Root}/K9, kind: unit}}"), (await Plan(admin, Manifest())).Str("digest")))
            .ShouldBeProblem(HttpStatusCode.PreconditionFailed, "plan-stale");
        (await EventCount(tenant, everyStream: true)).ShouldBe(events);
    }

    [Fact]
    public async Task a_manifest_error_names_the_path_and_field_and_line_and_writes_nothing()
    {
        var tenant = await Active();
        var events = await EventCount(tenant, everyStream: true);
        var broken = Manifest().Replace("{organisation: /Travis County Sheriff/Patrol, principal", "{organisation: /Travis County Sheriff/Nowhere, principal");
        var problem = (await Plan(TenantAdminOf(tenant), broken)).ShouldBeProblem((HttpStatusCode)422, "manifest-invalid");
        var error = problem.Json.GetProperty("errors")[0];
        error.GetProperty("field").GetString().ShouldBe("$.spec.grants[0].organisation");
        error.GetProperty("code").GetString().ShouldBe("unknown-organisation");
        error.GetProperty("detail").GetString()!.ShouldStartWith($"line {LineOf(broken, "principal:")}:");
        // A misspelt field is an error, not ignored.
        (await Plan(TenantAdminOf(tenant), Manifest().Replace("kind: agency", "kind: agency, jurisdicton: US-TX")))
            .ShouldBeProblem((HttpStatusCode)422, "manifest-invalid").Body.ShouldContain("jurisdicton");
        // A reference the sender left unresolved is not looked up on the server.
        (await Plan(TenantAdminOf(tenant), Manifest().Replace("name: Travis County Sheriff\n", "name: ${env:PATH}\n")))
            .ShouldBeProblem((HttpStatusCode)422, "manifest-invalid").Body.ShouldContain("unresolved-reference");
        // The decisions of the routes refuse what they would refuse: a role that does not exist.
        var unknownRole = (await Plan(TenantAdminOf(tenant), Manifest().Replace("role: shift-supervisor}", "role: no-such-role}")))
            .ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        unknownRole.Json.GetProperty("errors")[0].GetProperty("field").GetString().ShouldBe("$.spec.grants[0].role");
        (await Apply(TenantAdminOf(tenant), broken, "sha256:00")).ShouldBeProblem((HttpStatusCode)422, "manifest-invalid");
        (await EventCount(tenant, everyStream: true)).ShouldBe(events);
    }

    [Fact]
    public async Task export_then_plan_says_no_changes()
    {
        var tenant = await Active();
        var admin = TenantAdminOf(tenant);
        (await PlanAndApply(admin, Manifest())).ShouldBe(HttpStatusCode.OK);
        // Hand-made things are exported too.
        (await admin.Post($"/api/tenants/{tenant}/organisations", new { parentId = await RootOf(tenant), name = "Aviation", kind = "unit", jurisdiction = "US-TX" }))
            .ShouldBe(HttpStatusCode.Created);
        var exported = (await admin.Get($"/api/tenants/{tenant}/manifest")).ShouldBe(HttpStatusCode.OK);
        exported.Body.ShouldContain("Aviation");
        exported.Body.ShouldContain("Records ~0 Evidence~1Property");
        var plan = (await Plan(admin, exported.Body)).ShouldBe(HttpStatusCode.OK);
        Changes(plan).ShouldBeEmpty();
        // And as YAML, as the command line writes it.
        var yaml = ManifestCli.ToYaml(System.Text.Json.Nodes.JsonNode.Parse(exported.Body));
        Changes((await Plan(admin, yaml)).ShouldBe(HttpStatusCode.OK)).ShouldBeEmpty();
    }

    [Fact]
    public async Task a_hand_change_is_reported_as_drift_once_and_the_event_is_delivered()
    {
        var tenant = await Active();
        var admin = TenantAdminOf(tenant);
        var receiver = await Fixture.WebhookReceiver();
        var hook = "m" + Guid.NewGuid().ToString("N")[..12];
        var manifest = Manifest(extra: $"  webhooks:\n    - {{url: '{receiver.Hook(hook)}', types: [com.tenantevents.manifest_drifted]}}\n");
        var applied = (await PlanAndApply(admin, manifest)).ShouldBe(HttpStatusCode.OK);
        var webhookSecret = applied.Json.GetProperty("secrets").EnumerateArray().Single(s => s.GetProperty("kind").GetString() == "webhook")
            .GetProperty("secret").GetString()!;
        await receiver.ConfigureAsync(hook, webhookSecret);
        (await admin.Post($"/api/tenants/{tenant}/manifest/drift")).ShouldBe(HttpStatusCode.OK).Json.GetProperty("inSync").GetBoolean().ShouldBeTrue();

        // By hand: the grant the manifest made is revoked.
        var patrol = (await OrganisationsByName(tenant))["Patrol"].GetProperty("id").GetGuid();
        var grant = (await admin.Get($"/api/tenants/{tenant}/organisations/{patrol}/grants")).Json.GetProperty("items")[0].GetProperty("id").GetGuid();
        (await admin.Delete($"/api/tenants/{tenant}/organisations/{patrol}/grants/{grant}")).ShouldBe(HttpStatusCode.NoContent);

        // The scheduled check (the message apply scheduled, run now) finds it.
        var record = await Fixture.Host.Services.GetRequiredService<ManifestService>().LoadRecordAsync(tenant, CancellationToken.None);
        using (var scope = Fixture.Host.Services.CreateScope())
            await scope.ServiceProvider.GetRequiredService<IMessageBus>().InvokeForTenantAsync(tenant.ToString(), new CheckManifestDrift(tenant, record!.Digest));
        var seen = await receiver.WaitAsync(hook, s => s.Events.Count >= 1);
        var drifted = seen.Events[0];
        drifted.GetProperty("type").GetString().ShouldBe("com.tenantevents.manifest_drifted");
        drifted.GetProperty("data").GetProperty("changes").GetInt32().ShouldBe(1);
        drifted.GetProperty("data").GetProperty("byKind").GetProperty("grant").GetInt32().ShouldBe(1);

        // Asked again: the same drift, reported once.
        var plan = (await admin.Post($"/api/tenants/{tenant}/manifest/drift")).ShouldBe(HttpStatusCode.OK);
        Changes(plan).ShouldBe([("grant", "create", $"{Root}/Patrol group:patrol-sergeants shift-supervisor")]);
        var stream = TenantEvents.Manifests.ManifestEventTypes.Stream(tenant);
        var audit = (await admin.Get($"/api/tenants/{tenant}/audit/entries?stream={stream}&limit=100")).ShouldBe(HttpStatusCode.OK);
        audit.Json.GetProperty("entries").EnumerateArray().Select(e => e.GetProperty("type").GetString()).ShouldBe(["manifest_applied", "manifest_drifted"]);
        (await receiver.SeenAsync(hook)).Events.Count.ShouldBe(1);
    }

    [Fact]
    public async Task an_identity_provider_mapping_to_a_new_organisation_and_a_subdomain_are_applied_and_exported()
    {
        var tenant = await Active();
        var admin = TenantAdminOf(tenant);
        var idp = await Fixture.IdentityProvider(0);
        var manifest = Manifest(extra: $$"""
              identityProvider:
                issuer: {{idp.Issuer}}
                audience: manifest-audience
                adminGroups: [it-admins]
                mappings:
                  - {group: north-deputies, organisation: {{Root}}/Patrol/North District, role: shift-supervisor}
              domains:
                - {subdomain: travis}
            """);
        var plan = (await Plan(admin, manifest)).ShouldBe(HttpStatusCode.OK);
        Changes(plan).ShouldContain(("identityProvider", "create", idp.Issuer));
        Changes(plan).ShouldContain(("domain", "create", "travis.tenants.example.test"));
        (await Apply(admin, manifest, plan.Str("digest"))).ShouldBe(HttpStatusCode.OK);

        var north = (await OrganisationsByName(tenant))["North District"].GetProperty("id").GetGuid();
        var configured = (await admin.Get($"/api/tenants/{tenant}/identity-provider")).ShouldBe(HttpStatusCode.OK);
        configured.Json.GetProperty("settings").GetProperty("groupMappings")[0].GetProperty("organisationId").GetGuid().ShouldBe(north);
        (await admin.Get($"/api/tenants/{tenant}/domains/travis.tenants.example.test")).ShouldBe(HttpStatusCode.OK).Str("state").ShouldBe("verified");
        Changes((await Plan(admin, manifest)).ShouldBe(HttpStatusCode.OK)).ShouldBeEmpty();
        var exported = (await admin.Get($"/api/tenants/{tenant}/manifest")).ShouldBe(HttpStatusCode.OK);
        Changes((await Plan(admin, exported.Body)).ShouldBe(HttpStatusCode.OK)).ShouldBeEmpty();
        // The domain route's rules at plan time: a reserved label is refused before anything is written.
        (await Plan(admin, manifest.Replace("{subdomain: travis}", "{subdomain: api}"))).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed")
            .Json.GetProperty("manifestPath").GetString().ShouldBe("$.spec.domains[0]");

        // A member who may manage the tree but is no administrator cannot make a group the tenant's administrators.
        (await admin.Put($"/api/tenants/{tenant}/roles/identity-manager", new { description = "m", permissions = new[] { "identity.manage", "org.read", "member.manage" } }))
            .ShouldBe(HttpStatusCode.OK);
        (await admin.Post($"/api/tenants/{tenant}/organisations/{await RootOf(tenant)}/grants", new { principal = new { kind = "user", id = "mallory" }, role = "identity-manager" }))
            .ShouldBe(HttpStatusCode.Created);
        var events = await EventCount(tenant, everyStream: true);
        (await Plan(Member(tenant, "mallory"), manifest.Replace("adminGroups: [it-admins]", "adminGroups: [it-admins, mallory-friends]")))
            .ShouldBeProblem(HttpStatusCode.Forbidden, "beyond-your-own").Json.GetProperty("manifestPath").GetString().ShouldBe("$.spec.identityProvider");
        (await EventCount(tenant, everyStream: true)).ShouldBe(events);
    }

    [Fact]
    public async Task guardrails_and_quota_shares_are_planned_by_their_routes_decisions_applied_and_exported()
    {
        var tenant = await Active();
        var admin = TenantAdminOf(tenant);
        var manifest = Manifest(organisations: $$"""
                - path: {{Root}}/K9
                  kind: unit
                  policies:
                    feature.case-sharing: {mode: locked, value: false}
                    setting.session-minutes: {value: 30}
                  quotas:
                    apiCallsPerDay: {guaranteed: 5000, cap: 8000}
            """);
        var plan = (await Plan(admin, manifest)).ShouldBe(HttpStatusCode.OK);
        Changes(plan).ShouldContain(("policy", "create", $"{Root}/K9 feature.case-sharing"));
        Changes(plan).ShouldContain(("policy", "create", $"{Root}/K9 setting.session-minutes"));
        Changes(plan).ShouldContain(("allocation", "create", $"{Root}/K9 apiCallsPerDay"));
        (await Apply(admin, manifest, plan.Str("digest"))).ShouldBe(HttpStatusCode.OK);
        var k9 = (await OrganisationsByName(tenant))["K9"].GetProperty("id").GetGuid();
        var policies = (await admin.Get($"/api/tenants/{tenant}/organisations/{k9}/policies")).ShouldBe(HttpStatusCode.OK).Body;
        policies.ShouldContain("feature.case-sharing");
        (await admin.Get($"/api/tenants/{tenant}/organisations/{k9}/quotas")).ShouldBe(HttpStatusCode.OK).Body.ShouldContain("\"guaranteed\":5000");
        Changes((await Plan(admin, manifest)).ShouldBe(HttpStatusCode.OK)).ShouldBeEmpty();
        var exported = (await admin.Get($"/api/tenants/{tenant}/manifest")).ShouldBe(HttpStatusCode.OK);
        Changes((await Plan(admin, exported.Body)).ShouldBe(HttpStatusCode.OK)).ShouldBeEmpty();

        // What the routes refuse, the plan refuses: a share larger than the tenant's whole limit.
        (await Plan(admin, manifest.Replace("guaranteed: 5000, cap: 8000", "guaranteed: 500000000"))).Status.ShouldBe(HttpStatusCode.Conflict);
        // A guardrail set by hand with a repeated key in its JSON is compared, not a 500.
        (await admin.SendRaw(HttpMethod.Put, $"/api/tenants/{tenant}/organisations/{k9}/policies/setting.session-minutes",
            "{\"mode\": \"override\", \"value\": {\"a\": 1, \"a\": 2}}")).Status.ShouldBeOneOf(HttpStatusCode.OK, HttpStatusCode.BadRequest);
        (await Plan(admin, manifest)).ShouldBe(HttpStatusCode.OK);
        (await Plan(admin, manifest.Replace("mode: locked, value: false", "mode: sometimes, value: false")))
            .ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed").Json.GetProperty("manifestPath").GetString()
            .ShouldBe("$.spec.organisations[4].policies.feature.case-sharing");
    }

    [Fact]
    public async Task a_big_tree_change_is_metered_like_the_batch_calls_it_replaces_and_a_tenant_out_of_calls_writes_nothing()
    {
        // 1,200 members in one manifest: two thousand-change batches' worth, so one API call more than the apply's own.
        var manifest = Manifest().Replace("members: [deputy-ortiz]", $"members: [{string.Join(", ", Enumerable.Range(0, 1200).Select(i => $"deputy-{i:D4}"))}]");
        async Task<(Guid Tenant, Reply Applied)> With(long callsPerDay, string slug)
        {
            var tenant = await ActiveWithQuotas(new { apiCallsPerDay = callsPerDay }, slug);
            var admin = TenantAdminOf(tenant);
            var plan = (await Plan(admin, manifest.Replace("name: travis-sheriff", $"name: {slug}"))).ShouldBe(HttpStatusCode.OK); // 2 calls: the route, the tenant read
            return (tenant, await Apply(admin, manifest.Replace("name: travis-sheriff", $"name: {slug}"), plan.Str("digest")));      // 2 more, and the extra one
        }
        var (short_, refused) = await With(4, "travis-sheriff");
        refused.ShouldBeProblem(HttpStatusCode.TooManyRequests, "quota-exceeded");
        (await OrganisationsByName(short_)).Keys.ShouldNotContain("Patrol");
        var (enough, applied) = await With(5, "hays-sheriff");
        applied.ShouldBe(HttpStatusCode.OK);
        (await OrganisationsByName(enough)).Keys.ShouldContain("Patrol");
    }

    [Fact]
    public async Task full_management_removes_only_what_the_manifest_made_and_only_with_allow_delete()
    {
        var tenant = await Active();
        var admin = TenantAdminOf(tenant);
        const string full = "  management: {organisations: full, grants: full}\n";
        (await PlanAndApply(admin, Manifest(extra: full, organisations: $"    - {{path: {Root}/K9, kind: unit}}"))).ShouldBe(HttpStatusCode.OK);
        // Made by hand: the manifest never removes it.
        (await admin.Post($"/api/tenants/{tenant}/organisations", new { parentId = await RootOf(tenant), name = "Aviation", kind = "unit" }))
            .ShouldBe(HttpStatusCode.Created);

        var withheld = (await Plan(admin, Manifest(extra: full))).ShouldBe(HttpStatusCode.OK);
        var k9 = withheld.Json.GetProperty("changes").EnumerateArray().Single();
        (k9.GetProperty("action").GetString(), k9.GetProperty("target").GetString(), k9.GetProperty("withheld").GetString())
            .ShouldBe(("close", $"{Root}/K9", "needs --allow-delete"));
        withheld.Json.GetProperty("inSync").GetBoolean().ShouldBeTrue(); // nothing it would do

        (await PlanAndApply(admin, Manifest(extra: full), allowDelete: true)).ShouldBe(HttpStatusCode.OK);
        var open = await OrganisationsByName(tenant);
        open.Keys.ShouldNotContain("K9");
        open.Keys.ShouldContain("Aviation");
        Changes((await Plan(admin, Manifest(extra: full), allowDelete: true)).ShouldBe(HttpStatusCode.OK)).ShouldBeEmpty();
    }

    [Fact]
    public async Task another_tenants_manifest_is_a_tenant_that_does_not_exist_and_a_member_confers_nothing_beyond_its_own()
    {
        var a = await Active("travis-sheriff");
        var b = await Active("hays-sheriff");
        var attacker = TenantAdminOf(a);
        var events = await EventCount(b, everyStream: true);
        // B's slug, from A's administrator: as unknown as a slug nobody has (and asking for a tenant is a platform administrator's).
        (await Plan(attacker, Manifest("hays-sheriff"))).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await Plan(attacker, Manifest("nobody-has-this"))).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await Apply(attacker, Manifest("hays-sheriff"), "sha256:00")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await attacker.Get($"/api/tenants/{b}/manifest")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await attacker.Post($"/api/tenants/{b}/manifest/drift")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await EventCount(b, everyStream: true)).ShouldBe(events);
        (await Plan(As(Roles.Auditor), Manifest())).ShouldBe(HttpStatusCode.Forbidden);

        // A member who may manage members at the root but holds nothing else cannot confer a role that gives more.
        var root = await RootOf(a);
        (await TenantAdminOf(a).Put($"/api/tenants/{a}/roles/member-manager", new { description = "m", permissions = new[] { "member.manage", "org.read", "org.manage", "role.manage" } }))
            .ShouldBe(HttpStatusCode.OK);
        (await TenantAdminOf(a).Post($"/api/tenants/{a}/organisations/{root}/grants", new { principal = new { kind = "user", id = "mallory" }, role = "member-manager" }))
            .ShouldBe(HttpStatusCode.Created);
        var mallory = Member(a, "mallory");
        var eventsA = await EventCount(a, everyStream: true);
        var beyond = Manifest().Replace("permissions: [org.read, member.manage]", "permissions: [org.read, member.manage, audit.read]");
        (await Plan(mallory, beyond)).ShouldBeProblem(HttpStatusCode.Forbidden, "beyond-your-own").Json.GetProperty("manifestPath").GetString()
            .ShouldBe("$.spec.roles[0]");
        (await EventCount(a, everyStream: true)).ShouldBe(eventsA);
        // What is within its power, it may plan and apply.
        (await PlanAndApply(mallory, Manifest())).ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task a_plans_digest_is_the_manifest_too_so_what_a_change_shows_only_by_count_cannot_be_swapped()
    {
        var tenant = await Active();
        var admin = TenantAdminOf(tenant);
        var reviewed = Manifest().Replace("sally@travis.example.gov", "sally.hemphill@travis.example.gov");
        var plan = (await Plan(admin, reviewed)).ShouldBe(HttpStatusCode.OK);
        Changes(plan).ShouldContain(("tenant", "update", "contacts")); // shown as counts: 1 -> 1
        var swapped = Manifest().Replace("sally@travis.example.gov", "mallory@evil.example");
        var events = await EventCount(tenant, everyStream: true);
        (await Apply(admin, swapped, plan.Str("digest"))).ShouldBeProblem(HttpStatusCode.PreconditionFailed, "plan-stale");
        (await EventCount(tenant, everyStream: true)).ShouldBe(events);
        (await Apply(admin, reviewed, plan.Str("digest"))).ShouldBe(HttpStatusCode.OK);
        (await Read(tenant)).Json.GetProperty("contacts")[0].GetProperty("email").GetString().ShouldBe("sally.hemphill@travis.example.gov");
    }

    [Fact]
    public async Task the_tenants_manifest_is_its_administrators_and_a_reader_sees_in_an_export_only_what_its_routes_show_it()
    {
        var tenant = await Active();
        var admin = TenantAdminOf(tenant);
        (await PlanAndApply(admin, Manifest())).ShouldBe(HttpStatusCode.OK);
        var service = Fixture.Host.Services.GetRequiredService<ManifestService>();
        var recorded = (await service.LoadRecordAsync(tenant, CancellationToken.None))!;

        // A member who reads the tree: its in-sync apply changes nothing and does not replace the administrators' manifest.
        var root = await RootOf(tenant);
        (await admin.Put($"/api/tenants/{tenant}/roles/tree-reader", new { description = "reads", permissions = new[] { "org.read" } })).ShouldBe(HttpStatusCode.OK);
        (await admin.Post($"/api/tenants/{tenant}/organisations/{root}/grants", new { principal = new { kind = "user", id = "rita" }, role = "tree-reader" }))
            .ShouldBe(HttpStatusCode.Created);
        var rita = Member(tenant, "rita");
        var bare = Manifest().Replace(", members: [deputy-ortiz]", "");
        var withoutGrants = bare[..bare.IndexOf("  grants:", StringComparison.Ordinal)];
        (await PlanAndApply(rita, withoutGrants[..withoutGrants.IndexOf("  roles:", StringComparison.Ordinal)]))
            .ShouldBe(HttpStatusCode.OK);
        (await service.LoadRecordAsync(tenant, CancellationToken.None))!.Version.ShouldBe(recorded.Version);
        // Nor may it check for drift (that writes the tenant's event).
        (await rita.Post($"/api/tenants/{tenant}/manifest/drift")).ShouldBeProblem(HttpStatusCode.Forbidden, "forbidden");
        // Naming a member is for whoever manages members there, whether the person is one already or not; so is a quota share.
        (await Plan(rita, Manifest())).ShouldBeProblem(HttpStatusCode.Forbidden, "forbidden");
        (await Plan(rita, withoutGrants[..withoutGrants.IndexOf("  roles:", StringComparison.Ordinal)]
            .Replace($"- {{path: {Root}/Patrol, kind: department}}", $"- {{path: {Root}/Patrol, kind: department, quotas: {{apiCallsPerDay: {{guaranteed: 1}}}}}}")))
            .ShouldBeProblem(HttpStatusCode.Forbidden, "forbidden").Json.GetProperty("manifestPath").GetString().ShouldBe("$.spec.organisations[1].quotas.apiCallsPerDay");

        // Its export holds the tree, and no member or grant: its routes show it neither.
        var exported = (await rita.Get($"/api/tenants/{tenant}/manifest")).ShouldBe(HttpStatusCode.OK);
        exported.Body.ShouldContain("North District");
        exported.Body.ShouldNotContain("deputy-ortiz");
        exported.Body.ShouldNotContain("patrol-sergeants");
        string.Join(",", exported.Headers.GetValues("TenantEvents-Omitted")).ShouldBe("serviceAccounts,webhooks,identityProvider,domains");
        (await admin.Get($"/api/tenants/{tenant}/manifest")).Body.ShouldContain("deputy-ortiz");
    }

    [Fact]
    public async Task drift_that_is_mended_is_reported_in_sync_and_the_same_drift_again_is_news_again()
    {
        var tenant = await Active();
        var admin = TenantAdminOf(tenant);
        (await PlanAndApply(admin, Manifest())).ShouldBe(HttpStatusCode.OK);
        async Task Revoke()
        {
            var patrol = (await OrganisationsByName(tenant))["Patrol"].GetProperty("id").GetGuid();
            var grant = (await admin.Get($"/api/tenants/{tenant}/organisations/{patrol}/grants")).Json.GetProperty("items")[0].GetProperty("id").GetGuid();
            (await admin.Delete($"/api/tenants/{tenant}/organisations/{patrol}/grants/{grant}")).ShouldBe(HttpStatusCode.NoContent);
        }
        await Revoke();
        (await admin.Post($"/api/tenants/{tenant}/manifest/drift")).Json.GetProperty("inSync").GetBoolean().ShouldBeFalse();
        // Mended by hand: the check says so once.
        var patrolId = (await OrganisationsByName(tenant))["Patrol"].GetProperty("id").GetGuid();
        (await admin.Post($"/api/tenants/{tenant}/organisations/{patrolId}/grants", new { principal = new { kind = "group", id = "patrol-sergeants" }, role = "shift-supervisor" }))
            .ShouldBe(HttpStatusCode.Created);
        (await admin.Post($"/api/tenants/{tenant}/manifest/drift")).Json.GetProperty("inSync").GetBoolean().ShouldBeTrue();
        (await admin.Post($"/api/tenants/{tenant}/manifest/drift")).ShouldBe(HttpStatusCode.OK);
        await Revoke();
        (await admin.Post($"/api/tenants/{tenant}/manifest/drift")).ShouldBe(HttpStatusCode.OK);
        var stream = ManifestEventTypes.Stream(tenant);
        var entries = (await admin.Get($"/api/tenants/{tenant}/audit/entries?stream={stream}&limit=100")).ShouldBe(HttpStatusCode.OK).Json.GetProperty("entries");
        entries.EnumerateArray().Select(e => e.GetProperty("type").GetString()).ShouldBe(["manifest_applied", "manifest_drifted", "manifest_drifted", "manifest_drifted"]);
    }

    [Fact]
    public async Task the_command_line_waits_for_another_persons_approval_then_applies_the_rest()
    {
        var folder = Directory.CreateTempSubdirectory("manifest-wait").FullName;
        try
        {
            var file = Path.Combine(folder, "hays.tenant.yaml");
            await File.WriteAllTextAsync(file, Manifest("hays-sheriff"));
            var env = new Dictionary<string, string> { ["TENANTEVENTS_URL"] = "http://localhost", ["TENANTEVENTS_TOKEN"] = Fixture.Token(Roles.PlatformAdmin, "alice") };
            var handler = Fixture.Host.Server.CreateHandler();
            var (planOut, planErr) = (new StringWriter(), new StringWriter());
            (await ManifestCli.Run(["plan", "-f", file, "--out", Path.Combine(folder, "plan.json")], planOut, planErr, env.GetValueOrDefault, handler))
                .ShouldBe(2, planErr.ToString());
            planOut.ToString().ShouldContain("+ request tenant hays-sheriff");
            var (o, e) = (new StringWriter(), new StringWriter());
            var applying = ManifestCli.Run(["apply", Path.Combine(folder, "plan.json"), "--wait"], o, e, env.GetValueOrDefault, handler);
            // Someone else approves, while the command waits.
            Guid tenant;
            while (true)
            {
                var page = (await Admin.Get("/api/tenants?state=requested")).Json.GetProperty("items").EnumerateArray()
                    .Where(t => t.GetProperty("slug").GetString() == "hays-sheriff").ToList();
                if (page.Count > 0) { tenant = page[0].GetProperty("id").GetGuid(); break; }
                applying.IsCompleted.ShouldBeFalse(e.ToString());
                await Task.Delay(50);
            }
            (await Approver.Post($"/api/tenants/{tenant}/approve")).ShouldBe(HttpStatusCode.OK);
            (await applying.WaitAsync(TimeSpan.FromSeconds(60))).ShouldBe(0, e.ToString() + o);
            o.ToString().ShouldContain("done + create organisation /Travis County Sheriff/Patrol/North District");
            (await Read(tenant)).Str("state").ShouldBe("active");
            Changes((await Plan(Admin, Manifest("hays-sheriff"))).ShouldBe(HttpStatusCode.OK)).ShouldBeEmpty();
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public async Task the_command_line_plans_applies_and_places_errors_in_the_file()
    {
        var tenant = await Active();
        var folder = Directory.CreateTempSubdirectory("manifest-cli").FullName;
        try
        {
            var file = Path.Combine(folder, "travis.tenant.yaml");
            await File.WriteAllTextAsync(file, Manifest().Replace("name: Travis County Sheriff\n", "name: ${env:TRAVIS_NAME}\n"));
            var token = Fixture.Token(Roles.TenantAdmin, "ci-job", tenant);
            var env = new Dictionary<string, string> { ["TENANTEVENTS_URL"] = "http://localhost", ["TENANTEVENTS_TOKEN"] = token, ["TRAVIS_NAME"] = "Travis County Sheriff" };
            var handler = Fixture.Host.Server.CreateHandler();
            async Task<(int Exit, string Out, string Err)> Run(params string[] args)
            {
                var (o, e) = (new StringWriter(), new StringWriter());
                var exit = await ManifestCli.Run(args, o, e, env.GetValueOrDefault, handler);
                return (exit, o.ToString(), e.ToString());
            }
            var planFile = Path.Combine(folder, "plan.json");
            var planned = await Run("plan", "-f", file, "--out", planFile);
            planned.Exit.ShouldBe(2, planned.Err);
            planned.Out.ShouldContain($"+ create organisation {Root}/Patrol");
            var applied = await Run("apply", planFile);
            applied.Exit.ShouldBe(0, applied.Err);
            (await Run("plan", "-f", file)).Exit.ShouldBe(0);
            (await Run("export", tenant.ToString())).Out.ShouldContain("path: /Travis County Sheriff/Patrol/North District");

            // An error the server finds is placed in the file: its line, path and field.
            await File.WriteAllTextAsync(file, Manifest().Replace("role: shift-supervisor}", "role: no-such-role}"));
            var wrong = await Run("plan", "-f", file);
            wrong.Exit.ShouldBe(1);
            wrong.Err.ShouldContain($"{file}:{LineOf(Manifest(), "principal:")}: $.spec.grants[0].role");
            // And one the reader finds, before anything is sent.
            env.Remove("TRAVIS_NAME");
            await File.WriteAllTextAsync(file, Manifest().Replace("name: Travis County Sheriff\n", "name: ${env:TRAVIS_NAME}\n"));
            var unresolved = await Run("plan", "-f", file);
            unresolved.Exit.ShouldBe(1);
            unresolved.Err.ShouldContain($"{file}:5: $.spec.name");
            // A link beside the manifest reads nothing, nor does a path above its folder, nor the command's own variables.
            File.CreateSymbolicLink(Path.Combine(folder, "hostname"), "/etc/hostname");
            foreach (var reference in new[] { "${file:hostname}", "${file:../" + Path.GetFileName(folder) + "/travis.tenant.yaml}", "${env:TENANTEVENTS_TOKEN}", "${env:TenantEvents_Token}" })
            {
                await File.WriteAllTextAsync(file, Manifest().Replace("name: Travis County Sheriff\n", $"name: '{reference}'\n"));
                var refused = await Run("plan", "-f", file);
                refused.Exit.ShouldBe(1);
                refused.Err.ShouldContain("$.spec.name: refers to");
            }
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
