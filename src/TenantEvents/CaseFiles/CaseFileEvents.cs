using TenantEvents.Infrastructure.Security;

namespace TenantEvents.CaseFiles;

/// <summary>
/// A case file was opened in an organisation of its tenant: the record that isolation and sharing act on. Its stream is
/// the file's own, in the owning tenant, sealed under that tenant's key like every tenant event.
/// </summary>
public sealed record CaseFileOpened(Guid CaseFileId, Guid OrganisationId, string Title, string Classification, IReadOnlyList<string> Tags,
    string Body, Actor By, DateTimeOffset At);

/// <summary>The file's title, classification, tags and body as they are after a revision (all four, so a replay needs no diffing).</summary>
public sealed record CaseFileRevised(Guid CaseFileId, string Title, string Classification, IReadOnlyList<string> Tags, string Body, Actor By,
    DateTimeOffset At);

/// <summary>
/// A comment or a contribution (material added by a partner agency) on the file; <paramref name="FromTenantId"/> is the
/// tenant its author belongs to, the owner's own or a partner's under an agreement or a collaboration.
/// </summary>
public sealed record CaseFileEntryAdded(Guid CaseFileId, Guid EntryId, string Kind, string Text, Guid FromTenantId, Actor By, DateTimeOffset At);

/// <summary>The owner shared the file into a collaboration (COI channel or joint investigation) it is a member of.</summary>
public sealed record CaseFileShared(Guid CaseFileId, Guid CollaborationId, IReadOnlyList<string> Permissions, Actor By, DateTimeOffset At);

/// <summary>The owner withdrew the file from a collaboration.</summary>
public sealed record CaseFileUnshared(Guid CaseFileId, Guid CollaborationId, Actor By, DateTimeOffset At);

public static class CaseFileEventTypes
{
    public static readonly IReadOnlyList<Type> All =
    [
        typeof(CaseFileOpened), typeof(CaseFileRevised), typeof(CaseFileEntryAdded), typeof(CaseFileShared), typeof(CaseFileUnshared),
    ];
}
