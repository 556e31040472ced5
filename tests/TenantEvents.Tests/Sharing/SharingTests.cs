using System.Net;
using System.Text.Json;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Tests.Support;
using Wolverine.Tracking;

namespace TenantEvents.Tests.Sharing;

/// <summary>
/// Cross-tenant collaboration through the API, from three agencies' sides: agreements (offer, two-sided acceptance,
/// revocation, expiry, narrowing), COI channels, joint investigations, and the audit entries on both sides.
/// </summary>
public class SharingTests(AppFixture fixture) : SharingScenario(fixture)
{
    [Fact]
    public async Task nothing_is_visible_before_acceptance_then_exactly_the_scope_then_nothing_after_revocation()
    {
        await ThreeAgencies();
        var gangs = await File(Police, "Los Zetas cell in Austin", ["gang-unit"], body: "Surveillance of the warehouse on Cesar Chavez.");
        var narcotics = await File(Police, "Fentanyl route", ["narcotics"], "secret", "Shipments via Laredo.");
        var named = await File(Police, "Stolen vehicle ring", body: "Chop shop in Round Rock.");
        var patrol = await Organisation(Police, await RootOf(Police), "Highway Patrol");
        var gangsInPatrol = await File(Police, "Tattoo database", ["gang-unit"], org: patrol);
        var own = await File(Sheriff, "Travis County burglary series");
        var deputy = InvestigatorOf(Sheriff);

        (await Visible(deputy, Sheriff)).ShouldBe([own]);
        (await deputy.Get($"/api/tenants/{Sheriff}/case-files/{gangs}")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await Visible(deputy, Sheriff, "?q=warehouse")).ShouldBeEmpty();

        var agreement = await Offer(Police, Sheriff, new { tags = new[] { "gang-unit" }, caseFileIds = new[] { named } }, ["read", "comment"]);
        (await Visible(deputy, Sheriff)).ShouldBe([own], "an offer shares nothing until the recipient accepts");
        (await Visible(InvestigatorOf(TaskForce), TaskForce)).ShouldBeEmpty();

        (await AcceptAgreement(Sheriff, agreement)).ShouldBe(HttpStatusCode.OK).Str("state").ShouldBe("active");
        (await Visible(deputy, Sheriff)).ShouldBe([own, gangs, named, gangsInPatrol], ignoreOrder: true);
        (await Visible(deputy, Sheriff, "?source=shared")).ShouldBe([gangs, named, gangsInPatrol], ignoreOrder: true);
        (await Visible(deputy, Sheriff, "?source=own")).ShouldBe([own]);
        (await Visible(InvestigatorOf(TaskForce), TaskForce)).ShouldBeEmpty("the third agency is not a party");
        var seen = (await deputy.Get($"/api/tenants/{Sheriff}/case-files/{gangs}")).ShouldBe(HttpStatusCode.OK).Json;
        seen.GetProperty("shared").GetBoolean().ShouldBeTrue();
        seen.GetProperty("ownerTenantId").GetGuid().ShouldBe(Police);
        seen.GetProperty("body").GetString().ShouldBe("Surveillance of the warehouse on Cesar Chavez.");
        seen.GetProperty("access").EnumerateArray().Select(a => a.GetString()).ShouldBe(["read", "comment"]);
        seen.GetProperty("sharedVia").EnumerateArray().Single().GetGuid().ShouldBe(agreement);
        (!seen.TryGetProperty("organisationId", out var org) || org.ValueKind == JsonValueKind.Null)
            .ShouldBeTrue("the owner's organisation tree is its own business");
        (await deputy.Get($"/api/tenants/{Sheriff}/case-files/{narcotics}")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await Visible(deputy, Sheriff, "?q=warehouse")).ShouldBe([gangs]);
        (await Visible(deputy, Sheriff, "?q=laredo")).ShouldBeEmpty("search reveals nothing outside the scope");
        (await Visible(deputy, Sheriff, "?tag=gang-unit")).ShouldBe([gangs, gangsInPatrol], ignoreOrder: true);
        (await Visible(deputy, Sheriff, "?tag=narcotics")).ShouldBeEmpty();

        // The scope is a rule: a new file with the tag is shared at once; a file that loses it is not any more.
        var later = await File(Police, "New recruits", ["gang-unit"]);
        (await TenantAdminOf(Police).Patch($"/api/tenants/{Police}/case-files/{gangs}", new { tags = Array.Empty<string>() })).ShouldBe(HttpStatusCode.OK);
        (await Visible(deputy, Sheriff, "?source=shared")).ShouldBe([named, gangsInPatrol, later], ignoreOrder: true);

        // Either side ends it; the recipient does here.
        (await TenantAdminOf(Sheriff).Post($"/api/tenants/{Sheriff}/sharing/agreements/{agreement}/revoke", new { reason = "case closed" }))
            .ShouldBe(HttpStatusCode.OK).Str("state").ShouldBe("revoked");
        (await Visible(deputy, Sheriff)).ShouldBe([own]);
        (await deputy.Get($"/api/tenants/{Sheriff}/case-files/{named}")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        var owners = (await TenantAdminOf(Police).Get($"/api/tenants/{Police}/sharing/agreements/{agreement}")).ShouldBe(HttpStatusCode.OK).Json;
        owners.GetProperty("state").GetString().ShouldBe("revoked");
        owners.GetProperty("endedReason").GetString().ShouldBe("case closed");
    }

    [Fact]
    public async Task an_agreement_expires_by_itself()
    {
        await ThreeAgencies();
        var file = await File(Police, "Wiretap summary", ["gang-unit"]);
        var agreement = await Offer(Police, Sheriff, new { tags = new[] { "gang-unit" } }, term: TimeSpan.FromHours(2));
        (await AcceptAgreement(Sheriff, agreement)).ShouldBe(HttpStatusCode.OK);
        var deputy = InvestigatorOf(Sheriff);
        Fixture.Time.Advance(TimeSpan.FromHours(2) - TimeSpan.FromSeconds(1));
        (await Visible(deputy, Sheriff)).ShouldBe([file]);
        Fixture.Time.Advance(TimeSpan.FromSeconds(1));
        (await Visible(deputy, Sheriff)).ShouldBeEmpty();
        (await deputy.Get($"/api/tenants/{Sheriff}/case-files/{file}")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await TenantAdminOf(Sheriff).Get($"/api/tenants/{Sheriff}/sharing/agreements/{agreement}")).ShouldBe(HttpStatusCode.OK).Str("state")
            .ShouldBe("expired");
        (await TenantAdminOf(Sheriff).Get($"/api/tenants/{Sheriff}/sharing/agreements?state=active")).ShouldBe(HttpStatusCode.OK)
            .Json.GetProperty("items").GetArrayLength().ShouldBe(0);
        // An expired offer cannot be accepted either.
        var late = await Offer(Police, Sheriff, new { tags = new[] { "gang-unit" } }, term: TimeSpan.FromMinutes(5));
        Fixture.Time.Advance(TimeSpan.FromMinutes(5));
        (await AcceptAgreement(Sheriff, late)).ShouldBeProblem(HttpStatusCode.Conflict, "agreement-not-offered");
    }

    [Fact]
    public async Task an_agreement_narrowed_to_organisations_reaches_only_readers_there()
    {
        await ThreeAgencies();
        var root = await RootOf(Police);
        var patrol = await Organisation(Police, root, "Highway Patrol");
        var patrolFile = await File(Police, "Checkpoint log", ["gang-unit"], org: patrol);
        await File(Police, "HQ memo", ["gang-unit"]);
        var sheriffRoot = await RootOf(Sheriff);
        var gangUnit = await Organisation(Sheriff, sheriffRoot, "Gang Unit");
        var jail = await Organisation(Sheriff, sheriffRoot, "Jail");
        await Grant(Sheriff, gangUnit, "gang-detective", "officer");
        await Grant(Sheriff, jail, "jailer", "officer");
        var agreement = await Offer(Police, Sheriff, new { tags = new[] { "gang-unit" } }, ownerOrg: patrol);
        (await AcceptAgreement(Sheriff, agreement, new { recipientOrganisationIds = new[] { gangUnit } })).ShouldBe(HttpStatusCode.OK);

        (await Visible(As(Roles.TenantMember, "gang-detective", Sheriff), Sheriff)).ShouldBe([patrolFile], "only the owner's Highway Patrol files");
        (await Visible(As(Roles.TenantMember, "jailer", Sheriff), Sheriff)).ShouldBeEmpty("the jail is not among the recipient's organisations");
        (await Visible(InvestigatorOf(Sheriff), Sheriff)).ShouldBe([patrolFile], "a reader at the root reads in the gang unit too");
    }

    [Fact]
    public async Task a_channel_shows_what_is_shared_into_it_to_its_members_only()
    {
        await ThreeAgencies();
        var file = await File(Police, "Corridor intelligence summary", body: "Weekly digest.");
        var channel = await Collaboration(Police, "channel", Sheriff, TaskForce);
        (await ShareInto(Police, file, channel)).ShouldBe(HttpStatusCode.OK);
        (await Visible(InvestigatorOf(Sheriff), Sheriff)).ShouldBeEmpty("invited is not a member");

        await Join(Sheriff, channel);
        (await Visible(InvestigatorOf(Sheriff), Sheriff)).ShouldBe([file]);
        (await Visible(InvestigatorOf(Sheriff), Sheriff, $"?collaborationId={channel}")).ShouldBe([file]);
        (await Visible(InvestigatorOf(TaskForce), TaskForce)).ShouldBeEmpty();
        await Join(TaskForce, channel);
        (await Visible(InvestigatorOf(TaskForce), TaskForce)).ShouldBe([file]);
        var sheriffsOwn = await File(Sheriff, "Deputy's informant report");
        (await ShareInto(Sheriff, sheriffsOwn, channel)).ShouldBe(HttpStatusCode.OK);
        (await Visible(InvestigatorOf(Police), Police, "?source=shared")).ShouldBe([sheriffsOwn]);

        // The convenor removes the sheriff: it sees nothing of the channel, and what it shared is withdrawn.
        (await TenantAdminOf(Police).Delete($"/api/tenants/{Police}/collaborations/{channel}/members/{Sheriff}")).ShouldBe(HttpStatusCode.OK);
        (await Visible(InvestigatorOf(Sheriff), Sheriff, "?source=shared")).ShouldBeEmpty();
        (await Visible(InvestigatorOf(Police), Police, "?source=shared")).ShouldBeEmpty();
        (await Visible(InvestigatorOf(TaskForce), TaskForce)).ShouldBe([file]);
        (await InvestigatorOf(Sheriff).Get($"/api/tenants/{Sheriff}/case-files/{sheriffsOwn}")).ShouldBe(HttpStatusCode.OK).Json
            .GetProperty("sharedInto").GetArrayLength().ShouldBe(0);

        // The task force leaves.
        (await TenantAdminOf(TaskForce).Post($"/api/tenants/{TaskForce}/collaborations/{channel}/leave")).ShouldBe(HttpStatusCode.OK)
            .Str("yourState").ShouldBe("left");
        (await Visible(InvestigatorOf(TaskForce), TaskForce)).ShouldBeEmpty();
        (await TenantAdminOf(TaskForce).Get($"/api/tenants/{TaskForce}/collaborations/{channel}")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        var members = (await TenantAdminOf(Police).Get($"/api/tenants/{Police}/collaborations/{channel}")).ShouldBe(HttpStatusCode.OK).Json
            .GetProperty("members").EnumerateArray().Select(m => m.GetProperty("tenantId").GetGuid()).ToList();
        members.ShouldBe([Police]);
    }

    [Fact]
    public async Task in_a_joint_investigation_each_agency_sees_what_the_others_contributed_and_none_of_their_private_files()
    {
        await ThreeAgencies();
        var investigation = await Collaboration(TaskForce, "investigation", Police, Sheriff);
        await Join(Police, investigation);
        await Join(Sheriff, investigation);
        var federal = await File(TaskForce, "Federal wire intercepts", ["lone-star"]);
        var federalPrivate = await File(TaskForce, "Confidential informant identities", ["lone-star"], "top-secret");
        var state = await File(Police, "State surveillance log");
        var statePrivate = await File(Police, "Internal affairs complaint");
        var county = await File(Sheriff, "County jail calls");
        var countyPrivate = await File(Sheriff, "Personnel file");
        (await ShareInto(TaskForce, federal, investigation, ["read", "comment", "contribute"])).ShouldBe(HttpStatusCode.OK);
        (await ShareInto(Police, state, investigation)).ShouldBe(HttpStatusCode.OK);
        (await ShareInto(Sheriff, county, investigation)).ShouldBe(HttpStatusCode.OK);

        (await Visible(InvestigatorOf(TaskForce), TaskForce)).ShouldBe([federal, federalPrivate, state, county], ignoreOrder: true);
        (await Visible(InvestigatorOf(Police), Police)).ShouldBe([state, statePrivate, federal, county], ignoreOrder: true);
        (await Visible(InvestigatorOf(Sheriff), Sheriff)).ShouldBe([county, countyPrivate, federal, state], ignoreOrder: true);
        (await Visible(InvestigatorOf(Sheriff), Sheriff, "?tag=lone-star")).ShouldBe([federal], "search stays inside what is shared");
        (await Visible(InvestigatorOf(Sheriff), Sheriff, "?classification=top-secret")).ShouldBeEmpty("counts and filters reveal nothing unshared");
        (await Visible(InvestigatorOf(TaskForce), TaskForce, "?classification=top-secret")).ShouldBe([federalPrivate]);
        (await Visible(InvestigatorOf(Police), Police, "?classification=official&source=shared")).ShouldBe([federal, county], ignoreOrder: true);
        (await InvestigatorOf(Sheriff).Get($"/api/tenants/{Sheriff}/case-files/{federalPrivate}")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");

        // Contributions go to the owner's file; a third agency does not see another partner's entries.
        (await InvestigatorOf(Sheriff).Post($"/api/tenants/{Sheriff}/case-files/{federal}/contributions", new { text = "Jail call 2026-11-20 names the courier." }))
            .ShouldBe(HttpStatusCode.Created);
        (await InvestigatorOf(Police).Post($"/api/tenants/{Police}/case-files/{federal}/comments", new { text = "Matches our plate reads." }))
            .ShouldBe(HttpStatusCode.Created);
        (await InvestigatorOf(Police).Post($"/api/tenants/{Police}/case-files/{county}/comments", new { text = "Can we see the full call?" }))
            .ShouldBeProblem(HttpStatusCode.Forbidden, "forbidden");
        var ownerView = (await InvestigatorOf(TaskForce).Get($"/api/tenants/{TaskForce}/case-files/{federal}")).ShouldBe(HttpStatusCode.OK).Json;
        ownerView.GetProperty("entries").EnumerateArray().Select(e => e.GetProperty("fromTenantId").GetGuid()).ShouldBe([Sheriff, Police]);
        var policeView = (await InvestigatorOf(Police).Get($"/api/tenants/{Police}/case-files/{federal}")).ShouldBe(HttpStatusCode.OK).Json;
        policeView.GetProperty("entries").EnumerateArray().Select(e => e.GetProperty("fromTenantId").GetGuid()).ShouldBe([Police]);

        // Co-owned: any member agency invites and revises the brief; none removes another.
        (await TenantAdminOf(Sheriff).Put($"/api/tenants/{Sheriff}/collaborations/{investigation}/charter", new { charter = "Brief v2: add the courier." }))
            .ShouldBe(HttpStatusCode.OK);
        (await TenantAdminOf(Sheriff).Delete($"/api/tenants/{Sheriff}/collaborations/{investigation}/members/{Police}"))
            .ShouldBeProblem(HttpStatusCode.Forbidden, "forbidden");
        (await Visible(InvestigatorOf(Sheriff), Sheriff, "?source=shared")).ShouldBe([federal, state], ignoreOrder: true);
    }

    [Fact]
    public async Task every_cross_tenant_read_and_write_is_in_both_audit_trails()
    {
        await ThreeAgencies();
        var file = await File(Police, "Shared gang roster", ["gang-unit"]);
        var agreement = await Offer(Police, Sheriff, new { tags = new[] { "gang-unit" } }, ["read", "comment"]);
        (await AcceptAgreement(Sheriff, agreement)).ShouldBe(HttpStatusCode.OK);
        var deputy = InvestigatorOf(Sheriff);
        // Reads are recorded through the outbox before the answer leaves: wait for the trails to take them.
        await Fixture.Host.ExecuteAndWaitAsync(async () => (await deputy.Get($"/api/tenants/{Sheriff}/case-files/{file}")).ShouldBe(HttpStatusCode.OK));
        (await deputy.Post($"/api/tenants/{Sheriff}/case-files/{file}/comments", new { text = "Two of these are in our jail." })).ShouldBe(HttpStatusCode.Created);
        await Fixture.Host.ExecuteAndWaitAsync(() => Visible(deputy, Sheriff));

        var owner = await AccessEntries(Police);
        var accessor = await AccessEntries(Sheriff);
        foreach (var (entries, side) in new[] { (owner, "owner"), (accessor, "accessor") })
        {
            var records = entries.Select(e => e.GetProperty("after").GetProperty("last")).ToList();
            records.ShouldAllBe(r => r.GetProperty("side").GetString() == side);
            records.Select(r => r.GetProperty("action").GetString()).ShouldBe(["accept-agreement", "read", "comment", "list"], ignoreOrder: true);
            records.Where(r => r.GetProperty("resourceType").GetString() == "case-file")
                .ShouldAllBe(r => r.GetProperty("resourceId").GetString() == file.ToString());
            records.ShouldAllBe(r => r.GetProperty("ownerTenantId").GetGuid() == Police && r.GetProperty("accessorTenantId").GetGuid() == Sheriff);
        }
        var read = owner.Single(e => e.GetProperty("after").GetProperty("last").GetProperty("action").GetString() == "read");
        read.GetProperty("actor").GetProperty("subject").GetString().ShouldBe(Investigator(Sheriff));
        read.GetProperty("actor").GetProperty("tenantId").GetGuid().ShouldBe(Sheriff);
        read.GetProperty("after").GetProperty("last").GetProperty("purpose").GetString().ShouldBe("agreement:" + agreement);
        // The sheriff's comment is on the police file's own stream too, as the sheriff's deputy's act.
        var fileEntries = (await As(Roles.Auditor, "carol").Get($"/api/tenants/{Police}/audit/entries?type=case_file_entry_added")).ShouldBe(HttpStatusCode.OK)
            .Json.GetProperty("entries").EnumerateArray().Single();
        fileEntries.GetProperty("actor").GetProperty("subject").GetString().ShouldBe(Investigator(Sheriff));
        fileEntries.GetProperty("onBehalfOf").GetGuid().ShouldBe(Police);
        // The task force, not a party, has nothing in its trail.
        (await AccessEntries(TaskForce)).ShouldBeEmpty();
    }

    [Fact]
    public async Task a_decommissioned_agencys_shared_files_are_gone_for_its_partners()
    {
        await ThreeAgencies();
        var channel = await Collaboration(Sheriff, "channel", Police);
        await Join(Police, channel);
        var file = await File(Police, "Shared before the agency closed");
        (await ShareInto(Police, file, channel)).ShouldBe(HttpStatusCode.OK);
        (await Visible(InvestigatorOf(Sheriff), Sheriff)).ShouldBe([file]);

        await Admin.Post($"/api/tenants/{Police}/decommission", new { reason = "merged into the state bureau" });
        await Approver.Post($"/api/tenants/{Police}/decommission/approve");
        Fixture.Time.Advance(TimeSpan.FromDays(2556));
        await Fixture.Host.ExecuteAndWaitAsync(() => Admin.Post($"/api/tenants/{Police}/decommission/complete"));

        (await Visible(InvestigatorOf(Sheriff), Sheriff)).ShouldBeEmpty();
        (await InvestigatorOf(Sheriff).Get($"/api/tenants/{Sheriff}/case-files/{file}")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
    }
    [Fact]
    public async Task a_search_over_shared_files_pages_newest_first_with_every_term_and_the_filters()
    {
        await ThreeAgencies();
        // The police share by tag with the sheriff; the task force shares into a channel the sheriff is in. Files are
        // made one after another (the clock moves), so the newest-first order is known.
        var expected = new List<(Guid Id, string Classification)>();
        async Task<Guid> Made(Guid owner, string title, string[] tags, string classification, string body, bool seen = true)
        {
            Fixture.Time.Advance(TimeSpan.FromMinutes(1));
            var id = await File(owner, title, tags, classification, body);
            if (seen && body.Contains("meth") && body.Contains("warehouse")) expected.Add((id, classification));
            return id;
        }
        for (var i = 0; i < 5; i++)
        {
            await Made(Police, $"Police file {i}", ["joint"], i % 2 == 0 ? "official" : "sensitive", i < 4 ? "meth lab in a warehouse" : "meth only");
            await Made(Police, $"Police private {i}", [], "official", "meth lab in a warehouse", seen: false);   // not in the scope
        }
        await AcceptAgreement(Sheriff, await Offer(Police, Sheriff, new { tags = new[] { "joint" } }));
        var channel = await Collaboration(TaskForce, "channel", Sheriff);
        await Join(Sheriff, channel);
        for (var i = 0; i < 3; i++)
        {
            var federal = await Made(TaskForce, $"Federal file {i}", [], "official", "warehouse of meth precursors");
            (await ShareInto(TaskForce, federal, channel)).ShouldBe(HttpStatusCode.OK);
        }
        await Made(Sheriff, "Own file", [], "official", "meth and a warehouse");
        expected.Reverse();

        async Task<List<Guid>> Pages(string query)
        {
            var ids = new List<Guid>();
            string? cursor = null;
            do
            {
                var page = (await InvestigatorOf(Sheriff).Get($"/api/tenants/{Sheriff}/case-files?{query}&limit=2{(cursor is null ? "" : "&cursor=" + cursor)}"))
                    .ShouldBe(HttpStatusCode.OK).Json;
                page.GetProperty("items").GetArrayLength().ShouldBeLessThanOrEqualTo(2);
                ids.AddRange(page.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("id").GetGuid()));
                cursor = page.TryGetProperty("nextCursor", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString() : null;
            } while (cursor is not null);
            return ids;
        }
        var sheriffsOwn = expected[0].Id;
        // Both words, newest first, own and shared, in pages of two: every matching file once, in order.
        expected.Count.ShouldBe(8);
        (await Pages("q=meth+warehouse")).ShouldBe(expected.Select(e => e.Id).ToList());
        (await Pages("q=meth+warehouse&source=shared")).ShouldBe(expected.Where(e => e.Id != sheriffsOwn).Select(e => e.Id).ToList());
        (await Pages("q=meth+warehouse&source=shared&classification=sensitive"))
            .ShouldBe(expected.Where(e => e.Classification == "sensitive").Select(e => e.Id).ToList());
        (await Pages("q=precursors&source=shared")).Count.ShouldBe(3);
        (await Pages("q=precursors+lab")).ShouldBeEmpty();
    }
}
