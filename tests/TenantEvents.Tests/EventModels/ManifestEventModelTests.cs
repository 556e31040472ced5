using System.Text.Json;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Manifests;
using TenantEvents.Organisations;
using TenantEvents.Tenants;

namespace TenantEvents.Tests.EventModels;

/// <summary>Keeps eventmodels/manifests.json true to the code: events, routes, and the examples against the pure plan.</summary>
public class ManifestEventModelTests
{
    private static readonly JsonElement Model = EventModelFile.Load("manifests.json");
    private static readonly DateTimeOffset Now = new(2026, 11, 28, 9, 0, 0, TimeSpan.Zero);
    private static readonly Actor Alice = new("alice", "user");

    [Fact]
    public void every_event_in_the_model_is_in_the_code_and_the_reverse() =>
        EventModelFile.Events(Model).ShouldBe(EventModelFile.Names(ManifestEventTypes.All));

    [Fact]
    public void every_route_in_the_model_is_served_and_every_manifest_route_is_modelled() =>
        EventModelFile.ModelledRoutes(Model).ShouldBe(EventModelFile.ServedRoutes(typeof(ManifestEventTypes)));

    public static IEnumerable<object[]> Examples() =>
        Model.GetProperty("examples").EnumerateArray().Select(e => new object[] { e.GetProperty("name").GetString()! });

    [Theory]
    [MemberData(nameof(Examples))]
    public void the_examples_hold(string name)
    {
        var example = Model.GetProperty("examples").EnumerateArray().Single(e => e.GetProperty("name").GetString() == name);
        var args = example.GetProperty("args").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!);
        var tenant = Guid.CreateVersion7();
        var (root, patrol) = (Guid.CreateVersion7(), Guid.CreateVersion7());
        var graph = new AccessGraph();
        graph.Apply(new OrganisationCreated(root, null, "Sheriff", "agency", null, Alice, Now));
        graph.Apply(new RoleDefined("reader", "Reads", ["org.read"], Alice, Now));
        TenantManifestRecord? record = null;
        foreach (var given in example.GetProperty("given").EnumerateArray().Select(g => g.GetString()))
            switch (given)
            {
                case "Patrol": graph.Apply(new OrganisationCreated(patrol, root, "Patrol", "department", null, Alice, Now)); break;
                case nameof(ManifestApplied):
                    record = TenantManifestRecord.Fold(tenant, null, [new ManifestApplied("sheriff", "sha256:0", "sha256:1", 1,
                        new Dictionary<string, IReadOnlyList<string>> { ["organisation"] = [patrol.ToString()] }, new Dictionary<string, IReadOnlyList<string>>(), Alice, Now)]);
                    break;
                default: throw new InvalidOperationException(given);
            }
        var organisations = new List<ManifestOrganisation> { new("/Sheriff", "agency", null) };
        organisations.AddRange(args["names"].Split(',', StringSplitOptions.RemoveEmptyEntries).Select(n => new ManifestOrganisation("/Sheriff/" + n, "department", null)));
        var manifest = new TenantManifest(TenantManifest.Version, TenantManifest.TenantKind, new ManifestMetadata("sheriff", null), new TenantSpec(
            "Sheriff", "law-enforcement", new ManifestResidency("US", null), null, null, organisations, null,
            args.TryGetValue("grant", out var role) ? [new ManifestGrant("/Sheriff/Patrol", new ManifestPrincipal("group", "deputies"), role)] : null,
            null, null, null, null, args.TryGetValue("management", out var mode) ? new Dictionary<string, string> { ["organisations"] = mode } : null));
        var live = new LiveTenant(tenant, new Tenant { Id = tenant, Name = "Sheriff", Slug = "sheriff", Template = "law-enforcement", Residency = new ResidencyZone("US") },
            graph, new Dictionary<Guid, string>(), [], [], null, [], 0, record);
        var standing = new Standing(true, true, [], Alice);
        var plan = ManifestDecisions.Plan(manifest, live, standing, platformAdmin: true, allowDelete: args.ContainsKey("allowDelete"), new TenantEvents.Infrastructure.TenantEventsOptions(), Now);
        if (example.TryGetProperty("refused", out var refused))
        {
            plan.Refusal.ShouldNotBeNull();
            plan.Refusal.Code.ShouldBe(refused.GetString());
        }
        else
        {
            plan.Refusal.ShouldBeNull(plan.Refusal?.Detail);
            plan.OrgEvents.Select(e => e.GetType().Name).ShouldBe(example.GetProperty("then").EnumerateArray().Select(x => x.GetString()!));
        }
    }
}
