using TenantEvents.Organisations;

namespace TenantEvents.Manifests;

/// <summary>
/// Organisations by path: "/Root/Child". A "/" inside a name is written "~1", a "~" is written "~0" (RFC 6901's escaping),
/// so every name has one path. Two open siblings with the same name have the same path: such a path is ambiguous, and a
/// manifest that names it (or anything under it) is refused rather than guessed.
/// </summary>
public sealed class ManifestPaths
{
    private readonly Dictionary<string, Guid> _byPath = new(StringComparer.Ordinal);
    private readonly Dictionary<Guid, string> _byId = new();
    private readonly HashSet<string> _ambiguous = new(StringComparer.Ordinal);

    public static string Escape(string name) => name.Replace("~", "~0").Replace("/", "~1");

    public static string Unescape(string segment) => segment.Replace("~1", "/").Replace("~0", "~");

    public static string? ParentOf(string path) => path.LastIndexOf('/') is > 0 and var cut ? path[..cut] : null;

    public static string NameOf(string path) => Unescape(path[(path.LastIndexOf('/') + 1)..]);

    /// <summary>The open organisations of the tree by path (closed ones have none: a path names what is in use).</summary>
    public static ManifestPaths Of(AccessGraph graph, IReadOnlyDictionary<Guid, string> names)
    {
        var paths = new ManifestPaths();
        if (graph.Root is not { } root) return paths;
        var pending = new Stack<(Guid Id, string Parent)>();
        pending.Push((root, ""));
        while (pending.TryPop(out var at))
        {
            var node = graph.Find(at.Id)!;
            if (!node.Open) continue;
            var path = at.Parent + "/" + Escape(names.GetValueOrDefault(node.Id) ?? node.Name ?? node.Id.ToString());
            paths.Add(path, node.Id);
            foreach (var child in node.Children) pending.Push((child, path));
        }
        return paths;
    }

    public void Add(string path, Guid id)
    {
        if (!_byPath.TryAdd(path, id)) _ambiguous.Add(path);
        _byId[id] = path;
    }

    public Guid? Find(string path) => _byPath.TryGetValue(path, out var id) ? id : null;

    public string? PathOf(Guid id) => _byId.GetValueOrDefault(id);

    /// <summary>The path, or one above it, names more than one organisation.</summary>
    public bool IsAmbiguous(string path)
    {
        for (var p = path; p is not null; p = ParentOf(p))
            if (_ambiguous.Contains(p)) return true;
        return false;
    }

    public IEnumerable<(string Path, Guid Id)> All => _byId.Select(p => (p.Value, p.Key));

    public IReadOnlyCollection<string> Ambiguous => _ambiguous;
}
