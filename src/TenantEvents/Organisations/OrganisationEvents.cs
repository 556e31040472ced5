using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Security;

namespace TenantEvents.Organisations;

/// <summary>Who a grant is for: a user (the token's subject) or a group (from the identity provider).</summary>
public sealed record Principal(string Kind, string Id)
{
    public const string User = "user";
    public const string Group = "group";

    public static Principal OfUser(string id) => new(User, id);
    public static Principal OfGroup(string id) => new(Group, id);

    public override string ToString() => $"{Kind}:{Id}";
}

// One stream per organisation (stream id = organisation id, inside its tenant), and one per tenant for its roles.
// Grants live on the stream of the organisation they are made at. All of them are stored sealed, like tenant events.

public sealed record OrganisationCreated(Guid OrganisationId, Guid? ParentId, string Name, string Kind, string? Jurisdiction, Actor By, DateTimeOffset At);

public sealed record OrganisationRenamed(Guid OrganisationId, string Name, Actor By, DateTimeOffset At);

public sealed record OrganisationAttributesUpdated(Guid OrganisationId, string Kind, string? Jurisdiction, Actor By, DateTimeOffset At);

/// <summary>The organisation and its whole subtree now hang under another parent.</summary>
public sealed record OrganisationMoved(Guid OrganisationId, Guid FromParentId, Guid ToParentId, Actor By, DateTimeOffset At);

/// <summary>Closed, with its open descendants when the request closed the subtree (one event per organisation).</summary>
public sealed record OrganisationClosed(Guid OrganisationId, string? Reason, Actor By, DateTimeOffset At);

public sealed record RoleGranted(Guid OrganisationId, Guid GrantId, Principal Principal, string Role, Actor By, DateTimeOffset At);

public sealed record GrantRevoked(Guid OrganisationId, Guid GrantId, Actor By, DateTimeOffset At);

/// <summary>
/// A guardrail at an organisation for a setting ("setting.x") or a feature ("feature.x", true or false): override (for
/// this subtree, unless locked above) or locked (binds every descendant). Value is JSON text.
/// </summary>
public sealed record PolicySet(Guid OrganisationId, string Key, string Mode, string Value, Actor By, DateTimeOffset At);

/// <summary>The organisation inherits the setting again.</summary>
public sealed record PolicyCleared(Guid OrganisationId, string Key, Actor By, DateTimeOffset At);

/// <summary>A user belongs to the organisation (a user may belong to several).</summary>
public sealed record MemberAdded(Guid OrganisationId, string UserId, Actor By, DateTimeOffset At);

public sealed record MemberRemoved(Guid OrganisationId, string UserId, Actor By, DateTimeOffset At);

public sealed record RoleDefined(string Name, string Description, IReadOnlyList<string> Permissions, Actor By, DateTimeOffset At);

public sealed record RoleRemoved(string Name, Actor By, DateTimeOffset At);

public static class OrganisationEventTypes
{
    /// <summary>Every event of organisations and access; the event model test compares this list with eventmodels/.</summary>
    public static readonly IReadOnlyList<Type> All =
    [
        typeof(OrganisationCreated), typeof(OrganisationRenamed), typeof(OrganisationAttributesUpdated), typeof(OrganisationMoved),
        typeof(OrganisationClosed), typeof(RoleGranted), typeof(GrantRevoked), typeof(RoleDefined), typeof(RoleRemoved),
        typeof(PolicySet), typeof(PolicyCleared), typeof(MemberAdded), typeof(MemberRemoved),
        typeof(Quotas.QuotaAllocated), typeof(Quotas.QuotaAllocationRemoved),
    ];

    /// <summary>Their type names as stored in mt_events (what queries and the access high-water trigger filter on).</summary>
    public static readonly IReadOnlyList<string> StoredNames = All.Select(Tenants.TenantEventTypes.StoredName).ToArray();

    /// <summary>The stream of a tenant's role definitions: a stable id derived from the tenant's (UUID v8, name-based).</summary>
    public static Guid RolesStream(Guid tenantId) => Infrastructure.StableIds.From(tenantId, "roles");
}
