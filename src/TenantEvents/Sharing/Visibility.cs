using System.Text.Json;
using Npgsql;
using NpgsqlTypes;
using TenantEvents.CaseFiles;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Organisations;
using TenantEvents.Tenants;

namespace TenantEvents.Sharing;

/// <summary>An agreement or collaboration through which a reader's tenant sees another tenant's files.</summary>
public sealed record ShareSource(Guid Id, string Kind, Guid OwnerTenant);

/// <summary>
/// Who reads, and through what: the reader's tenant; its own files at the organisations where it holds case.read (or all
/// of them); the live agreements addressed to its tenant that reach it (all, or those narrowed to organisations it reads
/// in) and the collaborations its tenant is a member of.
/// </summary>
/// <remarks>
/// <see cref="Members"/>: for each collaboration the reader's tenant belongs to, its member tenants now (a file shared
/// into it is visible while its owner is one of them).
/// </remarks>
public sealed record Reader(Guid Tenant, Actor Actor, Standing Standing, bool WholeTenant, Guid[] Organisations,
    IReadOnlyDictionary<Guid, ShareSource> Sources, DateTimeOffset Now, IReadOnlyList<(Guid Collaboration, Guid Member)> Members)
{
    public bool ReadsOwn(Guid org) => WholeTenant || Organisations.Contains(org);
    public Guid[] AgreementIds => Sources.Values.Where(s => s.Kind == "agreement").Select(s => s.Id).ToArray();
    public Guid[] CollaborationIds => Sources.Values.Where(s => s.Kind == "collaboration").Select(s => s.Id).ToArray();
}

/// <summary>
/// What a user may see of case files, decided here and nowhere else. The database holds the same rule per tenant
/// (row-level security, <see cref="SharingSchema"/>): a query that forgot this class would still see only its own
/// tenant's files and those shared with it; this class narrows that to the user (organisations, agreement narrowing)
/// and to what the caller asked for. Shares are materialised (case_shares) from the agreements' scopes by the two
/// Refresh methods, in the owner's transaction of every change of a file or an agreement.
/// </summary>
public static class Visibility
{
    /// <summary>The reader, built from its tenant's live sources (one query) and its standing in its organisation tree.</summary>
    public static async Task<Reader> ReaderAsync(NpgsqlConnection connection, string schema, Standing standing, Guid tenant,
        Func<Func<AccessGraph, Reader>, Task<Reader>> withGraph, DateTimeOffset now, CancellationToken cancellation)
    {
        var agreements = new List<(Guid Id, Guid Owner, Guid[] Orgs)>();
        var collaborations = new List<(Guid Id, Guid Convenor)>();
        var members = new List<(Guid Collaboration, Guid Member)>();
        await using (var batch = new NpgsqlBatch(connection))
        {
            batch.BatchCommands.Add(Batch($"""
                select id, tenant_id, recipient_orgs from {schema}.sharing_agreements
                where recipient_tenant = $1 and state = 'active' and expires_at > $2
                """, tenant.ToString(), now));
            batch.BatchCommands.Add(Batch($"select collab_id, tenant_id from {schema}.collaboration_members where member_tenant = $1 and state = 'member'",
                tenant.ToString()));
            batch.BatchCommands.Add(Batch($"""
                select m.collab_id, m.member_tenant from {schema}.collaboration_members m
                where m.state = 'member' and m.collab_id in (select collab_id from {schema}.collaboration_members where member_tenant = $1 and state = 'member')
                """, tenant.ToString()));
            await using var reader = await batch.ExecuteReaderAsync(cancellation);
            while (await reader.ReadAsync(cancellation))
                agreements.Add((reader.GetGuid(0), Guid.Parse(reader.GetString(1)), (Guid[])reader[2]));
            await reader.NextResultAsync(cancellation);
            while (await reader.ReadAsync(cancellation))
                collaborations.Add((reader.GetGuid(0), Guid.Parse(reader.GetString(1))));
            await reader.NextResultAsync(cancellation);
            while (await reader.ReadAsync(cancellation))
                members.Add((reader.GetGuid(0), Guid.Parse(reader.GetString(1))));
        }
        return await withGraph(graph =>
        {
            var (whole, orgs) = OwnReach(standing, graph);
            var sources = new Dictionary<Guid, ShareSource>();
            if (whole || orgs.Length > 0)
            {
                foreach (var a in agreements)
                    if (whole || a.Orgs.Length == 0 || orgs.Any(o => a.Orgs.Any(n => graph.IsSelfOrDescendant(o, n))))
                        sources[a.Id] = new ShareSource(a.Id, "agreement", a.Owner);
                foreach (var c in collaborations) sources[c.Id] = new ShareSource(c.Id, "collaboration", c.Convenor);
            }
            return new Reader(tenant, standing.Actor, standing, whole, orgs, sources, now, members);
        });
    }

    /// <summary>
    /// Where the caller reads its own tenant's case files: everywhere (its administrators, a service account with
    /// case.read) or at the organisations where it holds case.read and below. Used by the case-file routes and by
    /// content disclosure (Audit/ContentDisclosure), so both answer alike.
    /// </summary>
    public static (bool Whole, Guid[] Organisations) OwnReach(Standing standing, AccessGraph graph)
    {
        var whole = standing.Everything || (standing.Scopes?.Contains("case.read") ?? false);
        return (whole, whole ? [] : standing.Scopes is null ? graph.OrganisationsWhere(standing.Principals, "case.read").ToArray() : []);
    }

    /// <summary>
    /// The shares (alias x over case_shares) through which the reader sees another tenant's file now: unexpired; an
    /// agreement share addressed to its tenant, through an agreement that reaches the reader; or a collaboration share
    /// of a collaboration its tenant belongs to, whose owner is still a member. The same rule as the database's
    /// (share_admits, which row-level security applies to every file row returned), narrowed to the reader, and
    /// written as set lookups so that ten thousand shares cost one pass.
    /// Parameters: @me, @now, @agreements, @collabs, @owners (pairs with @collabs).
    /// </summary>
    public static string SharePredicate(string x = "x") => $"""
        ({x}.tenant_id <> @me and ({x}.expires_at is null or {x}.expires_at > @now)
         and (({x}.grantee_tenant = @me and {x}.source_id = any(@agreements))
              or ({x}.grantee_tenant is null and ({x}.source_id, {x}.tenant_id::text) in (select * from unnest(@collabs, @owners)))))
        """;

    public static void Bind(NpgsqlCommand command, Reader reader)
    {
        command.Parameters.Add(new NpgsqlParameter("me", reader.Tenant.ToString()));
        command.Parameters.Add(new NpgsqlParameter("now", reader.Now));
        command.Parameters.Add(new NpgsqlParameter("agreements", NpgsqlDbType.Array | NpgsqlDbType.Uuid) { Value = reader.AgreementIds });
        var pairs = reader.Members.Where(m => reader.Sources.ContainsKey(m.Collaboration) && m.Member != reader.Tenant).ToList();
        command.Parameters.Add(new NpgsqlParameter("collabs", NpgsqlDbType.Array | NpgsqlDbType.Uuid) { Value = pairs.Select(p => p.Collaboration).ToArray() });
        command.Parameters.Add(new NpgsqlParameter("owners", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = pairs.Select(p => p.Member.ToString()).ToArray() });
    }

    /// <summary>The reader's permissions on another tenant's file (the union over the shares it sees it through), empty if none.</summary>
    public static async Task<(IReadOnlyList<string> Permissions, IReadOnlyList<Guid> Via)> SharedAccessAsync(NpgsqlConnection connection, string schema,
        Reader reader, Guid owner, Guid file, DateTimeOffset now, CancellationToken cancellation)
    {
        await using var command = new NpgsqlCommand($"""
            select x.source_id, x.permissions from {schema}.case_shares x where x.tenant_id = @owner and x.file_id = @file and {SharePredicate()}
            """, connection);
        Bind(command, reader);
        command.Parameters.Add(new NpgsqlParameter("owner", owner.ToString()));
        command.Parameters.Add(new NpgsqlParameter("file", file));
        var permissions = new HashSet<string>();
        var via = new List<Guid>();
        await using var r = await command.ExecuteReaderAsync(cancellation);
        while (await r.ReadAsync(cancellation))
        {
            via.Add(r.GetGuid(0));
            permissions.UnionWith((string[])r[1]);
        }
        return (CaseFileDecisions.SharePermissions.Where(permissions.Contains).ToList(), via);
    }

    /// <summary>
    /// Re-derives an agreement's shares (in its owner's transaction): none unless it is active; else every file of the
    /// owner in its scope (named, or with a listed tag or classification), within its owner organisation's subtree if it
    /// names one, until it expires.
    /// </summary>
    public static async Task RefreshAgreementSharesAsync(SharingStore store, TenantTransaction tx, Guid agreement, CancellationToken cancellation)
    {
        var s = store.Schema;
        await tx.ExecuteAsync($"delete from {s}.case_shares where tenant_id = $1 and source_id = $2", cancellation, tx.Tenant.ToString(), agreement);
        await tx.ExecuteAsync($"""
            insert into {s}.case_shares (tenant_id, file_id, source_id, source_kind, grantee_tenant, permissions, expires_at, shared_at, file_updated_at,
              file_classification, file_tag_tokens)
            select f.tenant_id, f.id, a.id, 'agreement', a.recipient_tenant, a.permissions, a.expires_at, $3, f.updated_at, f.classification, f.tag_tokens
            from {s}.sharing_agreements a join {s}.case_files f on f.tenant_id = a.tenant_id
            where a.tenant_id = $1 and a.id = $2 and a.state = 'active' and {InScope(s)}
            """, cancellation, tx.Tenant.ToString(), agreement, store.Now);
    }

    /// <summary>Re-derives a file's agreement shares (in its owner's transaction) after it was opened or revised.</summary>
    public static async Task RefreshFileSharesAsync(SharingStore store, TenantTransaction tx, Guid file, CancellationToken cancellation)
    {
        var s = store.Schema;
        await tx.ExecuteAsync($"delete from {s}.case_shares where tenant_id = $1 and file_id = $2 and source_kind = 'agreement'", cancellation,
            tx.Tenant.ToString(), file);
        await tx.ExecuteAsync($"""
            insert into {s}.case_shares (tenant_id, file_id, source_id, source_kind, grantee_tenant, permissions, expires_at, shared_at, file_updated_at,
              file_classification, file_tag_tokens)
            select f.tenant_id, f.id, a.id, 'agreement', a.recipient_tenant, a.permissions, a.expires_at, $3, f.updated_at, f.classification, f.tag_tokens
            from {s}.case_files f join {s}.sharing_agreements a on a.tenant_id = f.tenant_id
            where f.tenant_id = $1 and f.id = $2 and a.state = 'active' and {InScope(s)}
            """, cancellation, tx.Tenant.ToString(), file, store.Now);
    }

    /// <summary>Whether file f is in agreement a's scope (both of one owner).</summary>
    private static string InScope(string s) => $"""
        (f.id = any(a.scope_file_ids) or f.classification = any(a.scope_classifications) or f.tag_tokens && a.scope_tag_tokens)
        and (a.owner_org is null or exists (select 1 from {s}.org_nodes n where n.tenant_id = f.tenant_id and n.id = f.org_id and a.owner_org = any(n.path)))
        """;

    private static NpgsqlBatchCommand Batch(string sql, params object?[] values) => TenantEvents.Infrastructure.Databases.Sql.BatchCommand(sql, values);

    /// <summary>What a search needs, as tokens: per owner all of them (JSON {"owner": ["token", …]}), the reader's own, and one per owner to start from.</summary>
    public sealed record Need(string Json, string[] Mine, string[] Any, string[] Owners);

    public static async Task<Need> NeedAsync(SharingStore store, Guid reader, IEnumerable<Guid> owners, IReadOnlyList<string> terms,
        IReadOnlyList<string> tags, CancellationToken cancellation)
    {
        var map = new Dictionary<string, string[]>();
        foreach (var owner in owners.Distinct())
        {
            try
            {
                var tokenize = await store.TokenizerAsync(owner, cancellation);
                map[owner.ToString()] = terms.Select(tokenize).Concat(tags.Select(t => tokenize(SharingStore.TagTerm(t)))).Distinct().ToArray();
            }
            catch (Keys.KeyDestroyedException)
            {
                // A shredded owner's files are gone; nothing of it can match.
            }
        }
        return new Need(JsonSerializer.Serialize(map), map.GetValueOrDefault(reader.ToString()) ?? [],
            map.Where(o => o.Key != reader.ToString()).Select(o => o.Value[0]).ToArray(),
            map.Keys.Where(o => o != reader.ToString()).ToArray());
    }
}
