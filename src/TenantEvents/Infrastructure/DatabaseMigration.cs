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
        if (args.Contains("--status"))
        {
            var (pending, lines) = await StatusAsync(args.Where(a => a != "--status").ToArray());
            foreach (var line in lines) Console.WriteLine(line);
            return pending ? 3 : 0;
        }
        await MigrateAsync(args, Console.Out);
        return 0;
    }

    /// <summary>
    /// `migrate --status`: what each database holds and what `migrate` would apply, changing nothing (exit 0: up to date,
    /// 3: migrations pending). Reads as the owner or, without its connection string, as the service's role.
    /// </summary>
    public static async Task<(bool Pending, IReadOnlyList<string> Lines)> StatusAsync(string[] args)
    {
        var builder = Hosting.CreateBuilder(args);
        var options = TenantEventsOptions.From(builder.Configuration);
        var connectionString = builder.Configuration.GetConnectionString(Hosting.OwnerConnectionStringName) is { Length: > 0 } owner
            ? owner
            : builder.Configuration.GetConnectionString(Hosting.ConnectionStringName)
              ?? throw new InvalidOperationException($"No database: set ConnectionStrings:{Hosting.OwnerConnectionStringName}.");
        var schema = options.DatabaseSchema;
        var databases = new List<(string Id, string Database, string? Host, int? Port)>();
        var main = new NpgsqlConnectionStringBuilder(connectionString).Database!;
        await using (var source = NpgsqlDataSource.Create(connectionString))
            databases.AddRange((await new TenantDirectory(source, Quote(schema)).DatabasesAsync()).Select(d => (d.Id, d.Database, d.Host, d.Port)));
        if (databases.Count == 0) databases.Add(("default", main, null, null));
        var lines = new List<string>();
        var pending = false;
        foreach (var (id, database, host, port) in databases)
        {
            await using var connection = new NpgsqlConnection(ResidencyZones.ConnectionString(connectionString, database, host, port));
            IReadOnlyDictionary<string, int> versions;
            try
            {
                await connection.OpenAsync();
                versions = await SchemaRegistry.VersionsAsync(connection, schema);
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.InvalidCatalogName)
            {
                versions = new Dictionary<string, int>(); // not created yet: `migrate` creates it
            }
            var tracks = id == "default" ? new[] { SchemaRegistry.DirectoryTrack, SchemaRegistry.TenantsTrack } : [SchemaRegistry.TenantsTrack];
            foreach (var track in tracks)
            {
                var at = versions.GetValueOrDefault(track);
                var migrations = SchemaRegistry.Track(track);
                lines.Add($"{id} ({database}): {track} at version {at} of {migrations[^1].Version}");
                foreach (var migration in migrations.Where(m => m.Version > at))
                {
                    pending = true;
                    lines.Add($"  pending {migration.Version}: {migration.Name}{(migration.Data is null ? "" : " (with a data step)")}");
                }
            }
        }
        return (pending, lines);
    }

    /// <summary>`migrate` with these arguments (configuration, and `--to N`); returns the migrations it applied.</summary>
    public static async Task<IReadOnlyList<string>> MigrateAsync(string[] args, TextWriter? output = null)
    {
        var builder = Hosting.CreateBuilder(args);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        var options = TenantEventsOptions.From(builder.Configuration);
        var connectionString = builder.Configuration.GetConnectionString(Hosting.OwnerConnectionStringName);
        if (string.IsNullOrWhiteSpace(connectionString))
            throw new InvalidOperationException($"No database: set ConnectionStrings:{Hosting.OwnerConnectionStringName} (the schema owner).");
        // `migrate --to N`: stop at version N of the tenant data's schema (an operator's staged upgrade; the tests make the
        // previous release's schema this way).
        int? target = builder.Configuration["to"] is { Length: > 0 } to
            ? int.TryParse(to, out var n) ? n : throw new InvalidOperationException($"--to {to}: a schema version is a number.")
            : null;
        var applied = new List<string>();
        var databases = await PrepareDatabasesAsync(connectionString, options.DatabaseSchema, new ResidencyZones(options.Zones), applied);

        builder.AddTenantEvents(migrating: true);
        await using (var app = builder.Build())
        {
            await app.SetupResources();
            foreach (var database in databases)
                applied.AddRange(await SecureAsync(ResidencyZones.ConnectionString(connectionString, database.Database, database.Host, database.Port),
                    options.DatabaseSchema, options.DatabaseFollowsServiceClock, app.Services, target));
        }
        foreach (var line in applied) output?.WriteLine("applied " + line);
        output?.WriteLine($"Schema {options.DatabaseSchema} is at version {target ?? SchemaRegistry.Tenants[^1].Version} in {databases.Count} database(s) " +
                          $"({string.Join(", ", databases.Select(d => $"{d.Id}: {d.Database}{(d.DedicatedTo is { } t ? " for " + t : "")}"))}); " +
                          "row-level security and grants applied.");
        return applied;
    }

    /// <summary>
    /// The platform directory in the main database, every configured zone's database, and enough free dedicated
    /// databases for each zone's pool: created when absent (the owner needs CREATEDB for that) and registered.
    /// </summary>
    public static async Task<IReadOnlyList<DatabaseEntry>> PrepareDatabasesAsync(string ownerConnectionString, string schema, ResidencyZones zones,
        List<string>? applied = null)
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
        await using (var connection = await source.OpenConnectionAsync())
        await using (var transaction = await connection.BeginTransactionAsync())
        {
            var done = await SchemaRegistry.ApplyAsync(connection, transaction, schema, SchemaRegistry.DirectoryTrack, target: null, services: null);
            await transaction.CommitAsync();
            applied?.AddRange(done);
        }
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
            // The zone's first shared database takes the zone's capacity; every further one is registered as {zone}.{database}
            // (created when absent), with its own. Running instances take a new one without a restart (TenantDatabases),
            // and place_tenant fills the least full. One removed from the configuration stays registered: it holds tenants.
            await Execute($"update {s}.tenant_databases set capacity = $2 where id = $1 and capacity is distinct from $2", zone, config.Capacity);
            foreach (var more in config.Shared)
            {
                var id = $"{zone}.{more.Database}";
                var (host, port) = (more.Host ?? config.Host, more.Port ?? config.Port);
                if (registered.TryGetValue(id, out var existing))
                {
                    if (existing.Database != more.Database || existing.Host != host || existing.Port != port)
                        throw new InvalidOperationException($"Database {id} is registered on {existing.Host}:{existing.Port}; the configuration names " +
                                                            $"{host}:{port}. Moving a database's tenants is a tenant move, not a setting.");
                }
                else
                {
                    await CreateDatabaseAsync(ownerConnectionString, more.Database!, host, port);
                    await Execute($"insert into {s}.tenant_databases (id, zone, database, host, port, dedicated) values ($1, $2, $3, $4, $5, false)",
                        id, zone, more.Database, host, port);
                }
                await Execute($"update {s}.tenant_databases set capacity = $2 where id = $1 and capacity is distinct from $2", id, more.Capacity ?? config.Capacity);
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
    /// <returns>The migrations applied (<see cref="SchemaRegistry"/>).</returns>
    public static async Task<IReadOnlyList<string>> SecureAsync(string ownerConnectionString, string schema, bool? followServiceClock = null,
        IServiceProvider? services = null, int? target = null)
    {
        var s = Quote(schema);
        var setting = Hosting.TenantSetting;
        await using var connection = new NpgsqlConnection(ownerConnectionString);
        await connection.OpenAsync();
        await using var transaction = await connection.BeginTransactionAsync();

        // Every table, index, function and trigger of the service's own, by version (Infrastructure/Databases/SchemaRegistry.cs).
        var applied = await SchemaRegistry.ApplyAsync(connection, transaction, schema, SchemaRegistry.TenantsTrack, target, services);

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
        await GuardAsync(connection, schema);
        return applied;
    }

    /// <summary>
    /// Writes of a tenant that moved to another database are refused here: the events by their trigger, every other
    /// guarded table with a tenant_id (found by looking, like the policies) by its three (Tenants/Moves/TenantMoveSchema.cs;
    /// once the functions exist). Outside the migration's transaction and one table at a time, each with a short lock
    /// timeout and retried: `migrate` runs while the previous release serves, and a trigger is made under a table lock;
    /// holding several at once could deadlock with a command writing those tables. A table already guarded is left alone.
    /// </summary>
    private static async Task GuardAsync(NpgsqlConnection connection, string schema)
    {
        var s = Quote(schema);
        var work = new List<(string Table, string Sql)>();
        await using (var find = new NpgsqlCommand(GuardedTablesSql, connection))
        {
            find.Parameters.AddWithValue("schema", schema);
            await using var reader = await find.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                var (table, owner, guarded) = (reader.GetString(0), reader.GetString(1), reader.GetInt64(2));
                if (table == "mt_events") { if (guarded == 0) work.Add((table, TenantEvents.Tenants.Moves.TenantMoveSchema.EventsGuardSql(s))); }
                else if (!TenantEvents.Tenants.Moves.TenantMoveSchema.Unguarded.Contains(table) && guarded < 3)
                    work.Add((table, TenantEvents.Tenants.Moves.TenantMoveSchema.GuardSql(s, table, owner)));
            }
        }
        foreach (var (table, sql) in work)
            for (var attempt = 1; ; attempt++)
            {
                await using var transaction = await connection.BeginTransactionAsync();
                try
                {
                    await using (var timeout = new NpgsqlCommand("set local lock_timeout = '2s'", connection, transaction)) await timeout.ExecuteNonQueryAsync();
                    await using (var guard = new NpgsqlCommand(sql, connection, transaction)) await guard.ExecuteNonQueryAsync();
                    await transaction.CommitAsync();
                    break;
                }
                catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.LockNotAvailable or PostgresErrorCodes.DeadlockDetected && attempt < 30)
                {
                    await transaction.RollbackAsync();
                    await Task.Delay(TimeSpan.FromMilliseconds(200 * attempt));
                }
            }
    }

    /// <summary>Tables with a tenant_id (not partitions), the owner, and how many move guards each has already.</summary>
    private const string GuardedTablesSql = """
        select c.relname, current_user::text,
               (select count(*) from pg_trigger t where t.tgrelid = c.oid and (t.tgname like 'refuse_moved_%' or t.tgname = 'events_refuse_moved'))
        from pg_class c
        join pg_namespace n on n.oid = c.relnamespace
        join pg_attribute a on a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped
        where n.nspname = @schema and c.relkind in ('r', 'p') and not c.relispartition
          and to_regprocedure(quote_ident(@schema) || '.refuse_moved_rows()') is not null
        order by c.relname
        """;

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

    private static string Quote(string identifier) => SchemaRegistry.Quote(identifier);
}
