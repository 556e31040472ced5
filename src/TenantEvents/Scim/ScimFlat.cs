using System.Text.Json;

namespace TenantEvents.Scim;

/// <summary>One attribute value as a filter compares it.</summary>
public readonly record struct ScimValue(JsonValueKind Kind, string? Text, decimal Number)
{
    public bool IsEmpty => Kind switch
    {
        JsonValueKind.Null or JsonValueKind.Undefined => true,
        JsonValueKind.String => string.IsNullOrEmpty(Text),
        _ => false,
    };

    public static ScimValue Of(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.String => new(JsonValueKind.String, e.GetString(), 0),
        JsonValueKind.Number => new(JsonValueKind.Number, null, e.TryGetDecimal(out var d) ? d : 0),
        var kind => new(kind, null, 0),
    };
}

/// <summary>
/// A resource flattened once for filtering: every attribute path (lower case; "name.familyname", "emails" for the
/// values of a multi-valued attribute, "emails.type" for a sub-attribute across its values, extension attributes under
/// their URN) to its values, and the values of complex attributes as flattened elements for value filters
/// (emails[type eq "work"]). A filter over many resources then costs dictionary lookups, not JSON walks.
/// </summary>
public sealed class ScimFlat
{
    private static readonly ScimValue[] None = [];
    private static readonly ScimFlat[] NoElements = [];
    private readonly Dictionary<string, ScimValue[]> _values = new(StringComparer.Ordinal);
    private Dictionary<string, ScimFlat[]>? _elements;

    public ReadOnlySpan<ScimValue> Values(string key) => _values.TryGetValue(key, out var v) ? v : None;

    public ReadOnlySpan<ScimFlat> Elements(string key) => _elements is not null && _elements.TryGetValue(key, out var e) ? e : NoElements;

    public bool Has(string key) => _values.ContainsKey(key) || (_elements?.ContainsKey(key) ?? false);

    /// <summary>The resource's attributes, plus id and meta when it is a stored resource.</summary>
    public static ScimFlat Of(JsonElement resource, Guid? id = null, string? kind = null, DateTimeOffset? created = null, DateTimeOffset? modified = null,
        long? version = null)
    {
        var flat = new ScimFlat();
        if (resource.ValueKind == JsonValueKind.Object)
            foreach (var p in resource.EnumerateObject())
            {
                var name = p.Name.ToLowerInvariant();
                if (name.StartsWith("urn:", StringComparison.Ordinal) && p.Value.ValueKind == JsonValueKind.Object)
                    foreach (var q in p.Value.EnumerateObject()) flat.Add(name + ":" + q.Name.ToLowerInvariant(), q.Value);
                else flat.Add(name, p.Value);
            }
        if (id is { } i) flat.Put("id", new ScimValue(JsonValueKind.String, i.ToString(), 0));
        if (kind is not null) flat.Put("meta.resourcetype", new ScimValue(JsonValueKind.String, kind, 0));
        if (created is { } c) flat.Put("meta.created", new ScimValue(JsonValueKind.String, c.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ"), 0));
        if (modified is { } m) flat.Put("meta.lastmodified", new ScimValue(JsonValueKind.String, m.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ"), 0));
        if (version is { } v) flat.Put("meta.version", new ScimValue(JsonValueKind.String, $"W/\"{v}\"", 0));
        return flat;
    }

    private void Put(string key, ScimValue value) => _values[key] = [value];

    private void Add(string name, JsonElement value)
    {
        switch (value.ValueKind)
        {
            case JsonValueKind.Null:
                return;
            case JsonValueKind.Array:
            {
                var primitives = new List<ScimValue>();
                var elements = new List<ScimFlat>();
                var subs = new Dictionary<string, List<ScimValue>>(StringComparer.Ordinal);
                foreach (var item in value.EnumerateArray())
                {
                    if (item.ValueKind != JsonValueKind.Object)
                    {
                        if (item.ValueKind != JsonValueKind.Null) primitives.Add(ScimValue.Of(item));
                        continue;
                    }
                    var element = Of(item);
                    elements.Add(element);
                    foreach (var (key, values) in element._values)
                    {
                        if (key == "value") primitives.AddRange(values);
                        if (!subs.TryGetValue(key, out var list)) subs[key] = list = [];
                        list.AddRange(values);
                    }
                }
                if (primitives.Count > 0) _values[name] = [.. primitives];
                foreach (var (key, values) in subs) _values[name + "." + key] = [.. values];
                if (elements.Count > 0) (_elements ??= new(StringComparer.Ordinal))[name] = [.. elements];
                return;
            }
            case JsonValueKind.Object:
            {
                var element = Of(value);
                foreach (var (key, values) in element._values)
                {
                    _values[name + "." + key] = values;
                    if (key == "value") _values[name] = values;
                }
                (_elements ??= new(StringComparer.Ordinal))[name] = [element];
                return;
            }
            default:
                _values[name] = [ScimValue.Of(value)];
                return;
        }
    }
}
