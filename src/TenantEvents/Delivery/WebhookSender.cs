using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
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
/// Sending: each subscription's deliveries, one stream's at a time in log order, signed per Standard Webhooks, retried
/// with back-off, dead-lettered after the last attempt. One sender per database across instances (an advisory lock held
/// by a connection of this instance's).
/// </summary>
/// <summary>Webhook deliveries of one database waiting to be sent (pending or retrying), how many are due now, and how long the oldest has waited.</summary>
public sealed record SendingBacklog(string Database, long Waiting, long DueNow, double? OldestWaitingSeconds);

public sealed class WebhookSender(WebhookStore store, EventFeed feed, Audit.ContentDisclosure disclosure, TenantEventsOptions options,
    OutboundHttp outbound, Clock clock, ILogger<WebhookSender> logger)
{
    private const int SendBatch = 1000;

    private readonly ConcurrentDictionary<string, NpgsqlConnection> _leaders = new();

    private string Schema => store.Schema;
    private TenantDatabases Databases => store.Streams.Databases;

    /// <summary>
    /// Per database: deliveries waiting to be sent (counted up to a million, through the index of waiting deliveries),
    /// those due now, and the oldest one's age. Dead letters are not counted here (they are per subscription).
    /// </summary>
    public async Task<IReadOnlyList<SendingBacklog>> BacklogAsync(CancellationToken cancellation)
    {
        var backlog = new List<SendingBacklog>();
        var now = clock.UtcNow;
        foreach (var database in Databases.All)
        {
            if (database.Platform.Value is not { } platform) continue;
            await using var read = platform.CreateCommand($"""
                select count(*), count(*) filter (where next_attempt_at <= $1), min(created_at)
                from (select next_attempt_at, created_at from {store.Schema}.webhook_deliveries
                      where status in ('pending', 'retrying') order by next_attempt_at limit 1000000) w
                """);
            Sql.Bind(read, now);
            await using var reader = await read.ExecuteReaderAsync(cancellation);
            await reader.ReadAsync(cancellation);
            var oldest = reader.IsDBNull(2) ? (double?)null : Math.Round(Math.Max(0, (now - reader.GetFieldValue<DateTimeOffset>(2)).TotalSeconds), 3);
            backlog.Add(new SendingBacklog(database.Entry.Id, reader.GetInt64(0), reader.GetInt64(1), oldest));
        }
        return backlog;
    }


    private sealed record Due(string Owner, Guid Id, Guid Subscription, Guid Source, long Index, long Seq, int Attempts, int AttemptBase, string Url,
        long SubscriptionVersion);

    private sealed record Result(Due Delivery, int? StatusCode, string? Error, int DurationMs, DateTimeOffset At, bool TenantGone = false);

    public async Task<bool> RoundAsync(CancellationToken cancellation)
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
        if (dead > 0)
        {
            TenantEvents.Operations.OperationsMetrics.DeadLettered.Add(dead, new KeyValuePair<string, object?>("reason", "attempts"));
            logger.LogWarning("{Count} webhook deliveries of {Owner} were dead-lettered after their last attempt", dead, owner);
        }
    }

    /// <summary>Gives up leading: the connections that hold the databases' sender locks are closed.</summary>
    public async Task ReleaseLeadsAsync()
    {
        foreach (var connection in _leaders.Values) await connection.DisposeAsync();
        _leaders.Clear();
    }
}
