using System.Diagnostics;
using System.Net;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Keys;
using TenantEvents.Tests.Support;

namespace TenantEvents.Tests.Operations;

/// <summary>
/// The restore drill (ops/backup): a database with two tenants is backed up (dumps and keys apart), one tenant is then
/// crypto-shredded, and the database is lost. After `restore`, the other tenant's sealed data opens and its ledger
/// verifies offline; the shredded tenant stays shredded (410, no key came back), and the next backup purges it from the
/// earlier key backup. The shredding here destroys the tenant's keys through the key service, as the decommission's last
/// step does (its lifecycle needs 30 days: DecommissionTests cover it with the test clock). Run by `make test-ops`.
/// </summary>
[Trait("Category", "ops")]
public class BackupRestoreTests(AppFixture fixture) : IntegrationTest(fixture)
{
    [Fact]
    public async Task a_restore_brings_back_every_tenant_but_the_one_shredded_since_and_each_ledger_verifies()
    {
        const string name = "tenantevents_test_restore";
        var db = await ServiceProcess.FreshDatabaseAsync(name);
        var folder = Directory.CreateTempSubdirectory("tenantevents-restore-").FullName;
        var backups = Directory.CreateTempSubdirectory("tenantevents-backups-").FullName;
        Guid kept, shredded;
        var units = new List<Guid>();
        int port;
        await using (var service = await ServiceProcess.StartAsync(db, folder))
        {
            port = service.Port;
            var clients = new ProcessClients(new Uri(service.Url), folder);
            (kept, var root) = await clients.ActiveTenantAsync("restore-kept");
            (shredded, _) = await clients.ActiveTenantAsync("restore-shredded");
            var admin = clients.As(Roles.TenantAdmin, kept);
            for (var i = 0; i < 3; i++)
                units.Add(Guid.Parse((await admin.Post($"/api/tenants/{kept}/organisations", new { parentId = root, name = $"Unit {i}", kind = "unit" }))
                    .ShouldBe(HttpStatusCode.Created).Str("id")));
            var auditor = service.Client(ServiceProcess.Token(folder, Roles.Auditor, "auditor"));
            (await auditor.Post($"/api/tenants/{kept}/audit/checkpoints")).Status.ShouldBeOneOf(HttpStatusCode.Created, HttpStatusCode.OK);
        }

        var first = Path.Combine(backups, "first");
        var backup = await Script("backup.sh", first, folder, name);
        backup.ShouldContain("dumped 1 database(s)");
        Directory.Exists(Path.Combine(first + ".keys", "tenants", shredded.ToString())).ShouldBeTrue("the backup holds the tenant's keys");
        // The database dump holds no key (what a stolen dump holds opens nothing).
        Directory.EnumerateFiles(first, "*", SearchOption.AllDirectories).ShouldAllBe(f => !f.EndsWith(".key") && !f.EndsWith(".bin"));

        // After the backup: the tenant is shredded, then the database is lost.
        await new LocalKeyService(folder).DestroyKeysAsync(shredded, CancellationToken.None);
        await TestDatabase.SuperuserAsync($"drop database {name} with (force)");

        var restore = await Script("restore.sh", first, folder, name);
        restore.ShouldContain($"restored {name}");
        restore.ShouldContain("1 shredded tenant(s) left shredded");
        restore.ShouldContain("the wrapped data keys of 1 shredded tenant(s) deleted");
        Directory.Exists(Path.Combine(folder, "keys", "tenants", shredded.ToString())).ShouldBeFalse("no key of the shredded tenant came back");

        // At the same address as before (the public address names the audit log its checkpoints sign).
        await using (var service = await ServiceProcess.StartAsync(db, folder, port: port))
        {
            var platform = service.Client(ServiceProcess.Token(folder, Roles.PlatformAdmin, "op"));
            // The kept tenant's sealed data opens: its record and its organisations, as they were.
            (await platform.Get($"/api/tenants/{kept}")).ShouldBe(HttpStatusCode.OK).Str("state").ShouldBe("active");
            var root = await new ProcessClients(new Uri(service.Url), folder).RootAsync(kept);
            var listed = (await platform.Get($"/api/tenants/{kept}/organisations/{root}/descendants")).ShouldBe(HttpStatusCode.OK).Json
                .GetProperty("items").EnumerateArray().Select(o => o.GetProperty("id").GetGuid()).ToList();
            foreach (var unit in units) listed.ShouldContain(unit);
            // Its ledger verifies offline, against the log key the restored service publishes.
            var bundle = Path.Combine(backups, "kept.bundle.json");
            var export = await service.Client(ServiceProcess.Token(folder, Roles.Auditor, "auditor")).GetAsync($"/api/tenants/{kept}/audit/export");
            export.StatusCode.ShouldBe(HttpStatusCode.OK);
            await File.WriteAllBytesAsync(bundle, await export.Content.ReadAsByteArrayAsync());
            var key = (await service.Client(null).Get("/api/audit/log-key")).ShouldBe(HttpStatusCode.OK).Str("verifierKey");
            var output = new StringWriter();
            TenantEvents.Cli.Program.Run(["audit", "verify", "--bundle", bundle, "--key", key], output, output).ShouldBe(0, output.ToString());
            output.ToString().ShouldContain("VERIFIED");

            // The shredded tenant is gone, not an error: its records came back, its keys did not, and nothing follows it
            // as a live tenant (no lag that would never end).
            (await platform.Get($"/api/tenants/{shredded}")).ShouldBeProblem(HttpStatusCode.Gone, "tenant-decommissioned");
            await using var platformSource = Npgsql.NpgsqlDataSource.Create(db.Platform);
            var followed = await TenantEvents.Audit.LogPositions.ReadAsync(platformSource, "tenantevents", "audit_positions", CancellationToken.None);
            followed.ShouldContain(b => b.Tenant == kept);
            followed.ShouldNotContain(b => b.Tenant == shredded);
        }

        // The next backup purges the shredded tenant's keys from the earlier key backup too.
        var second = await Script("backup.sh", Path.Combine(backups, "second"), folder, name);
        second.ShouldContain("shredded tenants purged from earlier key backups: 1");
        Directory.Exists(Path.Combine(first + ".keys", "tenants", shredded.ToString())).ShouldBeFalse();
        Directory.Exists(Path.Combine(first + ".keys", "tenants", kept.ToString())).ShouldBeTrue();
    }

    [Fact]
    public async Task a_damaged_backup_restores_nothing()
    {
        const string name = "tenantevents_test_restore_damaged";
        await ServiceProcess.FreshDatabaseAsync(name);
        var folder = Directory.CreateTempSubdirectory("tenantevents-restore-").FullName;
        var backup = Path.Combine(Directory.CreateTempSubdirectory("tenantevents-backups-").FullName, "b");
        await Script("backup.sh", backup, folder, name);
        var dump = Path.Combine(backup, "databases", name + ".dump");
        var bytes = await File.ReadAllBytesAsync(dump);
        bytes[^10] ^= 0xff;
        await File.WriteAllBytesAsync(dump, bytes);
        var (exit, output) = await Run("restore.sh", backup, folder, name);
        exit.ShouldBe(1);
        output.ShouldContain("does not match its checksum");
    }

    private static async Task<string> Script(string script, string backup, string data, string database)
    {
        var (exit, output) = await Run(script, backup, data, database);
        exit.ShouldBe(0, output);
        return output;
    }

    /// <summary>ops/backup/SCRIPT against the test cluster's superuser, for one backup folder, data folder and main database.</summary>
    private static async Task<(int Exit, string Output)> Run(string script, string backup, string data, string database)
    {
        var superuser = new Npgsql.NpgsqlConnectionStringBuilder(TestDatabase.SuperuserConnectionString);
        var (exit, output, error) = await Processes.RunAsync(Path.Combine(TestDatabase.RepositoryRoot(), "ops", "backup", script), [], environment:
            new Dictionary<string, string>
            {
                ["BACKUP_DIR"] = backup, ["DATA"] = data, ["DB"] = database,
                ["PGHOST"] = superuser.Host!, ["PGPORT"] = superuser.Port.ToString(), ["PGUSER"] = superuser.Username!,
            });
        return (exit, output + error);
    }

}
