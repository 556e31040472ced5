using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using Marten;
using Npgsql;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Keys;
using TenantEvents.Tenants;
using Wolverine.Runtime;

namespace TenantEvents.Scim;

/// <summary>A user or group as held: its stored JSON (without id and meta), its version and times.</summary>
public sealed record ScimResource(Guid Id, string Kind, long Version, DateTimeOffset Created, DateTimeOffset LastModified, JsonElement Body)
{
    public const string User = "User";
    public const string Group = "Group";

    public string? Text(string attribute) => ScimValues.Property(Body, attribute) is { ValueKind: JsonValueKind.String } v ? v.GetString() : null;

    public bool Active => IsActive(Body);

    /// <summary>A user is active unless its body says "active": false (what holds a licence).</summary>
    public static bool IsActive(JsonElement body) => ScimValues.Property(body, "active") is not { ValueKind: JsonValueKind.False };

    public IEnumerable<Guid> MemberIds => ScimValues.Property(Body, "members") is { ValueKind: JsonValueKind.Array } members
        ? members.EnumerateArray().Select(m => ScimValues.Property(m, "value")?.GetString()).Select(v => Guid.TryParse(v, out var g) ? g : Guid.Empty)
            .Where(g => g != Guid.Empty)
        : [];
}

/// <summary>
/// A tenant's SCIM users and groups at one version, in memory (opened from the sealed projection). Reads lock it while
/// they look; writes change it in place under the same lock once committed.
/// </summary>
public sealed class ScimSnapshot
{
    public long Version { get; set; }
    public Dictionary<Guid, ScimResource> Users { get; } = new();
    public Dictionary<Guid, ScimResource> Groups { get; } = new();
    private readonly Dictionary<string, Guid> _userNames = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, Guid> _externalIds = new(StringComparer.Ordinal);
    private readonly Dictionary<Guid, HashSet<Guid>> _groupsOf = new();

    private readonly SortedSet<string> _sortedUserNames = new(StringComparer.OrdinalIgnoreCase);

    public Guid? UserNamed(string userName) => _userNames.TryGetValue(userName, out var id) ? id : null;

    /// <summary>Users whose userName starts with the prefix, ignoring case (an ordered index: no scan).</summary>
    public IEnumerable<ScimResource> UsersNamedFrom(string prefix) =>
        prefix.Length == 0 ? Users.Values : _sortedUserNames.GetViewBetween(prefix, prefix + '\uffff').Select(n => Users[_userNames[n]]);

    public Guid? UserWithExternalId(string externalId) => _externalIds.TryGetValue(externalId, out var id) ? id : null;

    public IEnumerable<ScimResource> GroupsOf(Guid user) =>
        _groupsOf.TryGetValue(user, out var groups) ? groups.Select(g => Groups[g]) : [];

    private ScimResource[]? _userArray;
    private ScimResource[]? _groupArray;

    /// <summary>The users as an array (for a parallel scan), made again after a change. Immutable once made: a search reads it outside the lock.</summary>
    public ScimResource[] UserArray => _userArray ??= [.. Users.Values];

    /// <summary>The groups as an array, made again after a change (as <see cref="UserArray"/>).</summary>
    public ScimResource[] GroupArray => _groupArray ??= [.. Groups.Values];

    /// <summary>The users who may sign in (active): the tenant's licences in use.</summary>
    public int ActiveUsers { get; private set; }

    public void Put(ScimResource resource)
    {
        _userArray = null;
        _groupArray = null;
        Remove(resource.Id);
        if (resource.Kind == ScimResource.User)
        {
            Users[resource.Id] = resource;
            if (resource.Active) ActiveUsers++;
            if (resource.Text("userName") is { } name)
            {
                _userNames[name] = resource.Id;
                _sortedUserNames.Add(name);
            }
            if (resource.Text("externalId") is { } external) _externalIds[external] = resource.Id;
        }
        else
        {
            Groups[resource.Id] = resource;
            foreach (var member in resource.MemberIds)
            {
                if (!_groupsOf.TryGetValue(member, out var set)) _groupsOf[member] = set = [];
                set.Add(resource.Id);
            }
        }
    }

    public void Remove(Guid id)
    {
        _userArray = null;
        _groupArray = null;
        if (Users.Remove(id, out var user))
        {
            if (user.Active) ActiveUsers--;
            if (user.Text("userName") is { } name && _userNames.TryGetValue(name, out var owner) && owner == id)
            {
                _userNames.Remove(name);
                _sortedUserNames.Remove(name);
            }
            if (user.Text("externalId") is { } external && _externalIds.TryGetValue(external, out var o) && o == id) _externalIds.Remove(external);
        }
        if (Groups.Remove(id, out var group))
            foreach (var member in group.MemberIds)
                if (_groupsOf.TryGetValue(member, out var set)) set.Remove(id);
    }
}

/// <summary>What a SCIM command decided: the changes to make, or the SCIM error to answer.</summary>
public sealed record ScimDecision(IReadOnlyList<ScimChange> Changes, ScimError? Error)
{
    public static ScimDecision Refuse(ScimError error) => new([], error);
    public static ScimDecision Make(params ScimChange[] changes) => new(changes, null);
}

/// <param name="Operation">created, replaced, patched or deleted.</param>
/// <param name="Body">The resource after the change (null when deleted).</param>
public sealed record ScimChange(Guid Id, string Kind, string Operation, JsonElement? Body);

/// <summary>
/// The edge of the SCIM slice: in one transaction of the tenant's database, under the tenant's SCIM lock, it decides on
/// the snapshot at the current SCIM version, appends the events (each resource sealed under its person's key inside the
/// tenant-sealed event), writes the sealed projection (scim_resources) and the new version; then the cached snapshot
/// advances by the same changes. Another instance's writes show as a new version and the snapshot is loaded again.
/// </summary>
public sealed class ScimStore(TenantStreams streams, TenantEvents.Quotas.QuotaLedger quotas)
{
    public const string ResourceType = "scim-resource";
    private const string SubjectPrefix = "subject:";
    private const string SubjectType = "scim-user";

    private readonly ConcurrentDictionary<Guid, Entry> _cache = new();

    private sealed class Entry
    {
        public ScimSnapshot? Snapshot;
        public long CheckedAt;
        public readonly SemaphoreSlim Loading = new(1, 1);
    }

    public TenantStreams Streams => streams;

    private string Schema => streams.Options.DatabaseSchema;

    /// <summary>Reads the snapshot at the tenant's current version (one small query, then memory).</summary>
    public async Task<T> ReadAsync<T>(Guid tenant, Func<ScimSnapshot, T> read, CancellationToken cancellation)
    {
        await using var scope = await TenantEvents.Infrastructure.Databases.TenantReadScope.OpenAsync(streams.Databases, tenant, cancellation);
        var version = await VersionAsync(scope.Connection, scope.Transaction, cancellation);
        var snapshot = await SnapshotAsync(scope.Connection, scope.Transaction, tenant, version, cancellation);
        lock (snapshot) return read(snapshot);
    }

    /// <summary>
    /// The snapshot at the tenant's current version, for a reader that takes its lock itself, briefly (a search: it takes
    /// the immutable arrays under the lock and filters outside it, so that sign-ins, which take the same lock, never wait
    /// for a scan).
    /// </summary>
    public async Task<ScimSnapshot> CurrentAsync(Guid tenant, CancellationToken cancellation)
    {
        await using var scope = await TenantEvents.Infrastructure.Databases.TenantReadScope.OpenAsync(streams.Databases, tenant, cancellation);
        var version = await VersionAsync(scope.Connection, scope.Transaction, cancellation);
        return await SnapshotAsync(scope.Connection, scope.Transaction, tenant, version, cancellation);
    }

    /// <summary>
    /// The snapshot as this instance holds it, confirmed against the database at most every <paramref name="maxAge"/>:
    /// for the sign-in path, which must not cost a query per request.
    /// </summary>
    public async ValueTask<T?> PeekAsync<T>(Guid tenant, TimeSpan maxAge, Func<ScimSnapshot, T> read, CancellationToken cancellation)
    {
        var entry = _cache.GetOrAdd(tenant, _ => new Entry());
        if (entry.Snapshot is null || Environment.TickCount64 - Volatile.Read(ref entry.CheckedAt) > maxAge.TotalMilliseconds)
        {
            var result = await ReadAsync(tenant, read, cancellation);
            Volatile.Write(ref entry.CheckedAt, Environment.TickCount64);
            return result;
        }
        var snapshot = entry.Snapshot;
        lock (snapshot) return read(snapshot);
    }

    public async Task<(ScimError? Error, IReadOnlyList<ScimChange> Changes)> ExecuteAsync(MessageContext context, Guid tenant, Actor actor,
        Func<ScimSnapshot, ScimDecision> decide, CancellationToken cancellation)
    {
        await using var tx = await streams.BeginAsync(context, tenant, cancellation);
        var connection = tx.Connection;
        await tx.LockAsync("scim", cancellation);
        var version = await VersionAsync(connection, null, cancellation);
        var snapshot = await SnapshotAsync(connection, null, tenant, version, cancellation);
        ScimDecision decision;
        lock (snapshot)
        {
            decision = decide(snapshot);
            if (decision.Error is null) decision = Bounded(decision, snapshot);
        }
        if (decision.Error is not null) return (decision.Error, []);
        if (decision.Changes.Count == 0) return (null, []);

        // Licences: the active users after the change, decided under the directory lock (racing creations queue here).
        int activeBefore, activeAfter;
        lock (snapshot)
        {
            activeBefore = snapshot.ActiveUsers;
            activeAfter = activeBefore + decision.Changes.Where(c => c.Kind == ScimResource.User).Sum(c =>
                (c.Operation != "deleted" && c.Body is { } b && ScimResource.IsActive(b) ? 1 : 0)
                - (snapshot.Users.TryGetValue(c.Id, out var was) && was.Active ? 1 : 0));
        }
        if (await quotas.CheckLicencesAsync(tenant, activeBefore, activeAfter, cancellation) is { } refusal)
            return (new ScimError(403, null, refusal.Detail) { Extra = refusal.Figures }, []);

        var now = streams.Now;
        var next = version + 1;
        await using var batch = new NpgsqlBatch(connection);
        var applied = new List<ScimResource?>();
        foreach (var change in decision.Changes)
        {
            ScimResource? previous;
            lock (snapshot) previous = change.Kind == ScimResource.User ? snapshot.Users.GetValueOrDefault(change.Id) : snapshot.Groups.GetValueOrDefault(change.Id);
            var streamVersion = (previous?.Version ?? 0) + 1;
            object e = change switch
            {
                { Operation: "deleted", Kind: ScimResource.User } => new ScimUserDeleted(change.Id, actor, now),
                { Operation: "deleted" } => new ScimGroupDeleted(change.Id, actor, now),
                { Kind: ScimResource.User } => change.Operation switch
                {
                    "created" => new ScimUserCreated(change.Id, await SealForSubjectAsync(tenant, change.Id, change.Body!.Value, cancellation, fresh: true), actor, now),
                    "replaced" => new ScimUserReplaced(change.Id, await SealForSubjectAsync(tenant, change.Id, change.Body!.Value, cancellation), actor, now),
                    _ => new ScimUserPatched(change.Id, await SealForSubjectAsync(tenant, change.Id, change.Body!.Value, cancellation), actor, now),
                },
                _ => change.Operation switch
                {
                    "created" => new ScimGroupCreated(change.Id, change.Body!.Value.GetRawText(), actor, now),
                    "replaced" => new ScimGroupReplaced(change.Id, change.Body!.Value.GetRawText(), actor, now),
                    _ => new ScimGroupPatched(change.Id, change.Body!.Value.GetRawText(), actor, now),
                },
            };
            await tx.AppendAsync(change.Id, [e], cancellation, versionAfter: streamVersion, start: change.Operation == "created");

            if (change.Operation == "deleted")
            {
                batch.BatchCommands.Add(Command($"""
                    update {Schema}.scim_resources set deleted = true, scim_version = $2, nonce = ''::bytea, ciphertext = ''::bytea, updated_at = $3
                    where id = $1
                    """, change.Id, next, now));
                applied.Add(null);
                continue;
            }
            var body = change.Body!.Value;
            var sealedBody = await streams.SealBytesAsync(tenant, Encoding.UTF8.GetBytes(body.GetRawText()), change.Id, ResourceType, cancellation);
            var created = previous?.Created ?? now;
            batch.BatchCommands.Add(Command($"""
                insert into {Schema}.scim_resources (tenant_id, id, kind, version, key_version, nonce, ciphertext, created_at, updated_at, scim_version, deleted)
                values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, false)
                on conflict (tenant_id, id) do update set version = excluded.version, key_version = excluded.key_version, nonce = excluded.nonce,
                  ciphertext = excluded.ciphertext, updated_at = excluded.updated_at, scim_version = excluded.scim_version, deleted = false
                """, tenant.ToString(), change.Id, change.Kind, streamVersion, sealedBody.KeyVersion, sealedBody.Nonce, sealedBody.Ciphertext, created, now, next));
            applied.Add(new ScimResource(change.Id, change.Kind, streamVersion, created, now, body.Clone()));
        }
        // The day's peak of active users (usage history), in the same transaction.
        if (activeAfter != activeBefore)
        {
            batch.BatchCommands.Add(quotas.LicencePeakCommand(activeBefore, activeAfter));
            batch.BatchCommands.Add(quotas.LicenceCountCommand(activeAfter));
        }
        batch.BatchCommands.Add(Command($"""
            insert into {Schema}.scim_versions (tenant_id, version) values ($1, $2)
            on conflict (tenant_id) do update set version = excluded.version
            """, tenant.ToString(), next));
        await batch.ExecuteNonQueryAsync(cancellation);
        await tx.CommitAsync(cancellation);

        lock (snapshot)
        {
            for (var i = 0; i < decision.Changes.Count; i++)
            {
                if (applied[i] is { } resource) snapshot.Put(resource);
                else snapshot.Remove(decision.Changes[i].Id);
            }
            snapshot.Version = next;
        }
        if (activeAfter != activeBefore) await quotas.LicencesChangedAsync(tenant, activeAfter, cancellation);
        return (null, decision.Changes);
    }

    /// <summary>
    /// The directory is held in memory per tenant: at most TenantEvents:MaxScimUsers users and :MaxScimGroups groups. A
    /// change that would hold more is refused in SCIM's error schema (409: the directory is full; nothing is written), on
    /// every path that creates (POST, and the first sign-in of a federated person).
    /// </summary>
    private ScimDecision Bounded(ScimDecision decision, ScimSnapshot snapshot)
    {
        foreach (var (kind, held, max, setting) in new[]
                 {
                     (ScimResource.User, snapshot.Users.Count, streams.Options.MaxScimUsers, nameof(TenantEventsOptions.MaxScimUsers)),
                     (ScimResource.Group, snapshot.Groups.Count, streams.Options.MaxScimGroups, nameof(TenantEventsOptions.MaxScimGroups)),
                 })
        {
            var adding = decision.Changes.Count(c => c.Kind == kind && c.Operation == "created");
            if (adding > 0 && held + adding > max)
                return ScimDecision.Refuse(new ScimError(409, null,
                    $"The tenant's directory holds at most {max} {kind.ToLowerInvariant()}s and holds {held}; delete some first.")
                {
                    Extra = new Dictionary<string, object?> { ["limit"] = max, ["setting"] = "TenantEvents:" + setting },
                });
        }
        return decision;
    }

    private async Task<string> SealForSubjectAsync(Guid tenant, Guid user, JsonElement body, CancellationToken cancellation, bool fresh = false)
    {
        if (!streams.Options.Sealing) return body.GetRawText();
        var key = (await streams.Keys.SubjectKeyAsync(tenant, user, create: true, cancellation, newSubject: fresh))!;
        var sealedBody = Sealing.Seal(key, Encoding.UTF8.GetBytes(body.GetRawText()), user, SubjectType);
        return SubjectPrefix + Convert.ToBase64String([.. sealedBody.Nonce, .. sealedBody.Ciphertext]);
    }

    /// <summary>
    /// A resource as carried in an event, opened: a user's is sealed under the person's own key (null once that key is
    /// erased: the person's data is gone), a group's is plain inside the tenant-sealed event.
    /// </summary>
    /// <summary>A user's SCIM resource inside an event, opened (or marked erased), as the tenant's own API would show it.</summary>
    public async Task<object> OpenEventResourcesAsync(Guid tenant, object data, CancellationToken cancellation)
    {
        async Task<string> Open(Guid id, string resource) => await OpenEventResourceAsync(tenant, id, resource, cancellation) ?? """{"erased":true}""";
        return data switch
        {
            ScimUserCreated x => x with { Resource = await Open(x.UserId, x.Resource) },
            ScimUserReplaced x => x with { Resource = await Open(x.UserId, x.Resource) },
            ScimUserPatched x => x with { Resource = await Open(x.UserId, x.Resource) },
            _ => data,
        };
    }

    public async Task<string?> OpenEventResourceAsync(Guid tenant, Guid id, string resource, CancellationToken cancellation)
    {
        if (!resource.StartsWith(SubjectPrefix, StringComparison.Ordinal)) return resource;
        if (await streams.Keys.SubjectKeyAsync(tenant, id, create: false, cancellation) is not { } key) return null;
        var raw = Convert.FromBase64String(resource[SubjectPrefix.Length..]);
        var opened = Sealing.Open(key, new SealedPayload(key.Version, raw[..Sealing.NonceSize], raw[Sealing.NonceSize..]), id, SubjectType);
        return Encoding.UTF8.GetString(opened);
    }

    private async Task<ScimSnapshot> SnapshotAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, Guid tenant, long version,
        CancellationToken cancellation)
    {
        var entry = _cache.GetOrAdd(tenant, _ => new Entry());
        if (entry.Snapshot is { } cached && cached.Version >= version)
        {
            Volatile.Write(ref entry.CheckedAt, Environment.TickCount64); // just confirmed against the database
            return cached;
        }
        await entry.Loading.WaitAsync(cancellation);
        try
        {
            if (entry.Snapshot is { } again && again.Version >= version) return again;
            // What changed since the version held (everything, the first time): another instance's writes cost only themselves.
            var since = entry.Snapshot?.Version ?? -1;
            var rows = new List<(Guid Id, string Kind, long Version, SealedPayload Payload, DateTimeOffset Created, DateTimeOffset Updated, bool Deleted)>();
            await using (var command = new NpgsqlCommand($"""
                             select id, kind, version, key_version, nonce, ciphertext, created_at, updated_at, deleted from {Schema}.scim_resources
                             where scim_version > $1 and scim_version <= $2 {(since < 0 ? "and not deleted" : "")}
                             """, connection, transaction))
            {
                command.Parameters.Add(new NpgsqlParameter { Value = since });
                command.Parameters.Add(new NpgsqlParameter { Value = version });
                await using var reader = await command.ExecuteReaderAsync(cancellation);
                while (await reader.ReadAsync(cancellation))
                    rows.Add((reader.GetGuid(0), reader.GetString(1), reader.GetInt64(2),
                        new SealedPayload(reader.GetInt32(3), (byte[])reader[4], (byte[])reader[5]),
                        reader.GetFieldValue<DateTimeOffset>(6), reader.GetFieldValue<DateTimeOffset>(7), reader.GetBoolean(8)));
            }
            var resources = new List<(Guid Id, ScimResource? Resource)>(rows.Count);
            foreach (var row in rows)
            {
                if (row.Deleted) { resources.Add((row.Id, null)); continue; }
                var bytes = await streams.OpenBytesAsync(tenant, row.Payload, row.Id, ResourceType, cancellation);
                using var document = JsonDocument.Parse(bytes);
                resources.Add((row.Id, new ScimResource(row.Id, row.Kind, row.Version, row.Created, row.Updated, document.RootElement.Clone())));
            }
            var snapshot = entry.Snapshot ?? new ScimSnapshot { Version = -1 };
            lock (snapshot)
            {
                if (snapshot.Version < version)
                {
                    foreach (var (id, resource) in resources)
                        if (resource is null) snapshot.Remove(id);
                        else snapshot.Put(resource);
                    snapshot.Version = version;
                }
            }
            entry.Snapshot = snapshot;
            Volatile.Write(ref entry.CheckedAt, Environment.TickCount64);
            // Bounded like the organisation graphs: the directories used least recently are dropped (and read again when needed).
            var excess = _cache.Count - streams.Options.AccessGraphCacheSize;
            if (excess > 0)
                foreach (var stale in _cache.Where(e => e.Key != tenant).OrderBy(e => Volatile.Read(ref e.Value.CheckedAt)).Take(excess).ToList())
                    _cache.TryRemove(stale.Key, out _);
            return snapshot;
        }
        finally
        {
            entry.Loading.Release();
        }
    }

    private async Task<long> VersionAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, CancellationToken cancellation)
    {
        await using var command = new NpgsqlCommand($"select version from {Schema}.scim_versions", connection, transaction);
        return await command.ExecuteScalarAsync(cancellation) is long v ? v : 0;
    }

    private static NpgsqlBatchCommand Command(string sql, params object[] values) => Infrastructure.Databases.Sql.BatchCommand(sql, values);
}
