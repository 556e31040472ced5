using System.Reflection;
using System.Text.Json;
using TenantEvents.Quotas;
using TenantEvents.Tests.Support;
using Wolverine.Http;

namespace TenantEvents.Tests.EventModels;

/// <summary>Keeps eventmodels/quotas.json true to the code: its events and its routes.</summary>
public class QuotaEventModelTests
{
    private static readonly JsonElement Model = JsonDocument.Parse(
        File.ReadAllText(Path.Combine(TestDatabase.RepositoryRoot(), "eventmodels", "quotas.json"))).RootElement;

    [Fact]
    public void every_event_in_the_model_is_in_the_code_and_the_reverse() =>
        Model.GetProperty("events").EnumerateArray().Select(e => e.GetString()!).Order()
            .ShouldBe(QuotaEventTypes.All.Select(t => t.Name).Order());

    [Fact]
    public void every_route_in_the_model_is_served_and_every_quota_route_is_modelled()
    {
        var modelled = Model.GetProperty("commands").EnumerateArray()
            .Where(c => c.GetProperty("http").ValueKind == JsonValueKind.String).Select(c => c.GetProperty("http").GetString()!)
            .Concat(Model.GetProperty("readModels").EnumerateArray().SelectMany(r => r.GetProperty("queries").EnumerateArray().Select(q => "GET " + q.GetString()!)))
            .Order().ToList();
        var served = typeof(QuotaEventTypes).Assembly.GetTypes().Where(t => t.Namespace == typeof(QuotaEventTypes).Namespace)
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.Static))
            .SelectMany(m => m.GetCustomAttributes<WolverineHttpMethodAttribute>())
            .Select(a => $"{a.HttpMethod} {a.Template}").Order().ToList();
        modelled.ShouldBe(served);
    }
}
