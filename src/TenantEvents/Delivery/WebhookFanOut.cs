using System.Collections.Concurrent;
using Npgsql;
using NpgsqlTypes;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Databases;
using TenantEvents.Infrastructure.Projections;

namespace TenantEvents.Delivery;

/// <summary>
/// Fan-out: a tenant's new log entries become deliveries, one per matching subscription (the tenant's and the
/// platform's), in the transaction that advances the tenant's position; also hands the broker its batch. Locked per
/// tenant; tenants told about by a commit notification first, the rest found by a scan.
/// </summary>
public sealed class WebhookFanOut(WebhookStore store, EventFeed feed, BrokerFanOut broker, TenantEventsOptions options, Clock clock,
    ILogger<WebhookFanOut> logger) : IAsyncProjection
{
    private const int FanOutBatch = 1000;

    private readonly ConcurrentDictionary<Guid, byte> _dirty = new();

    private string Schema => store.Schema;
    private TenantDatabases Databases => store.Streams.Databases;

    public string Name => "event-fan-out";

    public string Builds => "webhook_deliveries (one per matching subscription) and RabbitMQ publications, from each tenant's audit log " +
                            "(positions: webhook_positions, broker_positions)";

    public bool Enabled => options.EventDelivery;

    public TimeSpan Interval => options.DeliveryPollInterval;

    /// <summary>Raised when deliveries were added: the sender has work.</summary>
    public event Action? DeliveriesAdded;

    /// <summary>Events of this tenant were committed: its fan-out comes first in the next round.</summary>
    public void MarkDirty(Guid tenant) => _dirty[tenant] = 0;

    public bool FollowsCommits => true;

    public void Committed(Guid tenant) => MarkDirty(tenant);

    /// <summary>
    /// Per database: log entries of the tenants the fan-out follows, and how many of them are not yet fanned out to
    /// webhooks. It follows a tenant while it has a subscription, and every tenant while the platform has one (a tenant
    /// without subscriptions has nothing to fan out; its position stays where it was). With a broker configured, RabbitMQ's own positions follow
    /// as entries of their own (follower "rabbitmq"; the webhooks' are "webhooks"): it follows every tenant.
    /// </summary>
    public async Task<IReadOnlyList<ProjectionPosition>> LagAsync(CancellationToken cancellation)
    {
        var everyTenant = (await SubscriptionsAsync(DeliverySchema.PlatformOwner, cancellation)).Count > 0;
        var lags = (await Audit.LogPositions.LagAsync(Databases, Schema, "webhook_positions", clock.UtcNow, cancellation,
            everyTenant ? Audit.LogPositions.Follows.EveryTenant : Audit.LogPositions.Follows.TenantsWithSubscriptions))
            .Select(l => l with { Follower = "webhooks" }).ToList();
        if (broker.Enabled)
            lags.AddRange((await Audit.LogPositions.LagAsync(Databases, Schema, "broker_positions", clock.UtcNow, cancellation))
                .Select(l => l with { Follower = "rabbitmq" }));
        return lags;
    }

    private DateTimeOffset _lastScan = DateTimeOffset.MinValue;
    private volatile bool _brokerStarted;

    public async Task<bool> RoundAsync(CancellationToken cancellation)
    {
        // Publishing to the broker starts where the tenants' logs end when the service starts: set that before any batch.
        if (broker.Enabled && !_brokerStarted)
        {
            await broker.StartAsync(cancellation);
            _brokerStarted = true;
        }
        var tenants = new HashSet<Guid>();
        foreach (var t in _dirty.Keys)
            if (_dirty.TryRemove(t, out _)) tenants.Add(t);
        var platform = await SubscriptionsAsync(DeliverySchema.PlatformOwner, cancellation);
        if (DateTimeOffset.UtcNow - _lastScan >= options.DeliveryPollInterval)
        {
            _lastScan = DateTimeOffset.UtcNow;
            tenants.UnionWith(await BehindAsync(platform.Count > 0, cancellation));
        }
        var busy = false;
        foreach (var tenant in tenants)
        {
            try
            {
                busy |= await FanOutAsync(tenant, platform, cancellation);
                if (broker.Enabled) busy |= await broker.PublishAsync(tenant, cancellation);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning(e, "Fanning out the events of tenant {Tenant} failed; trying again at the next interval", tenant);
            }
        }
        return busy;
    }

    /// <summary>
    /// Tenants whose log has entries past their positions, or events not yet in their log, or none yet (cross-tenant: the
    /// platform role). Commit notifications make this a safety net: for what was committed while nobody listened.
    /// </summary>
    private async Task<IReadOnlyCollection<Guid>> BehindAsync(bool everyTenant, CancellationToken cancellation)
    {
        var behind = new HashSet<Guid>();
        foreach (var database in Databases.All)
        {
            if (database.Platform.Value is not { } platform) continue;
            // Every tenant with a log (a loose index scan: one probe per tenant), or with events not yet in it.
            await using var command = platform.CreateCommand($"""
                with recursive logged(id) as (
                  select min(tenant_id) from {Schema}.audit_log
                  union all select (select min(l.tenant_id) from {Schema}.audit_log l where l.tenant_id > logged.id) from logged where logged.id is not null),
                tenants(id) as (select id from logged where id is not null and ($1 or $2) union select tenant_id from {Schema}.audit_pending where $1 or $2)
                select p.tenant_id from {Schema}.webhook_positions p
                where exists (select 1 from {Schema}.audit_log l where l.tenant_id = p.tenant_id and l.log_index >= p.position)
                   or exists (select 1 from {Schema}.audit_pending a where a.tenant_id = p.tenant_id)
                union select s.tenant_id from {Schema}.webhook_subscriptions s where s.tenant_id <> '{DeliverySchema.PlatformOwner}'
                   and not exists (select 1 from {Schema}.webhook_positions p where p.tenant_id = s.tenant_id)
                union select t.id from tenants t where $1
                   and not exists (select 1 from {Schema}.webhook_positions p where p.tenant_id = t.id)
                union select p.tenant_id from {Schema}.broker_positions p where $2
                   and (exists (select 1 from {Schema}.audit_log l where l.tenant_id = p.tenant_id and l.log_index >= p.position)
                        or exists (select 1 from {Schema}.audit_pending a where a.tenant_id = p.tenant_id))
                union select t.id from tenants t where $2
                   and not exists (select 1 from {Schema}.broker_positions p where p.tenant_id = t.id)
                """);
            command.Parameters.Add(new NpgsqlParameter { Value = everyTenant });
            command.Parameters.Add(new NpgsqlParameter { Value = broker.Enabled });
            await using var reader = await command.ExecuteReaderAsync(cancellation);
            while (await reader.ReadAsync(cancellation))
                if (Guid.TryParse(reader.GetString(0), out var t)) behind.Add(t);
        }
        return behind;
    }

    private sealed record Target(Guid Id, IReadOnlyList<string> Types);

    /// <summary>The subscriptions of an owner that take deliveries (active, or paused: theirs wait).</summary>
    private async Task<IReadOnlyList<Target>> SubscriptionsAsync(string owner, CancellationToken cancellation)
    {
        await using var tx = await store.BeginAsync(owner, cancellation);
        await using var read = tx.Command($"select id, types from {Schema}.webhook_subscriptions where tenant_id = $1", owner);
        var list = new List<Target>();
        await using var r = await read.ExecuteReaderAsync(cancellation);
        while (await r.ReadAsync(cancellation)) list.Add(new Target(r.GetGuid(0), r.GetFieldValue<string[]>(1)));
        return list;
    }

    private sealed record Entry(long Index, long Seq, Guid EventId, Guid StreamId, string Type);

    /// <summary>One batch of a tenant's new log entries into deliveries. True when there may be more.</summary>
    private async Task<bool> FanOutAsync(Guid tenant, IReadOnlyList<Target> platform, CancellationToken cancellation)
    {
        var owner = tenant.ToString();
        var own = await SubscriptionsAsync(owner, cancellation);
        if (own.Count == 0 && platform.Count == 0) return false;
        await feed.FlushAsync(tenant, cancellation);
        await using var tx = await store.BeginAsync(owner, cancellation);
        await tx.ExecuteAsync("select pg_advisory_xact_lock(hashtextextended('tenantevents:webhook-fan-out:' || $1, 0))", cancellation, owner);
        long position = 0;
        await using (var read = tx.Command($"select position from {Schema}.webhook_positions where tenant_id = $1", owner))
            if (await read.ExecuteScalarAsync(cancellation) is long p) position = p;
        var entries = new List<Entry>();
        await using (var read = tx.Command($"""
            select l.log_index, l.seq_id, e.id, e.stream_id, e.type from {Schema}.audit_log l
            join {Schema}.mt_events e on e.seq_id = l.seq_id and e.tenant_id = l.tenant_id
            where l.tenant_id = $1 and l.log_index >= $2 order by l.log_index limit {FanOutBatch}
            """, owner, position))
        await using (var r = await read.ExecuteReaderAsync(cancellation))
            while (await r.ReadAsync(cancellation))
                entries.Add(new Entry(r.GetInt64(0), r.GetInt64(1), r.GetGuid(2), r.GetGuid(3), EventFeed.CloudEventType(r.GetString(4))));
        // An entry whose event is missing (removed behind the log's back) stops fan-out where it is; `audit verify` names it.
        var contiguous = entries.TakeWhile((e, i) => e.Index == position + i).ToList();
        if (contiguous.Count == 0) return false;

        var now = clock.UtcNow;
        // The platform's deliveries first, in the main database (a second transaction): if this one then fails, the
        // next round inserts them again and the unique index keeps one of each.
        var forPlatform = Pairs(platform.Where(s => true), contiguous.Where(e => EventFeed.PlatformTypes.Contains(e.Type)));
        if (forPlatform.Count > 0)
        {
            await using var main = await store.BeginAsync(DeliverySchema.PlatformOwner, cancellation);
            await InsertAsync(main, DeliverySchema.PlatformOwner, tenant, forPlatform, now, cancellation);
            await main.CommitAsync(cancellation);
        }
        var inserted = await InsertAsync(tx, owner, tenant, Pairs(own, contiguous), now, cancellation);
        await tx.ExecuteAsync($"""
            insert into {Schema}.webhook_positions (tenant_id, position) values ($1, $2)
            on conflict (tenant_id) do update set position = excluded.position
            """, cancellation, owner, contiguous[^1].Index + 1);
        await tx.CommitAsync(cancellation);
        if (inserted + forPlatform.Count > 0) DeliveriesAdded?.Invoke();
        return contiguous.Count == FanOutBatch;
    }

    private static List<(Target Subscription, Entry Event)> Pairs(IEnumerable<Target> subscriptions, IEnumerable<Entry> entries)
    {
        var list = entries.ToList();
        return subscriptions.SelectMany(s => list.Where(e => EventFeed.Matches(s.Types, e.Type)).Select(e => (s, e))).ToList();
    }

    /// <summary>The reason a delivery was dead-lettered without an attempt (its subscription had too many waiting).</summary>
    public static string Backlogged(int max) =>
        $"dead-lettered without an attempt: the subscription already had {max} deliveries waiting (TenantEvents:MaxPendingDeliveries); " +
        "send it again once the endpoint has caught up";

    /// <summary>
    /// New deliveries, pending; but a subscription keeps at most TenantEvents:MaxPendingDeliveries waiting (pending or
    /// retrying): the ones beyond are stored dead at once, with <see cref="Backlogged"/> as their error. The waiting ones
    /// keep their place and their order; the dead ones are listed with the reason and can be sent again (redeliver).
    /// Pausing instead would not bound anything (a paused subscription's deliveries wait), and dropping silently would hide it.
    /// </summary>
    private async Task<int> InsertAsync(OwnerTransaction tx, string owner, Guid source, IReadOnlyList<(Target Subscription, Entry Event)> pairs,
        DateTimeOffset now, CancellationToken cancellation)
    {
        if (pairs.Count == 0) return 0;
        var max = options.MaxPendingDeliveries;
        var subscriptions = pairs.Select(p => p.Subscription.Id).Distinct().Order().ToArray();
        // Two instances fanning out events of the same subscription at once would each count the same waiting rows and
        // together pass the bound: the subscriptions' rows are locked (in id order, so no deadlock) before counting.
        await using (var lockRows = tx.Command($"select id from {Schema}.webhook_subscriptions where tenant_id = $1 and id = any($2) order by id for update",
                         owner, subscriptions))
            await lockRows.ExecuteNonQueryAsync(cancellation);
        var waiting = new Dictionary<Guid, long>();
        await using (var count = tx.Command($"""
            select subscription_id, count(*) from {Schema}.webhook_deliveries
            where tenant_id = $1 and subscription_id = any($2) and status in ('{WebhookStates.Pending}', '{WebhookStates.Retrying}')
            group by subscription_id
            """, owner, subscriptions))
        await using (var r = await count.ExecuteReaderAsync(cancellation))
            while (await r.ReadAsync(cancellation))
                waiting[r.GetGuid(0)] = r.GetInt64(1);
        var statuses = new string[pairs.Count];
        var errors = new object?[pairs.Count];
        var backlogged = 0;
        for (var i = 0; i < pairs.Count; i++)
        {
            var id = pairs[i].Subscription.Id;
            var before = waiting.GetValueOrDefault(id);
            if (before < max)
            {
                waiting[id] = before + 1;
                statuses[i] = WebhookStates.Pending;
                continue;
            }
            statuses[i] = WebhookStates.Dead;
            errors[i] = Backlogged(max);
            backlogged++;
        }
        if (backlogged > 0)
        {
            // Counted when decided (the transaction may still roll back and the round decide again: an alert's signal, not a ledger).
            TenantEvents.Operations.OperationsMetrics.DeadLettered.Add(backlogged, new KeyValuePair<string, object?>("reason", "backlog"));
            logger.LogWarning("{Count} webhook deliveries of {Owner} were dead-lettered: their subscriptions had {Max} waiting", backlogged, owner, max);
        }
        return await tx.ExecuteAsync($"""
            insert into {Schema}.webhook_deliveries (tenant_id, id, subscription_id, source_tenant, log_index, seq_id, event_id, stream_id, event_type,
              status, attempts, attempt_base, next_attempt_at, created_at, last_error)
            select $1, u.id, u.subscription_id, $2, u.log_index, u.seq_id, u.event_id, u.stream_id, u.event_type, u.status, 0, 0, $3, $3, u.error
            from unnest($4::uuid[], $5::uuid[], $6::bigint[], $7::bigint[], $8::uuid[], $9::uuid[], $10::text[], $11::text[], $12::text[])
              as u(id, subscription_id, log_index, seq_id, event_id, stream_id, event_type, status, error)
            on conflict (subscription_id, source_tenant, log_index) do nothing
            """, cancellation, owner, source, now,
            pairs.Select(_ => Guid.CreateVersion7()).ToArray(), pairs.Select(p => p.Subscription.Id).ToArray(), pairs.Select(p => p.Event.Index).ToArray(),
            pairs.Select(p => p.Event.Seq).ToArray(), pairs.Select(p => p.Event.EventId).ToArray(), pairs.Select(p => p.Event.StreamId).ToArray(),
            pairs.Select(p => p.Event.Type).ToArray(), statuses,
            new NpgsqlParameter { Value = errors.Select(e => e ?? DBNull.Value).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
    }
}
