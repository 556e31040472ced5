using TenantEvents.Infrastructure.Security;

namespace TenantEvents.Tenants;

// The tenant lifecycle, one stream per tenant (stream id = tenant id, stored under that tenant).
// Every event names who did it and when: the events are the audit trail.

public sealed record ResidencyZone(string Country, string? Subdivision = null)
{
    public override string ToString() => Subdivision ?? Country;
}

/// <summary>
/// A person to contact about the tenant. <paramref name="SubjectId"/> is assigned by the service (anything a client
/// sends is replaced); the person's name and e-mail are sealed under a key of their own, so they can be erased alone.
/// </summary>
public sealed record Contact(string Name, string Email, string? Role = null, Guid? SubjectId = null, bool Erased = false)
{
    public const string ErasedText = "[erased]";

    public Contact AsErased() => this with { Name = ErasedText, Email = ErasedText, Erased = true };
}

/// <summary>
/// A tenant's quotas: licences (active users), AI compute units per month, API calls per day and per month; hard or
/// observe-only (<see cref="Mode"/>, or per kind in <see cref="Modes"/>); alert thresholds in percent of each limit.
/// </summary>
public sealed record QuotaDefaults(
    int Licences,
    long AiComputeUnitsPerMonth,
    long ApiCallsPerDay,
    long ApiCallsPerMonth,
    QuotaMode Mode,
    IReadOnlyList<int> AlertThresholds,
    IReadOnlyDictionary<string, QuotaMode>? Modes = null);

public enum QuotaMode { Hard, ObserveOnly }

/// <summary>Settings a tenant lives by: from its template, overridden at request time, updated later.</summary>
public sealed record TenantSettings(
    int AuditRetentionDays,
    IReadOnlyList<string> Features,
    QuotaDefaults Quotas,
    bool DedicatedDatabase);

public sealed record OrganisationSeed(Guid Id, string Name, string Kind, Guid? ParentId);

public sealed record RoleSeed(string Name, string Description, IReadOnlyList<string> Permissions);

public sealed record TenantRequested(
    Guid TenantId,
    string Name,
    string Slug,
    string Template,
    int TemplateVersion,
    ResidencyZone Residency,
    IReadOnlyList<Contact> Contacts,
    Contact? RequestedFor,
    TenantSettings Settings,
    string? RootOrganisationName,
    Actor By,
    DateTimeOffset At,
    StoragePlacement? Storage = null);

/// <summary>
/// Where the tenant's data is kept: its residency zone and the database there (the zone's shared one, or one of its own).
/// Decided once, when the tenant is requested; moving a tenant is a migration, not a setting.
/// </summary>
public sealed record StoragePlacement(string Zone, string Database, bool Dedicated);

public sealed record TenantApproved(Guid TenantId, string? Comment, Actor By, DateTimeOffset At);

public sealed record TenantRejected(Guid TenantId, string Reason, Actor By, DateTimeOffset At);

/// <summary>The template was applied: root organisation and first units, roles, quotas; the tenant is active.</summary>
public sealed record TenantProvisioned(
    Guid TenantId,
    string Template,
    int TemplateVersion,
    IReadOnlyList<OrganisationSeed> Organisations,
    IReadOnlyList<RoleSeed> Roles,
    TenantSettings Settings,
    Actor By,
    DateTimeOffset At);

public sealed record TenantSuspended(Guid TenantId, string Reason, Actor By, DateTimeOffset At);

public sealed record TenantReactivated(Guid TenantId, string? Comment, Actor By, DateTimeOffset At);

public sealed record TenantRenamed(Guid TenantId, string PreviousName, string Name, Actor By, DateTimeOffset At);

public sealed record TenantSettingsUpdated(Guid TenantId, TenantSettings Previous, TenantSettings Settings, Actor By, DateTimeOffset At);

public sealed record TenantDecommissionRequested(Guid TenantId, string Reason, Actor By, DateTimeOffset At);

/// <summary>A second person approved the decommission; it completes no earlier than <paramref name="NotBefore"/>.</summary>
public sealed record TenantDecommissionScheduled(Guid TenantId, DateTimeOffset NotBefore, Actor By, DateTimeOffset At);

public sealed record TenantDecommissionCancelled(Guid TenantId, string Reason, Actor By, DateTimeOffset At);

public sealed record TenantDecommissioned(Guid TenantId, Actor By, DateTimeOffset At);

public sealed record LegalHoldPlaced(Guid TenantId, Guid HoldId, string Reference, string Reason, Actor By, DateTimeOffset At);

public sealed record LegalHoldLifted(Guid TenantId, Guid HoldId, string Reason, Actor By, DateTimeOffset At);

/// <summary>A contact's personal data was erased (GDPR Art. 17): their own key is destroyed; only the subject id remains.</summary>
public sealed record ContactErased(Guid TenantId, Guid SubjectId, Actor By, DateTimeOffset At);

/// <summary>
/// A platform administrator rebuilt the tenant's access tables from its sealed organisation events (they had been changed
/// outside the service, so the tenant was refused): recorded in the tenant's trail with the reason given.
/// </summary>
public sealed record AccessStateRepaired(Guid TenantId, string Reason, Actor By, DateTimeOffset At);

/// <summary>
/// The tenant's contacts are now this list (in order). A person named before keeps their subject id and key (matched by
/// e-mail); a new one gets their own; someone left out is no longer a contact, and their data in earlier events stays
/// sealed under their key until they are erased.
/// </summary>
public sealed record TenantContactsReplaced(Guid TenantId, IReadOnlyList<Contact> Contacts, Actor By, DateTimeOffset At);

public enum KeyKind { Data, KeyEncryption }

/// <summary>
/// The tenant's keys were rotated: a new data-key version seals new writes (old versions still open old data), or a new
/// KEK version re-wrapped every data key (nothing re-encrypted). <paramref name="Reference"/> is the new data-key
/// version or KEK id; no key material ever appears in an event.
/// </summary>
public sealed record TenantKeysRotated(Guid TenantId, KeyKind Key, string Reference, Actor By, DateTimeOffset At);

public static class TenantEventTypes
{
    /// <summary>The name an event type is stored under in mt_events.type (snake case: tenant_requested).</summary>
    public static string StoredName(Type type) =>
        string.Concat(type.Name.Select((c, i) => char.IsUpper(c) && i > 0 ? "_" + char.ToLowerInvariant(c) : char.ToLowerInvariant(c).ToString()));

    /// <summary>The sealed form of an event, as stored.</summary>
    public static object Wrap(Type type, TenantEvents.Keys.SealedPayload payload) =>
        Activator.CreateInstance(typeof(TenantEvents.Keys.Sealed<>).MakeGenericType(type), payload.KeyVersion, payload.Nonce, payload.Ciphertext)!;

    /// <summary>Every event of the tenant lifecycle; the event model test compares this list with eventmodels/.</summary>
    public static readonly IReadOnlyList<Type> All =
    [
        typeof(TenantRequested), typeof(TenantApproved), typeof(TenantRejected), typeof(TenantProvisioned),
        typeof(TenantSuspended), typeof(TenantReactivated), typeof(TenantRenamed), typeof(TenantSettingsUpdated),
        typeof(TenantDecommissionRequested), typeof(TenantDecommissionScheduled), typeof(TenantDecommissionCancelled),
        typeof(TenantDecommissioned), typeof(LegalHoldPlaced), typeof(LegalHoldLifted), typeof(TenantKeysRotated),
        typeof(ContactErased), typeof(TenantContactsReplaced), typeof(AccessStateRepaired),
    ];
}
