using System.Diagnostics;
using Npgsql;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Databases;
using TenantEvents.Ledger;

namespace TenantEvents.Tenants.Moves;

/// <summary>What a move did, for the operator.</summary>
public sealed record MoveReport(Guid Tenant, string From, string To, long Events, long LogEntries, long Checkpoints,
    IReadOnlyDictionary<string, long> Rows, TimeSpan WritesRefused, TimeSpan Total);

/// <summary>A move that cannot be made as asked (nothing was changed, or what was, is said).</summary>
public sealed class TenantMoveException(string message) : InvalidOperationException(message);

/// <summary>
/// Moves one tenant from its database to another of its zone while the service runs, as the schema owner (the only role
/// that may change a placement; `TenantEvents move-tenant TENANT DATABASE`):
/// <list type="number">
/// <item>Writes stop: the tenant is marked moved-away in its database, under the per-tenant lock every append takes
/// shared, so appends in flight commit first and later ones are refused (503 tenant-moving, with Retry-After). Reads go on.</item>
/// <item>Its ledger is brought up to date (audit_flush), then every row of the tenant is copied, in one transaction of the
/// target: streams, events (each with a new sequence number there, and the number its ledger leaf commits to kept in
/// moved_event_seqs), the log and everything that names events by number (renumbered), and every other table with a
/// tenant_id, found by looking (so a table added later is not forgotten), by binary COPY. Analytics that are derived
/// from events are not copied: the target's projector folds the moved events.</item>
/// <item>Before that transaction commits, the ledger verifies there: every moved leaf is recomputed from the moved event
/// and equals the stored one, every signed checkpoint's root is the root of the moved log at its size, and the counts
/// are the source's. Anything else rolls the copy back and the tenant stays where it was.</item>
/// <item>The placement switches (main database) and every instance is told (NOTIFY); writes resume, in the target.</item>
/// <item>After a grace (instances that missed the notice read from the source until then), the tenant's mutable rows
/// leave the source. Its events, streams, log and checkpoints stay there, append-only, sealed, and refused to writers.</item>
/// </list>
/// </summary>
public static class TenantMove
{
    /// <summary>
    /// Not copied: derived from the moved events where they land (analytics by the target's projector; the access high
    /// water by its trigger, as the events go in), pending ledger work (flushed before the copy), and the ledger numbers
    /// (written by the copy of the events).
    /// </summary>
    private static readonly HashSet<string> Rebuilt = new(StringComparer.Ordinal)
    {
        "audit_pending", "analytics_tenants", "analytics_event_days", "analytics_record_kinds", "moved_event_seqs", "access_high_water",
    };

    /// <summary>Copied first and by hand: the streams, then the events (renumbered).</summary>
    private static readonly string[] EventTables = ["mt_streams", "mt_events"];

    /// <summary>Tables that name events by sequence number: copied with the numbers the events got in the target.</summary>
    private static readonly HashSet<string> Renumbered = new(StringComparer.Ordinal) { "audit_log", "audit_entries", "webhook_deliveries" };

    /// <summary>Append-only in the source (a trigger refuses deletes): left there when the rest of the tenant goes.</summary>
    private static readonly HashSet<string> Kept = new(StringComparer.Ordinal)
    {
        "mt_events", "mt_streams", "audit_log", "audit_checkpoints", "moved_event_seqs",
    };

    public static async Task<MoveReport> RunAsync(string ownerConnectionString, string schema, Guid tenant, string targetId, TimeSpan grace,
        TextWriter output, CancellationToken cancellation = default)
    {
        var s = Quote(schema);
        var total = Stopwatch.StartNew();
        await using var main = NpgsqlDataSource.Create(ownerConnectionString);
        var directory = new TenantDirectory(main, s);
        var registry = (await directory.DatabasesAsync(cancellation)).ToDictionary(d => d.Id);
        var sourceId = await directory.PlacementOfAsync(tenant, cancellation) ?? throw new TenantMoveException($"Tenant {tenant} is not placed anywhere.");
        var source = registry[sourceId];
        if (!registry.TryGetValue(targetId, out var target)) throw new TenantMoveException($"No database '{targetId}' is registered (GET /api/platform/databases).");
        if (sourceId == targetId) throw new TenantMoveException($"Tenant {tenant} is in {targetId} already.");
        if (target.Zone != source.Zone)
            throw new TenantMoveException($"{targetId} is in zone '{target.Zone}', the tenant's residency is zone '{source.Zone}': a move keeps the residency.");
        if (target.Dedicated && target.DedicatedTo is { } other && other != tenant)
            throw new TenantMoveException($"{targetId} is another tenant's dedicated database.");
        string Owner(DatabaseEntry d) => d.Id == TenantDirectory.DefaultDatabaseId ? ownerConnectionString
            : ResidencyZones.ConnectionString(ownerConnectionString, d.Database, d.Host, d.Port);
        var t = tenant.ToString();

        if (source.Dedicated != target.Dedicated)
            throw new TenantMoveException(source.Dedicated
                ? $"Tenant {tenant} has a database of its own; {targetId} is shared. A move keeps the kind."
                : $"{targetId} is a dedicated database; tenant {tenant} lives in a shared one. A move keeps the kind.");
        if (!target.Dedicated && (await directory.TenantsPerDatabaseAsync(cancellation)).GetValueOrDefault(targetId) >= (target.Capacity ?? ZoneOptions.DefaultCapacity))
            throw new TenantMoveException($"{targetId} is full (its capacity is {target.Capacity ?? ZoneOptions.DefaultCapacity} tenants).");

        // One mover per tenant at a time, for the whole move (a session lock in the main database).
        await using var guard = await main.OpenConnectionAsync(cancellation);
        if (!await Scalar<bool>(guard, null, "select pg_try_advisory_lock(hashtextextended('tenantevents-mover:' || $1, 0))", cancellation, t))
            throw new TenantMoveException($"Another move of tenant {tenant} is running.");

        await using var from = new NpgsqlConnection(Owner(source));
        await from.OpenAsync(cancellation);
        await using var to = new NpgsqlConnection(Owner(target));
        await to.OpenAsync(cancellation);
        var versions = (await SchemaRegistry.VersionsAsync(from, schema, cancellation)).GetValueOrDefault(SchemaRegistry.TenantsTrack);
        if (versions != (await SchemaRegistry.VersionsAsync(to, schema, cancellation)).GetValueOrDefault(SchemaRegistry.TenantsTrack))
            throw new TenantMoveException($"{sourceId} and {targetId} are at different schema versions: run `migrate` first.");
        // Sharing works within one database: a tenant with live partners stays with them.
        var partners = await Scalar<long>(from, null, $"""
            select (select count(*) from {s}.sharing_agreements where (tenant_id = $1 or recipient_tenant::text = $1) and state in ('offered', 'active'))
                 + (select count(*) from {s}.collaboration_members where (tenant_id = $1 or member_tenant::text = $1) and state in ('invited', 'member'))
                 + (select count(*) from {s}.case_shares where tenant_id = $1 or grantee_tenant::text = $1)
            """, cancellation, t);
        if (partners > 0)
            throw new TenantMoveException($"Tenant {tenant} shares with other tenants of {sourceId} ({partners} agreements, memberships or shares): " +
                                          "sharing works within one database; end them first.");
        var marker = await Scalar<string?>(from, null, $"select to_database from {s}.tenant_moved_away where tenant = $1", cancellation, t);
        bool holds;
        await using (var check = await to.BeginTransactionAsync(cancellation))
        {
            await Sql.SetTenantAsync(to, check, tenant, cancellation);
            holds = await Scalar<long>(to, check, $"select count(*) from {s}.mt_streams where tenant_id = $1", cancellation, t) > 0;
        }
        if (holds && marker != targetId)
            throw new TenantMoveException($"{targetId} already holds streams of tenant {tenant} (it lived there before): a tenant is not moved back.");
        // A move that copied and verified, then stopped before the switch: its writes have been refused since, so the copy
        // is whole; it goes on from the switch.
        var resuming = holds && marker == targetId;

        // 1. Writes stop.
        var refused = Stopwatch.StartNew();
        await using (var freeze = await from.BeginTransactionAsync(cancellation))
        {
            await Execute(from, freeze, "set local lock_timeout = '30s'", cancellation);
            await Execute(from, freeze, "select pg_advisory_xact_lock(hashtextextended('tenantevents-move:' || $1, 0))", cancellation, t);
            await Execute(from, freeze, $"insert into {s}.tenant_moved_away (tenant, to_database) values ($1, $2) on conflict (tenant) do update set to_database = excluded.to_database, moved_at = clock_timestamp()",
                cancellation, t, targetId);
            await freeze.CommitAsync(cancellation);
        }
        output.WriteLine($"{tenant}: writes stopped in {sourceId}{(resuming ? " (resuming: the copy is there)" : "")}");
        var switched = false;
        var copied = resuming;
        try
        {
            // 2. The ledger up to date, then the copy.
            await Execute(from, null, $"select {s}.audit_flush($1)", cancellation, t);
            var rows = new Dictionary<string, long>(StringComparer.Ordinal);
            await using var snapshot = await from.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, cancellation);
            await using var copy = await to.BeginTransactionAsync(cancellation);
            if (!resuming)
            {
            // Bound to the tenant on both sides, as the service's sessions are: a policy that binds the owner too reads and
            // writes this tenant's rows only (and a read that silently found none would fail the counts below).
            await Sql.SetTenantAsync(from, snapshot, tenant, cancellation);
            await Sql.SetTenantAsync(to, copy, tenant, cancellation);
            await Execute(to, copy, $"delete from {s}.tenant_moved_away where tenant = $1", cancellation, t);
            rows["mt_streams"] = await CopyAsync(from, to, s, "mt_streams", t, null, cancellation);
            rows["mt_events"] = await CopyEventsAsync(from, to, s, t, cancellation);
            foreach (var table in await TenantTablesAsync(to, schema, cancellation))
            {
                if (Rebuilt.Contains(table) || EventTables.Contains(table)) continue;
                rows[table] = await CopyAsync(from, to, s, table, t, Renumbered.Contains(table) ? "seq_id" : null, cancellation);
            }
            // Made by the target's triggers while the events went in: the log came over whole, and the high water with it.
            await Execute(to, copy, $"delete from {s}.audit_pending where tenant_id = $1", cancellation, t);
            }
            else await Sql.SetTenantAsync(to, copy, tenant, cancellation);

            // 3. The ledger verifies in the target, before anything is committed there.
            var (events, entries, checkpoints) = await VerifyAsync(from, to, s, t, cancellation);
            await copy.CommitAsync(cancellation);
            copied = true;
            var renumbered = await SequenceMapAsync(from, to, s, t, cancellation);
            await snapshot.CommitAsync(cancellation);
            output.WriteLine($"{tenant}: {events} events, {entries} log entries and {checkpoints} checkpoints verified in {targetId}");

            // 4. The switch.
            await using (var directoryTx = await main.OpenConnectionAsync(cancellation))
            await using (var switching = await directoryTx.BeginTransactionAsync(cancellation))
            {
                if (await Execute(directoryTx, switching, $"update {s}.tenant_placements set database_id = $2, placed_at = now() where tenant = $1 and database_id = $3",
                        cancellation, tenant, targetId, sourceId) != 1)
                    throw new TenantMoveException($"Tenant {tenant} is no longer placed in {sourceId}: nothing was switched.");
                if (target.Dedicated && await Execute(directoryTx, switching,
                        $"update {s}.tenant_databases set dedicated_to = $1 where id = $2 and (dedicated_to is null or dedicated_to = $1)", cancellation, tenant, targetId) != 1)
                    throw new TenantMoveException($"{targetId} was claimed by another tenant meanwhile: nothing was switched.");
                // The platform's own deliveries of the tenant's events (main database) name them by number: the new ones.
                await Execute(directoryTx, switching, "create temp table moving_map (old_seq bigint primary key, new_seq bigint not null) on commit drop", cancellation);
                await using (var importer = await directoryTx.BeginBinaryImportAsync("copy moving_map (old_seq, new_seq) from stdin (format binary)", cancellation))
                {
                    foreach (var (old, renumberedTo) in renumbered)
                    {
                        await importer.StartRowAsync(cancellation);
                        await importer.WriteAsync(old, NpgsqlTypes.NpgsqlDbType.Bigint, cancellation);
                        await importer.WriteAsync(renumberedTo, NpgsqlTypes.NpgsqlDbType.Bigint, cancellation);
                    }
                    await importer.CompleteAsync(cancellation);
                }
                await Execute(directoryTx, switching, $"""
                    update {s}.webhook_deliveries d set seq_id = m.new_seq from moving_map m
                    where d.tenant_id = '{TenantEvents.Delivery.DeliverySchema.PlatformOwner}' and d.source_tenant = $1 and d.seq_id = m.old_seq
                    """, cancellation, tenant);
                await Execute(directoryTx, switching, $"select pg_notify('{PlacementChannel}', $1)", cancellation, t);
                await switching.CommitAsync(cancellation);
            }
            switched = true;
            refused.Stop();
            output.WriteLine($"{tenant}: placed in {targetId}; writes were refused for {refused.Elapsed.TotalMilliseconds:F0} ms");

            // 5. After the grace, the source lets go of what is not append-only.
            await Task.Delay(grace, cancellation);
            await using (var cleanup = await from.BeginTransactionAsync(cancellation))
            {
                // Bound to the tenant: Marten's document tables hold their owner to row-level security too.
                await Sql.SetTenantAsync(from, cleanup, tenant, cancellation);
                foreach (var table in await TenantTablesAsync(from, schema, cancellation))
                    if (!Kept.Contains(table)) await Execute(from, cleanup, $"delete from {s}.{Quote(table)} where tenant_id::text = $1", cancellation, t);
                await cleanup.CommitAsync(cancellation);
            }
            output.WriteLine($"{tenant}: its mutable rows left {sourceId} (its events, log and checkpoints stay there, append-only)");
            return new MoveReport(tenant, sourceId, targetId, events, entries, checkpoints, rows, refused.Elapsed, total.Elapsed);
        }
        catch when (!copied)
        {
            // Not moved: writes resume where the tenant is.
            await Execute(from, null, $"delete from {s}.tenant_moved_away where tenant = $1", CancellationToken.None, t);
            output.WriteLine($"{tenant}: not moved; writes resumed in {sourceId}");
            throw;
        }
        catch when (!switched)
        {
            // The copy is committed and verified, the switch not made: writes stay refused (none may land in the source now),
            // and the same command finishes the move.
            output.WriteLine($"{tenant}: copied to {targetId} but not switched; its writes stay refused: run the same move-tenant again to finish.");
            throw;
        }
    }

    public const string PlacementChannel = "tenantevents_placements";

    /// <summary>Each of the tenant's events: its number in the source and in the target (matched by stream and version).</summary>
    private static async Task<IReadOnlyList<(long Old, long New)>> SequenceMapAsync(NpgsqlConnection from, NpgsqlConnection to, string s, string tenant,
        CancellationToken cancellation)
    {
        async Task<Dictionary<(Guid, long), long>> Read(NpgsqlConnection connection)
        {
            var numbers = new Dictionary<(Guid, long), long>();
            await using var command = Sql.Command(connection, null, $"select stream_id, version, seq_id from {s}.mt_events where tenant_id = $1", tenant);
            await using var reader = await command.ExecuteReaderAsync(cancellation);
            while (await reader.ReadAsync(cancellation)) numbers[(reader.GetGuid(0), reader.GetInt64(1))] = reader.GetInt64(2);
            return numbers;
        }
        var target = await Read(to);
        return (await Read(from)).Where(e => target.ContainsKey(e.Key)).Select(e => (e.Value, target[e.Key])).ToList();
    }

    /// <summary>Every table of the schema with a tenant_id column (partitions through their parent), in the target's order.</summary>
    private static async Task<IReadOnlyList<string>> TenantTablesAsync(NpgsqlConnection connection, string schema, CancellationToken cancellation)
    {
        await using var command = Sql.Command(connection, null, """
            select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
            where n.nspname = $1 and c.relkind in ('r', 'p') and not c.relispartition
              and exists (select 1 from pg_attribute a where a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped)
            order by c.relname
            """, schema);
        var tables = new List<string>();
        await using var reader = await command.ExecuteReaderAsync(cancellation);
        while (await reader.ReadAsync(cancellation)) tables.Add(reader.GetString(0));
        return tables;
    }

    private static async Task<IReadOnlyList<string>> ColumnsAsync(NpgsqlConnection connection, string schema, string table, CancellationToken cancellation)
    {
        await using var command = Sql.Command(connection, null,
            "select column_name from information_schema.columns where table_schema = $1 and table_name = $2 order by ordinal_position", schema, table);
        var columns = new List<string>();
        await using var reader = await command.ExecuteReaderAsync(cancellation);
        while (await reader.ReadAsync(cancellation)) columns.Add(reader.GetString(0));
        return columns;
    }

    /// <summary>
    /// The tenant's rows of one table, by binary COPY (through a temporary table when a column is renumbered, its events'
    /// numbers then replaced by those they got in the target).
    /// </summary>
    private static async Task<long> CopyAsync(NpgsqlConnection from, NpgsqlConnection to, string s, string table, string tenant, string? renumber,
        CancellationToken cancellation)
    {
        var columns = await ColumnsAsync(to, s.Trim('"'), table, cancellation);
        var list = string.Join(", ", columns.Select(Quote));
        // Through a temporary table: COPY FROM is not allowed into a table under row-level security, INSERT is.
        await Execute(to, null, "drop table if exists moving_rows", cancellation);
        await Execute(to, null, $"create temp table moving_rows as select {list} from {s}.{Quote(table)} with no data", cancellation);
        await using (var reader = await from.BeginRawBinaryCopyAsync(
                         $"copy (select {list} from {s}.{Quote(table)} where tenant_id::text = '{tenant}') to stdout (format binary)", cancellation))
        await using (var writer = await to.BeginRawBinaryCopyAsync($"copy moving_rows ({list}) from stdin (format binary)", cancellation))
            await reader.CopyToAsync(writer, cancellation);
        var mapped = string.Join(", ", columns.Select(c => c == renumber ? $"coalesce(m.new_seq, r.{Quote(c)})" : $"r.{Quote(c)}"));
        var copied = await Execute(to, null, renumber is null
            ? $"insert into {s}.{Quote(table)} ({list}) select {list} from moving_rows"
            : $"insert into {s}.{Quote(table)} ({list}) select {mapped} from moving_rows r left join moving_seqs m on m.old_seq = r.{Quote(renumber)}",
            cancellation);
        await Execute(to, null, "drop table moving_rows", cancellation);
        return copied;
    }

    /// <summary>
    /// The tenant's events: copied to a temporary table, appended in their order with the target's numbers, the old-to-new
    /// map kept for the tables that name events by number, and each moved event's ledger number recorded (the one it had
    /// when first appended, through earlier moves too).
    /// </summary>
    private static async Task<long> CopyEventsAsync(NpgsqlConnection from, NpgsqlConnection to, string s, string tenant, CancellationToken cancellation)
    {
        var columns = await ColumnsAsync(to, s.Trim('"'), "mt_events", cancellation);
        var list = string.Join(", ", columns.Select(Quote));
        var withoutSeq = string.Join(", ", columns.Where(c => c != "seq_id").Select(Quote));
        await Execute(to, null, $"create temp table moving_events as select {list} from {s}.mt_events with no data", cancellation);
        await using (var reader = await from.BeginRawBinaryCopyAsync(
                         $"copy (select {list} from {s}.mt_events where tenant_id = '{tenant}') to stdout (format binary)", cancellation))
        await using (var writer = await to.BeginRawBinaryCopyAsync($"copy moving_events ({list}) from stdin (format binary)", cancellation))
            await reader.CopyToAsync(writer, cancellation);
        await Execute(to, null, "create temp table moving_earlier (seq_id bigint primary key, leaf_seq bigint not null)", cancellation);
        await using (var reader = await from.BeginRawBinaryCopyAsync(
                         $"copy (select seq_id, leaf_seq from {s}.moved_event_seqs where tenant_id = '{tenant}') to stdout (format binary)", cancellation))
        await using (var writer = await to.BeginRawBinaryCopyAsync("copy moving_earlier (seq_id, leaf_seq) from stdin (format binary)", cancellation))
            await reader.CopyToAsync(writer, cancellation);
        await Execute(to, null, "create temp table moving_seqs (old_seq bigint primary key, new_seq bigint not null)", cancellation);
        var moved = await Execute(to, null, $"""
            with inserted as (
              insert into {s}.mt_events (seq_id, {withoutSeq}) select nextval('{s}.mt_events_sequence'), {withoutSeq} from moving_events order by seq_id
              returning seq_id, stream_id, version)
            insert into moving_seqs (old_seq, new_seq)
            select e.seq_id, i.seq_id from inserted i join moving_events e on e.stream_id = i.stream_id and e.version = i.version
            """, cancellation);
        await Execute(to, null, $"""
            insert into {s}.moved_event_seqs (tenant_id, seq_id, leaf_seq)
            select $1, m.new_seq, coalesce(earlier.leaf_seq, m.old_seq) from moving_seqs m left join moving_earlier earlier on earlier.seq_id = m.old_seq
            """, cancellation, tenant);
        return moved;
    }

    /// <summary>
    /// The ledger, in the target's copy (its transaction not yet committed): each leaf recomputed from its moved event;
    /// each signed checkpoint's root recomputed from the moved leaves; events and entries counted against the source.
    /// </summary>
    private static async Task<(long Events, long Entries, long Checkpoints)> VerifyAsync(NpgsqlConnection from, NpgsqlConnection to, string s, string tenant,
        CancellationToken cancellation)
    {
        var events = await Scalar<long>(to, null, $"select count(*) from {s}.mt_events where tenant_id = $1", cancellation, tenant);
        var sourceEvents = await Scalar<long>(from, null, $"select count(*) from {s}.mt_events where tenant_id = $1", cancellation, tenant);
        var entries = await Scalar<long>(to, null, $"select count(*) from {s}.audit_log where tenant_id = $1", cancellation, tenant);
        var sourceEntries = await Scalar<long>(from, null, $"select count(*) from {s}.audit_log where tenant_id = $1", cancellation, tenant);
        if (events != sourceEvents || entries != sourceEntries)
            throw new TenantMoveException($"The copy holds {events} events and {entries} log entries; the source {sourceEvents} and {sourceEntries}.");
        var wrong = await Scalar<long>(to, null, $"""
            select count(*) from {s}.audit_log l left join {s}.mt_events e on e.tenant_id = l.tenant_id and e.seq_id = l.seq_id
            where l.tenant_id = $1 and (e.seq_id is null or l.leaf_hash <> sha256('\x00'::bytea || {s}.audit_leaf_data($1, l.log_index, e)))
            """, cancellation, tenant);
        if (wrong > 0) throw new TenantMoveException($"{wrong} moved log entries do not match their moved events: nothing was moved.");
        var tree = new MerkleTree();
        await using (var leaves = Sql.Command(to, null, $"select leaf_hash from {s}.audit_log where tenant_id = $1 order by log_index", tenant))
        await using (var reader = await leaves.ExecuteReaderAsync(cancellation))
            while (await reader.ReadAsync(cancellation)) tree.Append((byte[])reader[0]);
        long checkpoints = 0;
        await using (var signed = Sql.Command(to, null, $"select tree_size, root_hash from {s}.audit_checkpoints where tenant_id = $1 order by tree_size", tenant))
        await using (var reader = await signed.ExecuteReaderAsync(cancellation))
            while (await reader.ReadAsync(cancellation))
            {
                var (size, root) = (reader.GetInt64(0), (byte[])reader[1]);
                if (size > tree.Size || !tree.Root(size).AsSpan().SequenceEqual(root))
                    throw new TenantMoveException($"The moved log's root at {size} entries is not the one its checkpoint signed: nothing was moved.");
                checkpoints++;
            }
        return (events, entries, checkpoints);
    }

    private static async Task<int> Execute(NpgsqlConnection connection, NpgsqlTransaction? transaction, string sql, CancellationToken cancellation,
        params object?[] values)
    {
        await using var command = Sql.Command(connection, transaction, sql, values);
        return await command.ExecuteNonQueryAsync(cancellation);
    }

    private static async Task<T> Scalar<T>(NpgsqlConnection connection, NpgsqlTransaction? transaction, string sql, CancellationToken cancellation,
        params object?[] values)
    {
        await using var command = Sql.Command(connection, transaction, sql, values);
        return (T)(await command.ExecuteScalarAsync(cancellation))!;
    }

    private static string Quote(string name) => SchemaRegistry.Quote(name);
}
