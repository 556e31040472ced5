using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using CloudNative.CloudEvents;
using CloudNative.CloudEvents.SystemTextJson;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Tests.Support;

namespace TenantEvents.Tests.Delivery;

/// <summary>
/// The service process is killed (SIGKILL) while deliveries are pending; after a restart on the same database every
/// event arrives at least once, none lost: to a webhook receiver each stream's in order, to a RabbitMQ consumer each
/// stream whole (in order by its stream version; see docs/delivery.md for why not in arrival order).
/// The process runs over a database of its own, so no other instance can finish its work for it.
/// </summary>
public class CrashTests(AppFixture fixture) : IntegrationTest(fixture)
{
    private const int Units = 15;

    private sealed class World(ServiceProcess service, string folder)
    {
        public ServiceProcess Service { get; set; } = service;
        public string Folder { get; } = folder;
        public HttpClient As(string role, Guid? tenant = null) => Service.Client(ServiceProcess.Token(Folder, role, role + "-1", tenant));
    }

    private static async Task<Guid> ActiveTenant(World w)
    {
        var id = Guid.Parse((await w.As(Roles.PlatformAdmin).Post("/api/tenants", TenantRequest())).ShouldBe(HttpStatusCode.Created).Str("id"));
        (await w.As(Roles.PlatformApprover).Post($"/api/tenants/{id}/approve")).ShouldBe(HttpStatusCode.OK);
        (await w.As(Roles.PlatformAdmin).Post($"/api/tenants/{id}/provision")).ShouldBe(HttpStatusCode.OK);
        return id;
    }

    /// <summary>Units created and each renamed twice: three events per stream, streams interleaved. Returns the units.</summary>
    private static async Task<List<Guid>> Work(World w, Guid tenant)
    {
        var admin = w.As(Roles.TenantAdmin, tenant);
        var root = (await w.As(Roles.PlatformAdmin).Get($"/api/tenants/{tenant}")).ShouldBe(HttpStatusCode.OK).Json.GetProperty("organisations")
            .EnumerateArray().Single(o => !o.TryGetProperty("parentId", out var p) || p.ValueKind == JsonValueKind.Null).GetProperty("id").GetGuid();
        var units = new List<Guid>();
        for (var i = 0; i < Units; i++)
            units.Add(Guid.Parse((await admin.Post($"/api/tenants/{tenant}/organisations", new { parentId = root, name = $"Unit {i}", kind = "unit" }))
                .ShouldBe(HttpStatusCode.Created).Str("id")));
        for (var round = 1; round <= 2; round++)
            foreach (var (unit, i) in units.Select((u, i) => (u, i)))
                (await admin.Put($"/api/tenants/{tenant}/organisations/{unit}/name", new { name = $"Unit {i} (rev {round})" })).ShouldBe(HttpStatusCode.OK);
        return units;
    }

    /// <summary>Every unit's three events arrived (first arrivals in stream order); duplicates allowed.</summary>
    private static void Complete(IReadOnlyList<(string Id, string Subject, long Version)> arrivals, IReadOnlyList<Guid> units)
    {
        var first = arrivals.GroupBy(a => a.Id).Select(g => g.First()).ToList();
        foreach (var unit in units)
            first.Where(a => a.Subject == $"organisation/{unit}").Select(a => a.Version).ShouldBe([1, 2, 3], $"unit {unit}'s events, in order");
    }

    private static async Task<long> PendingAsync((string App, string Owner, string Platform) db, string table, Guid tenant)
    {
        await using var connection = new Npgsql.NpgsqlConnection(db.Owner);
        await connection.OpenAsync();
        var sql = table == "webhook"
            ? """
              select (select count(*) from tenantevents.webhook_deliveries where status in ('pending', 'retrying'))
                   + (select count(*) from tenantevents.audit_log l where l.tenant_id = $1
                        and l.log_index >= coalesce((select position from tenantevents.webhook_positions where tenant_id = $1), 0))
                   + (select count(*) from tenantevents.audit_pending where tenant_id = $1)
              """
            : """
              select (select count(*) from tenantevents.audit_log l where l.tenant_id = $1
                        and l.log_index >= coalesce((select position from tenantevents.broker_positions where tenant_id = $1), 0))
                   + (select count(*) from tenantevents.audit_pending where tenant_id = $1)
                   + (select count(*) from tenantevents.wolverine_outgoing_envelopes)
              """;
        await using var command = new Npgsql.NpgsqlCommand(sql, connection);
        command.Parameters.Add(new Npgsql.NpgsqlParameter { Value = tenant.ToString() });
        return (long)(await command.ExecuteScalarAsync())!;
    }

    [Fact]
    public async Task webhook_deliveries_pending_when_the_process_dies_all_arrive_after_the_restart_in_stream_order()
    {
        var db = await ServiceProcess.FreshDatabaseAsync("tenantevents_test_crash_webhooks");
        var folder = Directory.CreateTempSubdirectory("tenantevents-crash-").FullName;
        var world = new World(await ServiceProcess.StartAsync(db, folder), folder);
        try
        {
            var tenant = await ActiveTenant(world);
            var receiver = await Fixture.WebhookReceiver();
            var hook = "crash" + Guid.NewGuid().ToString("N")[..8];
            var created = (await world.As(Roles.TenantAdmin, tenant).Post($"/api/tenants/{tenant}/webhooks",
                new { url = receiver.Hook(hook), types = new[] { "com.tenantevents.organisation_*" } })).ShouldBe(HttpStatusCode.Created);
            // The receiver fails its first answers: those deliveries wait for a retry when the process dies.
            await receiver.ConfigureAsync(hook, created.Str("secret"), failFirst: 5);

            var units = await Work(world, tenant);
            await world.Service.KillAsync();
            var pending = await PendingAsync(db, "webhook", tenant);
            pending.ShouldBeGreaterThan(0, "the process should die with deliveries pending");

            world.Service = await ServiceProcess.StartAsync(db, folder, port: world.Service.Port);
            var seen = await receiver.WaitAsync(hook, s => s.Events.Select(e => e.GetProperty("id").GetString()).Distinct().Count() >= Units * 3,
                TimeSpan.FromSeconds(60));
            seen.Rejected.ShouldBeEmpty();
            Complete(seen.Events.Select(e => (e.GetProperty("id").GetString()!, e.GetProperty("subject").GetString()!,
                long.Parse(e.GetProperty("streamversion").GetString()!))).ToList(), units);
        }
        finally
        {
            await world.Service.DisposeAsync();
        }
    }

    [Fact]
    public async Task events_pending_for_rabbitmq_when_the_process_dies_all_arrive_after_the_restart_each_stream_whole()
    {
        var broker = TestBroker.Url;
        var db = await ServiceProcess.FreshDatabaseAsync("tenantevents_test_crash_broker");
        var folder = Directory.CreateTempSubdirectory("tenantevents-crash-").FullName;
        var settings = new Dictionary<string, string> { ["TenantEvents:RabbitMqUri"] = broker };
        var world = new World(await ServiceProcess.StartAsync(db, folder, settings), folder);
        try
        {
            // A consumer of the service's exchange (declared by the service), through its own queue.
            var factory = new ConnectionFactory { Uri = new Uri(broker) };
            await using var connection = await factory.CreateConnectionAsync();
            await using var channel = await connection.CreateChannelAsync();
            var queue = (await channel.QueueDeclareAsync("", durable: false, exclusive: true, autoDelete: true)).QueueName;
            var tenant = await ActiveTenant(world);
            await channel.QueueBindAsync(queue, "tenantevents.events", $"{tenant}.#");
            var received = new ConcurrentQueue<(string ContentType, string RoutingKey, byte[] Body)>();
            var consumer = new AsyncEventingBasicConsumer(channel);
            consumer.ReceivedAsync += (_, message) =>
            {
                received.Enqueue((message.BasicProperties.ContentType ?? "", message.RoutingKey, message.Body.ToArray()));
                return Task.CompletedTask;
            };
            await channel.BasicConsumeAsync(queue, autoAck: true, consumer);

            var units = await Work(world, tenant);
            await world.Service.KillAsync();
            var pending = await PendingAsync(db, "broker", tenant);
            pending.ShouldBeGreaterThan(0, "the process should die with events not yet published");

            world.Service = await ServiceProcess.StartAsync(db, folder, settings, world.Service.Port);
            var formatter = new JsonEventFormatter();
            var deadline = System.Diagnostics.Stopwatch.StartNew();
            List<CloudEvent> events;
            while (true)
            {
                events = received.ToArray().Select(m => formatter.DecodeStructuredModeMessage(m.Body, new System.Net.Mime.ContentType(m.ContentType), null)).ToList();
                if (events.Where(e => e.Type == "com.tenantevents.organisation_renamed").Select(e => e.Id).Distinct().Count() >= Units * 2
                    || deadline.Elapsed > TimeSpan.FromSeconds(90)) break;
                await Task.Delay(50);
            }
            received.ShouldAllBe(m => m.ContentType.StartsWith("application/cloudevents+json") && m.RoutingKey.StartsWith(tenant.ToString()));
            events.ShouldAllBe(e => e.SpecVersion == CloudEventsSpecVersion.V1_0 && (string)e["tenantid"]! == tenant.ToString());
            events = events.Where(e => e.Type!.StartsWith("com.tenantevents.organisation_")).ToList();
            // Every event arrives, at least once under one id. Not necessarily in order: the dead process's envelopes are sent
            // again by Wolverine's outbox recovery, which does not keep a stream's order (docs/delivery.md, known gap);
            // ordered by streamversion, as a consumer must, each stream is whole.
            var arrived = events.Select(e => (Id: e.Id!, Subject: e.Subject!, Version: long.Parse((string)e["streamversion"]!))).ToList();
            foreach (var group in arrived.GroupBy(a => a.Id)) group.Select(a => (a.Subject, a.Version)).Distinct().Count().ShouldBe(1, "one id, one event");
            Complete(arrived.GroupBy(a => a.Id).Select(g => g.First()).OrderBy(a => a.Version).ToList(), units);

            // The operator's view agrees: the fan-out reports RabbitMQ's own positions, past every event that arrived.
            var report = (await world.As(Roles.PlatformAdmin).Get("/api/platform/projections")).ShouldBe(HttpStatusCode.OK).Json;
            var fanOut = report.GetProperty("asynchronous").EnumerateArray().Single(p => p.GetProperty("name").GetString() == "event-fan-out");
            var rabbit = fanOut.GetProperty("databases").EnumerateArray().Where(d => d.GetProperty("follower").GetString() == "rabbitmq").ToList();
            rabbit.ShouldNotBeEmpty();
            rabbit.Sum(d => d.GetProperty("position").GetInt64()).ShouldBeGreaterThanOrEqualTo(Units * 3);
            rabbit.ShouldAllBe(d => d.GetProperty("head").GetInt64() >= d.GetProperty("position").GetInt64());
        }
        finally
        {
            await world.Service.DisposeAsync();
        }
    }
}
