using System.Text.Json;
using TenantEvents.Analytics;

namespace TenantEvents.Tests.EventModels;

/// <summary>Keeps eventmodels/analytics.json true to the code: its routes (it has no events yet).</summary>
public class AnalyticsEventModelTests
{
    private static readonly JsonElement Model = EventModelFile.Load("analytics.json");

    [Fact]
    public void every_route_in_the_model_is_served_and_every_analytics_route_is_modelled() =>
        EventModelFile.ModelledRoutes(Model).ShouldBe(EventModelFile.ServedRoutes(typeof(FeatureAreas)));

    [Fact]
    public void it_has_no_events_yet() => EventModelFile.Events(Model).ShouldBeEmpty();
}
