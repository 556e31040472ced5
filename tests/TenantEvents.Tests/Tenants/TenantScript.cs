using TenantEvents.Infrastructure.Security;
using TenantEvents.Tenants;
using TenantEvents.Tenants.Templates;

namespace TenantEvents.Tests.Tenants;

/// <summary>Builds tenant streams from event names and runs commands by name against the pure decisions.</summary>
public static class TenantScript
{
    public static readonly Actor Admin = new("alice", "user");
    public static readonly Actor Approver = new("bob", "user");
    public static readonly DateTimeOffset Start = new(2026, 1, 5, 10, 0, 0, TimeSpan.Zero);
    public static readonly TemplateCatalog Templates = TemplateCatalog.LoadEmbedded();
    public static readonly Guid TenantId = Guid.CreateVersion7();
    public static readonly Guid HoldId = Guid.CreateVersion7();
    public static readonly Guid SubjectId = Guid.CreateVersion7();

    public static TenantSettings Settings(int retentionDays = 30) =>
        Templates.Find("law-enforcement")!.DefaultSettings with { AuditRetentionDays = retentionDays };

    /// <summary>A plausible event of each type, one minute after the previous.</summary>
    public static object Event(string type, DateTimeOffset at, int retentionDays = 30) => type switch
    {
        nameof(TenantRequested) => new TenantRequested(TenantId, "Travis County Sheriff", "travis-sheriff", "law-enforcement", 1,
            new ResidencyZone("US", "US-TX"), [new Contact("Sally", "sally@travis.example.gov", null, SubjectId)], null, Settings(retentionDays), null, Admin, at),
        nameof(TenantApproved) => new TenantApproved(TenantId, null, Approver, at),
        nameof(TenantRejected) => new TenantRejected(TenantId, "duplicate", Approver, at),
        nameof(TenantProvisioned) => TenantDecisions.Provision(Fold(["TenantRequested", "TenantApproved"], retentionDays), Templates.Find("law-enforcement")!,
            Guid.CreateVersion7, Admin, at) is Accepted a ? a.Events[0] : throw new InvalidOperationException(),
        nameof(TenantSuspended) => new TenantSuspended(TenantId, "unpaid", Admin, at),
        nameof(TenantReactivated) => new TenantReactivated(TenantId, null, Admin, at),
        nameof(TenantRenamed) => new TenantRenamed(TenantId, "Travis County Sheriff", "Travis County Sheriff's Office", Admin, at),
        nameof(TenantSettingsUpdated) => new TenantSettingsUpdated(TenantId, Settings(retentionDays), Settings(retentionDays + 1), Admin, at),
        nameof(TenantDecommissionRequested) => new TenantDecommissionRequested(TenantId, "merged into state police", Admin, at),
        nameof(TenantDecommissionScheduled) => new TenantDecommissionScheduled(TenantId, at.AddDays(retentionDays), Approver, at),
        nameof(TenantDecommissionCancelled) => new TenantDecommissionCancelled(TenantId, "changed our minds", Admin, at),
        nameof(TenantDecommissioned) => new TenantDecommissioned(TenantId, Actor.System, at),
        nameof(LegalHoldPlaced) => new LegalHoldPlaced(TenantId, HoldId, "CASE-2026-001", "litigation", Admin, at),
        nameof(LegalHoldLifted) => new LegalHoldLifted(TenantId, HoldId, "case closed", Admin, at),
        nameof(ContactErased) => new ContactErased(TenantId, SubjectId, Admin, at),
        nameof(AccessStateRepaired) => new AccessStateRepaired(TenantId, "tables changed outside the service", Admin, at),
        nameof(TenantContactsReplaced) => new TenantContactsReplaced(TenantId,
            [new Contact("Sally", "sally@travis.example.gov", null, SubjectId), new Contact("Tom", "tom@travis.example.gov", "records", Guid.CreateVersion7())], Admin, at),
        nameof(TenantKeysRotated) => new TenantKeysRotated(TenantId, KeyKind.Data, "2", Admin, at),
        _ => throw new ArgumentException($"No example for event {type}."),
    };

    public static Tenant Fold(IReadOnlyList<string> given, int retentionDays = 30)
    {
        Tenant? tenant = null;
        for (var i = 0; i < given.Count; i++)
        {
            tenant = TenantStreams.Apply(tenant, Event(given[i], Start.AddMinutes(i), retentionDays));
            tenant.Version = i + 1;
        }
        return tenant ?? throw new ArgumentException("An empty stream has no tenant.");
    }

    public static DateTimeOffset After(IReadOnlyList<string> given) => Start.AddMinutes(given.Count);

    /// <summary>The command by its event-model name, with valid input that changes something.</summary>
    public static Decision Run(string command, Tenant tenant, Actor by, DateTimeOffset now) => command switch
    {
        "ApproveTenant" => TenantDecisions.Approve(tenant, null, by, now),
        "RejectTenant" => TenantDecisions.Reject(tenant, "not eligible", by, now),
        "ProvisionTenant" => TenantDecisions.Provision(tenant, Templates.Find(tenant.Template)!, Guid.CreateVersion7, by, now),
        "SuspendTenant" => TenantDecisions.Suspend(tenant, "unpaid", by, now),
        "ReactivateTenant" => TenantDecisions.Reactivate(tenant, null, by, now),
        "RenameTenant" => TenantDecisions.Rename(tenant, tenant.Name + " (renamed)", by, now),
        "UpdateTenantSettings" => TenantDecisions.UpdateSettings(tenant, tenant.Settings with { AuditRetentionDays = tenant.Settings.AuditRetentionDays + 1 }, by, now),
        "RequestDecommission" => TenantDecisions.RequestDecommission(tenant, "no longer needed", by, now),
        "ApproveDecommission" => TenantDecisions.ApproveDecommission(tenant, by, now),
        "CancelDecommission" => TenantDecisions.CancelDecommission(tenant, "kept after all", by, now),
        "CompleteDecommission" => TenantDecisions.CompleteDecommission(tenant, by, now),
        "PlaceLegalHold" => TenantDecisions.PlaceLegalHold(tenant, Guid.CreateVersion7(), "CASE-NEW", "subpoena", by, now),
        "EraseContact" => TenantDecisions.EraseContact(tenant, SubjectId, by, now),
        "RepairAccessState" => TenantDecisions.RepairAccess(tenant, "tables changed outside the service", by, now),
        "ReplaceTenantContacts" => TenantDecisions.ReplaceContacts(tenant,
            [(new Contact("Sally", "sally@travis.example.gov"), Guid.CreateVersion7()), (new Contact("Tom", "tom@travis.example.gov", "records"), Guid.CreateVersion7())], by, now),
        "RotateTenantKeys" => TenantDecisions.RecordKeyRotation(tenant, KeyKind.Data, "2", by, now),
        "LiftLegalHold" => TenantDecisions.LiftLegalHold(tenant, tenant.LegalHolds.FirstOrDefault()?.HoldId ?? HoldId, "released", by, now),
        _ => throw new ArgumentException($"No such command {command}."),
    };

    /// <summary>Event streams that put a tenant in each state.</summary>
    public static IReadOnlyList<string> StreamFor(TenantState state) => state switch
    {
        TenantState.Requested => ["TenantRequested"],
        TenantState.Rejected => ["TenantRequested", "TenantRejected"],
        TenantState.Approved => ["TenantRequested", "TenantApproved"],
        TenantState.Active => ["TenantRequested", "TenantApproved", "TenantProvisioned"],
        TenantState.Suspended => ["TenantRequested", "TenantApproved", "TenantProvisioned", "TenantSuspended"],
        TenantState.DecommissionRequested => ["TenantRequested", "TenantApproved", "TenantProvisioned", "TenantDecommissionRequested"],
        TenantState.DecommissionScheduled => [.. StreamFor(TenantState.DecommissionRequested), "TenantDecommissionScheduled"],
        TenantState.Decommissioned => [.. StreamFor(TenantState.DecommissionScheduled), "TenantDecommissioned"],
        _ => throw new ArgumentOutOfRangeException(nameof(state)),
    };

    public static string Code(Decision decision) => decision switch
    {
        InvalidTransition => "invalid-transition",
        NotAllowed n => n.Code,
        Blocked b => b.Code,
        InvalidInput => "validation-failed",
        _ => throw new ArgumentException($"{decision} is not a refusal."),
    };
}
