using System.Text.Json;
using TenantEvents.Compute;

namespace TenantEvents.Tests.EventModels;

/// <summary>Keeps eventmodels/compute.json true to the code: the routes of the compute capability (it appends no events of its own).</summary>
public class ComputeEventModelTests
{
    private static readonly JsonElement Model = EventModelFile.Load("compute.json");

    [Fact]
    public void every_route_in_the_model_is_served_and_every_compute_route_is_modelled()
    {
        EventModelFile.ModelledRoutes(Model).ShouldBe(EventModelFile.ServedRoutes(typeof(ComputeJobs)));
        EventModelFile.Events(Model).ShouldBeEmpty();
    }
}
