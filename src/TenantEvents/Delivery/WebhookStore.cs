using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Marten;
using Npgsql;
using NpgsqlTypes;
using TenantEvents.Identity;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Infrastructure.Webhooks;
using TenantEvents.Keys;
using TenantEvents.Tenants;

namespace TenantEvents.Delivery;

/// <summary>A webhook subscription as stored (its secret stays sealed in the row).</summary>
public sealed record WebhookSubscription(Guid Id, string Owner, string Url, string Description, IReadOnlyList<string> Types, string State,
    long Version, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt, string? CreatedBy);

/// <summary>One delivery of one event to one subscription, with its attempts when asked for one.</summary>
public sealed record WebhookDelivery(Guid Id, Guid SubscriptionId, Guid TenantId, long Sequence, Guid EventId, Guid StreamId, string Type, string Status,
    int Attempts, DateTimeOffset CreatedAt, DateTimeOffset? NextAttemptAt, DateTimeOffset? DeliveredAt, int? LastStatusCode, string? LastError,
    IReadOnlyList<WebhookAttempt>? History = null);

public sealed record WebhookAttempt(int Attempt, DateTimeOffset At, int? StatusCode, string? Error, int DurationMs);

/// <summary>
/// A transaction bound to one owner (a tenant, or the platform) by row-level security; for a tenant, a Marten session's,
/// so that the subscription's events are appended to the tenant's log in the same transaction as its rows.
/// </summary>
public sealed class OwnerTransaction(NpgsqlConnection connection, NpgsqlTransaction? transaction, TenantTransaction? tenant = null) : IAsyncDisposable
{
    public NpgsqlConnection Connection { get; } = connection;
    public NpgsqlTransaction? Transaction { get; } = transaction;

    /// <summary>A tenant's write (the one kind of write of tenant data); null for the platform's own rows.</summary>
    public TenantTransaction? Tenant { get; } = tenant;

    public IDocumentSession? Session => Tenant?.Session;

    public NpgsqlCommand Command(string sql, params object?[] values) => TenantEvents.Infrastructure.Databases.Sql.Command(Connection, Transaction, sql, values);

    public async Task<int> ExecuteAsync(string sql, CancellationToken cancellation, params object?[] values)
    {
        await using var command = Command(sql, values);
        return await command.ExecuteNonQueryAsync(cancellation);
    }

    public Task CommitAsync(CancellationToken cancellation) => Session is not null ? Session.SaveChangesAsync(cancellation) : Transaction!.CommitAsync(cancellation);

    public async ValueTask DisposeAsync()
    {
        if (Session is not null)
        {
            await Session.DisposeAsync();
            return;
        }
        if (Transaction is not null) await Transaction.DisposeAsync();
        await Connection.DisposeAsync();
    }
}

/// <summary>
/// Webhook subscriptions and their deliveries. An owner is a tenant (its rows in its database, its secrets sealed under
/// its key, so shredding the tenant destroys them) or the platform ('platform', in the main database, secrets wrapped by
/// a platform key).
/// </summary>
public sealed class WebhookStore(TenantStreams streams, IKeyService keyService)
{
    public const string SecretType = "webhook-secret";

    private readonly ConcurrentDictionary<(Guid, long), StandardWebhooks> _signers = new();

    public string Schema => streams.Options.DatabaseSchema;

    public TenantStreams Streams => streams;

    public static string OwnerOf(Guid? tenant) => tenant?.ToString() ?? DeliverySchema.PlatformOwner;

    public async Task<NpgsqlDataSource> SourceAsync(string owner, CancellationToken cancellation) =>
        owner == DeliverySchema.PlatformOwner ? streams.Databases.Main.Service : (await streams.Databases.ForAsync(Guid.Parse(owner), cancellation)).Service;

    public async Task<OwnerTransaction> BeginAsync(string owner, CancellationToken cancellation)
    {
        var connection = await (await SourceAsync(owner, cancellation)).OpenConnectionAsync(cancellation);
        try
        {
            var transaction = await connection.BeginTransactionAsync(cancellation);
            await TenantEvents.Infrastructure.Databases.Sql.SetTenantAsync(connection, transaction, owner, cancellation);
            return new OwnerTransaction(connection, transaction);
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    /// <summary>A writing transaction: a tenant's is a <see cref="TenantTransaction"/> (its subscription events go in with the rows).</summary>
    private async Task<OwnerTransaction> BeginWriteAsync(string owner, CancellationToken cancellation)
    {
        if (owner == DeliverySchema.PlatformOwner) return await BeginAsync(owner, cancellation);
        var tx = await streams.BeginAsync(null, Guid.Parse(owner), cancellation);
        return new OwnerTransaction(tx.Connection, null, tx);
    }

    /// <summary>Appends a tenant subscription's events (sealed) to its stream; the platform's have none.</summary>
    private static async Task RecordAsync(OwnerTransaction tx, Guid subscription, object e, bool start, CancellationToken cancellation)
    {
        if (tx.Tenant is { } tenant) await tenant.AppendAsync(subscription, [e], cancellation, start: start);
    }

    private const string Columns = "id, tenant_id, url, description, types, state, version, created_at, updated_at, created_by";

    private static WebhookSubscription Read(NpgsqlDataReader r) => new(r.GetGuid(0), r.GetString(1), r.GetString(2), r.GetString(3),
        r.GetFieldValue<string[]>(4), r.GetString(5), r.GetInt64(6), r.GetFieldValue<DateTimeOffset>(7), r.GetFieldValue<DateTimeOffset>(8),
        r.IsDBNull(9) ? null : r.GetString(9));

    /// <summary>
    /// Stores a new subscription with a new secret; returns the secret (shown once), or the refusal when the tenant has as
    /// many subscriptions as it may (TenantEvents:MaxWebhooksPerTenant; counted under a lock per tenant, so two racing
    /// creations cannot both take the last place). The platform's own subscriptions are its administrators' and not bounded.
    /// </summary>
    public async Task<(string? Secret, Problem? Refusal)> CreateAsync(WebhookSubscription subscription, Actor by, CancellationToken cancellation)
    {
        var secret = StandardWebhooks.NewSecret();
        var (keyVersion, nonce, ciphertext, kek) = await SealSecretAsync(subscription.Owner, subscription.Id, secret, cancellation);
        await using var tx = await BeginWriteAsync(subscription.Owner, cancellation);
        if (subscription.Owner != DeliverySchema.PlatformOwner)
        {
            var max = streams.Options.MaxWebhooksPerTenant;
            await tx.ExecuteAsync("select pg_advisory_xact_lock(hashtextextended('tenantevents:webhooks:' || $1, 0))", cancellation, subscription.Owner);
            await using var count = tx.Command($"select count(*) from {Schema}.webhook_subscriptions where tenant_id = $1", subscription.Owner);
            if ((long)(await count.ExecuteScalarAsync(cancellation))! >= max)
                return (null, Problem.LimitReached("webhook-limit", "The tenant has as many webhook subscriptions as it may",
                    $"A tenant has at most {max} webhook subscriptions; remove one, or widen one's event types, first.", max,
                    nameof(TenantEventsOptions.MaxWebhooksPerTenant)));
        }
        await RecordAsync(tx, subscription.Id,
            new WebhookSubscribed(subscription.Id, subscription.Url, subscription.Types, subscription.Description, by, subscription.CreatedAt), start: true, cancellation);
        await tx.ExecuteAsync($"""
            insert into {Schema}.webhook_subscriptions (tenant_id, id, url, description, types, state, secret_key_version, secret_nonce,
              secret_ciphertext, secret_kek, version, created_at, updated_at, created_by)
            values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 1, $11, $11, $12)
            """, cancellation, subscription.Owner, subscription.Id, subscription.Url, subscription.Description, subscription.Types.ToArray(),
            subscription.State, keyVersion, nonce, ciphertext, kek, subscription.CreatedAt, subscription.CreatedBy);
        // A new subscription receives the events from now on: a tenant's log is fanned out from its current end.
        await StartPositionsAsync(tx, subscription.Owner, cancellation);
        await tx.CommitAsync(cancellation);
        return (secret, null);
    }

    /// <summary>
    /// Where fan-out starts for tenants that had nobody to deliver to: the current end of their logs (so a new
    /// subscription does not receive the past). The platform's first subscription does this for every tenant of every database.
    /// </summary>
    private async Task StartPositionsAsync(OwnerTransaction tx, string owner, CancellationToken cancellation)
    {
        if (owner != DeliverySchema.PlatformOwner)
        {
            // Committed events still waiting for their place in the log are the past too.
            await tx.ExecuteAsync($"select {Schema}.audit_flush($1)", cancellation, owner);
            await tx.ExecuteAsync($"""
                insert into {Schema}.webhook_positions (tenant_id, position)
                select $1, coalesce((select max(log_index) + 1 from {Schema}.audit_log where tenant_id = $1), 0)
                on conflict (tenant_id) do update set position = greatest({Schema}.webhook_positions.position, excluded.position)
                where (select count(*) from {Schema}.webhook_subscriptions s where s.tenant_id = $1) = 1
                """, cancellation, owner);
            return;
        }
        await using (var others = tx.Command($"select count(*) from {Schema}.webhook_subscriptions where tenant_id = $1", owner))
            if ((long)(await others.ExecuteScalarAsync(cancellation))! > 1) return;
        foreach (var database in streams.Databases.All)
        {
            await using var fn = database.Service.CreateCommand($"select {Schema}.webhook_start_positions()");
            await fn.ExecuteNonQueryAsync(cancellation);
        }
    }

    private async Task<(int KeyVersion, byte[] Nonce, byte[] Ciphertext, string? Kek)> SealSecretAsync(string owner, Guid id, string secret,
        CancellationToken cancellation)
    {
        var bytes = Encoding.UTF8.GetBytes(secret);
        if (owner != DeliverySchema.PlatformOwner)
        {
            var sealedSecret = await streams.SealBytesAsync(Guid.Parse(owner), bytes, id, SecretType, cancellation);
            return (sealedSecret.KeyVersion, sealedSecret.Nonce, sealedSecret.Ciphertext, null);
        }
        var kekId = await keyService.CreateKeyAsync(PlatformSigningKeys.PlatformKeyOwner, cancellation);
        var kek = await keyService.Resolver.ResolveAsync(kekId, cancellation);
        var padded = new byte[(bytes.Length + 7) / 8 * 8 + 8];
        BitConverter.TryWriteBytes(padded.AsSpan(0, 8), (long)bytes.Length);
        bytes.CopyTo(padded, 8);
        var wrapped = await kek.WrapKeyAsync(keyService.WrapAlgorithm, padded, cancellation);
        return (0, [], wrapped, kekId);
    }

    /// <summary>The signer of a subscription (its secret opened once per version and kept in memory).</summary>
    public async Task<StandardWebhooks> SignerAsync(string owner, Guid id, long version, CancellationToken cancellation)
    {
        if (_signers.TryGetValue((id, version), out var signer)) return signer;
        await using var tx = await BeginAsync(owner, cancellation);
        await using var read = tx.Command($"select secret_key_version, secret_nonce, secret_ciphertext, secret_kek from {Schema}.webhook_subscriptions where tenant_id = $1 and id = $2",
            owner, id);
        await using var r = await read.ExecuteReaderAsync(cancellation);
        if (!await r.ReadAsync(cancellation)) throw new InvalidOperationException($"Subscription {id} is gone.");
        var (keyVersion, nonce, ciphertext, kek) = (r.GetInt32(0), (byte[])r[1], (byte[])r[2], r.IsDBNull(3) ? null : r.GetString(3));
        await r.CloseAsync();
        string secret;
        if (kek is null)
            secret = Encoding.UTF8.GetString(await streams.OpenBytesAsync(Guid.Parse(owner), new SealedPayload(keyVersion, nonce, ciphertext), id, SecretType, cancellation));
        else
        {
            var key = await keyService.Resolver.ResolveAsync(kek, cancellation);
            var padded = await key.UnwrapKeyAsync(keyService.WrapAlgorithm, ciphertext, cancellation);
            secret = Encoding.UTF8.GetString(padded, 8, (int)BitConverter.ToInt64(padded, 0));
            CryptographicOperations.ZeroMemory(padded);
        }
        signer = new StandardWebhooks(secret);
        foreach (var stale in _signers.Keys.Where(k => k.Item1 == id)) _signers.TryRemove(stale, out _);
        _signers[(id, version)] = signer;
        return signer;
    }

    public async Task<IReadOnlyList<WebhookSubscription>> ListAsync(string owner, CancellationToken cancellation)
    {
        await using var tx = await BeginAsync(owner, cancellation);
        await using var read = tx.Command($"select {Columns} from {Schema}.webhook_subscriptions where tenant_id = $1 order by created_at, id", owner);
        var list = new List<WebhookSubscription>();
        await using var r = await read.ExecuteReaderAsync(cancellation);
        while (await r.ReadAsync(cancellation)) list.Add(Read(r));
        return list;
    }

    public async Task<WebhookSubscription?> FindAsync(string owner, Guid id, CancellationToken cancellation)
    {
        await using var tx = await BeginAsync(owner, cancellation);
        return await FindAsync(tx, owner, id, cancellation);
    }

    private async Task<WebhookSubscription?> FindAsync(OwnerTransaction tx, string owner, Guid id, CancellationToken cancellation, bool forUpdate = false)
    {
        await using var read = tx.Command($"select {Columns} from {Schema}.webhook_subscriptions where tenant_id = $1 and id = $2" + (forUpdate ? " for update" : ""), owner, id);
        await using var r = await read.ExecuteReaderAsync(cancellation);
        return await r.ReadAsync(cancellation) ? Read(r) : null;
    }

    /// <summary>Changes a subscription (null: not found; a stale version: the current one, unchanged).</summary>
    public async Task<(WebhookSubscription? Result, long? Stale)> ChangeAsync(string owner, Guid id, long? expectedVersion,
        Func<WebhookSubscription, WebhookSubscription> change, Actor by, DateTimeOffset now, CancellationToken cancellation)
    {
        await using var tx = await BeginWriteAsync(owner, cancellation);
        var current = await FindAsync(tx, owner, id, cancellation, forUpdate: true);
        if (current is null) return (null, null);
        if (expectedVersion is { } expected && expected != current.Version) return (current, current.Version);
        var next = change(current) with { Version = current.Version + 1, UpdatedAt = now };
        await tx.ExecuteAsync($"""
            update {Schema}.webhook_subscriptions set url = $3, description = $4, types = $5, state = $6, version = $7, updated_at = $8
            where tenant_id = $1 and id = $2
            """, cancellation, owner, id, next.Url, next.Description, next.Types.ToArray(), next.State, next.Version, now);
        await RecordAsync(tx, id, new WebhookSubscriptionChanged(id, next.Url, next.Types, next.Description, next.State, by, now), start: false, cancellation);
        await tx.CommitAsync(cancellation);
        return (next, null);
    }

    /// <summary>Removes a subscription; its undelivered deliveries are cancelled (its history stays until the tenant goes).</summary>
    public async Task<bool> RemoveAsync(string owner, Guid id, Actor by, DateTimeOffset now, CancellationToken cancellation)
    {
        await using var tx = await BeginWriteAsync(owner, cancellation);
        var removed = await tx.ExecuteAsync($"delete from {Schema}.webhook_subscriptions where tenant_id = $1 and id = $2", cancellation, owner, id);
        if (removed == 0) return false;
        await RecordAsync(tx, id, new WebhookUnsubscribed(id, by, now), start: false, cancellation);
        await tx.ExecuteAsync($"""
            update {Schema}.webhook_deliveries set status = '{WebhookStates.Cancelled}', last_error = 'the subscription was removed'
            where tenant_id = $1 and subscription_id = $2 and status in ('{WebhookStates.Pending}', '{WebhookStates.Retrying}')
            """, cancellation, owner, id);
        await tx.CommitAsync(cancellation);
        return true;
    }

    private const string DeliveryColumns = """
        id, subscription_id, source_tenant, log_index, event_id, stream_id, event_type, status, attempts, created_at,
        case when status in ('pending', 'retrying') then next_attempt_at end, delivered_at, last_status, last_error
        """;

    private static WebhookDelivery ReadDelivery(NpgsqlDataReader r) => new(r.GetGuid(0), r.GetGuid(1), r.GetGuid(2), r.GetInt64(3), r.GetGuid(4),
        r.GetGuid(5), r.GetString(6), r.GetString(7), r.GetInt32(8), r.GetFieldValue<DateTimeOffset>(9),
        r.IsDBNull(10) ? null : r.GetFieldValue<DateTimeOffset>(10), r.IsDBNull(11) ? null : r.GetFieldValue<DateTimeOffset>(11),
        r.IsDBNull(12) ? null : r.GetInt32(12), r.IsDBNull(13) ? null : r.GetString(13));

    /// <summary>A subscription's deliveries, newest first (by the event's place in its tenant's log), after a cursor.</summary>
    public async Task<IReadOnlyList<WebhookDelivery>> DeliveriesAsync(string owner, Guid subscription, string? status, (Guid Tenant, long Index)? before,
        int limit, CancellationToken cancellation)
    {
        await using var tx = await BeginAsync(owner, cancellation);
        var sql = new StringBuilder($"select {DeliveryColumns} from {Schema}.webhook_deliveries where tenant_id = $1 and subscription_id = $2");
        var values = new List<object?> { owner, subscription };
        if (status is not null) { values.Add(status); sql.Append($" and status = ${values.Count}"); }
        if (before is { } b)
        {
            values.Add(b.Index);
            values.Add(b.Tenant);
            sql.Append($" and (log_index, source_tenant) < (${values.Count - 1}, ${values.Count})");
        }
        sql.Append($" order by log_index desc, source_tenant desc limit {limit}");
        await using var read = tx.Command(sql.ToString(), values.ToArray());
        var list = new List<WebhookDelivery>();
        await using var r = await read.ExecuteReaderAsync(cancellation);
        while (await r.ReadAsync(cancellation)) list.Add(ReadDelivery(r));
        return list;
    }

    public async Task<WebhookDelivery?> DeliveryAsync(string owner, Guid subscription, Guid id, CancellationToken cancellation)
    {
        await using var tx = await BeginAsync(owner, cancellation);
        WebhookDelivery? delivery;
        await using (var read = tx.Command($"select {DeliveryColumns} from {Schema}.webhook_deliveries where tenant_id = $1 and subscription_id = $2 and id = $3",
                         owner, subscription, id))
        await using (var r = await read.ExecuteReaderAsync(cancellation))
            delivery = await r.ReadAsync(cancellation) ? ReadDelivery(r) : null;
        if (delivery is null) return null;
        var attempts = new List<WebhookAttempt>();
        await using (var read = tx.Command($"select attempt, at, status_code, error, duration_ms from {Schema}.webhook_attempts where tenant_id = $1 and delivery_id = $2 order by attempt",
                         owner, id))
        await using (var r = await read.ExecuteReaderAsync(cancellation))
            while (await r.ReadAsync(cancellation))
                attempts.Add(new WebhookAttempt(r.GetInt32(0), r.GetFieldValue<DateTimeOffset>(1), r.IsDBNull(2) ? null : r.GetInt32(2),
                    r.IsDBNull(3) ? null : r.GetString(3), r.GetInt32(4)));
        return delivery with { History = attempts };
    }

    /// <summary>
    /// Sends deliveries again (one, or every one in a state): back to pending, due now, with a fresh allowance of attempts.
    /// Returns how many. A delivery of an event whose tenant was shredded cannot be sent again. No more are sent again than
    /// fit under the subscription's bound on waiting deliveries (TenantEvents:MaxPendingDeliveries), oldest first.
    /// </summary>
    public async Task<int> RedeliverAsync(string owner, Guid subscription, Guid? id, string? status, Actor by, DateTimeOffset now, CancellationToken cancellation)
    {
        await using var tx = await BeginWriteAsync(owner, cancellation);
        // The same lock the fan-out takes before it counts (EventDelivery), so neither passes the bound by racing the other.
        await using (var lockRow = tx.Command($"select id from {Schema}.webhook_subscriptions where tenant_id = $1 and id = $2 for update", owner, subscription))
            await lockRow.ExecuteNonQueryAsync(cancellation);
        long waiting;
        await using (var pending = tx.Command($"""
            select count(*) from {Schema}.webhook_deliveries
            where tenant_id = $1 and subscription_id = $2 and status in ('{WebhookStates.Pending}', '{WebhookStates.Retrying}')
            """, owner, subscription))
            waiting = (long)(await pending.ExecuteScalarAsync(cancellation))!;
        var room = Math.Max(0, streams.Options.MaxPendingDeliveries - waiting);
        var count = await tx.ExecuteAsync($"""
            update {Schema}.webhook_deliveries set status = '{WebhookStates.Pending}', next_attempt_at = $3, attempt_base = attempts
            where tenant_id = $1 and id in (
              select id from {Schema}.webhook_deliveries
              where tenant_id = $1 and subscription_id = $2 and ($4::uuid is null or id = $4) and ($5::text is null or status = $5)
                and status <> '{WebhookStates.Pending}'
                and (last_error is null or last_error <> $6)
              order by log_index limit $7)
            """, cancellation, owner, subscription, now, new NpgsqlParameter { Value = (object?)id ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Uuid },
            new NpgsqlParameter { Value = (object?)status ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text }, TenantGone, room);
        if (count > 0) await RecordAsync(tx, subscription, new WebhookRedeliveryRequested(subscription, id, status, count, by, now), start: false, cancellation);
        await tx.CommitAsync(cancellation);
        return count;
    }

    public const string TenantGone = "the event's tenant was decommissioned: its events can no longer be read";
}
