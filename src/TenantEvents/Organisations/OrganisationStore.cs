using System.Collections.Concurrent;
using Marten;
using Npgsql;
using TenantEvents.Infrastructure;
using TenantEvents.Keys;
using TenantEvents.Tenants;
using Wolverine.Runtime;

using TenantEvents.Infrastructure.Databases;

namespace TenantEvents.Organisations;

/// <summary>What became of a command against the organisation tree.</summary>
public abstract record OrgOutcome;

public sealed record OrgApplied(IReadOnlyList<object> Events, long AccessVersion) : OrgOutcome;

public sealed record OrgRefused(Problem Problem) : OrgOutcome;

/// <summary>The tenant as an organisation read sees it: whether it exists, is crypto-shredded, and its state.</summary>
public sealed record TenantStatus(bool Exists, bool Shredded, string? State);

/// <summary>
/// The edge around <see cref="OrganisationDecisions"/>: in one transaction of the tenant's own database it takes the
/// tenant's access lock (structural writes of one tenant are serialised, so two concurrent moves can never make a
/// cycle), reads the tenant's access version, gets the <see cref="AccessGraph"/> at that version (cached in memory,
/// reloaded from the projection when another instance moved it on), decides, seals and appends the events to the
/// organisation streams, and updates the projection tables (org_nodes with each organisation's materialised path,
/// org_grants, tenant_roles, access_versions) in the same transaction. The cached graph then advances by the same events.
/// </summary>
public sealed class OrganisationStore(TenantStreams streams, ILogger<OrganisationStore> logger)
{
    // Loading the graph from the tables, checked against the MAC beside the version (Organisations/AccessState.cs).
    private readonly AccessState _state = new(streams, logger);

    public const string VersionHeader = "access_version";

    private sealed class Entry
    {
        public AccessGraph? Graph;
        public long LastUsed;
    }

    /// <summary>The tenant's cache entry; the least recently used graphs are dropped beyond the configured number.</summary>
    private Entry EntryFor(Guid tenant)
    {
        var entry = _graphs.GetOrAdd(tenant, _ => new Entry());
        // A use counter, not a clock: two uses within one clock tick must still be ordered, or the entry just used
        // could be the one chosen for eviction (and kept) while an older one stays.
        Volatile.Write(ref entry.LastUsed, Interlocked.Increment(ref _uses));
        var excess = _graphs.Count - streams.Options.AccessGraphCacheSize;
        if (excess > 0)
            foreach (var stale in _graphs.Where(e => e.Key != tenant).OrderBy(e => Volatile.Read(ref e.Value.LastUsed)).Take(excess).ToList())
                _graphs.TryRemove(stale.Key, out _);
        return entry;
    }

    private async Task<bool> ShreddedAsync(Guid tenant, CancellationToken cancellation)
    {
        await using var session = streams.Store.QuerySession(tenant.ToString());
        return await session.LoadAsync<TenantRecord>(tenant, cancellation) is { Shredded: true };
    }

    /// <summary>The access version an organisation event was written at (its header); null when it has none that reads as one.</summary>
    public static long? VersionOf(JasperFx.Events.IEvent stored) =>
        stored.Headers?.TryGetValue(VersionHeader, out var v) == true && long.TryParse(v?.ToString(), out var version) ? version : null;

    /// <summary>Drops the graph this instance holds for the tenant: the next read loads (and checks) it again, as a restart would.</summary>
    public void Forget(Guid tenant) => _graphs.TryRemove(tenant, out _);

    /// <summary>How many tenants' graphs are held in memory now.</summary>
    public int CachedGraphs => _graphs.Count;

    private readonly ConcurrentDictionary<Guid, Entry> _graphs = new();
    private long _uses;

    /// <summary>
    /// A read of the graph this instance holds for the tenant, with no round trip: false when it holds none. The graph may
    /// be behind a change made on another instance until this instance's next <see cref="ReadAsync{T}(Guid, Func{AccessGraph, T}, CancellationToken)"/>
    /// (which every organisation route makes): only for decisions that may lag that much, never for authorisation.
    /// </summary>
    public bool TryReadHeld<T>(Guid tenant, Func<AccessGraph, T> read, out T value)
    {
        value = default!;
        if (!_graphs.TryGetValue(tenant, out var entry)) return false;
        lock (entry)
        {
            if (entry.Graph is not { } graph) return false;
            value = read(graph);
            return true;
        }
    }

    /// <summary>Migration 2's data step (<see cref="AccessState.SealUnstampedAsync"/>).</summary>
    public Task<string> SealUnstampedAsync(Infrastructure.Databases.MigrationStep step) => _state.SealUnstampedAsync(step);

    /// <summary>Reads the graph at the tenant's current version under its lock (cheap: one row read, then memory).</summary>
    public Task<T> ReadAsync<T>(Guid tenant, Func<AccessGraph, T> read, CancellationToken cancellation) =>
        ReadAsync(tenant, (_, graph) => read(graph), cancellation);

    /// <summary>
    /// The graph at the tenant's current version, with the tenant's own status, under the graph's lock. The fast path is
    /// one round trip: the tenant setting, the access version and the tenant's state go as one batch (one implicit
    /// transaction); only a graph that moved on is reloaded.
    /// </summary>
    public async Task<T> ReadAsync<T>(Guid tenant, Func<TenantStatus, AccessGraph, T> read, CancellationToken cancellation)
    {
        var source = (await streams.Databases.ForAsync(tenant, cancellation)).Service;
        AccessState.Stamp stamp;
        TenantStatus status;
        await using (var batch = source.CreateBatch())
        {
            batch.BatchCommands.Add(Infrastructure.Databases.Sql.SetTenantCommand(tenant));
            batch.BatchCommands.Add(_state.StampQuery(tenant));
            batch.BatchCommands.Add(Command($"""
                select d.data ->> 'State', coalesce(jsonb_typeof(d.data -> 'Sealed'), 'null') = 'null'
                from {streams.Store.Options.Schema.For<TenantRecord>()} d where d.id = $1
                """, tenant));
            await using var reader = await batch.ExecuteReaderAsync(cancellation);
            await reader.NextResultAsync(cancellation);
            stamp = await AccessState.ReadStampAsync(reader, cancellation);
            await reader.NextResultAsync(cancellation);
            status = await reader.ReadAsync(cancellation)
                ? new TenantStatus(true, reader.GetBoolean(1), reader.IsDBNull(0) ? null : reader.GetString(0))
                : new TenantStatus(false, false, null);
        }
        // A tenant that does not exist here or was shredded has no access state to load (its tables were emptied while its
        // events stay): the read decides on its status (404, 410) over an empty graph.
        if (!status.Exists || status.Shredded) return read(status, new AccessGraph());
        // Checked before any cached graph is used: an instance that still holds an older state must not serve it again
        // because someone put that older version number back.
        if (stamp.Version < stamp.HighWater) throw _state.RolledBack(tenant, stamp.Version, stamp.HighWater);
        var entry = EntryFor(tenant);
        AccessGraph? graph;
        lock (entry) graph = entry.Graph?.Version == stamp.Version ? entry.Graph : null;
        if (graph is null)
        {
            await using var scope = await TenantReadScope.OpenAsync(streams.Databases, tenant, cancellation);
            var current = await _state.StampAsync(scope.Connection, tenant, cancellation);
            if (current.Version < current.HighWater) throw _state.RolledBack(tenant, current.Version, current.HighWater);
            graph = await _state.LoadAsync(scope.Connection, tenant, current, cancellation);
            lock (entry) if (entry.Graph is null || entry.Graph.Version < current.Version) entry.Graph = graph;
        }
        lock (entry) return read(status, graph);
    }

    public async Task<OrgOutcome> Execute(MessageContext context, Guid tenant, Func<AccessGraph, OrgDecision> decide, CancellationToken cancellation)
    {
        await using var tx = await streams.BeginAsync(context, tenant, cancellation);
        var session = tx.Session;
        await tx.LockAsync("access", cancellation);
        var connection = tx.Connection;
        var stamp = await _state.StampAsync(connection, tenant, cancellation);
        // Decommissioning emptied the access tables (the events and their high-water stay): a command that was already on its
        // way when the tenant was shredded finds the tenant gone, not an earlier state put back.
        if (stamp is { Version: 0, Mac: null } && stamp.HighWater > 0 && await ShreddedAsync(tenant, cancellation))
            throw new RefusedException(new Problem("tenant-decommissioned", 410, "The tenant was decommissioned",
                "Its keys were destroyed and its organisations are gone."));
        if (stamp.Version < stamp.HighWater) throw _state.RolledBack(tenant, stamp.Version, stamp.HighWater);
        var version = stamp.Version;
        var entry = EntryFor(tenant);
        AccessGraph? graph;
        lock (entry) graph = entry.Graph?.Version == version ? entry.Graph : null;
        graph ??= await _state.LoadAsync(connection, tenant, stamp, cancellation);

        OrgDecision decision;
        byte[]? digestAfter = null;
        lock (entry)
        {
            decision = decide(graph);
            // The digest the graph will have after the events (computed, not applied: the graph moves on after the commit).
            if (decision.Refusal is null && decision.Events.Count > 0) digestAfter = graph.DigestAfter(decision.Events);
        }
        if (decision.Refusal is { } refusal) return new OrgRefused(refusal);
        if (decision.Events.Count == 0) return new OrgApplied([], version);

        var next = version + 1;
        session.SetHeader(VersionHeader, next);
        var projection = new List<NpgsqlBatchCommand>();
        foreach (var e in decision.Events)
        {
            await tx.AppendAsync(StreamOf(tenant, e), [e], cancellation, start: e is OrganisationCreated);
            await ProjectAsync(projection, tenant, e, cancellation);
        }
        // The MAC of the state after the command, stored with the new version: what the next load from the tables is
        // checked against (AccessSeal).
        projection.Add(_state.StampCommand(tenant, next, digestAfter!, graph.Hasher!));
        await Flush(connection, projection, cancellation);
        await session.SaveChangesAsync(cancellation);

        // Committed: the graph decided on (the cached one, or one loaded for this command) advances by the same events.
        lock (entry)
        {
            foreach (var e in decision.Events) graph.Apply(e);
            graph.Version = next;
            if (entry.Graph is null || entry.Graph.Version <= next) entry.Graph = graph;
        }
        return new OrgApplied(decision.Events, next);
    }

    /// <summary>
    /// The access tables put back to what the tenant's sealed organisation events fold into, and stamped with the MAC of
    /// that state, in the caller's session (the repair's own event goes with it): for a tenant refused because its tables
    /// were changed outside the service, or its version moved. Refused (409) when the events themselves do not fold (a
    /// seal stored twice, an event that does not open): then only a backup helps. Returns the access version stamped.
    /// </summary>
    public async Task<long> RepairAsync(TenantTransaction tx, CancellationToken cancellation)
    {
        var (session, tenant) = (tx.Session, tx.Tenant);
        await tx.LockAsync("access", cancellation);
        var connection = tx.Connection;
        var stamp = await _state.StampAsync(connection, tenant, cancellation);
        // Unsealed events (sealing off) can be written by anyone with the role's password: nothing to rebuild from.
        if (!streams.Options.Sealing)
            throw new RefusedException(new Problem("access-repair-unavailable", 409, "The access state cannot be repaired",
                "Sealing is off, so the organisation events prove nothing: restore the tenant's database from a backup."));
        if (stamp.HighWater == 0)
            throw new RefusedException(new Problem("access-repair-unavailable", 409, "There is no access state to repair",
                "The tenant has no organisation events yet (it is not provisioned)."));
        var hasher = new AccessHasher(await streams.Keys.CurrentAsync(tenant, cancellation));
        // The events must be exactly what the service wrote: every seal once, versions from 1 without a gap, up to the highest
        // version the events ever reached (a shortened history, say the last revocation deleted, is not rebuilt from).
        if (await _state.ReplayEventsAsync(tenant, hasher, cancellation, strict: true, within: session) is not { } replay || replay.Graph.Version != stamp.HighWater)
            throw new RefusedException(new Problem("access-events-broken", 409, "The organisation events do not fold",
                "The tenant's organisation events themselves are not what the service wrote (a sealed event stored twice or missing, one " +
                "that does not open, versions with a gap): the access state cannot be rebuilt from them. Restore the tenant's database from a backup."));
        var version = replay.Graph.Version;
        var s = streams.Keys.Schema;
        var projection = new List<NpgsqlBatchCommand>();
        foreach (var table in new[] { "org_nodes", "org_grants", "org_policies", "org_members", "org_quota_allocations", "tenant_roles" })
            projection.Add(Command($"delete from {s}.{table} where tenant_id = $1", tenant.ToString()));
        foreach (var e in replay.Events) await ProjectAsync(projection, tenant, e, cancellation);
        projection.Add(_state.StampCommand(tenant, version, replay.Graph.StateDigest(), hasher));
        await Flush(connection, projection, cancellation);
        return version;
    }

    /// <summary>Provisioning: the template's organisations and roles, in the provisioning transaction (access version 1).</summary>
    public async Task SeedAsync(TenantTransaction tx, TenantProvisioned provisioned, CancellationToken cancellation)
    {
        var (session, tenant) = (tx.Session, tx.Tenant);
        var events = new List<object>();
        events.AddRange(provisioned.Roles.Select(r => (object)new RoleDefined(r.Name, r.Description,
            r.Permissions.Where(Permissions.IsKnown).Distinct().Order(StringComparer.Ordinal).ToList(), provisioned.By, provisioned.At)));
        events.AddRange(provisioned.Organisations.Select(o => (object)new OrganisationCreated(o.Id, o.ParentId, o.Name, o.Kind, null,
            provisioned.By, provisioned.At)));
        session.SetHeader(VersionHeader, 1L);
        var projection = new List<NpgsqlBatchCommand>();
        foreach (var e in events)
        {
            await tx.AppendAsync(StreamOf(tenant, e), [e], cancellation, start: e is OrganisationCreated);
            await ProjectAsync(projection, tenant, e, cancellation);
        }
        var hasher = new AccessHasher(await streams.Keys.CurrentAsync(tenant, cancellation));
        var seeded = AccessGraph.Keyed(hasher, version: 1);
        foreach (var e in events) seeded.Apply(e);
        projection.Add(_state.StampCommand(tenant, 1, seeded.StateDigest(), hasher));
        await Flush(tx.Connection, projection, cancellation);
    }

    /// <summary>
    /// The tree, roles and grants as they were: the organisation events folded up to a time or an access version. A replay
    /// is bounded (TenantEvents:MaxTimeTravelEvents): at most that many events are read and opened; a cut that lies
    /// further on is refused with 422 (<see cref="RefusedException"/>) after reading one more, never after reading them all.
    /// </summary>
    public async Task<AccessGraph> AsOfAsync(Guid tenant, DateTimeOffset? at, long? version, CancellationToken cancellation)
    {
        var max = streams.Options.MaxTimeTravelEvents;
        await using var session = streams.Store.QuerySession(tenant.ToString());
        var names = OrganisationEventTypes.StoredNames.ToArray();
        var query = session.Events.QueryAllRawEvents().Where(e => e.EventTypeName.IsOneOf(names));
        // Cut by the events' own times (the clock that decided them), in commit order.
        var graph = new AccessGraph();
        var replayed = 0;
        foreach (var stored in (await query.OrderBy(e => e.Sequence).Take(max + 1).ToListAsync(cancellation)))
        {
            var changeVersion = VersionOf(stored) ?? 0;
            if (version is { } wanted && changeVersion > wanted) break;
            var e = await streams.OpenAsync(stored, cancellation);
            if (at is { } cut && AtOf(e) > cut) break;
            if (++replayed > max)
                throw new RefusedException(Problem.LimitReached("time-travel-too-long", "The tree's history is too long to replay to that point",
                    $"A read as of a past time or version replays the tenant's organisation events from the start, at most {max} of them; " +
                    "this one needs more. Ask for an earlier point, or read the tree as it is now.", max,
                    nameof(TenantEventsOptions.MaxTimeTravelEvents), status: 422));
            graph.Apply(e);
            graph.Version = changeVersion;
        }
        return graph;
    }

    /// <summary>An organisation's current name, opened from the projection (names are sealed at rest).</summary>
    public async Task<string?> NameAsync(Guid tenant, Guid org, CancellationToken cancellation) =>
        (await NamesAsync(tenant, [org], cancellation)).GetValueOrDefault(org);

    public async Task<Dictionary<Guid, string>> NamesAsync(Guid tenant, IReadOnlyCollection<Guid> orgs, CancellationToken cancellation)
    {
        var result = new Dictionary<Guid, string>();
        if (orgs.Count == 0) return result;
        await using var scope = await TenantReadScope.OpenAsync(streams.Databases, tenant, cancellation);
        var connection = scope.Connection;
        await using var command = new NpgsqlCommand(
            $"select id, name_key_version, name_nonce, name_ciphertext from {streams.Keys.Schema}.org_nodes where id = any($1)", connection);
        command.Parameters.Add(new NpgsqlParameter { Value = orgs.ToArray() });
        var rows = new List<(Guid, SealedPayload)>();
        await using (var reader = await command.ExecuteReaderAsync(cancellation))
            while (await reader.ReadAsync(cancellation))
                rows.Add((reader.GetGuid(0), new SealedPayload(reader.GetInt32(1), (byte[])reader[2], (byte[])reader[3])));
        foreach (var (id, payload) in rows)
            result[id] = System.Text.Encoding.UTF8.GetString(await streams.OpenBytesAsync(tenant, payload, id, NameType, cancellation));
        return result;
    }

    private const string NameType = "organisation-name";

    private static DateTimeOffset AtOf(object e) => e switch
    {
        OrganisationCreated x => x.At, OrganisationRenamed x => x.At, OrganisationAttributesUpdated x => x.At, OrganisationMoved x => x.At,
        OrganisationClosed x => x.At, RoleGranted x => x.At, GrantRevoked x => x.At, RoleDefined x => x.At, RoleRemoved x => x.At,
        PolicySet x => x.At, PolicyCleared x => x.At, MemberAdded x => x.At, MemberRemoved x => x.At,
        Quotas.QuotaAllocated x => x.At, Quotas.QuotaAllocationRemoved x => x.At,
        _ => DateTimeOffset.MinValue,
    };

    private static Guid StreamOf(Guid tenant, object e) => e switch
    {
        OrganisationCreated x => x.OrganisationId,
        OrganisationRenamed x => x.OrganisationId,
        OrganisationAttributesUpdated x => x.OrganisationId,
        OrganisationMoved x => x.OrganisationId,
        OrganisationClosed x => x.OrganisationId,
        RoleGranted x => x.OrganisationId,
        GrantRevoked x => x.OrganisationId,
        PolicySet x => x.OrganisationId,
        PolicyCleared x => x.OrganisationId,
        MemberAdded x => x.OrganisationId,
        MemberRemoved x => x.OrganisationId,
        Quotas.QuotaAllocated x => x.OrganisationId,
        Quotas.QuotaAllocationRemoved x => x.OrganisationId,
        RoleDefined or RoleRemoved => OrganisationEventTypes.RolesStream(tenant),
        _ => throw new ArgumentException($"{e.GetType().Name} is not an organisation event."),
    };

    private Task<SealedPayload> SealNameAsync(Guid tenant, Guid org, string name, CancellationToken cancellation) =>
        streams.SealBytesAsync(tenant, System.Text.Encoding.UTF8.GetBytes(name), org, NameType, cancellation);

    /// <summary>
    /// The projection, in the command's transaction: one statement per event (a move rewrites its subtree's paths in one).
    /// Every statement names its tenant as well as being bound by row-level security.
    /// </summary>
    private async Task ProjectAsync(List<NpgsqlBatchCommand> batch, Guid tenant, object e, CancellationToken cancellation)
    {
        var s = streams.Keys.Schema;
        var t = tenant.ToString();
        switch (e)
        {
            case OrganisationCreated x:
                var name = await SealNameAsync(tenant, x.OrganisationId, x.Name, cancellation);
                batch.Add(Command($"""
                    insert into {s}.org_nodes (tenant_id, id, parent_id, path, depth, open, kind, jurisdiction,
                      name_key_version, name_nonce, name_ciphertext, version, created_at, updated_at)
                    select $1, $2, $3, p.path || $2, cardinality(p.path), true, $4, $5, $6, $7, $8, 1, $9, $9
                    from (select coalesce((select path from {s}.org_nodes where tenant_id = $1 and id = $3), array[]::uuid[]) as path) p
                    """, t, x.OrganisationId, (object?)x.ParentId ?? DBNull.Value, x.Kind, (object?)x.Jurisdiction ?? DBNull.Value,
                    name.KeyVersion, name.Nonce, name.Ciphertext, x.At));
                break;
            case OrganisationRenamed x:
                var renamed = await SealNameAsync(tenant, x.OrganisationId, x.Name, cancellation);
                batch.Add(Command($"update {s}.org_nodes set name_key_version = $2, name_nonce = $3, name_ciphertext = $4, version = version + 1, updated_at = $5 where tenant_id = $6 and id = $1",
                    x.OrganisationId, renamed.KeyVersion, renamed.Nonce, renamed.Ciphertext, x.At, t));
                break;
            case OrganisationAttributesUpdated x:
                batch.Add(Command($"update {s}.org_nodes set kind = $2, jurisdiction = $3, version = version + 1, updated_at = $4 where tenant_id = $5 and id = $1",
                    x.OrganisationId, x.Kind, (object?)x.Jurisdiction ?? DBNull.Value, x.At, t));
                break;
            case OrganisationMoved x:
                // Every row of the subtree gets the new parent's path in front of its own path below the moved organisation.
                batch.Add(Command($"""
                    with moved as (select path, depth from {s}.org_nodes where tenant_id = $3 and id = $1),
                         target as (select path from {s}.org_nodes where tenant_id = $3 and id = $2)
                    update {s}.org_nodes o set path = target.path || o.path[moved.depth + 1:],
                           depth = cardinality(target.path) + cardinality(o.path) - moved.depth - 1
                    from moved, target
                    where o.tenant_id = $3 and o.path @> array[$1]::uuid[]
                    """, x.OrganisationId, x.ToParentId, t));
                batch.Add(Command($"update {s}.org_nodes set parent_id = $2, version = version + 1, updated_at = $3 where tenant_id = $4 and id = $1",
                    x.OrganisationId, x.ToParentId, x.At, t));
                break;
            case OrganisationClosed x:
                batch.Add(Command($"update {s}.org_nodes set open = false, version = version + 1, updated_at = $2 where tenant_id = $3 and id = $1",
                    x.OrganisationId, x.At, t));
                break;
            case RoleGranted x:
                batch.Add(Command($"""
                    insert into {s}.org_grants (tenant_id, id, org_id, principal_kind, principal_id, role, granted_at) values ($1, $2, $3, $4, $5, $6, $7)
                    """, t, x.GrantId, x.OrganisationId, x.Principal.Kind, x.Principal.Id, x.Role, x.At));
                batch.Add(Command($"update {s}.org_nodes set version = version + 1, updated_at = $2 where tenant_id = $3 and id = $1", x.OrganisationId, x.At, t));
                break;
            case GrantRevoked x:
                batch.Add(Command($"delete from {s}.org_grants where tenant_id = $2 and id = $1", x.GrantId, t));
                batch.Add(Command($"update {s}.org_nodes set version = version + 1, updated_at = $2 where tenant_id = $3 and id = $1", x.OrganisationId, x.At, t));
                break;
            case PolicySet x:
                batch.Add(Command($"""
                    insert into {s}.org_policies (tenant_id, org_id, key, mode, value, set_at) values ($1, $2, $3, $4, $5, $6)
                    on conflict (tenant_id, org_id, key) do update set mode = excluded.mode, value = excluded.value, set_at = excluded.set_at
                    """, t, x.OrganisationId, x.Key, x.Mode, x.Value, x.At));
                batch.Add(Command($"update {s}.org_nodes set version = version + 1, updated_at = $2 where tenant_id = $3 and id = $1", x.OrganisationId, x.At, t));
                break;
            case MemberAdded x:
                batch.Add(Command($"insert into {s}.org_members (tenant_id, org_id, user_id, added_at) values ($1, $2, $3, $4)", t, x.OrganisationId, x.UserId, x.At));
                batch.Add(Command($"update {s}.org_nodes set version = version + 1, updated_at = $2 where tenant_id = $3 and id = $1", x.OrganisationId, x.At, t));
                break;
            case MemberRemoved x:
                batch.Add(Command($"delete from {s}.org_members where tenant_id = $3 and org_id = $1 and user_id = $2", x.OrganisationId, x.UserId, t));
                batch.Add(Command($"update {s}.org_nodes set version = version + 1, updated_at = $2 where tenant_id = $3 and id = $1", x.OrganisationId, x.At, t));
                break;
            case PolicyCleared x:
                batch.Add(Command($"delete from {s}.org_policies where tenant_id = $3 and org_id = $1 and key = $2", x.OrganisationId, x.Key, t));
                batch.Add(Command($"update {s}.org_nodes set version = version + 1, updated_at = $2 where tenant_id = $3 and id = $1", x.OrganisationId, x.At, t));
                break;
            case Quotas.QuotaAllocated x:
                batch.Add(Command($"""
                    insert into {s}.org_quota_allocations (tenant_id, org_id, kind, guaranteed, cap, set_at) values ($1, $2, $3, $4, $5, $6)
                    on conflict (tenant_id, org_id, kind) do update set guaranteed = excluded.guaranteed, cap = excluded.cap, set_at = excluded.set_at
                    """, t, x.OrganisationId, x.Kind, x.Guaranteed, (object?)x.Cap ?? DBNull.Value, x.At));
                batch.Add(AllocationHistory(s, t, x.OrganisationId, x.Kind, x.At, x.Guaranteed));
                batch.Add(Command($"update {s}.org_nodes set version = version + 1, updated_at = $2 where tenant_id = $3 and id = $1", x.OrganisationId, x.At, t));
                break;
            case Quotas.QuotaAllocationRemoved x:
                batch.Add(Command($"delete from {s}.org_quota_allocations where tenant_id = $3 and org_id = $1 and kind = $2", x.OrganisationId, x.Kind, t));
                batch.Add(AllocationHistory(s, t, x.OrganisationId, x.Kind, x.At, 0));
                batch.Add(Command($"update {s}.org_nodes set version = version + 1, updated_at = $2 where tenant_id = $3 and id = $1", x.OrganisationId, x.At, t));
                break;
            case RoleDefined x:
                batch.Add(Command($"""
                    insert into {s}.tenant_roles (tenant_id, name, description, permissions) values ($1, $2, $3, $4)
                    on conflict (tenant_id, name) do update set description = excluded.description, permissions = excluded.permissions
                    """, t, x.Name, x.Description, x.Permissions.ToArray()));
                break;
            case RoleRemoved x:
                batch.Add(Command($"delete from {s}.tenant_roles where tenant_id = $2 and name = $1", x.Name, t));
                break;
        }
    }

    private static NpgsqlBatchCommand Command(string sql, params object?[] values) => Infrastructure.Databases.Sql.BatchCommand(sql, values);

    /// <summary>An allocation's units from the moment it took effect (0: removed), for billing by the day (Billing/BillingSchema.cs).</summary>
    private static NpgsqlBatchCommand AllocationHistory(string s, string tenant, Guid org, string kind, DateTimeOffset at, long guaranteed) => Command($"""
        insert into {s}.allocation_history (tenant_id, org_id, kind, since, guaranteed) values ($1, $2, $3, $4, $5)
        on conflict (tenant_id, org_id, kind, since) do update set guaranteed = excluded.guaranteed
        """, tenant, org, kind, at, guaranteed);

    /// <summary>The projection's statements, in order, in one round trip (inside the command's transaction).</summary>
    private static async Task Flush(NpgsqlConnection connection, List<NpgsqlBatchCommand> commands, CancellationToken cancellation)
    {
        if (commands.Count == 0) return;
        await using var batch = new NpgsqlBatch(connection);
        foreach (var command in commands) batch.BatchCommands.Add(command);
        await batch.ExecuteNonQueryAsync(cancellation);
    }
}

/// <summary>A tenant's access state fails its MAC both as stored and as rebuilt from its events: refused, never guessed.</summary>
public sealed class AccessStateIntegrityException(Guid tenant, long version)
    : Exception($"The access state of tenant {tenant} at version {version} does not verify: altered outside the service.")
{
    public Guid Tenant { get; } = tenant;
}
