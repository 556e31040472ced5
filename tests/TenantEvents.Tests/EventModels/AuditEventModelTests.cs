using System.Text.Json;
using TenantEvents.Audit;

namespace TenantEvents.Tests.EventModels;

/// <summary>Keeps eventmodels/audit.json true to the code: its events and its routes.</summary>
public class AuditEventModelTests
{
    private static readonly JsonElement Model = EventModelFile.Load("audit.json");

    [Fact]
    public void every_event_in_the_model_is_in_the_code_and_the_reverse() =>
        EventModelFile.Events(Model).ShouldBe(EventModelFile.Names(AuditEventTypes.All));

    [Fact]
    public void every_route_in_the_model_is_served_and_every_audit_route_is_modelled() =>
        EventModelFile.ModelledRoutes(Model).ShouldBe(EventModelFile.ServedRoutes(typeof(AuditEventTypes)));

    [Fact]
    public void every_event_type_of_a_tenant_has_an_audit_state()
    {
        foreach (var type in AuditEventTypes.ByStoredName.Values)
            AuditEventTypes.StreamKind(type).ShouldNotBe("other", type.Name);
    }
}
