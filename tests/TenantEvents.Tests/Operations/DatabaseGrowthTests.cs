using System.Net;
using Npgsql;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Tests.Support;

namespace TenantEvents.Tests.Operations;

/// <summary>
/// Growth past one database, as an operator does it: a zone's shared databases in the configuration, `migrate` run while
/// the service runs, new tenants placed where there is room (the least full first), a full zone refusing new tenants
/// with a clear 503 and storing nothing, and the operator's view of it all (GET /api/platform/databases).
/// </summary>
public class DatabaseGrowthTests(AppFixture fixture) : IntegrationTest(fixture)
{
    private const string Name = "tenantevents_test_growth";

    private static async Task Drop(params string[] databases)
    {
        await using var connection = new NpgsqlConnection(TestDatabase.OwnerConnectionString);
        await connection.OpenAsync();
        foreach (var database in databases)
        {
            await using var drop = new NpgsqlCommand($"drop database if exists \"{database}\" with (force)", connection);
            await drop.ExecuteNonQueryAsync();
        }
    }

    private static async Task<Dictionary<string, (long Tenants, int Capacity)>> Report(ProcessClients clients) =>
        (await clients.As(Roles.PlatformAdmin).Get("/api/platform/databases")).ShouldBe(HttpStatusCode.OK).Json.GetProperty("databases").EnumerateArray()
        .ToDictionary(d => d.GetProperty("id").GetString()!, d => (d.GetProperty("tenants").GetInt64(), d.GetProperty("capacity").GetInt32()));

    private static async Task<string> DatabaseOf(ProcessClients clients, Guid tenant) =>
        (await clients.As(Roles.PlatformAdmin).Get($"/api/tenants/{tenant}")).ShouldBe(HttpStatusCode.OK).Json.GetProperty("storage")
        .GetProperty("database").GetString()!;

    [Fact]
    public async Task a_zone_grows_by_shared_databases_added_while_the_service_runs_and_new_tenants_go_where_there_is_room()
    {
        var (eu, second) = ($"{Name}_eu", $"{Name}_b");
        var added = $"{Name}_eu2";
        await Drop(eu, second, added);
        var settings = new Dictionary<string, string>
        {
            ["TenantEvents:Zones:eu:Database"] = eu, ["TenantEvents:Zones:eu:Codes:0"] = "DE", ["TenantEvents:Zones:eu:Capacity"] = "2",
            // The default zone has two shared databases from the start: the main one and a second.
            ["TenantEvents:Zones:default:Shared:0:Database"] = second,
        };
        var db = await ServiceProcess.FreshDatabaseAsync(Name, migrate: false);
        var migrated = await ServiceProcess.MigrateAsync(db, settings: settings);
        migrated.Exit.ShouldBe(0, migrated.Output);
        var data = Directory.CreateTempSubdirectory("tenantevents-growth-").FullName;
        await using var service = await ServiceProcess.StartAsync(db, data, settings);
        var clients = new ProcessClients(new Uri(service.Url), data);

        // Two shared databases in one zone: each next tenant goes to the least full.
        var us = new List<Guid>();
        for (var i = 0; i < 4; i++) us.Add((await clients.ActiveTenantAsync($"county-{i}")).Tenant);
        (await Task.WhenAll(us.Select(t => DatabaseOf(clients, t)))).Order().ShouldBe(["default", "default", $"default.{second}", $"default.{second}"]);

        // The eu zone holds two; the third is refused, clearly, with nothing stored.
        var first = (await clients.ActiveTenantAsync("berlin-police", "DE", null, "commercial-saas")).Tenant;
        (await clients.ActiveTenantAsync("hamburg-police", "DE", null, "commercial-saas")).Tenant.ShouldNotBe(first);
        var admin = clients.As(Roles.PlatformAdmin);
        var refused = await admin.Post("/api/tenants", TenantRequest("munich-police", "commercial-saas", "DE", null));
        refused.ShouldBeProblem(HttpStatusCode.ServiceUnavailable, "zone-full");
        (await admin.Get("/api/tenants?limit=200")).ShouldBe(HttpStatusCode.OK).Body.ShouldNotContain("munich-police");
        var full = await Report(clients);
        full["eu"].ShouldBe((2L, 2));
        full["default"].Tenants.ShouldBe(2);

        // The operator adds a shared database to the zone and runs migrate while the service runs: no restart.
        settings["TenantEvents:Zones:eu:Shared:0:Database"] = added;
        settings["TenantEvents:Zones:eu:Shared:0:Capacity"] = "10";
        var grown = await ServiceProcess.MigrateAsync(db, settings: settings);
        grown.Exit.ShouldBe(0, grown.Output);
        var (munich, root) = await clients.ActiveTenantAsync("munich-police", "DE", null, "commercial-saas");
        (await DatabaseOf(clients, munich)).ShouldBe($"eu.{added}");
        // Its API answers, and what it writes lands in the new database.
        (await clients.As(Roles.TenantAdmin, munich).Post($"/api/tenants/{munich}/organisations", new { name = "Kriminalpolizei", kind = "department", parentId = root }))
            .ShouldBe(HttpStatusCode.Created);
        await using (var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(TestDatabase.OwnerConnectionString) { Database = added }.ConnectionString))
        {
            await connection.OpenAsync();
            await using var count = new NpgsqlCommand("select count(*) from tenantevents.mt_events where tenant_id = @t", connection);
            count.Parameters.AddWithValue("t", munich.ToString());
            ((long)(await count.ExecuteScalarAsync())!).ShouldBeGreaterThan(3);
        }
        var after = await Report(clients);
        after[$"eu.{added}"].ShouldBe((1L, 10));
        after["eu"].ShouldBe((2L, 2));
    }
}
