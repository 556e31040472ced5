namespace TenantEvents.Scim;

/// <summary>
/// What the filter and PATCH code needs to know of a resource type's schema (RFC 7643): its core schema URN (paths may
/// be qualified with it), which attributes compare case-exactly, and which hold date-times.
/// </summary>
public sealed class ScimSchema(string? coreUrn)
{
    public const string UserUrn = "urn:ietf:params:scim:schemas:core:2.0:User";
    public const string GroupUrn = "urn:ietf:params:scim:schemas:core:2.0:Group";
    public const string EnterpriseUserUrn = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    public const string ListResponseUrn = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
    public const string ErrorUrn = "urn:ietf:params:scim:api:messages:2.0:Error";
    public const string PatchOpUrn = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

    public static readonly ScimSchema User = new(UserUrn);
    public static readonly ScimSchema Group = new(GroupUrn);

    /// <summary>Inside a value filter (emails[...]): paths are relative to one value.</summary>
    public static readonly ScimSchema Nested = new(null);

    public string? CoreUrn => coreUrn;

    public bool IsCore(string urn) => coreUrn is not null && string.Equals(urn, coreUrn, StringComparison.OrdinalIgnoreCase);

    /// <summary>caseExact attributes of RFC 7643 (id, externalId, meta.location and references); all others compare ignoring case.</summary>
    public static bool CaseExact(AttrPath path) =>
        path.Attribute.Equals("id", StringComparison.OrdinalIgnoreCase) || path.Attribute.Equals("externalId", StringComparison.OrdinalIgnoreCase)
        || (path.Attribute.Equals("meta", StringComparison.OrdinalIgnoreCase) && path.SubAttribute is { } s
            && (s.Equals("location", StringComparison.OrdinalIgnoreCase) || s.Equals("version", StringComparison.OrdinalIgnoreCase)))
        || (path.SubAttribute?.Equals("$ref", StringComparison.OrdinalIgnoreCase) ?? false);

    /// <summary>Every attribute and sub-attribute name of the User, Group and enterprise schemas, as RFC 7643 spells them.</summary>
    private static readonly Dictionary<string, string> CanonicalNames = new[]
    {
        "schemas", "id", "externalId", "meta", "resourceType", "created", "lastModified", "location", "version",
        "userName", "name", "formatted", "familyName", "givenName", "middleName", "honorificPrefix", "honorificSuffix", "displayName",
        "nickName", "profileUrl", "title", "userType", "preferredLanguage", "locale", "timezone", "active", "password", "emails", "phoneNumbers",
        "ims", "photos", "addresses", "streetAddress", "locality", "region", "postalCode", "country", "groups", "entitlements", "roles",
        "x509Certificates", "value", "display", "type", "primary", "$ref", "members", "employeeNumber", "costCenter", "organization",
        "division", "department", "manager", UserUrn, GroupUrn, EnterpriseUserUrn,
    }.ToDictionary(n => n, StringComparer.OrdinalIgnoreCase);

    private static readonly Dictionary<string, byte[]> Utf8Names = CanonicalNames.Values.Distinct().ToDictionary(n => n, n => System.Text.Encoding.UTF8.GetBytes(n));

    /// <summary>A canonical name's UTF-8 bytes (lookups in stored JSON then need no transcoding).</summary>
    public static ReadOnlySpan<byte> Utf8(string canonical) => Utf8Names[canonical];

    /// <summary>The schema's spelling of an attribute name, or null for a name the schemas do not have.</summary>
    public static string? Canonical(string name) => CanonicalNames.TryGetValue(name, out var canonical) ? canonical : null;

    /// <summary>Whether stored resources are sure to spell this name canonically (every known name is normalised on the way in).</summary>
    public static bool IsCanonical(string name) => CanonicalNames.ContainsKey(name);

    public static bool IsDateTime(AttrPath path) =>
        path.Attribute.Equals("meta", StringComparison.OrdinalIgnoreCase) && path.SubAttribute is { } s
        && (s.Equals("created", StringComparison.OrdinalIgnoreCase) || s.Equals("lastModified", StringComparison.OrdinalIgnoreCase));
}
