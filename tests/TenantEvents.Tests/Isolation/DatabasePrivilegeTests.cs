using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Marten;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using TenantEvents.Infrastructure.Databases;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Keys;
using TenantEvents.Tenants;
using TenantEvents.Tests.Support;

namespace TenantEvents.Tests.Isolation;

/// <summary>
/// Least privilege inside PostgreSQL, from the side of someone holding the service role's password (tenantevents_app):
/// every database holds exactly the privileges DatabasePrivileges declares, and what would give such a person power over
/// the whole platform (signing keys, issuer bindings, the database registry and placements, audit checkpoints and pending
/// ledger entries, the sharing clock, another tenant's shared rows, an unsealed payload) is refused.
/// </summary>
public class DatabasePrivilegeTests(AppFixture fixture) : IntegrationTest(fixture)
{
    private const string App = "tenantevents_app", Platform = "tenantevents_platform";

    private static async Task<NpgsqlConnection> Open(string connectionString, string? database = null, Guid? tenant = null)
    {
        var connection = new NpgsqlConnection(database is null ? connectionString
            : new NpgsqlConnectionStringBuilder(connectionString) { Database = database }.ConnectionString);
        await connection.OpenAsync();
        if (tenant is { } t)
        {
            await using var set = new NpgsqlCommand("select set_config('app.tenant_id', @t, false)", connection);
            set.Parameters.AddWithValue("t", t.ToString());
            await set.ExecuteScalarAsync();
        }
        return connection;
    }

    private static async Task<List<string[]>> Rows(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<string[]>();
        while (await reader.ReadAsync())
            rows.Add(Enumerable.Range(0, reader.FieldCount).Select(i => reader.IsDBNull(i) ? "" : reader.GetValue(i).ToString()!).ToArray());
        return rows;
    }

    private static async Task<int> Execute(NpgsqlConnection connection, string sql, params object[] values)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var v in values) command.Parameters.Add(new NpgsqlParameter { Value = v });
        return await command.ExecuteNonQueryAsync();
    }

    [Fact]
    public async Task every_database_grants_the_service_roles_exactly_what_the_declaration_says()
    {
        var databases = await TestDatabase.Databases();
        databases.Count.ShouldBeGreaterThanOrEqualTo(5); // main, its dedicated ones, the eu zone and its dedicated one
        foreach (var (id, _, connectionString) in databases)
        {
            await using var owner = await Open(connectionString);
            var tables = await Rows(owner, """
                select c.relname, c.relkind::text, coalesce(parent.relname, '') from pg_class c
                join pg_namespace n on n.oid = c.relnamespace
                left join pg_inherits i on i.inhrelid = c.oid left join pg_class parent on parent.oid = i.inhparent
                where n.nspname = 'tenantevents' and c.relkind in ('r', 'p', 'v', 'm', 'f', 'S')
                """);
            var expected = new List<string>();
            var undeclared = new List<string>();
            foreach (var row in tables)
            {
                var (name, kind, parent) = (row[0], row[1], row[2]);
                if (kind == "S")
                {
                    if (DatabasePrivileges.Sequences.Contains(name)) expected.AddRange([$"{name} {App} SELECT", $"{name} {App} USAGE"]);
                    continue;
                }
                if (DatabasePrivileges.Table(parent.Length > 0 ? parent : name) is not { } grant)
                {
                    undeclared.Add(name);
                    continue;
                }
                expected.AddRange(DatabasePrivileges.Names(grant.App).Select(p => $"{name} {App} {p}"));
                expected.AddRange(DatabasePrivileges.Names(grant.Platform).Select(p => $"{name} {Platform} {p}"));
            }
            undeclared.ShouldBeEmpty($"tables of database {id} that DatabasePrivileges does not declare");
            // What the service roles and PUBLIC hold, whoever granted it (the ACLs themselves, not only the owner's grants).
            var held = (await Rows(owner, $"""
                select c.relname, coalesce(r.rolname, 'PUBLIC'), a.privilege_type from pg_class c
                join pg_namespace n on n.oid = c.relnamespace
                cross join lateral aclexplode(c.relacl) a left join pg_roles r on r.oid = a.grantee
                where n.nspname = 'tenantevents' and (a.grantee = 0 or r.rolname in ('{App}', '{Platform}'))
                """)).Select(r => string.Join(' ', r)).ToList();
            held.Except(expected).ShouldBeEmpty($"privileges held in database {id} beyond the declaration");
            expected.Except(held).ShouldBeEmpty($"declared privileges missing in database {id}");
            // Nor anything through a column grant.
            (await Rows(owner, $"""
                select c.relname || '.' || att.attname from pg_attribute att join pg_class c on c.oid = att.attrelid
                join pg_namespace n on n.oid = c.relnamespace cross join lateral aclexplode(att.attacl) a left join pg_roles r on r.oid = a.grantee
                where n.nspname = 'tenantevents' and (a.grantee = 0 or r.rolname in ('{App}', '{Platform}'))
                """)).ShouldBeEmpty($"column grants in database {id}");

            var functions = await Rows(owner, $"""
                select p.proname, p.oid::regprocedure::text, p.prosecdef::text,
                       has_function_privilege('{App}', p.oid, 'execute')::text, has_function_privilege('{Platform}', p.oid, 'execute')::text,
                       exists (select 1 from aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a where a.grantee = 0)::text,
                       exists (select 1 from unnest(coalesce(p.proconfig, array[]::text[])) c where c like 'search_path=%')::text
                from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname = 'tenantevents'
                """);
            foreach (var f in functions)
            {
                var (name, signature) = (f[0], f[1]);
                var declared = DatabasePrivileges.Function(name);
                declared.ShouldNotBeNull($"{signature} in database {id} is not declared");
                f[2].ShouldBe(declared.Definer ? "true" : "false", $"{signature}: security definer");
                f[3].ShouldBe(declared.App ? "true" : "false", $"{signature}: executable by {App} in {id}");
                f[4].ShouldBe(declared.Platform ? "true" : "false", $"{signature}: executable by {Platform} in {id}");
                f[5].ShouldBe("false", $"{signature}: executable by PUBLIC in {id}");
                if (declared.Definer) f[6].ShouldBe("true", $"{signature} runs as its owner with a search path of the caller's choosing");
            }
            if (id != "default") continue;
            // The declaration names nothing that does not exist: the main database holds every declared object.
            var present = tables.Select(t => t[0]).ToHashSet();
            DatabasePrivileges.Tables.Select(t => t.Table).Where(t => !present.Contains(t)).ShouldBeEmpty("declared tables missing in the main database");
            DatabasePrivileges.Sequences.Where(s => !present.Contains(s)).ShouldBeEmpty("declared sequences missing in the main database");
            var names = functions.Select(f => f[0]).ToHashSet();
            DatabasePrivileges.Functions.Select(f => f.Name).Where(f => !names.Contains(f)).ShouldBeEmpty("declared functions missing in the main database");
        }
    }

    [Fact]
    public async Task a_policy_for_every_command_reads_and_writes_the_same_rows_in_every_database()
    {
        foreach (var (id, _, connectionString) in await TestDatabase.Databases())
        {
            await using var owner = await Open(connectionString);
            // A policy without FOR governs UPDATE and DELETE with its USING clause: one that shows another tenant's rows
            // would let that tenant change or delete them. Such rules are split per command (SharingSchema).
            (await Rows(owner, """
                select tablename || '.' || policyname from pg_policies
                where schemaname = 'tenantevents' and cmd = 'ALL' and qual is distinct from with_check
                """)).ShouldBeEmpty($"policies in database {id} that read more rows than they may write");
            var sharing = await Rows(owner, """
                select tablename, string_agg(cmd, ',' order by cmd) from pg_policies
                where schemaname = 'tenantevents' and tablename in ('case_files', 'case_shares', 'sharing_agreements', 'collaborations', 'collaboration_members')
                group by tablename
                """);
            sharing.Count.ShouldBe(5);
            foreach (var row in sharing) row[1].ShouldBe("DELETE,INSERT,SELECT,UPDATE", row[0]);
        }
    }

    [Fact]
    public async Task the_service_role_cannot_write_what_gives_power_over_the_platform()
    {
        var tenant = await Active();
        var placed = await Active("berlin-analytics", template: "commercial-saas", country: "DE", subdivision: "DE-BY");
        var signed = await As(Roles.Auditor, "carol").Post($"/api/tenants/{tenant}/audit/checkpoints");
        signed.Status.ShouldBe(HttpStatusCode.Created, signed.Body);
        await using (var app = await Open(TestDatabase.ConnectionString, tenant: tenant))
        {
            var seq = (await Rows(app, $"select seq_id from tenantevents.audit_log where tenant_id = '{tenant}' order by log_index limit 1"))[0][0];
            foreach (var sql in new[]
                     {
                         // A signing key of the attacker's: tokens it signs would be the platform's.
                         "insert into tenantevents.platform_signing_keys (kid, algorithm, public_x, public_y, kek_id, wrap_algorithm, wrapped_d, created_at) " +
                         "values ('attacker', 'ES256', '\\x01', '\\x02', 'k', 'w', '\\x03', now())",
                         "update tenantevents.platform_signing_keys set retired_at = null",
                         "insert into tenantevents.audit_log_keys (key_id, name, spki, kek_id, wrap_algorithm, wrapped_d, created_at) " +
                         "values (1, 'attacker', '\\x01', 'k', 'w', '\\x02', now())",
                         "update tenantevents.audit_log_keys set retired_at = now()",
                         // The attacker's identity provider vouching for this tenant's users.
                         $"insert into tenantevents.identity_issuers (issuer, tenant) values ('https://attacker.example', '{tenant}')",
                         "update tenantevents.identity_issuers set issuer = 'https://attacker.example'",
                         "delete from tenantevents.identity_issuers",
                         // A database on the attacker's host: the platform role's password would be sent there.
                         "insert into tenantevents.tenant_databases (id, zone, database, host, port, dedicated) " +
                         "values ('attacker', 'default', 'x', 'attacker.example', 5432, false)",
                         "update tenantevents.tenant_databases set host = 'attacker.example'",
                         $"insert into tenantevents.tenant_placements (tenant, database_id, zone) values ('{Guid.CreateVersion7()}', 'default', 'default')",
                         $"update tenantevents.tenant_placements set database_id = 'default' where tenant = '{placed}'",
                         $"delete from tenantevents.tenant_placements where tenant = '{placed}'",
                         // A checkpoint or a pending entry of the attacker's choosing: immutable, the ledger poisoned for good.
                         $"insert into tenantevents.audit_checkpoints (tenant_id, tree_size, root_hash, note, created_at) values ('{tenant}', 999999, '\\x00', 'forged', now())",
                         $"insert into tenantevents.audit_pending (tenant_id, seq_id) values ('{tenant}', {seq})",
                         // Setting the sharing clock back for good.
                         "update tenantevents.sharing_clock set follows_service = true",
                     })
            {
                var refused = await Should.ThrowAsync<PostgresException>(() => Execute(app, sql), sql);
                refused.SqlState.ShouldBe(PostgresErrorCodes.InsufficientPrivilege, sql);
            }
            // Placing goes through place_tenant, which chooses the database and never moves a tenant.
            (await Should.ThrowAsync<PostgresException>(() => Execute(app, "select tenantevents.place_tenant($1, 'default', false)", placed)))
                .SqlState.ShouldBe(PostgresErrorCodes.UniqueViolation);
        }
        // In every database (zones and dedicated ones too), the ledger's checkpoints and pending entries are out of reach.
        foreach (var (_, database, _) in await TestDatabase.Databases())
        {
            await using var app = await Open(TestDatabase.ConnectionString, database, tenant);
            foreach (var sql in new[]
                     {
                         $"insert into tenantevents.audit_checkpoints (tenant_id, tree_size, root_hash, note, created_at) values ('{tenant}', 1, '\\x00', 'forged', now())",
                         $"insert into tenantevents.audit_pending (tenant_id, seq_id) values ('{tenant}', 1)",
                     })
                (await Should.ThrowAsync<PostgresException>(() => Execute(app, sql), $"{sql} in {database}")).SqlState
                    .ShouldBe(PostgresErrorCodes.InsufficientPrivilege, $"{sql} in {database}");
        }
        // The service itself still does all of it, through the roles and functions that may.
        (await Admin.Get($"/api/tenants/{placed}")).ShouldBe(HttpStatusCode.OK);
        (await As(Roles.Auditor, "carol").Post($"/api/tenants/{tenant}/audit/checkpoints")).ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task a_recipient_can_read_a_shared_file_but_not_change_or_delete_it()
    {
        Guid owner = Guid.CreateVersion7(), recipient = Guid.CreateVersion7(), file = Guid.CreateVersion7(), agreement = Guid.CreateVersion7();
        await using (var app = await Open(TestDatabase.ConnectionString, tenant: owner))
        {
            await Execute(app, """
                insert into tenantevents.case_files (tenant_id, id, org_id, classification, tag_tokens, search_tokens, version, key_version, nonce, ciphertext, created_at, updated_at)
                values ($1, $2, $3, 'official', '{}', '{}', 1, 1, '\x00', '\x00', now(), now())
                """, owner.ToString(), file, Guid.CreateVersion7());
            await Execute(app, """
                insert into tenantevents.case_shares (tenant_id, file_id, source_id, source_kind, grantee_tenant, permissions, expires_at, shared_at)
                values ($1, $2, $3, 'agreement', $4, '{case.read}', null, now())
                """, owner.ToString(), file, agreement, recipient.ToString());
            await Execute(app, """
                insert into tenantevents.sharing_agreements (tenant_id, id, recipient_tenant, state, expires_at, version, key_version, nonce, ciphertext,
                  scope_file_ids, scope_classifications, scope_tag_tokens, permissions, created_at, updated_at)
                values ($1, $2, $3, 'accepted', 'infinity', 1, 1, '\x00', '\x00', array[$4::uuid], '{}', '{}', '{case.read}', now(), now())
                """, owner.ToString(), agreement, recipient.ToString(), file);
        }
        await using (var app = await Open(TestDatabase.ConnectionString, tenant: recipient))
        {
            // The share shows the file and the agreement to the recipient...
            (await Rows(app, $"select id from tenantevents.case_files where id = '{file}'")).Count.ShouldBe(1);
            (await Rows(app, $"select id from tenantevents.sharing_agreements where id = '{agreement}'")).Count.ShouldBe(1);
            // ...and nothing of them can be changed, taken over or deleted from its side.
            foreach (var sql in new[]
                     {
                         $"delete from tenantevents.case_files where id = '{file}'",
                         $"update tenantevents.case_files set classification = 'unclassified' where id = '{file}'",
                         $"delete from tenantevents.case_shares where file_id = '{file}'",
                         $"update tenantevents.case_shares set expires_at = null, permissions = '{{case.read,case.write}}' where file_id = '{file}'",
                         $"delete from tenantevents.sharing_agreements where id = '{agreement}'",
                         $"update tenantevents.sharing_agreements set state = 'revoked' where id = '{agreement}'",
                     })
                (await Execute(app, sql)).ShouldBe(0, sql);
        }
        await using var check = await Open(TestDatabase.OwnerConnectionString);
        (await Rows(check, $"""
            select f.classification, s.permissions::text, a.state from tenantevents.case_files f
            join tenantevents.case_shares s on s.file_id = f.id join tenantevents.sharing_agreements a on a.id = s.source_id
            where f.id = '{file}'
            """)).Single().ShouldBe(new[] { "official", "{case.read}", "accepted" });
    }

    [Fact]
    public async Task the_sharing_clock_ignores_a_sessions_setting_unless_migrate_allowed_it()
    {
        new TenantEvents.Infrastructure.TenantEventsOptions().DatabaseFollowsServiceClock.ShouldBeFalse();
        await using var owner = await Open(TestDatabase.OwnerConnectionString);
        await using var transaction = await owner.BeginTransactionAsync();
        async Task<DateTime> Now()
        {
            await using var command = new NpgsqlCommand(
                "select set_config('tenantevents.now', '2001-01-01T00:00:00Z', true), tenantevents.sharing_now()", owner, transaction);
            await using var reader = await command.ExecuteReaderAsync();
            await reader.ReadAsync();
            return reader.GetDateTime(1);
        }
        // As `migrate` leaves a production database: the server's clock, whatever the session says.
        await using (var off = new NpgsqlCommand("update tenantevents.sharing_clock set follows_service = false", owner, transaction))
            await off.ExecuteNonQueryAsync();
        (await Now()).Year.ShouldBeGreaterThan(2020);
        // As the tests' databases are migrated: the service's clock, which the tests move.
        await using (var on = new NpgsqlCommand("update tenantevents.sharing_clock set follows_service = true", owner, transaction))
            await on.ExecuteNonQueryAsync();
        (await Now()).Year.ShouldBe(2001);
        await transaction.RollbackAsync();
    }

    [Fact]
    public async Task an_unsealed_event_written_by_the_service_role_is_refused_on_read()
    {
        var id = await Active();
        var forged = new TenantRenamed(id, "Travis County Sheriff", "Forged Name Qx9", new Actor("attacker", "user"), DateTimeOffset.UtcNow);
        var payload = JsonSerializer.Serialize(new
        {
            KeyVersion = 0, Nonce = "", Ciphertext = Convert.ToBase64String(JsonSerializer.SerializeToUtf8Bytes(forged, SealedJson.Options)),
        });
        await using (var app = await Open(TestDatabase.ConnectionString, tenant: id))
            (await Execute(app, """
                insert into tenantevents.mt_events (seq_id, id, stream_id, version, data, type, timestamp, tenant_id, mt_dotnet_type)
                select nextval('tenantevents.mt_events_sequence'), $1, $2, max(version) + 1, $3::jsonb, 'tenant_renamed', now(), $4,
                       min(mt_dotnet_type) from tenantevents.mt_events where stream_id = $2
                """, Guid.CreateVersion7(), id, payload, id.ToString())).ShouldBe(1);

        var reply = (await Admin.Get($"/api/tenants/{id}/events")).ShouldBeProblem(HttpStatusCode.InternalServerError, "integrity-violation");
        reply.Body.ShouldNotContain("Forged Name");
    }

    [Fact]
    public async Task an_unsealed_read_model_written_by_the_service_role_is_refused_on_read()
    {
        var id = await Active();
        var streams = Fixture.Host.Services.GetRequiredService<TenantStreams>();
        Tenant tenant;
        await using (var session = streams.Store.QuerySession(id.ToString()))
            tenant = await streams.ReadAsync((await session.LoadAsync<TenantRecord>(id))!, CancellationToken.None);
        tenant.Name = "Forged Name Qx9";
        var plain = new JsonObject
        {
            ["KeyVersion"] = 0, ["Nonce"] = "", ["Ciphertext"] = Convert.ToBase64String(JsonSerializer.SerializeToUtf8Bytes(tenant, SealedJson.Options)),
        };
        await using (var app = await Open(TestDatabase.ConnectionString, tenant: id))
        {
            var data = JsonNode.Parse((await Rows(app, $"select data::text from tenantevents.mt_doc_tenantrecord where id = '{id}'")).Single()[0])!.AsObject();
            var key = data.Select(p => p.Key).Single(k => k.Equals("sealed", StringComparison.OrdinalIgnoreCase));
            var sealedKeys = data[key]!.AsObject().Select(p => p.Key).ToList();
            // The stored payload's own property names (the document serializer's casing).
            data[key] = new JsonObject(sealedKeys.Select(k => KeyValuePair.Create(k,
                plain.First(p => p.Key.Equals(k, StringComparison.OrdinalIgnoreCase)).Value?.DeepClone())));
            (await Execute(app, "update tenantevents.mt_doc_tenantrecord set data = $1::jsonb where id = $2", data.ToJsonString(), id)).ShouldBe(1);
        }

        var reply = (await Admin.Get($"/api/tenants/{id}")).ShouldBeProblem(HttpStatusCode.InternalServerError, "integrity-violation");
        reply.Body.ShouldNotContain("Forged Name");
    }


    private TenantEvents.Organisations.OrganisationStore AccessStore => Fixture.Host.Services.GetRequiredService<TenantEvents.Organisations.OrganisationStore>();

    /// <summary>
    /// The access tables are a projection the service role must write. With only its password, Mallory adds a grant of the
    /// agency's administrator role to herself at the root. Whenever an instance loads the tables (a restart, another
    /// instance, a change made elsewhere) they no longer verify against the MAC beside the version, so the graph is rebuilt
    /// from the sealed events, and she holds nothing; Olga's real grant still works. Moving the version on, or removing
    /// the MAC, makes the tenant refuse everyone (fail closed) instead of admitting her.
    /// </summary>
    [Fact]
    public async Task a_grant_written_straight_into_the_access_tables_with_the_service_role_confers_nothing()
    {
        var tenant = await Active();
        var root = await RootOf(tenant);
        var admin = TenantAdminOf(tenant);
        (await admin.Post($"/api/tenants/{tenant}/organisations/{root}/grants", new { principal = new { kind = "user", id = "olga" }, role = "records-clerk" }))
            .ShouldBe(HttpStatusCode.Created);
        var mallory = Member(tenant, "mallory");
        var olga = Member(tenant, "olga");
        (await mallory.Get($"/api/tenants/{tenant}")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await olga.Get($"/api/tenants/{tenant}/audit/entries")).ShouldBe(HttpStatusCode.OK);

        await using (var app = await Open(TestDatabase.ConnectionString, tenant: tenant))
            (await Execute(app, """
                insert into tenantevents.org_grants (tenant_id, id, org_id, principal_kind, principal_id, role, granted_at)
                values ($1, $2, $3, 'user', 'mallory', 'agency-admin', now())
                """, tenant.ToString(), Guid.CreateVersion7(), root)).ShouldBe(1);
        AccessStore.Forget(tenant); // as after a restart: the graph is loaded from the tables
        (await mallory.Get($"/api/tenants/{tenant}")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await mallory.Post($"/api/tenants/{tenant}/organisations", new { parentId = root, name = "Shadow", kind = "unit" })).Status
            .ShouldBeOneOf(HttpStatusCode.NotFound, HttpStatusCode.Forbidden);
        (await admin.Get($"/api/tenants/{tenant}/access/explain?principal=user:mallory&permission=org.manage&organisationId={root}"))
            .ShouldBe(HttpStatusCode.OK).Json.GetProperty("allowed").GetBoolean().ShouldBeFalse();
        (await olga.Get($"/api/tenants/{tenant}/audit/entries")).ShouldBe(HttpStatusCode.OK);
        // A real command goes on from the events' state and stamps that: the planted row still confers nothing.
        (await admin.Post($"/api/tenants/{tenant}/organisations", new { parentId = root, name = "Patrol", kind = "unit" })).ShouldBe(HttpStatusCode.Created);
        AccessStore.Forget(tenant);
        (await mallory.Get($"/api/tenants/{tenant}")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");

        // Moving the version on (so that every instance reloads) leaves a version with no MAC for it: nobody is let in.
        await using (var app = await Open(TestDatabase.ConnectionString, tenant: tenant))
            (await Execute(app, "update tenantevents.access_versions set version = version + 1 where tenant_id = $1", tenant.ToString())).ShouldBe(1);
        (await mallory.Get($"/api/tenants/{tenant}")).ShouldBeProblem(HttpStatusCode.InternalServerError, "integrity-violation");
        (await olga.Get($"/api/tenants/{tenant}/audit/entries")).ShouldBeProblem(HttpStatusCode.InternalServerError, "integrity-violation");
    }

    [Fact]
    public async Task a_grant_planted_for_a_tenant_not_yet_provisioned_confers_nothing()
    {
        var tenant = await Approved();
        var org = Guid.CreateVersion7();
        await using (var app = await Open(TestDatabase.ConnectionString, tenant: tenant))
        {
            (await Execute(app, """
                insert into tenantevents.org_nodes (tenant_id, id, parent_id, path, depth, open, kind, name_key_version, name_nonce, name_ciphertext,
                  version, created_at, updated_at)
                values ($1, $2, null, array[$2]::uuid[], 0, true, 'agency', 0, ''::bytea, ''::bytea, 1, now(), now())
                """, tenant.ToString(), org)).ShouldBe(1);
            (await Execute(app, """
                insert into tenantevents.org_grants (tenant_id, id, org_id, principal_kind, principal_id, role, granted_at)
                values ($1, $2, $3, 'user', 'mallory', 'agency-admin', now())
                """, tenant.ToString(), Guid.CreateVersion7(), org)).ShouldBe(1);
        }
        AccessStore.Forget(tenant);
        (await Member(tenant, "mallory").Get($"/api/tenants/{tenant}")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await TenantAdminOf(tenant).Get($"/api/tenants/{tenant}")).ShouldBe(HttpStatusCode.OK);
    }

    /// <summary>
    /// The operator's way back for a tenant refused because its access tables were changed outside the service: a platform
    /// administrator rebuilds them from the sealed events (POST /access/repair, with a reason, recorded in the trail). The
    /// planted row is gone, the moved version is put right, and the tenant works again. When the events themselves were
    /// tampered with (a sealed grant event copied back), the repair refuses and changes nothing: only a backup helps.
    /// </summary>
    [Fact]
    public async Task a_platform_administrator_rebuilds_tampered_access_tables_from_the_events_and_the_trail_says_so()
    {
        var tenant = await Active();
        var root = await RootOf(tenant);
        var admin = TenantAdminOf(tenant);
        (await admin.Post($"/api/tenants/{tenant}/organisations/{root}/grants", new { principal = new { kind = "user", id = "olga" }, role = "records-clerk" }))
            .ShouldBe(HttpStatusCode.Created);
        var olga = Member(tenant, "olga");
        var mallory = Member(tenant, "mallory");
        await using (var app = await Open(TestDatabase.ConnectionString, tenant: tenant))
        {
            (await Execute(app, """
                insert into tenantevents.org_grants (tenant_id, id, org_id, principal_kind, principal_id, role, granted_at)
                values ($1, $2, $3, 'user', 'mallory', 'agency-admin', now())
                """, tenant.ToString(), Guid.CreateVersion7(), root)).ShouldBe(1);
            (await Execute(app, "update tenantevents.access_versions set version = version + 1 where tenant_id = $1", tenant.ToString())).ShouldBe(1);
        }
        AccessStore.Forget(tenant);
        (await olga.Get($"/api/tenants/{tenant}/audit/entries")).ShouldBeProblem(HttpStatusCode.InternalServerError, "integrity-violation");

        (await admin.Post($"/api/tenants/{tenant}/access/repair", new { reason = "mine" })).Status.ShouldBeOneOf(HttpStatusCode.Forbidden, HttpStatusCode.NotFound);
        (await As(Roles.PlatformApprover).Post($"/api/tenants/{tenant}/access/repair", new { reason = "mine" })).Status.ShouldBe(HttpStatusCode.Forbidden);
        (await Admin.Post($"/api/tenants/{tenant}/access/repair", new { })).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        // A tenant not provisioned has nothing to repair.
        var requested = await Requested("not-yet-provisioned");
        (await Admin.Post($"/api/tenants/{requested}/access/repair", new { reason = "x" })).ShouldBeProblem(HttpStatusCode.Conflict, "access-repair-unavailable");
        var repaired = (await Admin.Post($"/api/tenants/{tenant}/access/repair", new { reason = "a grant planted with the service role's password" }))
            .ShouldBe(HttpStatusCode.OK);
        // Stamped at the version the events reached, not the one Mallory moved it to.
        await using (var owner = await Open(TestDatabase.OwnerConnectionString))
            long.Parse(repaired.Headers.GetValues("X-Access-Version").Single()).ShouldBe(
                long.Parse((await Rows(owner, $"select version from tenantevents.access_high_water where tenant_id = '{tenant}'")).Single()[0]));
        await using (var owner = await Open(TestDatabase.OwnerConnectionString))
            (await Rows(owner, $"select count(*) from tenantevents.org_grants where tenant_id = '{tenant}' and principal_id = 'mallory'")).Single()[0].ShouldBe("0");
        AccessStore.Forget(tenant);
        (await olga.Get($"/api/tenants/{tenant}/audit/entries")).ShouldBe(HttpStatusCode.OK);
        (await mallory.Get($"/api/tenants/{tenant}")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await admin.Post($"/api/tenants/{tenant}/organisations", new { parentId = root, name = "Patrol", kind = "unit" })).ShouldBe(HttpStatusCode.Created);
        (await As(Roles.Auditor).Get($"/api/tenants/{tenant}/events")).ShouldBe(HttpStatusCode.OK).Body.ShouldContain("access_state_repaired");

        // Olga's sealed grant event copied back into the stream: the events no longer fold, and the repair will not pretend.
        await using (var app = await Open(TestDatabase.ConnectionString, tenant: tenant))
            (await Execute(app, """
                insert into tenantevents.mt_events (seq_id, id, stream_id, version, data, type, timestamp, tenant_id, mt_dotnet_type, headers, is_archived)
                select nextval('tenantevents.mt_events_sequence'), gen_random_uuid(), e.stream_id,
                  (select max(x.version) + 1 from tenantevents.mt_events x where x.tenant_id = e.tenant_id and x.stream_id = e.stream_id),
                  e.data, e.type, now(), e.tenant_id, e.mt_dotnet_type, e.headers, false
                from tenantevents.mt_events e where e.tenant_id = $1 and e.type = 'role_granted' order by e.seq_id desc limit 1
                """, tenant.ToString())).ShouldBe(1);
        await using (var owner = await Open(TestDatabase.OwnerConnectionString))
        {
            const string State = """
                select (select version from tenantevents.access_versions where tenant_id = $t$) || '/' ||
                       (select count(*) from tenantevents.org_grants where tenant_id = $t$) || '/' ||
                       (select count(*) from tenantevents.mt_events where tenant_id = $t$ and type = 'access_state_repaired')
                """;
            var before = await Rows(owner, State.Replace("$t$", $"'{tenant}'"));
            (await Admin.Post($"/api/tenants/{tenant}/access/repair", new { reason = "again" })).ShouldBeProblem(HttpStatusCode.Conflict, "access-events-broken");
            (await Rows(owner, State.Replace("$t$", $"'{tenant}'"))).Single().ShouldBe(before.Single());
        }
    }

    [Fact]
    public async Task an_access_state_without_its_mac_is_refused_not_trusted()
    {
        var tenant = await Active();
        var root = await RootOf(tenant);
        var mallory = Member(tenant, "mallory");
        await using (var app = await Open(TestDatabase.ConnectionString, tenant: tenant))
        {
            (await Execute(app, """
                insert into tenantevents.org_grants (tenant_id, id, org_id, principal_kind, principal_id, role, granted_at)
                values ($1, $2, $3, 'user', 'mallory', 'agency-admin', now())
                """, tenant.ToString(), Guid.CreateVersion7(), root)).ShouldBe(1);
            (await Execute(app, "update tenantevents.access_versions set state_mac = null, mac_key_version = null where tenant_id = $1",
                tenant.ToString())).ShouldBe(1);
        }
        AccessStore.Forget(tenant);
        (await mallory.Get($"/api/tenants/{tenant}")).ShouldBeProblem(HttpStatusCode.InternalServerError, "integrity-violation");
    }

    [Fact]
    public async Task an_earlier_access_state_put_back_with_its_own_mac_is_refused_even_with_its_grant_event_copied_back()
    {
        var tenant = await Active();
        var root = await RootOf(tenant);
        var admin = TenantAdminOf(tenant);
        var grant = (await admin.Post($"/api/tenants/{tenant}/organisations/{root}/grants", new { principal = new { kind = "user", id = "olga" }, role = "agency-admin" }))
            .ShouldBe(HttpStatusCode.Created).Str("id");
        string[] saved;
        await using (var app = await Open(TestDatabase.ConnectionString, tenant: tenant))
            saved = (await Rows(app, $"select version, encode(state_mac, 'hex'), mac_key_version from tenantevents.access_versions where tenant_id = '{tenant}'")).Single();
        (await admin.Delete($"/api/tenants/{tenant}/organisations/{root}/grants/{grant}")).Status.ShouldBeOneOf(HttpStatusCode.OK, HttpStatusCode.NoContent);
        var olga = Member(tenant, "olga");
        (await olga.Get($"/api/tenants/{tenant}")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");

        // Olga kept a copy of the stamp from when she was administrator: she puts it and her grant row back. Every instance
        // (this one still holds the newer graph) sees a version older than the events'.
        await using (var app = await Open(TestDatabase.ConnectionString, tenant: tenant))
        {
            (await Execute(app, """
                insert into tenantevents.org_grants (tenant_id, id, org_id, principal_kind, principal_id, role, granted_at)
                values ($1, $2, $3, 'user', 'olga', 'agency-admin', now())
                """, tenant.ToString(), Guid.Parse(grant), root)).ShouldBe(1);
            (await Execute(app, "update tenantevents.access_versions set version = $2, state_mac = decode($3, 'hex'), mac_key_version = $4 where tenant_id = $1",
                tenant.ToString(), long.Parse(saved[0]), saved[1], int.Parse(saved[2]))).ShouldBe(1);
        }
        (await olga.Get($"/api/tenants/{tenant}")).ShouldBeProblem(HttpStatusCode.InternalServerError, "integrity-violation");

        // She also copies the sealed grant event back into its stream, as the newest, and names the newest version with
        // the old MAC: the events then fold to a state that is hers, at a version the MAC was not made for.
        await using (var app = await Open(TestDatabase.ConnectionString, tenant: tenant))
        {
            var newest = (await Rows(app, $"select version from tenantevents.access_high_water where tenant_id = '{tenant}'")).Single()[0];
            (await Execute(app, """
                insert into tenantevents.mt_events (seq_id, id, stream_id, version, data, type, timestamp, tenant_id, mt_dotnet_type, headers)
                select nextval('tenantevents.mt_events_sequence'), $1, e.stream_id,
                       (select max(version) + 1 from tenantevents.mt_events x where x.stream_id = e.stream_id), e.data, e.type, now(), e.tenant_id,
                       e.mt_dotnet_type, jsonb_set(e.headers::jsonb, '{access_version}', to_jsonb($3::bigint + 1))
                from tenantevents.mt_events e where e.tenant_id = $2 and e.headers ->> 'access_version' = $4
                """, Guid.CreateVersion7(), tenant.ToString(), long.Parse(newest), saved[0])).ShouldBe(1);
            (await Execute(app, "update tenantevents.access_versions set version = $2 where tenant_id = $1", tenant.ToString(), long.Parse(newest) + 1)).ShouldBe(1);
        }
        AccessStore.Forget(tenant);
        (await olga.Get($"/api/tenants/{tenant}")).ShouldBeProblem(HttpStatusCode.InternalServerError, "integrity-violation");
    }
}
