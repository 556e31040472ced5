using System.Text.RegularExpressions;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Organisations;

namespace TenantEvents.CaseFiles;

public sealed record CaseFileEntry(Guid Id, string Kind, string Text, Guid FromTenantId, Actor By, DateTimeOffset At);

/// <summary>A case file folded from its events: the sealed snapshot kept in case_files, and what the API shows.</summary>
public sealed class CaseFile
{
    public Guid Id { get; set; }
    public Guid TenantId { get; set; }
    public Guid OrganisationId { get; set; }
    public string Title { get; set; } = "";
    public string Classification { get; set; } = "";
    public List<string> Tags { get; set; } = [];
    public string Body { get; set; } = "";
    public List<CaseFileEntry> Entries { get; set; } = [];
    /// <summary>The collaborations it is shared into, with the permissions given there.</summary>
    public Dictionary<Guid, List<string>> SharedInto { get; set; } = [];
    public long Version { get; set; }
    public Actor CreatedBy { get; set; } = Actor.System;
    public DateTimeOffset CreatedAt { get; set; }
    public Actor UpdatedBy { get; set; } = Actor.System;
    public DateTimeOffset UpdatedAt { get; set; }

    // One method per event after the opening (found by Fold<CaseFile>: no switch to extend).
    public void Apply(CaseFileRevised r)
    {
        Title = r.Title; Classification = r.Classification; Tags = [.. r.Tags]; Body = r.Body;
        UpdatedBy = r.By; UpdatedAt = r.At;
    }

    public void Apply(CaseFileEntryAdded a)
    {
        Entries.Add(new CaseFileEntry(a.EntryId, a.Kind, a.Text, a.FromTenantId, a.By, a.At));
        UpdatedAt = a.At;
    }

    public void Apply(CaseFileShared s) => SharedInto[s.CollaborationId] = [.. s.Permissions];

    public void Apply(CaseFileUnshared u) => SharedInto.Remove(u.CollaborationId);

    /// <summary>The file after one more event: the opening makes it (in the owning tenant), every other goes to its Apply.</summary>
    public static CaseFile Apply(CaseFile? file, object e, Guid tenant)
    {
        if (e is CaseFileOpened o)
            return new CaseFile
            {
                Id = o.CaseFileId, TenantId = tenant, OrganisationId = o.OrganisationId, Title = o.Title, Classification = o.Classification,
                Tags = [.. o.Tags], Body = o.Body, CreatedBy = o.By, CreatedAt = o.At, UpdatedBy = o.By, UpdatedAt = o.At,
            };
        ArgumentNullException.ThrowIfNull(file);
        Fold<CaseFile>.Apply(file, e);
        return file;
    }
}

/// <summary>Classifications, tags and the limits of a case file, and the pure decisions on one.</summary>
public static partial class CaseFileDecisions
{
    /// <summary>Protective markings, lowest first.</summary>
    public static readonly IReadOnlyList<string> Classifications = ["unclassified", "official", "sensitive", "secret", "top-secret"];

    public const int MaxTitle = 200;
    public const int MaxBody = 100_000;
    public const int MaxTags = 20;
    public const int MaxEntry = 10_000;

    /// <summary>What a partner may do with a shared file: read it; read and comment; read, comment and add material.</summary>
    public static readonly IReadOnlyList<string> SharePermissions = ["read", "comment", "contribute"];

    [GeneratedRegex("^[a-z0-9][a-z0-9._:-]{0,39}$")]
    private static partial Regex TagPattern();

    public static string NormaliseTag(string tag) => tag.Trim().ToLowerInvariant();

    public static List<FieldError> Validate(string? title, string? classification, IReadOnlyList<string>? tags, string? body, string prefix = "")
    {
        var errors = new List<FieldError>();
        if (string.IsNullOrWhiteSpace(title)) errors.Add(new(prefix + "title", "required", "a title is required."));
        else if (title.Length > MaxTitle) errors.Add(new(prefix + "title", "too-long", $"at most {MaxTitle} characters."));
        if (classification is null) errors.Add(new(prefix + "classification", "required", $"one of {string.Join(", ", Classifications)}."));
        else if (!Classifications.Contains(classification))
            errors.Add(new(prefix + "classification", "unknown-classification", $"one of {string.Join(", ", Classifications)}."));
        if (tags is not null) errors.AddRange(ValidateTags(tags, prefix + "tags"));
        if (body is { Length: > MaxBody }) errors.Add(new(prefix + "body", "too-long", $"at most {MaxBody} characters."));
        return errors;
    }

    public static IEnumerable<FieldError> ValidateTags(IReadOnlyList<string?> tags, string field)
    {
        if (tags.Count > MaxTags) yield return new(field, "too-many", $"at most {MaxTags} tags.");
        foreach (var tag in tags)
            if (tag is null || !TagPattern().IsMatch(NormaliseTag(tag)))
            {
                yield return new(field, "invalid-tag", "tags are 1 to 40 of a-z, 0-9 and . _ : - (compared in lower case).");
                yield break;
            }
    }

    public static List<string> Tags(IReadOnlyList<string>? tags) => tags is null ? [] : tags.Select(NormaliseTag).Distinct().Order(StringComparer.Ordinal).ToList();

    /// <summary>Opening needs case.write at the organisation, an open one.</summary>
    public static OrgDecision Open(Guid id, Guid org, string? title, string? classification, IReadOnlyList<string>? tags, string? body, Actor by,
        DateTimeOffset now)
    {
        var errors = Validate(title, classification, tags, body);
        if (errors.Count > 0) return OrgDecision.Refuse(Problem.Validation(errors));
        return OrgDecision.Accept(new CaseFileOpened(id, org, title!.Trim(), classification!, Tags(tags), body ?? "", by, now));
    }

    /// <summary>A revision names what changes; the rest stays. A revision that changes nothing appends nothing.</summary>
    public static OrgDecision Revise(CaseFile file, string? title, string? classification, IReadOnlyList<string>? tags, string? body, Actor by,
        DateTimeOffset now)
    {
        var next = (Title: title?.Trim() ?? file.Title, Classification: classification ?? file.Classification,
            Tags: tags is null ? file.Tags : Tags(tags), Body: body ?? file.Body);
        var errors = Validate(next.Title, next.Classification, next.Tags, next.Body);
        if (errors.Count > 0) return OrgDecision.Refuse(Problem.Validation(errors));
        if (next.Title == file.Title && next.Classification == file.Classification && next.Tags.SequenceEqual(file.Tags) && next.Body == file.Body)
            return OrgDecision.Accept();
        return OrgDecision.Accept(new CaseFileRevised(file.Id, next.Title, next.Classification, next.Tags, next.Body, by, now));
    }

    /// <param name="maxEntries">
    /// The most entries a file holds (TenantEvents:MaxCaseFileEntries): the file, its snapshot and every read of it grow
    /// with its entries, and a partner's comments land in the owner's file; past the bound the file is full.
    /// </param>
    public static OrgDecision AddEntry(CaseFile file, string kind, string? text, Guid fromTenant, Actor by, DateTimeOffset now, Guid entryId,
        int maxEntries)
    {
        if (string.IsNullOrWhiteSpace(text)) return OrgDecision.Refuse(Problem.Validation("text", "required", "the text is required."));
        if (text.Length > MaxEntry) return OrgDecision.Refuse(Problem.Validation("text", "too-long", $"at most {MaxEntry} characters."));
        if (file.Entries.Count >= maxEntries)
            return OrgDecision.Refuse(Problem.LimitReached("case-file-full", "The case file holds as many entries as it may",
                $"A case file holds at most {maxEntries} comments and contributions; open a new file for what follows.", maxEntries,
                nameof(TenantEventsOptions.MaxCaseFileEntries)).With("entries", file.Entries.Count));
        return OrgDecision.Accept(new CaseFileEntryAdded(file.Id, entryId, kind, text, fromTenant, by, now));
    }

    /// <summary>Permissions as given: known, each once, in their order; read is always included.</summary>
    public static IReadOnlyList<string>? Permissions(IReadOnlyList<string?>? given, string field, List<FieldError> errors)
    {
        if (given is null || given.Count == 0) return ["read"];
        if (given.Any(p => p is null || !SharePermissions.Contains(p)))
        {
            errors.Add(new(field, "unknown-permission", $"each one of {string.Join(", ", SharePermissions)}."));
            return null;
        }
        return SharePermissions.Where(p => p == "read" || given.Contains(p)).ToList();
    }
}
