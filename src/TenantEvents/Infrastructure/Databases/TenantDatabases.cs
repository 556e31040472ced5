using System.Collections.Concurrent;
using JasperFx.Descriptors;
using JasperFx.MultiTenancy;
using Marten;
using Marten.Schema;
using Marten.Storage;
using Npgsql;
using Weasel.Core.Migrations;
using MartenTenant = Marten.Storage.Tenant;

namespace TenantEvents.Infrastructure.Databases;

/// <summary>
/// Marten's tenancy for TenantEvents: conjoined tenants (under row-level security) in a set of databases, one shared
/// database per residency zone plus dedicated databases that each hold one tenant. Which tenant lives where is read from
/// the directory (tenant_placements) and cached; a tenant moved to another database (Tenants/Moves) is forgotten on the
/// mover's notice (PlacementChanges), and an append that still reaches the old database is refused there. Databases
/// registered by `migrate` while the service runs are picked up without a restart (Wolverine polls
/// <see cref="BuildDatabases"/> for a dynamic tenancy, and an unknown database id reloads the registry).
/// An id that is no tenant of ours resolves to the main database, where nothing of it exists: reads find nothing.
/// </summary>
public sealed class TenantDatabases : ITenancy
{
    private readonly StoreOptions _options;
    private readonly TenantDirectory _directory;
    private readonly string _roleConnectionString;
    private readonly string? _platformConnectionString;
    private readonly ConcurrentDictionary<string, Database> _databases = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<Guid, string> _placements = new();
    private readonly object _registryLock = new();

    /// <summary>One database: Marten's handle, and data sources for our own SQL under the service's and the platform role.</summary>
    public sealed record Database(DatabaseEntry Entry, MartenDatabase Marten, NpgsqlDataSource Service, Lazy<NpgsqlDataSource?> Platform);

    /// <param name="roleConnectionString">The main database, as the role this process runs as (the service's, or the owner's for `migrate`).</param>
    /// <param name="platformConnectionString">The main database as the platform role (cross-tenant reads); null for `migrate`.</param>
    public TenantDatabases(StoreOptions options, TenantDirectory directory, NpgsqlDataSource mainDataSource, string roleConnectionString,
        string? platformConnectionString)
    {
        _options = options;
        _directory = directory;
        _roleConnectionString = roleConnectionString;
        _platformConnectionString = platformConnectionString;
        var mainName = new NpgsqlConnectionStringBuilder(roleConnectionString).Database ?? "";
        Main = new Database(new DatabaseEntry(TenantDirectory.DefaultDatabaseId, ResidencyZones.DefaultZone, mainName, null, null, false, null),
            new MartenDatabase(options, mainDataSource, TenantDirectory.DefaultDatabaseId), mainDataSource,
            new(() => platformConnectionString is null ? null : NpgsqlDataSource.Create(platformConnectionString)));
        _databases[Main.Entry.Id] = Main;
        Cleaner = new CompositeDocumentCleaner(this, options);
    }

    public Database Main { get; }

    public IReadOnlyCollection<Database> All => _databases.Values.OrderBy(d => d.Entry.Id, StringComparer.Ordinal).ToList();

    public DatabaseCardinality Cardinality => DatabaseCardinality.DynamicMultiple;

    public MartenTenant Default => new(JasperFx.StorageConstants.DefaultTenantId, Main.Marten);

    public IDocumentCleaner Cleaner { get; }

    /// <summary>The database a tenant lives in (the main one for an id that is no tenant of ours).</summary>
    public Database For(Guid tenant)
    {
        if (_placements.TryGetValue(tenant, out var id) && _databases.TryGetValue(id, out var known)) return known;
        var placed = _directory.PlacementOf(tenant);
        if (placed is null) return Main;
        var database = Find(placed) ?? throw new InvalidOperationException($"Tenant {tenant} is placed in database '{placed}', which is not registered.");
        _placements[tenant] = placed;
        return database;
    }

    public async ValueTask<Database> ForAsync(Guid tenant, CancellationToken cancellation = default)
    {
        if (_placements.TryGetValue(tenant, out var id) && _databases.TryGetValue(id, out var known)) return known;
        var placed = await _directory.PlacementOfAsync(tenant, cancellation);
        if (placed is null) return Main;
        if (!_databases.ContainsKey(placed)) await RefreshAsync(cancellation);
        var database = Find(placed) ?? throw new InvalidOperationException($"Tenant {tenant} is placed in database '{placed}', which is not registered.");
        _placements[tenant] = placed;
        return database;
    }

    /// <summary>Forgets where a tenant lives (it moved: the next use reads its placement again).</summary>
    public void Forget(Guid tenant) => _placements.TryRemove(tenant, out _);

    /// <summary>Forgets every placement (notices of moves may have been missed).</summary>
    public void ForgetAll() => _placements.Clear();

    /// <summary>Records where a tenant being created was just placed (its directory row is not committed yet).</summary>
    public async ValueTask<Database> RememberAsync(Guid tenant, string databaseId, CancellationToken cancellation)
    {
        if (!_databases.ContainsKey(databaseId)) await RefreshAsync(cancellation);
        var database = Find(databaseId) ?? throw new InvalidOperationException($"Database '{databaseId}' is not registered.");
        _placements[tenant] = databaseId;
        return database;
    }

    public MartenTenant GetTenant(string tenantId) =>
        new(tenantId, Guid.TryParse(tenantId, out var id) ? For(id).Marten : Main.Marten);

    public async ValueTask<MartenTenant> GetTenantAsync(string tenantId) =>
        new(tenantId, Guid.TryParse(tenantId, out var id) ? (await ForAsync(id)).Marten : Main.Marten);

    public async ValueTask<IMartenDatabase> FindOrCreateDatabase(string tenantIdOrDatabaseIdentifier)
    {
        if (_databases.TryGetValue(tenantIdOrDatabaseIdentifier, out var database)) return database.Marten;
        return (await GetTenantAsync(tenantIdOrDatabaseIdentifier)).Database;
    }

    public ValueTask<IMartenDatabase?> TryFindDatabase(string tenantIdOrDatabaseIdentifier) =>
        ValueTask.FromResult<IMartenDatabase?>(_databases.TryGetValue(tenantIdOrDatabaseIdentifier, out var database) ? database.Marten
            : Guid.TryParse(tenantIdOrDatabaseIdentifier, out var id) && _placements.TryGetValue(id, out var placed) ? Find(placed)?.Marten
            : null);

    public ValueTask<IMartenDatabase> FindDatabase(DatabaseId id) =>
        ValueTask.FromResult<IMartenDatabase>(_databases.Values.FirstOrDefault(d => d.Marten.Id == id)?.Marten
                                              ?? throw new ArgumentOutOfRangeException(nameof(id), $"No database {id.Identity}."));

    public bool IsTenantStoredInCurrentDatabase(IMartenDatabase database, string tenantId) =>
        ReferenceEquals(GetTenant(tenantId).Database, database);

    public async ValueTask<IReadOnlyList<IDatabase>> BuildDatabases()
    {
        await RefreshAsync(CancellationToken.None);
        return _databases.Values.Select(d => (IDatabase)d.Marten).ToList();
    }

    public ValueTask<DatabaseUsage> DescribeDatabasesAsync(CancellationToken token) =>
        ValueTask.FromResult(new DatabaseUsage
        {
            Cardinality = Cardinality,
            Databases = _databases.Values.Select(d => d.Marten.Describe()).ToList(),
        });

    /// <summary>Reads the registry and opens every database not known yet.</summary>
    public async Task RefreshAsync(CancellationToken cancellation)
    {
        foreach (var entry in await _directory.DatabasesAsync(cancellation)) Add(entry);
    }

    private Database? Find(string id)
    {
        if (_databases.TryGetValue(id, out var database)) return database;
        foreach (var entry in _directory.Databases()) Add(entry);
        return _databases.GetValueOrDefault(id);
    }

    private void Add(DatabaseEntry entry)
    {
        if (entry.Id == Main.Entry.Id || _databases.ContainsKey(entry.Id)) return;
        lock (_registryLock)
        {
            if (_databases.ContainsKey(entry.Id)) return;
            var service = NpgsqlDataSource.Create(ResidencyZones.ConnectionString(_roleConnectionString, entry.Database, entry.Host, entry.Port));
            _databases[entry.Id] = new Database(entry, new MartenDatabase(_options, service, entry.Id), service,
                new(() => _platformConnectionString is null ? null
                    : NpgsqlDataSource.Create(ResidencyZones.ConnectionString(_platformConnectionString, entry.Database, entry.Host, entry.Port))));
        }
    }

    public void Dispose()
    {
        foreach (var database in _databases.Values)
        {
            database.Marten.Dispose();
            database.Service.Dispose();
            if (database.Platform.IsValueCreated) database.Platform.Value?.Dispose();
        }
    }
}
