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

    public static bool IsDateTime(AttrPath path) =>
        path.Attribute.Equals("meta", StringComparison.OrdinalIgnoreCase) && path.SubAttribute is { } s
        && (s.Equals("created", StringComparison.OrdinalIgnoreCase) || s.Equals("lastModified", StringComparison.OrdinalIgnoreCase));
}
