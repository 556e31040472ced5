using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using JasperFx.Events;
using Marten;
using Npgsql;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Keys;
using TenantEvents.Ledger;
using TenantEvents.Scim;
using TenantEvents.Tenants;

namespace TenantEvents.Audit;

/// <summary>One audit entry as the API returns it.</summary>
public sealed record AuditEntry(
    long Index, long Seq, Guid EventId, Guid StreamId, string StreamKind, long Version, string Type, DateTimeOffset Time, DateTimeOffset? RecordedAt,
    AuditActor Actor, Guid? OnBehalfOf, string? CorrelationId, string? CausationId, DateTimeOffset RetainUntil, JsonNode? Before, JsonNode? After,
    JsonArray Patch);

public sealed record AuditActor(string? Subject, string? Kind, Guid? TenantId, string? ClientId);

/// <summary>Filters of an audit query; every one optional.</summary>
public sealed record AuditQuery(Guid? Stream, string? Actor, string? Type, DateTimeOffset? From, DateTimeOffset? To, long? After, int Limit);

/// <summary>
/// The audit query model: follows each tenant's log in order and writes, per event, an entry with the actor, the time,
/// the record's state before and after (sealed under the tenant's key; personal data inside stays sealed under each
/// person's own key, so erasing a person also erases them from the trail) and the retention promised when it was
/// written. Caught up on every read (read-your-writes) and by the audit job. One projector per tenant at a time across
/// instances (an advisory lock on the tenant's database).
/// </summary>
public sealed class AuditProjector(TenantStreams streams, ScimStore scim, AuditLog log, ILogger<AuditProjector> logger)
{
    private const int Batch = 500;
    private string Schema => streams.Options.DatabaseSchema;

    /// <summary>Brings the tenant's audit entries up to its log. False if the tenant's keys are gone (shredded).</summary>
    public async Task<bool> CatchUpAsync(Guid tenant, CancellationToken cancellation)
    {
        await log.FlushAsync(tenant, cancellation);
        while (true)
        {
            int done;
            try
            {
                done = await StepAsync(tenant, cancellation);
            }
            catch (KeyDestroyedException)
            {
                return false;
            }
            if (done < Batch) return true;
        }
    }

    private sealed record Pending(long Index, long Seq, DateTimeOffset RecordedAt);

    private async Task<int> StepAsync(Guid tenant, CancellationToken cancellation)
    {
        var source = (await streams.Databases.ForAsync(tenant, cancellation)).Service;
        await using var connection = await source.OpenConnectionAsync(cancellation);
        await using var transaction = await connection.BeginTransactionAsync(cancellation);
        await AuditLog.SetTenantAsync(connection, transaction, tenant, cancellation);
        await Exec(connection, transaction, "select pg_advisory_xact_lock(hashtextextended('tenantevents:audit-projection:' || $1, 0))", cancellation, tenant.ToString());

        long position = 0;
        var retention = TenantRules.MaxRetentionDays;
        await using (var read = Command(connection, transaction, $"select position, retention_days from {Schema}.audit_positions where tenant_id = $1", tenant.ToString()))
        await using (var reader = await read.ExecuteReaderAsync(cancellation))
            if (await reader.ReadAsync(cancellation)) (position, retention) = (reader.GetInt64(0), reader.GetInt32(1));

        var pending = new List<Pending>();
        await using (var read = Command(connection, transaction, $"""
            select l.log_index, l.seq_id, e.timestamp from {Schema}.audit_log l join {Schema}.mt_events e on e.seq_id = l.seq_id
            where l.tenant_id = $1 and l.log_index >= $2 order by l.log_index limit {Batch}
            """, tenant.ToString(), position))
        await using (var reader = await read.ExecuteReaderAsync(cancellation))
            while (await reader.ReadAsync(cancellation))
                pending.Add(new Pending(reader.GetInt64(0), reader.GetInt64(1), reader.GetFieldValue<DateTimeOffset>(2)));
        // An event removed from the store behind the log's back stops the projection where it is (`audit verify` names it).
        var contiguous = pending.TakeWhile((p, i) => p.Index == position + i).ToList();
        if (contiguous.Count == 0) return 0;

        IReadOnlyList<IEvent> events;
        await using (var session = streams.Store.QuerySession(tenant.ToString()))
        {
            long first = contiguous.Min(p => p.Seq), last = contiguous.Max(p => p.Seq);
            events = await session.Events.QueryAllRawEvents().Where(e => e.Sequence >= first && e.Sequence <= last).ToListAsync(cancellation);
        }
        var bySeq = events.ToDictionary(e => e.Sequence);
        var states = new Dictionary<Guid, (string Kind, JsonNode? State)>();
        foreach (var p in contiguous)
        {
            if (!bySeq.TryGetValue(p.Seq, out var stored)) break;
            var data = await streams.OpenAsync(stored, cancellation);
            data = await scim.OpenEventResourcesAsync(tenant, data, cancellation);
            var kind = AuditEventTypes.StreamKind(data.GetType());
            if (!states.TryGetValue(stored.StreamId, out var current))
                current = (kind, await LoadStateAsync(connection, transaction, tenant, stored.StreamId, cancellation));
            JsonNode? after;
            try
            {
                after = AuditStates.Evolve(kind, current.State, data, stored.Version);
            }
            catch (Exception e) when (e is InvalidOperationException or ArgumentException or JsonException)
            {
                logger.LogError(e, "Audit state of stream {Stream} of tenant {Tenant} could not be folded at version {Version}", stored.StreamId, tenant, stored.Version);
                after = current.State;
            }
            switch (data)
            {
                case TenantRequested r: retention = r.Settings.AuditRetentionDays; break;
                case TenantSettingsUpdated u: retention = u.Settings.AuditRetentionDays; break;
            }
            var actor = data.GetType().GetProperty("By")?.GetValue(data) as Actor;
            var at = data.GetType().GetProperty("At")?.GetValue(data) is DateTimeOffset when ? when : p.RecordedAt;
            Guid? onBehalfOf = actor is not null && actor.Kind != "system" && actor.TenantId != tenant ? tenant : null;
            var body = JsonSerializer.SerializeToUtf8Bytes(new JsonObject
            {
                ["before"] = await ProtectAsync(tenant, kind, current.State, cancellation),
                ["after"] = await ProtectAsync(tenant, kind, after, cancellation),
            });
            var sealedBody = await streams.SealBytesAsync(tenant, body, stored.StreamId, EntryType(p.Index), cancellation);
            await using (var insert = Command(connection, transaction, $"""
                insert into {Schema}.audit_entries (tenant_id, log_index, seq_id, event_id, stream_id, stream_kind, version, type, at, recorded_at,
                  actor_subject, actor_kind, actor_tenant, client_id, on_behalf_of, correlation_id, causation_id, retain_until, key_version, nonce, ciphertext)
                values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)
                on conflict (tenant_id, log_index) do nothing
                """, tenant.ToString(), p.Index, p.Seq, stored.Id, stored.StreamId, kind, stored.Version, stored.EventTypeName, at, p.RecordedAt,
                actor?.Subject, actor?.Kind, actor?.TenantId, actor?.ClientId, onBehalfOf, stored.CorrelationId, stored.CausationId,
                at.AddDays(retention), sealedBody.KeyVersion, sealedBody.Nonce, sealedBody.Ciphertext))
                await insert.ExecuteNonQueryAsync(cancellation);
            states[stored.StreamId] = (kind, after);
            position = p.Index + 1;
        }
        foreach (var (stream, (kind, state)) in states)
        {
            var sealedState = await streams.SealBytesAsync(tenant, JsonSerializer.SerializeToUtf8Bytes(new JsonObject { ["state"] = await ProtectAsync(tenant, kind, state, cancellation) }),
                stream, StateType, cancellation);
            await using var upsert = Command(connection, transaction, $"""
                insert into {Schema}.audit_stream_states (tenant_id, stream_id, kind, version, key_version, nonce, ciphertext) values ($1, $2, $3, 0, $4, $5, $6)
                on conflict (tenant_id, stream_id) do update set kind = excluded.kind, version = {Schema}.audit_stream_states.version + 1,
                  key_version = excluded.key_version, nonce = excluded.nonce, ciphertext = excluded.ciphertext
                """, tenant.ToString(), stream, kind, sealedState.KeyVersion, sealedState.Nonce, sealedState.Ciphertext);
            await upsert.ExecuteNonQueryAsync(cancellation);
        }
        await using (var save = Command(connection, transaction, $"""
            insert into {Schema}.audit_positions (tenant_id, position, retention_days) values ($1, $2, $3)
            on conflict (tenant_id) do update set position = excluded.position, retention_days = excluded.retention_days
            """, tenant.ToString(), position, retention))
            await save.ExecuteNonQueryAsync(cancellation);
        await transaction.CommitAsync(cancellation);
        return contiguous.Count;
    }

    private const string StateType = "audit-state";

    private static string EntryType(long index) => $"audit-entry:{index}";

    /// <summary>
    /// A state as kept: the tenant's contacts sealed under each person's key (as in its events), a user's resource
    /// sealed under the user's key. Revealed again on read, and only while those keys exist.
    /// </summary>
    private async Task<JsonNode?> ProtectAsync(Guid tenant, string kind, JsonNode? state, CancellationToken cancellation)
    {
        if (state is null || !streams.Options.Sealing) return state?.DeepClone();
        switch (kind)
        {
            case "tenant":
                var aggregate = state.Deserialize<Tenant>(SealedJson.Options)!;
                return JsonSerializer.SerializeToNode(await ContactProtection.ProtectAsync(streams.Keys, aggregate, cancellation), SealedJson.Options);
            case "user" when state is JsonObject user && user["id"]?.GetValue<string>() is { } id && Guid.TryParse(id, out var userId):
                var key = await streams.Keys.SubjectKeyAsync(tenant, userId, create: false, cancellation);
                if (key is null) return new JsonObject { ["id"] = id, ["erased"] = true };
                var sealedUser = Sealing.Seal(key, Encoding.UTF8.GetBytes(state.ToJsonString()), userId, "audit-user");
                return new JsonObject { ["id"] = id, ["sealed"] = Convert.ToBase64String([.. sealedUser.Nonce, .. sealedUser.Ciphertext]), ["keyVersion"] = key.Version };
            default:
                return state.DeepClone();
        }
    }

    /// <summary>The inverse of <see cref="ProtectAsync"/>: the state with personal data, or marked erased.</summary>
    private async Task<JsonNode?> RevealAsync(Guid tenant, string kind, JsonNode? state, CancellationToken cancellation)
    {
        if (state is null) return null;
        switch (kind)
        {
            case "tenant" when streams.Options.Sealing:
                var tenantState = state.Deserialize<Tenant>(SealedJson.Options)!;
                return JsonSerializer.SerializeToNode(await ContactProtection.RevealAsync(streams.Keys, tenantState, cancellation), SealedJson.Options);
            case "user" when state is JsonObject user && user["sealed"]?.GetValue<string>() is { } sealedText && user["id"]?.GetValue<string>() is { } id:
                var userId = Guid.Parse(id);
                var key = await streams.Keys.SubjectKeyAsync(tenant, userId, create: false, cancellation);
                if (key is null) return new JsonObject { ["id"] = id, ["erased"] = true };
                var raw = Convert.FromBase64String(sealedText);
                var opened = Sealing.Open(key, new SealedPayload(key.Version, raw[..Sealing.NonceSize], raw[Sealing.NonceSize..]), userId, "audit-user");
                return JsonNode.Parse(opened);
            default:
                return state;
        }
    }

    private async Task<JsonNode?> LoadStateAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, Guid tenant, Guid stream, CancellationToken cancellation)
    {
        await using var read = Command(connection, transaction,
            $"select kind, key_version, nonce, ciphertext from {Schema}.audit_stream_states where tenant_id = $1 and stream_id = $2", tenant.ToString(), stream);
        await using var reader = await read.ExecuteReaderAsync(cancellation);
        if (!await reader.ReadAsync(cancellation)) return null;
        var kind = reader.GetString(0);
        var payload = new SealedPayload(reader.GetInt32(1), (byte[])reader[2], (byte[])reader[3]);
        await reader.CloseAsync();
        var bytes = await streams.OpenBytesAsync(tenant, payload, stream, StateType, cancellation);
        return await RevealAsync(tenant, kind, JsonNode.Parse(bytes)!["state"], cancellation);
    }

    /// <summary>
    /// Audit entries of a tenant, oldest first, after the cursor (a log index), up to the limit, as the reader's lens shows
    /// them (content it may not see withheld; see <see cref="ContentDisclosure"/>).
    /// </summary>
    public async Task<IReadOnlyList<AuditEntry>> QueryAsync(Guid tenant, AuditQuery query, DisclosureLens lens, CancellationToken cancellation)
    {
        await using var scope = await Infrastructure.Databases.TenantReadScope.OpenAsync(streams.Databases, tenant, cancellation);
        var where = new StringBuilder("tenant_id = $1");
        var values = new List<object> { tenant.ToString() };
        void Add(string clause, object value) { values.Add(value); where.Append($" and {clause.Replace("?", "$" + values.Count)}"); }
        if (query.Stream is { } s) Add("stream_id = ?", s);
        if (query.Actor is { } a) Add("actor_subject = ?", a);
        if (query.Type is { } t) Add("type = ?", t);
        if (query.From is { } f) Add("at >= ?", f);
        if (query.To is { } to) Add("at < ?", to);
        if (query.After is { } cursor) Add("log_index > ?", cursor);
        await using var read = Command(scope.Connection, scope.Transaction, $"""
            select log_index, seq_id, event_id, stream_id, stream_kind, version, type, at, recorded_at, actor_subject, actor_kind, actor_tenant, client_id,
                   on_behalf_of, correlation_id, causation_id, retain_until, key_version, nonce, ciphertext
            from {Schema}.audit_entries where {where} order by log_index limit {query.Limit}
            """, values.ToArray());
        var rows = new List<(AuditEntry Entry, SealedPayload Payload)>();
        await using (var reader = await read.ExecuteReaderAsync(cancellation))
            while (await reader.ReadAsync(cancellation))
            {
                string? S(int i) => reader.IsDBNull(i) ? null : reader.GetString(i);
                Guid? G(int i) => reader.IsDBNull(i) ? null : reader.GetGuid(i);
                rows.Add((new AuditEntry(reader.GetInt64(0), reader.GetInt64(1), reader.GetGuid(2), reader.GetGuid(3), reader.GetString(4), reader.GetInt64(5),
                    reader.GetString(6), reader.GetFieldValue<DateTimeOffset>(7), reader.IsDBNull(8) ? null : reader.GetFieldValue<DateTimeOffset>(8),
                    new AuditActor(S(9), S(10), G(11), S(12)), G(13), S(14), S(15), reader.GetFieldValue<DateTimeOffset>(16), null, null, []),
                    new SealedPayload(reader.GetInt32(17), (byte[])reader[18], (byte[])reader[19])));
            }
        var entries = new List<AuditEntry>(rows.Count);
        foreach (var (entry, payload) in rows)
        {
            var body = JsonNode.Parse(await streams.OpenBytesAsync(tenant, payload, entry.StreamId, EntryType(entry.Index), cancellation))!;
            var before = await RevealAsync(tenant, entry.StreamKind, body["before"], cancellation);
            var after = await RevealAsync(tenant, entry.StreamKind, body["after"], cancellation);
            entries.Add(await lens.ShowAsync(entry with { Before = before, After = after, Patch = JsonPatch.Diff(before, after) }, cancellation));
        }
        return entries;
    }

    /// <summary>
    /// Removes entries past their tenant's window from the query model (the ledger keeps every event): an entry goes
    /// once both the retention promised when it was written and the tenant's current retention have passed, and never
    /// while a legal hold binds the tenant's data.
    /// </summary>
    public async Task<long> PruneAsync(CancellationToken cancellation)
    {
        long removed = 0;
        var now = streams.Now;
        foreach (var database in streams.Databases.All)
        {
            if (database.Platform.Value is not { } platform) continue;
            var tenants = new List<Guid>();
            await using (var find = platform.CreateCommand($"select distinct tenant_id from {Schema}.audit_entries where retain_until < $1"))
            {
                find.Parameters.Add(new NpgsqlParameter { Value = now });
                await using var reader = await find.ExecuteReaderAsync(cancellation);
                while (await reader.ReadAsync(cancellation))
                    if (Guid.TryParse(reader.GetString(0), out var t)) tenants.Add(t);
            }
            foreach (var tenant in tenants) removed += await PruneAsync(tenant, now, cancellation);
        }
        return removed;
    }

    public async Task<long> PruneAsync(Guid tenant, DateTimeOffset now, CancellationToken cancellation)
    {
        // A legal hold preserves everything of the tenant, its trail first: retention resumes when the last hold is lifted.
        var (held, version) = await LegalHoldAsync(tenant, cancellation);
        if (held) return 0;
        var source = (await streams.Databases.ForAsync(tenant, cancellation)).Service;
        await using var connection = await source.OpenConnectionAsync(cancellation);
        await using var transaction = await connection.BeginTransactionAsync(cancellation);
        await AuditLog.SetTenantAsync(connection, transaction, tenant, cancellation);
        // The tenant's record, locked until this prune commits, must be the one just read: a hold placed since then (a
        // new version) stops this prune, and one placed from now on waits for the commit (every tenant write stores the record).
        await using (var locked = Command(connection, transaction,
                         $"select (d.data ->> 'Version')::int from {streams.Store.Options.Schema.For<TenantRecord>()} d where d.id = $1 for share", tenant))
            if (await locked.ExecuteScalarAsync(cancellation) as int? != version) return 0;
        await using var delete = Command(connection, transaction, $"""
            delete from {Schema}.audit_entries e where e.tenant_id = $1 and e.retain_until < $2
              and e.at + make_interval(days => coalesce((select p.retention_days from {Schema}.audit_positions p where p.tenant_id = $1), {TenantRules.MaxRetentionDays})) < $2
            """, tenant.ToString(), now);
        var removed = await delete.ExecuteNonQueryAsync(cancellation);
        await transaction.CommitAsync(cancellation);
        return removed;
    }

    /// <summary>Whether a legal hold binds the tenant now, and the version of its record that says so (null: no record).</summary>
    private async Task<(bool Held, int? Version)> LegalHoldAsync(Guid tenant, CancellationToken cancellation)
    {
        await using var session = streams.Store.QuerySession(tenant.ToString());
        if (await session.LoadAsync<TenantRecord>(tenant, cancellation) is not { } record) return (false, null);
        // A shredded tenant has no holds: its decommission could not complete while one was in force.
        if (record.Shredded) return (false, record.Version);
        try
        {
            return ((await streams.ReadAsync(record, cancellation)).LegalHolds.Count > 0, record.Version);
        }
        catch (KeyDestroyedException)
        {
            return (false, record.Version);
        }
    }

    private static NpgsqlCommand Command(NpgsqlConnection connection, NpgsqlTransaction? transaction, string sql, params object?[] values) =>
        Infrastructure.Databases.Sql.Command(connection, transaction, sql, values);

    private static async Task Exec(NpgsqlConnection connection, NpgsqlTransaction transaction, string sql, CancellationToken cancellation, params object?[] values)
    {
        await using var command = Command(connection, transaction, sql, values);
        await command.ExecuteNonQueryAsync(cancellation);
    }
}
