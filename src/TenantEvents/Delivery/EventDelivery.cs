using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Npgsql;
using NpgsqlTypes;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Databases;
using TenantEvents.Infrastructure.Outbound;
using TenantEvents.Infrastructure.Webhooks;
using TenantEvents.Keys;

namespace TenantEvents.Delivery;

/// <summary>
/// Moves every tenant's events out: fan-out (a tenant's new log entries become deliveries, one per matching
/// subscription, in the transaction that advances the tenant's position) and sending (each subscription's deliveries,
/// one stream's at a time in log order, signed per Standard Webhooks, retried with back-off, dead-lettered after the
/// last attempt). Woken by the database's commit notifications; polls for what it was not told about. One sender per
/// database across instances (an advisory lock held by a connection); fan-out is locked per tenant.
/// </summary>
public sealed class EventDelivery(WebhookStore store, EventFeed feed, Audit.ContentDisclosure disclosure, EventSignals signals, BrokerFanOut broker,
    TenantEventsOptions options, OutboundHttp outbound, Clock clock, ILogger<EventDelivery> logger)
    : BackgroundService
{
    private const int FanOutBatch = 1000;
    private const int SendBatch = 1000;

    private readonly ConcurrentDictionary<Guid, byte> _dirty = new();
    private readonly SemaphoreSlim _fanOutSignal = new(0, 1);
    private readonly SemaphoreSlim _sendSignal = new(0, 1);
    private readonly ConcurrentDictionary<string, NpgsqlConnection> _leaders = new();

    private string Schema => store.Schema;
    private TenantDatabases Databases => store.Streams.Databases;

    /// <summary>Events of these tenants were committed: fan them out now.</summary>
    public void Notify(Guid tenant)
    {
        _dirty[tenant] = 0;
        Signal(_fanOutSignal);
    }

    /// <summary>There are deliveries to send now (new, or sent again by an administrator).</summary>
    public void WakeSender() => Signal(_sendSignal);

    private static void Signal(SemaphoreSlim signal)
    {
        try { signal.Release(); }
        catch (SemaphoreFullException) { }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (broker.Enabled && !stoppingToken.IsCancellationRequested)
        {
            try
            {
                await broker.StartAsync(stoppingToken);
                break;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning(e, "Could not set where publishing to the broker starts; trying again in a second");
                await Task.Delay(TimeSpan.FromSeconds(1), stoppingToken);
            }
        }
        var loops = new List<Task> { Loop("fan-out", FanOutRoundAsync, _fanOutSignal, stoppingToken), Loop("send", SendRoundAsync, _sendSignal, stoppingToken) };
        loops.AddRange(Databases.All.Select(d => ListenAsync(d, stoppingToken)));
        await Task.WhenAll(loops);
    }

    /// <summary>Runs rounds: at once again while a round found work, else after a signal or the poll interval.</summary>
    private async Task Loop(string name, Func<CancellationToken, Task<bool>> round, SemaphoreSlim signal, CancellationToken stoppingToken)
    {
        await Task.Yield();
        while (!stoppingToken.IsCancellationRequested)
        {
            var busy = false;
            try
            {
                busy = await round(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                logger.LogWarning(e, "Event delivery ({Loop}) failed; it runs again at the next interval", name);
            }
            if (busy) continue;
            try
            {
                await signal.WaitAsync(options.DeliveryPollInterval, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>Commit notifications of one database (tenantevents_events, payload: the tenant); reconnects after a failure.</summary>
    private async Task ListenAsync(TenantDatabases.Database database, CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await using var connection = await database.Service.OpenConnectionAsync(stoppingToken);
                connection.Notification += (_, e) =>
                {
                    if (!Guid.TryParse(e.Payload, out var tenant)) return;
                    signals.Committed(tenant);
                    Notify(tenant);
                };
                await using (var listen = new NpgsqlCommand($"listen {DeliverySchema.Channel}", connection))
                    await listen.ExecuteNonQueryAsync(stoppingToken);
                // Whatever was committed while nobody listened is found by the next poll.
                Signal(_fanOutSignal);
                while (!stoppingToken.IsCancellationRequested) await connection.WaitAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                logger.LogWarning(e, "Listening for commits in database {Database} failed; listening again in a second", database.Entry.Id);
                try { await Task.Delay(TimeSpan.FromSeconds(1), stoppingToken); }
                catch (OperationCanceledException) { return; }
            }
        }
    }

    // ---- fan-out ------------------------------------------------------------------------------------------------------

    private DateTimeOffset _lastScan = DateTimeOffset.MinValue;

    private async Task<bool> FanOutRoundAsync(CancellationToken cancellation)
    {
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
        if (inserted + forPlatform.Count > 0) WakeSender();
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
            logger.LogWarning("{Count} webhook deliveries of {Owner} were dead-lettered: their subscriptions had {Max} waiting", backlogged, owner, max);
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

    // ---- sending ------------------------------------------------------------------------------------------------------

    private sealed record Due(string Owner, Guid Id, Guid Subscription, Guid Source, long Index, long Seq, int Attempts, int AttemptBase, string Url,
        long SubscriptionVersion);

    private sealed record Result(Due Delivery, int? StatusCode, string? Error, int DurationMs, DateTimeOffset At, bool TenantGone = false);

    private async Task<bool> SendRoundAsync(CancellationToken cancellation)
    {
        var busy = false;
        foreach (var database in Databases.All)
        {
            if (!await LeadAsync(database, cancellation)) continue;
            busy |= await SendBatchAsync(database, cancellation);
        }
        return busy;
    }

    /// <summary>Whether this instance sends for the database: it holds the database's sender lock on a connection kept open.</summary>
    private async Task<bool> LeadAsync(TenantDatabases.Database database, CancellationToken cancellation)
    {
        if (_leaders.TryGetValue(database.Entry.Id, out var held))
        {
            if (held.FullState == System.Data.ConnectionState.Open) return true;
            _leaders.TryRemove(database.Entry.Id, out _);
            await held.DisposeAsync();
        }
        var connection = await database.Service.OpenConnectionAsync(cancellation);
        await using var take = new NpgsqlCommand("select pg_try_advisory_lock(hashtextextended('tenantevents:webhook-sender', 0))", connection);
        if ((bool)(await take.ExecuteScalarAsync(cancellation))!)
        {
            _leaders[database.Entry.Id] = connection;
            return true;
        }
        await connection.DisposeAsync();
        return false;
    }

    private async Task<bool> SendBatchAsync(TenantDatabases.Database database, CancellationToken cancellation)
    {
        if (database.Platform.Value is not { } platform) return false;
        var now = clock.UtcNow;
        var due = new List<Due>();
        // The head of every (subscription, tenant, stream) chain that is due: a stream's next event waits for the one before it.
        // (One pass over the undelivered rows in chain order, the chain index; an anti-join per row can turn quadratic
        // when the planner's estimate of undelivered rows is stale.)
        await using (var read = platform.CreateCommand($"""
            select d.tenant_id, d.id, d.subscription_id, d.source_tenant, d.log_index, d.seq_id, d.attempts, d.attempt_base, s.url, s.version
            from (select distinct on (h.subscription_id, h.source_tenant, h.stream_id) h.*
                  from {Schema}.webhook_deliveries h where h.status in ('{WebhookStates.Pending}', '{WebhookStates.Retrying}')
                  order by h.subscription_id, h.source_tenant, h.stream_id, h.log_index) d
            join {Schema}.webhook_subscriptions s on s.tenant_id = d.tenant_id and s.id = d.subscription_id and s.state = '{WebhookStates.Active}'
            where d.next_attempt_at <= $1
            order by d.next_attempt_at, d.log_index limit {SendBatch}
            """))
        {
            read.Parameters.Add(new NpgsqlParameter { Value = now });
            await using var r = await read.ExecuteReaderAsync(cancellation);
            while (await r.ReadAsync(cancellation))
                due.Add(new Due(r.GetString(0), r.GetGuid(1), r.GetGuid(2), r.GetGuid(3), r.GetInt64(4), r.GetInt64(5), r.GetInt32(6), r.GetInt32(7),
                    r.GetString(8), r.GetInt64(9)));
        }
        if (due.Count == 0) return false;

        var results = new ConcurrentBag<Result>();
        var events = new Dictionary<(Guid, long), FeedEvent>();
        // Each delivery's body, as a downstream system may see the event (metadata only; Audit/ContentDisclosure).
        var bodies = new Dictionary<(Guid, long, bool), byte[]>();
        foreach (var group in due.GroupBy(d => d.Source))
        {
            try
            {
                var opened = await feed.OpenAsync(group.Key, group.Select(d => (d.Index, d.Seq)).Distinct().ToList(), cancellation);
                foreach (var (seq, e) in opened) events[(group.Key, seq)] = e;
                foreach (var forPlatform in group.Select(d => d.Owner == DeliverySchema.PlatformOwner).Distinct())
                {
                    var lens = await disclosure.DownstreamAsync(group.Key, forPlatform, cancellation);
                    foreach (var (seq, e) in opened)
                        bodies[(group.Key, seq, forPlatform)] = JsonSerializer.SerializeToUtf8Bytes(await feed.CloudEventAsync(e, lens, cancellation));
                }
            }
            catch (KeyDestroyedException)
            {
                foreach (var d in group) results.Add(new Result(d, null, WebhookStore.TenantGone, 0, now, TenantGone: true));
            }
        }
        var sendable = due.Where(d => events.ContainsKey((d.Source, d.Seq))).ToList();
        await Parallel.ForEachAsync(sendable, new ParallelOptions { MaxDegreeOfParallelism = options.WebhookConcurrency, CancellationToken = cancellation },
            async (d, ct) => results.Add(await SendAsync(d, events[(d.Source, d.Seq)], bodies[(d.Source, d.Seq, d.Owner == DeliverySchema.PlatformOwner)], ct)));
        foreach (var missing in due.Where(d => !events.ContainsKey((d.Source, d.Seq))).Where(d => results.All(r => r.Delivery != d)))
            results.Add(new Result(missing, null, "the event is not in its tenant's log", 0, now, TenantGone: true));

        foreach (var group in results.GroupBy(r => r.Delivery.Owner)) await RecordAsync(group.Key, group.ToList(), cancellation);
        return true;
    }

    private async Task<Result> SendAsync(Due delivery, FeedEvent e, byte[] body, CancellationToken cancellation)
    {
        var started = Stopwatch.GetTimestamp();
        var at = clock.UtcNow;
        try
        {
            var signer = await store.SignerAsync(delivery.Owner, delivery.Subscription, delivery.SubscriptionVersion, cancellation);
            var id = e.EventId.ToString();
            var timestamp = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
            using var request = new HttpRequestMessage(HttpMethod.Post, delivery.Url) { Content = new ByteArrayContent(body) };
            request.Content.Headers.ContentType = new("application/cloudevents+json") { CharSet = "utf-8" };
            request.Headers.TryAddWithoutValidation(StandardWebhooks.IdHeader, id);
            request.Headers.TryAddWithoutValidation(StandardWebhooks.TimestampHeader, timestamp.ToString(CultureInfo.InvariantCulture));
            request.Headers.TryAddWithoutValidation(StandardWebhooks.SignatureHeader, signer.Sign(id, timestamp, body));
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
            timeout.CancelAfter(options.WebhookTimeout);
            using var response = await outbound.Webhooks.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            var code = (int)response.StatusCode;
            // The status code only: the reason phrase is the remote's text.
            return new Result(delivery, code, code is >= 200 and < 300 ? null : $"HTTP {code}", Elapsed(started), at);
        }
        catch (Exception x) when (x is HttpRequestException || (x is OperationCanceledException && !cancellation.IsCancellationRequested))
        {
            // One text for every attempt that got no HTTP answer: a refused (non-public) address, a closed port, a silent
            // one and a timeout look alike to the subscription's owner, so deliveries cannot map what answers where.
            logger.LogDebug(x, "Webhook delivery {Delivery} got no answer", delivery.Id);
            return new Result(delivery, null, string.Format(CultureInfo.InvariantCulture, NoAnswer, options.WebhookTimeout.TotalSeconds), Elapsed(started), at);
        }
    }

    private const string NoAnswer =
        "no HTTP answer: the endpoint could not be reached at a public address, refused the connection, or did not answer within {0:0.#} s";

    private static int Elapsed(long started) => (int)Stopwatch.GetElapsedTime(started).TotalMilliseconds;

    /// <summary>The attempts' outcomes; the wait before a retry counts from when its attempt was made.</summary>
    private async Task RecordAsync(string owner, IReadOnlyList<Result> results, CancellationToken cancellation)
    {
        var outcomes = results.Select(r => r.TenantGone
            ? new AttemptOutcome(WebhookStates.Cancelled, null)
            : WebhookDecisions.After(r.Delivery.Attempts + 1 - r.Delivery.AttemptBase, r.StatusCode, options.WebhookMaxAttempts, r.At, Random.Shared.NextDouble())).ToList();
        await using var tx = await store.BeginAsync(owner, cancellation);
        await tx.ExecuteAsync($"""
            update {Schema}.webhook_deliveries d set status = u.status, attempts = d.attempts + u.tried, next_attempt_at = coalesce(u.next, d.next_attempt_at),
              delivered_at = case when u.status = '{WebhookStates.Delivered}' then u.at else d.delivered_at end, last_status = u.code, last_error = u.error
            from unnest($2::uuid[], $3::text[], $4::timestamptz[], $5::timestamptz[], $6::int[], $7::text[], $8::int[]) as u(id, status, next, at, code, error, tried)
            where d.tenant_id = $1 and d.id = u.id and d.status in ('{WebhookStates.Pending}', '{WebhookStates.Retrying}')
            """, cancellation, owner, results.Select(r => r.Delivery.Id).ToArray(), outcomes.Select(o => o.Status).ToArray(),
            new NpgsqlParameter { Value = outcomes.Select(o => (object?)o.NextAttemptAt ?? DBNull.Value).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.TimestampTz },
            results.Select(r => r.At).ToArray(),
            new NpgsqlParameter { Value = results.Select(r => (object?)r.StatusCode ?? DBNull.Value).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Integer },
            new NpgsqlParameter { Value = results.Select(r => (object?)r.Error ?? DBNull.Value).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text },
            results.Select(r => r.TenantGone ? 0 : 1).ToArray());
        var tried = results.Where(r => !r.TenantGone).ToList();
        if (tried.Count > 0)
            await tx.ExecuteAsync($"""
                insert into {Schema}.webhook_attempts (tenant_id, delivery_id, attempt, at, status_code, error, duration_ms)
                select $1, u.id, u.attempt, u.at, u.code, u.error, u.ms
                from unnest($2::uuid[], $3::int[], $4::timestamptz[], $5::int[], $6::text[], $7::int[]) as u(id, attempt, at, code, error, ms)
                on conflict do nothing
                """, cancellation, owner, tried.Select(r => r.Delivery.Id).ToArray(), tried.Select(r => r.Delivery.Attempts + 1).ToArray(),
                tried.Select(r => r.At).ToArray(),
                new NpgsqlParameter { Value = tried.Select(r => (object?)r.StatusCode ?? DBNull.Value).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Integer },
                new NpgsqlParameter { Value = tried.Select(r => (object?)r.Error ?? DBNull.Value).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text },
                tried.Select(r => r.DurationMs).ToArray());
        await tx.CommitAsync(cancellation);
        var dead = outcomes.Count(o => o.Status == WebhookStates.Dead);
        if (dead > 0) logger.LogWarning("{Count} webhook deliveries of {Owner} were dead-lettered after their last attempt", dead, owner);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        foreach (var connection in _leaders.Values) await connection.DisposeAsync();
        _leaders.Clear();
    }
}
