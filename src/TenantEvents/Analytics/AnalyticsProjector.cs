using Marten;
using Npgsql;
using NpgsqlTypes;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Databases;
using TenantEvents.Infrastructure.Projections;
using TenantEvents.Tenants;

namespace TenantEvents.Analytics;

/// <summary>How far the analytics projections of one database have read, and how far behind the events they are.</summary>
public sealed record ProjectionProgress(string Database, long Position, long Head, long EventsBehind, double LagSeconds, long EventsProjected,
    int Holes, DateTimeOffset? LastEventAt, DateTimeOffset UpdatedAt, DateTimeOffset? RebuiltAt);

/// <summary>
/// The analytics projections, fed by the events asynchronously (the command's transaction never waits for them):
/// per database, reads mt_events in sequence order after its position (as the platform role: events of every tenant,
/// only their clear columns), folds a batch (<see cref="AnalyticsFold"/>) and applies it with the new position in one
/// transaction (<c>analytics_apply</c>), so a batch counts once, across crashes and across instances (an advisory lock
/// per database: one projector at a time). A sequence number missing between those read belongs to a transaction not
/// yet committed (or rolled back): it is remembered and read again each round until it appears (then folded: every
/// projection is order-free) or <see cref="TenantEventsOptions.AnalyticsHoleTimeout"/> passes. Rebuild: empty the
/// projections and read from the start (<see cref="RebuildAsync"/>).
/// </summary>
public sealed class AnalyticsProjector(TenantDatabases databases, IDocumentStore store, Clock clock, TenantEventsOptions options, ILogger<AnalyticsProjector> logger) : IAsyncProjection
{
    private const string LockKey = "tenantevents:analytics-projection";
    private string Schema => options.DatabaseSchema;

    public string Name => "analytics";

    public string Builds => "analytics_tenants, analytics_event_days, analytics_record_kinds (position: analytics_progress, per database)";

    public bool Enabled => options.AnalyticsProjection;

    public TimeSpan Interval => options.AnalyticsProjectionInterval;

    /// <summary>A round reads everything committed up to now (in batches), so there is never more at once.</summary>
    public async Task<bool> RoundAsync(CancellationToken cancellation)
    {
        await CatchUpAsync(cancellation, wait: false);
        return false;
    }

    public async Task<IReadOnlyList<ProjectionPosition>> LagAsync(CancellationToken cancellation) =>
        [.. (await ProgressAsync(cancellation)).Select(p => new ProjectionPosition(p.Database, p.Position, p.Head, p.EventsBehind, p.LagSeconds))];

    /// <summary>
    /// Reads every database's events up to what is committed now; returns how many events were folded. With
    /// <paramref name="wait"/>, waits for a batch another projector has in flight instead of leaving the database to it.
    /// </summary>
    public async Task<long> CatchUpAsync(CancellationToken cancellation, bool wait = true)
    {
        long total = 0;
        foreach (var database in databases.All)
        {
            // While one batch is applied, the next range is already being read (on another connection).
            Task<Range>? next = null;
            while (true)
            {
                var (folded, more, prefetch) = await StepAsync(database, wait, next, cancellation);
                total += folded;
                next = prefetch;
                if (!more) break;
            }
        }
        return total;
    }

    /// <summary>Empties the projections of every database and reads all events again (as a new instance would).</summary>
    public async Task<long> RebuildAsync(CancellationToken cancellation)
    {
        await ResetAsync(cancellation);
        return await CatchUpAsync(cancellation);
    }

    /// <summary>Empties the projections of every database and sets them to read from the first event (the projector does the rest).</summary>
    public async Task ResetAsync(CancellationToken cancellation)
    {
        foreach (var database in databases.All)
        {
            await using var connection = await database.Service.OpenConnectionAsync(cancellation);
            await using var transaction = await connection.BeginTransactionAsync(cancellation);
            // Waits for a projector's batch in flight (the lock is the batch's transaction's).
            await Exec(connection, transaction, $"select pg_advisory_xact_lock(hashtextextended('{LockKey}', 0))", cancellation);
            await Exec(connection, transaction, $"select {Schema}.analytics_reset($1)", cancellation, clock.UtcNow);
            await transaction.CommitAsync(cancellation);
        }
    }

    /// <summary>A range of sequence numbers as read: its first number (exclusive), the events in it, and the highest number committed then.</summary>
    private sealed record Range(long After, List<EventFact> Events, long Head);

    private async Task<Range> ReadRangeAsync(NpgsqlDataSource platform, long after, int batch, CancellationToken cancellation)
    {
        var events = new List<EventFact>(Math.Min(batch, 65_536));
        await using (var read = platform.CreateCommand($"""
            select seq_id, tenant_id, type, stream_id, version, timestamp from {Schema}.mt_events
            where seq_id > $1 and seq_id <= $1 + $2 order by seq_id
            """))
        {
            // A range of sequence numbers (not "the next n rows"): a long run of rolled-back numbers is skipped a range at a time.
            read.Parameters.Add(new NpgsqlParameter { Value = after });
            read.Parameters.Add(new NpgsqlParameter { Value = (long)batch });
            await using var reader = await read.ExecuteReaderAsync(cancellation);
            while (await reader.ReadAsync(cancellation)) events.Add(Fact(reader));
        }
        // The range read is complete only up to the highest committed sequence number; past it nothing existed yet.
        await using (var read = platform.CreateCommand($"select coalesce(max(seq_id), 0) from {Schema}.mt_events where seq_id > $1"))
        {
            read.Parameters.Add(new NpgsqlParameter { Value = after });
            return new Range(after, events, (long)(await read.ExecuteScalarAsync(cancellation))!);
        }
    }

    /// <summary>
    /// One batch of one database: (folded, more, the next range's read when more): more when the batch was full. A
    /// prefetched range is used if it starts where the position is (else another instance moved on: read again).
    /// </summary>
    private async Task<(long Folded, bool More, Task<Range>? Next)> StepAsync(TenantDatabases.Database database, bool wait, Task<Range>? prefetched,
        CancellationToken cancellation)
    {
        var platform = database.Platform.Value ?? throw new InvalidOperationException("No platform connection: the analytics projector reads every tenant's events.");
        await using var connection = await database.Service.OpenConnectionAsync(cancellation);
        await using var transaction = await connection.BeginTransactionAsync(cancellation);
        if (wait) await Exec(connection, transaction, $"select pg_advisory_xact_lock(hashtextextended('{LockKey}', 0))", cancellation);
        else
            await using (var locking = new NpgsqlCommand($"select pg_try_advisory_xact_lock(hashtextextended('{LockKey}', 0))", connection, transaction))
                if (!(bool)(await locking.ExecuteScalarAsync(cancellation))!) return (0, false, null); // another instance is at it
        long position;
        await using (var read = new NpgsqlCommand($"select position from {Schema}.analytics_progress where projection = 'analytics'", connection, transaction))
            position = (long)(await read.ExecuteScalarAsync(cancellation) ?? 0L);
        var holes = new Dictionary<long, DateTimeOffset>();
        await using (var read = new NpgsqlCommand($"select seq_id, noticed_at from {Schema}.analytics_holes", connection, transaction))
        await using (var reader = await read.ExecuteReaderAsync(cancellation))
            while (await reader.ReadAsync(cancellation)) holes[reader.GetInt64(0)] = reader.GetFieldValue<DateTimeOffset>(1);

        var batch = options.AnalyticsBatchSize;
        Range? range = null;
        if (prefetched is not null)
            try
            {
                range = await prefetched;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogDebug(e, "Prefetched analytics range failed; read again");
            }
        if (range is null || range.After != position) range = await ReadRangeAsync(platform, position, batch, cancellation);
        var (events, head) = (range.Events, range.Head);
        var late = new List<EventFact>();
        if (holes.Count > 0)
        {
            await using var read = platform.CreateCommand($"""
                select seq_id, tenant_id, type, stream_id, version, timestamp from {Schema}.mt_events where seq_id = any($1)
                """);
            read.Parameters.Add(new NpgsqlParameter { Value = holes.Keys.ToArray() });
            await using var reader = await read.ExecuteReaderAsync(cancellation);
            while (await reader.ReadAsync(cancellation)) late.Add(Fact(reader));
        }
        var reached = Math.Min(position + batch, head);
        var now = clock.UtcNow;
        // A gap followed by events recorded longer ago than the hole timeout is final (a rebuild reading old events finds
        // the numbers of old rollbacks): only gaps before recent events are looked for again.
        var newHoles = reached > position
            ? AnalyticsFold.Holes(position, [.. events.Select(e => e.Seq), reached + 1]).Where(h => h <= reached)
                .Where(h => FirstAfter(events, h) is not { } after || now - after.At <= options.AnalyticsHoleTimeout).ToList()
            : [];
        var settled = late.Select(e => e.Seq).Concat(holes.Where(h => now - h.Value > options.AnalyticsHoleTimeout).Select(h => h.Key)).Distinct().ToArray();
        if (events.Count == 0 && late.Count == 0 && settled.Length == 0 && reached <= position) return (0, false, null);
        var more = reached >= position + batch;
        var next = more ? ReadRangeAsync(platform, reached, batch, cancellation) : null;

        var delta = AnalyticsFold.Fold(events.Concat(late));
        // Template, zone and country: from the tenant's clear record (the events holding them are sealed), for tenants
        // whose lifecycle began in this batch.
        var placements = await PlacementsAsync(platform,
            delta.Tenants.Where(t => t.Value.RequestedAt is not null).Select(t => t.Key).ToArray(), cancellation);

        await using (var apply = new NpgsqlCommand($"""
            select {Schema}.analytics_apply($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26)
            """, connection, transaction))
        {
            var p = apply.Parameters;
            p.Add(new NpgsqlParameter { Value = Math.Max(position, reached) });
            p.Add(new NpgsqlParameter { Value = delta.Events });
            p.Add(new NpgsqlParameter { Value = (object?)delta.LastAt ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.TimestampTz });
            p.Add(new NpgsqlParameter { Value = now });
            p.Add(new NpgsqlParameter { Value = newHoles.ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bigint });
            p.Add(new NpgsqlParameter { Value = settled, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bigint });
            var days = delta.Days.ToList();
            p.Add(Texts(days.Select(d => d.Key.Tenant)));
            p.Add(new NpgsqlParameter { Value = days.Select(d => d.Key.Day).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Date });
            p.Add(Longs(days.Select(d => d.Value.Events)));
            p.Add(Longs(days.Select(d => d.Value.Records)));
            var kinds = delta.Kinds.ToList();
            p.Add(Texts(kinds.Select(k => k.Key.Tenant)));
            p.Add(Texts(kinds.Select(k => k.Key.Kind)));
            p.Add(Longs(kinds.Select(k => k.Value.Events)));
            p.Add(Longs(kinds.Select(k => k.Value.Records)));
            var tenants = delta.Tenants.ToList();
            p.Add(Texts(tenants.Select(t => t.Key)));
            p.Add(Texts(tenants.Select(t => t.Value.State)));
            p.Add(Longs(tenants.Select(t => t.Value.StateVersion)));
            p.Add(Texts(tenants.Select(t => placements.GetValueOrDefault(t.Key).Template)));
            p.Add(Texts(tenants.Select(t => placements.GetValueOrDefault(t.Key).Zone)));
            p.Add(Texts(tenants.Select(t => placements.GetValueOrDefault(t.Key).Country)));
            p.Add(Times(tenants.Select(t => t.Value.RequestedAt)));
            p.Add(Times(tenants.Select(t => t.Value.ProvisionedAt)));
            p.Add(Times(tenants.Select(t => t.Value.DecommissionedAt)));
            p.Add(Times(tenants.Select(t => (DateTimeOffset?)t.Value.FirstAt)));
            p.Add(Times(tenants.Select(t => (DateTimeOffset?)t.Value.LastAt)));
            p.Add(Longs(tenants.Select(t => t.Value.Events)));
            await apply.ExecuteNonQueryAsync(cancellation);
        }
        await transaction.CommitAsync(cancellation);
        return (delta.Events, more, next);
    }

    /// <summary>The first event after a sequence number in a sorted batch (binary search); null if none.</summary>
    private static EventFact? FirstAfter(List<EventFact> events, long seq)
    {
        int lo = 0, hi = events.Count;
        while (lo < hi)
        {
            var mid = (lo + hi) / 2;
            if (events[mid].Seq <= seq) lo = mid + 1; else hi = mid;
        }
        return lo < events.Count ? events[lo] : null;
    }

    private static EventFact Fact(NpgsqlDataReader reader) =>
        new(reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.GetGuid(3), reader.GetInt64(4), reader.GetFieldValue<DateTimeOffset>(5));

    private async Task<Dictionary<string, (string? Template, string? Zone, string? Country)>> PlacementsAsync(NpgsqlDataSource platform, string[] tenants,
        CancellationToken cancellation)
    {
        var found = new Dictionary<string, (string?, string?, string?)>(StringComparer.Ordinal);
        if (tenants.Length == 0) return found;
        await using var read = platform.CreateCommand($"""
            select tenant_id, data ->> 'Template', coalesce(data ->> 'Zone', 'default'), data ->> 'Country'
            from {store.Options.Schema.For<TenantRecord>()} where tenant_id = any($1) and id::text = tenant_id
            """);
        read.Parameters.Add(new NpgsqlParameter { Value = tenants });
        await using var reader = await read.ExecuteReaderAsync(cancellation);
        while (await reader.ReadAsync(cancellation))
            found[reader.GetString(0)] = (reader.IsDBNull(1) ? null : reader.GetString(1), reader.IsDBNull(2) ? null : reader.GetString(2),
                reader.IsDBNull(3) ? null : reader.GetString(3));
        return found;
    }

    /// <summary>Every database's progress: position, the newest event, how far behind (events and seconds), holes waiting.</summary>
    public async Task<IReadOnlyList<ProjectionProgress>> ProgressAsync(CancellationToken cancellation)
    {
        var list = new List<ProjectionProgress>();
        foreach (var database in databases.All)
        {
            if (database.Platform.Value is not { } platform) continue;
            await using var read = platform.CreateCommand($"""
                select p.position, p.events, p.last_event_at, p.updated_at, p.rebuilt_at,
                       (select count(*) from {Schema}.analytics_holes),
                       (select coalesce(max(seq_id), 0) from {Schema}.mt_events),
                       (select count(*) from (select 1 from {Schema}.mt_events e where e.seq_id > p.position limit 1000000) behind),
                       (select min(e.timestamp) from {Schema}.mt_events e where e.seq_id = (select min(seq_id) from {Schema}.mt_events where seq_id > p.position))
                from {Schema}.analytics_progress p where p.projection = 'analytics'
                """);
            await using var reader = await read.ExecuteReaderAsync(cancellation);
            if (!await reader.ReadAsync(cancellation)) continue;
            var oldestUnread = reader.IsDBNull(8) ? (DateTimeOffset?)null : reader.GetFieldValue<DateTimeOffset>(8);
            // Lag: how long the oldest event not yet read has waited (0 when caught up).
            var lag = oldestUnread is { } at ? Math.Max(0, (clock.UtcNow - at).TotalSeconds) : 0;
            list.Add(new ProjectionProgress(database.Entry.Id, reader.GetInt64(0), reader.GetInt64(6), reader.GetInt64(7), Math.Round(lag, 3),
                reader.GetInt64(1), (int)reader.GetInt64(5), reader.IsDBNull(2) ? null : reader.GetFieldValue<DateTimeOffset>(2),
                reader.GetFieldValue<DateTimeOffset>(3), reader.IsDBNull(4) ? null : reader.GetFieldValue<DateTimeOffset>(4)));
        }
        return list;
    }

    private static NpgsqlParameter Texts(IEnumerable<string?> values) =>
        new() { Value = values.Select(v => (object?)v ?? DBNull.Value).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text };

    private static NpgsqlParameter Longs(IEnumerable<long> values) =>
        new() { Value = values.ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bigint };

    private static NpgsqlParameter Times(IEnumerable<DateTimeOffset?> values) =>
        new() { Value = values.Select(v => (object?)v ?? DBNull.Value).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.TimestampTz };

    private static async Task Exec(NpgsqlConnection connection, NpgsqlTransaction transaction, string sql, CancellationToken cancellation, params object[] values)
    {
        await using var command = TenantEvents.Infrastructure.Databases.Sql.Command(connection, transaction, sql, values);
        await command.ExecuteNonQueryAsync(cancellation);
    }
}
