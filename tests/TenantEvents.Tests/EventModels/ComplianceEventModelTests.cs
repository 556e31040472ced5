using System.Globalization;
using System.Text.Json;
using TenantEvents.Compliance;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Tenants;

namespace TenantEvents.Tests.EventModels;

/// <summary>Keeps eventmodels/compliance.json true to the code: events, routes, and the examples against the pure decisions.</summary>
public class ComplianceEventModelTests
{
    private static readonly JsonElement Model = EventModelFile.Load("compliance.json");
    private static readonly DateTimeOffset Start = new(2027, 1, 10, 6, 0, 0, TimeSpan.Zero);
    private static readonly Actor Officer = new("privacy-officer", "user");

    [Fact]
    public void every_event_in_the_model_is_in_the_code_and_the_reverse() =>
        EventModelFile.Events(Model).ShouldBe(EventModelFile.Names(ComplianceEventTypes.All));

    [Fact]
    public void every_route_in_the_model_is_served_and_every_compliance_route_is_modelled() =>
        EventModelFile.ModelledRoutes(Model).ShouldBe(EventModelFile.ServedRoutes(typeof(ComplianceEventTypes)));

    public static IEnumerable<object[]> Examples() =>
        Model.GetProperty("examples").EnumerateArray().Select(e => new object[] { e.GetProperty("name").GetString()! });

    [Theory]
    [MemberData(nameof(Examples))]
    public void the_examples_hold(string name)
    {
        var example = Model.GetProperty("examples").EnumerateArray().Single(e => e.GetProperty("name").GetString() == name);
        var args = example.GetProperty("args").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!);
        var rules = Jurisdictions.Catalogue.For(new ResidencyZone(args["country"]), null);
        var rule = RequestDecisions.Rule(rules);
        var later = Start.AddDays(args.TryGetValue("days", out var d) ? int.Parse(d, CultureInfo.InvariantCulture) : 0)
            .AddHours(args.TryGetValue("hours", out var h) ? int.Parse(h, CultureInfo.InvariantCulture) : 0);
        var id = Guid.CreateVersion7();
        DataSubjectRequest? request = null;
        Incident? incident = null;
        foreach (var given in example.GetProperty("given").EnumerateArray().Select(g => g.GetString()))
            switch (given)
            {
                case nameof(DataSubjectRequestReceived):
                    request = DataSubjectRequest.Apply(null, RequestDecisions.Receive(id, "access", "ada@example.de", null, null, Start, rule, Officer, Start).Event!);
                    break;
                case nameof(DataSubjectRequestExtended):
                    request = DataSubjectRequest.Apply(request, RequestDecisions.Extend(request!, rule, "busy", null, Officer, Start.AddDays(1)).Event!);
                    break;
                case nameof(IncidentRegistered):
                    incident = Incident.Apply(null, IncidentDecisions.Register(id, "tenant", "Outage", "Servers down", "availability", Start, [], Officer, Start).Event!);
                    break;
                case nameof(IncidentAssessed):
                    incident = Incident.Apply(incident, IncidentDecisions.Assess(incident!, rules, true, "high", "Down", false, false, false, Officer, Start).Event!);
                    break;
                default:
                    throw new InvalidOperationException(given);
            }
        (IReadOnlyList<object> Events, string? Refused) outcome = example.GetProperty("when").GetString() switch
        {
            "ReceiveDataSubjectRequest" => ([RequestDecisions.Receive(id, "access", "ada@example.de", null, null, Start, rule, Officer, Start).Event!], null),
            "ExtendDataSubjectRequest" => One(RequestDecisions.Extend(request!, rule, "busy", null, Officer, later)),
            "MarkRequestOverdue" => (RequestDecisions.Tick(request!, later), null),
            "AssessIncident" => One(IncidentDecisions.Assess(incident!, rules, true, "high", "Down", false, false, false, Officer, Start)),
            "TickIncident" => (IncidentDecisions.Tick(incident!, later), null),
            "CloseIncident" => One(IncidentDecisions.Close(incident!, "Restored", Officer, later)),
            var other => throw new InvalidOperationException(other),
        };
        if (example.TryGetProperty("refused", out var refused)) outcome.Refused.ShouldBe(refused.GetString());
        else
        {
            outcome.Refused.ShouldBeNull();
            outcome.Events.Select(e => e.GetType().Name).ShouldBe(example.GetProperty("then").EnumerateArray().Select(x => x.GetString()!));
        }
    }

    private static (IReadOnlyList<object>, string?) One((object? Event, TenantEvents.Infrastructure.Problem? Refusal) step) =>
        (step.Event is null ? [] : [step.Event], step.Refusal?.Code);
}
