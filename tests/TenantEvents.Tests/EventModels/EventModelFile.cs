using System.Reflection;
using System.Text.Json;
using TenantEvents.Tests.Support;
using Wolverine.Http;

namespace TenantEvents.Tests.EventModels;

/// <summary>
/// Reading an event model file (eventmodels/*.json) and the code it describes: its events, the routes it names (commands
/// with an HTTP route; read model queries, which are GETs) and the routes a capability's namespace serves.
/// </summary>
public static class EventModelFile
{
    public static JsonElement Load(string file) =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(TestDatabase.RepositoryRoot(), "eventmodels", file))).RootElement;

    public static List<string> Events(JsonElement model) =>
        model.GetProperty("events").EnumerateArray().Select(e => e.GetString()!).Order().ToList();

    public static List<string> Names(IEnumerable<Type> types) => types.Select(t => t.Name).Order().ToList();

    /// <summary>"METHOD /route" of every command with a route (internal ones have none) and "GET /route" of every query.</summary>
    public static List<string> ModelledRoutes(JsonElement model) =>
        model.GetProperty("commands").EnumerateArray()
            .Where(c => c.GetProperty("http").ValueKind == JsonValueKind.String).Select(c => c.GetProperty("http").GetString()!)
            .Concat(model.GetProperty("readModels").EnumerateArray().SelectMany(r => r.GetProperty("queries").EnumerateArray().Select(q => "GET " + q.GetString()!)))
            .Order().ToList();

    /// <summary>Every Wolverine.Http route declared in the namespace of <paramref name="anchor"/>.</summary>
    public static List<string> ServedRoutes(Type anchor) =>
        anchor.Assembly.GetTypes().Where(t => t.Namespace == anchor.Namespace)
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.Static))
            .SelectMany(m => m.GetCustomAttributes<WolverineHttpMethodAttribute>())
            .Select(a => $"{a.HttpMethod} {a.Template}").Order().ToList();
}
