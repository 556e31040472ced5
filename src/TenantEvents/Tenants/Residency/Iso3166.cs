using System.Text.Json;

namespace TenantEvents.Tenants.Residency;

/// <summary>ISO 3166-1 alpha-2 countries and ISO 3166-2 subdivisions, from Debian's iso-codes (ops/iso3166/refresh.sh).</summary>
public sealed class Iso3166
{
    private readonly Dictionary<string, string> _countries;
    private readonly Dictionary<string, string> _subdivisions;

    private Iso3166(Dictionary<string, string> countries, Dictionary<string, string> subdivisions)
    {
        _countries = countries;
        _subdivisions = subdivisions;
    }

    public static Iso3166 Instance { get; } = Load();

    public int CountryCount => _countries.Count;
    public int SubdivisionCount => _subdivisions.Count;

    /// <summary>Codes are matched exactly: "US" and "US-TX", never "us" or "USA".</summary>
    public bool IsCountry(string code) => _countries.ContainsKey(code);

    public bool IsSubdivision(string code) => _subdivisions.ContainsKey(code);

    public string? CountryName(string code) => _countries.GetValueOrDefault(code);

    private static Iso3166 Load()
    {
        using var stream = typeof(Iso3166).Assembly.GetManifestResourceStream("TenantEvents.Tenants.Residency.iso3166.json")
                           ?? throw new InvalidOperationException("The ISO 3166 code list is not embedded in the service.");
        using var doc = JsonDocument.Parse(stream);
        Dictionary<string, string> Read(string name) =>
            doc.RootElement.GetProperty(name).EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!, StringComparer.Ordinal);
        return new Iso3166(Read("countries"), Read("subdivisions"));
    }
}
