using TenantEvents.Infrastructure;
using TenantEvents.Tenants;

namespace TenantEvents.Compliance;

/// <summary>
/// Settings checked against the binding rules of the tenant's jurisdiction, on every path that sets them (a request,
/// a settings change): a retention below a binding minimum or above a binding maximum is refused, naming the rule.
/// </summary>
public static class JurisdictionChecks
{
    public static void Settings(string prefix, ResidencyZone? zone, string? template, TenantSettings settings, List<FieldError> errors)
    {
        if (zone is null || string.IsNullOrEmpty(zone.Country)) return;
        foreach (var (rule, why) in Jurisdictions.Catalogue.For(zone, template).Where(a => a.Rule.Binding && a.Rule.Kind == "audit-retention"))
        {
            if (rule.MinimumDays is { } min && settings.AuditRetentionDays < min)
                errors.Add(new FieldError($"{prefix}auditRetentionDays", "below-jurisdiction-minimum",
                    $"rule {rule.Id} ({rule.Source}) asks for at least {min} days because {why}; {settings.AuditRetentionDays} is fewer."));
            if (rule.MaximumDays is { } max && settings.AuditRetentionDays > max)
                errors.Add(new FieldError($"{prefix}auditRetentionDays", "above-jurisdiction-maximum",
                    $"rule {rule.Id} ({rule.Source}) allows at most {max} days because {why}; {settings.AuditRetentionDays} is more."));
        }
    }

    /// <summary>The advisory rules a tenant's settings do not follow (shown on the compliance view, never refused).</summary>
    public static IEnumerable<(JurisdictionRule Rule, string Finding)> Advice(IEnumerable<AppliedRule> rules, TenantSettings settings)
    {
        foreach (var (rule, _) in rules.Where(a => !a.Rule.Binding && a.Rule.Kind == "audit-retention"))
        {
            if (rule.MinimumDays is { } min && settings.AuditRetentionDays < min)
                yield return (rule, $"audit retention of {settings.AuditRetentionDays} days is below the advised {min}");
            if (rule.MaximumDays is { } max && settings.AuditRetentionDays > max)
                yield return (rule, $"audit retention of {settings.AuditRetentionDays} days is above the advised {max}");
        }
    }
}
