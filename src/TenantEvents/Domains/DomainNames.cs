using System.Globalization;
using System.Net;
using TenantEvents.Infrastructure;

namespace TenantEvents.Domains;

/// <summary>
/// Pure: what a host name is, written one way. Names are compared and stored in their ASCII form (IDNA: bücher.example
/// is xn--bcher-kva.example), lower case, without the root's trailing dot, so that one name has one spelling in the index,
/// in the Host header and in a certificate's SNI. Rules from RFC 1035 and RFC 1123 (labels of letters, digits and
/// hyphens, 63 characters at most, 253 in all), and the platform's: a tenant may not claim the platform's own names.
/// </summary>
public static class DomainNames
{
    private static readonly IdnMapping Idn = new() { UseStd3AsciiRules = true };

    /// <summary>Labels a tenant may not take under the platform's zone: they name, or may one day name, the platform's own services.</summary>
    public static readonly IReadOnlySet<string> ReservedLabels = new HashSet<string>(StringComparer.Ordinal)
    {
        "www", "api", "app", "admin", "console", "auth", "login", "sso", "oauth", "id", "identity", "mail", "smtp", "status",
        "platform", "metrics", "static", "cdn", "assets", "docs", "help", "support", "security", "_acme-challenge",
    };

    /// <summary>The name in its one spelling, or why it is not a host name.</summary>
    public static (string? Name, FieldError? Error) Normalise(string field, string? input)
    {
        if (string.IsNullOrWhiteSpace(input)) return (null, new FieldError(field, "required", "must name a domain, such as events.agency.gov."));
        var text = input.Trim();
        if (text.Length > 1024) return (null, new FieldError(field, "invalid-domain", "is not a host name."));
        if (text.EndsWith('.')) text = text[..^1];
        if (text.Contains("://", StringComparison.Ordinal) || text.Contains('/') || text.Contains(':') || text.Contains('@'))
            return (null, new FieldError(field, "invalid-domain", "must be a host name alone, without scheme, port or path (events.agency.gov)."));
        if (IPAddress.TryParse(text, out _)) return (null, new FieldError(field, "invalid-domain", "must be a name, not an IP address."));
        string ascii;
        try
        {
            ascii = Idn.GetAscii(text).ToLowerInvariant();
        }
        catch (ArgumentException)
        {
            return (null, new FieldError(field, "invalid-domain", "is not a host name (letters, digits and hyphens in dot-separated labels)."));
        }
        if (ascii.Length > 253) return (null, new FieldError(field, "invalid-domain", "is longer than 253 characters."));
        var labels = ascii.Split('.');
        if (labels.Length < 2) return (null, new FieldError(field, "invalid-domain", "must have at least two labels (agency.gov), not a bare name."));
        foreach (var label in labels)
            if (!IsLabel(label))
                return (null, new FieldError(field, "invalid-domain",
                    $"has a label '{label}' that is not 1 to 63 letters, digits or hyphens (not starting or ending with a hyphen)."));
        if (labels[^1].All(char.IsAsciiDigit)) return (null, new FieldError(field, "invalid-domain", "ends in a numeric label; top-level domains are not numeric."));
        return (ascii, null);
    }

    /// <summary>A host as a request names it (the Host header or SNI), in the one spelling; null when it is not a name.</summary>
    public static string? OfHost(string? host)
    {
        if (string.IsNullOrEmpty(host) || host.Length > 254) return null;
        var name = host.EndsWith('.') ? host[..^1] : host;
        // The common case costs nothing: an ASCII name is only lower-cased.
        if (name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.')) return name.ToLowerInvariant();
        try
        {
            return Idn.GetAscii(name).ToLowerInvariant();
        }
        catch (ArgumentException)
        {
            return null;
        }
    }

    public static bool IsLabel(string label) =>
        label.Length is >= 1 and <= 63 && label[0] != '-' && label[^1] != '-' && label.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-');

    /// <summary>The name is <paramref name="zone"/> or lies under it.</summary>
    public static bool IsAtOrUnder(string name, string zone) =>
        name == zone || name.EndsWith("." + zone, StringComparison.Ordinal);

    /// <summary>
    /// A tenant's own domain, checked against the platform's names: the platform's host and everything under it, and the
    /// zone of platform subdomains (those are claimed as subdomains, granted by the platform, not proven by a token).
    /// </summary>
    public static FieldError? Custom(string field, string name, string platformHost, string? subdomainZone)
    {
        if (IsAtOrUnder(name, platformHost))
            return new FieldError(field, "platform-name", $"{name} is the platform's own name (or under it); a tenant cannot claim it.");
        if (subdomainZone is not null && IsAtOrUnder(name, subdomainZone))
            return new FieldError(field, "platform-name", $"{name} is in the platform's zone {subdomainZone}: claim it as a subdomain instead.");
        return null;
    }

    /// <summary>
    /// A subdomain of the platform's zone: one label, not reserved (built in, or by the operator), not internationalised
    /// (an xn-- label can spell a lookalike of another's name, and nobody proves anything for a subdomain); the whole
    /// name, or why not.
    /// </summary>
    public static (string? Name, FieldError? Error) Subdomain(string field, string? label, string? zone, IReadOnlyCollection<string>? reserved = null)
    {
        if (zone is null)
            return (null, new FieldError(field, "not-offered", "this platform offers no subdomains (TenantEvents:TenantDomainZone is not set)."));
        if (string.IsNullOrWhiteSpace(label)) return (null, new FieldError(field, "required", "must name one label, such as travis-sheriff."));
        var text = label.Trim().ToLowerInvariant();
        if (!IsLabel(text)) return (null, new FieldError(field, "invalid-label", "must be 1 to 63 letters, digits or hyphens, not starting or ending with a hyphen."));
        if (ReservedLabels.Contains(text) || (reserved?.Contains(text, StringComparer.OrdinalIgnoreCase) ?? false))
            return (null, new FieldError(field, "reserved-name", $"'{text}' is reserved for the platform."));
        if (text.StartsWith("xn--", StringComparison.Ordinal))
            return (null, new FieldError(field, "invalid-label", "must not be an internationalised (xn--) label: subdomains are plain letters, digits and hyphens."));
        var name = text + "." + zone;
        return name.Length > 253 ? (null, new FieldError(field, "invalid-label", "makes a name longer than 253 characters.")) : (name, null);
    }
}
