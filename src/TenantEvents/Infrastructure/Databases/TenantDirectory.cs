using Npgsql;

namespace TenantEvents.Infrastructure.Databases;

/// <summary>One of our databases, as registered in tenant_databases (main database).</summary>
/// <param name="Capacity">A shared database's most tenants (null: the default, or a dedicated database's one).</param>
public sealed record DatabaseEntry(string Id, string Zone, string Database, string? Host, int? Port, bool Dedicated, Guid? DedicatedTo, int? Capacity = null);

/// <summary>
/// The platform directory in the main database: which databases exist (tenant_databases), which tenant lives in which
/// (tenant_placements), the platform-wide namespaces (tenant_slugs) and the first outcome of each Idempotency-Key
/// (idempotency_records). Routing metadata only: identifiers, slugs, zone names. Every event, read model, key and
/// personal datum of a tenant lives in its placement's database.
/// </summary>
public sealed class TenantDirectory(NpgsqlDataSource main, string schema, NpgsqlDataSource? platform = null)
{
    public const string DefaultDatabaseId = ResidencyZones.DefaultZone;

    public string Schema => schema;

    /// <summary>The main database (service role): the directory and the platform's identity tables.</summary>
    public NpgsqlDataSource Main => main;

    /// <summary>
    /// The main database as the platform role: the platform's own records (token signing keys, the audit log key, the
    /// issuer index), which the service's role may read but not write (Databases/DatabasePrivileges.cs). For `migrate`,
    /// which runs as the owner, the owner's.
    /// </summary>
    public NpgsqlDataSource Platform => platform ?? main;

    public static string CreateTablesSql(string schema) => $"""
        create table if not exists {schema}.tenant_databases (
          id text primary key,
          zone text not null,
          database text not null,
          host text,
          port integer,
          dedicated boolean not null,
          dedicated_to uuid unique,
          created_at timestamptz not null default now());
        create table if not exists {schema}.tenant_placements (
          tenant uuid primary key,
          database_id text not null references {schema}.tenant_databases (id),
          zone text not null,
          placed_at timestamptz not null default now());
        create table if not exists {schema}.tenant_slugs (
          slug text primary key,
          tenant uuid not null);
        create table if not exists {schema}.idempotency_records (
          id text primary key,
          request_hash text not null,
          tenant uuid not null,
          created_at timestamptz not null);
        -- Identity (Identity/): which tenant a service account's client id or an identity provider's issuer belongs to,
        -- tokens revoked before a time (a disabled account: infinity), and the platform's token signing keys (the
        -- private half only wrapped by the key service).
        create table if not exists {schema}.oauth_clients (
          client_id uuid primary key,
          tenant uuid not null);
        create table if not exists {schema}.credential_revocations (
          client_id uuid primary key,
          tenant uuid not null,
          not_before timestamptz not null,
          changed_at timestamptz not null default clock_timestamp());
        create index if not exists credential_revocations_changed on {schema}.credential_revocations (changed_at);
        create table if not exists {schema}.identity_issuers (
          issuer text primary key,
          tenant uuid not null unique,
          configured_at timestamptz not null default clock_timestamp());
        create table if not exists {schema}.platform_signing_keys (
          kid text primary key,
          algorithm text not null,
          public_x bytea not null,
          public_y bytea not null,
          kek_id text not null,
          wrap_algorithm text not null,
          wrapped_d bytea not null,
          created_at timestamptz not null,
          retired_at timestamptz);
        -- The key that signs every tenant's audit checkpoints (Audit/AuditLog.cs): ECDSA P-256, the private scalar
        -- wrapped by the key service. Long-lived: auditors pin its public key.
        create table if not exists {schema}.audit_log_keys (
          key_id bigint primary key,
          name text not null,
          spki bytea not null,
          kek_id text not null,
          wrap_algorithm text not null,
          wrapped_d bytea not null,
          created_at timestamptz not null,
          retired_at timestamptz);
        -- Places a new tenant: in its zone's shared database, or in a free dedicated database of the zone, claimed for it.
        -- The service's role may not write placements or the registry (a registered database's host receives the
        -- platform role's password): this function, running as the owner, chooses the database itself from what
        -- `migrate` registered, and a tenant placed once stays where it is. Null when the zone has no such database.
        create or replace function {schema}.place_tenant(p_tenant uuid, p_zone text, p_dedicated boolean) returns text
          language plpgsql security definer set search_path = pg_catalog, pg_temp as $f$
          declare chosen text;
          begin
            if p_tenant is null or p_zone is null or p_dedicated is null then
              raise exception 'place_tenant: tenant, zone and kind are required' using errcode = '22004';
            end if;
            if p_dedicated then
              update {schema}.tenant_databases set dedicated_to = p_tenant
              where id = (select d.id from {schema}.tenant_databases d where d.zone = p_zone and d.dedicated and d.dedicated_to is null
                          order by d.created_at, d.id limit 1 for update skip locked)
              returning id into chosen;
            else
              select d.id into chosen from {schema}.tenant_databases d where d.zone = p_zone and not d.dedicated order by d.id limit 1;
            end if;
            if chosen is not null then
              insert into {schema}.tenant_placements (tenant, database_id, zone) values (p_tenant, chosen, p_zone);
            end if;
            return chosen;
          end $f$;
        """;

    /// <summary>
    /// Directory migration 3: shared databases have a capacity, and a zone may have several; a new tenant goes to the
    /// zone's shared database that is least full (tenants over capacity), among those with room. Placements still never
    /// move by themselves. Capacity is a bound on what is committed: tenants being placed at the same moment may each take
    /// the last place (a handful over, never a runaway).
    /// </summary>
    public static string CapacitySql(string schema) => $$"""
        alter table {{schema}}.tenant_databases add column if not exists capacity integer check (capacity > 0);
        create index if not exists tenant_placements_database on {{schema}}.tenant_placements (database_id);
        create or replace function {{schema}}.place_tenant(p_tenant uuid, p_zone text, p_dedicated boolean) returns text
          language plpgsql security definer set search_path = pg_catalog, pg_temp as $f$
          declare chosen text;
          begin
            if p_tenant is null or p_zone is null or p_dedicated is null then
              raise exception 'place_tenant: tenant, zone and kind are required' using errcode = '22004';
            end if;
            if p_dedicated then
              update {{schema}}.tenant_databases set dedicated_to = p_tenant
              where id = (select d.id from {{schema}}.tenant_databases d where d.zone = p_zone and d.dedicated and d.dedicated_to is null
                          order by d.created_at, d.id limit 1 for update skip locked)
              returning id into chosen;
            else
              select d.id into chosen
              from {{schema}}.tenant_databases d
              cross join lateral (select count(*) as tenants from {{schema}}.tenant_placements p where p.database_id = d.id) c
              where d.zone = p_zone and not d.dedicated and c.tenants < coalesce(d.capacity, {{ZoneOptions.DefaultCapacity}})
              order by c.tenants::numeric / coalesce(d.capacity, {{ZoneOptions.DefaultCapacity}}), d.created_at, d.id
              limit 1;
            end if;
            if chosen is not null then
              insert into {{schema}}.tenant_placements (tenant, database_id, zone) values (p_tenant, chosen, p_zone);
            end if;
            return chosen;
          end $f$;
        """;

    private string DatabasesSql => $"select id, zone, database, host, port, dedicated, dedicated_to, capacity from {schema}.tenant_databases order by id";

    private string PlacementSql => $"select database_id from {schema}.tenant_placements where tenant = $1";

    public async Task<IReadOnlyList<DatabaseEntry>> DatabasesAsync(CancellationToken cancellation = default)
    {
        await using var command = main.CreateCommand(DatabasesSql);
        try
        {
            await using var reader = await command.ExecuteReaderAsync(cancellation);
            var list = new List<DatabaseEntry>();
            while (await reader.ReadAsync(cancellation)) list.Add(ReadEntry(reader));
            return list;
        }
        catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.UndefinedTable or PostgresErrorCodes.InvalidSchemaName)
        {
            return []; // not migrated yet: only the main database
        }
    }

    /// <summary>How many tenants each database holds (placements, decommissioned tenants included: their sealed events stay).</summary>
    public async Task<IReadOnlyDictionary<string, long>> TenantsPerDatabaseAsync(CancellationToken cancellation = default)
    {
        await using var command = main.CreateCommand($"select database_id, count(*) from {schema}.tenant_placements group by database_id");
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        await using var reader = await command.ExecuteReaderAsync(cancellation);
        while (await reader.ReadAsync(cancellation)) counts[reader.GetString(0)] = reader.GetInt64(1);
        return counts;
    }

    /// <summary>Synchronous, for Marten's synchronous tenant lookup (only on a cache miss).</summary>
    public IReadOnlyList<DatabaseEntry> Databases()
    {
        using var command = main.CreateCommand(DatabasesSql);
        try
        {
            using var reader = command.ExecuteReader();
            var list = new List<DatabaseEntry>();
            while (reader.Read()) list.Add(ReadEntry(reader));
            return list;
        }
        catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.UndefinedTable or PostgresErrorCodes.InvalidSchemaName)
        {
            return [];
        }
    }

    /// <summary>The database a tenant was placed in, or null for an id that is no tenant of ours.</summary>
    public string? PlacementOf(Guid tenant)
    {
        using var command = main.CreateCommand(PlacementSql);
        command.Parameters.Add(new NpgsqlParameter { Value = tenant });
        return command.ExecuteScalar() as string;
    }

    public async Task<string?> PlacementOfAsync(Guid tenant, CancellationToken cancellation)
    {
        await using var command = main.CreateCommand(PlacementSql);
        command.Parameters.Add(new NpgsqlParameter { Value = tenant });
        return await command.ExecuteScalarAsync(cancellation) as string;
    }

    /// <summary>The tenant holding a short name (slug), or null when nobody holds it.</summary>
    public async Task<Guid?> TenantOfSlugAsync(string slug, CancellationToken cancellation)
    {
        await using var command = main.CreateCommand($"select tenant from {schema}.tenant_slugs where slug = $1");
        command.Parameters.Add(new NpgsqlParameter { Value = slug });
        return await command.ExecuteScalarAsync(cancellation) as Guid?;
    }

    public async Task<(string RequestHash, Guid Tenant)?> IdempotencyRecordAsync(string id, CancellationToken cancellation)
    {
        await using var command = main.CreateCommand($"select request_hash, tenant from {schema}.idempotency_records where id = $1");
        command.Parameters.Add(new NpgsqlParameter { Value = id });
        await using var reader = await command.ExecuteReaderAsync(cancellation);
        return await reader.ReadAsync(cancellation) ? (reader.GetString(0), reader.GetGuid(1)) : null;
    }

    /// <summary>A rejected request frees its slug (only if the slug is still that tenant's).</summary>
    public async Task ReleaseSlugAsync(string slug, Guid tenant, CancellationToken cancellation)
    {
        await using var command = main.CreateCommand($"delete from {schema}.tenant_slugs where slug = $1 and tenant = $2");
        command.Parameters.Add(new NpgsqlParameter { Value = slug });
        command.Parameters.Add(new NpgsqlParameter { Value = tenant });
        await command.ExecuteNonQueryAsync(cancellation);
    }

    /// <summary>
    /// Reserves the slug (and the Idempotency-Key) and places the tenant, claiming a dedicated database if it needs one,
    /// in a transaction that stays open until the caller has committed the tenant's first event in its own database:
    /// a concurrent request for the same slug or key waits on it and then sees the outcome. Disposing without
    /// <see cref="Reservation.CommitAsync"/> undoes all of it.
    /// </summary>
    public async Task<ReservationOutcome> ReserveAsync(Guid tenant, string slug, string? idempotencyId, string requestHash, DateTimeOffset at,
        Placement placement, CancellationToken cancellation)
    {
        var connection = await main.OpenConnectionAsync(cancellation);
        var transaction = await connection.BeginTransactionAsync(cancellation);
        try
        {
            async Task<object?> Scalar(string sql, params object[] values)
            {
                await using var command = new NpgsqlCommand(sql, connection, transaction);
                Sql.Bind(command, values);
                return await command.ExecuteScalarAsync(cancellation);
            }

            if (await Scalar($"insert into {schema}.tenant_slugs (slug, tenant) values ($1, $2) on conflict do nothing returning slug", slug, tenant) is null)
                return await Abandon(new SlugTaken());
            if (idempotencyId is not null && await Scalar(
                    $"insert into {schema}.idempotency_records (id, request_hash, tenant, created_at) values ($1, $2, $3, $4) on conflict do nothing returning id",
                    idempotencyId, requestHash, tenant, at) is null)
                return await Abandon(new KeyTaken());
            var database = await Scalar($"select {schema}.place_tenant($1, $2, $3)", tenant, placement.Zone, placement.Dedicated) as string;
            if (database is null) return await Abandon(new NoDatabase(placement));
            return new Reservation(connection, transaction, database);
        }
        catch
        {
            await transaction.DisposeAsync();
            await connection.DisposeAsync();
            throw;
        }

        async Task<ReservationOutcome> Abandon(ReservationOutcome outcome)
        {
            await transaction.RollbackAsync(cancellation);
            await transaction.DisposeAsync();
            await connection.DisposeAsync();
            return outcome;
        }
    }

    private static DatabaseEntry ReadEntry(NpgsqlDataReader r) => new(r.GetString(0), r.GetString(1), r.GetString(2),
        r.IsDBNull(3) ? null : r.GetString(3), r.IsDBNull(4) ? null : r.GetInt32(4), r.GetBoolean(5), r.IsDBNull(6) ? null : r.GetGuid(6),
        r.IsDBNull(7) ? null : r.GetInt32(7));
}

public abstract record ReservationOutcome;

public sealed record SlugTaken : ReservationOutcome;

/// <summary>The Idempotency-Key was recorded by another request meanwhile.</summary>
public sealed record KeyTaken : ReservationOutcome;

/// <summary>The zone has no database for this placement (no free dedicated database, or the zone was never migrated).</summary>
public sealed record NoDatabase(Placement Placement) : ReservationOutcome;

/// <summary>The open directory transaction of a tenant being created, and the database it was placed in.</summary>
public sealed record Reservation(NpgsqlConnection Connection, NpgsqlTransaction Transaction, string DatabaseId) : ReservationOutcome, IAsyncDisposable
{
    public async Task CommitAsync(CancellationToken cancellation) => await Transaction.CommitAsync(cancellation);

    public async ValueTask DisposeAsync()
    {
        await Transaction.DisposeAsync();
        await Connection.DisposeAsync();
    }
}
