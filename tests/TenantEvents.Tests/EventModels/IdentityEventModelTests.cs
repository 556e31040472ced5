using System.Text.Json;
using TenantEvents.Identity;

namespace TenantEvents.Tests.EventModels;

/// <summary>Keeps eventmodels/identity.json true to the code: its events and its routes.</summary>
public class IdentityEventModelTests
{
    private static readonly JsonElement Model = EventModelFile.Load("identity.json");

    [Fact]
    public void every_event_in_the_model_is_in_the_code_and_the_reverse() =>
        EventModelFile.Events(Model).ShouldBe(EventModelFile.Names(IdentityEventTypes.All));

    [Fact]
    public void every_route_in_the_model_is_served_and_every_identity_route_is_modelled() =>
        EventModelFile.ModelledRoutes(Model).ShouldBe(EventModelFile.ServedRoutes(typeof(IdentityEventTypes)));
}
