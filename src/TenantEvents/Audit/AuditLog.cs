using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text.Json;
using Npgsql;
using TenantEvents.Identity;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Databases;
using TenantEvents.Keys;
using TenantEvents.Ledger;
using TenantEvents.Tenants;

namespace TenantEvents.Audit;

/// <summary>The tenant's log lost an entry (tampering): nothing more is signed until an operator has looked.</summary>
public sealed class AuditLogBrokenException(Guid tenant, long index)
    : Exception($"The audit log of tenant {tenant} has lost entry {index}; no checkpoint is signed over it.")
{
    public long Index { get; } = index;
}

/// <summary>A signed checkpoint as stored.</summary>
public sealed record StoredCheckpoint(long Size, byte[] Root, string Note, DateTimeOffset CreatedAt);

/// <summary>
/// The service side of the ledger: the platform's log key, each tenant's Merkle tree held in memory (caught up from
/// audit_log, which the database appends to in the transaction of every event), signed checkpoints, inclusion and
/// consistency proofs, and export bundles. The log itself is written only by the database trigger.
/// </summary>
public sealed class AuditLog(TenantDatabases databases, TenantDirectory directory, Clock clock, IKeyService keyService, TenantEventsOptions options, ILogger<AuditLog> logger)
{
    private sealed class TreeEntry
    {
        public readonly SemaphoreSlim Gate = new(1, 1);
        public readonly MerkleTree Tree = new();
        public long LastUsed;
        public long? BrokenAt;
    }

    private readonly ConcurrentDictionary<Guid, TreeEntry> _trees = new();
    private readonly SemaphoreSlim _keyGate = new(1, 1);
    private NoteKey? _signer;
    private NoteKey? _verifier;
    private long _uses;

    /// <summary>At most this many tenants' trees stay in memory; the least recently used are rebuilt from the log when needed.</summary>
    public const int TreeCacheSize = 256;

    private string Schema => options.DatabaseSchema;

    public string LogName => options.AuditLogName is { Length: > 0 } name ? name : new Uri(options.PublicUrl).Authority;

    public string Origin(Guid tenant) => LedgerLeaf.Origin(LogName, tenant);

    /// <summary>The checkpoint signing key: made on first use (one instance makes it under a lock, the others read it).</summary>
    public async Task<NoteKey> SignerAsync(CancellationToken cancellation)
    {
        if (_signer is { } signer) return signer;
        await _keyGate.WaitAsync(cancellation);
        try
        {
            if (_signer is { } made) return made;
            // The log key is the platform's: made and retired as the platform role (the service's role may only read it).
            await using var connection = await directory.Platform.OpenConnectionAsync(cancellation);
            await using var transaction = await connection.BeginTransactionAsync(cancellation);
            await using (var lockCommand = new NpgsqlCommand("select pg_advisory_xact_lock(hashtextextended('tenantevents:audit-log-key', 0))", connection, transaction))
                await lockCommand.ExecuteNonQueryAsync(cancellation);
            ECDsa ecdsa;
            await using (var read = new NpgsqlCommand(
                $"select name, spki, kek_id, wrap_algorithm, wrapped_d from {Schema}.audit_log_keys where retired_at is null order by created_at desc limit 1",
                connection, transaction))
            await using (var reader = await read.ExecuteReaderAsync(cancellation))
            {
                if (await reader.ReadAsync(cancellation))
                {
                    var (name, spki, kekId, algorithm, wrapped) = (reader.GetString(0), (byte[])reader[1], reader.GetString(2), reader.GetString(3), (byte[])reader[4]);
                    await reader.CloseAsync();
                    try
                    {
                        var kek = await keyService.Resolver.ResolveAsync(kekId, cancellation);
                        var d = await kek.UnwrapKeyAsync(algorithm, wrapped, cancellation);
                        using var pub = ECDsa.Create();
                        pub.ImportSubjectPublicKeyInfo(spki, out _);
                        var q = pub.ExportParameters(false).Q;
                        ecdsa = ECDsa.Create(new ECParameters { Curve = ECCurve.NamedCurves.nistP256, Q = q, D = d });
                        CryptographicOperations.ZeroMemory(d);
                        await transaction.CommitAsync(cancellation);
                        return Remember(NoteKey.ForSigning(name, ecdsa));
                    }
                    catch (Exception e) when (e is KeyNotFoundException or CryptographicException)
                    {
                        // The key service no longer holds this key's KEK: it can only verify now (its public key stays
                        // listed). A new key signs from here on; auditors are told of it by the log-key endpoint.
                        logger.LogWarning(e, "The audit log key's KEK is gone; a new audit log key is made");
                        await using var retire = new NpgsqlCommand($"update {Schema}.audit_log_keys set retired_at = now() where retired_at is null", connection, transaction);
                        await retire.ExecuteNonQueryAsync(cancellation);
                    }
                }
            }
            ecdsa = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var parameters = ecdsa.ExportParameters(includePrivateParameters: true);
            var kekIdNew = await keyService.CreateKeyAsync(PlatformSigningKeys.PlatformKeyOwner, cancellation);
            var kekNew = await keyService.Resolver.ResolveAsync(kekIdNew, cancellation);
            var wrappedNew = await kekNew.WrapKeyAsync(keyService.WrapAlgorithm, parameters.D!, cancellation);
            CryptographicOperations.ZeroMemory(parameters.D);
            var key = NoteKey.ForSigning(LogName, ecdsa);
            await using (var insert = new NpgsqlCommand($"""
                insert into {Schema}.audit_log_keys (key_id, name, spki, kek_id, wrap_algorithm, wrapped_d, created_at)
                values ($1, $2, $3, $4, $5, $6, now())
                """, connection, transaction))
            {
                foreach (var v in new object[] { (long)key.Id, key.Name, key.PublicKey, kekIdNew, keyService.WrapAlgorithm, wrappedNew })
                    insert.Parameters.Add(new NpgsqlParameter { Value = v });
                await insert.ExecuteNonQueryAsync(cancellation);
            }
            await transaction.CommitAsync(cancellation);
            logger.LogInformation("Made the audit log signing key {Name} {KeyId:x8}", key.Name, key.Id);
            return Remember(key);
        }
        finally
        {
            _keyGate.Release();
        }
    }

    private NoteKey Remember(NoteKey key)
    {
        _verifier = NoteKey.ParseVerifier(key.VerifierKey);
        _signer = key;
        return key;
    }

    /// <summary>The public half of the log key, what auditors pin: name+id+key (c2sp.org/signed-note verifier key).</summary>
    public async Task<NoteKey> VerifierAsync(CancellationToken cancellation)
    {
        await SignerAsync(cancellation);
        return _verifier!;
    }

    /// <summary>Appends the tenant's pending events to its log (audit_flush, as the owner); how many were appended.</summary>
    public async Task<long> FlushAsync(Guid tenant, CancellationToken cancellation)
    {
        var source = (await databases.ForAsync(tenant, cancellation)).Service;
        await using var command = source.CreateCommand($"select {Schema}.audit_flush($1)");
        command.Parameters.Add(new NpgsqlParameter { Value = tenant.ToString() });
        return (long)(await command.ExecuteScalarAsync(cancellation))!;
    }

    /// <summary>Tenants of every database with events waiting for the log (cross-tenant: the platform role).</summary>
    public async Task<IReadOnlyList<Guid>> TenantsPendingAsync(CancellationToken cancellation)
    {
        var pending = new List<Guid>();
        Exception? failed = null;
        foreach (var database in databases.All)
        {
            if (database.Platform.Value is not { } platform) continue;
            try
            {
                await using var command = platform.CreateCommand($"select distinct tenant_id from {Schema}.audit_pending");
                await using var reader = await command.ExecuteReaderAsync(cancellation);
                while (await reader.ReadAsync(cancellation))
                    if (Guid.TryParse(reader.GetString(0), out var t)) pending.Add(t);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // A database that does not answer costs its own tenants their flush, not the other databases'.
                logger.LogWarning(e, "Reading the pending audit events of database {Database} failed", database.Entry.Id);
                failed ??= e;
            }
        }
        if (failed is not null && pending.Count == 0) throw failed;
        return pending;
    }

    /// <summary>Every audit log key there has been (the signing one first), as verifier keys: checkpoints signed by a key
    /// that has since been replaced still verify under it.</summary>
    public async Task<IReadOnlyList<string>> AllVerifierKeysAsync(CancellationToken cancellation)
    {
        var current = (await VerifierAsync(cancellation)).VerifierKey;
        var keys = new List<string> { current };
        await using var command = databases.Main.Service.CreateCommand($"select name, spki from {Schema}.audit_log_keys order by created_at desc");
        await using var reader = await command.ExecuteReaderAsync(cancellation);
        while (await reader.ReadAsync(cancellation))
        {
            var vkey = NoteKey.VerifierKeyOf(reader.GetString(0), (byte[])reader[1]);
            if (!keys.Contains(vkey)) keys.Add(vkey);
        }
        return keys;
    }

    /// <summary>Runs <paramref name="work"/> on the tenant's tree, caught up with every log entry committed so far.</summary>
    private async Task<T> WithTreeAsync<T>(Guid tenant, Func<MerkleTree, NpgsqlConnection, Task<T>> work, CancellationToken cancellation)
    {
        var entry = _trees.GetOrAdd(tenant, _ => new TreeEntry());
        Volatile.Write(ref entry.LastUsed, Interlocked.Increment(ref _uses));
        if (_trees.Count > TreeCacheSize)
            foreach (var stale in _trees.Where(e => e.Key != tenant).OrderBy(e => Volatile.Read(ref e.Value.LastUsed)).Take(_trees.Count - TreeCacheSize).ToList())
                _trees.TryRemove(stale.Key, out _);
        await entry.Gate.WaitAsync(cancellation);
        try
        {
            await FlushAsync(tenant, cancellation);
            await using var scope = await TenantReadScope.OpenAsync(databases, tenant, cancellation);
            // Indexes are handed out by audit_flush under the tenant's log lock, one past the largest committed: committed
            // entries never leave a hole that a later commit fills, so reading on from the tree's size misses nothing.
            await using (var read = new NpgsqlCommand(
                $"select log_index, leaf_hash from {Schema}.audit_log where tenant_id = $1 and log_index >= $2 order by log_index",
                scope.Connection, scope.Transaction))
            {
                read.Parameters.Add(new NpgsqlParameter { Value = tenant.ToString() });
                read.Parameters.Add(new NpgsqlParameter { Value = entry.Tree.Size });
                await using var reader = await read.ExecuteReaderAsync(cancellation);
                while (entry.BrokenAt is null && await reader.ReadAsync(cancellation))
                {
                    if (reader.GetInt64(0) != entry.Tree.Size)
                    {
                        // Entries cannot go missing (no one may delete them): someone with the database's own rights did.
                        // The tree stops there, nothing more is signed, and `audit verify` names the place.
                        entry.BrokenAt = entry.Tree.Size;
                        logger.LogCritical("The audit log of tenant {Tenant} has lost entry {Index}: the ledger was tampered with; no further checkpoint is signed",
                            tenant, entry.Tree.Size);
                        break;
                    }
                    entry.Tree.Append((byte[])reader[1]);
                }
            }
            return await work(entry.Tree, scope.Connection);
        }
        finally
        {
            entry.Gate.Release();
        }
    }

    public Task<long> SizeAsync(Guid tenant, CancellationToken cancellation) =>
        WithTreeAsync(tenant, (tree, _) => Task.FromResult(tree.Size), cancellation);

    /// <summary>
    /// A signed checkpoint of the tenant's log as it is now; the latest one again when the log has not grown since.
    /// Null when the log is empty.
    /// </summary>
    public async Task<StoredCheckpoint?> CheckpointAsync(Guid tenant, CancellationToken cancellation)
    {
        var signer = await SignerAsync(cancellation);
        var (size, root) = await WithTreeAsync(tenant, (tree, _) => Task.FromResult((tree.Size, tree.Root(tree.Size))), cancellation);
        if (_trees.TryGetValue(tenant, out var held) && held.BrokenAt is { } broken) throw new AuditLogBrokenException(tenant, broken);
        if (size == 0) return null;
        // One transaction: the latest checkpoint, and if the log has grown past it, the new one, read back as stored
        // (another instance may have signed the same size first). As the platform role: a checkpoint is immutable, and
        // one the service's role could write (a size or root of its choosing) would poison the tenant's ledger for good.
        var source = (await databases.ForAsync(tenant, cancellation)).Platform.Value
                     ?? throw new InvalidOperationException("No platform connection: checkpoints are signed as the platform role.");
        await using var connection = await source.OpenConnectionAsync(cancellation);
        await using var transaction = await connection.BeginTransactionAsync(cancellation);
        await SetTenantAsync(connection, transaction, tenant, cancellation);
        async Task<StoredCheckpoint?> Read(string condition, object value)
        {
            await using var read = new NpgsqlCommand(
                $"select tree_size, root_hash, note, created_at from {Schema}.audit_checkpoints where tenant_id = $1 and {condition}", connection, transaction);
            read.Parameters.Add(new NpgsqlParameter { Value = tenant.ToString() });
            read.Parameters.Add(new NpgsqlParameter { Value = value });
            await using var reader = await read.ExecuteReaderAsync(cancellation);
            return await reader.ReadAsync(cancellation)
                ? new StoredCheckpoint(reader.GetInt64(0), (byte[])reader[1], reader.GetString(2), reader.GetFieldValue<DateTimeOffset>(3))
                : null;
        }
        if (await Read("tree_size >= $2 order by tree_size desc limit 1", size) is { } current)
        {
            await transaction.CommitAsync(cancellation);
            return current;
        }
        var note = signer.Sign(new Checkpoint(Origin(tenant), size, root).Body);
        await using (var insert = new NpgsqlCommand($"""
            insert into {Schema}.audit_checkpoints (tenant_id, tree_size, root_hash, note, created_at) values ($1, $2, $3, $4, $5)
            on conflict (tenant_id, tree_size) do nothing
            """, connection, transaction))
        {
            foreach (var v in new object[] { tenant.ToString(), size, root, note, clock.UtcNow })
                insert.Parameters.Add(new NpgsqlParameter { Value = v });
            await insert.ExecuteNonQueryAsync(cancellation);
        }
        var made = await Read("tree_size = $2", size);
        await transaction.CommitAsync(cancellation);
        return made;
    }

    public async Task<StoredCheckpoint?> LatestCheckpointAsync(Guid tenant, CancellationToken cancellation) =>
        (await CheckpointsAsync(tenant, cancellation, latestOnly: true)).FirstOrDefault();

    /// <summary>The tenant's checkpoints, oldest first (or only the latest).</summary>
    public async Task<IReadOnlyList<StoredCheckpoint>> CheckpointsAsync(Guid tenant, CancellationToken cancellation, bool latestOnly = false)
    {
        await using var scope = await TenantReadScope.OpenAsync(databases, tenant, cancellation);
        await using var read = new NpgsqlCommand(
            $"select tree_size, root_hash, note, created_at from {Schema}.audit_checkpoints where tenant_id = $1 order by tree_size " +
            (latestOnly ? "desc limit 1" : ""), scope.Connection, scope.Transaction);
        read.Parameters.Add(new NpgsqlParameter { Value = tenant.ToString() });
        var list = new List<StoredCheckpoint>();
        await using var reader = await read.ExecuteReaderAsync(cancellation);
        while (await reader.ReadAsync(cancellation))
            list.Add(new StoredCheckpoint(reader.GetInt64(0), (byte[])reader[1], reader.GetString(2), reader.GetFieldValue<DateTimeOffset>(3)));
        return list;
    }

    /// <summary>The log index of an event (by its id), or null if the tenant's log has no such event.</summary>
    public async Task<(long Index, long Seq)?> IndexOfAsync(Guid tenant, Guid eventId, CancellationToken cancellation)
    {
        await FlushAsync(tenant, cancellation);
        await using var scope = await TenantReadScope.OpenAsync(databases, tenant, cancellation);
        await using var read = new NpgsqlCommand($"""
            select l.log_index, l.seq_id from {Schema}.audit_log l join {Schema}.mt_events e on e.seq_id = l.seq_id
            where l.tenant_id = $1 and e.tenant_id = $1 and e.id = $2
            """, scope.Connection, scope.Transaction);
        read.Parameters.Add(new NpgsqlParameter { Value = tenant.ToString() });
        read.Parameters.Add(new NpgsqlParameter { Value = eventId });
        await using var reader = await read.ExecuteReaderAsync(cancellation);
        return await reader.ReadAsync(cancellation) ? (reader.GetInt64(0), reader.GetInt64(1)) : null;
    }

    /// <summary>
    /// The leaf data of a log position (LedgerLeaf.Data over the event as stored: its payload and headers as SHA-256 only),
    /// so that a verifier can hash it to the leaf itself and read which event the leaf commits to; null if there is none.
    /// </summary>
    public async Task<byte[]?> LeafDataAsync(Guid tenant, long index, CancellationToken cancellation)
    {
        await using var scope = await TenantReadScope.OpenAsync(databases, tenant, cancellation);
        await using var read = new NpgsqlCommand($"""
            select {LedgerEventColumns}
            from {Schema}.audit_log l
            join {Schema}.mt_events e on e.seq_id = l.seq_id and e.tenant_id = $1
            left join {Schema}.moved_event_seqs m on m.tenant_id = e.tenant_id and m.seq_id = e.seq_id
            where l.tenant_id = $1 and l.log_index = $2
            """, scope.Connection, scope.Transaction);
        read.Parameters.Add(new NpgsqlParameter { Value = tenant.ToString() });
        read.Parameters.Add(new NpgsqlParameter { Value = index });
        await using var reader = await read.ExecuteReaderAsync(cancellation);
        if (!await reader.ReadAsync(cancellation)) return null;
        return LedgerLeaf.Data(tenant, index, ReadLedgerEvent(reader, 0));
    }

    public Task<(byte[] LeafHash, IReadOnlyList<byte[]> Proof, byte[] Root)> InclusionAsync(Guid tenant, long index, long size, CancellationToken cancellation) =>
        WithTreeAsync(tenant, (tree, _) => Task.FromResult((tree.LeafHash(index), tree.InclusionProof(index, size), tree.Root(size))), cancellation);

    public Task<IReadOnlyList<byte[]>> ConsistencyAsync(Guid tenant, long from, long to, CancellationToken cancellation) =>
        WithTreeAsync(tenant, (tree, _) => Task.FromResult(tree.ConsistencyProof(from, to)), cancellation);

    /// <summary>
    /// The export bundle of a tenant's ledger, written as it is read: checkpoints with the proofs that chain them, every
    /// log position joined with its event as the store holds it now, events the log does not know, and (when given)
    /// the audit entries.
    /// </summary>
    /// <param name="json">A writer over a buffer (the response's PipeWriter): it never writes to a stream by itself.</param>
    /// <param name="drain">Sends what was written so far (awaited every 64 KB), so a large export streams.</param>
    public async Task WriteBundleAsync(Guid tenant, Utf8JsonWriter json, Func<Utf8JsonWriter, Task>? writeAuditEntries, CancellationToken cancellation,
        Func<CancellationToken, Task>? drain = null)
    {
        async Task Drain()
        {
            json.Flush();
            if (drain is not null) await drain(cancellation);
        }
        var verifierKeys = await AllVerifierKeysAsync(cancellation);
        var checkpoints = await CheckpointsAsync(tenant, cancellation);
        // Every proof of the chain from one look at the tree (which also appends pending events before the log is read).
        var proofs = await WithTreeAsync(tenant, (tree, _) => Task.FromResult(Enumerable.Range(1, Math.Max(0, checkpoints.Count - 1))
            .Where(i => checkpoints[i].Size <= tree.Size)
            .Select(i => new BundleConsistency(checkpoints[i - 1].Size, checkpoints[i].Size, tree.ConsistencyProof(checkpoints[i - 1].Size, checkpoints[i].Size)))
            .ToList()), cancellation);

        json.WriteStartObject();
        json.WriteString("format", AuditBundle.CurrentFormat);
        json.WriteString("tenantId", tenant);
        json.WriteString("origin", Origin(tenant));
        json.WriteString("exportedAt", clock.UtcNow);
        json.WriteStartArray("logKeys");
        foreach (var vkey in verifierKeys) json.WriteStringValue(vkey);
        json.WriteEndArray();
        json.WriteStartArray("checkpoints");
        foreach (var c in checkpoints) json.WriteStringValue(c.Note);
        json.WriteEndArray();
        json.WritePropertyName("consistency");
        JsonSerializer.Serialize(json, proofs, AuditBundle.Json);
        json.WriteStartArray("entries");
        await using (var scope = await TenantReadScope.OpenAsync(databases, tenant, cancellation))
        {
            // Every log position with the event the store holds for it, then events the log does not hold.
            await using var read = new NpgsqlCommand($"""
                select l.log_index, l.leaf_hash, {LedgerEventColumns}
                from {Schema}.audit_log l
                full join (select * from {Schema}.mt_events where tenant_id = $1) e on e.seq_id = l.seq_id
                -- An event moved from another database is named by the number its leaf commits to (TenantMoveSchema).
                left join {Schema}.moved_event_seqs m on m.tenant_id = e.tenant_id and m.seq_id = e.seq_id
                where l.tenant_id = $1 or l.tenant_id is null
                order by l.log_index nulls last, e.seq_id
                """, scope.Connection, scope.Transaction);
            read.Parameters.Add(new NpgsqlParameter { Value = tenant.ToString() });
            await using var reader = await read.ExecuteReaderAsync(cancellation);
            while (await reader.ReadAsync(cancellation))
            {
                json.WriteStartObject();
                if (!reader.IsDBNull(0))
                {
                    json.WriteNumber("index", reader.GetInt64(0));
                    json.WriteBase64String("leafHash", (byte[])reader[1]);
                }
                if (!reader.IsDBNull(2))
                {
                    json.WritePropertyName("event");
                    JsonSerializer.Serialize(json, ReadLedgerEvent(reader, 2), AuditBundle.Json);
                }
                json.WriteEndObject();
                if (json.BytesPending + json.BytesCommitted > 64 * 1024) await Drain();
            }
        }
        json.WriteEndArray();
        if (writeAuditEntries is not null)
        {
            json.WritePropertyName("auditEntries");
            await writeAuditEntries(json);
        }
        json.WriteEndObject();
        await Drain();
    }

    private static string? Text(NpgsqlDataReader reader, int i) => reader.IsDBNull(i) ? null : reader.GetString(i);

    /// <summary>
    /// An event's columns as its leaf commits to them (aliases e for mt_events, m for moved_event_seqs): the sequence number
    /// the leaf names (a moved event keeps its old one), time to the microsecond in UTC, headers and payload as stored.
    /// </summary>
    private const string LedgerEventColumns = """
        coalesce(m.leaf_seq, e.seq_id), e.id, e.stream_id, e.version, e.type,
        to_char(e.timestamp at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        e.correlation_id, e.causation_id, e.user_name, e.headers::text, e.data::text
        """;

    /// <summary>The event read from <see cref="LedgerEventColumns"/> starting at column <paramref name="first"/> (a stream that was
    /// erased reads as the empty id).</summary>
    private static LedgerEvent ReadLedgerEvent(NpgsqlDataReader reader, int first) =>
        new(reader.GetInt64(first), reader.GetGuid(first + 1), reader.IsDBNull(first + 2) ? Guid.Empty : reader.GetGuid(first + 2),
            reader.GetInt64(first + 3), reader.GetString(first + 4), reader.GetString(first + 5), Text(reader, first + 6), Text(reader, first + 7),
            Text(reader, first + 8), Text(reader, first + 9), reader.GetString(first + 10));

    internal static async Task SetTenantAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, Guid tenant, CancellationToken cancellation)
    {
        await TenantEvents.Infrastructure.Databases.Sql.SetTenantAsync(connection, transaction, tenant, cancellation);
    }

    /// <summary>Tenants of every database whose log grew past their latest checkpoint (cross-tenant: the platform role).</summary>
    public async Task<IReadOnlyList<Guid>> TenantsDueAsync(CancellationToken cancellation)
    {
        var due = new List<Guid>();
        foreach (var database in databases.All)
        {
            if (database.Platform.Value is not { } platform) continue;
            // Each tenant's log size from the primary key (a skip scan over the tenants), against its latest checkpoint.
            await using var command = platform.CreateCommand($"""
                with recursive t(tenant_id) as (
                  (select tenant_id from {Schema}.audit_log order by tenant_id limit 1)
                  union all
                  select (select l.tenant_id from {Schema}.audit_log l where l.tenant_id > t.tenant_id order by l.tenant_id limit 1)
                  from t where t.tenant_id is not null)
                select t.tenant_id from t
                where t.tenant_id is not null
                  and (select max(l.log_index) + 1 from {Schema}.audit_log l where l.tenant_id = t.tenant_id)
                      > coalesce((select max(c.tree_size) from {Schema}.audit_checkpoints c where c.tenant_id = t.tenant_id), 0)
                """);
            await using var reader = await command.ExecuteReaderAsync(cancellation);
            while (await reader.ReadAsync(cancellation))
                if (Guid.TryParse(reader.GetString(0), out var t)) due.Add(t);
        }
        return due;
    }
}
