using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Tenants.Templates;

namespace TenantEvents.Tenants;

/// <summary>What a decision came to: the events to append (none is a valid no-op), or a refusal.</summary>
public abstract record Decision
{
    public static Decision Accept(params object[] events) => new Accepted(events);
}

public sealed record Accepted(IReadOnlyList<object> Events) : Decision;

/// <summary>A command that does not fit the current state: 409, naming the state, appending nothing.</summary>
public sealed record InvalidTransition(string Command, TenantState CurrentState, string Detail) : Decision;

/// <summary>Input that is only invalid against the current state (e.g. merged settings): 400, appending nothing.</summary>
public sealed record InvalidInput(IReadOnlyList<FieldError> Errors) : Decision;

/// <summary>A rule about who may do it (four-eyes): 403, appending nothing.</summary>
public sealed record NotAllowed(string Code, string Detail) : Decision;

/// <summary>The state allows the command in principle but something binds it now (retention, legal hold): 409.</summary>
public sealed record Blocked(string Code, TenantState CurrentState, string Detail, DateTimeOffset? NotBefore = null) : Decision;

/// <summary>
/// The tenant lifecycle's rules as pure functions of (current state, command, actor, time) -> decision. No I/O:
/// trivial to unit test, and the same rules run for HTTP, webhooks and scheduled work.
/// </summary>
public static class TenantDecisions
{
    private static readonly TenantState[] Live =
        [TenantState.Requested, TenantState.Approved, TenantState.Active, TenantState.Suspended];

    public static Decision Approve(Tenant tenant, string? comment, Actor by, DateTimeOffset now)
    {
        if (tenant.State != TenantState.Requested)
            return Invalid("approve", tenant, "Only a requested tenant can be approved.");
        if (SamePerson(tenant.RequestedBy, by))
            return new NotAllowed("four-eyes", "A tenant request must be approved by someone other than its requester.");
        return Decision.Accept(new TenantApproved(tenant.Id, comment, by, now));
    }

    public static Decision Reject(Tenant tenant, string reason, Actor by, DateTimeOffset now) =>
        tenant.State == TenantState.Requested
            ? Decision.Accept(new TenantRejected(tenant.Id, reason, by, now))
            : Invalid("reject", tenant, "Only a requested tenant can be rejected.");

    public static Decision Provision(Tenant tenant, TenantTemplate template, Func<Guid> newId, Actor by, DateTimeOffset now)
    {
        if (tenant.State != TenantState.Approved)
            return Invalid("provision", tenant, "Only an approved tenant can be provisioned.");
        if (template.Name != tenant.Template)
            throw new ArgumentException($"Tenant {tenant.Id} was requested with template {tenant.Template}, not {template.Name}.");
        var (organisations, roles) = template.Seed(tenant.RootOrganisationName ?? tenant.Name, newId);
        return Decision.Accept(new TenantProvisioned(tenant.Id, tenant.Template, tenant.TemplateVersion, organisations, roles,
            tenant.Settings, by, now));
    }

    public static Decision Suspend(Tenant tenant, string reason, Actor by, DateTimeOffset now) =>
        tenant.State == TenantState.Active
            ? Decision.Accept(new TenantSuspended(tenant.Id, reason, by, now))
            : Invalid("suspend", tenant, "Only an active tenant can be suspended.");

    public static Decision Reactivate(Tenant tenant, string? comment, Actor by, DateTimeOffset now) =>
        tenant.State == TenantState.Suspended
            ? Decision.Accept(new TenantReactivated(tenant.Id, comment, by, now))
            : Invalid("reactivate", tenant, "Only a suspended tenant can be reactivated.");

    public static Decision Rename(Tenant tenant, string name, Actor by, DateTimeOffset now)
    {
        if (!Live.Contains(tenant.State))
            return Invalid("rename", tenant, "A tenant can be renamed only while it is requested, approved, active or suspended.");
        return name == tenant.Name
            ? Decision.Accept()
            : Decision.Accept(new TenantRenamed(tenant.Id, tenant.Name, name, by, now));
    }

    /// <summary>
    /// The tenant's contacts become <paramref name="contacts"/>. Someone already a contact (the same e-mail, ignoring
    /// case) keeps their subject id, so their key and erasure stay theirs; anyone else gets the fresh subject id given with
    /// them (made at the edge). An erased contact is never matched: erasure is not undone by naming the address again.
    /// </summary>
    public static Decision ReplaceContacts(Tenant tenant, IReadOnlyList<(Contact Contact, Guid FreshSubject)> contacts, Actor by, DateTimeOffset now)
    {
        if (!Live.Contains(tenant.State))
            return Invalid("replace contacts", tenant, "Contacts can be changed only while the tenant is requested, approved, active or suspended.");
        var known = tenant.Contacts.Append(tenant.RequestedFor)
            .Where(c => c is { Erased: false, SubjectId: not null })
            .GroupBy(c => c!.Email, StringComparer.OrdinalIgnoreCase)
            .ToDictionary(g => g.Key, g => g.First()!.SubjectId!.Value, StringComparer.OrdinalIgnoreCase);
        var replaced = contacts.Select(c => c.Contact with
        {
            Name = c.Contact.Name.Trim(), Role = c.Contact.Role?.Trim(), Erased = false,
            SubjectId = known.GetValueOrDefault(c.Contact.Email, c.FreshSubject),
        }).ToList();
        return replaced.SequenceEqual(tenant.Contacts)
            ? Decision.Accept()
            : Decision.Accept(new TenantContactsReplaced(tenant.Id, replaced, by, now));
    }

    /// <summary>Records the repair of the tenant's access state (the repair itself runs in the same transaction).</summary>
    public static Decision RepairAccess(Tenant tenant, string reason, Actor by, DateTimeOffset now) =>
        tenant.State == TenantState.Decommissioned
            ? Invalid("repair access", tenant, "A decommissioned tenant has no access state: its keys are destroyed.")
            : Decision.Accept(new AccessStateRepaired(tenant.Id, reason, by, now));

    public static Decision UpdateSettings(Tenant tenant, TenantSettings settings, Actor by, DateTimeOffset now)
    {
        if (!Live.Contains(tenant.State))
            return Invalid("update-settings", tenant, "Settings can change only while the tenant is requested, approved, active or suspended.");
        var errors = new List<FieldError>();
        TenantRules.Settings("", settings, errors);
        TenantEvents.Compliance.JurisdictionChecks.Settings("", tenant.Residency, tenant.Template, settings, errors);
        if (errors.Count > 0) return new InvalidInput(errors);
        if (settings.DedicatedDatabase != tenant.Settings.DedicatedDatabase && tenant.State is TenantState.Active or TenantState.Suspended)
            return new Blocked("placement-fixed", tenant.State,
                "Whether a tenant has a dedicated database is fixed once it is provisioned; moving its data is a migration, not a setting.");
        return SameSettings(settings, tenant.Settings)
            ? Decision.Accept()
            : Decision.Accept(new TenantSettingsUpdated(tenant.Id, tenant.Settings, settings, by, now));
    }

    public static Decision RequestDecommission(Tenant tenant, string reason, Actor by, DateTimeOffset now) =>
        tenant.State is TenantState.Active or TenantState.Suspended
            ? Decision.Accept(new TenantDecommissionRequested(tenant.Id, reason, by, now))
            : Invalid("request-decommission", tenant, "Only an active or suspended tenant can be put forward for decommissioning.");

    /// <summary>
    /// The second pair of eyes on an irreversible step. The decommission may complete once the retention promised for
    /// every audit record of the tenant, this approval included, has run out.
    /// </summary>
    public static Decision ApproveDecommission(Tenant tenant, Actor by, DateTimeOffset now)
    {
        if (tenant.State != TenantState.DecommissionRequested)
            return Invalid("approve-decommission", tenant, "Only a requested decommission can be approved.");
        if (tenant.DecommissionRequestedBy is { } requester && SamePerson(requester, by))
            return new NotAllowed("four-eyes", "A decommission must be approved by someone other than its requester.");
        var notBefore = Max(tenant.RetentionBindsUntil, now.AddDays(tenant.Settings.AuditRetentionDays));
        return Decision.Accept(new TenantDecommissionScheduled(tenant.Id, notBefore, by, now));
    }

    public static Decision CancelDecommission(Tenant tenant, string reason, Actor by, DateTimeOffset now) =>
        tenant.State is TenantState.DecommissionRequested or TenantState.DecommissionScheduled
            ? Decision.Accept(new TenantDecommissionCancelled(tenant.Id, reason, by, now))
            : Invalid("cancel-decommission", tenant, "There is no decommission in progress to cancel.");

    public static Decision CompleteDecommission(Tenant tenant, Actor by, DateTimeOffset now)
    {
        if (tenant.State != TenantState.DecommissionScheduled)
            return Invalid("complete-decommission", tenant, "Only a scheduled decommission can complete.");
        if (tenant.LegalHolds.Count > 0)
            return new Blocked("legal-hold", tenant.State,
                $"{tenant.LegalHolds.Count} legal hold(s) bind this tenant's data ({string.Join(", ", tenant.LegalHolds.Select(h => h.Reference))}); lift them first.");
        var notBefore = Max(tenant.DecommissionNotBefore ?? now, tenant.RetentionBindsUntil);
        if (now < notBefore)
            return new Blocked("retention-window", tenant.State,
                $"The audit retention of {tenant.Settings.AuditRetentionDays} days binds this tenant's data until {notBefore.UtcDateTime:O}.",
                notBefore);
        return Decision.Accept(new TenantDecommissioned(tenant.Id, by, now));
    }

    public static Decision PlaceLegalHold(Tenant tenant, Guid holdId, string reference, string reason, Actor by, DateTimeOffset now)
    {
        if (tenant.State == TenantState.Decommissioned)
            return Invalid("place-legal-hold", tenant, "A decommissioned tenant has no readable data left to hold.");
        if (tenant.LegalHolds.Any(h => string.Equals(h.Reference, reference, StringComparison.OrdinalIgnoreCase)))
            return new Blocked("duplicate-legal-hold", tenant.State, $"A legal hold with reference '{reference}' is already in place.");
        return Decision.Accept(new LegalHoldPlaced(tenant.Id, holdId, reference, reason, by, now));
    }

    public static Decision LiftLegalHold(Tenant tenant, Guid holdId, string reason, Actor by, DateTimeOffset now)
    {
        if (tenant.State == TenantState.Decommissioned)
            return Invalid("lift-legal-hold", tenant, "The tenant is decommissioned.");
        return tenant.LegalHolds.Any(h => h.HoldId == holdId)
            ? Decision.Accept(new LegalHoldLifted(tenant.Id, holdId, reason, by, now))
            : new Blocked("unknown-legal-hold", tenant.State, $"No legal hold {holdId} is in place on this tenant.");
    }

    /// <summary>Erases one contact's personal data; the tenant keeps its other contacts and everything else.</summary>
    public static Decision EraseContact(Tenant tenant, Guid subjectId, Actor by, DateTimeOffset now)
    {
        if (tenant.State == TenantState.Decommissioned)
            return Invalid("erase-contact", tenant, "A decommissioned tenant's data is already destroyed.");
        var contact = tenant.Contacts.Append(tenant.RequestedFor).FirstOrDefault(c => c?.SubjectId == subjectId);
        // A former contact (left out of a later list) is still theirs to erase: their data is in the past events.
        if (contact is null && tenant.FormerContacts.Contains(subjectId)) return Decision.Accept(new ContactErased(tenant.Id, subjectId, by, now));
        if (contact is null) return new Blocked("unknown-contact", tenant.State, $"No contact {subjectId} belongs to this tenant.");
        return contact.Erased
            ? Decision.Accept()
            : Decision.Accept(new ContactErased(tenant.Id, subjectId, by, now));
    }

    /// <summary>Records a rotation the key ring has made; there is nothing to rotate once the tenant is shredded.</summary>
    public static Decision RecordKeyRotation(Tenant tenant, KeyKind key, string reference, Actor by, DateTimeOffset now) =>
        tenant.State == TenantState.Decommissioned
            ? Invalid("rotate-keys", tenant, "A decommissioned tenant's keys are destroyed.")
            : Decision.Accept(new TenantKeysRotated(tenant.Id, key, reference, by, now));

    /// <summary>Same human or system, whichever route they came in by (a user's subject within the same tenant scope).</summary>
    public static bool SamePerson(Actor a, Actor b) =>
        string.Equals(a.Subject, b.Subject, StringComparison.Ordinal) && a.TenantId == b.TenantId;

    private static bool SameSettings(TenantSettings a, TenantSettings b) =>
        a.AuditRetentionDays == b.AuditRetentionDays
        && a.Features.SequenceEqual(b.Features)
        && a.DedicatedDatabase == b.DedicatedDatabase
        && a.Quotas.Licences == b.Quotas.Licences
        && a.Quotas.AiComputeUnitsPerMonth == b.Quotas.AiComputeUnitsPerMonth
        && a.Quotas.ApiCallsPerDay == b.Quotas.ApiCallsPerDay
        && a.Quotas.ApiCallsPerMonth == b.Quotas.ApiCallsPerMonth
        && a.Quotas.Mode == b.Quotas.Mode
        && a.Quotas.AlertThresholds.SequenceEqual(b.Quotas.AlertThresholds)
        && (a.Quotas.Modes ?? new Dictionary<string, QuotaMode>()).OrderBy(p => p.Key, StringComparer.Ordinal)
            .SequenceEqual((b.Quotas.Modes ?? new Dictionary<string, QuotaMode>()).OrderBy(p => p.Key, StringComparer.Ordinal));

    private static DateTimeOffset Max(DateTimeOffset a, DateTimeOffset b) => a > b ? a : b;

    private static InvalidTransition Invalid(string command, Tenant tenant, string detail) =>
        new(command, tenant.State, $"{detail} The tenant is {Describe(tenant.State)}.");

    public static string Describe(TenantState state) => state switch
    {
        TenantState.DecommissionRequested => "awaiting decommission approval",
        TenantState.DecommissionScheduled => "scheduled for decommissioning",
        _ => state.ToString().ToLowerInvariant(),
    };
}
