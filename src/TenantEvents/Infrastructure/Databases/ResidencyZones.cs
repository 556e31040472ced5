using Npgsql;
using TenantEvents.Tenants;
using TenantEvents.Tenants.Residency;

namespace TenantEvents.Infrastructure.Databases;

/// <summary>
/// One residency zone (configuration section TenantEvents:Zones:{name}): the ISO 3166-1 countries and ISO 3166-2
/// subdivisions whose tenants it holds, its shared database, and how many dedicated databases `migrate` keeps free.
/// </summary>
public sealed class ZoneOptions
{
    /// <summary>ISO 3166-1 alpha-2 country codes ("DE") and ISO 3166-2 subdivision codes ("US-CA") of the zone.</summary>
    public List<string> Codes { get; set; } = [];

    /// <summary>The zone's shared database (conjoined tenants under row-level security). The default zone's is the main database.</summary>
    public string? Database { get; set; }

    /// <summary>Another PostgreSQL server for the zone (default: the main connection's host and port). Same roles and credentials.</summary>
    public string? Host { get; set; }

    public int? Port { get; set; }

    /// <summary>How many unclaimed dedicated databases `migrate` keeps ready in this zone for tenants that need their own.</summary>
    public int DedicatedPool { get; set; }

    /// <summary>Most tenants the zone's shared database takes; new ones go to another of the zone's shared databases.</summary>
    public int Capacity { get; set; } = DefaultCapacity;

    /// <summary>
    /// More shared databases of the zone (TenantEvents:Zones:{zone}:Shared:{n}:Database, ...): `migrate` creates and
    /// registers them, running instances take them without a restart, and new tenants are placed by capacity.
    /// </summary>
    public List<SharedDatabaseOptions> Shared { get; set; } = [];

    /// <summary>Tenants per shared database when none is configured: conjoined tenants are rows, so many fit in one.</summary>
    public const int DefaultCapacity = 50_000;
}

/// <summary>One more shared database of a zone.</summary>
public sealed class SharedDatabaseOptions
{
    public string? Database { get; set; }

    /// <summary>Another PostgreSQL server (default: the zone's). Same roles and credentials.</summary>
    public string? Host { get; set; }

    public int? Port { get; set; }

    /// <summary>Most tenants it takes (default: the zone's Capacity).</summary>
    public int? Capacity { get; set; }
}

/// <summary>Where a new tenant goes: a residency zone, and whether it needs a database of its own there.</summary>
public sealed record Placement(string Zone, bool Dedicated);

/// <summary>
/// Residency zones, checked at start-up. Pure: maps a tenant's residency to its zone (a subdivision's zone wins over its
/// country's; a residency that no zone lists stays in the default zone, the main database).
/// </summary>
public sealed class ResidencyZones
{
    public const string DefaultZone = "default";

    private readonly Dictionary<string, string> _zoneByCode = new(StringComparer.Ordinal);

    public ResidencyZones(IReadOnlyDictionary<string, ZoneOptions> zones)
    {
        var all = new Dictionary<string, ZoneOptions>(zones, StringComparer.Ordinal);
        all.TryAdd(DefaultZone, new ZoneOptions());
        foreach (var (name, zone) in all)
        {
            if (!System.Text.RegularExpressions.Regex.IsMatch(name, "^[a-z][a-z0-9-]{0,30}$"))
                throw new InvalidOperationException($"Zone name '{name}' (TenantEvents:Zones): lower-case letters, digits and '-', at most 31, starting with a letter.");
            if (name == DefaultZone && zone.Codes.Count > 0)
                throw new InvalidOperationException("The default zone holds every residency that no other zone lists; it takes no codes.");
            if (name != DefaultZone && string.IsNullOrWhiteSpace(zone.Database))
                throw new InvalidOperationException($"Zone '{name}' names no database (TenantEvents:Zones:{name}:Database).");
            if (zone.DedicatedPool is < 0 or > 100)
                throw new InvalidOperationException($"Zone '{name}': DedicatedPool must be from 0 to 100.");
            if (zone.Capacity < 1 || zone.Shared.Any(d => d.Capacity is < 1))
                throw new InvalidOperationException($"Zone '{name}': a shared database's Capacity must be at least 1.");
            foreach (var shared in zone.Shared)
                if (string.IsNullOrWhiteSpace(shared.Database) || !System.Text.RegularExpressions.Regex.IsMatch(shared.Database, "^[a-z_][a-z0-9_]{0,62}$"))
                    throw new InvalidOperationException($"Zone '{name}': every Shared entry names its Database (lower-case letters, digits, '_').");
            if (zone.Shared.Select(d => (d.Database, d.Host ?? zone.Host, d.Port ?? zone.Port)).Distinct().Count() != zone.Shared.Count
                || zone.Shared.Any(d => d.Database == zone.Database && (d.Host ?? zone.Host) == zone.Host && (d.Port ?? zone.Port) == zone.Port))
                throw new InvalidOperationException($"Zone '{name}' names one database twice.");
            foreach (var code in zone.Codes)
            {
                if (!Iso3166.Instance.IsCountry(code) && !Iso3166.Instance.IsSubdivision(code))
                    throw new InvalidOperationException($"Zone '{name}' lists '{code}', which is neither an ISO 3166-1 alpha-2 country nor an ISO 3166-2 subdivision code.");
                if (_zoneByCode.TryGetValue(code, out var other))
                    throw new InvalidOperationException($"'{code}' is in two zones, '{other}' and '{name}': a residency must map to one database.");
                _zoneByCode[code] = name;
            }
        }
        Zones = all;
    }

    public IReadOnlyDictionary<string, ZoneOptions> Zones { get; }

    public string ZoneFor(ResidencyZone residency) =>
        residency.Subdivision is { } s && _zoneByCode.TryGetValue(s, out var bySubdivision) ? bySubdivision
        : _zoneByCode.TryGetValue(residency.Country, out var byCountry) ? byCountry
        : DefaultZone;

    public Placement Place(ResidencyZone residency, TenantSettings settings) => new(ZoneFor(residency), settings.DedicatedDatabase);

    /// <summary>The connection string of one of our databases, for one role: the role's main connection string re-pointed.</summary>
    public static string ConnectionString(string roleConnectionString, string database, string? host, int? port)
    {
        var builder = new NpgsqlConnectionStringBuilder(roleConnectionString) { Database = database };
        if (!string.IsNullOrEmpty(host)) builder.Host = host;
        if (port is { } p) builder.Port = p;
        return builder.ConnectionString;
    }
}
