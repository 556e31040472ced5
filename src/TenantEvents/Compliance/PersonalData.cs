using System.Text.Json;
using Npgsql;
using TenantEvents.CaseFiles;
using TenantEvents.Infrastructure.Databases;
using TenantEvents.Organisations;
using TenantEvents.Scim;
using TenantEvents.Sharing;
using TenantEvents.Tenants;

namespace TenantEvents.Compliance;

public sealed record ContactFound(Guid SubjectId, string Name, string Email, string? Role, string As);
public sealed record DirectoryRecordFound(Guid Id, string? UserName, string? ExternalId, JsonElement Resource);
public sealed record MembershipFound(Guid OrganisationId, string? OrganisationName, string UserId);
public sealed record GrantFound(Guid GrantId, Guid OrganisationId, string? OrganisationName, string Role, string UserId, DateTimeOffset At);
public sealed record AuditEntryFound(long Index, DateTimeOffset At, string Type, string StreamKind, Guid StreamId, string? ActorSubject);
public sealed record Mention(string Field, string Excerpt);
/// <param name="Withheld">Mentions not shown: the file is beyond the case files the handler may read (they see that it names the person, not where).</param>
public sealed record CaseFileFound(Guid Id, Guid OrganisationId, string Classification, DateTimeOffset CreatedAt, IReadOnlyList<Mention> Mentions,
    int Withheld = 0);

/// <summary>What a tenant holds about one person, found from their e-mail address (and name, for case files).</summary>
public sealed record PersonRecords(
    IReadOnlyList<string> Identifiers, IReadOnlyList<ContactFound> Contacts, IReadOnlyList<DirectoryRecordFound> Directory,
    IReadOnlyList<MembershipFound> Memberships, IReadOnlyList<GrantFound> Grants, IReadOnlyList<AuditEntryFound> AuditEntries,
    IReadOnlyList<CaseFileFound> CaseFiles)
{
    public IReadOnlyDictionary<string, int> Counts => new Dictionary<string, int>
    {
        ["contacts"] = Contacts.Count, ["directory"] = Directory.Count, ["memberships"] = Memberships.Count, ["grants"] = Grants.Count,
        ["auditEntries"] = AuditEntries.Count, ["caseFiles"] = CaseFiles.Count,
    };

    public bool Empty => Counts.Values.All(c => c == 0);
}

/// <summary>
/// Finds a person's records in each capability of a tenant: the tenant's contacts with their address; directory users
/// (SCIM) whose userName or e-mails hold it; the organisations those users (by id, userName, externalId: the subjects
/// tokens carry) are members of and the roles granted to them; the audit entries they acted in or that are about their
/// directory record (metadata only: an entry's content may be about others); and the case files naming them, found
/// through the blind index (every word of the address, or of the name) and confirmed on the opened text, each shown
/// as the passages that name them, never the whole file. Nothing of another person is read out.
/// </summary>
public sealed class PersonalData(TenantStreams streams, ScimStore scim, OrganisationStore organisations, SharingStore sharing,
    TenantEvents.Audit.AuditProjector audit)
{
    /// <summary>The most audit entries a package lists (the newest); the count says when there were more.</summary>
    public const int MaxAuditEntries = 2000;
    public const int MaxCaseFiles = 500;

    /// <param name="caseReach">The organisations whose case files the handler may read (their passages are shown; of the
    /// rest, only that the file names the person); null: every file.</param>
    public async Task<PersonRecords> FindAsync(Tenant tenant, DataSubject subject, CancellationToken cancellation, Func<Guid, bool>? caseReach = null)
    {
        var email = subject.Email;
        var contacts = tenant.Contacts.Select(c => (Contact: c, As: "contact")).Append((Contact: tenant.RequestedFor!, As: "requested-for"))
            .Where(c => c.Contact is { Erased: false, SubjectId: not null } && string.Equals(c.Contact.Email, email, StringComparison.OrdinalIgnoreCase))
            .Select(c => new ContactFound(c.Contact.SubjectId!.Value, c.Contact.Name, c.Contact.Email, c.Contact.Role, c.As)).ToList();

        var directory = await scim.ReadAsync(tenant.Id, s => s.UserArray.Where(u => NamesAddress(u, email))
            .Select(u => new DirectoryRecordFound(u.Id, u.Text("userName"), u.Text("externalId"), u.Body.Clone())).ToList(), cancellation);
        var identifiers = new HashSet<string>(StringComparer.Ordinal) { email };
        foreach (var d in directory)
        {
            identifiers.Add(d.Id.ToString());
            if (d.UserName is { } n) identifiers.Add(n);
            if (d.ExternalId is { } x) identifiers.Add(x);
        }

        var (memberships, grants) = await organisations.ReadAsync(tenant.Id, g =>
        (
            identifiers.SelectMany(id => g.MembershipsOf(id).Select(o => new MembershipFound(o, g.Find(o)?.Name, id))).ToList(),
            g.AllGrants.Where(x => x.Principal.Kind == Principal.User && identifiers.Contains(x.Principal.Id))
                .Select(x => new GrantFound(x.Id, x.OrganisationId, g.Find(x.OrganisationId)?.Name, x.Role, x.Principal.Id, x.At)).ToList()
        ), cancellation);

        var audit = await AuditEntriesAsync(tenant.Id, identifiers, directory.Select(d => d.Id).ToArray(), cancellation);
        var caseFiles = (await CaseFilesAsync(tenant.Id, subject, cancellation))
            .Select(f => caseReach is null || caseReach(f.OrganisationId) ? f : f with { Mentions = [], Withheld = f.Mentions.Count }).ToList();
        return new PersonRecords(identifiers.Order(StringComparer.Ordinal).ToList(), contacts, directory, memberships, grants, audit, caseFiles);
    }

    /// <summary>
    /// Whether a directory user is the person with this address: their userName, or their primary (or only) e-mail. An
    /// address merely listed among several others on someone's record does not make that record theirs.
    /// </summary>
    private static bool NamesAddress(ScimResource user, string email)
    {
        if (string.Equals(user.Text("userName"), email, StringComparison.OrdinalIgnoreCase)) return true;
        if (ScimValues.Property(user.Body, "emails") is not { ValueKind: JsonValueKind.Array } emails) return false;
        var all = emails.EnumerateArray().ToList();
        return all.Any(e => ScimValues.Property(e, "value") is { ValueKind: JsonValueKind.String } v && string.Equals(v.GetString(), email, StringComparison.OrdinalIgnoreCase)
                            && (all.Count == 1 || ScimValues.Property(e, "primary") is { ValueKind: JsonValueKind.True }));
    }

    /// <summary>
    /// The phrases that name the person in free text: their address, and their name only when it is a full name (two
    /// words or more, of at least two letters each, five letters or more in all): a single word ("the", "Al") names nobody.
    /// </summary>
    public static IReadOnlyList<string> Phrases(DataSubject subject)
    {
        var phrases = new List<string> { subject.Email };
        if (subject.Name is { } name && name.Split(' ', StringSplitOptions.RemoveEmptyEntries) is { Length: >= 2 } words
            && words.All(w => w.Count(char.IsLetter) >= 2) && words.Sum(w => w.Length) >= 5)
            phrases.Add(string.Join(' ', words));
        return phrases;
    }

    /// <summary>
    /// Where a phrase stands as a whole in a text (case-insensitive): not inside a longer word or address (jimbob@x.com
    /// does not hold bob@x.com, nor bob@x.com.org). A plain scan: no pattern, so no input can make it slow.
    /// </summary>
    public static IEnumerable<(int Index, int Length)> Occurrences(string text, string phrase)
    {
        static bool Word(char c) => char.IsLetterOrDigit(c);
        for (var at = text.IndexOf(phrase, StringComparison.OrdinalIgnoreCase); at >= 0 && phrase.Length > 0;
             at = text.IndexOf(phrase, at + 1, StringComparison.OrdinalIgnoreCase))
        {
            var end = at + phrase.Length;
            var before = at > 0 ? text[at - 1] : ' ';
            var after = end < text.Length ? text[end] : ' ';
            var afterNext = end + 1 < text.Length ? text[end + 1] : ' ';
            if (Word(before) || before is '.' or '_' or '%' or '+' or '-' or '@') continue;
            if (Word(after) || (after is '.' or '-' or '@' && Word(afterNext))) continue;
            yield return (at, phrase.Length);
        }
    }

    private async Task<IReadOnlyList<AuditEntryFound>> AuditEntriesAsync(Guid tenant, IReadOnlyCollection<string> subjects, Guid[] streamsAbout,
        CancellationToken cancellation)
    {
        // Everything committed so far is in the audit model first (as the audit routes do), so the package is complete.
        await audit.CatchUpAsync(tenant, cancellation);
        await using var scope = await TenantReadScope.OpenAsync(streams.Databases, tenant, cancellation);
        await using var command = Sql.Command(scope.Connection, scope.Transaction, $"""
            select log_index, at, type, stream_kind, stream_id, actor_subject from {streams.Options.DatabaseSchema}.audit_entries
            where tenant_id = $1 and (actor_subject = any($2) or stream_id = any($3))
            order by log_index desc limit $4
            """, tenant.ToString(), subjects.ToArray(), streamsAbout, MaxAuditEntries);
        var found = new List<AuditEntryFound>();
        await using var reader = await command.ExecuteReaderAsync(cancellation);
        while (await reader.ReadAsync(cancellation))
            found.Add(new AuditEntryFound(reader.GetInt64(0), reader.GetFieldValue<DateTimeOffset>(1), reader.GetString(2), reader.GetString(3),
                reader.GetGuid(4), reader.IsDBNull(5) ? null : reader.GetString(5)));
        found.Reverse();
        return found;
    }

    /// <summary>The tenant's own case files that name the person (address or full name) in their title, body or tags.</summary>
    public async Task<IReadOnlyList<CaseFileFound>> CaseFilesAsync(Guid tenant, DataSubject subject, CancellationToken cancellation)
    {
        var tokenize = await sharing.TokenizerAsync(tenant, cancellation);
        var phrases = Phrases(subject);
        var candidates = new HashSet<Guid>();
        await using var scope = await TenantReadScope.OpenAsync(streams.Databases, tenant, cancellation);
        foreach (var phrase in phrases)
        {
            var tokens = SharingStore.Terms(phrase).Select(tokenize).ToArray();
            if (tokens.Length == 0) continue;
            await using var command = Sql.Command(scope.Connection, scope.Transaction,
                $"select id from {streams.Options.DatabaseSchema}.case_files where tenant_id = $1 and search_tokens @> $2 limit $3",
                tenant.ToString(), tokens, MaxCaseFiles);
            await using var reader = await command.ExecuteReaderAsync(cancellation);
            while (await reader.ReadAsync(cancellation)) candidates.Add(reader.GetGuid(0));
        }
        var found = new List<CaseFileFound>();
        foreach (var id in candidates.Order())
        {
            if (await sharing.LoadCaseFileAsync(scope.Connection, id, cancellation) is not var (file, owner) || owner != tenant) continue;
            var mentions = Mentions(file, phrases);
            if (mentions.Count > 0) found.Add(new CaseFileFound(file.Id, file.OrganisationId, file.Classification, file.CreatedAt, mentions));
        }
        return found;
    }

    /// <summary>The passages of a file naming any of the phrases (a phrase with some 60 characters either side; never the whole file).</summary>
    public static IReadOnlyList<Mention> Mentions(CaseFile file, IReadOnlyList<string> phrases)
    {
        var mentions = new List<Mention>();
        void Scan(string field, string text)
        {
            foreach (var phrase in phrases)
                foreach (var (index, length) in Occurrences(text, phrase))
                {
                    var from = Math.Max(0, index - 60);
                    var to = Math.Min(text.Length, index + length + 60);
                    mentions.Add(new Mention(field, (from > 0 ? "..." : "") + text[from..to] + (to < text.Length ? "..." : "")));
                    if (mentions.Count >= 50) return;
                }
        }
        Scan("title", file.Title);
        Scan("body", file.Body);
        foreach (var tag in file.Tags) Scan("tags", tag);
        foreach (var entry in file.Entries) Scan($"entries/{entry.Id}", entry.Text);
        return mentions;
    }

    /// <summary>The text with every occurrence of the phrases replaced by "[erased]".</summary>
    public static string Redact(string text, IReadOnlyList<string> phrases) =>
        phrases.Aggregate(text, (t, p) =>
        {
            var result = new System.Text.StringBuilder(t.Length);
            var from = 0;
            foreach (var (index, length) in Occurrences(t, p).ToList())
            {
                result.Append(t, from, index - from).Append("[erased]");
                from = index + length;
            }
            return result.Append(t, from, t.Length - from).ToString();
        });

    /// <summary>The tenants the files were shared with (agreements' recipients, collaborations' other members), by file.</summary>
    public async Task<IReadOnlyDictionary<Guid, List<Guid>>> RecipientsAsync(NpgsqlConnection connection, Guid tenant, IReadOnlyCollection<Guid> files,
        CancellationToken cancellation)
    {
        var recipients = new Dictionary<Guid, List<Guid>>();
        if (files.Count == 0) return recipients;
        var s = streams.Options.DatabaseSchema;
        await using var command = Sql.Command(connection, null, $"""
            select distinct x.file_id, coalesce(x.grantee_tenant, m.member_tenant) from {s}.case_shares x
            left join {s}.collaboration_members m on x.grantee_tenant is null and m.collab_id = x.source_id and m.tenant_id = x.tenant_id
            where x.tenant_id = $1 and x.file_id = any($2)
            """, tenant.ToString(), files.ToArray());
        await using var reader = await command.ExecuteReaderAsync(cancellation);
        while (await reader.ReadAsync(cancellation))
            if (!reader.IsDBNull(1) && Guid.TryParse(reader.GetString(1), out var partner) && partner != tenant)
            {
                if (!recipients.TryGetValue(partner, out var list)) recipients[partner] = list = [];
                list.Add(reader.GetGuid(0));
            }
        return recipients;
    }
}
