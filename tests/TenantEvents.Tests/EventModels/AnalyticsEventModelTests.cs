using System.Text.Json;
using TenantEvents.Analytics;
using TenantEvents.Tenants;

namespace TenantEvents.Tests.EventModels;

/// <summary>Keeps eventmodels/analytics.json true to the code: its routes, the lifecycle events it consumes, its examples.</summary>
public class AnalyticsEventModelTests
{
    private static readonly JsonElement Model = EventModelFile.Load("analytics.json");

    [Fact]
    public void every_route_in_the_model_is_served_and_every_analytics_route_is_modelled() =>
        EventModelFile.ModelledRoutes(Model).ShouldBe(EventModelFile.ServedRoutes(typeof(FeatureAreas)));

    [Fact]
    public void analytics_appends_no_events_of_its_own() => EventModelFile.Events(Model).ShouldBeEmpty();

    [Fact]
    public void the_lifecycle_events_it_consumes_are_those_the_fold_moves_a_tenants_state_on() =>
        Model.GetProperty("consumes").EnumerateArray().Select(e => e.GetString()!).Order().ToList()
            .ShouldBe(TenantEventTypes.All.Where(t => AnalyticsFold.StateAfterType(TenantEventTypes.StoredName(t)) is not null).Select(t => t.Name).Order().ToList());

    [Fact]
    public void every_example_folds_to_the_state_it_shows()
    {
        var examples = Model.GetProperty("examples").EnumerateArray().ToList();
        examples.Count.ShouldBeGreaterThan(3);
        foreach (var example in examples)
        {
            var tenant = Guid.NewGuid();
            var facts = example.GetProperty("given").EnumerateArray().Select((e, i) =>
                new EventFact(i + 1, tenant.ToString(), TenantEventTypes.StoredName(TenantEventTypes.All.Single(t => t.Name == e.GetString())), tenant, i + 1,
                    DateTimeOffset.UnixEpoch.AddMinutes(i)));
            AnalyticsFold.Fold(facts).Tenants[tenant.ToString()].State.ShouldBe(example.GetProperty("then").GetProperty("state").GetString(),
                example.GetProperty("name").GetString());
        }
    }
}
