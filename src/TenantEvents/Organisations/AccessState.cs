using Marten;
using TenantEvents.Keys;
using Npgsql;
using TenantEvents.Infrastructure.Databases;
using TenantEvents.Tenants;

namespace TenantEvents.Organisations;

/// <summary>
/// A tenant's access state as stored: the graph loaded from the access tables, used only when it verifies against the
/// MAC stored beside the access version (<see cref="AccessSeal"/>), otherwise rebuilt from the sealed organisation events,
/// otherwise refused; and the statement that stamps a new state. The organisation store's only way to the tables' graph.
/// </summary>
public sealed class AccessState(TenantStreams streams, ILogger logger)
{
    /// <summary>
    /// The tenant's access version, the MAC of the access state at that version (none before the tenant has one), and the
    /// highest access version its organisation events were written at: kept by a trigger on the event table, as the owner,
    /// in a table the service role can only read (access_high_water), so it never goes down.
    /// </summary>
    public sealed record Stamp(long Version, byte[]? Mac, int? KeyVersion, long HighWater);

    /// <summary>The statement that reads the tenant's stamp (one row, whether or not it has one); read it with <see cref="ReadStampAsync"/>.</summary>
    public NpgsqlBatchCommand StampQuery(Guid tenant) => Sql.BatchCommand($"""
        select v.version, v.state_mac, v.mac_key_version,
               coalesce((select h.version from {streams.Keys.Schema}.access_high_water h where h.tenant_id = $1), 0)
        from (select 1) one left join {streams.Keys.Schema}.access_versions v on v.tenant_id = $1
        """, tenant.ToString());

    public static async Task<Stamp> ReadStampAsync(NpgsqlDataReader reader, CancellationToken cancellation)
    {
        await reader.ReadAsync(cancellation);
        return new Stamp(reader.IsDBNull(0) ? 0 : reader.GetInt64(0), reader.IsDBNull(1) ? null : (byte[])reader[1],
            reader.IsDBNull(2) ? null : reader.GetInt32(2), reader.GetInt64(3));
    }

    public async Task<Stamp> StampAsync(NpgsqlConnection connection, Guid tenant, CancellationToken cancellation)
    {
        await using var batch = new NpgsqlBatch(connection);
        batch.BatchCommands.Add(StampQuery(tenant));
        await using var reader = await batch.ExecuteReaderAsync(cancellation);
        return await ReadStampAsync(reader, cancellation);
    }

    public AccessStateIntegrityException RolledBack(Guid tenant, long version, long highWater)
    {
        logger.LogCritical("The access version of tenant {Tenant} ({Version}) is older than its events' ({HighWater}): an earlier state was put back. " +
            "Access to the tenant is refused until an operator has restored it.", tenant, version, highWater);
        return new AccessStateIntegrityException(tenant, version);
    }

    /// <summary>The statement that stores the access version and the MAC of the digest at it (in the command's transaction).</summary>
    public NpgsqlBatchCommand StampCommand(Guid tenant, long version, byte[] digest, AccessHasher hasher) => Sql.BatchCommand($"""
        insert into {streams.Keys.Schema}.access_versions (tenant_id, version, state_mac, mac_key_version) values ($1, $2, $3, $4)
        on conflict (tenant_id) do update set version = excluded.version, state_mac = excluded.state_mac, mac_key_version = excluded.mac_key_version
        """, tenant.ToString(), version, AccessSeal.Mac(hasher.Key, tenant, version, digest), hasher.KeyVersion);

    /// <summary>
    /// The graph as the projection holds it, used only when it verifies against the stored MAC (AccessSeal). When it does
    /// not (the tables were changed outside the service, or cannot even be read as a tree), the graph is rebuilt from the
    /// sealed organisation events and used if it is exactly the state the MAC names: the same version, the same digest.
    /// A state without a MAC, or one that verifies neither way, is refused: nobody is authorised in the tenant until an
    /// operator has looked. (A version older than the events' was refused before this, by the caller.)
    /// </summary>
    public async Task<AccessGraph> LoadAsync(NpgsqlConnection connection, Guid tenant, Stamp stamp, CancellationToken cancellation)
    {
        // Not provisioned yet: no organisation event was ever written, so there is nothing to hold, whatever the tables say.
        // Its digest starts under the current key (the first command stamps it).
        if (stamp is { Version: 0, HighWater: 0, Mac: null })
            return AccessGraph.Keyed(new AccessHasher(await streams.Keys.CurrentAsync(tenant, cancellation)));
        AccessHasher? hasher = stamp.KeyVersion is { } v ? new AccessHasher(await streams.Keys.VersionAsync(tenant, v, cancellation)) : null;
        AccessGraph? loaded;
        try
        {
            loaded = hasher is null ? null : await LoadTablesAsync(connection, tenant, hasher, stamp.Version, cancellation);
        }
        catch (Exception e) when (e is KeyNotFoundException or InvalidCastException or ArgumentException)
        {
            loaded = null; // rows that do not make a tree (a child before its parent, a parent that is not there)
        }
        if (stamp.Mac is { } mac && hasher is not null)
        {
            var key = hasher.Key;
            if (loaded is not null && AccessSeal.Verifies(key, tenant, stamp.Version, loaded.StateDigest(), mac)) return loaded;
            var rebuilt = await ReplayAsync(tenant, hasher, cancellation);
            if (rebuilt is not null && rebuilt.Version == stamp.Version && AccessSeal.Verifies(key, tenant, stamp.Version, rebuilt.StateDigest(), mac))
            {
                logger.LogCritical("The access tables of tenant {Tenant} differ from its sealed events at access version {Version}: they were changed " +
                    "outside the service. The graph rebuilt from the events is used; restore the tables from the events (or a backup) and find " +
                    "who had the database password.", tenant, stamp.Version);
                return rebuilt;
            }
        }
        logger.LogCritical("The access state of tenant {Tenant} at access version {Version} verifies neither from its tables nor from its events" +
            (stamp.Mac is null ? " (it has no MAC)" : "") + ": access to the tenant is refused until an operator has restored it.", tenant, stamp.Version);
        throw new AccessStateIntegrityException(tenant, stamp.Version);
    }

    /// <summary>
    /// Migration 2's data step: the access states stored before they had a MAC are sealed, each only after its tables were
    /// found to be exactly what the tenant's sealed organisation events fold into at the same access version. A state that
    /// is not stays without a MAC, so its tenant is refused until an operator has restored it (and is named here). After
    /// this step a missing MAC is never a legacy row again, only a stripped one. Tenants without keys (shredded) have
    /// nothing to seal.
    /// </summary>
    public async Task<string> SealUnstampedAsync(Infrastructure.Databases.MigrationStep step)
    {
        var (connection, transaction, cancellation) = (step.Connection, step.Transaction, step.Cancellation);
        var s = streams.Keys.Schema;
        var unstamped = new List<(string Tenant, long Version)>();
        await using (var find = Sql.Command(connection, transaction, $"""
            select v.tenant_id, v.version from {s}.access_versions v
            where v.state_mac is null and exists (select 1 from {s}.tenant_data_keys k where k.tenant_id = v.tenant_id)
            order by v.tenant_id
            """))
        await using (var reader = await find.ExecuteReaderAsync(cancellation))
            while (await reader.ReadAsync(cancellation)) unstamped.Add((reader.GetString(0), reader.GetInt64(1)));
        var refused = new List<(string Tenant, string Why)>();
        var sealedCount = 0;
        foreach (var (name, version) in unstamped)
        {
            try
            {
                // Only the id as the service writes it: a row under another spelling of a tenant's id was not written by it.
                if (!Guid.TryParse(name, out var tenant) || tenant.ToString() != name) throw new ArgumentException("not a tenant id as the service writes it");
                var hasher = new AccessHasher(await streams.Keys.CurrentAsync(tenant, cancellation));
                var tables = await LoadTablesAsync(connection, tenant, hasher, version, cancellation);
                var events = await ReplayAsync(tenant, hasher, cancellation);
                var digest = tables.StateDigest();
                if (events is null || events.Version != version || !events.StateDigest().AsSpan().SequenceEqual(digest))
                {
                    refused.Add((name, events is null ? "its events do not fold" : events.Version != version
                        ? $"its events reach access version {events.Version}, its tables {version}" : "its tables differ from its events"));
                    continue;
                }
                // Only the row that was checked, and only while it has no MAC.
                await using var stamp = Sql.Command(connection, transaction, $"""
                    update {s}.access_versions set state_mac = $3, mac_key_version = $4 where tenant_id = $1 and version = $2 and state_mac is null
                    """, name, version, AccessSeal.Mac(hasher.Key, tenant, version, digest), hasher.KeyVersion);
                if (await stamp.ExecuteNonQueryAsync(cancellation) != 1) throw new InvalidOperationException("the access version moved while it was checked");
                sealedCount++;
            }
            catch (Exception e) when (e is KeyDestroyedException or IntegrityViolationException or KeyNotFoundException or InvalidCastException
                                          or ArgumentException or InvalidOperationException)
            {
                refused.Add((name, e.Message));
            }
        }
        foreach (var (name, why) in refused)
            logger.LogCritical("The access state of tenant {Tenant} was not sealed ({Why}): it was left without a MAC, and access to the tenant " +
                "stays refused until an operator has restored its tables from the events (or a backup).", name, why);
        return $"{sealedCount} access state(s) sealed" +
               (refused.Count > 0 ? $"; {refused.Count} left refused ({string.Join(", ", refused.Select(r => r.Tenant))})" : "");
    }

    /// <summary>
    /// The graph folded from every organisation event (no bound: this is the check of the tables, not a read); null when
    /// the events do not fold (an event that could not have been accepted: planted, not written by the service).
    /// </summary>
    private async Task<AccessGraph?> ReplayAsync(Guid tenant, AccessHasher hasher, CancellationToken cancellation) =>
        (await ReplayEventsAsync(tenant, hasher, cancellation))?.Graph;

    /// <summary>
    /// The graph folded from every organisation event, and those events opened in order (null when they do not fold).
    /// <paramref name="strict"/>: also null unless the access versions the events carry run from 1 without a gap (each
    /// command's events share one; the next command's is one more), so that a history shortened by deleting its last
    /// events, or lengthened by a planted version, is not taken for the tenant's.
    /// </summary>
    /// <param name="within">Read in this session (its transaction and connection) rather than a query session of its own.</param>
    public async Task<(AccessGraph Graph, IReadOnlyList<object> Events)?> ReplayEventsAsync(Guid tenant, AccessHasher hasher, CancellationToken cancellation,
        bool strict = false, IQuerySession? within = null)
    {
        var opened = new List<object>();
        await using var own = within is null ? streams.Store.QuerySession(tenant.ToString()) : null;
        var session = within ?? own!;
        var names = OrganisationEventTypes.StoredNames.ToArray();
        var graph = AccessGraph.Keyed(hasher);
        // Every seal has a nonce of its own: the same sealed payload twice is a stored event copied back (say, a grant
        // that was since revoked), which its seal alone would not reveal (it binds tenant, stream and type, not position).
        var seals = new HashSet<string>(StringComparer.Ordinal);
        try
        {
            foreach (var stored in await session.Events.QueryAllRawEvents().Where(e => e.EventTypeName.IsOneOf(names)).OrderBy(e => e.Sequence).ToListAsync(cancellation))
            {
                if (stored.Data is Keys.ISealedEvent { Payload.KeyVersion: > 0 } sealedEvent && !seals.Add(Convert.ToBase64String(sealedEvent.Payload.Nonce)))
                    return null;
                var e = await streams.OpenAsync(stored, cancellation);
                graph.Apply(e);
                opened.Add(e);
                var version = OrganisationStore.VersionOf(stored) ?? -1;
                if (strict && version != graph.Version && version != graph.Version + 1) return null;
                graph.Version = version;
            }
        }
        catch (Exception e) when (e is KeyNotFoundException or ArgumentException or InvalidOperationException or IntegrityViolationException
                                      or System.Text.Json.JsonException)
        {
            return null; // an event that does not open here (moved from another stream or tenant, or not sealed) is not the tenant's
        }
        return (graph, opened);
    }

    /// <summary>The graph as the tables hold it (parents first: rows ordered by depth).</summary>
    private async Task<AccessGraph> LoadTablesAsync(NpgsqlConnection connection, Guid tenant, AccessHasher hasher, long version, CancellationToken cancellation)
    {
        var s = streams.Keys.Schema;
        // The tenant named as well as bound by row-level security: `migrate` reads these tables as the owner, whom RLS does not bind.
        NpgsqlCommand Select(string sql) => Sql.Command(connection, null, sql, tenant.ToString());
        var graph = AccessGraph.Keyed(hasher, version);
        await using (var nodes = Select($"select id, parent_id, open, kind, jurisdiction, depth, version from {s}.org_nodes where tenant_id = $1 order by depth"))
        await using (var reader = await nodes.ExecuteReaderAsync(cancellation))
            while (await reader.ReadAsync(cancellation))
                graph.Load(new OrgNode
                {
                    Id = reader.GetGuid(0), ParentId = reader.IsDBNull(1) ? null : reader.GetGuid(1), Open = reader.GetBoolean(2),
                    Kind = reader.GetString(3), Jurisdiction = reader.IsDBNull(4) ? null : reader.GetString(4), Depth = reader.GetInt32(5),
                    Version = reader.GetInt64(6),
                });
        await using (var grants = Select($"select id, org_id, principal_kind, principal_id, role, granted_at from {s}.org_grants where tenant_id = $1"))
        await using (var reader = await grants.ExecuteReaderAsync(cancellation))
            while (await reader.ReadAsync(cancellation))
                graph.Load(new Grant(reader.GetGuid(0), reader.GetGuid(1), new Principal(reader.GetString(2), reader.GetString(3)), reader.GetString(4),
                    reader.GetFieldValue<DateTimeOffset>(5)));
        await using (var policies = Select($"select org_id, key, mode, value, set_at from {s}.org_policies where tenant_id = $1"))
        await using (var reader = await policies.ExecuteReaderAsync(cancellation))
            while (await reader.ReadAsync(cancellation))
                graph.Load(new Policy(reader.GetGuid(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetFieldValue<DateTimeOffset>(4)));
        await using (var members = Select($"select org_id, user_id from {s}.org_members where tenant_id = $1"))
        await using (var reader = await members.ExecuteReaderAsync(cancellation))
            while (await reader.ReadAsync(cancellation))
                graph.AddMember(reader.GetGuid(0), reader.GetString(1));
        await using (var shares = Select($"select org_id, kind, guaranteed, cap, set_at from {s}.org_quota_allocations where tenant_id = $1"))
        await using (var reader = await shares.ExecuteReaderAsync(cancellation))
            while (await reader.ReadAsync(cancellation))
                graph.Load(new Quotas.QuotaShare(reader.GetGuid(0), reader.GetString(1), reader.GetInt64(2), reader.IsDBNull(3) ? null : reader.GetInt64(3),
                    reader.GetFieldValue<DateTimeOffset>(4)));
        await using (var roles = Select($"select name, description, permissions from {s}.tenant_roles where tenant_id = $1"))
        await using (var reader = await roles.ExecuteReaderAsync(cancellation))
            while (await reader.ReadAsync(cancellation))
                graph.Load(new RoleDefinition(reader.GetString(0), reader.GetString(1), reader.GetFieldValue<string[]>(2).ToHashSet(StringComparer.Ordinal)));
        return graph;
    }
}
