using System.Text.Json.Nodes;

namespace TenantEvents.Scim;

/// <summary>Reading request JSON the SCIM way: attribute names ignore case, and a value of the wrong kind is simply not a string.</summary>
public static class ScimNodes
{
    /// <summary>The object's own spelling of a name, ignoring case, or null.</summary>
    public static string? Key(JsonObject obj, string name) => obj.Select(p => p.Key).FirstOrDefault(k => k.Equals(name, StringComparison.OrdinalIgnoreCase));

    public static JsonNode? Property(JsonObject obj, string name) => Key(obj, name) is { } key ? obj[key] : null;

    /// <summary>The node's text when it is a JSON string; null for anything else (never an exception).</summary>
    public static string? Text(JsonNode? node) => node is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;

    public static string? Text(JsonObject obj, string name) => Text(Property(obj, name));

    /// <summary>Whether a schemas array names this URN (ignoring case; non-string entries name nothing).</summary>
    public static bool Names(JsonNode? schemas, string urn) =>
        schemas is JsonArray array && array.Any(s => string.Equals(Text(s), urn, StringComparison.OrdinalIgnoreCase));
}
