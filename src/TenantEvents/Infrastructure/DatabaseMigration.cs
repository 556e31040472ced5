using JasperFx.Resources;
using Npgsql;
using TenantEvents.Infrastructure.Databases;

namespace TenantEvents.Infrastructure;

/// <summary>
/// `TenantEvents migrate`: as the schema owner, create or update every table (Marten's event store and documents,
/// Wolverine's envelopes), then put row-level security on the event tables and grant the two service roles exactly
/// what they need. Idempotent; `make run` and the tests run it before the service starts.
/// </summary>
public static class DatabaseMigration
{
    public const string AppRole = "tenantevents_app";
    public const string PlatformRole = "tenantevents_platform";


    public static async Task<int> Run(string[] args)
    {
        var builder = WebApplication.CreateBuilder(args);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        var options = TenantEventsOptions.From(builder.Configuration);
        var connectionString = builder.Configuration.GetConnectionString(Hosting.OwnerConnectionStringName);
        if (string.IsNullOrWhiteSpace(connectionString))
            throw new InvalidOperationException($"No database: set ConnectionStrings:{Hosting.OwnerConnectionStringName} (the schema owner).");
        var databases = await PrepareDatabasesAsync(connectionString, options.DatabaseSchema, new ResidencyZones(options.Zones));

        builder.AddTenantEvents(migrating: true);
        await using (var app = builder.Build())
            await app.SetupResources();
        foreach (var database in databases)
            await SecureAsync(ResidencyZones.ConnectionString(connectionString, database.Database, database.Host, database.Port), options.DatabaseSchema,
                options.DatabaseFollowsServiceClock);
        Console.WriteLine($"Schema {options.DatabaseSchema} is up to date in {databases.Count} database(s) " +
                          $"({string.Join(", ", databases.Select(d => $"{d.Id}: {d.Database}{(d.DedicatedTo is { } t ? " for " + t : "")}"))}); " +
                          "row-level security and grants applied.");
        return 0;
    }

    /// <summary>
    /// The platform directory in the main database, every configured zone's database, and enough free dedicated
    /// databases for each zone's pool: created when absent (the owner needs CREATEDB for that) and registered.
    /// </summary>
    public static async Task<IReadOnlyList<DatabaseEntry>> PrepareDatabasesAsync(string ownerConnectionString, string schema, ResidencyZones zones)
    {
        var s = Quote(schema);
        var main = new NpgsqlConnectionStringBuilder(ownerConnectionString).Database!;
        await using var source = NpgsqlDataSource.Create(ownerConnectionString);
        async Task Execute(string sql, params object?[] values)
        {
            await using var command = source.CreateCommand(sql);
            Databases.Sql.Bind(command, values);
            await command.ExecuteNonQueryAsync();
        }
        await Execute($"create schema if not exists {s}");
        await Execute(TenantDirectory.CreateTablesSql(s));
        await Execute($"insert into {s}.tenant_databases (id, zone, database, dedicated) values ($1, $2, $3, false) on conflict (id) do nothing",
            TenantDirectory.DefaultDatabaseId, ResidencyZones.DefaultZone, main);
        var directory = new TenantDirectory(source, s);
        var registered = (await directory.DatabasesAsync()).ToDictionary(d => d.Id);

        foreach (var (zone, config) in zones.Zones.OrderBy(z => z.Key, StringComparer.Ordinal))
        {
            var shared = zone == ResidencyZones.DefaultZone ? main : config.Database!;
            if (zone != ResidencyZones.DefaultZone)
            {
                if (registered.TryGetValue(zone, out var existing))
                {
                    if (existing.Database != shared || existing.Host != config.Host || existing.Port != config.Port)
                        throw new InvalidOperationException($"Zone '{zone}' is registered on database {existing.Database}; the configuration names " +
                            $"{shared}. Moving a zone's tenants is a data migration, not a setting.");
                }
                else
                {
                    await CreateDatabaseAsync(ownerConnectionString, shared, config.Host, config.Port);
                    await Execute($"insert into {s}.tenant_databases (id, zone, database, host, port, dedicated) values ($1, $2, $3, $4, $5, false)",
                        zone, zone, shared, config.Host, config.Port);
                }
            }
            var dedicated = registered.Values.Where(d => d.Zone == zone && d.Dedicated).ToList();
            for (int free = dedicated.Count(d => d.DedicatedTo is null), n = dedicated.Count + 1; free < config.DedicatedPool; free++, n++)
            {
                var name = $"{shared}_d{n}";
                await CreateDatabaseAsync(ownerConnectionString, name, config.Host, config.Port);
                await Execute($"insert into {s}.tenant_databases (id, zone, database, host, port, dedicated) values ($1, $2, $3, $4, $5, true)",
                    $"{zone}-d{n}", zone, name, config.Host, config.Port);
            }
        }
        return await directory.DatabasesAsync();
    }

    private static async Task CreateDatabaseAsync(string ownerConnectionString, string name, string? host, int? port)
    {
        await using var connection = new NpgsqlConnection(ResidencyZones.ConnectionString(ownerConnectionString, "postgres", host, port));
        await connection.OpenAsync();
        await using (var exists = new NpgsqlCommand("select 1 from pg_database where datname = $1", connection))
        {
            exists.Parameters.Add(new NpgsqlParameter { Value = name });
            if (await exists.ExecuteScalarAsync() is not null) return;
        }
        try
        {
            await using var create = new NpgsqlCommand($"create database {Quote(name)}", connection);
            await create.ExecuteNonQueryAsync();
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.InsufficientPrivilege)
        {
            throw new InvalidOperationException($"Database {name} does not exist and the schema owner may not create it: create it owned by " +
                $"{new NpgsqlConnectionStringBuilder(ownerConnectionString).Username}, or grant that role CREATEDB.", e);
        }
    }

    /// <summary>
    /// Every table of the schema with a tenant_id column holds tenant data and gets row-level security. Marten writes
    /// policies for its conjoined document tables; every other such table (the event tables, which Marten's RLS does
    /// not cover, and any added later) gets ours. Found by looking, so a new tenant table cannot be forgotten.
    /// </summary>
    public static async Task SecureAsync(string ownerConnectionString, string schema, bool? followServiceClock = null)
    {
        var s = Quote(schema);
        var setting = Hosting.TenantSetting;
        await using var connection = new NpgsqlConnection(ownerConnectionString);
        await connection.OpenAsync();
        await using var transaction = await connection.BeginTransactionAsync();

        // Tenants' data keys, stored only wrapped by the tenant's KEK (TenantKeyRing), and one key per person inside a
        // tenant (erasable on its own), sealed under the tenant's data key. tenant_id puts both under RLS too.
        await using (var keys = new NpgsqlCommand($"""
            create table if not exists {s}.tenant_data_keys (
              tenant_id varchar(250) not null,
              version integer not null,
              kek_id text not null,
              algorithm text not null,
              wrapped bytea not null,
              created_at timestamptz not null default now(),
              primary key (tenant_id, version));
            create table if not exists {s}.subject_data_keys (
              tenant_id varchar(250) not null,
              subject_id uuid not null,
              key_version integer not null,
              nonce bytea not null,
              ciphertext bytea not null,
              created_at timestamptz not null default now(),
              primary key (tenant_id, subject_id));
            -- The organisation tree of each tenant, projected in the transaction of every change (Organisations/):
            -- the materialised path (root first, self last) answers ancestors and subtrees; names are sealed.
            create table if not exists {s}.org_nodes (
              tenant_id varchar(250) not null,
              id uuid not null,
              parent_id uuid,
              path uuid[] not null,
              depth integer not null,
              open boolean not null,
              kind text not null,
              jurisdiction text,
              name_key_version integer not null,
              name_nonce bytea not null,
              name_ciphertext bytea not null,
              version bigint not null,
              created_at timestamptz not null,
              updated_at timestamptz not null,
              primary key (tenant_id, id));
            create index if not exists org_nodes_path on {s}.org_nodes using gin (path);
            create index if not exists org_nodes_parent on {s}.org_nodes (tenant_id, parent_id);
            create table if not exists {s}.org_grants (
              tenant_id varchar(250) not null,
              id uuid not null,
              org_id uuid not null,
              principal_kind text not null,
              principal_id text not null,
              role text not null,
              granted_at timestamptz not null,
              primary key (tenant_id, id));
            create index if not exists org_grants_principal on {s}.org_grants (tenant_id, principal_kind, principal_id);
            create table if not exists {s}.org_policies (
              tenant_id varchar(250) not null,
              org_id uuid not null,
              key text not null,
              mode text not null,
              value text not null,
              set_at timestamptz not null,
              primary key (tenant_id, org_id, key));
            create table if not exists {s}.org_members (
              tenant_id varchar(250) not null,
              org_id uuid not null,
              user_id text not null,
              added_at timestamptz not null,
              primary key (tenant_id, org_id, user_id));
            create index if not exists org_members_user on {s}.org_members (tenant_id, user_id);
            create table if not exists {s}.tenant_roles (
              tenant_id varchar(250) not null,
              name text not null,
              description text not null,
              permissions text[] not null,
              primary key (tenant_id, name));
            create table if not exists {s}.access_versions (
              tenant_id varchar(250) primary key,
              version bigint not null);
            -- The MAC of the access state at that version (Organisations/AccessSeal.cs), under the tenant's data key version.
            alter table {s}.access_versions add column if not exists state_mac bytea;
            alter table {s}.access_versions add column if not exists mac_key_version integer;
            -- SCIM users and groups (Scim/): each resource sealed under the tenant's key, and the tenant's SCIM version.
            create table if not exists {s}.scim_resources (
              tenant_id varchar(250) not null,
              id uuid not null,
              kind text not null,
              version bigint not null,
              key_version integer not null,
              nonce bytea not null,
              ciphertext bytea not null,
              created_at timestamptz not null,
              updated_at timestamptz not null,
              primary key (tenant_id, id));
            -- Each row remembers the tenant's SCIM version that last wrote it, and a deletion leaves a tombstone, so an
            -- instance that holds the directory at version n reads only what changed after n.
            alter table {s}.scim_resources add column if not exists scim_version bigint not null default 0;
            alter table {s}.scim_resources add column if not exists deleted boolean not null default false;
            create index if not exists scim_resources_changes on {s}.scim_resources (tenant_id, scim_version);
            create table if not exists {s}.scim_versions (
              tenant_id varchar(250) primary key,
              version bigint not null);
            """, connection, transaction))
            await keys.ExecuteNonQueryAsync();
        // The audit ledger (Audit/AuditSchema.cs): Merkle log, checkpoints, audit query model, immutability triggers.
        await using (var ledger = new NpgsqlCommand(TenantEvents.Audit.AuditSchema.Sql(s), connection, transaction))
            await ledger.ExecuteNonQueryAsync();
        await using (var backfill = new NpgsqlCommand(TenantEvents.Audit.AuditSchema.BackfillSql(s), connection, transaction))
            await backfill.ExecuteNonQueryAsync();
        // The highest access version each tenant's organisation events were written at (Organisations/AccessSeal.cs): kept
        // by a trigger that runs as the owner, in a table the service's role may only read, so a version number put back
        // by someone holding that role's password is seen for what it is.
        var organisationTypes = string.Join(", ", TenantEvents.Organisations.OrganisationEventTypes.StoredNames.Select(n => $"'{n.Replace("'", "''")}'"));
        var created = false;
        await using (var exists = new NpgsqlCommand($"select to_regclass('{s}.access_high_water') is null", connection, transaction))
            created = (bool)(await exists.ExecuteScalarAsync())!;
        await using (var highWater = new NpgsqlCommand($"""
            create table if not exists {s}.access_high_water (
              tenant_id varchar(250) primary key,
              version bigint not null);
            create or replace function {s}.access_note_version() returns trigger language plpgsql security definer
              set search_path = pg_catalog, pg_temp as $f$
              begin
                if NEW.tenant_id is not null and NEW.type in ({organisationTypes})
                   and (NEW.headers ->> 'access_version') ~ '^[0-9]+$' and length(NEW.headers ->> 'access_version') < 19 then
                  insert into {s}.access_high_water as h (tenant_id, version) values (NEW.tenant_id, (NEW.headers ->> 'access_version')::bigint)
                  on conflict (tenant_id) do update set version = excluded.version where h.version < excluded.version;
                end if;
                return null;
              end $f$;
            create or replace trigger access_high_water after insert on {s}.mt_events for each row
              when ((NEW.headers ->> 'access_version') is not null) execute function {s}.access_note_version();
            """, connection, transaction))
            await highWater.ExecuteNonQueryAsync();
        // Filled from the events once, when the table is made (an operator who lowered a planted value keeps it lowered).
        if (created)
            await using (var backfill = new NpgsqlCommand($"""
                insert into {s}.access_high_water (tenant_id, version)
                  select tenant_id, max((headers ->> 'access_version')::bigint) from {s}.mt_events
                  where type in ({organisationTypes}) and (headers ->> 'access_version') ~ '^[0-9]+$' and length(headers ->> 'access_version') < 19
                  group by tenant_id
                on conflict (tenant_id) do nothing
                """, connection, transaction))
                await backfill.ExecuteNonQueryAsync();
        // Quotas (Quotas/QuotaSchema.cs): allocations, usage counters, daily history, alerts, AI compute reservations.
        await using (var quotas = new NpgsqlCommand(TenantEvents.Quotas.QuotaSchema.Sql(s), connection, transaction))
            await quotas.ExecuteNonQueryAsync();
        // Case files and sharing (Sharing/SharingSchema.cs): their own row-level security policies, which say what another
        // tenant may see (so the generic tenant policy below leaves them alone).
        await using (var sharing = new NpgsqlCommand(TenantEvents.Sharing.SharingSchema.Sql(s, setting), connection, transaction))
            await sharing.ExecuteNonQueryAsync();
        // Analytics (Analytics/AnalyticsSchema.cs): users active per day and feature area, as blind-index tokens.
        await using (var analytics = new NpgsqlCommand(TenantEvents.Analytics.AnalyticsSchema.Sql(s), connection, transaction))
            await analytics.ExecuteNonQueryAsync();
        // Event delivery (Delivery/DeliverySchema.cs): webhook subscriptions, their outbox, and the commit notification.
        await using (var delivery = new NpgsqlCommand(TenantEvents.Delivery.DeliverySchema.Sql(s), connection, transaction))
            await delivery.ExecuteNonQueryAsync();

        var unprotected = new List<string>();
        await using (var find = new NpgsqlCommand("""
            select c.relname from pg_class c
            join pg_namespace n on n.oid = c.relnamespace
            join pg_attribute a on a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped
            where n.nspname = @schema and c.relkind in ('r', 'p')
              and not exists (select 1 from pg_policies p where p.schemaname = n.nspname and p.tablename = c.relname)
            order by c.relname
            """, connection, transaction))
        {
            find.Parameters.AddWithValue("schema", schema);
            await using var reader = await find.ExecuteReaderAsync();
            while (await reader.ReadAsync()) unprotected.Add(reader.GetString(0));
        }

        var statements = new List<string>();
        foreach (var table in unprotected)
            statements.Add($"""
                create policy tenant_isolation on {s}.{Quote(table)} for all
                  using (tenant_id = current_setting('{setting}', true))
                  with check (tenant_id = current_setting('{setting}', true))
                """);
        statements.Add($"""
            do $$ declare t record; begin
              for t in select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
                       join pg_attribute a on a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped
                       where n.nspname = '{schema.Replace("'", "''")}' and c.relkind in ('r', 'p') and not c.relrowsecurity
              loop execute format('alter table %I.%I enable row level security', '{schema.Replace("'", "''")}', t.relname); end loop;
            end $$
            """);
        statements.AddRange([
            // A connection that names no tenant sees no tenant's rows rather than failing on an unset setting. PostgreSQL
            // 15 lets only a superuser (or a holder of SET on the parameter) make that the database default; without
            // it, such a connection fails closed instead, which is also safe.
            $"""
            do $$ begin execute format('alter database %I set {setting} = %L', current_database(), '');
            exception when insufficient_privilege then raise notice 'database default for {setting} left to an administrator'; end $$
            """,
            $"grant usage on schema {s} to {AppRole}, {PlatformRole}",
            // The service roles may not change what binds them.
            $"revoke create on schema {s} from {AppRole}, {PlatformRole}, public",
            // Functions the owner makes later are not executable by everyone either (the declaration grants them).
            "alter default privileges revoke execute on functions from public",
        ]);
        // Whether this database follows the service's clock for sharing expiry (tests move it) or the server's.
        if (followServiceClock is { } follow)
            statements.Add($"update {s}.sharing_clock set follows_service = {(follow ? "true" : "false")}");
        foreach (var sql in statements)
        {
            await using var command = new NpgsqlCommand(sql, connection, transaction);
            await command.ExecuteNonQueryAsync();
        }
        await ApplyPrivilegesAsync(connection, transaction, schema);
        await transaction.CommitAsync();
    }

    /// <summary>
    /// The declaration (<see cref="DatabasePrivileges"/>) made true: on every table, sequence and function of the schema,
    /// everything the service roles and PUBLIC hold is revoked and exactly what is declared is granted. An undeclared
    /// object is left closed to both roles (and DatabasePrivilegeTests names it). A security-definer function must be
    /// declared as one and fix its search_path, or `migrate` stops.
    /// </summary>
    private static async Task ApplyPrivilegesAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string schema)
    {
        var s = Quote(schema);
        var statements = new List<string>();
        var roles = $"public, {AppRole}, {PlatformRole}";
        await using (var tables = new NpgsqlCommand("""
            select c.relname, c.relkind::text, coalesce(parent.relname, '') from pg_class c
            join pg_namespace n on n.oid = c.relnamespace
            left join pg_inherits i on i.inhrelid = c.oid left join pg_class parent on parent.oid = i.inhparent
            where n.nspname = @schema and c.relkind in ('r', 'p', 'v', 'm', 'f', 'S')
            order by c.relname
            """, connection, transaction))
        {
            tables.Parameters.AddWithValue("schema", schema);
            await using var reader = await tables.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                var (name, kind, parent) = (reader.GetString(0), reader.GetString(1), reader.GetString(2));
                var table = $"{s}.{Quote(name)}";
                if (kind == "S")
                {
                    statements.Add($"revoke all on sequence {table} from {roles}");
                    if (DatabasePrivileges.Sequences.Contains(name)) statements.Add($"grant usage, select on sequence {table} to {AppRole}");
                    continue;
                }
                statements.Add($"revoke all on table {table} from {roles}");
                if (DatabasePrivileges.Table(parent.Length > 0 ? parent : name) is not { } grant) continue;
                if (grant.App != TableAccess.None)
                    statements.Add($"grant {string.Join(", ", DatabasePrivileges.Names(grant.App))} on table {table} to {AppRole}");
                if (grant.Platform != TableAccess.None)
                    statements.Add($"grant {string.Join(", ", DatabasePrivileges.Names(grant.Platform))} on table {table} to {PlatformRole}");
            }
        }
        await using (var functions = new NpgsqlCommand("""
            select p.proname, format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)), p.prosecdef,
                   exists (select 1 from unnest(coalesce(p.proconfig, '{}')) c where c like 'search_path=%')
            from pg_proc p join pg_namespace n on n.oid = p.pronamespace
            where n.nspname = @schema order by 2
            """, connection, transaction))
        {
            functions.Parameters.AddWithValue("schema", schema);
            await using var reader = await functions.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                var (name, signature, definer, fixedPath) = (reader.GetString(0), reader.GetString(1), reader.GetBoolean(2), reader.GetBoolean(3));
                var grant = DatabasePrivileges.Function(name);
                if (definer && (grant is null || !grant.Definer || !fixedPath))
                    throw new InvalidOperationException($"{signature} runs as its owner: declare it as a definer in DatabasePrivileges and fix its search_path.");
                statements.Add($"revoke all on function {signature} from {roles}");
                if (grant is null) continue;
                var to = new[] { (grant.App, AppRole), (grant.Platform, PlatformRole) }.Where(g => g.Item1).Select(g => g.Item2).ToList();
                if (to.Count > 0) statements.Add($"grant execute on function {signature} to {string.Join(", ", to)}");
            }
        }
        await using var batch = new NpgsqlBatch(connection, transaction);
        foreach (var sql in statements) batch.BatchCommands.Add(new NpgsqlBatchCommand(sql));
        await batch.ExecuteNonQueryAsync();
    }

    private static string Quote(string identifier) => "\"" + identifier.Replace("\"", "\"\"") + "\"";
}
