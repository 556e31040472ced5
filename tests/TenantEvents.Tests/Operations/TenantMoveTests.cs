using System.Net;
using System.Text.Json;
using Npgsql;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Ledger;
using TenantEvents.Tests.Support;

namespace TenantEvents.Tests.Operations;

/// <summary>
/// A tenant moved to another database of its zone while it is used (`TenantEvents move-tenant`): reads answer
/// throughout, writes answer or are refused with 503 tenant-moving (never lost, never a 500), the ledger verifies in the
/// new database before the switch and after it (an auditor's offline verification of the exported bundle, checkpoints
/// from before and after the move), and the old database keeps only the append-only rows, refusing new ones.
/// </summary>
public class TenantMoveTests(AppFixture fixture) : IntegrationTest(fixture)
{
    private const string Name = "tenantevents_test_move";

    private static string OwnerOf(string database) => new NpgsqlConnectionStringBuilder(TestDatabase.OwnerConnectionString) { Database = database }.ConnectionString;

    private static async Task<long> Count(string database, string sql, Guid tenant)
    {
        await using var connection = new NpgsqlConnection(OwnerOf(database));
        await connection.OpenAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        // Bound to the tenant: row-level security holds the owner of Marten's document tables too.
        await TenantEvents.Infrastructure.Databases.Sql.SetTenantAsync(connection, transaction, tenant, CancellationToken.None);
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        command.Parameters.AddWithValue("t", tenant.ToString());
        return (long)(await command.ExecuteScalarAsync())!;
    }

    [Fact]
    public async Task a_tenant_moves_to_another_database_while_it_is_read_and_written_and_its_ledger_verifies_there()
    {
        var second = $"{Name}_b";
        await using (var connection = new NpgsqlConnection(TestDatabase.OwnerConnectionString))
        {
            await connection.OpenAsync();
            await using var drop = new NpgsqlCommand($"drop database if exists \"{second}\" with (force)", connection);
            await drop.ExecuteNonQueryAsync();
        }
        var settings = new Dictionary<string, string> { ["TenantEvents:Zones:default:Shared:0:Database"] = second };
        var db = await ServiceProcess.FreshDatabaseAsync(Name, migrate: false);
        (await ServiceProcess.MigrateAsync(db, settings: settings)).Exit.ShouldBe(0);
        var data = Directory.CreateTempSubdirectory("tenantevents-move-").FullName;
        await using var service = await ServiceProcess.StartAsync(db, data, settings);
        var clients = new ProcessClients(new Uri(service.Url), data);
        var admin = clients.As(Roles.PlatformAdmin);
        var auditor = clients.As(Roles.Auditor);

        // The tenant to move lives in the main database; another lives in the second, whose events hold the same
        // sequence numbers the moved ones had (each database numbers its own).
        var (tenant, root) = await clients.ActiveTenantAsync("travis-sheriff");
        var (neighbour, _) = await clients.ActiveTenantAsync("hays-sheriff");
        var databases = (await admin.Get("/api/platform/databases")).ShouldBe(HttpStatusCode.OK).Json.GetProperty("databases").EnumerateArray()
            .ToDictionary(d => d.GetProperty("id").GetString()!, d => d.GetProperty("tenants").GetInt64());
        databases["default"].ShouldBe(1);
        var target = $"default.{second}";
        databases[target].ShouldBe(1);
        var tenantAdmin = clients.As(Roles.TenantAdmin, tenant);
        (await tenantAdmin.Post($"/api/tenants/{tenant}/organisations", new { name = "Patrol", kind = "department", parentId = root })).ShouldBe(HttpStatusCode.Created);
        (await tenantAdmin.Post($"/api/tenants/{tenant}/service-accounts", new { name = "records", scopes = new[] { "org.read" } })).ShouldBe(HttpStatusCode.Created);
        (await auditor.Post($"/api/tenants/{tenant}/audit/checkpoints")).ShouldBe(HttpStatusCode.Created);

        // Load while it moves: one client reads, one renames (each rename acknowledged is one event).
        using var stop = new CancellationTokenSource();
        var reads = new List<HttpStatusCode>(); // (each list has one writer; read once the loads have ended)
        var writes = new List<(HttpStatusCode Status, string Name, string Body)>();
        var reader = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
                reads.Add((await admin.Get($"/api/tenants/{tenant}/organisations")).Status);
        });
        var movedAt = int.MaxValue;
        var afterMove = new TaskCompletionSource();
        var writer = Task.Run(async () =>
        {
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                var name = $"Travis County Sheriff {i}";
                var reply = await admin.Put($"/api/tenants/{tenant}/name", new { name });
                lock (writes) writes.Add((reply.Status, name, reply.Body));
                if (i >= Volatile.Read(ref movedAt) + 5) afterMove.TrySetResult(); // five more writes after the move
            }
        });
        var moved = await ServiceProcess.CommandAsync(db, ["move-tenant", tenant.ToString(), target, "--grace", "1"], settings);
        lock (writes) Volatile.Write(ref movedAt, writes.Count);
        await afterMove.Task.WaitAsync(TimeSpan.FromSeconds(60));
        stop.Cancel();
        await Task.WhenAll(reader, writer);

        moved.Exit.ShouldBe(0, moved.Output);
        moved.Output.ShouldContain("verified in " + target);
        reads.ShouldNotBeEmpty();
        reads.ShouldAllBe(status => status == HttpStatusCode.OK);
        writes.Where(w => w.Status != HttpStatusCode.OK).ShouldAllBe(w => w.Status == HttpStatusCode.ServiceUnavailable && w.Body.Contains("tenant-moving"));
        var acknowledged = writes.Where(w => w.Status == HttpStatusCode.OK).ToList();
        acknowledged.Count.ShouldBeGreaterThan(5);

        // Nothing acknowledged was lost: the tenant's stream holds its 3 lifecycle events and one per acknowledged rename,
        // and its name is the last one acknowledged.
        var record = (await admin.Get($"/api/tenants/{tenant}")).ShouldBe(HttpStatusCode.OK);
        record.ETag.ShouldBe($"\"{3 + acknowledged.Count}\"");
        record.Str("name").ShouldBe(acknowledged[^1].Name);
        var now = (await admin.Get("/api/platform/databases")).Json.GetProperty("databases").EnumerateArray()
            .ToDictionary(d => d.GetProperty("id").GetString()!, d => d.GetProperty("tenants").GetInt64());
        (now["default"], now[target]).ShouldBe((0L, 2L));
        // It lives in the second database now; the main one keeps its append-only rows and no longer its read models.
        (await Count(second, "select count(*) from tenantevents.mt_events where tenant_id = @t", tenant)).ShouldBeGreaterThan(3 + acknowledged.Count);
        (await Count(Name, "select count(*) from tenantevents.mt_doc_tenantrecord where tenant_id = @t", tenant)).ShouldBe(0);
        (await Count(Name, "select count(*) from tenantevents.tenant_data_keys where tenant_id::text = @t", tenant)).ShouldBe(0);
        (await Count(Name, "select count(*) from tenantevents.mt_events where tenant_id = @t", tenant)).ShouldBeGreaterThan(0);
        // The old database refuses the tenant's events, whoever appends them (here the owner itself).
        await using (var old = new NpgsqlConnection(OwnerOf(Name)))
        {
            await old.OpenAsync();
            await using var append = new NpgsqlCommand(
                "insert into tenantevents.mt_events (seq_id, id, stream_id, version, data, type, timestamp, tenant_id, mt_dotnet_type) " +
                "select nextval('tenantevents.mt_events_sequence'), gen_random_uuid(), stream_id, version + 1000, data, type, timestamp, tenant_id, mt_dotnet_type " +
                "from tenantevents.mt_events where tenant_id = @t limit 1", old);
            append.Parameters.AddWithValue("t", tenant.ToString());
            (await Should.ThrowAsync<PostgresException>(() => append.ExecuteNonQueryAsync())).SqlState.ShouldBe("TE002");
        }

        // ...and so does it every other guarded write of the tenant, with the service role's password too.
        await using (var old = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(TestDatabase.ConnectionString) { Database = Name }.ConnectionString))
        {
            await old.OpenAsync();
            await using var transaction = await old.BeginTransactionAsync();
            await TenantEvents.Infrastructure.Databases.Sql.SetTenantAsync(old, transaction, tenant, CancellationToken.None);
            await using var write = new NpgsqlCommand(
                "insert into tenantevents.tenant_roles (tenant_id, name, description, permissions) values (@t, 'late', 'a write that came late', '{}')", old, transaction);
            write.Parameters.AddWithValue("t", tenant.ToString());
            (await Should.ThrowAsync<PostgresException>(() => write.ExecuteNonQueryAsync())).SqlState.ShouldBe("TE002");
        }

        // It goes on in its new database: a write, a checkpoint, and the whole log verified offline by an auditor.
        (await tenantAdmin.Post($"/api/tenants/{tenant}/organisations", new { name = "Investigations", kind = "department", parentId = root }))
            .ShouldBe(HttpStatusCode.Created);
        (await auditor.Post($"/api/tenants/{tenant}/audit/checkpoints")).ShouldBe(HttpStatusCode.Created);
        var bundle = JsonSerializer.Deserialize<AuditBundle>((await auditor.Get($"/api/tenants/{tenant}/audit/export")).ShouldBe(HttpStatusCode.OK).Body,
            AuditBundle.Json)!;
        var key = NoteKey.ParseVerifier((await admin.Get("/api/audit/log-key")).ShouldBe(HttpStatusCode.OK).Str("verifierKey"));
        var report = BundleVerifier.Verify(bundle, key);
        report.Problems.ShouldBeEmpty();
        report.Verified.ShouldBeTrue();
        report.SignedSize.ShouldBe(report.Entries);
        // The neighbour was not disturbed; the tenant is listed once.
        (await admin.Get($"/api/tenants/{neighbour}")).ShouldBe(HttpStatusCode.OK);

        // A move whose copy does not verify is not made: the neighbour's log does not match a checkpoint it "signed"
        // (a row written straight into its database), so its copy is rolled back, it stays, and its writes go on.
        await using (var forged = new NpgsqlConnection(OwnerOf(second)))
        {
            await forged.OpenAsync();
            await using var insert = new NpgsqlCommand(
                "insert into tenantevents.audit_checkpoints (tenant_id, tree_size, root_hash, note, created_at) values (@t, 1, '\\x00'::bytea, 'forged', now())", forged);
            insert.Parameters.AddWithValue("t", neighbour.ToString());
            await insert.ExecuteNonQueryAsync();
        }
        var refusedMove = await ServiceProcess.CommandAsync(db, ["move-tenant", neighbour.ToString(), "default", "--grace", "0"], settings);
        refusedMove.Exit.ShouldBe(1, refusedMove.Output);
        refusedMove.Output.ShouldContain("not the one its checkpoint signed");
        refusedMove.Output.ShouldContain("not moved; writes resumed");
        (await admin.Get($"/api/tenants/{neighbour}")).ShouldBe(HttpStatusCode.OK).Json.GetProperty("storage").GetProperty("database").GetString().ShouldBe(target);
        (await admin.Put($"/api/tenants/{neighbour}/name", new { name = "Hays County Sheriff" })).ShouldBe(HttpStatusCode.OK);
        (await Count(Name, "select count(*) from tenantevents.mt_streams where tenant_id = @t", neighbour)).ShouldBe(0);
        // A tenant moves only within its kind, and within its zone.
        (await ServiceProcess.CommandAsync(db, ["move-tenant", tenant.ToString(), "no-such-database"], settings)).Exit.ShouldBe(1);
        var listed = (await admin.Get("/api/tenants?limit=200")).ShouldBe(HttpStatusCode.OK).Json.GetProperty("items").EnumerateArray();
        listed.Count(t => t.GetProperty("id").GetGuid() == tenant).ShouldBe(1,
            $"records in {Name}: {await Count(Name, "select count(*) from tenantevents.mt_doc_tenantrecord where tenant_id = @t", tenant)}, in {second}: " +
            $"{await Count(second, "select count(*) from tenantevents.mt_doc_tenantrecord where tenant_id = @t", tenant)}");
    }
}
