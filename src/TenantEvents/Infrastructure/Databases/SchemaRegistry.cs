using System.Security.Cryptography;
using System.Text;
using Npgsql;

namespace TenantEvents.Infrastructure.Databases;

/// <summary>
/// One versioned change to the schema: statements run once, in order, by `migrate`, as the owner, in one transaction
/// with the record of it (schema_migrations); optionally a data step that needs the service's code (and keys) and runs
/// in the same transaction. Once released, a migration is never edited (its checksum is recorded where it ran and
/// pinned by SchemaMigrationTests): a change to the schema is a new migration.
/// </summary>
/// <param name="Statements">The SQL, given the quoted schema name.</param>
/// <param name="Data">Work on the rows that only code can do (sealing, say); returns what it did, for the operator.</param>
public sealed record SchemaMigration(int Version, string Name, Func<string, IReadOnlyList<string>> Statements,
    Func<MigrationStep, Task<string>>? Data = null)
{
    /// <summary>SHA-256 of the statements as written for a schema called "schema" (so it does not depend on the setting).</summary>
    public string Checksum => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join("\n;\n", Statements("\"schema\"")))));
}

/// <summary>What a migration's data step works with: the migration's own connection and transaction, and the service's code.</summary>
public sealed record MigrationStep(NpgsqlConnection Connection, NpgsqlTransaction Transaction, string Schema, IServiceProvider Services,
    CancellationToken Cancellation);

/// <summary>A database the migrations cannot be applied to as they are (edited after release, or newer than this code).</summary>
public sealed class SchemaHistoryException(string message) : InvalidOperationException(message);

/// <summary>
/// THE schema of the service's own tables, per track, in order. Each table, index, function, trigger and policy is made
/// by exactly one migration here (the SQL is written beside the capability that owns it); what each role may do with
/// them is declared in <see cref="DatabasePrivileges"/> (which also says which tables the tests empty), and row-level
/// security is put on every table with a tenant_id by `migrate` (<see cref="DatabaseMigration.SecureAsync"/>).
/// Marten's and Wolverine's own tables are theirs: Weasel compares them with the configuration and migrates them
/// (`SetupResources`), before these run.
/// <list type="bullet">
/// <item><see cref="Directory"/>: the platform directory, in the main database only (which database holds which tenant,
/// slugs, idempotency records, identity's issuer index and signing keys).</item>
/// <item><see cref="Tenants"/>: in every database that holds tenants (main, zone, dedicated).</item>
/// </list>
/// A database made before this registry (the release of 2026-12-03 or earlier) has no history: migration 1 of each track
/// is idempotent (create if absent), so it is recorded as applied over what is there, and what came later runs once.
/// </summary>
public static class SchemaRegistry
{
    public const string DirectoryTrack = "directory";
    public const string TenantsTrack = "tenants";

    public static readonly IReadOnlyList<SchemaMigration> Directory =
    [
        new(1, "the platform directory (release of 2026-12-03)", s => [TenantDirectory.CreateTablesSql(s)]),
        new(2, "tenants' verified names (custom domains, issue 20)", s => [Domains.DomainIndex.SchemaSql(s)]),
        new(3, "several shared databases per zone, placement by capacity (issue 20)", s => [TenantDirectory.CapacitySql(s)]),
        new(4, "the platform's own incidents, their events and deadlines (issue 23)", s => [Compliance.ComplianceSchema.PlatformSql(s)]),
    ];

    public static readonly IReadOnlyList<SchemaMigration> Tenants =
    [
        new(1, "tenant data: keys, organisations, SCIM, audit ledger, quotas, sharing, analytics, delivery (release of 2026-12-03)", s =>
        [
            Keys.KeySchema.V1(s), Organisations.OrganisationSchema.V1(s), Scim.ScimTables.V1(s), Audit.AuditSchema.Sql(s),
            Audit.AuditSchema.BackfillSql(s), Quotas.QuotaSchema.Sql(s), Sharing.SharingSchema.Sql(s, Hosting.TenantSetting),
            Analytics.AnalyticsSchema.Sql(s), Delivery.DeliverySchema.Sql(s),
        ]),
        new(2, "access-state MAC and its high water (issue 18)", s => [Organisations.OrganisationSchema.V2(s)],
            Data: step => step.Services.GetRequiredService<Organisations.OrganisationStore>().SealUnstampedAsync(step)),
        new(3, "tenant moves between databases: writes refused where a tenant left, ledger numbers of moved events (issue 20)",
            s => [TenantEvents.Tenants.Moves.TenantMoveSchema.Sql(s)]),
        new(4, "billing: accounts, invoices and credit notes, number series, billed usage, budget refusals, allocation history (issue 22)",
            s => [Billing.BillingSchema.Sql(s)]),
        new(5, "compliance: data-subject requests and incidents, their deadlines (issue 23)", s => [Compliance.ComplianceSchema.Sql(s)]),
    ];

    public static IReadOnlyList<SchemaMigration> Track(string track) => track switch
    {
        DirectoryTrack => Directory,
        TenantsTrack => Tenants,
        _ => throw new ArgumentException($"No schema track '{track}'.", nameof(track)),
    };

    /// <summary>The table that records what ran where (the runner's own, so the one `if not exists` that must stay).</summary>
    public static string HistorySql(string s) => $"""
        create table if not exists {s}.schema_migrations (
          track text not null,
          version integer not null,
          name text not null,
          checksum text not null,
          applied_at timestamptz not null default clock_timestamp(),
          primary key (track, version))
        """;

    /// <summary>
    /// Brings one database's track up to <paramref name="target"/> (default: the newest), in the caller's transaction,
    /// after taking a lock that keeps two `migrate` runs apart. Refuses a history that does not match this code: a
    /// recorded migration whose checksum differs (edited after release) or one this code does not know (the database is
    /// newer). Returns a line per migration applied.
    /// </summary>
    public static async Task<IReadOnlyList<string>> ApplyAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string schema,
        string track, int? target, IServiceProvider? services, CancellationToken cancellation = default)
    {
        var s = Quote(schema);
        var migrations = Track(track);
        var newest = target ?? migrations[^1].Version;
        if (migrations.All(m => m.Version != newest)) throw new SchemaHistoryException($"The {track} schema has no version {newest}.");
        await using (var lockCommand = Sql.Command(connection, transaction, "select pg_advisory_xact_lock(hashtextextended($1, 0))",
                         $"tenantevents-migrate:{schema}:{track}"))
            await lockCommand.ExecuteNonQueryAsync(cancellation);
        await using (var history = Sql.Command(connection, transaction, HistorySql(s)))
            await history.ExecuteNonQueryAsync(cancellation);

        var applied = new Dictionary<int, string>();
        await using (var read = Sql.Command(connection, transaction, $"select version, checksum from {s}.schema_migrations where track = $1", track))
        await using (var reader = await read.ExecuteReaderAsync(cancellation))
            while (await reader.ReadAsync(cancellation)) applied[reader.GetInt32(0)] = reader.GetString(1);
        foreach (var (version, checksum) in applied.OrderBy(a => a.Key))
        {
            var known = migrations.FirstOrDefault(m => m.Version == version)
                        ?? throw new SchemaHistoryException($"Database {connection.Database} holds {track} schema version {version}, which this release " +
                                                            $"does not know (it knows up to {migrations[^1].Version}): a newer release migrated it.");
            if (known.Checksum != checksum)
                throw new SchemaHistoryException($"{track} migration {version} ({known.Name}) ran in database {connection.Database} with other SQL " +
                                                 "than this release's: a released migration was edited. Restore its SQL and add a new migration.");
        }
        if (applied.Count > 0 && applied.Keys.Max() > newest)
            throw new SchemaHistoryException($"Database {connection.Database} is at {track} schema version {applied.Keys.Max()}; a migration " +
                                             $"back to {newest} is not possible (migrations only go forward).");

        var done = new List<string>();
        foreach (var migration in migrations.Where(m => !applied.ContainsKey(m.Version) && m.Version <= newest))
        {
            foreach (var sql in migration.Statements(s))
            {
                await using var command = Sql.Command(connection, transaction, sql);
                await command.ExecuteNonQueryAsync(cancellation);
            }
            var report = "";
            if (migration.Data is { } data)
                report = services is null
                    ? throw new InvalidOperationException($"{track} migration {migration.Version} has a data step and needs the service's code.")
                    : await data(new MigrationStep(connection, transaction, schema, services, cancellation));
            await using (var record = Sql.Command(connection, transaction,
                             $"insert into {s}.schema_migrations (track, version, name, checksum) values ($1, $2, $3, $4)",
                             track, migration.Version, migration.Name, migration.Checksum))
                await record.ExecuteNonQueryAsync(cancellation);
            done.Add($"{connection.Database}: {track} {migration.Version} ({migration.Name}){(report.Length > 0 ? ": " + report : "")}");
        }
        return done;
    }

    /// <summary>The versions recorded in a database (none when it predates the registry), per track.</summary>
    public static async Task<IReadOnlyDictionary<string, int>> VersionsAsync(NpgsqlConnection connection, string schema, CancellationToken cancellation = default)
    {
        var versions = new Dictionary<string, int>();
        await using var command = Sql.Command(connection, null, $"""
            select track, max(version) from {Quote(schema)}.schema_migrations group by track
            """);
        try
        {
            await using var reader = await command.ExecuteReaderAsync(cancellation);
            while (await reader.ReadAsync(cancellation)) versions[reader.GetString(0)] = reader.GetInt32(1);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedTable)
        {
        }
        return versions;
    }

    /// <summary>An identifier quoted for SQL (the schema's name, a table's).</summary>
    public static string Quote(string identifier) => "\"" + identifier.Replace("\"", "\"\"") + "\"";
}
