using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text.Json;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Tests.Support;

namespace TenantEvents.Tests.Operations;

/// <summary>
/// Three service processes on one database behind haproxy (Debian's), as an operator runs several instances: one is
/// killed (SIGKILL: nothing flushed, no goodbye) under a steady stream of commands. No command the cluster acknowledged is
/// lost, every acknowledged command's event reaches the webhook subscriber (at least once, under one stable id), and the
/// scheduled work (ledger checkpoints, projections, delivery) goes on on the survivors without being done twice.
/// Run by `make test-ops`.
/// </summary>
[Trait("Category", "ops")]
public class ClusterTests(AppFixture fixture, Xunit.Abstractions.ITestOutputHelper output) : IntegrationTest(fixture)
{
    [Fact]
    public async Task an_instance_killed_under_load_loses_no_acknowledged_command_and_its_work_goes_on_elsewhere()
    {
        var db = await ServiceProcess.FreshDatabaseAsync("tenantevents_test_cluster");
        var folder = Directory.CreateTempSubdirectory("tenantevents-cluster-").FullName;
        var settings = new Dictionary<string, string>
        {
            // Checkpoints every two seconds: scheduled work that must happen once per round, on whichever instance leads.
            ["TenantEvents:AuditCheckpointInterval"] = "00:00:02",
        };
        var instances = new List<ServiceProcess>();
        Haproxy? proxy = null;
        try
        {
            for (var i = 0; i < 3; i++) instances.Add(await ServiceProcess.StartAsync(db, folder, settings));
            var proxyPort = ServiceProcess.FreePort();
            proxy = await Haproxy.StartAsync(proxyPort, instances.Select(s => s.Port).ToList());
            var clients = new ProcessClients(new Uri($"http://127.0.0.1:{proxyPort}"), folder);
            var (tenant, root) = await clients.ActiveTenantAsync("cluster-agency");
            var admin = clients.As(Roles.TenantAdmin, tenant);
            var receiver = await Fixture.WebhookReceiver();
            var hook = "cluster" + Guid.NewGuid().ToString("N")[..8];
            var subscription = (await admin.Post($"/api/tenants/{tenant}/webhooks",
                new { url = receiver.Hook(hook), types = new[] { "com.tenantevents.organisation_created" } })).ShouldBe(HttpStatusCode.Created);
            await receiver.ConfigureAsync(hook, subscription.Str("secret"));

            // Steady load: four writers create units through the proxy; one instance is killed once a third of the work is acknowledged.
            const int Total = 90;
            var acknowledged = new ConcurrentBag<Guid>();
            var refused = new ConcurrentBag<string>();
            var next = 0;
            var killed = new TaskCompletionSource<DateTimeOffset>();
            // The victim is the instance that leads (holds the advisory locks of the singular work: the webhook sender,
            // projections, checkpoints), so that the survivors must take that work over.
            var victim = await LeaderAsync(db.Owner, instances);
            output.WriteLine($"killing instance on port {victim.Port} (leader)");
            var writers = Enumerable.Range(0, 4).Select(w => Task.Run(async () =>
            {
                while (true)
                {
                    var n = Interlocked.Increment(ref next);
                    if (n > Total) return;
                    if (n == Total / 3)
                    {
                        var at = DateTimeOffset.UtcNow;
                        await victim.KillAsync();
                        killed.TrySetResult(at);
                    }
                    try
                    {
                        var reply = await admin.Post($"/api/tenants/{tenant}/organisations", new { parentId = root, name = $"Unit {n}", kind = "unit" });
                        if (reply.Status == HttpStatusCode.Created) acknowledged.Add(Guid.Parse(reply.Str("id")));
                        else refused.Add($"{(int)reply.Status} {reply.Body}");
                    }
                    catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                    {
                        refused.Add(e.GetType().Name + ": " + e.Message); // not acknowledged: the caller would retry
                    }
                }
            })).ToList();
            await Task.WhenAll(writers);
            killed.Task.IsCompleted.ShouldBeTrue();
            var killedAt = await killed.Task;

            output.WriteLine($"{acknowledged.Count} of {Total} acknowledged; not acknowledged: {string.Join("; ", refused.GroupBy(r => r.Split(' ')[0]).Select(g => $"{g.Count()} x {g.Key}"))}");
            // What the cluster acknowledged is there, read back through the survivors.
            // Only what was in flight on the killed instance may fail (at most one request per writer); nothing is a 500.
            refused.Count.ShouldBeLessThanOrEqualTo(4, string.Join("; ", refused));
            refused.Count(r => r.StartsWith("500")).ShouldBe(0, string.Join("; ", refused));
            var listed = (await admin.Get($"/api/tenants/{tenant}/organisations/{root}/descendants?limit=200")).ShouldBe(HttpStatusCode.OK).Json
                .GetProperty("items").EnumerateArray().Select(o => o.GetProperty("id").GetGuid()).ToHashSet();
            foreach (var id in acknowledged) listed.ShouldContain(id, $"acknowledged unit {id} is missing");

            // Every acknowledged unit's creation reaches the subscriber, once per event id however often it was sent.
            var seen = await receiver.WaitAsync(hook, s => acknowledged.All(id => s.Events.Any(e => e.GetProperty("subject").GetString() == $"organisation/{id}")),
                TimeSpan.FromSeconds(90));
            seen.Rejected.ShouldBeEmpty();
            foreach (var group in seen.Events.GroupBy(e => e.GetProperty("subject").GetString()))
                group.Select(e => e.GetProperty("id").GetString()).Distinct().Count().ShouldBe(1, $"{group.Key}: one event, one id");

            // The scheduled work goes on on the survivors: a checkpoint after the kill.
            await using var connection = new Npgsql.NpgsqlConnection(db.Owner);
            await connection.OpenAsync();
            var deadline = Stopwatch.StartNew();
            long after = 0;
            while (after == 0 && deadline.Elapsed < TimeSpan.FromSeconds(60))
            {
                await using var count = new Npgsql.NpgsqlCommand(
                    "select count(*) from tenantevents.audit_checkpoints where tenant_id = $1 and created_at > $2", connection);
                count.Parameters.Add(new Npgsql.NpgsqlParameter { Value = tenant.ToString() });
                count.Parameters.Add(new Npgsql.NpgsqlParameter { Value = killedAt });
                after = (long)(await count.ExecuteScalarAsync())!;
                if (after == 0) await Task.Delay(500);
            }
            after.ShouldBeGreaterThan(0, "checkpoints go on after the kill");
            // Two leaders racing would write checkpoints out of order; one after the other, each covers more than the last.
            await using var order = new Npgsql.NpgsqlCommand(
                "select tree_size from tenantevents.audit_checkpoints where tenant_id = $1 order by created_at, tree_size", connection);
            order.Parameters.Add(new Npgsql.NpgsqlParameter { Value = tenant.ToString() });
            var sizes = new List<long>();
            await using (var reader = await order.ExecuteReaderAsync())
                while (await reader.ReadAsync()) sizes.Add(reader.GetInt64(0));
            sizes.ShouldBe(sizes.Order().ToList());
        }
        finally
        {
            if (proxy is not null) await proxy.DisposeAsync();
            foreach (var instance in instances) await instance.DisposeAsync();
        }
    }

    /// <summary>
    /// The instance whose connections hold the most advisory locks: PostgreSQL names the backends that hold them, and
    /// each backend's client port belongs to one process (ss).
    /// </summary>
    private static async Task<ServiceProcess> LeaderAsync(string owner, IReadOnlyList<ServiceProcess> instances)
    {
        await using var connection = new Npgsql.NpgsqlConnection(new Npgsql.NpgsqlConnectionStringBuilder(TestDatabase.SuperuserConnectionString).ConnectionString);
        await connection.OpenAsync();
        await using var locks = new Npgsql.NpgsqlCommand("""
            select a.client_port, count(*) from pg_locks l join pg_stat_activity a on a.pid = l.pid
            where l.locktype = 'advisory' and l.granted and a.client_port is not null group by a.client_port
            """, connection);
        var held = new Dictionary<int, long>();
        await using (var reader = await locks.ExecuteReaderAsync())
            while (await reader.ReadAsync()) held[reader.GetInt32(0)] = reader.GetInt64(1);
        var start = new ProcessStartInfo("ss") { RedirectStandardOutput = true };
        foreach (var argument in new[] { "-Htnp", "state", "established" }) start.ArgumentList.Add(argument);
        using var ss = Process.Start(start)!;
        var sockets = await ss.StandardOutput.ReadToEndAsync();
        await ss.WaitForExitAsync();
        long Held(ServiceProcess instance) => sockets.Split('\n').Where(l => l.Contains($"pid={instance.Pid},"))
            .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[2]) // local address:port
            .Sum(local => held.GetValueOrDefault(int.Parse(local[(local.LastIndexOf(':') + 1)..])));
        var leader = instances.MaxBy(Held)!;
        Held(leader).ShouldBeGreaterThan(0, "one instance holds the singular work's locks");
        return leader;
    }

}
