using TenantEvents.CaseFiles;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Databases;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Organisations;
using TenantEvents.Scim;
using TenantEvents.Sharing;
using TenantEvents.Tenants;
using Wolverine;
using Wolverine.Runtime;

namespace TenantEvents.Compliance;

/// <param name="CaseFiles">redact (the passages naming the person become "[erased]", a revision of the file) or retain.</param>
/// <param name="RetentionBasis">Why case files are retained (GDPR Art. 17(3)): required with retain.</param>
public sealed record ErasureChoice(string CaseFiles, string? RetentionBasis);

/// <param name="EarlierRequests">The tenant's other requests about the same person: their keys go too (they name the person).</param>
public sealed record ErasureOutcome(IReadOnlyList<string> Erased, IReadOnlyList<RetainedRecords> Retained, IReadOnlyList<ErasureRecipient> Recipients,
    IReadOnlyList<Guid> EarlierRequests);

/// <summary>
/// Erasure of one person (GDPR Art. 17) through each capability's own write path: their directory records deleted and
/// the keys their data was sealed under destroyed (every past event holding it becomes unreadable, the ledger, which
/// commits to the sealed bytes, still verifies); their memberships and grants removed; their contact entries erased
/// (key destroyed once the commit is certain); case files naming them redacted (or retained, with the basis); then the
/// recipients told (Art. 19): partner tenants the files were shared with get a notice in their own compliance stream,
/// and the request's notice event reaches every webhook subscriber. Each step is idempotent: a fulfilment interrupted
/// half-way is run again and finds only what is left.
/// </summary>
public sealed class Erasure(TenantStreams streams, ScimStore scim, OrganisationStore organisations, SharingStore sharing, PersonalData finder,
    ComplianceStore store, IWolverineRuntime runtime)
{
    public const string AuditBasis =
        "The audit trail is immutable and kept for accountability and legal claims (GDPR Art. 17(3)(b) and (e)); its entries name the person only " +
        "by the identifiers their sign-ins carried, which nothing in the tenant links to them once their directory record is erased.";

    public async Task<ErasureOutcome> RunAsync(Tenant tenant, DataSubjectRequest request, PersonRecords found, ErasureChoice choice, Actor by,
        CancellationToken cancellation)
    {
        var erased = new List<string>();
        var retained = new List<RetainedRecords>();
        var phrases = PersonalData.Phrases(request.Subject);

        // Case files: who they went to first (the shares are the file's, whatever happens to it next), then redacted or kept.
        IReadOnlyDictionary<Guid, List<Guid>> partners;
        await using (var scope = await TenantReadScope.OpenAsync(streams.Databases, tenant.Id, cancellation))
            partners = await finder.RecipientsAsync(scope.Connection, tenant.Id, found.CaseFiles.Select(f => f.Id).ToList(), cancellation);
        if (found.CaseFiles.Count > 0)
        {
            if (choice.CaseFiles == "retain")
                retained.Add(new RetainedRecords("caseFiles", found.CaseFiles.Select(f => f.Id.ToString()).ToList(), choice.RetentionBasis!));
            else
            {
                foreach (var file in found.CaseFiles) await RedactAsync(tenant.Id, file.Id, phrases, by, cancellation);
                erased.Add("caseFiles");
            }
        }

        // Memberships and grants: removed in one organisation transaction.
        if (found.Memberships.Count > 0 || found.Grants.Count > 0)
        {
            var outcome = await organisations.Execute(new MessageContext(runtime), tenant.Id, g => OrgDecision.Accept(
                [
                    .. found.Memberships.Where(m => g.IsMember(m.OrganisationId, m.UserId))
                        .Select(m => (object)new MemberRemoved(m.OrganisationId, m.UserId, by, streams.Now)),
                    .. found.Grants.Where(x => g.FindGrant(x.GrantId) is not null).Select(x => (object)new GrantRevoked(x.OrganisationId, x.GrantId, by, streams.Now)),
                ]), cancellation);
            if (outcome is OrgRefused refused) throw new InvalidOperationException($"Memberships of an erased person not removed: {refused.Problem.Detail}");
            if (found.Memberships.Count > 0) erased.Add("memberships");
            if (found.Grants.Count > 0) erased.Add("grants");
        }

        // Directory records: deleted, then the person's key destroyed.
        foreach (var user in found.Directory)
        {
            var (error, _) = await scim.ExecuteAsync(new MessageContext(runtime), tenant.Id, by,
                snapshot => snapshot.Users.ContainsKey(user.Id) ? ScimResources.DeleteDecision(snapshot, user.Id, ScimResource.User, null) : ScimDecision.Make(),
                cancellation);
            if (error is not null) throw new InvalidOperationException($"Directory record {user.Id} of an erased person not deleted: {error.Detail}");
            await streams.Keys.EraseSubjectAsync(tenant.Id, user.Id, cancellation);
        }
        if (found.Directory.Count > 0) erased.Add("directory");

        // Contacts: erased on the tenant's stream; each key destroyed through the outbox once that commit is certain.
        foreach (var contact in found.Contacts)
        {
            // A concurrent write to the tenant loses nothing: the step is tried again (it erases nothing twice).
            Outcome outcome = new LostRace(false, null);
            for (var attempt = 0; attempt < 3 && outcome is LostRace; attempt++)
                outcome = await streams.Execute(new MessageContext(runtime), tenant.Id, null,
                    (t, now) => TenantDecisions.EraseContact(t, contact.SubjectId, by, now), cancellation,
                    alongside: async (t, events, _, outbox) =>
                    {
                        foreach (var e in events.OfType<ContactErased>())
                            await outbox.PublishAsync(new EraseSubjectKey(t.Id, e.SubjectId), new DeliveryOptions { TenantId = t.Id.ToString() });
                    });
            if (outcome is not Applied) throw new InvalidOperationException($"Contact {contact.SubjectId} of an erased person not erased: {outcome}");
        }
        if (found.Contacts.Count > 0) erased.Add("contacts");

        if (found.AuditEntries.Count > 0)
            retained.Add(new RetainedRecords("auditEntries", found.AuditEntries.Select(e => e.Index.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToList(),
                AuditBasis));

        // Art. 19: the partners the files went to, each told in its own tenant; and every webhook subscriber of this one.
        var recipients = new List<ErasureRecipient>();
        foreach (var (partner, files) in partners)
        {
            // Under the partner's profile lock; told once per request (a fulfilment run again does not tell twice). A
            // partner decommissioned since has nobody left to tell.
            try
            {
                await using var tx = await streams.BeginAsync(null, partner, cancellation);
                await tx.LockAsync("compliance-profile", cancellation);
                var profile = await store.LoadProfileAsync(tx.Session, partner, cancellation);
                if (profile.ErasureNotices.All(n => n.RequestId != request.Id))
                {
                    await store.AppendProfileAsync(tx, profile, [new ErasureNoticeReceived(tenant.Id, request.Id, files, streams.Now)], cancellation);
                    await tx.CommitAsync(cancellation);
                }
                recipients.Add(new ErasureRecipient("partner-tenant", partner.ToString(), files));
            }
            catch (Keys.KeyDestroyedException)
            {
            }
        }
        await using (var scope = await TenantReadScope.OpenAsync(streams.Databases, tenant.Id, cancellation))
        await using (var command = Sql.Command(scope.Connection, scope.Transaction,
                         $"select id from {streams.Options.DatabaseSchema}.webhook_subscriptions where tenant_id = $1 and state = 'active' order by id", tenant.Id.ToString()))
        await using (var reader = await command.ExecuteReaderAsync(cancellation))
            while (await reader.ReadAsync(cancellation)) recipients.Add(new ErasureRecipient("webhook", reader.GetGuid(0).ToString()));
        return new ErasureOutcome(erased, retained, recipients, await EarlierRequestsAsync(tenant.Id, request, cancellation));
    }

    /// <summary>The tenant's other requests about the same address (access, rectification...): they name the person too.</summary>
    private async Task<IReadOnlyList<Guid>> EarlierRequestsAsync(Guid tenant, DataSubjectRequest request, CancellationToken cancellation)
    {
        var same = new List<Guid>();
        string? cursor = null;
        do
        {
            var (items, next) = await store.PageAsync<DataSubjectRequest>(tenant, "request", null, cursor, 200, cancellation);
            same.AddRange(items.Where(r => r.Id != request.Id && !r.Subject.Erased
                                           && string.Equals(r.Subject.Email, request.Subject.Email, StringComparison.OrdinalIgnoreCase)).Select(r => r.Id));
            cursor = next;
        } while (cursor is not null);
        return same;
    }

    private async Task RedactAsync(Guid tenant, Guid id, IReadOnlyList<string> phrases, Actor by, CancellationToken cancellation)
    {
        await using var tx = await sharing.BeginAsync(null, tenant, cancellation);
        await tx.ExecuteAsync($"select 1 from {sharing.Schema}.case_files where tenant_id = $1 and id = $2 for update", cancellation, tenant.ToString(), id);
        if (await sharing.LoadCaseFileAsync(tx.Connection, id, cancellation) is not var (file, owner) || owner != tenant) return;
        var tags = file.Tags.Where(t => PersonalData.Mentions(new CaseFile { Tags = [t] }, phrases).Count == 0).ToList();
        // "[erased]" may be longer than what it replaces: a file at its bounds keeps them (the end gives way).
        static string Fit(string text, int max) => text.Length <= max ? text : text[..max];
        var decision = CaseFileDecisions.Revise(file, Fit(PersonalData.Redact(file.Title, phrases), CaseFileDecisions.MaxTitle), file.Classification, tags,
            Fit(PersonalData.Redact(file.Body, phrases), CaseFileDecisions.MaxBody), by, streams.Now);
        if (decision.Refusal is not null) throw new InvalidOperationException($"Case file {id} not redacted: {decision.Refusal.Detail}");
        if (decision.Events.Count == 0) return;
        await sharing.SaveCaseFileAsync(tx, file, decision.Events, cancellation);
        await tx.Session.SaveChangesAsync(cancellation);
    }
}
