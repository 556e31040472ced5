using TenantEvents.Infrastructure.Security;

namespace TenantEvents.Tenants;

public enum TenantState
{
    Requested,
    Rejected,
    Approved,
    Active,
    Suspended,
    DecommissionRequested,
    DecommissionScheduled,
    Decommissioned,
}

public sealed record LegalHold(Guid HoldId, string Reference, string Reason, Actor PlacedBy, DateTimeOffset PlacedAt);

/// <summary>
/// A tenant as its event stream says it is: the write model the decisions look at and the body of the tenant API. It
/// is stored sealed inside <see cref="TenantRecord"/>, written in the same transaction as every append. Apply methods
/// only fold events; all rules live in <see cref="TenantDecisions"/>.
/// </summary>
public sealed class Tenant
{
    public Guid Id { get; set; }

    /// <summary>Stream version: the ETag of every response about this tenant.</summary>
    public int Version { get; set; }

    public string Name { get; set; } = "";
    public string Slug { get; set; } = "";
    public TenantState State { get; set; }
    public string Template { get; set; } = "";
    public int TemplateVersion { get; set; }
    public ResidencyZone Residency { get; set; } = new("");
    public StoragePlacement? Storage { get; set; }
    public List<Contact> Contacts { get; set; } = [];

    /// <summary>
    /// People who were contacts and were left out of a later list, not yet erased: only their subject ids (their data is
    /// in the past events, sealed under their keys), so that they can still be erased.
    /// </summary>
    public List<Guid> FormerContacts { get; set; } = [];
    public Contact? RequestedFor { get; set; }
    public TenantSettings Settings { get; set; } = null!;
    public string? RootOrganisationName { get; set; }

    public Actor RequestedBy { get; set; } = Actor.System;
    public DateTimeOffset RequestedAt { get; set; }
    public Actor? ApprovedBy { get; set; }
    public DateTimeOffset? ApprovedAt { get; set; }
    public string? RejectionReason { get; set; }
    public DateTimeOffset? ProvisionedAt { get; set; }
    public List<OrganisationSeed> Organisations { get; set; } = [];
    public List<RoleSeed> Roles { get; set; } = [];
    public string? SuspensionReason { get; set; }

    public Actor? DecommissionRequestedBy { get; set; }
    public string? DecommissionReason { get; set; }
    public DateTimeOffset? DecommissionNotBefore { get; set; }
    public DateTimeOffset? DecommissionedAt { get; set; }
    public List<LegalHold> LegalHolds { get; set; } = [];

    /// <summary>When the tenant's keys were last rotated, and which (no key material: version or key id only).</summary>
    public TenantKeysRotated? LastKeyRotation { get; set; }

    /// <summary>
    /// The latest moment up to which the audit retention promised for this tenant's events still binds them: for each
    /// event, its time plus the retention in force when it was written. Shortening retention later never brings
    /// this forward, because a promise made to an older record is kept.
    /// </summary>
    public DateTimeOffset RetentionBindsUntil { get; set; }

    public DateTimeOffset UpdatedAt { get; set; }
    public Actor LastChangedBy { get; set; } = Actor.System;

    /// <summary>A copy sharing every value with this tenant; replace (never mutate) what differs.</summary>
    public Tenant ShallowCopy() => (Tenant)MemberwiseClone();

    public static Tenant Create(TenantRequested e)
    {
        var tenant = new Tenant
        {
            Id = e.TenantId,
            Name = e.Name,
            Slug = e.Slug,
            State = TenantState.Requested,
            Template = e.Template,
            TemplateVersion = e.TemplateVersion,
            Residency = e.Residency,
            Storage = e.Storage,
            Contacts = e.Contacts.ToList(),
            RequestedFor = e.RequestedFor,
            Settings = e.Settings,
            RootOrganisationName = e.RootOrganisationName,
            RequestedBy = e.By,
            RequestedAt = e.At,
        };
        tenant.Touch(e.By, e.At);
        return tenant;
    }

    public void Apply(TenantApproved e)
    {
        State = TenantState.Approved;
        ApprovedBy = e.By;
        ApprovedAt = e.At;
        Touch(e.By, e.At);
    }

    public void Apply(TenantRejected e)
    {
        State = TenantState.Rejected;
        RejectionReason = e.Reason;
        Touch(e.By, e.At);
    }

    public void Apply(TenantProvisioned e)
    {
        State = TenantState.Active;
        ProvisionedAt = e.At;
        Organisations = e.Organisations.ToList();
        Roles = e.Roles.ToList();
        Settings = e.Settings;
        Touch(e.By, e.At);
    }

    public void Apply(TenantSuspended e)
    {
        State = TenantState.Suspended;
        SuspensionReason = e.Reason;
        Touch(e.By, e.At);
    }

    public void Apply(TenantReactivated e)
    {
        State = TenantState.Active;
        SuspensionReason = null;
        Touch(e.By, e.At);
    }

    public void Apply(TenantRenamed e)
    {
        Name = e.Name;
        Touch(e.By, e.At);
    }

    public void Apply(TenantSettingsUpdated e)
    {
        Settings = e.Settings;
        Touch(e.By, e.At);
    }

    public void Apply(TenantDecommissionRequested e)
    {
        State = TenantState.DecommissionRequested;
        DecommissionRequestedBy = e.By;
        DecommissionReason = e.Reason;
        Touch(e.By, e.At);
    }

    public void Apply(TenantDecommissionScheduled e)
    {
        State = TenantState.DecommissionScheduled;
        DecommissionNotBefore = e.NotBefore;
        Touch(e.By, e.At);
    }

    public void Apply(TenantDecommissionCancelled e)
    {
        // A tenant whose decommission was called off comes back suspended: an operator reactivates it deliberately.
        State = TenantState.Suspended;
        SuspensionReason = $"decommission cancelled: {e.Reason}";
        DecommissionRequestedBy = null;
        DecommissionReason = null;
        DecommissionNotBefore = null;
        Touch(e.By, e.At);
    }

    public void Apply(TenantDecommissioned e)
    {
        State = TenantState.Decommissioned;
        DecommissionedAt = e.At;
        Touch(e.By, e.At);
    }

    public void Apply(LegalHoldPlaced e)
    {
        LegalHolds.Add(new LegalHold(e.HoldId, e.Reference, e.Reason, e.By, e.At));
        Touch(e.By, e.At);
    }

    public void Apply(LegalHoldLifted e)
    {
        LegalHolds.RemoveAll(h => h.HoldId == e.HoldId);
        Touch(e.By, e.At);
    }

    public void Apply(TenantContactsReplaced e)
    {
        var kept = e.Contacts.Select(c => c.SubjectId).ToHashSet();
        FormerContacts = FormerContacts.Concat(Contacts.Where(c => c is { Erased: false, SubjectId: { } id } && !kept.Contains(id)).Select(c => c.SubjectId!.Value))
            .Where(id => !kept.Contains(id) && RequestedFor?.SubjectId != id).Distinct().ToList();
        Contacts = e.Contacts.ToList();
        Touch(e.By, e.At);
    }

    public void Apply(AccessStateRepaired e) => Touch(e.By, e.At);

    public void Apply(ContactErased e)
    {
        Contacts = Contacts.Select(c => c.SubjectId == e.SubjectId ? c.AsErased() : c).ToList();
        if (RequestedFor?.SubjectId == e.SubjectId) RequestedFor = RequestedFor.AsErased();
        FormerContacts.Remove(e.SubjectId);
        Touch(e.By, e.At);
    }

    public void Apply(TenantKeysRotated e)
    {
        LastKeyRotation = e;
        Touch(e.By, e.At);
    }

    private void Touch(Actor by, DateTimeOffset at)
    {
        UpdatedAt = at;
        LastChangedBy = by;
        var binds = at.AddDays(Settings.AuditRetentionDays);
        if (binds > RetentionBindsUntil) RetentionBindsUntil = binds;
    }
}
