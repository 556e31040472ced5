using TenantEvents.Infrastructure.Security;
using TenantEvents.Tenants;

namespace TenantEvents.Tests.Tenants;

/// <summary>The rules beyond "which state allows which command" (that matrix is in EventModelTests).</summary>
public class TenantDecisionsTests
{
    private static readonly DateTimeOffset Now = TenantScript.Start.AddHours(1);

    private static Tenant InState(TenantState state, int retentionDays = 30) => TenantScript.Fold(TenantScript.StreamFor(state), retentionDays);

    [Fact]
    public void the_requester_cannot_approve_their_own_request_even_holding_the_approver_role()
    {
        var tenant = InState(TenantState.Requested);
        TenantDecisions.Approve(tenant, null, TenantScript.Admin, Now).ShouldBeOfType<NotAllowed>().Code.ShouldBe("four-eyes");
        TenantDecisions.Approve(tenant, null, TenantScript.Admin with { Kind = "service" }, Now).ShouldBeOfType<NotAllowed>();
    }

    [Fact]
    public void a_same_named_subject_of_another_tenant_is_another_person()
    {
        var tenant = InState(TenantState.Requested);
        TenantDecisions.Approve(tenant, null, TenantScript.Admin with { TenantId = Guid.NewGuid() }, Now).ShouldBeOfType<Accepted>();
    }

    [Fact]
    public void the_requester_of_a_decommission_cannot_approve_it()
    {
        var tenant = InState(TenantState.DecommissionRequested);
        TenantDecisions.ApproveDecommission(tenant, TenantScript.Admin, Now).ShouldBeOfType<NotAllowed>().Code.ShouldBe("four-eyes");
    }

    [Fact]
    public void a_decommission_is_scheduled_for_the_end_of_the_retention_window()
    {
        var tenant = InState(TenantState.DecommissionRequested, retentionDays: 400);
        var scheduled = TenantDecisions.ApproveDecommission(tenant, TenantScript.Approver, Now).ShouldBeOfType<Accepted>()
            .Events.Single().ShouldBeOfType<TenantDecommissionScheduled>();
        scheduled.NotBefore.ShouldBe(Now.AddDays(400));
    }

    [Fact]
    public void shortening_retention_never_releases_records_written_under_a_longer_promise()
    {
        var tenant = InState(TenantState.Active, retentionDays: 3650);
        var promised = tenant.RetentionBindsUntil;
        var shorter = TenantDecisions.UpdateSettings(tenant, tenant.Settings with { AuditRetentionDays = 30 }, TenantScript.Admin, Now)
            .ShouldBeOfType<Accepted>().Events;
        var after = TenantStreams.Fold(tenant, shorter);
        after.Settings.AuditRetentionDays.ShouldBe(30);
        after.RetentionBindsUntil.ShouldBe(promised);

        var requested = TenantStreams.Fold(after, [new TenantDecommissionRequested(after.Id, "x", TenantScript.Admin, Now)]);
        var scheduled = TenantDecisions.ApproveDecommission(requested, TenantScript.Approver, Now).ShouldBeOfType<Accepted>()
            .Events.Single().ShouldBeOfType<TenantDecommissionScheduled>();
        scheduled.NotBefore.ShouldBe(promised);
    }

    [Fact]
    public void completion_is_refused_one_tick_before_the_window_ends_and_accepted_at_its_end()
    {
        var tenant = InState(TenantState.DecommissionScheduled);
        var end = tenant.RetentionBindsUntil;
        var early = TenantDecisions.CompleteDecommission(tenant, Actor.System, end.AddTicks(-1)).ShouldBeOfType<Blocked>();
        early.Code.ShouldBe("retention-window");
        early.NotBefore.ShouldBe(end);
        TenantDecisions.CompleteDecommission(tenant, Actor.System, end).ShouldBeOfType<Accepted>();
    }

    [Fact]
    public void a_legal_hold_blocks_completion_until_every_hold_is_lifted()
    {
        var tenant = InState(TenantState.DecommissionScheduled);
        var later = tenant.RetentionBindsUntil.AddDays(1);
        var first = Guid.NewGuid();
        var second = Guid.NewGuid();
        tenant = TenantStreams.Fold(tenant, [
            new LegalHoldPlaced(tenant.Id, first, "CASE-1", "litigation", TenantScript.Admin, Now),
            new LegalHoldPlaced(tenant.Id, second, "CASE-2", "regulator", TenantScript.Admin, Now),
            new LegalHoldLifted(tenant.Id, first, "settled", TenantScript.Admin, Now),
        ]);
        TenantDecisions.CompleteDecommission(tenant, Actor.System, later).ShouldBeOfType<Blocked>().Code.ShouldBe("legal-hold");
        tenant = TenantStreams.Fold(tenant, [new LegalHoldLifted(tenant.Id, second, "closed", TenantScript.Admin, Now)]);
        TenantDecisions.CompleteDecommission(tenant, Actor.System, later).ShouldBeOfType<Accepted>();
    }

    [Fact]
    public void the_same_hold_reference_cannot_be_placed_twice_and_an_unknown_hold_cannot_be_lifted()
    {
        var tenant = TenantStreams.Fold(InState(TenantState.Active),
            [new LegalHoldPlaced(TenantScript.TenantId, Guid.NewGuid(), "CASE-1", "x", TenantScript.Admin, Now)]);
        TenantDecisions.PlaceLegalHold(tenant, Guid.NewGuid(), "case-1", "again", TenantScript.Admin, Now)
            .ShouldBeOfType<Blocked>().Code.ShouldBe("duplicate-legal-hold");
        TenantDecisions.LiftLegalHold(tenant, Guid.NewGuid(), "x", TenantScript.Admin, Now)
            .ShouldBeOfType<Blocked>().Code.ShouldBe("unknown-legal-hold");
    }

    [Fact]
    public void cancelling_a_decommission_leaves_the_tenant_suspended_with_nothing_scheduled()
    {
        var tenant = InState(TenantState.DecommissionScheduled);
        var after = TenantStreams.Fold(tenant, TenantDecisions.CancelDecommission(tenant, "kept", TenantScript.Admin, Now)
            .ShouldBeOfType<Accepted>().Events);
        after.State.ShouldBe(TenantState.Suspended);
        after.DecommissionNotBefore.ShouldBeNull();
    }

    [Fact]
    public void renaming_to_the_same_name_or_setting_the_same_settings_appends_nothing()
    {
        var tenant = InState(TenantState.Active);
        TenantDecisions.Rename(tenant, tenant.Name, TenantScript.Admin, Now).ShouldBeOfType<Accepted>().Events.ShouldBeEmpty();
        TenantDecisions.UpdateSettings(tenant, tenant.Settings with { Features = tenant.Settings.Features.ToList() }, TenantScript.Admin, Now)
            .ShouldBeOfType<Accepted>().Events.ShouldBeEmpty();
    }

    [Theory]
    [InlineData(29)]
    [InlineData(3651)]
    [InlineData(0)]
    [InlineData(-5)]
    public void settings_outside_the_retention_range_are_refused_as_invalid_input(int days)
    {
        var tenant = InState(TenantState.Active);
        TenantDecisions.UpdateSettings(tenant, tenant.Settings with { AuditRetentionDays = days }, TenantScript.Admin, Now)
            .ShouldBeOfType<InvalidInput>().Errors.Single().Field.ShouldBe("auditRetentionDays");
    }

    [Fact]
    public void placement_on_a_dedicated_database_is_fixed_once_provisioned_but_not_before()
    {
        var approved = InState(TenantState.Approved);
        TenantDecisions.UpdateSettings(approved, approved.Settings with { DedicatedDatabase = true }, TenantScript.Admin, Now)
            .ShouldBeOfType<Accepted>();
        var active = InState(TenantState.Active);
        TenantDecisions.UpdateSettings(active, active.Settings with { DedicatedDatabase = true }, TenantScript.Admin, Now)
            .ShouldBeOfType<Blocked>().Code.ShouldBe("placement-fixed");
    }

    [Fact]
    public void provisioning_applies_the_template_as_a_tree_under_the_root_organisation()
    {
        var tenant = InState(TenantState.Approved);
        var provisioned = TenantScript.Run("ProvisionTenant", tenant, TenantScript.Admin, Now).ShouldBeOfType<Accepted>()
            .Events.Single().ShouldBeOfType<TenantProvisioned>();
        var root = provisioned.Organisations.Single(o => o.ParentId is null);
        root.Name.ShouldBe(tenant.Name);
        root.Kind.ShouldBe("agency");
        var ids = provisioned.Organisations.Select(o => o.Id).ToHashSet();
        provisioned.Organisations.Where(o => o.ParentId is not null).ShouldAllBe(o => ids.Contains(o.ParentId!.Value));
        provisioned.Organisations.ShouldContain(o => o.Name == "Field Office 1"
            && provisioned.Organisations.Single(p => p.Id == o.ParentId).Name == "Patrol Division");
        provisioned.Roles.Select(r => r.Name).ShouldContain("agency-admin");
        provisioned.Settings.ShouldBe(tenant.Settings);
    }

    [Fact]
    public void a_refusal_names_the_current_state()
    {
        var tenant = InState(TenantState.Suspended);
        var refused = TenantDecisions.Suspend(tenant, "again", TenantScript.Admin, Now).ShouldBeOfType<InvalidTransition>();
        refused.CurrentState.ShouldBe(TenantState.Suspended);
        refused.Detail.ShouldContain("suspended");
    }

    /// <summary>No switch lists the tenant's events: every event type but the request is applied by a Tenant.Apply found by Fold.</summary>
    [Fact]
    public void every_tenant_event_but_the_request_has_an_apply_on_the_tenant()
    {
        TenantEventTypes.All.Where(t => t != typeof(TenantRequested)).Where(t => !TenantEvents.Infrastructure.Fold<Tenant>.Applies(t)).ShouldBeEmpty();
        TenantEvents.Infrastructure.Fold<Tenant>.EventTypes.ShouldBeSubsetOf(TenantEventTypes.All);
    }

    [Fact]
    public void replacing_contacts_keeps_a_known_persons_subject_gives_a_new_one_a_fresh_subject_and_never_revives_the_erased()
    {
        var tenant = InState(TenantState.Active);
        var (fresh1, fresh2) = (Guid.CreateVersion7(), Guid.CreateVersion7());
        var decision = TenantDecisions.ReplaceContacts(tenant,
            [(new Contact(" Sally ", "SALLY@travis.example.gov", SubjectId: fresh2, Erased: true), fresh1), (new Contact("Tom", "tom@travis.example.gov"), fresh2)],
            TenantScript.Admin, Now);
        var replaced = decision.ShouldBeOfType<Accepted>().Events.ShouldHaveSingleItem().ShouldBeOfType<TenantContactsReplaced>();
        replaced.Contacts.Select(c => (c.Name, c.SubjectId, c.Erased)).ShouldBe([("Sally", TenantScript.SubjectId, false), ("Tom", fresh2, false)]);

        var after = TenantStreams.Fold(tenant, [replaced]);
        TenantDecisions.ReplaceContacts(after, [(after.Contacts[0], Guid.CreateVersion7()), (after.Contacts[1], Guid.CreateVersion7())], TenantScript.Admin, Now)
            .ShouldBeOfType<Accepted>().Events.ShouldBeEmpty();

        // Sally left out: a former contact, still erasable; after the erasure, unknown.
        var without = TenantStreams.Fold(after, [new TenantContactsReplaced(after.Id, [after.Contacts[1]], TenantScript.Admin, Now)]);
        without.FormerContacts.ShouldBe([TenantScript.SubjectId]);
        var erasedFormer = TenantDecisions.EraseContact(without, TenantScript.SubjectId, TenantScript.Admin, Now).ShouldBeOfType<Accepted>().Events.ShouldHaveSingleItem();
        var gone = TenantStreams.Fold(without, [erasedFormer]);
        gone.FormerContacts.ShouldBeEmpty();
        TenantDecisions.EraseContact(gone, TenantScript.SubjectId, TenantScript.Admin, Now).ShouldBeOfType<Blocked>().Code.ShouldBe("unknown-contact");
        gone.UpdatedAt.ShouldBe(Now);

        var erased = TenantStreams.Fold(after, [new ContactErased(after.Id, TenantScript.SubjectId, TenantScript.Admin, Now)]);
        var again = TenantDecisions.ReplaceContacts(erased, [(new Contact("Sally", "sally@travis.example.gov"), fresh1)], TenantScript.Admin, Now);
        again.ShouldBeOfType<Accepted>().Events.ShouldHaveSingleItem().ShouldBeOfType<TenantContactsReplaced>().Contacts.Single().SubjectId.ShouldBe(fresh1);

        TenantDecisions.ReplaceContacts(InState(TenantState.Decommissioned), [(new Contact("Sally", "sally@travis.example.gov"), fresh1)], TenantScript.Admin, Now)
            .ShouldBeOfType<InvalidTransition>();
    }
}
