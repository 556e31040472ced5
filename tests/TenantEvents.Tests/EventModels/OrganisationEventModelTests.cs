using System.Reflection;
using System.Text.Json;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Organisations;
using TenantEvents.Tests.Support;
using Wolverine.Http;

namespace TenantEvents.Tests.EventModels;

/// <summary>Keeps eventmodels/organisations.json true to the code: events, routes and every example.</summary>
public class OrganisationEventModelTests
{
    private static readonly JsonElement Model = JsonDocument.Parse(
        File.ReadAllText(Path.Combine(TestDatabase.RepositoryRoot(), "eventmodels", "organisations.json"))).RootElement;

    private static readonly Actor Alice = new("alice", "user");
    private static readonly DateTimeOffset Now = new(2026, 11, 28, 9, 0, 0, TimeSpan.Zero);

    [Fact]
    public void every_event_in_the_model_is_in_the_code_and_the_reverse()
    {
        Model.GetProperty("events").EnumerateArray().Select(e => e.GetString()!).Order()
            .ShouldBe(OrganisationEventTypes.All.Select(t => t.Name).Order());
    }

    [Fact]
    public void every_route_in_the_model_is_served_and_every_organisation_route_is_modelled()
    {
        var modelled = Model.GetProperty("commands").EnumerateArray().Select(c => c.GetProperty("http").GetString()!)
            .Where(r => !r.EndsWith("/provision", StringComparison.Ordinal))
            .Concat(Model.GetProperty("readModels").EnumerateArray().SelectMany(r => r.GetProperty("queries").EnumerateArray().Select(q => q.GetString()!)))
            .Select(r => r.Contains(' ') ? r : "GET " + r).Order().ToList();
        var served = typeof(AccessGraph).Assembly.GetTypes().Where(t => t.Namespace == typeof(AccessGraph).Namespace)
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.Static))
            .SelectMany(m => m.GetCustomAttributes<WolverineHttpMethodAttribute>())
            .Select(a => $"{a.HttpMethod} {a.Template}").Order().ToList();
        modelled.ShouldBe(served);
    }

    public static IEnumerable<object[]> Examples() =>
        Model.GetProperty("examples").EnumerateArray().Select(e => new object[] { e.GetProperty("name").GetString()! });

    [Theory]
    [MemberData(nameof(Examples))]
    public void the_examples_hold(string name)
    {
        var example = Model.GetProperty("examples").EnumerateArray().Single(e => e.GetProperty("name").GetString() == name);
        var args = example.GetProperty("args").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!);
        var (graph, orgs) = Tree();
        Guid Org(string key) => orgs.TryGetValue(args[key], out var id) ? id : Guid.NewGuid();
        Principal Who() => new(args["principal"].Split(':')[0], args["principal"].Split(':')[1]);
        var decision = example.GetProperty("when").GetString() switch
        {
            "CreateOrganisation" => OrganisationDecisions.Create(graph, Guid.NewGuid(), Org("parent"), "New", "unit", null, Alice, Now),
            "MoveOrganisation" => OrganisationDecisions.Move(graph, Org("org"), Org("parent"), Alice, Now),
            "CloseOrganisation" => OrganisationDecisions.Close(graph, Org("org"), args.GetValueOrDefault("subtree") == "true", null, Alice, Now),
            "GrantRole" => OrganisationDecisions.GrantRole(graph, Org("org"), Who(), args["role"], Guid.NewGuid(), Alice, Now),
            "RemoveRole" => OrganisationDecisions.RemoveRole(graph, args["role"], Alice, Now),
            "MoveMember" => OrganisationDecisions.MoveMember(graph, args["user"], Org("from"), Org("to"), Alice, Now),
            "SetPolicy" => OrganisationDecisions.SetPolicy(graph, Org("org"), args["key"], args["mode"], JsonDocument.Parse(args["value"]).RootElement, Alice, Now),
            var other => throw new InvalidOperationException($"No such command in the model's examples: {other}"),
        };
        if (example.TryGetProperty("refused", out var refused))
            decision.Refusal.ShouldNotBeNull(name).Type.ShouldBe("urn:tenantevents:problem:" + refused.GetString());
        else
        {
            decision.Refusal.ShouldBeNull(decision.Refusal?.Detail);
            decision.Events.Select(e => e.GetType().Name).ShouldBe(example.GetProperty("then").EnumerateArray().Select(t => t.GetString()!));
        }
    }

    /// <summary>The tree the model's examples name.</summary>
    private static (AccessGraph, Dictionary<string, Guid>) Tree()
    {
        var g = new AccessGraph();
        var ids = new Dictionary<string, Guid>();
        g.Apply(new RoleDefined("admin", "", ["org.manage", "member.manage"], Alice, Now));
        g.Apply(new RoleDefined("reader", "", ["case.read", "org.read"], Alice, Now));
        foreach (var (name, parent) in new[] { ("root", null), ("state", "root"), ("county-x", "state"), ("unit-x1", "county-x"), ("county-y", "state") })
        {
            ids[name] = Guid.CreateVersion7();
            g.Apply(new OrganisationCreated(ids[name], parent is null ? null : ids[parent], name, "unit", null, Alice, Now));
        }
        g.Apply(new RoleGranted(ids["county-x"], Guid.NewGuid(), Principal.OfUser("carol"), "reader", Alice, Now));
        g.Apply(new PolicySet(ids["state"], "setting.retention-days", "locked", "365", Alice, Now));
        g.Apply(new PolicySet(ids["state"], "feature.case-files", "locked", "true", Alice, Now));
        g.Apply(new MemberAdded(ids["county-x"], "dana", Alice, Now));
        return (g, ids);
    }
}
