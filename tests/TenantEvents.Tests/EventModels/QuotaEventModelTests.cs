using System.Text.Json;
using TenantEvents.Quotas;

namespace TenantEvents.Tests.EventModels;

/// <summary>Keeps eventmodels/quotas.json true to the code: its events and its routes.</summary>
public class QuotaEventModelTests
{
    private static readonly JsonElement Model = EventModelFile.Load("quotas.json");

    [Fact]
    public void every_event_in_the_model_is_in_the_code_and_the_reverse() =>
        EventModelFile.Events(Model).ShouldBe(EventModelFile.Names(QuotaEventTypes.All));

    [Fact]
    public void every_route_in_the_model_is_served_and_every_quota_route_is_modelled() =>
        EventModelFile.ModelledRoutes(Model).ShouldBe(EventModelFile.ServedRoutes(typeof(QuotaEventTypes)));
}
