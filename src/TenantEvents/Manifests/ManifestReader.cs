using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace TenantEvents.Manifests;

/// <summary>What is wrong in a manifest, where: the file, its line when known, the path in the document, the field.</summary>
public sealed record ManifestError(string File, int? Line, string Path, string Code, string Detail)
{
    public override string ToString() => $"{File}{(Line is { } l ? ":" + l : "")}: {Path}: {Detail}";
}

/// <summary>
/// Reads a manifest (YAML or JSON) into a <see cref="TenantManifest"/>, pure apart from the two lookups it is given (the
/// environment and files, for ${env:NAME} and ${file:path}): every error names the file, the line, the path and the field,
/// and a manifest with any error is refused whole. Unknown fields are errors (a typo must not be ignored), and so is a
/// secret written in the file.
/// </summary>
public static partial class ManifestReader
{
    /// <summary>How a manifest maps to the model: camelCase, and a field the model does not have is an error.</summary>
    public static readonly JsonSerializerOptions SerializerOptions = new(JsonSerializerDefaults.Web)
    {
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        TypeInfoResolver = new System.Text.Json.Serialization.Metadata.DefaultJsonTypeInfoResolver(),
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower) },
    };

    /// <summary>How a manifest is written (export): the same names, and what is absent left out.</summary>
    public static readonly JsonSerializerOptions WriteOptions = new(SerializerOptions)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        WriteIndented = true,
    };

    private static JsonSerializerOptions Options => SerializerOptions;

    [GeneratedRegex(@"\$\{(env|file):([^}]*)\}")]
    private static partial Regex Reference();

    [GeneratedRegex(@"^\$\{(env|file):[^}]+\}$")]
    private static partial Regex WholeReference();

    public static (TenantManifest? Manifest, IReadOnlyList<ManifestError> Errors) Read(string file, string text, Func<string, string?> environment,
        Func<string, string?> readFile) => Read(file, text, environment, readFile, out _);

    /// <param name="lineOf">The line of a path in the document (or of the nearest node above it): for errors the server names by path.</param>
    public static (TenantManifest? Manifest, IReadOnlyList<ManifestError> Errors) Read(string file, string text, Func<string, string?> environment,
        Func<string, string?> readFile, out Func<string, int?> lineOf)
    {
        var errors = new List<ManifestError>();
        var lines = new Dictionary<string, int>(StringComparer.Ordinal);
        lineOf = path => LineOf(lines, path);
        JsonNode? document;
        try
        {
            document = LooksLikeJson(file, text)
                ? JsonNode.Parse(CountedJson(text), documentOptions: new JsonDocumentOptions { MaxDepth = MaxDepth, AllowDuplicateProperties = false })
                : FromYaml(text, lines);
        }
        catch (Exception e) when (e is JsonException or YamlException)
        {
            var line = e is YamlException y ? (int)y.Start.Line : (e as JsonException)?.LineNumber is { } l ? (int)l + 1 : (int?)null;
            return (null, [new ManifestError(file, line, "$", "unreadable", "is not valid " + (e is YamlException ? "YAML" : "JSON") + ": " + e.Message)]);
        }
        catch (ManifestShapeException e)
        {
            return (null, [new ManifestError(file, e.Line, e.Path, "unreadable", e.Message)]);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or FormatException or OverflowException)
        {
            // Whatever else a document can be (a key given twice, a number out of range): refused, never a 500.
            return (null, [new ManifestError(file, null, "$", "unreadable", "cannot be read: " + e.Message)]);
        }
        if (document is not JsonObject root) return (null, [new ManifestError(file, 1, "$", "unreadable", "must be a mapping (apiVersion, kind, metadata, spec).")]);
        TenantManifest? manifest;
        try
        {
            Resolve(root, "$", file, lines, environment, readFile, errors);
            if (errors.Count > 0) return (null, errors);
            manifest = root.Deserialize<TenantManifest>(Options);
        }
        catch (JsonException e)
        {
            var path = e.Path ?? "$";
            return (null, [new ManifestError(file, LineOf(lines, path), path, "invalid", Plain(e.Message))]);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or FormatException or OverflowException)
        {
            return (null, [new ManifestError(file, null, "$", "unreadable", "cannot be read: " + e.Message)]);
        }
        if (manifest is null) return (null, [new ManifestError(file, 1, "$", "unreadable", "is empty.")]);
        errors.AddRange(Rules.Check(manifest).Select(e => e with { File = file, Line = LineOf(lines, e.Path) }));
        return errors.Count > 0 ? (null, errors) : (manifest, []);
    }

    /// <summary>The JSON text, once its tokens are counted (flat, by the reader): no more than <see cref="MaxNodes"/>.</summary>
    private static string CountedJson(string text)
    {
        var reader = new Utf8JsonReader(System.Text.Encoding.UTF8.GetBytes(text), new JsonReaderOptions { MaxDepth = MaxDepth });
        var tokens = 0;
        while (reader.Read())
            if (++tokens > MaxNodes) throw new ManifestShapeException("$", null, $"holds more than {MaxNodes:N0} nodes.");
        return text;
    }

    private static bool LooksLikeJson(string file, string text) =>
        file.EndsWith(".json", StringComparison.OrdinalIgnoreCase) || text.TrimStart().StartsWith('{');

    /// <summary>How deep a manifest nests (it needs about 6): deeper is refused, not recursed into.</summary>
    public const int MaxDepth = 32;

    /// <summary>How many nodes a manifest holds at most (5,000 organisations with their grants are about 60,000).</summary>
    public const int MaxNodes = 1_000_000;

    private sealed class ManifestShapeException(string path, int? line, string message) : Exception(message)
    {
        public string Path { get; } = path;
        public int? Line { get; } = line;
    }

    /// <summary>YAML to JSON, keeping the line of every node (by its JSON path) for the errors.</summary>
    private static JsonNode? FromYaml(string text, Dictionary<string, int> lines)
    {
        // First the parser's events alone, flat: no alias at all (an alias of a scalar repeated a million times is as large
        // as one of a list), and no nesting past the limit, before anything is built recursively.
        var parser = new Parser(new StringReader(text));
        var (depth, nodes) = (0, 0);
        while (parser.MoveNext())
        {
            if (++nodes > MaxNodes) throw new ManifestShapeException("$", (int)parser.Current!.Start.Line, $"holds more than {MaxNodes:N0} nodes.");
            if (nodes == 3 && parser.Current is not YamlDotNet.Core.Events.MappingStart) // after the stream and the document starts
                throw new ManifestShapeException("$", (int)parser.Current!.Start.Line, "must be a mapping (apiVersion, kind, metadata, spec).");
            switch (parser.Current)
            {
                case YamlDotNet.Core.Events.AnchorAlias alias:
                    throw new ManifestShapeException("$", (int)alias.Start.Line, "repeats a node by alias (*name): write it out instead.");
                case YamlDotNet.Core.Events.MappingStart or YamlDotNet.Core.Events.SequenceStart:
                    if (++depth > MaxDepth)
                        throw new ManifestShapeException("$", (int)parser.Current.Start.Line, $"nests deeper than {MaxDepth} levels.");
                    break;
                case YamlDotNet.Core.Events.MappingEnd or YamlDotNet.Core.Events.SequenceEnd:
                    depth--;
                    break;
            }
        }
        var stream = new YamlStream();
        stream.Load(new StringReader(text));
        if (stream.Documents.Count > 1) throw new ManifestShapeException("$", (int)stream.Documents[1].RootNode.Start.Line, "holds more than one document: one manifest per file.");
        return stream.Documents.Count == 0 ? null : Convert(stream.Documents[0].RootNode, "$", lines, new HashSet<YamlNode>(ReferenceEqualityComparer.Instance), 0);
    }

    private static JsonNode? Convert(YamlNode node, string path, Dictionary<string, int> lines, HashSet<YamlNode> seen, int depth)
    {
        lines[path] = (int)node.Start.Line;
        if (depth > MaxDepth) throw new ManifestShapeException(path, (int)node.Start.Line, $"nests deeper than {MaxDepth} levels.");
        // An alias is the node it names, again: a few lines of aliases of aliases would make a document of any size. A
        // manifest has no use for them.
        if (node is not YamlScalarNode && !seen.Add(node))
            throw new ManifestShapeException(path, (int)node.Start.Line, "repeats a node by alias (*name): write it out instead.");
        switch (node)
        {
            case YamlMappingNode mapping:
                var obj = new JsonObject();
                foreach (var (key, value) in mapping.Children)
                {
                    if (key is not YamlScalarNode { Value: { } name })
                        throw new ManifestShapeException(path, (int)key.Start.Line, "has a key that is not plain text.");
                    if (obj.ContainsKey(name)) throw new ManifestShapeException($"{path}.{name}", (int)key.Start.Line, "is given twice.");
                    obj[name] = Convert(value, $"{path}.{name}", lines, seen, depth + 1);
                }
                return obj;
            case YamlSequenceNode sequence:
                var array = new JsonArray();
                var i = 0;
                foreach (var item in sequence.Children) array.Add(Convert(item, $"{path}[{i++}]", lines, seen, depth + 1));
                return array;
            case YamlScalarNode scalar:
                var text = scalar.Value ?? "";
                // Only plain scalars are typed (a quoted "true" stays text), as YAML 1.2's core schema does.
                if (scalar.Style == YamlDotNet.Core.ScalarStyle.Plain)
                {
                    if (text is "null" or "~" or "") return null;
                    if (text is "true" or "false") return JsonValue.Create(text == "true");
                    if (long.TryParse(text, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out var n))
                        return JsonValue.Create(n);
                    if (decimal.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var d))
                        return JsonValue.Create(d);
                }
                return JsonValue.Create(text);
            default:
                return null;
        }
    }

    /// <summary>Every ${env:NAME} and ${file:path} in a string value, replaced (a file's content without its final newline).</summary>
    private static void Resolve(JsonNode? node, string path, string file, Dictionary<string, int> lines, Func<string, string?> environment,
        Func<string, string?> readFile, List<ManifestError> errors)
    {
        switch (node)
        {
            case JsonObject obj:
                foreach (var (name, child) in obj.ToList())
                {
                    // A secret is given by reference, never written in the file (manifests live in repositories).
                    if (name.Contains("secret", StringComparison.OrdinalIgnoreCase) && child is JsonValue s && s.TryGetValue<string>(out var secret)
                        && !WholeReference().IsMatch(secret))
                        errors.Add(new ManifestError(file, LineOf(lines, $"{path}.{name}"), $"{path}.{name}", "secret-in-file",
                            "is a secret: give it by reference (${env:NAME} or ${file:path}), never in the file."));
                    if (child is JsonValue v && v.TryGetValue<string>(out var text) && Reference().IsMatch(text))
                        obj[name] = JsonValue.Create(Substitute(text, $"{path}.{name}"));
                    else Resolve(child, $"{path}.{name}", file, lines, environment, readFile, errors);
                }
                break;
            case JsonArray array:
                for (var i = 0; i < array.Count; i++)
                {
                    if (array[i] is JsonValue v && v.TryGetValue<string>(out var text) && Reference().IsMatch(text))
                        array[i] = JsonValue.Create(Substitute(text, $"{path}[{i}]"));
                    else Resolve(array[i], $"{path}[{i}]", file, lines, environment, readFile, errors);
                }
                break;
        }

        string Substitute(string text, string at) => Reference().Replace(text, m =>
        {
            var (kind, name) = (m.Groups[1].Value, m.Groups[2].Value.Trim());
            var found = name.Length == 0 ? null : kind == "env" ? environment(name) : readFile(name);
            if (found is not null) return kind == "file" ? found.TrimEnd('\n', '\r') : found;
            errors.Add(new ManifestError(file, LineOf(lines, at), at, "unresolved-reference",
                kind == "env" ? $"refers to the environment variable '{name}', which is not set." : $"refers to the file '{name}', which cannot be read."));
            return m.Value;
        });
    }

    private static int? LineOf(Dictionary<string, int> lines, string path)
    {
        // The nearest node that has a line: the path itself, or the closest enclosing one.
        for (var p = path; p.Length > 0; p = Parent(p))
            if (lines.TryGetValue(p, out var line)) return line;
        return null;
    }

    private static string Parent(string path)
    {
        var cut = Math.Max(path.LastIndexOf('.'), path.LastIndexOf('['));
        return cut <= 0 ? "" : path[..cut];
    }

    private static string Plain(string message) => message.Split(" Path:")[0];
}
