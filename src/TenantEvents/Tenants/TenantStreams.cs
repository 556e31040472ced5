using System.Text.Json;
using JasperFx;
using JasperFx.Events;
using Marten;
using TenantEvents.Keys;
using Wolverine.Marten.Publishing;
using Wolverine.Runtime;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Databases;

namespace TenantEvents.Tenants;

/// <summary>What became of a command against a tenant stream.</summary>
public abstract record Outcome;

public sealed record Applied(Tenant Tenant, IReadOnlyList<object> Events) : Outcome;

public sealed record Refused(Decision Decision, Tenant Tenant) : Outcome;

public sealed record StreamNotFound : Outcome;

public sealed record VersionMismatch(long Expected, long Actual) : Outcome;

public sealed record LostRace(bool HadExpectedVersion, long? Expected) : Outcome;

/// <summary>The tenant's key material was destroyed: it existed, and its data is gone for good (410).</summary>
public sealed record TenantShredded(Guid TenantId) : Outcome;

/// <summary>
/// The edge around the pure decisions: load the tenant's sealed stream (in that tenant's own partition), open and fold
/// it, check the caller's expected version, decide, seal the new events under the tenant's current data key, append
/// them with the sealed read model, commit, all in one transaction together with Wolverine's outbox. Nothing is
/// appended unless the decision accepts.
/// </summary>
public sealed class TenantStreams(OutboxedSessionFactory sessions, Clock clock, TenantKeyRing keys, TenantEventsOptions options,
    IDocumentStore store, TenantDirectory directory, TenantDatabases databases, ResidencyZones zones)
{
    public IDocumentStore Store => store;

    public TenantEventsOptions Options => options;

    /// <summary>The platform directory: placements, slugs, idempotency records (main database).</summary>
    public TenantDirectory Directory => directory;

    public TenantDatabases Databases => databases;

    public ResidencyZones Zones => zones;

    public DateTimeOffset Now => clock.UtcNow;

    public TenantKeyRing Keys => keys;

    /// <summary>
    /// A session for exactly this tenant, enlisted in the context's outbox. A message that arrived for one tenant can
    /// never open another's stream: Wolverine would hand it the envelope's tenant, so that is refused outright.
    /// </summary>
    private IDocumentSession OpenSession(MessageContext context, Guid tenantId)
    {
        var wanted = tenantId.ToString();
        var bound = context.Envelope?.TenantId ?? context.TenantId;
        if (bound is not null && bound != wanted)
            throw new InvalidOperationException($"Work bound to tenant {bound} may not open tenant {wanted}'s stream.");
        context.TenantId = wanted;
        return sessions.OpenSession(context);
    }

    /// <summary>
    /// Opens the one kind of write there is (<see cref="TenantTransaction"/>): a session for exactly this tenant, in the
    /// request's outbox when <paramref name="context"/> is given (null: a second tenant's write in one request, or work
    /// that publishes nothing). With <paramref name="begin"/> its transaction is begun and its connection open, for a
    /// write that reads what it decides on; without, it holds no connection until it commits (a write that only appends,
    /// and may call out, say to the key service, before that).
    /// </summary>
    public async Task<TenantTransaction> BeginAsync(MessageContext? context, Guid tenantId, CancellationToken cancellation, bool begin = true)
    {
        var session = context is null ? store.LightweightSession(tenantId.ToString()) : OpenSession(context, tenantId);
        if (!begin) return new TenantTransaction(this, session, null, tenantId);
        try
        {
            await session.BeginTransactionAsync(cancellation);
            var connection = (Npgsql.NpgsqlConnection)session.Connection!;
            if (connection.State != System.Data.ConnectionState.Open) await connection.OpenAsync(cancellation);
            return new TenantTransaction(this, session, connection, tenantId);
        }
        catch
        {
            await session.DisposeAsync();
            throw;
        }
    }

    public async Task<Outcome> Execute(MessageContext context, Guid tenantId, long? expectedVersion,
        Func<Tenant, DateTimeOffset, Decision> decide, CancellationToken cancellation,
        Func<Tenant, IReadOnlyList<object>, TenantTransaction, MessageContext, Task>? alongside = null)
    {
        await using var tx = await BeginAsync(context, tenantId, cancellation);
        // The sealed read model is the stream's snapshot: it is written in the same transaction as every append, so its
        // version is the stream's. Appending with the expected version below would catch it if it ever were not.
        var record = await tx.Session.LoadAsync<TenantRecord>(tenantId, cancellation);
        if (record is null) return new StreamNotFound();
        if (record.Shredded) return new TenantShredded(tenantId);
        Tenant tenant;
        try
        {
            tenant = await ReadAsync(record, cancellation);
        }
        catch (KeyDestroyedException)
        {
            return new TenantShredded(tenantId);
        }
        if (expectedVersion is { } expected && expected != tenant.Version)
            return new VersionMismatch(expected, tenant.Version);

        var decision = decide(tenant, Now);
        if (decision is not Accepted accepted) return new Refused(decision, tenant);
        if (accepted.Events.Count == 0) return new Applied(tenant, []);

        // The tenant was read for this command alone: fold the new events onto it.
        var after = tenant;
        foreach (var e in accepted.Events) Apply(after, e);
        after.Version += accepted.Events.Count;
        await tx.AppendAsync(tenantId, accepted.Events, cancellation, versionAfter: after.Version);
        tx.Session.Store(await RecordAsync(after, cancellation));
        TenantEvents.Quotas.QuotaSchema.RecordLimits(tx.Session, options.DatabaseSchema, after, accepted.Events, Now);
        if (alongside is not null) await alongside(after, accepted.Events, tx, context);
        return await tx.TryCommitAsync(cancellation) ? new Applied(after, accepted.Events) : new LostRace(expectedVersion is not null, expectedVersion);
    }

    /// <summary>Starts a tenant's stream: its first (sealed) event and its read model, in the caller's session.</summary>
    public async Task StartAsync(IDocumentSession session, TenantRequested requested, CancellationToken cancellation)
    {
        session.Events.StartStream(requested.TenantId, await SealAsync(requested.TenantId, [requested], cancellation, newTenant: true));
        var tenant = Tenant.Create(requested);
        tenant.Version = 1;
        session.Store(await RecordAsync(tenant, cancellation));
    }

    /// <summary>
    /// The stream replayed: every event opened with the tenant's keys, and the tenant they fold into (null if there is no
    /// such stream). Throws <see cref="KeyDestroyedException"/> once the tenant is shredded.
    /// </summary>
    public async Task<(Tenant? Tenant, IReadOnlyList<TenantEventEntry> Events)> ReplayAsync(IQuerySession session, Guid tenantId,
        CancellationToken cancellation, long toVersion = 0)
    {
        var stored = await session.Events.FetchStreamAsync(tenantId, toVersion, token: cancellation);
        Tenant? tenant = null;
        var entries = new List<TenantEventEntry>(stored.Count);
        foreach (var e in stored)
        {
            var data = await OpenAsync(e, cancellation);
            entries.Add(new TenantEventEntry(e.Version, e.Sequence, e.EventTypeName, e.Timestamp, data));
            tenant = Apply(tenant, data);
        }
        if (tenant is not null) tenant.Version = (int)stored[^1].Version;
        return (tenant, entries);
    }

    /// <summary>One stored event opened: bound to the row's own tenant, stream and type, so a moved ciphertext fails.</summary>
    public async Task<object> OpenAsync(IEvent stored, CancellationToken cancellation)
    {
        if (stored.Data is not ISealedEvent sealedEvent) return stored.Data;
        var tenant = Guid.Parse(stored.TenantId);
        byte[] plaintext;
        if (sealedEvent.Payload.KeyVersion == 0) plaintext = Unsealed(tenant, sealedEvent.Payload, stored.StreamId, stored.EventTypeName);
        else
        {
            var key = await keys.VersionAsync(tenant, sealedEvent.Payload.KeyVersion, cancellation);
            try
            {
                plaintext = Sealing.Open(key, sealedEvent.Payload, stored.StreamId, stored.EventTypeName);
            }
            catch (IntegrityViolationException) when (stored.StreamId != tenant)
            {
                // Service-account, identity-provider and SCIM events sealed before their seal named their own stream
                // were bound to the tenant's: still this tenant and this event type only.
                plaintext = Sealing.Open(key, sealedEvent.Payload, tenant, stored.EventTypeName);
            }
        }
        var opened = JsonSerializer.Deserialize(plaintext, sealedEvent.EventType, SealedJson.Options)!;
        // Contacts are protected exactly when the payload is sealed; unsealed payloads (sealing off) hold them plain.
        return sealedEvent.Payload.KeyVersion == 0 ? opened : await ContactProtection.RevealAsync(keys, opened, cancellation);
    }

    /// <param name="newTenant">The events start a new tenant's stream: its keys are made, not looked up.</param>
    /// <param name="stream">The stream the events go to, which their seal is bound to (default: the tenant's own stream).</param>
    public async Task<IReadOnlyList<object>> SealAsync(Guid tenantId, IEnumerable<object> events, CancellationToken cancellation,
        bool newTenant = false, Guid? stream = null)
    {
        var key = options.Sealing ? await keys.CurrentAsync(tenantId, cancellation, newTenant) : null;
        var protectedEvents = new List<object>();
        foreach (var e in events)
            protectedEvents.Add(key is null ? e : await ContactProtection.ProtectAsync(keys, e, cancellation, fresh: newTenant));
        return protectedEvents.Select(e =>
        {
            var type = e.GetType();
            var plaintext = JsonSerializer.SerializeToUtf8Bytes(e, type, SealedJson.Options);
            var payload = key is null
                ? new SealedPayload(0, [], plaintext)
                : Sealing.Seal(key, plaintext, stream ?? tenantId, TenantEventTypes.StoredName(type));
            return TenantEventTypes.Wrap(type, payload);
        }).ToList();
    }

    /// <summary>Bytes of the tenant sealed under its current data key, bound to a stream and type (kept plain when sealing is off).</summary>
    public async Task<SealedPayload> SealBytesAsync(Guid tenant, byte[] plaintext, Guid stream, string type, CancellationToken cancellation) =>
        options.Sealing
            ? Sealing.Seal(await keys.CurrentAsync(tenant, cancellation), plaintext, stream, type)
            : new SealedPayload(0, [], plaintext);

    /// <summary>The bytes <see cref="SealBytesAsync"/> sealed (key version 0: stored plain).</summary>
    public async Task<byte[]> OpenBytesAsync(Guid tenant, SealedPayload payload, Guid stream, string type, CancellationToken cancellation) =>
        payload.KeyVersion == 0
            ? Unsealed(tenant, payload, stream, type)
            : Sealing.Open(await keys.VersionAsync(tenant, payload.KeyVersion, cancellation), payload, stream, type);

    /// <summary>
    /// A payload stored plain (key version 0): only ever written with sealing off. While sealing is on, such a row was put
    /// there by someone else (the service's database role can write rows, not seal them): it is refused like a payload
    /// that does not authenticate, never read as the tenant's data.
    /// </summary>
    private byte[] Unsealed(Guid tenant, SealedPayload payload, Guid stream, string type) =>
        options.Sealing ? throw new IntegrityViolationException(tenant, stream, type) : payload.Ciphertext;

    public async Task<TenantRecord> RecordAsync(Tenant tenant, CancellationToken cancellation)
    {
        var stored = options.Sealing ? await ContactProtection.ProtectAsync(keys, tenant, cancellation) : tenant;
        var plaintext = JsonSerializer.SerializeToUtf8Bytes(stored, SealedJson.Options);
        return TenantRecord.Of(tenant, await SealBytesAsync(tenant.Id, plaintext, tenant.Id, TenantRecord.SealedType, cancellation));
    }

    /// <summary>The tenant inside a read-model record; throws <see cref="KeyDestroyedException"/> if it was shredded.</summary>
    /// <summary>The tenant as it is now, opened (null: unknown, or decommissioned and shredded).</summary>
    public async Task<Tenant?> CurrentAsync(Guid tenantId, CancellationToken cancellation)
    {
        await using var session = Store.QuerySession(tenantId.ToString());
        var record = await session.LoadAsync<TenantRecord>(tenantId, cancellation);
        if (record is null || record.Shredded) return null;
        try
        {
            return await ReadAsync(record, cancellation);
        }
        catch (KeyDestroyedException)
        {
            return null;
        }
    }

    public async Task<Tenant> ReadAsync(TenantRecord record, CancellationToken cancellation)
    {
        if (record.Sealed is not { } payload) throw new KeyDestroyedException(record.Id, 0);
        var plaintext = await OpenBytesAsync(record.Id, payload, record.Id, TenantRecord.SealedType, cancellation);
        var tenant = JsonSerializer.Deserialize<Tenant>(plaintext, SealedJson.Options)!;
        return payload.KeyVersion == 0 ? tenant : await ContactProtection.RevealAsync(keys, tenant, cancellation);
    }

    /// <summary>Replays events onto a copy of the tenant (the original stays as it was, e.g. for a refusal's report).</summary>
    public static Tenant Fold(Tenant current, IEnumerable<object> events)
    {
        var copy = JsonSerializer.Deserialize<Tenant>(JsonSerializer.SerializeToUtf8Bytes(current, SealedJson.Options), SealedJson.Options)!;
        foreach (var e in events) Apply(copy, e);
        return copy;
    }

    /// <summary>One event folded onto the tenant: its request makes it, every other event goes to its <c>Tenant.Apply</c> (found by <see cref="Fold{TState}"/>).</summary>
    public static Tenant Apply(Tenant? tenant, object e)
    {
        if (e is TenantRequested requested) return Tenant.Create(requested);
        ArgumentNullException.ThrowIfNull(tenant);
        return Fold<Tenant>.Apply(tenant, e);
    }
}
