using System.Reflection;
using System.Text.Json;
using Shouldly;
using Wolverine.Http;
using TenantEvents.Tenants;
using TenantEvents.Tests.Support;
using TenantEvents.Tests.Tenants;

namespace TenantEvents.Tests.EventModels;

/// <summary>Keeps eventmodels/ true to the code: events, routes, states and every given/when/then example.</summary>
public class EventModelTests
{
    private static readonly JsonElement Model = JsonDocument.Parse(
        File.ReadAllText(Path.Combine(TestDatabase.RepositoryRoot(), "eventmodels", "tenant-lifecycle.json"))).RootElement;

    private static IEnumerable<string> Strings(JsonElement array) => array.EnumerateArray().Select(e => e.GetString()!);

    [Fact]
    public void every_event_in_the_model_is_in_the_code_and_the_reverse()
    {
        var modelled = Strings(Model.GetProperty("events")).Order().ToList();
        var coded = TenantEventTypes.All.Select(t => t.Name).Order().ToList();
        modelled.ShouldBe(coded);
        // and every event the Tenant read model folds is one of them
        typeof(Tenant).GetMethods().Where(m => m.Name is "Apply" or "Create")
            .Select(m => m.GetParameters()[0].ParameterType.Name).Order().ShouldBe(coded);
    }

    [Fact]
    public void every_route_in_the_model_is_served_and_every_tenant_route_is_modelled()
    {
        var modelled = Model.GetProperty("commands").EnumerateArray().Select(c => c.GetProperty("http").GetString()!)
            .Concat(Model.GetProperty("readModels").EnumerateArray().SelectMany(r => Strings(r.GetProperty("queries")).Select(q => q)))
            .Select(r => r.StartsWith("GET ", StringComparison.Ordinal) || r.Contains(' ') ? r : "GET " + r)
            .Order().ToList();
        var served = typeof(Tenant).Assembly.GetTypes()
            .Where(t => t.Namespace == typeof(Tenant).Namespace)
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.Static))
            .SelectMany(m => m.GetCustomAttributes<WolverineHttpMethodAttribute>())
            .Select(a => $"{a.HttpMethod} {a.Template}")
            .Order().ToList();
        modelled.ShouldBe(served);
    }

    public static IEnumerable<object[]> Commands() => Model.GetProperty("commands").EnumerateArray()
        .Where(c => c.GetProperty("from").GetArrayLength() > 0)
        .Select(c => new object[] { c.GetProperty("name").GetString()! });

    [Theory]
    [MemberData(nameof(Commands))]
    public void a_command_is_accepted_in_exactly_the_states_the_model_names(string command)
    {
        var spec = Model.GetProperty("commands").EnumerateArray().Single(c => c.GetProperty("name").GetString() == command);
        var from = Strings(spec.GetProperty("from")).ToHashSet();
        var emits = Strings(spec.GetProperty("emits")).ToList();
        foreach (var state in Enum.GetValues<TenantState>())
        {
            var given = TenantScript.StreamFor(state).ToList();
            if (command == "LiftLegalHold") given.Insert(1, "LegalHoldPlaced");
            var tenant = TenantScript.Fold(given);
            var by = command is "ApproveTenant" or "ApproveDecommission" ? TenantScript.Approver : TenantScript.Admin;
            var decision = TenantScript.Run(command, tenant, by, TenantScript.After(given).AddDays(3651));
            var kebab = TenantHttp.Kebab(state);
            if (from.Contains(kebab))
                decision.ShouldBeOfType<Accepted>($"{command} in {kebab}").Events.Select(e => e.GetType().Name).ShouldBe(emits);
            else
                decision.ShouldBeOfType<InvalidTransition>($"{command} in {kebab}").CurrentState.ShouldBe(state);
        }
    }

    public static IEnumerable<object[]> Examples() =>
        Model.GetProperty("examples").EnumerateArray().Select(e => new object[] { e.GetProperty("name").GetString()! });

    [Theory]
    [MemberData(nameof(Examples))]
    public void the_examples_hold(string name)
    {
        var example = Model.GetProperty("examples").EnumerateArray().Single(e => e.GetProperty("name").GetString() == name);
        var given = Strings(example.GetProperty("given")).ToList();
        var tenant = TenantScript.Fold(given);
        var by = example.GetProperty("as").GetString() == "approver" ? TenantScript.Approver : TenantScript.Admin;
        var days = example.TryGetProperty("afterDays", out var d) ? d.GetInt32() : 0;
        var decision = TenantScript.Run(example.GetProperty("when").GetString()!, tenant, by, TenantScript.After(given).AddDays(days));

        if (example.TryGetProperty("refused", out var refused))
        {
            decision.ShouldNotBeOfType<Accepted>();
            TenantScript.Code(decision).ShouldBe(refused.GetString());
            return;
        }
        var events = decision.ShouldBeOfType<Accepted>().Events;
        events.Select(e => e.GetType().Name).ShouldBe(Strings(example.GetProperty("then")));
        if (example.TryGetProperty("state", out var state))
            TenantHttp.Kebab(TenantStreams.Fold(tenant, events).State).ShouldBe(state.GetString());
    }
}
