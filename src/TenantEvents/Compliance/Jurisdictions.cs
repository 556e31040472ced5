using System.Text.Json;
using TenantEvents.Infrastructure;
using TenantEvents.Tenants;
using TenantEvents.Tenants.Residency;

namespace TenantEvents.Compliance;

/// <summary>
/// One rule of the jurisdiction catalogue (Compliance/jurisdictions.json): what a law asks, where, and which figures.
/// Kinds: data-subject-requests, breach-notification, transfers, incident-reporting, security-measures, audit-retention.
/// </summary>
public sealed record JurisdictionRule(
    string Id, string Framework, string Title, string Kind, string Severity, IReadOnlyList<string> AppliesTo, string Source, string Url,
    int? ResponseMonths = null, int? ResponseDays = null, int? ExtensionMonths = null, int? ExtensionDays = null,
    bool ExtensionNoticeWithinResponse = false, int? Hours = null, int? EarlyWarningHours = null, int? NotificationHours = null,
    int? FinalReportMonths = null, int? InitialReportHours = null, int? MinimumDays = null, int? MaximumDays = null, string? Residency = null,
    IReadOnlyList<string>? AllowedDestinations = null, IReadOnlyDictionary<string, string>? Conditions = null, IReadOnlyList<string>? Measures = null,
    IReadOnlyList<string>? Templates = null, string? Advice = null, IReadOnlyList<string>? Kinds = null)
{
    public bool Binding => Severity == "binding";

    /// <summary>Whether a data-subject request rule covers a kind of request (a rule naming no kinds covers them all).</summary>
    public bool Covers(string kind) => Kinds is not { Count: > 0 } kinds || kinds.Contains(kind);
}

/// <summary>A rule that applies to a tenant, and why (which code of the rule its residency matched).</summary>
public sealed record AppliedRule(JurisdictionRule Rule, string Why);

/// <summary>
/// The catalogue of rules by jurisdiction, keyed by ISO 3166-1 alpha-2 countries and ISO 3166-2 subdivisions (groups such
/// as "EU" and "EEA" are lists of countries in the file). Data, not code: a new law is a new entry with its source.
/// </summary>
public sealed class Jurisdictions
{
    private readonly IReadOnlyDictionary<string, IReadOnlyList<string>> _groups;

    public string Version { get; }
    public IReadOnlyList<JurisdictionRule> Rules { get; }
    public IReadOnlyList<JurisdictionRule> Defaults { get; }

    private Jurisdictions(string version, IReadOnlyDictionary<string, IReadOnlyList<string>> groups, IReadOnlyList<JurisdictionRule> rules,
        IReadOnlyList<JurisdictionRule> defaults)
    {
        Version = version;
        _groups = groups;
        Rules = rules;
        Defaults = defaults;
    }

    public static Jurisdictions Catalogue { get; } = Load();

    /// <summary>The countries a code of a rule stands for (a group's members, or the code itself).</summary>
    public IReadOnlyList<string> Expand(string code) => _groups.TryGetValue(code, out var members) ? members : [code];

    /// <summary>
    /// The rules that apply to a tenant resident in <paramref name="zone"/> created from <paramref name="template"/>: a rule
    /// naming the country (or a group holding it) applies to the country and its subdivisions; a rule naming a subdivision,
    /// to that subdivision only. Where no rule of a kind the platform needs applies, the platform's default does (advisory).
    /// </summary>
    public IReadOnlyList<AppliedRule> For(ResidencyZone zone, string? template)
    {
        var applied = new List<AppliedRule>();
        foreach (var rule in Rules)
        {
            if (rule.Templates is { Count: > 0 } templates && (template is null || !templates.Contains(template))) continue;
            var why = rule.AppliesTo.Select(code => Matches(code, zone)).FirstOrDefault(w => w is not null);
            if (why is not null)
                applied.Add(new AppliedRule(rule, rule.Templates is { Count: > 0 } ? $"{why}, and the tenant was made from the {template} template" : why));
        }
        foreach (var fallback in Defaults.Where(d => applied.All(a => a.Rule.Kind != d.Kind)))
            applied.Add(new AppliedRule(fallback, $"no rule of kind {fallback.Kind} is catalogued for {zone}"));
        return applied;
    }

    private string? Matches(string code, ResidencyZone zone)
    {
        if (code.Contains('-', StringComparison.Ordinal))
            return zone.Subdivision == code ? $"the tenant's residency is {code} ({Iso3166.Instance.CountryName(zone.Country)})" : null;
        if (_groups.TryGetValue(code, out var members))
            return members.Contains(zone.Country) ? $"the tenant's residency country {zone.Country} is in the {code}" : null;
        return code == zone.Country ? $"the tenant's residency country is {code}" : null;
    }

    private static Jurisdictions Load()
    {
        using var stream = typeof(Jurisdictions).Assembly.GetManifestResourceStream("TenantEvents.Compliance.jurisdictions.json")
                           ?? throw new InvalidOperationException("The jurisdiction catalogue is not embedded in the service.");
        var file = JsonSerializer.Deserialize<CatalogueFile>(stream, Json.Options)
                   ?? throw new InvalidOperationException("The jurisdiction catalogue is empty.");
        var catalogue = new Jurisdictions(file.Version, file.Groups, file.Rules, file.Defaults);
        // Every code must be a real ISO 3166 code or a group: a typo would silently apply nowhere.
        foreach (var code in file.Rules.SelectMany(r => r.AppliesTo.Concat(r.AllowedDestinations ?? [])).Concat(file.Groups.Values.SelectMany(g => g)))
            if (!file.Groups.ContainsKey(code) && !Iso3166.Instance.IsCountry(code) && !Iso3166.Instance.IsSubdivision(code))
                throw new InvalidOperationException($"The jurisdiction catalogue names '{code}', which is neither an ISO 3166 code nor a group.");
        return catalogue;
    }

    private sealed record CatalogueFile(string Version, string? Note, Dictionary<string, IReadOnlyList<string>> Groups, IReadOnlyList<JurisdictionRule> Rules,
        IReadOnlyList<JurisdictionRule> Defaults);
}
