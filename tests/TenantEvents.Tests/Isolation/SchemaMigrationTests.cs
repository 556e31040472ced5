using System.Net;
using Alba;
using Npgsql;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Databases;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Tests.Support;

namespace TenantEvents.Tests.Isolation;

/// <summary>The schema registry's migrations: released ones never change, and a database of the previous release upgrades with its data.</summary>
public class SchemaMigrationPinTests
{
    /// <summary>
    /// A released migration ran in operators' databases as it was: editing it would leave theirs different from a new one,
    /// and `migrate` refuses a database whose recorded checksum differs. Change the schema with a new migration and pin it here.
    /// </summary>
    [Fact]
    public void released_migrations_are_never_edited()
    {
        string[] pinned =
        [
            "directory 1 fdd9e8c67890eb4cac13eeac9b9ed7cbc0d7563c8490d19bdc673ed1c310802a",
            "directory 2 e0767b2ba03e5d95c2a1ce94682a86c29db711f2af63e99b4f5ab3d9d4baf340",
            "directory 3 4683c8274164ca3fa94da95c5889022ce511ed68bcf946431193cab0fa20c264",
            "directory 4 dea1ca902fa9e677d438076a11c362e408ce7379754b8bf54ff0702a1f79c58b",
            "tenants 1 a715c675c29d2e017582744ff83fc0d30bd50fd048a0b1cd5eae2f5c2a9246ad",
            "tenants 2 ae9efb00646319897ff04102ecf16abf8f4abb185d9ce9e7a2a3576bbebd1519",
            "tenants 3 9c56863ce58fa99ec3d4a392b9e0aefcba94bb10704508360a9d6bb447dfd04a",
            "tenants 4 9829f8216f85597f44a357325ef62945b03d3269b1fe6eaec840e5223e5aaa47",
            "tenants 5 212cfa84dfc76faa8e887f32c5db8e0c8c779189e326b6dfedd8aeabe22ff5ec",
        ];
        var tracks = new[] { SchemaRegistry.DirectoryTrack, SchemaRegistry.TenantsTrack };
        foreach (var track in tracks)
            SchemaRegistry.Track(track).Select(m => m.Version).ShouldBe(Enumerable.Range(1, SchemaRegistry.Track(track).Count), $"{track}: 1, 2, 3 ... without gaps");
        tracks.SelectMany(track => SchemaRegistry.Track(track).Select(m => $"{track} {m.Version} {m.Checksum}")).ToArray()
            .ShouldBe(pinned, "a released migration's SQL changed: restore it, and make the change a new migration");
    }
}

public class SchemaMigrationTests(AppFixture fixture) : IntegrationTest(fixture)
{
    /// <summary>`migrate`'s arguments for a schema of its own, with this fixture's key service (its data folder), as `make run` gives it the service's.</summary>
    private string[] Arguments(string schema, int? to = null) =>
    [
        $"--TenantEvents:DatabaseSchema={schema}", $"--TenantEvents:DataFolder={Fixture.DataFolder}",
        // The zones of the run (main and eu), without dedicated databases: two databases are enough to see every track.
        "--TenantEvents:Zones:default:DedicatedPool=0", "--TenantEvents:Zones:eu:DedicatedPool=0",
        .. to is { } version ? new[] { $"--to={version}" } : [],
    ];

    private static async Task DropSchemas(params string[] schemas)
    {
        foreach (var database in new[] { TestDatabase.MainDatabase, TestDatabase.EuDatabase })
        {
            await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(TestDatabase.OwnerConnectionString) { Database = database }.ConnectionString);
            await connection.OpenAsync();
            foreach (var schema in schemas)
            {
                await using var drop = new NpgsqlCommand($"drop schema if exists \"{schema}\" cascade", connection);
                await drop.ExecuteNonQueryAsync();
            }
        }
    }

    private static async Task<NpgsqlConnection> Owner(string? database = null)
    {
        var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(TestDatabase.OwnerConnectionString)
            { Database = database ?? TestDatabase.MainDatabase }.ConnectionString);
        await connection.OpenAsync();
        return connection;
    }

    private static async Task<List<string>> Strings(NpgsqlConnection connection, string sql, params object[] values)
    {
        await using var command = Sql.Command(connection, null, sql, values);
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<string>();
        while (await reader.ReadAsync()) rows.Add(reader.IsDBNull(0) ? "" : reader.GetValue(0).ToString()!);
        return rows;
    }

    /// <summary>
    /// Everything a schema is made of (columns, indexes, constraints, functions, triggers, policies, row-level security and
    /// grants), with its own name taken out (and the time Marten wrote into one column default).
    /// </summary>
    private static Task<List<string>> Catalog(NpgsqlConnection connection, string schema) => Strings(connection, """
        select 'column ' || table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' || coalesce(regexp_replace(replace(column_default, $1, 'S'), '^''[0-9]{4}-[^'']*''', 'a time'), '')
          from information_schema.columns where table_schema = $1
        union all select 'index ' || indexname || ' ' || replace(indexdef, $1, 'S') from pg_indexes where schemaname = $1
        union all select 'function ' || p.proname || ' ' || md5(replace(pg_get_functiondef(p.oid), $1, 'S'))
          from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname = $1
        union all select 'trigger ' || c.relname || '.' || t.tgname || ' ' || md5(replace(pg_get_triggerdef(t.oid), $1, 'S'))
          from pg_trigger t join pg_class c on c.oid = t.tgrelid join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1 and not t.tgisinternal
        union all select 'policy ' || tablename || '.' || policyname || ' ' || coalesce(replace(qual, $1, 'S'), '') from pg_policies where schemaname = $1
        union all select 'constraint ' || c.relname || '.' || k.conname || ' ' || replace(pg_get_constraintdef(k.oid), $1, 'S')
          from pg_constraint k join pg_class c on c.oid = k.conrelid join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1
        union all select 'table ' || c.relname || ' rls ' || c.relrowsecurity || ' ' || coalesce(array_to_string(c.relacl, ','), '')
          from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1 and c.relkind in ('r', 'p')
        order by 1
        """, schema);

    private static async Task SameSchema(NpgsqlConnection connection, string schema, string expected, string what)
    {
        var (actual, wanted) = (await Catalog(connection, schema), await Catalog(connection, expected));
        actual.Except(wanted).ShouldBeEmpty(what + ": only in the one under test");
        wanted.Except(actual).ShouldBeEmpty(what + ": missing from the one under test");
    }

    private static async Task<Guid> RootIn(HttpClient admin, Guid tenant) =>
        (await admin.Get($"/api/tenants/{tenant}/organisations")).ShouldBe(HttpStatusCode.OK).Json.GetProperty("items").EnumerateArray()
        .Single(o => !o.TryGetProperty("parentId", out var p) || p.ValueKind == System.Text.Json.JsonValueKind.Null).GetProperty("id").GetGuid();

    private static async Task<Dictionary<string, long>> Counts(NpgsqlConnection connection, string schema, params string[] tables)
    {
        var counts = new Dictionary<string, long>();
        foreach (var table in tables)
            counts[table] = long.Parse((await Strings(connection, $"select count(*) from \"{schema}\".{table}")).Single());
        return counts;
    }

    /// <summary>
    /// The release before this one (schema version 1) stored access states without a MAC. A database of that release is
    /// made here: the service writes a tenant, its tree and grants, and then the database is put back to the previous
    /// release's shape (the columns, table, function and trigger of migration 2 dropped, its record removed), checked
    /// against a database made fresh by `migrate --to 1`. `migrate` then upgrades it: every row is kept, the schema is
    /// exactly that of a fresh database, the honest access state is sealed (the tenant works on the new release), and a
    /// state someone changed with the service role's password before the upgrade is not laundered by it: neither tables
    /// changed alone (eu database) nor tables changed together with a revoked grant's sealed event copied back into the
    /// stream (main database, beside the honest tenant): both tenants stay refused.
    /// </summary>
    [Fact]
    public async Task a_database_of_the_previous_release_upgrades_keeping_its_data_and_sealing_honest_access_states()
    {
        var suffix = Guid.NewGuid().ToString("N")[..8];
        var (old, fresh) = ($"upgrade_{suffix}", $"fresh_{suffix}");
        await DropSchemas(old, fresh);
        try
        {
            await DatabaseMigration.MigrateAsync(Arguments(old));
            Guid honest, tampered, replayed;
            Guid root;
            string[] revokedGrant;
            await using (var host = await Fixture.StartHost(new Dictionary<string, string> { ["TenantEvents:DatabaseSchema"] = old }))
            {
                HttpClient Client(string role, string subject, Guid? tenant = null) => Fixture.SecondClient(host, Fixture.Token(role, subject, tenant));
                async Task<Guid> ActiveTenant(string slug, string template, string country, string subdivision)
                {
                    var id = Guid.Parse((await Client(Roles.PlatformAdmin, "alice").Post("/api/tenants", TenantRequest(slug, template, country, subdivision)))
                        .ShouldBe(HttpStatusCode.Created).Str("id"));
                    (await Client(Roles.PlatformApprover, "bob").Post($"/api/tenants/{id}/approve")).ShouldBe(HttpStatusCode.OK);
                    (await Client(Roles.PlatformAdmin, "alice").Post($"/api/tenants/{id}/provision")).ShouldBe(HttpStatusCode.OK);
                    return id;
                }
                honest = await ActiveTenant("upgrade-honest", "law-enforcement", "US", "US-TX");
                tampered = await ActiveTenant("upgrade-tampered", "government-services", "DE", "DE-BE"); // in the eu zone's database
                replayed = await ActiveTenant("upgrade-replayed", "law-enforcement", "US", "US-TX"); // beside the honest one
                foreach (var tenant in new[] { honest, tampered, replayed })
                {
                    var admin = Client(Roles.TenantAdmin, "admin", tenant);
                    var tree = (await admin.Get($"/api/tenants/{tenant}/organisations")).ShouldBe(HttpStatusCode.OK).Json.GetProperty("items");
                    root = tree.EnumerateArray().Single(o => !o.TryGetProperty("parentId", out var p) || p.ValueKind == System.Text.Json.JsonValueKind.Null)
                        .GetProperty("id").GetGuid();
                    (await admin.Post($"/api/tenants/{tenant}/organisations", new { parentId = root, name = "Patrol Division", kind = "unit" }))
                        .ShouldBe(HttpStatusCode.Created);
                    (await admin.Post($"/api/tenants/{tenant}/organisations/{root}/grants",
                            new { principal = new { kind = "user", id = "olga" }, role = tenant == tampered ? "viewer" : "records-clerk" }))
                        .ShouldBe(HttpStatusCode.Created);
                }
            }

            // Mallory was an administrator of the third tenant once; the grant was revoked.
            await using (var host = await Fixture.StartHost(new Dictionary<string, string> { ["TenantEvents:DatabaseSchema"] = old }))
            {
                var admin = Fixture.SecondClient(host, Fixture.Token(Roles.TenantAdmin, "admin", replayed));
                var replayedRoot = await RootIn(admin, replayed);
                var grant = (await admin.Post($"/api/tenants/{replayed}/organisations/{replayedRoot}/grants",
                    new { principal = new { kind = "user", id = "mallory" }, role = "agency-admin" })).ShouldBe(HttpStatusCode.Created).Str("id");
                await using (var main = await Owner())
                    revokedGrant = (await Strings(main, $"""
                        select concat_ws('|', id, org_id, principal_kind, principal_id, role, granted_at) from "{old}".org_grants where tenant_id = $1 and id = $2::uuid
                        """, replayed.ToString(), grant)).Single().Split('|');
                (await admin.Send(HttpMethod.Delete, $"/api/tenants/{replayed}/organisations/{replayedRoot}/grants/{grant}")).ShouldBe(HttpStatusCode.NoContent);
            }

            // The previous release's shape: migrations 2 to 5 taken back out, in both databases.
            var tables = new[] { "mt_events", "org_nodes", "org_grants", "access_versions", "tenant_data_keys", "audit_log", "mt_doc_tenantrecord" };
            var before = new Dictionary<string, Dictionary<string, long>>();
            foreach (var database in new[] { TestDatabase.MainDatabase, TestDatabase.EuDatabase })
            {
                await using var connection = await Owner(database);
                await using (var back = new NpgsqlCommand($"""
                    drop trigger access_high_water on "{old}".mt_events;
                    drop function "{old}".access_note_version();
                    drop table "{old}".access_high_water;
                    alter table "{old}".access_versions drop column state_mac, drop column mac_key_version;
                    drop trigger events_refuse_moved on "{old}".mt_events;
                    drop function "{old}".events_refuse_moved();
                    drop function "{old}".refuse_moved_rows() cascade; -- and the guards of every table that use it
                    drop table "{old}".tenant_moved_away;
                    drop table "{old}".moved_event_seqs;
                    drop table "{old}".billing_accounts, "{old}".billing_documents, "{old}".billing_series, "{old}".billed_usage,
                      "{old}".budget_refusals, "{old}".allocation_history;
                    drop table "{old}".compliance_records, "{old}".compliance_deadlines;
                    delete from "{old}".schema_migrations where track = 'tenants' and version in (2, 3, 4, 5);
                    """, connection))
                    await back.ExecuteNonQueryAsync();
                // Migration 1's ledger functions, as it made them (migration 3 replaced the leaf's).
                await using (var ledger = new NpgsqlCommand(TenantEvents.Audit.AuditSchema.Sql($"\"{old}\""), connection))
                    await ledger.ExecuteNonQueryAsync();
                before[database] = await Counts(connection, old, tables);
            }
            // Mallory, with the service role's password, gives herself the administrator's role in the old release's tables.
            await using (var eu = await Owner(TestDatabase.EuDatabase))
            {
                var tamperedRoot = (await Strings(eu, $"select id from \"{old}\".org_nodes where tenant_id = $1 and parent_id is null", tampered.ToString())).Single();
                (await Strings(eu, $"""
                    insert into "{old}".org_grants (tenant_id, id, org_id, principal_kind, principal_id, role, granted_at)
                    values ($1, $2, $3, 'user', 'mallory', 'department-admin', now()) returning 1
                    """, tampered.ToString(), Guid.CreateVersion7(), Guid.Parse(tamperedRoot))).Count.ShouldBe(1);
                before[TestDatabase.EuDatabase]["org_grants"]++;
            }

            // With the same password she copies the sealed grant event back into the third tenant's stream (the role may
            // insert events), with the next access version, and puts the row and the version back to match: tables and
            // events agree again, and only the copied seal gives it away.
            await using (var main = await Owner())
            {
                (await Strings(main, $"""
                    insert into "{old}".mt_events (seq_id, id, stream_id, version, data, type, timestamp, tenant_id, mt_dotnet_type, headers, is_archived)
                    select nextval('"{old}".mt_events_sequence'), gen_random_uuid(), e.stream_id,
                      (select max(x.version) + 1 from "{old}".mt_events x where x.tenant_id = e.tenant_id and x.stream_id = e.stream_id),
                      e.data, e.type, now(), e.tenant_id, e.mt_dotnet_type,
                      e.headers || jsonb_build_object('access_version', (select case jsonb_typeof(e.headers -> 'access_version')
                        when 'string' then to_jsonb((v.version + 1)::text) else to_jsonb(v.version + 1) end
                        from "{old}".access_versions v where v.tenant_id = e.tenant_id)),
                      false
                    from "{old}".mt_events e where e.tenant_id = $1 and e.type = 'role_granted' order by e.seq_id desc limit 1
                    returning 1
                    """, replayed.ToString())).Count.ShouldBe(1);
                (await Strings(main, $"""
                    insert into "{old}".org_grants (tenant_id, id, org_id, principal_kind, principal_id, role, granted_at)
                    values ($1, $2::uuid, $3::uuid, $4, $5, $6, $7::timestamptz) returning 1
                    """, replayed.ToString(), revokedGrant[0], revokedGrant[1], revokedGrant[2], revokedGrant[3], revokedGrant[4], revokedGrant[5])).Count.ShouldBe(1);
                (await Strings(main, $"update \"{old}\".access_versions set version = version + 1 where tenant_id = $1 returning 1", replayed.ToString())).Count.ShouldBe(1);
                before[TestDatabase.MainDatabase]["org_grants"]++;
                before[TestDatabase.MainDatabase]["mt_events"]++;
            }

            // It is what the previous release's migrations make.
            await DatabaseMigration.MigrateAsync(Arguments(fresh, to: 1));
            foreach (var database in new[] { TestDatabase.MainDatabase, TestDatabase.EuDatabase })
            {
                await using var connection = await Owner(database);
                await SameSchema(connection, old, fresh, $"{database}: the previous release's schema");
            }
            // `migrate --status` says what an upgrade would do, and does nothing.
            var (pendingBefore, status) = await DatabaseMigration.StatusAsync(Arguments(fresh));
            pendingBefore.ShouldBeTrue();
            status.ShouldContain(l => l.StartsWith("default (") && l.EndsWith("tenants at version 1 of 5"), string.Join("\n", status));
            status.ShouldContain(l => l.StartsWith("eu (") && l.EndsWith("tenants at version 1 of 5"), string.Join("\n", status));
            status.ShouldContain("  pending 2: access-state MAC and its high water (issue 18) (with a data step)");
            status.ShouldContain(l => l.StartsWith("  pending 4: billing"));
            status.ShouldContain(l => l.StartsWith("  pending 5: compliance"));
            (await DatabaseMigration.StatusAsync(Arguments(fresh))).Pending.ShouldBeTrue();
            // This release does not start on it: it says to migrate instead of failing later on a missing column.
            var refused = await Should.ThrowAsync<Exception>(() => Fixture.StartHost(new Dictionary<string, string> { ["TenantEvents:DatabaseSchema"] = fresh }));
            string.Join(" / ", Enumerable.Repeat(refused, 5).Select((e, i) => { for (var n = 0; n < i && e?.InnerException is not null; n++) e = e.InnerException; return e?.Message; }))
                .ShouldContain("this release needs 5. Run `TenantEvents migrate`");

            var applied = await DatabaseMigration.MigrateAsync(Arguments(old));
            applied.ShouldContain(line => line.StartsWith(TestDatabase.MainDatabase + ": tenants 2 ") && line.EndsWith($"1 access state(s) sealed; 1 left refused ({replayed})"),
                string.Join("\n", applied));
            applied.ShouldContain(line => line.StartsWith(TestDatabase.EuDatabase + ": tenants 2 ") && line.Contains($"0 access state(s) sealed; 1 left refused ({tampered})"));
            applied.Count(line => line.Contains(": tenants 1 ")).ShouldBe(0, "the previous release's migration is not run again");
            (await DatabaseMigration.MigrateAsync(Arguments(old))).ShouldBeEmpty("a second run has nothing to do");
            await DatabaseMigration.MigrateAsync(Arguments(fresh));
            (await DatabaseMigration.StatusAsync(Arguments(fresh))).Pending.ShouldBeFalse();
            foreach (var database in new[] { TestDatabase.MainDatabase, TestDatabase.EuDatabase })
            {
                await using var connection = await Owner(database);
                await SameSchema(connection, old, fresh, $"{database}: upgraded is exactly fresh");
                (await Counts(connection, old, tables)).ShouldBe(before[database], $"{database}: every row kept");
                (await Strings(connection, $"select count(*) from \"{old}\".access_high_water")).Single()
                    .ShouldBe(database == TestDatabase.MainDatabase ? "2" : "1", "the high water filled from the events");
            }

            // A release's history goes only forward, and an edited migration is named.
            (await Should.ThrowAsync<SchemaHistoryException>(() => DatabaseMigration.MigrateAsync(Arguments(old, to: 1)))).Message.ShouldContain("only go forward");
            await using (var main = await Owner())
            {
                (await Strings(main, $"update \"{old}\".schema_migrations set checksum = 'edited' where track = 'tenants' and version = 1 returning 1")).Count.ShouldBe(1);
                (await Should.ThrowAsync<SchemaHistoryException>(() => DatabaseMigration.MigrateAsync(Arguments(old)))).Message.ShouldContain("was edited");
            }

            // The new release serves both tenants from the upgraded database: the honest one as before, the tampered one not at all.
            await using (var host = await Fixture.StartHost(new Dictionary<string, string> { ["TenantEvents:DatabaseSchema"] = old }))
            {
                HttpClient Client(string role, string subject, Guid? tenant = null) => Fixture.SecondClient(host, Fixture.Token(role, subject, tenant));
                var tree = (await Client(Roles.TenantAdmin, "admin", honest).Get($"/api/tenants/{honest}/organisations")).ShouldBe(HttpStatusCode.OK);
                tree.Body.ShouldContain("Patrol Division");
                var olga = Fixture.SecondClient(host, DevTokens.Issue(Fixture.TokenKey, "olga", [Roles.TenantMember], honest, TimeSpan.FromMinutes(30), DateTime.UtcNow));
                (await olga.Get($"/api/tenants/{honest}/audit/entries")).ShouldBe(HttpStatusCode.OK);
                var mallory = Fixture.SecondClient(host, DevTokens.Issue(Fixture.TokenKey, "mallory", [Roles.TenantMember], tampered, TimeSpan.FromMinutes(30), DateTime.UtcNow));
                (await mallory.Get($"/api/tenants/{tampered}")).ShouldBeProblem(HttpStatusCode.InternalServerError, "integrity-violation");
                (await Client(Roles.TenantAdmin, "admin", tampered).Get($"/api/tenants/{tampered}/organisations"))
                    .ShouldBeProblem(HttpStatusCode.InternalServerError, "integrity-violation");
                var replayer = Fixture.SecondClient(host, DevTokens.Issue(Fixture.TokenKey, "mallory", [Roles.TenantMember], replayed, TimeSpan.FromMinutes(30), DateTime.UtcNow));
                (await replayer.Get($"/api/tenants/{replayed}")).ShouldBeProblem(HttpStatusCode.InternalServerError, "integrity-violation");
            }
        }
        finally
        {
            await DropSchemas(old, fresh);
        }
    }

    /// <summary>
    /// The high-water trigger notes the organisation event types it names (frozen in the migration that wrote it): a new
    /// organisation event type needs a migration that names it too, or a planted event of that type would not raise it.
    /// </summary>
    [Fact]
    public async Task the_high_water_trigger_knows_every_organisation_event_type()
    {
        await using var connection = await Owner();
        var definition = (await Strings(connection, "select pg_get_functiondef('tenantevents.access_note_version'::regproc)")).Single();
        foreach (var name in TenantEvents.Organisations.OrganisationEventTypes.StoredNames)
            definition.ShouldContain($"'{name}'", customMessage: $"{name}: add a migration that replaces access_note_version with it");
    }
}
