using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Marten;
using Npgsql;
using NpgsqlTypes;
using TenantEvents.CaseFiles;
using TenantEvents.Infrastructure;
using TenantEvents.Keys;
using TenantEvents.Tenants;
using Wolverine.Runtime;

namespace TenantEvents.Sharing;

/// <summary>
/// Case files, agreements and collaborations as stored: each a stream of sealed events in its owning tenant and a sealed
/// snapshot row (with the plain columns that queries and row-level security need: ids, classification, blind-index
/// tokens, states, times), both written in one transaction. Shares are materialised here, in the owner's transaction,
/// by the one rule of <see cref="Visibility"/>.
/// </summary>
public sealed partial class SharingStore(TenantStreams streams)
{
    public const string CaseFileRecordType = "case_file_record";
    public const string AgreementRecordType = "sharing_agreement_record";
    public const string CollaborationRecordType = "collaboration_record";

    public string Schema => streams.Keys.Schema;

    public TenantStreams Streams => streams;

    public DateTimeOffset Now => streams.Now;

    /// <param name="context">The request's outbox (bound to this tenant from now on); null for a second tenant's transaction in one request.</param>
    /// <summary>
    /// The clock for expiry, and no JIT compilation: these are short queries whose cost estimates (arrays, row-level
    /// security) can look large enough to trigger it, which then costs more than the query.
    /// </summary>
    private static readonly string SetClock = $"select set_config('{SharingSchema.NowSetting}', $1, true), set_config('jit', 'off', true)";

    public async Task<TenantTransaction> BeginAsync(MessageContext? context, Guid tenant, CancellationToken cancellation)
    {
        var tx = await streams.BeginAsync(context, tenant, cancellation);
        try
        {
            await tx.ExecuteAsync(SetClock, cancellation, Now.ToString("O"));
            return tx;
        }
        catch
        {
            await tx.DisposeAsync();
            throw;
        }
    }

    /// <summary>A read-only transaction as the tenant (row-level security: its own rows and what is shared with it), with the clock.</summary>
    public async Task<Infrastructure.Databases.TenantReadScope> ReadAsync(Guid tenant, CancellationToken cancellation)
    {
        var scope = await Infrastructure.Databases.TenantReadScope.OpenAsync(streams.Databases, tenant, cancellation);
        await using var now = Command(SetClock, scope.Connection, Now.ToString("O"));
        await now.ExecuteNonQueryAsync(cancellation);
        return scope;
    }

    // ---- sealed snapshots -----------------------------------------------------------------------------------------

    public async Task<SealedPayload> SealAsync<T>(Guid tenant, T value, Guid stream, string type, CancellationToken cancellation) =>
        await streams.SealBytesAsync(tenant, JsonSerializer.SerializeToUtf8Bytes(value, SealedJson.Options), stream, type, cancellation);

    public async Task<T> OpenAsync<T>(Guid tenant, SealedPayload payload, Guid stream, string type, CancellationToken cancellation) =>
        JsonSerializer.Deserialize<T>(await streams.OpenBytesAsync(tenant, payload, stream, type, cancellation), SealedJson.Options)!;

    /// <summary>Appends the events (sealed, bound to the stream) at the expected version: a concurrent writer makes the commit fail.</summary>
    public Task AppendAsync(TenantTransaction tx, Guid stream, long versionAfter, IReadOnlyList<object> events, bool start,
        CancellationToken cancellation) => tx.AppendAsync(stream, events, cancellation, versionAfter, start);

    // ---- blind index ------------------------------------------------------------------------------------------------

    [GeneratedRegex(@"[\p{L}\p{N}]+")]
    private static partial Regex Words();

    /// <summary>The search terms of a text: words of two or more letters or digits, lower case, each once.</summary>
    public static IReadOnlyList<string> Terms(params string?[] texts) =>
        texts.Where(t => t is not null).SelectMany(t => Words().Matches(t!).Select(m => m.Value.ToLowerInvariant()))
            .Where(w => w.Length is >= 2 and <= 64).Distinct().Take(5000).ToList();

    /// <summary>
    /// Tokens of terms under the tenant's index key (derived from its first data key, which never changes; shredding the
    /// tenant destroys it, and the stored tokens become meaningless). Without sealing: a plain hash bound to the tenant.
    /// </summary>
    public async Task<Func<string, string>> TokenizerAsync(Guid tenant, CancellationToken cancellation)
    {
        if (!streams.Options.Sealing)
            return term => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(tenant + ":" + term))[..16]);
        var key = await streams.Keys.VersionAsync(tenant, 1, cancellation);
        return key.IndexToken;
    }

    public static string TagTerm(string tag) => "tag:" + tag;

    // ---- case files -------------------------------------------------------------------------------------------------

    /// <summary>The file as the tenant's transaction sees it: its own, or (read-only) one shared with it now; with its owner.</summary>
    public async Task<(CaseFile File, Guid Owner)?> LoadCaseFileAsync(NpgsqlConnection connection, Guid id, CancellationToken cancellation,
        bool forUpdate = false)
    {
        await using var command = Command($"select tenant_id, version, key_version, nonce, ciphertext from {Schema}.case_files where id = $1" +
                                          (forUpdate ? " for update" : ""), connection, id);
        await using var reader = await command.ExecuteReaderAsync(cancellation);
        if (!await reader.ReadAsync(cancellation)) return null;
        var owner = Guid.Parse(reader.GetString(0));
        var version = reader.GetInt64(1);
        var payload = new SealedPayload(reader.GetInt32(2), (byte[])reader[3], (byte[])reader[4]);
        await reader.DisposeAsync();
        var file = await OpenAsync<CaseFile>(owner, payload, id, CaseFileRecordType, cancellation);
        file.Version = version;
        return (file, owner);
    }

    /// <summary>Writes the events and the new snapshot of a file of the transaction's tenant, and re-derives its agreement shares.</summary>
    public async Task SaveCaseFileAsync(TenantTransaction tx, CaseFile? before, IReadOnlyList<object> events, CancellationToken cancellation)
    {
        var file = before;
        foreach (var e in events) file = CaseFile.Apply(file, e, tx.Tenant);
        file!.Version = (before?.Version ?? 0) + events.Count;
        await AppendAsync(tx, file.Id, file.Version, events, start: before is null, cancellation);
        var tokenize = await TokenizerAsync(tx.Tenant, cancellation);
        var tagTokens = file.Tags.Select(t => tokenize(TagTerm(t))).ToArray();
        var searchTokens = Terms([file.Title, file.Body, .. file.Tags]).Select(tokenize).Concat(tagTokens).Distinct().ToArray();
        var snapshot = await SealAsync(tx.Tenant, file, file.Id, CaseFileRecordType, cancellation);
        await tx.ExecuteAsync($"""
            insert into {Schema}.case_files (tenant_id, id, org_id, classification, tag_tokens, search_tokens, version, key_version, nonce, ciphertext,
              created_at, updated_at)
            values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
            on conflict (tenant_id, id) do update set org_id = excluded.org_id, classification = excluded.classification,
              tag_tokens = excluded.tag_tokens, search_tokens = excluded.search_tokens, version = excluded.version,
              key_version = excluded.key_version, nonce = excluded.nonce, ciphertext = excluded.ciphertext, updated_at = excluded.updated_at
            """, cancellation, tx.Tenant.ToString(), file.Id, file.OrganisationId, file.Classification, tagTokens, searchTokens, file.Version,
            snapshot.KeyVersion, snapshot.Nonce, snapshot.Ciphertext, file.CreatedAt, file.UpdatedAt);
        foreach (var e in events)
            switch (e)
            {
                case CaseFileShared s:
                    await tx.ExecuteAsync($"""
                        insert into {Schema}.case_shares (tenant_id, file_id, source_id, source_kind, grantee_tenant, permissions, expires_at, shared_at, file_updated_at,
                          file_classification, file_tag_tokens)
                        values ($1, $2, $3, 'collaboration', null, $4, null, $5, $6, $7, $8)
                        on conflict (tenant_id, file_id, source_id) do update set permissions = excluded.permissions
                        """, cancellation, tx.Tenant.ToString(), file.Id, s.CollaborationId, s.Permissions.ToArray(), s.At, file.UpdatedAt, file.Classification, tagTokens);
                    break;
                case CaseFileUnshared u:
                    await tx.ExecuteAsync($"delete from {Schema}.case_shares where tenant_id = $1 and file_id = $2 and source_id = $3", cancellation,
                        tx.Tenant.ToString(), file.Id, u.CollaborationId);
                    break;
            }
        if (before is null || events.Any(e => e is CaseFileRevised)) await Visibility.RefreshFileSharesAsync(this, tx, file.Id, cancellation);
        await tx.ExecuteAsync($"""
            update {Schema}.case_shares set file_updated_at = $3, file_classification = $4, file_tag_tokens = $5 where tenant_id = $1 and file_id = $2
            """, cancellation, tx.Tenant.ToString(), file.Id, file.UpdatedAt, file.Classification, tagTokens);
    }

    // ---- agreements -------------------------------------------------------------------------------------------------

    /// <summary>An agreement the tenant is a party to (row-level security shows the owner's and the recipient's), with its owner.</summary>
    public async Task<SharingAgreement?> LoadAgreementAsync(NpgsqlConnection connection, Guid id, CancellationToken cancellation, bool forUpdate = false)
    {
        await using var command = Command($"select tenant_id, version, key_version, nonce, ciphertext from {Schema}.sharing_agreements where id = $1" +
                                          (forUpdate ? " for update" : ""), connection, id);
        await using var reader = await command.ExecuteReaderAsync(cancellation);
        if (!await reader.ReadAsync(cancellation)) return null;
        var owner = Guid.Parse(reader.GetString(0));
        var version = reader.GetInt64(1);
        var payload = new SealedPayload(reader.GetInt32(2), (byte[])reader[3], (byte[])reader[4]);
        await reader.DisposeAsync();
        var agreement = await OpenAsync<SharingAgreement>(owner, payload, id, AgreementRecordType, cancellation);
        agreement.Version = version;
        return agreement;
    }

    public async Task<IReadOnlyList<SharingAgreement>> AgreementsAsync(NpgsqlConnection connection, CancellationToken cancellation)
    {
        var rows = new List<(Guid Owner, Guid Id, long Version, SealedPayload Payload)>();
        await using (var command = Command($"select tenant_id, id, version, key_version, nonce, ciphertext from {Schema}.sharing_agreements order by created_at, id",
                         connection))
        await using (var reader = await command.ExecuteReaderAsync(cancellation))
            while (await reader.ReadAsync(cancellation))
                rows.Add((Guid.Parse(reader.GetString(0)), reader.GetGuid(1), reader.GetInt64(2),
                    new SealedPayload(reader.GetInt32(3), (byte[])reader[4], (byte[])reader[5])));
        var list = new List<SharingAgreement>();
        foreach (var row in rows)
        {
            try
            {
                var a = await OpenAsync<SharingAgreement>(row.Owner, row.Payload, row.Id, AgreementRecordType, cancellation);
                a.Version = row.Version;
                list.Add(a);
            }
            catch (KeyDestroyedException)
            {
                // The owner was decommissioned and shredded: its offers are gone with it.
            }
        }
        return list;
    }

    /// <summary>Writes the events and snapshot of an agreement of the transaction's tenant (its owner) and re-derives its shares.</summary>
    public async Task<SharingAgreement> SaveAgreementAsync(TenantTransaction tx, SharingAgreement? before, IReadOnlyList<object> events,
        CancellationToken cancellation)
    {
        var a = before;
        foreach (var e in events) a = SharingAgreement.Apply(a, e);
        a!.Version = (before?.Version ?? 0) + events.Count;
        if (events.Count == 0) return a;
        await AppendAsync(tx, a.Id, a.Version, events, start: before is null, cancellation);
        var tokenize = await TokenizerAsync(tx.Tenant, cancellation);
        var snapshot = await SealAsync(tx.Tenant, a, a.Id, AgreementRecordType, cancellation);
        await tx.ExecuteAsync($"""
            insert into {Schema}.sharing_agreements (tenant_id, id, recipient_tenant, state, expires_at, version, key_version, nonce, ciphertext,
              scope_file_ids, scope_classifications, scope_tag_tokens, owner_org, permissions, created_at, updated_at)
            values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15)
            on conflict (tenant_id, id) do update set state = excluded.state, expires_at = excluded.expires_at, version = excluded.version,
              key_version = excluded.key_version, nonce = excluded.nonce, ciphertext = excluded.ciphertext, scope_file_ids = excluded.scope_file_ids,
              scope_classifications = excluded.scope_classifications, scope_tag_tokens = excluded.scope_tag_tokens, permissions = excluded.permissions,
              updated_at = excluded.updated_at
            """, cancellation, tx.Tenant.ToString(), a.Id, a.RecipientTenantId.ToString(), a.State, a.ExpiresAt, a.Version, snapshot.KeyVersion,
            snapshot.Nonce, snapshot.Ciphertext, a.Scope.CaseFileIds.ToArray(), a.Scope.Classifications.ToArray(),
            a.Scope.Tags.Select(t => tokenize(TagTerm(t))).ToArray(), a.OwnerOrganisationId, a.Permissions.ToArray(), Now);
        await tx.ExecuteAsync($"update {Schema}.sharing_agreements set recipient_orgs = $3 where tenant_id = $1 and id = $2", cancellation,
            tx.Tenant.ToString(), a.Id, a.RecipientOrganisationIds.ToArray());
        await Visibility.RefreshAgreementSharesAsync(this, tx, a.Id, cancellation);
        return a;
    }

    // ---- collaborations ---------------------------------------------------------------------------------------------

    public async Task<(Collaboration Collaboration, Guid Convenor)?> LoadCollaborationAsync(NpgsqlConnection connection, Guid id,
        CancellationToken cancellation, bool forUpdate = false)
    {
        await using var command = Command($"select tenant_id, version, key_version, nonce, ciphertext from {Schema}.collaborations where id = $1" +
                                          (forUpdate ? " for update" : ""), connection, id);
        await using var reader = await command.ExecuteReaderAsync(cancellation);
        if (!await reader.ReadAsync(cancellation)) return null;
        var owner = Guid.Parse(reader.GetString(0));
        var version = reader.GetInt64(1);
        var payload = new SealedPayload(reader.GetInt32(2), (byte[])reader[3], (byte[])reader[4]);
        await reader.DisposeAsync();
        var c = await OpenAsync<Collaboration>(owner, payload, id, CollaborationRecordType, cancellation);
        c.Version = version;
        return (c, owner);
    }

    public async Task<IReadOnlyList<Collaboration>> CollaborationsAsync(NpgsqlConnection connection, CancellationToken cancellation)
    {
        var rows = new List<(Guid Owner, Guid Id, long Version, SealedPayload Payload)>();
        await using (var command = Command($"select tenant_id, id, version, key_version, nonce, ciphertext from {Schema}.collaborations order by created_at, id",
                         connection))
        await using (var reader = await command.ExecuteReaderAsync(cancellation))
            while (await reader.ReadAsync(cancellation))
                rows.Add((Guid.Parse(reader.GetString(0)), reader.GetGuid(1), reader.GetInt64(2),
                    new SealedPayload(reader.GetInt32(3), (byte[])reader[4], (byte[])reader[5])));
        var list = new List<Collaboration>();
        foreach (var row in rows)
        {
            try
            {
                var c = await OpenAsync<Collaboration>(row.Owner, row.Payload, row.Id, CollaborationRecordType, cancellation);
                c.Version = row.Version;
                list.Add(c);
            }
            catch (KeyDestroyedException)
            {
            }
        }
        return list;
    }

    public async Task<Collaboration> SaveCollaborationAsync(TenantTransaction tx, Collaboration? before, IReadOnlyList<object> events,
        CancellationToken cancellation)
    {
        var c = before;
        foreach (var e in events) c = Collaboration.Apply(c, e);
        c!.Version = (before?.Version ?? 0) + events.Count;
        if (events.Count == 0) return c;
        await AppendAsync(tx, c.Id, c.Version, events, start: before is null, cancellation);
        var snapshot = await SealAsync(tx.Tenant, c, c.Id, CollaborationRecordType, cancellation);
        await tx.ExecuteAsync($"""
            insert into {Schema}.collaborations (tenant_id, id, kind, open, version, key_version, nonce, ciphertext, created_at, updated_at)
            values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
            on conflict (tenant_id, id) do update set open = excluded.open, version = excluded.version, key_version = excluded.key_version,
              nonce = excluded.nonce, ciphertext = excluded.ciphertext, updated_at = excluded.updated_at
            """, cancellation, tx.Tenant.ToString(), c.Id, c.Kind, c.Open, c.Version, snapshot.KeyVersion, snapshot.Nonce, snapshot.Ciphertext,
            c.CreatedAt, Now);
        // Membership as the database checks it: a closed collaboration has no members.
        await tx.ExecuteAsync($"delete from {Schema}.collaboration_members where tenant_id = $1 and collab_id = $2", cancellation,
            tx.Tenant.ToString(), c.Id);
        var members = c.Members.Values.ToList();
        await tx.ExecuteAsync($"""
            insert into {Schema}.collaboration_members (tenant_id, collab_id, member_tenant, state, since)
            select $1, $2, m, case when $6 then s else 'closed' end, t from unnest($3::text[], $4::text[], $5::timestamptz[]) x(m, s, t)
            """, cancellation, tx.Tenant.ToString(), c.Id, members.Select(m => m.TenantId.ToString()).ToArray(), members.Select(m => m.State).ToArray(),
            members.Select(m => m.Since).ToArray(), c.Open);
        return c;
    }

    // ---- plumbing ---------------------------------------------------------------------------------------------------

    public static NpgsqlCommand Command(string sql, NpgsqlConnection connection, params object?[] values) =>
        Infrastructure.Databases.Sql.Command(connection, null, sql, values);
}
