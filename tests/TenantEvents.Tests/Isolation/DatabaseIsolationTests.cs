using System.Net;
using Npgsql;
using TenantEvents.Tests.Support;

namespace TenantEvents.Tests.Isolation;

/// <summary>
/// The attacker's view inside PostgreSQL: connected as the service's own role, with no WHERE clause at all, a
/// connection sees only the rows of the tenant named in its app.tenant_id setting, and with none set it sees nothing;
/// in every database of the platform (the main one, a residency zone's, the dedicated ones).
/// </summary>
public class DatabaseIsolationTests(AppFixture fixture) : IntegrationTest(fixture)
{
    private static async Task<NpgsqlConnection> AppConnection(Guid? tenant, string? database = null)
    {
        var connection = new NpgsqlConnection(database is null ? TestDatabase.ConnectionString
            : new NpgsqlConnectionStringBuilder(TestDatabase.ConnectionString) { Database = database }.ConnectionString);
        await connection.OpenAsync();
        if (tenant is { } t)
        {
            await using var set = new NpgsqlCommand("select set_config('app.tenant_id', @t, false)", connection);
            set.Parameters.AddWithValue("t", t.ToString());
            await set.ExecuteScalarAsync();
        }
        return connection;
    }

    private static async Task<List<string>> Column(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await using var reader = await command.ExecuteReaderAsync();
        var values = new List<string>();
        while (await reader.ReadAsync()) values.Add(reader.GetValue(0).ToString()!);
        return values;
    }

    /// <summary>Every table of the schema that has a tenant_id column: the tables that hold tenant data.</summary>
    private static async Task<List<string>> TenantTables(string? ownerConnectionString = null)
    {
        await using var owner = new NpgsqlConnection(ownerConnectionString ?? TestDatabase.OwnerConnectionString);
        await owner.OpenAsync();
        return await Column(owner, """
            select table_name from information_schema.columns
            where table_schema = 'tenantevents' and column_name = 'tenant_id' order by table_name
            """);
    }

    [Fact]
    public async Task every_table_with_a_tenant_id_has_row_level_security_in_every_database()
    {
        var databases = await TestDatabase.Databases();
        foreach (var expected in new[] { "default", "default-d1", "default-d2", "eu", "eu-d1" })
            databases.Select(d => d.Id).ShouldContain(expected);
        foreach (var (id, _, connectionString) in databases)
        {
            await using var owner = new NpgsqlConnection(connectionString);
            await owner.OpenAsync();
            var unprotected = await Column(owner, """
                select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
                join information_schema.columns col on col.table_schema = n.nspname and col.table_name = c.relname and col.column_name = 'tenant_id'
                where n.nspname = 'tenantevents' and c.relkind in ('r', 'p') and not c.relrowsecurity
                """);
            unprotected.ShouldBeEmpty(id);
            var tables = await TenantTables(connectionString);
            foreach (var table in new[] { "mt_events", "mt_streams", "mt_doc_tenantrecord", "tenant_data_keys", "subject_data_keys" })
                tables.ShouldContain(table, id);
        }
    }

    [Fact]
    public async Task a_select_without_where_on_a_tenant_connection_returns_only_that_tenants_rows()
    {
        var a = await Active("agency-a");
        var a2 = await Active("agency-a2");
        var b = await Active("agency-b", template: "government-services", country: "DE", subdivision: "DE-BE");
        var c = await Active("agency-c", template: "intelligence", subdivision: "US-VA");
        await Admin.Post($"/api/tenants/{b}/suspend", new { reason = "b's own business" });
        var home = new Dictionary<Guid, string> { [a] = "default", [a2] = "default", [b] = "eu" };

        foreach (var (id, database, connectionString) in await TestDatabase.Databases())
        foreach (var (tenant, events) in new[] { (a, 3), (a2, 3), (b, 4), (c, 3) })
        {
            var lives = home.TryGetValue(tenant, out var zone) ? zone == id : id.StartsWith("default-d");
            await using var connection = await AppConnection(tenant, database);
            foreach (var table in await TenantTables(connectionString))
                (await Column(connection, $"select tenant_id from tenantevents.{table}")).ShouldAllBe(t => t == tenant.ToString(), $"{id}.{table}");
            var streams = await Column(connection, "select id from tenantevents.mt_streams");
            (await Column(connection, "select tenant_id from tenantevents.org_nodes")).ShouldAllBe(t => t == tenant.ToString());
            if (!lives) continue;
            if (!home.ContainsKey(tenant) && streams.Count == 0) continue; // the dedicated tenant lives in one of the two dedicated databases
            (await Column(connection, $"select seq_id from tenantevents.mt_events where stream_id = '{tenant}'")).Count.ShouldBe(events);
            streams.ShouldContain(tenant.ToString());
            (await Column(connection, "select id from tenantevents.mt_doc_tenantrecord")).ShouldBe([tenant.ToString()]);
        }
    }

    [Fact]
    public async Task a_connection_with_no_tenant_set_sees_nothing_in_any_database()
    {
        await Active("agency-a");
        await Active("agency-b", template: "government-services", country: "FR", subdivision: null);
        await Active("agency-c", template: "intelligence", subdivision: "US-VA");
        foreach (var (id, database, connectionString) in await TestDatabase.Databases())
        {
            await using var connection = await AppConnection(null, database);
            foreach (var table in await TenantTables(connectionString))
                (await Column(connection, $"select count(*) from tenantevents.{table}")).ShouldBe(["0"], $"{id}.{table}");
        }
    }

    [Fact]
    public async Task the_service_role_cannot_write_into_another_tenant_or_switch_the_protection_off()
    {
        var a = await Active("agency-a");
        var b = await Active("agency-b");
        await using var connection = await AppConnection(a);

        async Task Refused(string sql)
        {
            await using var command = new NpgsqlCommand(sql, connection);
            await Should.ThrowAsync<PostgresException>(() => command.ExecuteNonQueryAsync(), sql);
        }

        // Rows of B are invisible, so updates and deletes of them touch nothing...
        await using (var update = new NpgsqlCommand($"update tenantevents.mt_streams set version = 99 where id = '{b}'", connection))
            (await update.ExecuteNonQueryAsync()).ShouldBe(0);
        // (Events are append-only for the service's role altogether: no DELETE privilege on them, whoever's they are.)
        await Refused($"delete from tenantevents.mt_events where tenant_id = '{b}'");
        // ...and a row claiming to be B's is refused.
        await Refused($"insert into tenantevents.mt_streams (id, type, version, tenant_id) values ('{Guid.NewGuid()}', 'tenant', 1, '{b}')");
        await Refused("set row_security = off; select count(*) from tenantevents.mt_events");
        await Refused("alter table tenantevents.mt_events disable row level security");
        await Refused("drop policy tenant_isolation on tenantevents.mt_events");
        await Refused("set role tenantevents_platform");
        await Refused("set role tenantevents_owner");
        await Refused("create table tenantevents.sneaky (id int)");

        (await Read(b)).Json.GetProperty("version").GetInt32().ShouldBe(3);
        (await EventCount(b)).ShouldBe(3);
    }

    [Fact]
    public async Task the_service_role_owns_nothing_and_cannot_bypass_row_level_security()
    {
        await using var connection = await AppConnection(null);
        (await Column(connection, "select rolbypassrls::text || rolsuper::text from pg_roles where rolname = current_user")).ShouldBe(["falsefalse"]);
        (await Column(connection, """
            select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace
            where n.nspname = 'tenantevents' and pg_get_userbyid(c.relowner) = current_user
            """)).ShouldBe(["0"]);
    }

    [Fact]
    public async Task code_that_forgets_to_name_a_tenant_gets_an_error_not_a_default_tenant()
    {
        await Active("agency-a");
        Should.Throw<Marten.Exceptions.DefaultTenantUsageDisabledException>(() => Fixture.Store.QuerySession());
        Should.Throw<Marten.Exceptions.DefaultTenantUsageDisabledException>(() => Fixture.Store.LightweightSession());
    }

    [Fact]
    public async Task platform_listings_still_span_tenants_and_databases_under_the_platform_role()
    {
        var a = await Active("agency-a");
        var b = await Active("agency-b", template: "government-services", country: "AT", subdivision: null);
        var c = await Active("agency-c", template: "intelligence", subdivision: "US-VA");
        var d = await Active("agency-d");
        (await As("analyst").Get("/api/tenants")).ShouldBe(HttpStatusCode.OK)
            .Json.GetProperty("items").EnumerateArray().Select(t => t.GetProperty("id").GetGuid()).ShouldBe([a, b, c, d]);

        // Page by page, one tenant at a time, across the databases: each once, in request order.
        var seen = new List<Guid>();
        string? cursor = null;
        do
        {
            var page = (await As("analyst").Get("/api/tenants?limit=1" + (cursor is null ? "" : "&cursor=" + cursor))).ShouldBe(HttpStatusCode.OK).Json;
            seen.AddRange(page.GetProperty("items").EnumerateArray().Select(t => t.GetProperty("id").GetGuid()));
            cursor = page.TryGetProperty("nextCursor", out var next) ? next.GetString() : null;
        } while (cursor is not null);
        seen.ShouldBe([a, b, c, d]);
    }
}
