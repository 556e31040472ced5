using TenantEvents.Infrastructure;
using TenantEvents.Organisations;
using TenantEvents.Sharing;

namespace TenantEvents.CaseFiles;

public sealed record CaseFileEntryView(Guid Id, string Kind, string Text, Guid FromTenantId, string? Author, DateTimeOffset At);

/// <summary>
/// A case file as a reader sees it. For another tenant's file: <c>shared</c> is true, <c>access</c> says what the shares
/// allow, <c>sharedVia</c> the agreements and collaborations it is seen through; its organisation and the collaborations
/// it is in are the owner's business and are not shown. The body and entries come with a single file, not in lists.
/// </summary>
public sealed record CaseFileView(Guid Id, Guid OwnerTenantId, bool Shared, Guid? OrganisationId, string Title, string Classification,
    IReadOnlyList<string> Tags, string? Body, IReadOnlyList<CaseFileEntryView>? Entries, IReadOnlyList<string> Access, IReadOnlyList<Guid>? SharedVia,
    IReadOnlyList<Guid>? SharedInto, long Version, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt);

public sealed record CaseFilePage(IReadOnlyList<CaseFileView> Items, string? NextCursor);

public static class CaseFileHttp
{
    /// <summary>What the caller may do with its own tenant's file, by its permissions at the file's organisation.</summary>
    public static IReadOnlyList<string> OwnAccess(Standing standing, AccessGraph graph, Guid org) =>
        new[] { ("case.read", "read"), ("case.comment", "comment"), ("case.write", "write"), ("case.share", "share") }
            .Where(p => standing.Can(graph, p.Item1, org)).Select(p => p.Item2).ToList();

    public static CaseFileView View(CaseFile file, Guid reader, IReadOnlyList<string> access, IReadOnlyList<Guid>? via, bool full)
    {
        var own = file.TenantId == reader;
        return new CaseFileView(file.Id, file.TenantId, !own, own ? file.OrganisationId : null, file.Title, file.Classification, file.Tags,
            full ? file.Body : null,
            full
                ? file.Entries.Where(e => own || e.FromTenantId == file.TenantId || e.FromTenantId == reader)
                    .Select(e => new CaseFileEntryView(e.Id, e.Kind, e.Text, e.FromTenantId, e.FromTenantId == reader ? e.By.Subject : null, e.At)).ToList()
                : null,
            access, own ? null : via, own && full ? file.SharedInto.Keys.Order().ToList() : null, file.Version, file.CreatedAt, file.UpdatedAt);
    }

    /// <summary>404 for an organisation the caller has nothing to do with (or that is closed), 403 when it reads there but may not do this.</summary>
    public static Problem? AuthoriseAt(Standing standing, AccessGraph graph, string permission, Guid org, string what = "organisation")
    {
        if (graph.FindOpen(org) is null) return Problem.NotFound(what);
        if (standing.Can(graph, permission, org)) return null;
        return standing.Can(graph, "case.read", org) || standing.CanSee(graph, org)
            ? Problem.Forbidden($"You do not hold {permission} at this organisation or above it.").With("permission", permission)
            : Problem.NotFound(what);
    }
}
