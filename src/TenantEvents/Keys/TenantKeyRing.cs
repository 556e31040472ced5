using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Security.Cryptography;
using Npgsql;
using TenantEvents.Infrastructure;

namespace TenantEvents.Keys;

/// <summary>
/// Each tenant's versioned data-encryption keys (DEKs): random AES-256 keys stored only wrapped by the tenant's KEK
/// (table tenant_data_keys, itself under row-level security), unwrapped on first use and cached for a bounded time,
/// so the key service sees about one unwrap per tenant rather than one per event. New writes use the newest version;
/// older versions still open what they sealed. Destroying keys (crypto-shredding a tenant, erasing a person) is told to
/// every instance (<see cref="KeyRevocations"/>); a cached key used after <see cref="TenantEventsOptions.KeyRecheckInterval"/>
/// is checked against the database first, in case that news was missed.
/// </summary>
/// <param name="databaseOf">The data source (service role) of the database the tenant lives in: its keys live with its data.</param>
public sealed class TenantKeyRing(IKeyService keys, Func<Guid, CancellationToken, ValueTask<NpgsqlDataSource>> databaseOf, Clock clock,
    TenantEventsOptions options)
{
    private static readonly Counter<long> Unwraps = Telemetry.Meter.CreateCounter<long>("tenantevents.keys.unwraps", "{call}",
        "Data keys unwrapped through the key service");

    private readonly ConcurrentDictionary<(Guid Tenant, int Version), Cached> _keys = new();
    private readonly ConcurrentDictionary<Guid, (int Version, DateTimeOffset Until)> _current = new();
    private readonly ConcurrentDictionary<(Guid Tenant, Guid Subject), Cached> _subjects = new();
    private long _unwrapCount;

    /// <summary>A key in memory: until when it may be kept, and when it was last known to exist in the database.</summary>
    private sealed record Cached(DataKey Key, DateTimeOffset Until, DateTimeOffset CheckedAt);

    /// <summary>How many times a data key was unwrapped by the key service since start (for tests and the benchmark).</summary>
    public long UnwrapCount => Interlocked.Read(ref _unwrapCount);

    public string Schema => options.DatabaseSchema;

    /// <summary>The key new data of the tenant is sealed with; the first one is created on first use.</summary>
    /// <param name="newTenant">The tenant is being created right now: it has no keys yet, so none are looked up.</param>
    public async Task<DataKey> CurrentAsync(Guid tenant, CancellationToken cancellation, bool newTenant = false)
    {
        var now = clock.UtcNow;
        if (_current.TryGetValue(tenant, out var current) && current.Until > now)
            return await VersionAsync(tenant, current.Version, cancellation);
        var newest = newTenant ? null : await NewestVersion(tenant, cancellation);
        var key = newest is { } version ? await VersionAsync(tenant, version, cancellation) : await CreateAsync(tenant, 0, cancellation);
        _current[tenant] = (key.Version, now + options.KeyCacheLifetime);
        return key;
    }

    /// <summary>The key of one version, to open what it sealed. Throws <see cref="KeyDestroyedException"/> after shredding.</summary>
    public async Task<DataKey> VersionAsync(Guid tenant, int version, CancellationToken cancellation)
    {
        var now = clock.UtcNow;
        if (_keys.TryGetValue((tenant, version), out var cached) && cached.Until > now)
        {
            if (now - cached.CheckedAt < options.KeyRecheckInterval) return cached.Key;
            if (await Exists(tenant, $"select 1 from {Schema}.tenant_data_keys where tenant_id = $2 and version = $1", version, cancellation))
            {
                _keys.TryUpdate((tenant, version), cached with { CheckedAt = now }, cached);
                return cached.Key;
            }
            // Shredded elsewhere, and the news did not reach this instance: nothing of the tenant's stays in memory.
            Forget(tenant);
        }

        // One unwrap per key however many requests want it at once (a cold instance under load): the first caller's load is
        // shared, not cancelled by any one caller, and forgotten once done (the cache holds the key from then on).
        var loading = _loading.GetOrAdd((tenant, version), k => new Lazy<Task<DataKey>>(() => UnwrapOnceAsync(k)));
        return await loading.Value.WaitAsync(cancellation);
    }

    /// <summary>How long a shared unwrap may take before its callers get an error (a hung key service must not hold the tenant).</summary>
    private static readonly TimeSpan UnwrapTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Bumped by <see cref="Forget"/>: a load that began before (say, before a shred) does not put its key in the cache.</summary>
    private readonly ConcurrentDictionary<Guid, long> _generations = new();

    private async Task<DataKey> UnwrapOnceAsync((Guid Tenant, int Version) key)
    {
        try
        {
            using var timeout = new CancellationTokenSource(UnwrapTimeout);
            return await UnwrapAsync(key.Tenant, key.Version, timeout.Token);
        }
        finally
        {
            _loading.TryRemove(key, out _);
        }
    }

    private readonly ConcurrentDictionary<(Guid Tenant, int Version), Lazy<Task<DataKey>>> _loading = new();

    private async Task<DataKey> UnwrapAsync(Guid tenant, int version, CancellationToken cancellation)
    {
        var generation = _generations.GetValueOrDefault(tenant);
        var now = clock.UtcNow;
        var (kekId, algorithm, wrapped) = await Load(tenant, version, cancellation)
                                          ?? throw new KeyDestroyedException(tenant, version);
        byte[] plain;
        try
        {
            var kek = await keys.Resolver.ResolveAsync(kekId, cancellation);
            plain = await kek.UnwrapKeyAsync(algorithm, wrapped, cancellation);
        }
        catch (KeyNotFoundException)
        {
            throw new KeyDestroyedException(tenant, version);
        }
        Interlocked.Increment(ref _unwrapCount);
        Unwraps.Add(1);
        var key = new DataKey(tenant, version, plain);
        CryptographicOperations.ZeroMemory(plain);
        if (_generations.GetValueOrDefault(tenant) != generation) return key; // forgotten (shredded?) meanwhile: not cached
        _keys[(tenant, version)] = new Cached(key, now + options.KeyCacheLifetime, now);
        Trim();
        return key;
    }

    /// <summary>A new DEK version for new writes; data sealed under older versions stays readable.</summary>
    public async Task<int> RotateDataKeyAsync(Guid tenant, CancellationToken cancellation)
    {
        var newest = await NewestVersion(tenant, cancellation) ?? 0;
        var key = await CreateAsync(tenant, newest, cancellation);
        _current.TryRemove(tenant, out _);
        return key.Version;
    }

    /// <summary>A new KEK version; every DEK is re-wrapped under it. No data is re-encrypted.</summary>
    public async Task<string> RotateKeyEncryptionKeyAsync(Guid tenant, CancellationToken cancellation)
    {
        var newKekId = await keys.CreateKeyAsync(tenant, cancellation);
        var newKek = await keys.Resolver.ResolveAsync(newKekId, cancellation);
        await using var connection = await (await databaseOf(tenant, cancellation)).OpenConnectionAsync(cancellation);
        await using var transaction = await connection.BeginTransactionAsync(cancellation);
        await SetTenant(connection, transaction, tenant, cancellation);
        var rows = new List<(int Version, string KekId, string Algorithm, byte[] Wrapped)>();
        await using (var select = TenantEvents.Infrastructure.Databases.Sql.Command(connection, transaction,
                         $"select version, kek_id, algorithm, wrapped from {Schema}.tenant_data_keys where tenant_id = $1 for update", tenant.ToString()))
        await using (var reader = await select.ExecuteReaderAsync(cancellation))
            while (await reader.ReadAsync(cancellation))
                rows.Add((reader.GetInt32(0), reader.GetString(1), reader.GetString(2), (byte[])reader[3]));
        foreach (var (version, kekId, algorithm, wrapped) in rows)
        {
            var plain = await (await keys.Resolver.ResolveAsync(kekId, cancellation)).UnwrapKeyAsync(algorithm, wrapped, cancellation);
            var rewrapped = await newKek.WrapKeyAsync(keys.WrapAlgorithm, plain, cancellation);
            CryptographicOperations.ZeroMemory(plain);
            await using var update = new NpgsqlCommand(
                $"update {Schema}.tenant_data_keys set kek_id = $1, algorithm = $2, wrapped = $3 where tenant_id = $5 and version = $4", connection, transaction);
            update.Parameters.Add(new NpgsqlParameter { Value = newKekId });
            update.Parameters.Add(new NpgsqlParameter { Value = keys.WrapAlgorithm });
            update.Parameters.Add(new NpgsqlParameter { Value = rewrapped });
            update.Parameters.Add(new NpgsqlParameter { Value = version });
            update.Parameters.Add(new NpgsqlParameter { Value = tenant.ToString() });
            await update.ExecuteNonQueryAsync(cancellation);
        }
        await transaction.CommitAsync(cancellation);
        return newKekId;
    }

    /// <summary>
    /// The key of one person inside the tenant: their personal data is sealed under it, so that erasing them is
    /// destroying it. Stored in subject_data_keys sealed (AES-256-GCM) under the tenant's data key, so it costs the key
    /// service nothing. Null when it was erased (or never made and not asked to be).
    /// </summary>
    /// <param name="newSubject">The person was just given their subject id: they have no key yet, so none is looked up.</param>
    public async Task<DataKey?> SubjectKeyAsync(Guid tenant, Guid subject, bool create, CancellationToken cancellation, bool newSubject = false)
    {
        const string type = "subject-key";
        var now = clock.UtcNow;
        if (_subjects.TryGetValue((tenant, subject), out var cached) && cached.Until > now)
        {
            if (now - cached.CheckedAt < options.KeyRecheckInterval) return cached.Key;
            if (await Exists(tenant, $"select 1 from {Schema}.subject_data_keys where tenant_id = $2 and subject_id = $1", subject, cancellation))
            {
                _subjects.TryUpdate((tenant, subject), cached with { CheckedAt = now }, cached);
                return cached.Key;
            }
            // Erased (or the tenant shredded) elsewhere, unheard of here: forget it and look again.
            ForgetSubject(tenant, subject);
        }
        var stored = newSubject ? null : await Scoped(tenant, cancellation,
            batch => batch.BatchCommands.Add(Command($"select key_version, nonce, ciphertext from {Schema}.subject_data_keys where tenant_id = $2 and subject_id = $1", subject, tenant.ToString())),
            async reader => await reader.ReadAsync(cancellation) ? new SealedPayload(reader.GetInt32(0), (byte[])reader[1], (byte[])reader[2]) : null);
        byte[] plain;
        if (stored is not null)
            plain = Sealing.Open(await VersionAsync(tenant, stored.KeyVersion, cancellation), stored, subject, type);
        else if (create)
        {
            plain = RandomNumberGenerator.GetBytes(32);
            var sealedKey = Sealing.Seal(await CurrentAsync(tenant, cancellation), plain, subject, type);
            var inserted = await Scoped(tenant, cancellation, batch => batch.BatchCommands.Add(Command(
                $"insert into {Schema}.subject_data_keys (tenant_id, subject_id, key_version, nonce, ciphertext) values ($1, $2, $3, $4, $5) on conflict do nothing returning subject_id",
                tenant.ToString(), subject, sealedKey.KeyVersion, sealedKey.Nonce, sealedKey.Ciphertext)), async reader => await reader.ReadAsync(cancellation));
            if (!inserted)
            {
                CryptographicOperations.ZeroMemory(plain);
                return await SubjectKeyAsync(tenant, subject, create: false, cancellation);
            }
        }
        else return null;
        var key = new DataKey(tenant, 1, plain);
        CryptographicOperations.ZeroMemory(plain);
        _subjects[(tenant, subject)] = new Cached(key, now + options.KeyCacheLifetime, now);
        return key;
    }

    /// <summary>Erasure of one person (GDPR Art. 17): their key is deleted; what it sealed can no longer be opened.</summary>
    public async Task EraseSubjectAsync(Guid tenant, Guid subject, CancellationToken cancellation)
    {
        // Every instance hears of it when the deletion commits (the batch is one implicit transaction).
        await Scoped(tenant, cancellation, batch =>
            {
                batch.BatchCommands.Add(Command($"delete from {Schema}.subject_data_keys where tenant_id = $2 and subject_id = $1", subject, tenant.ToString()));
                batch.BatchCommands.Add(Command("select pg_notify($1, $2)", KeyRevocations.Channel, KeyRevocations.Payload(tenant, subject)));
            },
            _ => Task.FromResult(0));
        ForgetSubject(tenant, subject);
    }

    /// <summary>Drops one person's cached key (erased, here or on another instance).</summary>
    public void ForgetSubject(Guid tenant, Guid subject)
    {
        if (_subjects.TryRemove((tenant, subject), out var removed)) removed.Key.Dispose();
    }

    /// <summary>Crypto-shredding: the tenant's KEKs are destroyed in the key service and its wrapped DEKs deleted.</summary>
    public async Task ShredAsync(Guid tenant, CancellationToken cancellation)
    {
        await keys.DestroyKeysAsync(tenant, cancellation);
        await using (var connection = await (await databaseOf(tenant, cancellation)).OpenConnectionAsync(cancellation))
        await using (var transaction = await connection.BeginTransactionAsync(cancellation))
        {
            await SetTenant(connection, transaction, tenant, cancellation);
            // The tenant named as well as bound by row-level security: `migrate` runs as the owner, whom RLS does not bind.
            await using var delete = new NpgsqlBatch(connection, transaction);
            delete.BatchCommands.Add(Command($"delete from {Schema}.tenant_data_keys where tenant_id = $1", tenant.ToString()));
            delete.BatchCommands.Add(Command($"delete from {Schema}.subject_data_keys where tenant_id = $1", tenant.ToString()));
            await delete.ExecuteNonQueryAsync(cancellation);
            // Every instance hears of it when this commits, and drops what it holds of the tenant's keys.
            await using var notify = new NpgsqlCommand("select pg_notify($1, $2)", connection, transaction);
            notify.Parameters.Add(new NpgsqlParameter { Value = KeyRevocations.Channel });
            notify.Parameters.Add(new NpgsqlParameter { Value = KeyRevocations.Payload(tenant) });
            await notify.ExecuteNonQueryAsync(cancellation);
            await transaction.CommitAsync(cancellation);
        }
        Forget(tenant);
    }

    /// <summary>Drops every cached key of the tenant (after shredding, or to force a reload).</summary>
    public void Forget(Guid tenant)
    {
        _generations.AddOrUpdate(tenant, 1, (_, g) => g + 1);
        foreach (var loading in _loading.Keys.Where(k => k.Tenant == tenant).ToList()) _loading.TryRemove(loading, out _);
        _current.TryRemove(tenant, out _);
        foreach (var entry in _keys.Where(k => k.Key.Tenant == tenant).ToList())
            if (_keys.TryRemove(entry.Key, out var removed)) removed.Key.Dispose();
        foreach (var entry in _subjects.Where(k => k.Key.Tenant == tenant).ToList())
            if (_subjects.TryRemove(entry.Key, out var removed)) removed.Key.Dispose();
    }

    /// <summary>
    /// Drops every cached key of every tenant: after this instance may have missed news of destroyed keys (its
    /// listening connection was down). Each tenant's next read unwraps its key again.
    /// </summary>
    public void ForgetAll()
    {
        _current.Clear();
        foreach (var tenant in _keys.Keys.Select(k => k.Tenant).Concat(_subjects.Keys.Select(k => k.Tenant)).Distinct().ToList()) Forget(tenant);
    }

    /// <summary>Whether the statement finds a row of the tenant (one round trip; $2 is the tenant).</summary>
    private Task<bool> Exists(Guid tenant, string sql, object value, CancellationToken cancellation) =>
        Scoped(tenant, cancellation, batch => batch.BatchCommands.Add(Command(sql, value, tenant.ToString())), async reader => await reader.ReadAsync(cancellation));

    /// <summary>
    /// Creates the next DEK version (and the tenant's first KEK if it has none) and keeps it unwrapped in the cache: the
    /// key that was just generated needs no round trip to the key service.
    /// </summary>
    private async Task<DataKey> CreateAsync(Guid tenant, int expectedVersion, CancellationToken cancellation)
    {
        var kekId = (expectedVersion > 0 ? await CurrentKekId(tenant, cancellation) : null) ?? await keys.CreateKeyAsync(tenant, cancellation);
        var kek = await keys.Resolver.ResolveAsync(kekId, cancellation);
        var plain = RandomNumberGenerator.GetBytes(32);
        try
        {
            var wrapped = await kek.WrapKeyAsync(keys.WrapAlgorithm, plain, cancellation);
            var version = expectedVersion + 1;
            var inserted = await Scoped(tenant, cancellation, batch => batch.BatchCommands.Add(Command(
                $"insert into {Schema}.tenant_data_keys (tenant_id, version, kek_id, algorithm, wrapped) values ($1, $2, $3, $4, $5) on conflict do nothing returning version",
                tenant.ToString(), version, kekId, keys.WrapAlgorithm, wrapped)), async reader => await reader.ReadAsync(cancellation));
            if (!inserted)
                // A concurrent writer stored this version first: use theirs.
                return await VersionAsync(tenant, await NewestVersion(tenant, cancellation) ?? version, cancellation);
            var key = new DataKey(tenant, version, plain);
            var now = clock.UtcNow;
            _keys[(tenant, version)] = new Cached(key, now + options.KeyCacheLifetime, now);
            Trim();
            return key;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(plain);
        }
    }

    private Task<string?> CurrentKekId(Guid tenant, CancellationToken cancellation) =>
        Scoped(tenant, cancellation, batch => batch.BatchCommands.Add(Command($"select kek_id from {Schema}.tenant_data_keys where tenant_id = $1 order by version desc limit 1", tenant.ToString())),
            async reader => await reader.ReadAsync(cancellation) ? reader.GetString(0) : null);

    private Task<int?> NewestVersion(Guid tenant, CancellationToken cancellation) =>
        Scoped(tenant, cancellation, batch => batch.BatchCommands.Add(Command($"select max(version) from {Schema}.tenant_data_keys where tenant_id = $1", tenant.ToString())),
            async reader => await reader.ReadAsync(cancellation) && !reader.IsDBNull(0) ? reader.GetInt32(0) : (int?)null);

    private Task<(string KekId, string Algorithm, byte[] Wrapped)?> Load(Guid tenant, int version, CancellationToken cancellation) =>
        Scoped(tenant, cancellation,
            batch => batch.BatchCommands.Add(Command($"select kek_id, algorithm, wrapped from {Schema}.tenant_data_keys where tenant_id = $2 and version = $1", version, tenant.ToString())),
            async reader => await reader.ReadAsync(cancellation)
                ? (reader.GetString(0), reader.GetString(1), (byte[])reader[2])
                : ((string, string, byte[])?)null);

    /// <summary>
    /// One round trip: the tenant setting (transaction-local) and the statements after it go as one batch, which
    /// PostgreSQL runs as one implicit transaction, so the setting binds exactly those statements.
    /// </summary>
    private async Task<T> Scoped<T>(Guid tenant, CancellationToken cancellation, Action<NpgsqlBatch> statements, Func<NpgsqlDataReader, Task<T>> read)
    {
        await using var batch = (await databaseOf(tenant, cancellation)).CreateBatch();
        batch.BatchCommands.Add(TenantEvents.Infrastructure.Databases.Sql.SetTenantCommand(tenant));
        statements(batch);
        await using var reader = await batch.ExecuteReaderAsync(cancellation);
        await reader.NextResultAsync(cancellation);
        return await read(reader);
    }

    private static NpgsqlBatchCommand Command(string sql, params object[] parameters) => Infrastructure.Databases.Sql.BatchCommand(sql, parameters);

    /// <summary>Transaction-local: the setting ends with the transaction, whatever happens to the pooled connection.</summary>
    private static async Task SetTenant(NpgsqlConnection connection, NpgsqlTransaction transaction, Guid tenant, CancellationToken cancellation)
    {
        await TenantEvents.Infrastructure.Databases.Sql.SetTenantAsync(connection, transaction, tenant, cancellation);
    }

    private void Trim()
    {
        if (_keys.Count <= options.KeyCacheSize) return;
        var now = clock.UtcNow;
        foreach (var entry in _keys.Where(k => k.Value.Until <= now).ToList())
            if (_keys.TryRemove(entry.Key, out var removed)) removed.Key.Dispose();
        foreach (var entry in _keys.OrderBy(k => k.Value.Until).Take(_keys.Count - options.KeyCacheSize).ToList())
            _keys.TryRemove(entry.Key, out _);
    }
}

/// <summary>The tenant's key material is gone (crypto-shredded, or never existed): its sealed data cannot be opened.</summary>
public sealed class KeyDestroyedException(Guid tenant, int version)
    : Exception($"Data key v{version} of tenant {tenant} no longer exists: the data it sealed cannot be read.")
{
    public Guid TenantId { get; } = tenant;
}
