using System.Text.Json;
using Marten;
using TenantEvents.CaseFiles;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Databases;
using TenantEvents.Keys;
using TenantEvents.Tenants;

namespace TenantEvents.Compliance;

/// <summary>
/// Data-subject requests and incidents as stored: each a stream of sealed events in its tenant and a sealed snapshot row
/// (compliance_records), with its open deadlines (compliance_deadlines), all written in one transaction. A request's
/// person is sealed, in its events and snapshot, under a key of the request's own, destroyed when an erasure is done.
/// The tenant's compliance profile (processing activities, security baseline, notices received) is one more stream.
/// </summary>
public sealed class ComplianceStore(TenantStreams streams)
{
    public const string RecordType = "compliance_record";

    /// <summary>
    /// A snapshot is sealed bound to its version as well as its record: an older genuine snapshot put back under the
    /// current version column does not open, and one put back with its own version disagrees with the stream.
    /// </summary>
    private static string SealType(long version) => $"{RecordType}:{version}";
    private const string SubjectType = "data-subject";

    public TenantStreams Streams => streams;
    public string Schema => streams.Options.DatabaseSchema;
    public DateTimeOffset Now => streams.Now;

    // ---- records (requests, incidents) -----------------------------------------------------------------------------

    public async Task<DataSubjectRequest?> LoadRequestAsync(TenantTransaction tx, Guid id, CancellationToken cancellation, bool forUpdate = false)
    {
        var request = await LoadAsync<DataSubjectRequest>(tx, id, "request", cancellation, forUpdate);
        if (request is not null) request.Subject = await RevealAsync(tx.Tenant, request.Id, request.Subject, cancellation);
        return request;
    }

    public Task<Incident?> LoadIncidentAsync(TenantTransaction tx, Guid id, CancellationToken cancellation, bool forUpdate = false) =>
        LoadAsync<Incident>(tx, id, "incident", cancellation, forUpdate);

    private async Task<T?> LoadAsync<T>(TenantTransaction tx, Guid id, string kind, CancellationToken cancellation, bool forUpdate) where T : class
    {
        // The lock first, then the read: a writer that waited for it sees the stream as the one before it left it.
        if (forUpdate)
            await tx.ExecuteAsync($"select 1 from {Schema}.compliance_records where tenant_id = $1 and id = $2 for update", cancellation, tx.Tenant.ToString(), id);
        // The snapshot is the events' as of its version: the last event's version, from mt_events, which the service role
        // may insert into but never change (mt_streams it may). An older snapshot put back does not match, and its seal,
        // bound to its version, does not open under another.
        await using var command = tx.Command($"""
            select r.version, r.key_version, r.nonce, r.ciphertext,
              (select max(e.version) from {Schema}.mt_events e where e.stream_id = r.id and e.tenant_id = r.tenant_id)
            from {Schema}.compliance_records r where r.tenant_id = $1 and r.id = $2 and r.kind = $3
            """, tx.Tenant.ToString(), id, kind);
        await using var reader = await command.ExecuteReaderAsync(cancellation);
        if (!await reader.ReadAsync(cancellation)) return null;
        var version = reader.GetInt64(0);
        var payload = new SealedPayload(reader.GetInt32(1), (byte[])reader[2], (byte[])reader[3]);
        var streamVersion = reader.IsDBNull(4) ? (long?)null : reader.GetInt64(4);
        await reader.DisposeAsync();
        if (streamVersion != version) throw new IntegrityViolationException(tx.Tenant, id, RecordType);
        var record = JsonSerializer.Deserialize<T>(await streams.OpenBytesAsync(tx.Tenant, payload, id, SealType(version), cancellation), SealedJson.Options)!;
        return record;
    }

    public async Task<DataSubjectRequest> SaveRequestAsync(TenantTransaction tx, DataSubjectRequest? before, IReadOnlyList<object> events,
        CancellationToken cancellation)
    {
        var request = before;
        foreach (var e in events) request = DataSubjectRequest.Apply(request, e);
        request!.Version = (before?.Version ?? 0) + events.Count;
        var stored = new List<object>(events.Count);
        foreach (var e in events)
            stored.Add(e is DataSubjectRequestReceived r ? r with { Subject = await ProtectAsync(tx.Tenant, r.RequestId, r.Subject, cancellation, fresh: true) } : e);
        var snapshot = JsonSerializer.SerializeToNode(request, SealedJson.Options)!;
        snapshot["subject"] = JsonSerializer.SerializeToNode(await ProtectAsync(tx.Tenant, request.Id, request.Subject, cancellation), SealedJson.Options);
        await WriteAsync(tx, request.Id, "request", request.State, request.DueAt, request.Version, before is null, stored, snapshot, request.CreatedAt,
            request.UpdatedAt, request.OpenDeadlines(), cancellation);
        return request;
    }

    public async Task<Incident> SaveIncidentAsync(TenantTransaction tx, Incident? before, IReadOnlyList<object> events, CancellationToken cancellation)
    {
        var incident = before;
        foreach (var e in events) incident = Incident.Apply(incident, e);
        incident!.Version = (before?.Version ?? 0) + events.Count;
        var next = incident.OpenDeadlines().Select(d => (DateTimeOffset?)d.DueAt).Min();
        await WriteAsync(tx, incident.Id, "incident", incident.State, next, incident.Version, before is null, events,
            JsonSerializer.SerializeToNode(incident, SealedJson.Options)!, incident.CreatedAt, incident.UpdatedAt, incident.OpenDeadlines(), cancellation);
        return incident;
    }

    private async Task WriteAsync(TenantTransaction tx, Guid id, string kind, string state, DateTimeOffset? due, long version, bool start,
        IReadOnlyList<object> events, System.Text.Json.Nodes.JsonNode snapshot, DateTimeOffset created, DateTimeOffset updated,
        IEnumerable<(string Name, DateTimeOffset DueAt, DateTimeOffset? RemindAt)> deadlines, CancellationToken cancellation)
    {
        await tx.AppendAsync(id, events, cancellation, version, start);
        var sealedSnapshot = await streams.SealBytesAsync(tx.Tenant, JsonSerializer.SerializeToUtf8Bytes(snapshot, SealedJson.Options), id, SealType(version), cancellation);
        await tx.ExecuteAsync($"""
            insert into {Schema}.compliance_records (tenant_id, id, kind, state, due_at, version, key_version, nonce, ciphertext, created_at, updated_at)
            values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
            on conflict (tenant_id, id) do update set state = excluded.state, due_at = excluded.due_at, version = excluded.version,
              key_version = excluded.key_version, nonce = excluded.nonce, ciphertext = excluded.ciphertext, updated_at = excluded.updated_at
            """, cancellation, tx.Tenant.ToString(), id, kind, state, (object?)due ?? DBNull.Value, version, sealedSnapshot.KeyVersion, sealedSnapshot.Nonce,
            sealedSnapshot.Ciphertext, created, updated);
        await WriteDeadlinesAsync(tx, id, kind, deadlines, cancellation);
    }

    /// <summary>
    /// The deadlines the job watches, re-derived from the record: at every write (what a step met or missed leaves), and by
    /// the job's sweep (rows deleted or moved with the service role's password come back as the sealed record says).
    /// </summary>
    public async Task WriteDeadlinesAsync(TenantTransaction tx, Guid id, string kind, IEnumerable<(string Name, DateTimeOffset DueAt, DateTimeOffset? RemindAt)> deadlines,
        CancellationToken cancellation)
    {
        await tx.ExecuteAsync($"delete from {Schema}.compliance_deadlines where tenant_id = $1 and record_id = $2", cancellation, tx.Tenant.ToString(), id);
        foreach (var (name, dueAt, remindAt) in deadlines)
            await tx.ExecuteAsync($"""
                insert into {Schema}.compliance_deadlines (tenant_id, record_id, kind, name, due_at, remind_at) values ($1, $2, $3, $4, $5, $6)
                """, cancellation, tx.Tenant.ToString(), id, kind, name, dueAt, (object?)remindAt ?? DBNull.Value);
    }

    /// <summary>A page of the tenant's records of a kind, newest first (opened; the person revealed while their request's key exists).</summary>
    public async Task<(IReadOnlyList<T> Items, string? Next)> PageAsync<T>(Guid tenant, string kind, string? state, string? cursor, int limit,
        CancellationToken cancellation) where T : class
    {
        (DateTimeOffset At, Guid Id)? after = cursor is not null && Cursor.TryParse(cursor, out var at, out var cid) ? (at, cid) : null;
        await using var scope = await TenantReadScope.OpenAsync(streams.Databases, tenant, cancellation);
        await using var command = Sql.Command(scope.Connection, scope.Transaction, $"""
            select id, created_at, key_version, nonce, ciphertext, version from {Schema}.compliance_records
            where tenant_id = $1 and kind = $2 and ($3::text is null or state = $3)
              and ($4::timestamptz is null or (created_at, id) < ($4, $5))
            order by created_at desc, id desc limit $6
            """, tenant.ToString(), kind, (object?)state ?? DBNull.Value, (object?)after?.At ?? DBNull.Value, (object?)after?.Id ?? Guid.Empty, limit + 1);
        var rows = new List<(Guid Id, DateTimeOffset Created, SealedPayload Payload, long Version)>();
        await using (var reader = await command.ExecuteReaderAsync(cancellation))
            while (await reader.ReadAsync(cancellation))
                rows.Add((reader.GetGuid(0), reader.GetFieldValue<DateTimeOffset>(1), new SealedPayload(reader.GetInt32(2), (byte[])reader[3], (byte[])reader[4]),
                    reader.GetInt64(5)));
        var items = new List<T>();
        foreach (var (id, _, payload, version) in rows.Take(limit))
        {
            var item = JsonSerializer.Deserialize<T>(await streams.OpenBytesAsync(tenant, payload, id, SealType(version), cancellation), SealedJson.Options)!;
            if (item is DataSubjectRequest r) r.Subject = await RevealAsync(tenant, r.Id, r.Subject, cancellation);
            items.Add(item);
        }
        var next = rows.Count > limit ? Cursor.Format(rows[limit - 1].Created, rows[limit - 1].Id) : null;
        return (items, next);
    }

    /// <summary>A record's snapshot as read by the platform's overview (its row read with the platform role; the seal still checked).</summary>
    public async Task<T> OpenAsync<T>(Guid tenant, Guid id, long version, SealedPayload payload, CancellationToken cancellation) =>
        JsonSerializer.Deserialize<T>(await streams.OpenBytesAsync(tenant, payload, id, SealType(version), cancellation), SealedJson.Options)!;

    // ---- the person of a request ---------------------------------------------------------------------------------------

    /// <summary>
    /// The person sealed under the request's key: made when the request is received (fresh), looked up afterwards, never
    /// made again: once an erasure destroyed it, a write that read the person before is stored as erased.
    /// </summary>
    private async Task<DataSubject> ProtectAsync(Guid tenant, Guid request, DataSubject subject, CancellationToken cancellation, bool fresh = false)
    {
        if (!streams.Options.Sealing || subject.Erased || subject.Email.StartsWith("pd1:", StringComparison.Ordinal)) return subject;
        if (await streams.Keys.SubjectKeyAsync(tenant, request, create: fresh, cancellation, newSubject: fresh) is not { } key)
            return new DataSubject("[erased]", null, Erased: true);
        return new DataSubject(ContactProtection.Seal(key, request, subject.Email, SubjectType),
            subject.Name is null ? null : ContactProtection.Seal(key, request, subject.Name, SubjectType));
    }

    public async Task<DataSubject> RevealAsync(Guid tenant, Guid request, DataSubject subject, CancellationToken cancellation)
    {
        if (!streams.Options.Sealing || subject.Erased || !subject.Email.StartsWith("pd1:", StringComparison.Ordinal)) return subject;
        var key = await streams.Keys.SubjectKeyAsync(tenant, request, create: false, cancellation);
        if (key is null) return new DataSubject("[erased]", null, Erased: true);
        return new DataSubject(ContactProtection.Open(key, request, subject.Email, SubjectType),
            subject.Name is null ? null : ContactProtection.Open(key, request, subject.Name, SubjectType));
    }

    // ---- the compliance profile -----------------------------------------------------------------------------------------

    public async Task<ComplianceProfile> LoadProfileAsync(IQuerySession session, Guid tenant, CancellationToken cancellation)
    {
        var stored = await session.Events.FetchStreamAsync(ComplianceEventTypes.ProfileStream(tenant), token: cancellation);
        var profile = new ComplianceProfile();
        foreach (var e in stored) profile.Apply(await streams.OpenAsync(e, cancellation));
        profile.Version = stored.Count;
        return profile;
    }

    public async Task<ComplianceProfile> LoadProfileAsync(Guid tenant, CancellationToken cancellation)
    {
        await using var session = streams.Store.QuerySession(tenant.ToString());
        return await LoadProfileAsync(session, tenant, cancellation);
    }

    /// <summary>
    /// The key-rotation deadline the job watches (kind "baseline"): when the data key is due for rotation under the
    /// baseline, or none. Re-derived wherever the baseline changes and each time the job looks.
    /// </summary>
    public async Task ScheduleKeyRotationAsync(TenantTransaction tx, DateTimeOffset? due, CancellationToken cancellation)
    {
        var id = ComplianceEventTypes.ProfileStream(tx.Tenant);
        await tx.ExecuteAsync($"delete from {Schema}.compliance_deadlines where tenant_id = $1 and record_id = $2", cancellation, tx.Tenant.ToString(), id);
        if (due is { } at)
            await tx.ExecuteAsync($"""
                insert into {Schema}.compliance_deadlines (tenant_id, record_id, kind, name, due_at) values ($1, $2, 'baseline', 'key-rotation', $3)
                """, cancellation, tx.Tenant.ToString(), id, at);
    }

    /// <summary>Appends to the tenant's profile at the version it was read at (a concurrent writer makes the commit fail).</summary>
    public async Task AppendProfileAsync(TenantTransaction tx, ComplianceProfile profile, IReadOnlyList<object> events, CancellationToken cancellation)
    {
        if (events.Count == 0) return;
        await tx.AppendAsync(ComplianceEventTypes.ProfileStream(tx.Tenant), events, cancellation, profile.Version + events.Count, start: profile.Version == 0);
        foreach (var e in events) profile.Apply(e);
        profile.Version += events.Count;
    }
}

/// <summary>The tenant's compliance profile as its stream says it is.</summary>
public sealed class ComplianceProfile
{
    public long Version { get; set; }
    public IReadOnlyList<ProcessingActivity> Activities { get; set; } = [];
    public DateTimeOffset? ActivitiesChangedAt { get; set; }
    public string? ActivitiesChangedBy { get; set; }
    public SecurityBaseline Baseline { get; set; } = SecurityBaseline.None;
    public DateTimeOffset? BaselineChangedAt { get; set; }
    public string? BaselineChangedBy { get; set; }
    public KeyRotationOverdue? KeyRotationOverdue { get; set; }
    public List<IncidentNoticeReceived> IncidentNotices { get; set; } = [];
    public List<ErasureNoticeReceived> ErasureNotices { get; set; } = [];

    public void Apply(object e)
    {
        switch (e)
        {
            case ProcessingActivitiesSet x: Activities = x.Activities; ActivitiesChangedAt = x.At; ActivitiesChangedBy = x.By.ToString(); break;
            case SecurityBaselineSet x: Baseline = x.Baseline; BaselineChangedAt = x.At; BaselineChangedBy = x.By.ToString(); break;
            case KeyRotationOverdue x: KeyRotationOverdue = x; break;
            case IncidentNoticeReceived x: IncidentNotices.Add(x); break;
            case ErasureNoticeReceived x: ErasureNotices.Add(x); break;
        }
    }
}
