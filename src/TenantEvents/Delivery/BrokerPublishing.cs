using System.Text;
using System.Text.Json;
using Npgsql;
using TenantEvents.Infrastructure;
using TenantEvents.Tenants;
using Wolverine;
using Wolverine.RabbitMQ;
using Wolverine.Runtime;
using Wolverine.Runtime.Serialization;

namespace TenantEvents.Delivery;

/// <summary>One event on its way to the broker: the CloudEvent, as the bytes that go out.</summary>
public sealed class CloudEventMessage
{
    public byte[] Body { get; set; } = [];
}

/// <summary>Writes a <see cref="CloudEventMessage"/> as a structured-mode CloudEvent (application/cloudevents+json).</summary>
public sealed class CloudEventSerializer : IMessageSerializer
{
    public string ContentType => "application/cloudevents+json";

    public byte[] Write(Envelope envelope) => ((CloudEventMessage)envelope.Message!).Body;

    public object ReadFromData(Type messageType, Envelope envelope) => new CloudEventMessage { Body = envelope.Data ?? [] };

    public object ReadFromData(byte[] data) => new CloudEventMessage { Body = data };

    public byte[] WriteMessage(object message) => ((CloudEventMessage)message).Body;
}

/// <summary>
/// Every event of every tenant to RabbitMQ, when a broker is configured (TenantEvents:RabbitMqUri): a topic exchange
/// (tenantevents.events) with routing key "{tenant}.{type}" (e.g. "0190….organisation_created"; bind "#" for
/// everything, "{tenant}.#" for one tenant). Published through Wolverine's durable outbox in the tenant's database, in
/// the transaction that advances the tenant's broker position: at least once, in log order.
/// </summary>
public static class BrokerPublishing
{
    public const string Exchange = "tenantevents.events";

    /// <summary>The exchange as Wolverine names the destination of its outgoing envelopes.</summary>
    public const string Destination = "rabbitmq://exchange/" + Exchange;

    public static void Configure(WolverineOptions wolverine, TenantEventsOptions options)
    {
        if (string.IsNullOrWhiteSpace(options.RabbitMqUri)) return;
        wolverine.UseRabbitMq(new Uri(options.RabbitMqUri)).AutoProvision();
        wolverine.PublishMessage<CloudEventMessage>().ToRabbitTopics(Exchange, exchange => exchange.IsDurable = true)
            .DefaultSerializer(new CloudEventSerializer());
    }

    public static string RoutingKey(FeedEvent e) => $"{e.Tenant}.{e.Type[EventFeed.TypePrefix.Length..]}";
}

/// <summary>The broker side of <see cref="EventDelivery"/>: one batch of a tenant's log to the exchange.</summary>
public sealed class BrokerFanOut(TenantStreams streams, EventFeed feed, Audit.ContentDisclosure disclosure, IWolverineRuntime runtime)
{
    private const int Batch = 500;

    private string Schema => streams.Options.DatabaseSchema;

    public bool Enabled => !string.IsNullOrWhiteSpace(streams.Options.RabbitMqUri);

    /// <summary>Where publishing starts for tenants it has not seen: the end of their logs (the broker gets what happens from now on).</summary>
    public async Task StartAsync(CancellationToken cancellation)
    {
        foreach (var database in streams.Databases.All)
        {
            await using var fn = database.Service.CreateCommand($"select {Schema}.broker_start_positions()");
            await fn.ExecuteNonQueryAsync(cancellation);
        }
    }

    /// <summary>Publishes the tenant's next events; true when there may be more.</summary>
    public async Task<bool> PublishAsync(Guid tenant, CancellationToken cancellation)
    {
        var context = new MessageContext(runtime);
        await using var tx = await streams.BeginAsync(context, tenant, cancellation);
        var (session, connection) = (tx.Session, tx.Connection);
        long position = 0;
        await tx.LockAsync("broker-fan-out", cancellation);
        // Order per stream across crashes: nothing new goes out while an earlier batch of this database is still in the
        // outbox (a dead instance's envelopes wait for the others to take them over; new ones would overtake them).
        await using (var pending = new NpgsqlCommand($"select exists (select 1 from {Schema}.wolverine_outgoing_envelopes where destination = $1)", connection))
        {
            pending.Parameters.Add(new NpgsqlParameter { Value = BrokerPublishing.Destination });
            if ((bool)(await pending.ExecuteScalarAsync(cancellation))!) return false;
        }
        await using (var read = new NpgsqlCommand($"select position from {Schema}.broker_positions where tenant_id = $1", connection))
        {
            read.Parameters.Add(new NpgsqlParameter { Value = tenant.ToString() });
            if (await read.ExecuteScalarAsync(cancellation) is long p) position = p;
        }
        var events = await feed.ReadAsync(tenant, position, Batch, cancellation);
        if (events.Count == 0) return false;
        // The broker is a downstream system: metadata only (Audit/ContentDisclosure).
        var lens = await disclosure.DownstreamAsync(tenant, platform: false, cancellation);
        foreach (var e in events)
            await context.BroadcastToTopicAsync(BrokerPublishing.RoutingKey(e),
                new CloudEventMessage { Body = JsonSerializer.SerializeToUtf8Bytes(await feed.CloudEventAsync(e, lens, cancellation)) },
                new DeliveryOptions { TenantId = tenant.ToString() });
        session.QueueSqlCommand($"""
            insert into {Schema}.broker_positions (tenant_id, position) values (?, ?)
            on conflict (tenant_id) do update set position = excluded.position
            """, tenant.ToString(), events[^1].Index + 1);
        await tx.CommitAsync(cancellation);
        return events.Count == Batch;
    }
}
