using System.Text.Json;
using TenantEvents.Delivery;

namespace TenantEvents.Tests.EventModels;

/// <summary>Keeps eventmodels/delivery.json true to the code: its events and its routes.</summary>
public class DeliveryEventModelTests
{
    private static readonly JsonElement Model = EventModelFile.Load("delivery.json");

    [Fact]
    public void every_event_in_the_model_is_in_the_code_and_the_reverse() =>
        EventModelFile.Events(Model).ShouldBe(EventModelFile.Names(DeliveryEventTypes.All));

    [Fact]
    public void every_route_in_the_model_is_served_and_every_delivery_route_is_modelled() =>
        EventModelFile.ModelledRoutes(Model).ShouldBe(EventModelFile.ServedRoutes(typeof(DeliveryEventTypes)));
}
