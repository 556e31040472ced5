using TenantEvents.Infrastructure.Security;

namespace TenantEvents.Scim;

// Users and groups pushed by the tenant's directory (SCIM 2.0). One stream per resource (its id), sealed under the
// tenant's key like every tenant event; a user's resource inside is sealed once more under that person's own key, so
// erasing the person (their key) leaves their history unreadable while the rest of the stream still verifies.

/// <param name="Resource">The user's SCIM resource as JSON, sealed under the person's key ("subject:" + base64).</param>
public sealed record ScimUserCreated(Guid UserId, string Resource, Actor By, DateTimeOffset At);

public sealed record ScimUserReplaced(Guid UserId, string Resource, Actor By, DateTimeOffset At);

/// <param name="Operations">The PATCH operations as sent (sealed with the resource).</param>
public sealed record ScimUserPatched(Guid UserId, string Resource, Actor By, DateTimeOffset At);

public sealed record ScimUserDeleted(Guid UserId, Actor By, DateTimeOffset At);

/// <param name="Resource">The group's SCIM resource as JSON (display name and members).</param>
public sealed record ScimGroupCreated(Guid GroupId, string Resource, Actor By, DateTimeOffset At);

public sealed record ScimGroupReplaced(Guid GroupId, string Resource, Actor By, DateTimeOffset At);

public sealed record ScimGroupPatched(Guid GroupId, string Resource, Actor By, DateTimeOffset At);

public sealed record ScimGroupDeleted(Guid GroupId, Actor By, DateTimeOffset At);

public static class ScimEventTypes
{
    /// <summary>Every SCIM event; the event model test compares this list with eventmodels/.</summary>
    public static readonly IReadOnlyList<Type> All =
    [
        typeof(ScimUserCreated), typeof(ScimUserReplaced), typeof(ScimUserPatched), typeof(ScimUserDeleted),
        typeof(ScimGroupCreated), typeof(ScimGroupReplaced), typeof(ScimGroupPatched), typeof(ScimGroupDeleted),
    ];
}
