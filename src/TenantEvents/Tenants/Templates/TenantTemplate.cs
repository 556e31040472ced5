using System.Reflection;
using System.Text.Json;
using TenantEvents.Infrastructure;

namespace TenantEvents.Tenants.Templates;

public sealed record TemplateUnit(string Name, string Kind, IReadOnlyList<TemplateUnit>? Units = null);

public sealed record ResidencyRules(IReadOnlyList<string>? AllowedCountries, bool RequireSubdivision);

/// <summary>
/// A configuration template: versioned data in the repository (Tenants/Templates/*.json, embedded in the service),
/// applied when a tenant is requested (settings) and provisioned (organisations and roles).
/// </summary>
public sealed record TenantTemplate(
    string Name,
    int Version,
    string Description,
    string RootOrganisationKind,
    IReadOnlyList<TemplateUnit> Units,
    IReadOnlyList<RoleSeed> Roles,
    QuotaDefaults Quotas,
    int AuditRetentionDays,
    ResidencyRules Residency,
    bool DedicatedDatabase,
    IReadOnlyList<string> Features,
    IReadOnlyList<TenantEvents.Billing.RateCard>? RateCards = null)
{
    public TenantSettings DefaultSettings => new(AuditRetentionDays, Features, Quotas, DedicatedDatabase);

    /// <summary>The organisations and roles a new tenant starts with. New ids come from the caller (UUID v7).</summary>
    public (IReadOnlyList<OrganisationSeed> Organisations, IReadOnlyList<RoleSeed> Roles) Seed(string rootName, Func<Guid> newId)
    {
        var organisations = new List<OrganisationSeed>();
        var root = new OrganisationSeed(newId(), rootName, RootOrganisationKind, null);
        organisations.Add(root);
        void Add(IEnumerable<TemplateUnit> units, Guid parent)
        {
            foreach (var unit in units)
            {
                var seed = new OrganisationSeed(newId(), unit.Name, unit.Kind, parent);
                organisations.Add(seed);
                if (unit.Units is { Count: > 0 }) Add(unit.Units, seed.Id);
            }
        }
        Add(Units, root.Id);
        return (organisations, Roles);
    }
}

/// <summary>The catalogue of templates, read once from the service's embedded resources.</summary>
public sealed class TemplateCatalog
{
    private readonly Dictionary<string, TenantTemplate> _templates;

    public TemplateCatalog(IEnumerable<TenantTemplate> templates) =>
        _templates = templates.ToDictionary(t => t.Name, StringComparer.Ordinal);

    public IReadOnlyCollection<TenantTemplate> All => _templates.Values.OrderBy(t => t.Name).ToList();

    public TenantTemplate? Find(string? name) => name is not null && _templates.TryGetValue(name, out var t) ? t : null;

    public static TemplateCatalog LoadEmbedded()
    {
        var assembly = typeof(TemplateCatalog).Assembly;
        var templates = assembly.GetManifestResourceNames()
            .Where(n => n.StartsWith("TenantEvents.Tenants.Templates.", StringComparison.Ordinal) && n.EndsWith(".json", StringComparison.Ordinal))
            .Select(n => Read(assembly, n))
            .ToList();
        if (templates.Count == 0) throw new InvalidOperationException("No tenant templates are embedded in the service.");
        return new TemplateCatalog(templates);
    }

    private static TenantTemplate Read(Assembly assembly, string resource)
    {
        using var stream = assembly.GetManifestResourceStream(resource)!;
        var template = JsonSerializer.Deserialize<TenantTemplate>(stream, Json.Options)
                       ?? throw new InvalidOperationException($"Template {resource} is empty.");
        if (template.AuditRetentionDays is < TenantRules.MinRetentionDays or > TenantRules.MaxRetentionDays)
            throw new InvalidOperationException($"Template {template.Name} has retention {template.AuditRetentionDays}, outside 30..3650 days.");
        return template;
    }
}
