using System.Globalization;
using Microsoft.AspNetCore.Authorization;
using Npgsql;
using NpgsqlTypes;
using TenantEvents.Audit;
using TenantEvents.Infrastructure;
using TenantEvents.Keys;
using TenantEvents.Organisations;
using TenantEvents.Sharing;
using Wolverine.Http;

namespace TenantEvents.CaseFiles;

public static class ListCaseFilesEndpoint
{
    /// <summary>
    /// The case files the caller may see, most recently changed first: its own tenant's (where it holds case.read) and
    /// those shared with its tenant that reach it. Filters: q (every word must occur in the title, body or tags; matched
    /// on blind-index tokens, the content stays sealed), tag, classification, source=own|shared|all, collaborationId
    /// (what is shared into one collaboration). Keyset pages (limit, cursor). Shared files listed are recorded in both
    /// tenants' audit trails.
    /// </summary>
    [WolverineGet("/api/tenants/{tenantId}/case-files", OperationId = "ListCaseFiles")]
    [Authorize(Roles = SharingHttp.Roles)]
    public static async Task<IResult> Get(Guid tenantId, HttpContext http, SharingStore sharing, OrganisationStore store, CrossTenantAccess audit,
        TenantEventsOptions options, Wolverine.Runtime.MessageContext context, CancellationToken cancellation)
    {
        var q = http.Request.Query;
        var errors = new List<FieldError>();
        var limit = 50;
        if (q["limit"].ToString() is { Length: > 0 } l && (!int.TryParse(l, out limit) || limit < 1 || limit > options.MaxPageSize))
            errors.Add(new FieldError("limit", "out-of-range", $"must be a whole number from 1 to {options.MaxPageSize}."));
        var terms = SharingStore.Terms(q["q"].ToString());
        if (q["q"].ToString().Length > 500) errors.Add(new("q", "too-long", "at most 500 characters."));
        var tags = q["tag"].Where(t => t is not null).Select(t => t!).ToList();
        errors.AddRange(CaseFileDecisions.ValidateTags(tags, "tag"));
        var classification = q["classification"].ToString() is { Length: > 0 } c ? c : null;
        if (classification is not null && !CaseFileDecisions.Classifications.Contains(classification))
            errors.Add(new("classification", "unknown-classification", $"one of {string.Join(", ", CaseFileDecisions.Classifications)}."));
        var source = q["source"].ToString() is { Length: > 0 } s ? s : "all";
        if (source is not ("all" or "own" or "shared")) errors.Add(new("source", "invalid-source", "own, shared or all."));
        Guid? collaboration = null;
        if (q["collaborationId"].ToString() is { Length: > 0 } cid)
        {
            if (Guid.TryParse(cid, out var g)) collaboration = g;
            else errors.Add(new("collaborationId", "invalid-id", "a collaboration id."));
        }
        (DateTimeOffset At, Guid Id)? after = null;
        if (q["cursor"].ToString() is { Length: > 0 } cursor)
        {
            if (Cursor.TryParse(cursor, out var at, out var id)) after = (at, id);
            else errors.Add(new("cursor", "invalid-cursor", "must be a nextCursor value from a previous page."));
        }
        if (errors.Count > 0) return Problem.Validation(errors).ToResult();

        var timing = System.Diagnostics.Stopwatch.StartNew();
        await using var scope = await sharing.ReadAsync(tenantId, cancellation);
        var (reader, refusal) = await SharingHttp.Reader(http, sharing, store, scope.Connection, tenantId, writing: false, cancellation);
        var readerMs = timing.Elapsed.TotalMilliseconds;
        if (refusal is not null) return refusal;
        var page = await Page(sharing, scope.Connection, reader!, new CaseFileQuery(terms, tags.Select(CaseFileDecisions.NormaliseTag).ToList(),
            classification, source, collaboration, after, limit), cancellation);
        var shared = page.Items.Where(i => i.Shared).GroupBy(i => i.OwnerTenantId)
            .Select(g => new AccessRecord(g.Key, "list", "case-file", string.Join(",", g.Select(i => i.Id)), null)).ToList();
        var pageMs = timing.Elapsed.TotalMilliseconds;
        await SharingHttp.Record(audit, context, reader!, shared, cancellation);
        // Where the time went (Server-Timing, for operators and the benchmark): who the reader is, the page, the audit records.
        http.Response.Headers["Server-Timing"] = string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"reader;dur={readerMs:F1}, page;dur={pageMs - readerMs:F1}, audit;dur={timing.Elapsed.TotalMilliseconds - pageMs:F1}");
        return Results.Json(page, Json.Options);
    }

    public sealed record CaseFileQuery(IReadOnlyList<string> Terms, IReadOnlyList<string> Tags, string? Classification, string Source,
        Guid? Collaboration, (DateTimeOffset At, Guid Id)? After, int Limit);

    /// <summary>One page of what the reader sees (the one query over own and shared files; <see cref="Visibility"/> says what is shared).</summary>
    public static async Task<CaseFilePage> Page(SharingStore sharing, NpgsqlConnection connection, Reader reader, CaseFileQuery query,
        CancellationToken cancellation)
    {
        var s = sharing.Schema;
        var own = query.Source != "shared" && query.Collaboration is null;
        var others = query.Source != "own";
        Visibility.Need? need = null;
        if (query.Terms.Count > 0 || query.Tags.Count > 0)
        {
            var owners = new List<Guid> { reader.Tenant };
            owners.AddRange(reader.Sources.Values.Where(x => x.Kind == "agreement").Select(x => x.OwnerTenant));
            if (reader.CollaborationIds.Length > 0)
            {
                await using var find = new NpgsqlCommand($"select distinct tenant_id from {s}.case_shares where source_id = any($1)", connection);
                find.Parameters.Add(new NpgsqlParameter { Value = reader.CollaborationIds, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Uuid });
                await using var r = await find.ExecuteReaderAsync(cancellation);
                while (await r.ReadAsync(cancellation)) owners.Add(Guid.Parse(r.GetString(0)));
            }
            need = await Visibility.NeedAsync(sharing, reader.Tenant, owners, query.Terms, query.Tags, cancellation);
        }
        // Only the clauses asked for, so each branch gets the plan its filters allow.
        var filters = new System.Text.StringBuilder();
        if (query.Classification is not null) filters.Append(" and f.classification = @classification");
        if (need is not null)
            filters.Append(" and exists (select 1 from need n where n.tenant_id = f.tenant_id and f.search_tokens @> n.tokens)");
        if (query.After is not null) filters.Append(" and (f.updated_at, f.id) < (@after_at, @after_id)");
        var collab = query.Collaboration is null ? "" : " and x.source_id = @collab";
        var columns = "f.tenant_id, f.id, f.version, f.key_version, f.nonce, f.ciphertext, f.updated_at";
        var branches = new List<string>();
        if (own)
            branches.Add($"""
                (select {columns} from {s}.case_files f
                 where f.tenant_id = @me and (@whole or f.org_id = any(@orgs)){(need is null ? "" : $" and (f.tenant_id, f.id) in (select h.tenant_id, h.id from {s}.search_hits(array[@me::text], @mine) h)")}{filters}
                 order by f.updated_at desc, f.id desc limit @limit)
                """);
        if (others && reader.Sources.Count > 0)
        {
            if (need is not null && query.Terms.Count > 0)
            {
                // A search starts from the blind index (the files holding every token their owner needs), keeps those the
                // reader's shares admit, and takes the newest page from the shares (which carry the file's last change and
                // classification) before any file row is read: the files' row-level security then checks a page, not
                // every hit.
                var cursor = query.After is null ? "" : " and (x.file_updated_at, x.file_id) < (@after_at, @after_id)";
                var fileFilters = query.Classification is null ? "" : " and x.file_classification = @classification";
                branches.Add($"""
                    (select {columns} from (
                       select hit.tenant_id, hit.id, max(x.file_updated_at) as at
                       from {s}.search_matches(@owners_searched, @any, @need::jsonb) hit
                       join {s}.case_shares x on x.tenant_id = hit.tenant_id and x.file_id = hit.id
                       where hit.tenant_id <> @me and {Visibility.SharePredicate()}{collab}{cursor}{fileFilters}
                       group by hit.tenant_id, hit.id
                       order by at desc, hit.id desc limit @limit) shared
                     join {s}.case_files f on f.tenant_id = shared.tenant_id and f.id = shared.id
                     where true{filters}
                     order by f.updated_at desc, f.id desc limit @limit)
                    """);
            }
            else
            {
                // Without a word to look up, the newest shared files come from the shares (which carry the file's last
                // change): per source, its newest shares that pass the filters, then the newest of those. A page reads at
                // most a page's worth of shares per source, not every share.
                var cursor = query.After is null ? "" : " and (x.file_updated_at, x.file_id) < (@after_at, @after_id)";
                var fileFilters = (query.Classification is null ? "" : " and x.file_classification = @classification")
                                  + (need is null ? "" : " and exists (select 1 from need n where n.tenant_id = x.tenant_id and x.file_tag_tokens @> n.tokens)");
                branches.Add($"""
                    (select {columns} from (
                       select newest.tenant_id, newest.file_id, max(newest.at) as at
                       from unnest(@sources) source(id)
                       cross join lateral (
                         select x.tenant_id, x.file_id, x.file_updated_at as at from {s}.case_shares x
                         where x.source_id = source.id and {Visibility.SharePredicate()}{collab}{cursor}{fileFilters}
                         order by x.file_updated_at desc, x.file_id desc limit @limit) newest
                       group by newest.tenant_id, newest.file_id
                       order by at desc, newest.file_id desc limit @limit) shared
                     join {s}.case_files f on f.tenant_id = shared.tenant_id and f.id = shared.file_id
                     order by f.updated_at desc, f.id desc limit @limit)
                    """);
            }
        }
        var items = new List<(Guid Owner, Guid Id, long Version, SealedPayload Payload, DateTimeOffset At)>();
        if (branches.Count > 0)
        {
            // The tokens each owner's files must hold, unpacked once per query (not per row).
            var needs = need is null ? "" : "with need(tenant_id, tokens) as materialized (select key, array(select jsonb_array_elements_text(value)) from jsonb_each(@need::jsonb)) ";
            await using var command = new NpgsqlCommand(needs + "select * from (" + string.Join(" union all ", branches) + ") page order by updated_at desc, id desc limit @limit", connection);
            Visibility.Bind(command, reader);
            command.Parameters.Add(new NpgsqlParameter("whole", reader.WholeTenant));
            command.Parameters.Add(new NpgsqlParameter("orgs", NpgsqlDbType.Array | NpgsqlDbType.Uuid) { Value = reader.Organisations });
            command.Parameters.Add(new NpgsqlParameter("classification", NpgsqlDbType.Text) { Value = (object?)query.Classification ?? DBNull.Value });
            command.Parameters.Add(new NpgsqlParameter("need", NpgsqlDbType.Text) { Value = (object?)need?.Json ?? DBNull.Value });
            command.Parameters.Add(new NpgsqlParameter("mine", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = need?.Mine ?? [] });
            command.Parameters.Add(new NpgsqlParameter("any", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = need?.Any ?? [] });
            command.Parameters.Add(new NpgsqlParameter("owners_searched", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = need?.Owners ?? [] });
            command.Parameters.Add(new NpgsqlParameter("after_at", NpgsqlDbType.TimestampTz) { Value = query.After is { } a ? a.At : DBNull.Value });
            command.Parameters.Add(new NpgsqlParameter("after_id", NpgsqlDbType.Uuid) { Value = query.After is { } b ? b.Id : Guid.Empty });
            command.Parameters.Add(new NpgsqlParameter("collab", NpgsqlDbType.Uuid) { Value = query.Collaboration is { } cb ? cb : DBNull.Value });
            command.Parameters.Add(new NpgsqlParameter("limit", query.Limit + 1));
            command.Parameters.Add(new NpgsqlParameter("sources", NpgsqlDbType.Array | NpgsqlDbType.Uuid) { Value = reader.Sources.Keys.ToArray() });
            await using var r = await command.ExecuteReaderAsync(cancellation);
            while (await r.ReadAsync(cancellation))
                items.Add((Guid.Parse(r.GetString(0)), r.GetGuid(1), r.GetInt64(2), new SealedPayload(r.GetInt32(3), (byte[])r[4], (byte[])r[5]),
                    r.GetFieldValue<DateTimeOffset>(6)));
        }
        var more = items.Count > query.Limit;
        if (more) items.RemoveAt(items.Count - 1);

        // What each shared file on the page may be used for: its shares, one query for the page.
        var access = new Dictionary<Guid, (HashSet<string> Permissions, List<Guid> Via)>();
        var sharedIds = items.Where(i => i.Owner != reader.Tenant).Select(i => i.Id).ToArray();
        if (sharedIds.Length > 0)
        {
            await using var command = new NpgsqlCommand($"""
                select x.file_id, x.source_id, x.permissions from {s}.case_shares x where x.file_id = any(@files) and {Visibility.SharePredicate()}
                """, connection);
            Visibility.Bind(command, reader);
            command.Parameters.Add(new NpgsqlParameter("files", NpgsqlDbType.Array | NpgsqlDbType.Uuid) { Value = sharedIds });
            await using var r = await command.ExecuteReaderAsync(cancellation);
            while (await r.ReadAsync(cancellation))
            {
                if (!access.TryGetValue(r.GetGuid(0), out var entry)) access[r.GetGuid(0)] = entry = ([], []);
                entry.Via.Add(r.GetGuid(1));
                entry.Permissions.UnionWith((string[])r[2]);
            }
        }
        var views = new List<CaseFileView>(items.Count);
        foreach (var item in items)
        {
            CaseFile file;
            try
            {
                file = await sharing.OpenAsync<CaseFile>(item.Owner, item.Payload, item.Id, SharingStore.CaseFileRecordType, cancellation);
            }
            catch (KeyDestroyedException)
            {
                continue;
            }
            file.Version = item.Version;
            var shared = item.Owner != reader.Tenant;
            var rights = shared
                ? access.TryGetValue(item.Id, out var e) ? CaseFileDecisions.SharePermissions.Where(e.Permissions.Contains).ToList() : []
                : (IReadOnlyList<string>)["read"];
            views.Add(CaseFileHttp.View(file, reader.Tenant, rights, shared && access.TryGetValue(item.Id, out var v) ? v.Via : null, full: false));
        }
        // The cursor holds the stored time (microseconds), not the snapshot's, so the next page starts exactly after this one.
        return new CaseFilePage(views, more && items.Count > 0 ? Cursor.Format(items[^1].At, items[^1].Id) : null);
    }
}

/// <summary>A keyset cursor over (updated, id): opaque to clients.</summary>
public static class Cursor
{
    public static string Format(DateTimeOffset at, Guid id) =>
        Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"{at.UtcTicks.ToString(CultureInfo.InvariantCulture)}:{id:N}"))
            .TrimEnd('=').Replace('+', '-').Replace('/', '_');

    public static bool TryParse(string cursor, out DateTimeOffset at, out Guid id)
    {
        at = default;
        id = default;
        try
        {
            var padded = cursor.Replace('-', '+').Replace('_', '/');
            padded += new string('=', (4 - padded.Length % 4) % 4);
            var parts = System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(padded)).Split(':');
            if (parts.Length != 2 || !long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var ticks)
                                  || ticks < DateTimeOffset.MinValue.UtcTicks || ticks > DateTimeOffset.MaxValue.UtcTicks
                                  || !Guid.TryParseExact(parts[1], "N", out id)) return false;
            at = new DateTimeOffset(ticks, TimeSpan.Zero);
            return true;
        }
        catch (FormatException)
        {
            return false;
        }
    }
}
