using System.Text.Json;
using System.Text.Json.Nodes;

namespace TenantEvents.Scim;

public sealed class ScimPatchException(ScimError error) : Exception(error.Detail)
{
    public ScimError Error { get; } = error;
}

/// <summary>
/// PATCH (RFC 7644 section 3.5.2): add, replace and remove, with or without a path; paths may name a sub-attribute,
/// an extension attribute by URN, or select values of a multi-valued attribute with a filter (emails[type eq "work"],
/// members[value eq "..."], emails[type eq "work"].value). Pure: a resource in, the patched resource out, or a SCIM error.
/// </summary>
public static class ScimPatch
{
    private static readonly HashSet<string> ReadOnly = new(StringComparer.OrdinalIgnoreCase) { "id", "meta", "groups" };

    public static JsonObject Apply(JsonObject resource, JsonObject request, ScimSchema schema)
    {
        if (!ScimNodes.Names(ScimNodes.Property(request, "schemas"), ScimSchema.PatchOpUrn))
            throw Invalid("invalidSyntax", $"A PATCH body names the schema {ScimSchema.PatchOpUrn}.");
        if (Property(request, "Operations") is not JsonArray operations || operations.Count == 0)
            throw Invalid("invalidSyntax", "A PATCH body has a non-empty Operations array.");
        if (operations.Count > 1000) throw Invalid("invalidValue", "At most 1000 operations per PATCH.");
        var result = (JsonObject)resource.DeepClone();
        foreach (var node in operations)
        {
            if (node is not JsonObject operation) throw Invalid("invalidSyntax", "Each operation is a JSON object.");
            var op = ScimNodes.Text(operation, "op")?.ToLowerInvariant();
            var path = ScimNodes.Text(operation, "path");
            var value = Property(operation, "value");
            switch (op)
            {
                case "add" or "replace" when path is null:
                    if (value is not JsonObject attributes) throw Invalid("invalidValue", $"'{op}' without a path takes an object of attributes as its value.");
                    foreach (var (name, v) in attributes.ToList())
                    {
                        if (name.StartsWith("urn:", StringComparison.OrdinalIgnoreCase) && !schema.IsCore(name) && v is JsonObject extension)
                            foreach (var (sub, sv) in extension.ToList()) Set(result, new Target(AttrPath.Parse($"{name}:{sub}"), null, null), sv, op, schema);
                        else Set(result, new Target(AttrPath.Parse(name.StartsWith("urn:", StringComparison.OrdinalIgnoreCase) ? name : name), null, null), v, op, schema);
                    }
                    break;
                case "add" or "replace":
                    if (value is null) throw Invalid("invalidValue", $"'{op}' needs a value.");
                    Set(result, Parse(path!), value, op, schema);
                    break;
                case "remove":
                    if (path is null) throw Invalid("noTarget", "'remove' needs a path.");
                    Remove(result, Parse(path), schema);
                    break;
                default:
                    throw Invalid("invalidSyntax", $"'{op}' is not a PATCH operation (add, replace, remove).");
            }
        }
        return result;
    }

    private sealed record Target(AttrPath Path, ScimFilter? Filter, string? SubAfterFilter);

    /// <summary>attrPath, attrPath[filter] or attrPath[filter].sub.</summary>
    private static Target Parse(string text)
    {
        try
        {
            var open = text.IndexOf('[');
            if (open < 0) return new Target(AttrPath.Parse(text), null, null);
            var close = text.LastIndexOf(']');
            if (close < open) throw new ScimFilterException($"'{text}' has an unclosed '['.");
            var path = AttrPath.Parse(text[..open]);
            var filter = ScimFilter.Parse(text[(open + 1)..close]);
            var rest = text[(close + 1)..];
            string? sub = null;
            if (rest.Length > 0)
            {
                if (rest[0] != '.' || AttrPath.Parse(rest[1..]) is not { SubAttribute: null, Schema: null } subPath)
                    throw new ScimFilterException($"'{text}' continues after the filter with something other than .subAttribute.");
                sub = subPath.Attribute;
            }
            if (path.SubAttribute is not null) throw new ScimFilterException($"'{text}': a filter selects values of a multi-valued attribute.");
            return new Target(path, filter, sub);
        }
        catch (ScimFilterException e)
        {
            throw Invalid("invalidPath", e.Message);
        }
    }

    private static JsonObject Owner(JsonObject resource, AttrPath path, ScimSchema schema, bool create)
    {
        if (path.Schema is not { } urn || schema.IsCore(urn)) return resource;
        var key = Key(resource, urn);
        if (key is not null && resource[key] is JsonObject extension) return extension;
        if (!create) return new JsonObject();
        var made = new JsonObject();
        resource[urn] = made;
        if (resource["schemas"] is JsonArray schemas && !ScimNodes.Names(schemas, urn))
            schemas.Add(urn);
        return made;
    }

    private static void Set(JsonObject resource, Target target, JsonNode? value, string op, ScimSchema schema)
    {
        var path = target.Path;
        if (ReadOnly.Contains(path.Attribute) && (path.Schema is null || schema.IsCore(path.Schema)))
            throw Invalid("mutability", $"'{path.Attribute}' is read-only.");
        value = Coerce(path, value);
        var owner = Owner(resource, path, schema, create: true);
        var key = Key(owner, path.Attribute) ?? path.Attribute;
        var existing = owner[key];

        if (target.Filter is { } filter)
        {
            if (existing is not JsonArray values) throw Invalid("noTarget", $"'{path}' has no values to select.");
            var matched = values.OfType<JsonObject>().Where(v => filter.Matches(JsonSerializer.SerializeToElement(v), ScimSchema.Nested)).ToList();
            if (matched.Count == 0) throw Invalid("noTarget", $"No value of '{path}' matches the filter.");
            foreach (var item in matched)
            {
                if (target.SubAfterFilter is { } sub) item[Key(item, sub) ?? sub] = value?.DeepClone();
                else if (value is JsonObject fields) foreach (var (k, v) in fields) item[Key(item, k) ?? k] = v?.DeepClone();
                else throw Invalid("invalidValue", $"A value of '{path}' is an object.");
            }
            return;
        }
        if (path.SubAttribute is { } subAttribute)
        {
            if (existing is JsonArray many)
            {
                foreach (var item in many.OfType<JsonObject>()) item[Key(item, subAttribute) ?? subAttribute] = value?.DeepClone();
                return;
            }
            if (existing is not JsonObject complex) owner[key] = complex = new JsonObject();
            complex[Key(complex, subAttribute) ?? subAttribute] = value?.DeepClone();
            return;
        }
        switch (op)
        {
            case "add" when existing is JsonArray list:
                foreach (var item in value is JsonArray added ? added.ToList() : [value])
                    if (!list.Any(x => JsonNode.DeepEquals(x, item))) list.Add(item?.DeepClone());
                break;
            case "add" or "replace" when existing is JsonObject complexValue && value is JsonObject fields:
                foreach (var (k, v) in fields) complexValue[Key(complexValue, k) ?? k] = v?.DeepClone();
                break;
            default:
                owner[key] = value is JsonArray or null || existing is not JsonArray ? value?.DeepClone() : new JsonArray(value.DeepClone());
                break;
        }
    }

    private static void Remove(JsonObject resource, Target target, ScimSchema schema)
    {
        var path = target.Path;
        if (ReadOnly.Contains(path.Attribute) && (path.Schema is null || schema.IsCore(path.Schema)))
            throw Invalid("mutability", $"'{path.Attribute}' is read-only.");
        var owner = Owner(resource, path, schema, create: false);
        var key = Key(owner, path.Attribute);
        if (key is null)
        {
            if (target.Filter is not null) throw Invalid("noTarget", $"'{path}' has no values to select.");
            return; // removing what is not there changes nothing
        }
        if (target.Filter is { } filter)
        {
            if (owner[key] is not JsonArray values) throw Invalid("noTarget", $"'{path}' has no values to select.");
            var matched = values.Where(v => v is JsonObject o && filter.Matches(JsonSerializer.SerializeToElement(o), ScimSchema.Nested)).ToList();
            if (matched.Count == 0) throw Invalid("noTarget", $"No value of '{path}' matches the filter.");
            foreach (var item in matched)
            {
                if (target.SubAfterFilter is { } sub) ((JsonObject)item!).Remove(Key((JsonObject)item, sub) ?? sub);
                else values.Remove(item);
            }
            if (values.Count == 0) owner.Remove(key);
            return;
        }
        if (path.SubAttribute is { } subAttribute)
        {
            switch (owner[key])
            {
                case JsonObject complex: complex.Remove(Key(complex, subAttribute) ?? subAttribute); break;
                case JsonArray many: foreach (var item in many.OfType<JsonObject>()) item.Remove(Key(item, subAttribute) ?? subAttribute); break;
            }
            return;
        }
        owner.Remove(key);
    }

    /// <summary>Some directories send booleans as strings ("True"); active is a boolean.</summary>
    private static JsonNode? Coerce(AttrPath path, JsonNode? value)
    {
        if (path.Attribute.Equals("active", StringComparison.OrdinalIgnoreCase) && value is JsonValue v && v.TryGetValue<string>(out var s)
            && bool.TryParse(s, out var b))
            return JsonValue.Create(b);
        return value;
    }

    private static string? Key(JsonObject obj, string name) => ScimNodes.Key(obj, name);

    private static JsonNode? Property(JsonObject obj, string name) => ScimNodes.Property(obj, name);

    private static ScimPatchException Invalid(string scimType, string detail) => new(new ScimError(400, scimType, detail));
}
