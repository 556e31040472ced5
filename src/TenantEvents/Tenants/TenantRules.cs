using System.Net.Mail;
using System.Text.RegularExpressions;
using TenantEvents.Infrastructure;
using TenantEvents.Tenants.Residency;
using TenantEvents.Tenants.Templates;

namespace TenantEvents.Tenants;

/// <summary>Input rules shared by every command that carries tenant fields. Each failure names its field.</summary>
public static partial class TenantRules
{
    public const int MinRetentionDays = 30;
    public const int MaxRetentionDays = 3650;
    public const int MaxNameLength = 200;
    public const int MaxReasonLength = 2000;
    public const int MaxContacts = 20;

    /// <summary>Slugs that would collide with routes or mislead: a tenant may not be called "admin".</summary>
    private static readonly HashSet<string> ReservedSlugs =
        ["admin", "api", "platform", "system", "root", "www", "tenantevents", "health", "openapi", "graphql", "scim", "well-known"];

    public static readonly IReadOnlyList<string> KnownFeatures =
        ["case-files", "sharing-agreements", "coi-channels", "joint-investigations", "audit-export", "analytics", "billing"];

    [GeneratedRegex("^[a-z0-9](?:[a-z0-9-]{1,61}[a-z0-9])$", RegexOptions.CultureInvariant)]
    private static partial Regex SlugPattern();

    public static void Name(string field, string? value, List<FieldError> errors, int max = MaxNameLength)
    {
        if (string.IsNullOrWhiteSpace(value))
            errors.Add(new FieldError(field, "required", "is required and may not be blank."));
        else if (value.Trim().Length > max)
            errors.Add(new FieldError(field, "too-long", $"may be at most {max} characters."));
        else if (value.Any(char.IsControl))
            errors.Add(new FieldError(field, "control-characters", "may not contain control characters."));
    }

    public static void Reason(string field, string? value, List<FieldError> errors) => Name(field, value, errors, MaxReasonLength);

    public static void OptionalText(string field, string? value, List<FieldError> errors, int max = MaxReasonLength)
    {
        if (value is not null) Name(field, value, errors, max);
    }

    public static void Slug(string? value, List<FieldError> errors)
    {
        if (string.IsNullOrEmpty(value))
            errors.Add(new FieldError("slug", "required", "is required."));
        else if (!SlugPattern().IsMatch(value) || value.Contains("--", StringComparison.Ordinal))
            errors.Add(new FieldError("slug", "invalid-slug",
                "must be 3 to 63 lower-case letters, digits or single hyphens, starting and ending with a letter or digit."));
        else if (ReservedSlugs.Contains(value))
            errors.Add(new FieldError("slug", "reserved-slug", $"'{value}' is reserved."));
    }

    public static void Residency(ResidencyZone? zone, ResidencyRules? rules, List<FieldError> errors)
    {
        if (zone is null || string.IsNullOrEmpty(zone.Country))
        {
            errors.Add(new FieldError("residency.country", "required", "is required (ISO 3166-1 alpha-2, e.g. \"US\")."));
            return;
        }
        if (!Iso3166.Instance.IsCountry(zone.Country))
        {
            errors.Add(new FieldError("residency.country", "unknown-country", $"'{zone.Country}' is not an ISO 3166-1 alpha-2 country code."));
            return;
        }
        if (zone.Subdivision is { } sub)
        {
            if (!Iso3166.Instance.IsSubdivision(sub))
                errors.Add(new FieldError("residency.subdivision", "unknown-subdivision", $"'{sub}' is not an ISO 3166-2 subdivision code."));
            else if (!sub.StartsWith(zone.Country + "-", StringComparison.Ordinal))
                errors.Add(new FieldError("residency.subdivision", "subdivision-outside-country", $"'{sub}' is not a subdivision of {zone.Country}."));
        }
        if (rules is null) return;
        if (rules.AllowedCountries is { Count: > 0 } allowed && !allowed.Contains(zone.Country))
            errors.Add(new FieldError("residency.country", "residency-not-allowed",
                $"the template allows residency only in {string.Join(", ", allowed)}."));
        if (rules.RequireSubdivision && zone.Subdivision is null)
            errors.Add(new FieldError("residency.subdivision", "required", "the template requires an ISO 3166-2 subdivision (e.g. \"US-TX\")."));
    }

    public static void Contacts(IReadOnlyList<Contact>? contacts, List<FieldError> errors, bool required = true)
    {
        if (contacts is null || contacts.Count == 0)
        {
            if (required) errors.Add(new FieldError("contacts", "required", "at least one contact is required."));
            return;
        }
        if (contacts.Count > MaxContacts)
            errors.Add(new FieldError("contacts", "too-many", $"at most {MaxContacts} contacts."));
        for (var i = 0; i < contacts.Count; i++)
            Contact($"contacts[{i}]", contacts[i], errors);
    }

    public static void Contact(string field, Contact? contact, List<FieldError> errors)
    {
        if (contact is null)
        {
            errors.Add(new FieldError(field, "required", "may not be null."));
            return;
        }
        Name($"{field}.name", contact.Name, errors);
        Email($"{field}.email", contact.Email, errors);
        OptionalText($"{field}.role", contact.Role, errors, 100);
    }

    public static void Email(string field, string? value, List<FieldError> errors)
    {
        if (string.IsNullOrWhiteSpace(value)) { errors.Add(new FieldError(field, "required", "is required.")); return; }
        if (value.Length > 254 || !MailAddress.TryCreate(value, out var parsed) || parsed.Address != value || !value.Contains('.', StringComparison.Ordinal))
            errors.Add(new FieldError(field, "invalid-email", $"'{value}' is not an e-mail address."));
    }

    public static void Settings(string prefix, TenantSettings settings, List<FieldError> errors)
    {
        if (settings.AuditRetentionDays is < MinRetentionDays or > MaxRetentionDays)
            errors.Add(new FieldError($"{prefix}auditRetentionDays", "retention-out-of-range",
                $"must be between {MinRetentionDays} and {MaxRetentionDays} days; {settings.AuditRetentionDays} is not."));
        foreach (var feature in settings.Features.Where(f => !KnownFeatures.Contains(f)))
            errors.Add(new FieldError($"{prefix}features", "unknown-feature", $"'{feature}' is not a feature (known: {string.Join(", ", KnownFeatures)})."));
        if (settings.Features.Distinct().Count() != settings.Features.Count)
            errors.Add(new FieldError($"{prefix}features", "duplicate-feature", "names a feature more than once."));
        var q = settings.Quotas;
        if (q.Licences < 0) errors.Add(new FieldError($"{prefix}quotas.licences", "negative", "may not be negative."));
        if (q.AiComputeUnitsPerMonth < 0) errors.Add(new FieldError($"{prefix}quotas.aiComputeUnitsPerMonth", "negative", "may not be negative."));
        if (q.ApiCallsPerDay < 0) errors.Add(new FieldError($"{prefix}quotas.apiCallsPerDay", "negative", "may not be negative."));
        if (q.ApiCallsPerMonth < 0) errors.Add(new FieldError($"{prefix}quotas.apiCallsPerMonth", "negative", "may not be negative."));
        foreach (var (field, value) in new[] { ("licences", q.Licences), ("aiComputeUnitsPerMonth", q.AiComputeUnitsPerMonth),
                     ("apiCallsPerDay", q.ApiCallsPerDay), ("apiCallsPerMonth", q.ApiCallsPerMonth) })
            if (value > Quotas.QuotaKinds.MaximumOf(field))
                errors.Add(new FieldError($"{prefix}quotas.{field}", "too-large", $"may be at most {Quotas.QuotaKinds.MaximumOf(field):N0}."));
        foreach (var kind in (q.Modes ?? new Dictionary<string, QuotaMode>()).Keys.Where(k => !Quotas.QuotaKinds.IsKnown(k)))
            errors.Add(new FieldError($"{prefix}quotas.modes", "unknown-quota-kind",
                $"'{kind}' is not a quota kind (known: {string.Join(", ", Quotas.QuotaKinds.All)})."));
        if (q.ApiCallsPerDay > q.ApiCallsPerMonth)
            errors.Add(new FieldError($"{prefix}quotas.apiCallsPerDay", "exceeds-monthly", "may not exceed the monthly API call quota."));
        if (q.AlertThresholds.Count == 0 || q.AlertThresholds.Any(t => t is < 1 or > 100) || !q.AlertThresholds.SequenceEqual(q.AlertThresholds.Order().Distinct()))
            errors.Add(new FieldError($"{prefix}quotas.alertThresholds", "invalid-thresholds", "must be distinct percentages from 1 to 100 in ascending order."));
    }
}
