using System.Text.Json.Nodes;

namespace TenantEvents.Ledger;

/// <summary>
/// RFC 6902 JSON Patch between two JSON documents (RFC 6901 pointers, "~0"/"~1" escaping): objects member by member,
/// arrays element by element (removals from the end first, so every operation applies to the document as the previous
/// ones left it). A null document is "absent": creation is one add of the whole, deletion one remove.
/// </summary>
public static class JsonPatch
{
    public static JsonArray Diff(JsonNode? before, JsonNode? after)
    {
        var ops = new JsonArray();
        Diff(before, after, "", ops);
        return ops;
    }

    private static void Diff(JsonNode? before, JsonNode? after, string path, JsonArray ops)
    {
        if (JsonNode.DeepEquals(before, after)) return;
        switch (before, after)
        {
            case (JsonObject a, JsonObject b):
                foreach (var (name, value) in a)
                    if (!b.ContainsKey(name)) ops.Add(Op("remove", path + "/" + Escape(name)));
                foreach (var (name, value) in b)
                {
                    var child = path + "/" + Escape(name);
                    if (!a.TryGetPropertyValue(name, out var old)) ops.Add(Op("add", child, value));
                    else Diff(old, value, child, ops);
                }
                break;
            case (JsonArray a, JsonArray b):
                var common = Math.Min(a.Count, b.Count);
                for (var i = 0; i < common; i++) Diff(a[i], b[i], $"{path}/{i}", ops);
                for (var i = a.Count - 1; i >= b.Count; i--) ops.Add(Op("remove", $"{path}/{i}"));
                for (var i = a.Count; i < b.Count; i++) ops.Add(Op("add", $"{path}/-", b[i]));
                break;
            default:
                if (path == "" && before is null) ops.Add(Op("add", "", after));
                else if (path == "" && after is null) ops.Add(Op("remove", ""));
                else ops.Add(Op("replace", path, after));
                break;
        }
    }

    private static JsonObject Op(string op, string path, JsonNode? value = null)
    {
        var o = new JsonObject { ["op"] = op, ["path"] = path };
        if (op != "remove") o["value"] = value?.DeepClone();
        return o;
    }

    public static string Escape(string name) => name.Replace("~", "~0").Replace("/", "~1");

    private static string Unescape(string token) => token.Replace("~1", "/").Replace("~0", "~");

    /// <summary>Applies a patch (add, remove, replace, and test) to a copy of the document; throws <see cref="FormatException"/> if it does not apply.</summary>
    public static JsonNode? Apply(JsonNode? document, JsonArray patch)
    {
        var doc = document?.DeepClone();
        foreach (var node in patch)
        {
            if (node is not JsonObject op || op["op"]?.GetValue<string>() is not { } kind || op["path"]?.GetValue<string>() is not { } path)
                throw new FormatException("Each operation needs op and path.");
            var value = op["value"]?.DeepClone();
            if (path == "")
            {
                doc = kind switch
                {
                    "add" or "replace" => value,
                    "remove" => null,
                    "test" => JsonNode.DeepEquals(doc, value) ? doc : throw new FormatException("test failed at the root."),
                    _ => throw new FormatException($"Unsupported op {kind}."),
                };
                continue;
            }
            if (!path.StartsWith('/')) throw new FormatException($"Bad pointer '{path}'.");
            var tokens = path[1..].Split('/').Select(Unescape).ToArray();
            var parent = doc;
            foreach (var t in tokens[..^1])
                parent = parent switch
                {
                    JsonObject o when o.TryGetPropertyValue(t, out var next) => next,
                    JsonArray a when int.TryParse(t, out var i) && i >= 0 && i < a.Count => a[i],
                    _ => throw new FormatException($"No target at '{path}'."),
                };
            var last = tokens[^1];
            switch (parent, kind)
            {
                case (JsonObject o, "add"): o[last] = value; break;
                case (JsonObject o, "replace") when o.ContainsKey(last): o[last] = value; break;
                case (JsonObject o, "remove") when o.ContainsKey(last): o.Remove(last); break;
                case (JsonObject o, "test") when o.TryGetPropertyValue(last, out var current) && JsonNode.DeepEquals(current, value): break;
                case (JsonArray a, "add") when last == "-": a.Add(value); break;
                case (JsonArray a, "add") when int.TryParse(last, out var i) && i >= 0 && i <= a.Count: a.Insert(i, value); break;
                case (JsonArray a, "replace") when int.TryParse(last, out var i) && i >= 0 && i < a.Count: a[i] = value; break;
                case (JsonArray a, "remove") when int.TryParse(last, out var i) && i >= 0 && i < a.Count: a.RemoveAt(i); break;
                case (JsonArray a, "test") when int.TryParse(last, out var i) && i >= 0 && i < a.Count && JsonNode.DeepEquals(a[i], value): break;
                default: throw new FormatException($"{kind} does not apply at '{path}'.");
            }
        }
        return doc;
    }
}
