using System.Text.Json;
using System.Text.Json.Nodes;

namespace TenantEvents.Scim;

/// <summary>
/// What a user or group must be (RFC 7643), decided purely on the snapshot: the body normalised for storage
/// (read-only and write-only attributes dropped), or the SCIM error.
/// </summary>
public static class ScimRules
{
    private const int MaxResourceBytes = 64 * 1024;

    private static readonly string[] MultiValuedUserAttributes =
        ["emails", "phoneNumbers", "ims", "photos", "addresses", "entitlements", "roles", "x509Certificates"];

    /// <summary>A user's stored form, or why not. <paramref name="self"/> is the user being replaced or patched.</summary>
    public static (JsonElement? Body, ScimError? Error) User(JsonObject input, ScimSnapshot snapshot, Guid? self)
    {
        var body = Strip(input);
        if (Schemas(body, ScimSchema.UserUrn, [ScimSchema.EnterpriseUserUrn]) is { } schemaError) return (null, schemaError);
        if (Text(body, "userName") is not { } userName || string.IsNullOrWhiteSpace(userName))
            return (null, ScimError.InvalidValue("userName is required (a non-empty string)."));
        if (userName.Length > 256) return (null, ScimError.InvalidValue("userName is at most 256 characters."));
        if (snapshot.UserNamed(userName) is { } holder && holder != self)
            return (null, ScimError.Uniqueness($"userName '{userName}' is already taken in this tenant."));
        if (Key(body, "active") is { } activeKey)
        {
            if (body[activeKey] is JsonValue v && v.TryGetValue<string>(out var s) && bool.TryParse(s, out var b)) body[activeKey] = b;
            else if (body[activeKey] is not JsonValue active || active.GetValueKind() is not (JsonValueKind.True or JsonValueKind.False))
                return (null, ScimError.InvalidValue("active is a boolean."));
        }
        if (Key(body, "name") is { } nameKey && body[nameKey] is not (JsonObject or null)) return (null, ScimError.InvalidValue("name is a complex attribute (an object)."));
        foreach (var attribute in MultiValuedUserAttributes)
            if (Key(body, attribute) is { } key && (body[key] is not JsonArray values || values.Any(v => v is not JsonObject)))
                return (null, ScimError.InvalidValue($"{attribute} is a multi-valued complex attribute (an array of objects)."));
        return Stored(body);
    }

    /// <summary>A group's stored form: a display name and members that are users (or groups) of this tenant.</summary>
    public static (JsonElement? Body, ScimError? Error) Group(JsonObject input, ScimSnapshot snapshot, Guid? self)
    {
        var body = Strip(input);
        if (Schemas(body, ScimSchema.GroupUrn, []) is { } schemaError) return (null, schemaError);
        if (Text(body, "displayName") is not { } displayName || string.IsNullOrWhiteSpace(displayName))
            return (null, ScimError.InvalidValue("displayName is required (a non-empty string)."));
        if (displayName.Length > 256) return (null, ScimError.InvalidValue("displayName is at most 256 characters."));
        if (snapshot.Groups.Values.Any(g => g.Id != self && string.Equals(g.Text("displayName"), displayName, StringComparison.OrdinalIgnoreCase)))
            return (null, ScimError.Uniqueness($"displayName '{displayName}' is already taken in this tenant (groups map to role grants by name)."));
        if (Key(body, "members") is { } membersKey)
        {
            if (body[membersKey] is not JsonArray members || members.Any(m => m is not JsonObject))
                return (null, ScimError.InvalidValue("members is an array of objects with a value."));
            var seen = new HashSet<Guid>();
            foreach (var member in members.OfType<JsonObject>().ToList())
            {
                var value = Text(member, "value");
                if (!Guid.TryParse(value, out var id) || (!snapshot.Users.ContainsKey(id) && !snapshot.Groups.ContainsKey(id)) || id == self)
                    return (null, ScimError.InvalidValue($"members: '{value}' is not a user or group of this tenant."));
                if (!seen.Add(id)) members.Remove(member); // one membership per member
                else
                {
                    member.Remove(Key(member, "$ref") ?? "$ref");
                    if (Key(member, "type") is null) member["type"] = snapshot.Users.ContainsKey(id) ? "User" : "Group";
                }
            }
        }
        return Stored(body);
    }

    private static JsonObject Strip(JsonObject input)
    {
        var body = (JsonObject)input.DeepClone();
        // Read-only attributes are the service's to set; a password is write-only and this service authenticates no one
        // with it, so it is not kept at all.
        foreach (var name in new[] { "id", "meta", "groups", "password" })
            if (Key(body, name) is { } key) body.Remove(key);
        return body;
    }

    private static ScimError? Schemas(JsonObject body, string core, string[] extensions)
    {
        if (Key(body, "schemas") is not { } key || body[key] is not JsonArray schemas || schemas.Count == 0)
            return ScimError.InvalidValue($"schemas is required and names {core}.");
        var names = schemas.Select(ScimNodes.Text).ToList();
        if (!names.Contains(core, StringComparer.OrdinalIgnoreCase)) return ScimError.InvalidValue($"schemas must include {core}.");
        var unknown = names.Where(n => n is null || (!n.Equals(core, StringComparison.OrdinalIgnoreCase) && !extensions.Contains(n, StringComparer.OrdinalIgnoreCase))).ToList();
        if (unknown.Count > 0) return ScimError.InvalidValue($"Unknown schema: {unknown[0]}.");
        foreach (var (name, value) in body)
            if (name.StartsWith("urn:", StringComparison.OrdinalIgnoreCase) && (!names.Contains(name, StringComparer.OrdinalIgnoreCase) || value is not JsonObject))
                return ScimError.InvalidValue($"The extension {name} must be listed in schemas and be an object.");
        return null;
    }

    private static (JsonElement? Body, ScimError? Error) Stored(JsonObject body)
    {
        var bytes = JsonSerializer.SerializeToUtf8Bytes(Canonical(body));
        if (bytes.Length > MaxResourceBytes) return (null, new ScimError(413, null, $"A resource is at most {MaxResourceBytes / 1024} KB."));
        using var document = JsonDocument.Parse(bytes);
        return (document.RootElement.Clone(), null);
    }

    /// <summary>The schemas' attribute names spelled as RFC 7643 does (names are case-insensitive; one spelling at rest makes lookups exact).</summary>
    private static JsonNode? Canonical(JsonNode? node) => node switch
    {
        JsonObject obj => obj.Aggregate(new JsonObject(), (copy, p) =>
        {
            copy[ScimSchema.Canonical(p.Key) ?? p.Key] = Canonical(p.Value); // two spellings of one name: the last one wins
            return copy;
        }),
        JsonArray array => new JsonArray(array.Select(Canonical).ToArray()),
        _ => node?.DeepClone(),
    };

    private static string? Key(JsonObject obj, string name) => ScimNodes.Key(obj, name);

    private static string? Text(JsonObject obj, string name) => ScimNodes.Text(obj, name);
}
