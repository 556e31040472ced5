using System.Text.Json;
using TenantEvents.Domains;
using TenantEvents.Infrastructure.Security;

namespace TenantEvents.Tests.EventModels;

/// <summary>Keeps eventmodels/domains.json true to the code: events, routes, and the examples against the pure decisions.</summary>
public class DomainEventModelTests
{
    private static readonly JsonElement Model = EventModelFile.Load("domains.json");
    private static readonly DateTimeOffset Now = new(2026, 11, 28, 9, 0, 0, TimeSpan.Zero);
    private static readonly Actor Alice = new("alice", "user");
    private const string Name = "events.agency.example";

    [Fact]
    public void every_event_in_the_model_is_in_the_code_and_the_reverse() =>
        EventModelFile.Events(Model).ShouldBe(EventModelFile.Names(DomainEventTypes.All));

    [Fact]
    public void every_route_in_the_model_is_served_and_every_domain_route_is_modelled() =>
        EventModelFile.ModelledRoutes(Model).ShouldBe(EventModelFile.ServedRoutes(typeof(DomainEventTypes)));

    public static IEnumerable<object[]> Examples() =>
        Model.GetProperty("examples").EnumerateArray().Select(e => new object[] { e.GetProperty("name").GetString()! });

    [Theory]
    [MemberData(nameof(Examples))]
    public void the_examples_hold(string name)
    {
        var example = Model.GetProperty("examples").EnumerateArray().Single(e => e.GetProperty("name").GetString() == name);
        var args = example.GetProperty("args").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!);
        var tenant = Guid.CreateVersion7();
        var given = example.GetProperty("given").EnumerateArray().Select(x => x.GetString()!).Select<string, object>(g => g switch
        {
            nameof(DomainClaimed) => new DomainClaimed(Name, DomainKinds.Custom, "challenge", Alice, Now),
            nameof(DomainVerified) => new DomainVerified(Name, VerificationMethods.Http, Alice, Now),
            nameof(DomainReleased) => new DomainReleased(Name, null, Alice, Now),
            _ => throw new InvalidOperationException(g),
        }).ToList();
        var record = given.Count == 0 ? null : TenantDomainsRecord.Fold(tenant, null, given);
        var target = args.ContainsKey("other") ? "other." + Name : Name;
        var decision = example.GetProperty("when").GetString() switch
        {
            "ClaimDomain" => DomainDecisions.Claim(record, target, args["kind"], "challenge", int.Parse(args.GetValueOrDefault("max") ?? "20"), Alice, Now),
            "VerifyDomain" => DomainDecisions.Verify(record, target, VerificationMethods.Http, Alice, Now),
            "ReleaseDomain" => DomainDecisions.Release(record, target, null, Alice, Now),
            var unknown => throw new InvalidOperationException(unknown),
        };
        if (example.TryGetProperty("refused", out var refused))
        {
            decision.Refusal.ShouldNotBeNull();
            decision.Refusal.Code.ShouldBe(refused.GetString());
            decision.Events.ShouldBeEmpty();
        }
        else
        {
            decision.Refusal.ShouldBeNull();
            decision.Events.Select(e => e.GetType().Name).ShouldBe(example.GetProperty("then").EnumerateArray().Select(x => x.GetString()!));
        }
    }
}
