using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using JasperFx.Events;
using Marten;
using Npgsql;
using TenantEvents.Audit;
using TenantEvents.Infrastructure;
using TenantEvents.Keys;
using TenantEvents.Scim;
using TenantEvents.Tenants;

namespace TenantEvents.Delivery;

/// <summary>One event of a tenant's log, opened: its place in the log (the position downstream systems resume from) and its data.</summary>
public sealed record FeedEvent(Guid Tenant, long Index, long Seq, Guid EventId, Guid StreamId, long Version, string Type, string Kind,
    DateTimeOffset Time, object Data);

/// <summary>
/// The events of a tenant as they leave the service: its log (Audit/: every event of the tenant, gap-free, in commit
/// order, so each stream's events in their order), opened under the tenant's key, as CloudEvents 1.0. Positions are log
/// indexes: the same event has the same position, id and content however often it is delivered.
/// </summary>
public sealed class EventFeed(TenantStreams streams, ScimStore scim, AuditLog log)
{
    public const string TypePrefix = "com.tenantevents.";

    private string Schema => streams.Options.DatabaseSchema;

    /// <summary>The CloudEvents type of an event type as stored (tenant_requested → com.tenantevents.tenant_requested).</summary>
    public static string CloudEventType(string storedType) => TypePrefix + storedType;

    /// <summary>Every CloudEvents type the service emits, for filters and the documentation.</summary>
    public static IReadOnlyList<string> AllTypes { get; } =
        AuditEventTypes.ByStoredName.Keys.Select(CloudEventType).Order(StringComparer.Ordinal).ToList();

    /// <summary>
    /// The types a platform subscription can receive: the tenant lifecycle, tenants' names (an operator's automation
    /// issues a certificate when a name is verified and withdraws it when released), and compliance escalations (a
    /// tenant's missed incident report, an overdue data-subject request, a data key past its rotation date: the platform's
    /// administrators are who they escalate to; metadata only); the rest is the tenant's own.
    /// </summary>
    public static IReadOnlySet<string> PlatformTypes { get; } =
        TenantEventTypes.All.Concat(Domains.DomainEventTypes.All).Concat(Compliance.ComplianceEventTypes.Escalations)
            .Select(t => CloudEventType(TenantEventTypes.StoredName(t))).ToHashSet(StringComparer.Ordinal);

    /// <summary>Appends the tenant's committed events to its log now (rather than at the audit job's next second).</summary>
    public Task<long> FlushAsync(Guid tenant, CancellationToken cancellation) => log.FlushAsync(tenant, cancellation);

    /// <summary>The log entries (index, sequence) of the tenant from an index on, in order, up to a limit.</summary>
    public async Task<IReadOnlyList<(long Index, long Seq)>> EntriesAsync(Guid tenant, long from, int limit, CancellationToken cancellation)
    {
        await using var scope = await Infrastructure.Databases.TenantReadScope.OpenAsync(streams.Databases, tenant, cancellation);
        await using var read = new NpgsqlCommand(
            $"select log_index, seq_id from {Schema}.audit_log where tenant_id = $1 and log_index >= $2 order by log_index limit $3",
            scope.Connection, scope.Transaction);
        read.Parameters.Add(new NpgsqlParameter { Value = tenant.ToString() });
        read.Parameters.Add(new NpgsqlParameter { Value = from });
        read.Parameters.Add(new NpgsqlParameter { Value = limit });
        var entries = new List<(long, long)>();
        await using var reader = await read.ExecuteReaderAsync(cancellation);
        while (await reader.ReadAsync(cancellation)) entries.Add((reader.GetInt64(0), reader.GetInt64(1)));
        return entries;
    }

    /// <summary>The index the tenant's next event will have (its log's size).</summary>
    public async Task<long> EndAsync(Guid tenant, CancellationToken cancellation)
    {
        await using var scope = await Infrastructure.Databases.TenantReadScope.OpenAsync(streams.Databases, tenant, cancellation);
        await using var read = new NpgsqlCommand($"select coalesce(max(log_index) + 1, 0) from {Schema}.audit_log where tenant_id = $1",
            scope.Connection, scope.Transaction);
        read.Parameters.Add(new NpgsqlParameter { Value = tenant.ToString() });
        return (long)(await read.ExecuteScalarAsync(cancellation))!;
    }

    /// <summary>The tenant's events from a log index on, opened, up to a limit; stops before a hole (an event removed behind the log's back).</summary>
    public async Task<IReadOnlyList<FeedEvent>> ReadAsync(Guid tenant, long from, int limit, CancellationToken cancellation)
    {
        var entries = await EntriesAsync(tenant, from, limit, cancellation);
        var contiguous = entries.TakeWhile((e, i) => e.Index == from + i).ToList();
        var opened = await OpenAsync(tenant, contiguous, cancellation);
        return contiguous.TakeWhile(e => opened.ContainsKey(e.Seq)).Select(e => opened[e.Seq]).ToList();
    }

    /// <summary>
    /// The events at these log entries, opened (keyed by sequence). Throws <see cref="KeyDestroyedException"/> when the
    /// tenant has been shredded: its events can no longer be read by anyone.
    /// </summary>
    public async Task<IReadOnlyDictionary<long, FeedEvent>> OpenAsync(Guid tenant, IReadOnlyCollection<(long Index, long Seq)> entries,
        CancellationToken cancellation)
    {
        var result = new Dictionary<long, FeedEvent>();
        if (entries.Count == 0) return result;
        var seqs = entries.Select(e => e.Seq).ToArray();
        IReadOnlyList<IEvent> stored;
        await using (var session = streams.Store.QuerySession(tenant.ToString()))
            stored = await session.Events.QueryAllRawEvents().Where(e => seqs.Contains(e.Sequence)).ToListAsync(cancellation);
        var bySeq = stored.ToDictionary(e => e.Sequence);
        foreach (var (index, seq) in entries)
        {
            if (!bySeq.TryGetValue(seq, out var e)) continue;
            var data = await scim.OpenEventResourcesAsync(tenant, await streams.OpenAsync(e, cancellation), cancellation);
            result[seq] = new FeedEvent(tenant, index, seq, e.Id, e.StreamId, e.Version, CloudEventType(e.EventTypeName),
                AuditEventTypes.StreamKind(data.GetType()), e.Timestamp, data);
        }
        return result;
    }

    /// <summary>
    /// The event as a CloudEvents 1.0 structured-mode JSON object: id (the event's own), source (its tenant), type,
    /// subject (its stream), time, and the extensions tenantid, sequence (its log index) and streamversion. Its data as
    /// the receiver's lens shows it (<see cref="ContentDisclosure"/>): every outbound path names who it is for.
    /// </summary>
    public async Task<JsonObject> CloudEventAsync(FeedEvent e, DisclosureLens lens, CancellationToken cancellation) =>
        CloudEvent(e, await lens.ShowEventAsync(e.Data, cancellation));

    private JsonObject CloudEvent(FeedEvent e, JsonNode? data) => new()
    {
        ["specversion"] = "1.0",
        ["id"] = e.EventId.ToString(),
        ["source"] = $"{streams.Options.PublicUrl.TrimEnd('/')}/api/tenants/{e.Tenant}",
        ["type"] = e.Type,
        ["subject"] = $"{e.Kind}/{e.StreamId}",
        ["time"] = e.Time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture),
        ["datacontenttype"] = "application/json",
        ["tenantid"] = e.Tenant.ToString(),
        ["sequence"] = e.Index.ToString(CultureInfo.InvariantCulture),
        ["streamversion"] = e.Version.ToString(CultureInfo.InvariantCulture),
        ["data"] = data,
    };

    /// <summary>Whether a type filter (exact types, or prefixes ending in *; empty: everything) lets a type through.</summary>
    /// <summary>
    /// Whether a subscription's filter admits a type. An erasure notice (GDPR Art. 19: every recipient of a person's data
    /// is told of its erasure) reaches every subscriber of the tenant, whatever its filter.
    /// </summary>
    public static bool Matches(IReadOnlyList<string> filter, string type) =>
        filter.Count == 0 || type == ErasureNoticeType || filter.Any(f => f.EndsWith('*') ? type.StartsWith(f[..^1], StringComparison.Ordinal) : f == type);

    public static readonly string ErasureNoticeType = CloudEventType(TenantEventTypes.StoredName(typeof(Compliance.DataSubjectErasureNotified)));
}
