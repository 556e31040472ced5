using TenantEvents.Infrastructure.Security;
using TenantEvents.Organisations;

namespace TenantEvents.Tests.Organisations;

/// <summary>The pure decisions and the permission engine, without a database.</summary>
public class AccessGraphTests
{
    private static readonly Actor Alice = new("alice", "user");
    private static readonly DateTimeOffset Now = new(2026, 11, 28, 9, 0, 0, TimeSpan.Zero);
    private static readonly Principal Carol = Principal.OfUser("carol");

    /// <summary>root -> state -> (county-x -> unit-x1, county-y)</summary>
    private static (AccessGraph Graph, Guid Root, Guid State, Guid CountyX, Guid UnitX1, Guid CountyY) Tree()
    {
        var g = new AccessGraph();
        Guid root = Guid.CreateVersion7(), state = Guid.CreateVersion7(), x = Guid.CreateVersion7(), x1 = Guid.CreateVersion7(), y = Guid.CreateVersion7();
        g.Apply(new RoleDefined("admin", "", ["member.manage", "org.manage", "org.read"], Alice, Now));
        g.Apply(new RoleDefined("reader", "", ["case.read", "org.read"], Alice, Now));
        g.Apply(new OrganisationCreated(root, null, "Root", "agency", null, Alice, Now));
        g.Apply(new OrganisationCreated(state, root, "State", "department", null, Alice, Now));
        g.Apply(new OrganisationCreated(x, state, "County X", "county", "US-TX", Alice, Now));
        g.Apply(new OrganisationCreated(x1, x, "Unit X1", "unit", null, Alice, Now));
        g.Apply(new OrganisationCreated(y, state, "County Y", "county", null, Alice, Now));
        return (g, root, state, x, x1, y);
    }

    private static void Accept(AccessGraph g, OrgDecision d)
    {
        d.Refusal.ShouldBeNull(d.Refusal?.Detail);
        foreach (var e in d.Events) g.Apply(e);
    }

    [Fact]
    public void a_child_org_inherits_its_parents_grants_and_the_explanation_names_where_they_come_from()
    {
        var (g, _, state, x, x1, y) = Tree();
        var grant = Guid.CreateVersion7();
        Accept(g, OrganisationDecisions.GrantRole(g, x, Carol, "reader", grant, Alice, Now));

        var why = g.Explain(new HashSet<Principal> { Carol }, "case.read", x1)!;
        why.Grant.Id.ShouldBe(grant);
        why.GrantedAt.ShouldBe(x);
        why.Inherited.ShouldBeTrue();
        why.Distance.ShouldBe(1);
        g.Explain(new HashSet<Principal> { Carol }, "case.read", x)!.Inherited.ShouldBeFalse();
        // Not upwards, not sideways, not a permission the role lacks.
        g.Check(new HashSet<Principal> { Carol }, "case.read", state).ShouldBeFalse();
        g.Check(new HashSet<Principal> { Carol }, "case.read", y).ShouldBeFalse();
        g.Check(new HashSet<Principal> { Carol }, "org.manage", x1).ShouldBeFalse();
    }

    [Fact]
    public void grants_add_up_and_the_nearest_one_explains()
    {
        var (g, root, _, x, x1, _) = Tree();
        Accept(g, OrganisationDecisions.GrantRole(g, root, Carol, "reader", Guid.CreateVersion7(), Alice, Now));
        var near = Guid.CreateVersion7();
        Accept(g, OrganisationDecisions.GrantRole(g, x, Carol, "admin", near, Alice, Now));
        var carol = new HashSet<Principal> { Carol };
        g.Check(carol, "case.read", x1).ShouldBeTrue();
        g.Check(carol, "org.manage", x1).ShouldBeTrue();
        g.Explain(carol, "org.read", x1)!.Grant.Id.ShouldBe(near);
    }

    [Fact]
    public void a_grant_to_a_group_applies_to_whoever_is_in_the_group()
    {
        var (g, _, _, x, x1, _) = Tree();
        Accept(g, OrganisationDecisions.GrantRole(g, x, Principal.OfGroup("detectives"), "reader", Guid.CreateVersion7(), Alice, Now));
        g.Check(new HashSet<Principal> { Carol }, "case.read", x1).ShouldBeFalse();
        g.Check(new HashSet<Principal> { Carol, Principal.OfGroup("detectives") }, "case.read", x1).ShouldBeTrue();
    }

    [Fact]
    public void an_org_cannot_move_under_itself_or_its_descendants_and_the_root_cannot_move()
    {
        var (g, root, state, x, x1, y) = Tree();
        OrganisationDecisions.Move(g, x, x, Alice, Now).Refusal!.Type.ShouldEndWith("would-create-cycle");
        OrganisationDecisions.Move(g, state, x1, Alice, Now).Refusal!.Type.ShouldEndWith("would-create-cycle");
        OrganisationDecisions.Move(g, root, y, Alice, Now).Refusal!.Type.ShouldEndWith("root-cannot-move");
        OrganisationDecisions.Move(g, x, Guid.NewGuid(), Alice, Now).Refusal!.Status.ShouldBe(404);
        OrganisationDecisions.Move(g, x, state, Alice, Now).Events.ShouldBeEmpty();
    }

    [Fact]
    public void a_moved_subtree_inherits_from_its_new_parent_only()
    {
        var (g, _, _, x, x1, y) = Tree();
        Accept(g, OrganisationDecisions.GrantRole(g, x, Carol, "reader", Guid.CreateVersion7(), Alice, Now));
        var carol = new HashSet<Principal> { Carol };
        var unit = Guid.CreateVersion7();
        Accept(g, OrganisationDecisions.Create(g, unit, x1, "Squad", "unit", null, Alice, Now));
        g.Check(carol, "case.read", unit).ShouldBeTrue();

        Accept(g, OrganisationDecisions.Move(g, x1, y, Alice, Now));
        g.Check(carol, "case.read", x1).ShouldBeFalse();
        g.Check(carol, "case.read", unit).ShouldBeFalse();
        g.Find(unit)!.Depth.ShouldBe(g.Find(y)!.Depth + 2);
        g.SelfAndAncestors(unit).Select(n => n.Id).ShouldContain(y);
    }

    [Fact]
    public void closing_refuses_open_children_unless_the_whole_subtree_closes_children_first()
    {
        var (g, root, state, x, x1, _) = Tree();
        var refused = OrganisationDecisions.Close(g, x, subtree: false, null, Alice, Now).Refusal!;
        refused.Type.ShouldEndWith("has-open-children");
        OrganisationDecisions.Close(g, root, subtree: true, null, Alice, Now).Refusal!.Type.ShouldEndWith("root-cannot-close");

        var closing = OrganisationDecisions.Close(g, state, subtree: true, "reorganised", Alice, Now);
        closing.Events.Cast<OrganisationClosed>().Select(c => c.OrganisationId).Last().ShouldBe(state);
        closing.Events.Count.ShouldBe(4);
        Accept(g, closing);
        g.FindOpen(x1).ShouldBeNull();
        OrganisationDecisions.Create(g, Guid.NewGuid(), x, "Late", "unit", null, Alice, Now).Refusal!.Status.ShouldBe(404);
    }

    [Fact]
    public void bad_input_is_refused_with_the_offending_fields()
    {
        var (g, root, _, x, _, _) = Tree();
        var refused = OrganisationDecisions.Create(g, Guid.NewGuid(), root, "", "Not A Kind", "XX-99", Alice, Now).Refusal!;
        refused.Status.ShouldBe(400);
        refused.Errors!.Select(e => e.Field).ShouldBe(["name", "kind", "jurisdiction"], ignoreOrder: true);
        OrganisationDecisions.Create(g, Guid.NewGuid(), root, new string('x', 201), "unit", null, Alice, Now).Refusal!.Errors!.Single().Code.ShouldBe("too-long");
        OrganisationDecisions.GrantRole(g, x, Carol, "no-such-role", Guid.NewGuid(), Alice, Now).Refusal!.Errors!.Single().Code.ShouldBe("unknown-role");
        OrganisationDecisions.DefineRole(g, "hacker", null, ["root.everything"], Alice, Now).Refusal!.Errors!.Single().Code.ShouldBe("unknown-permission");
        Accept(g, OrganisationDecisions.GrantRole(g, x, Carol, "reader", Guid.NewGuid(), Alice, Now));
        OrganisationDecisions.GrantRole(g, x, Carol, "reader", Guid.NewGuid(), Alice, Now).Refusal!.Type.ShouldEndWith("already-granted");
        OrganisationDecisions.RemoveRole(g, "reader", Alice, Now).Refusal!.Type.ShouldEndWith("role-in-use");
    }

    private static System.Text.Json.JsonElement J(string json) => System.Text.Json.JsonDocument.Parse(json).RootElement;

    [Fact]
    public void a_lock_binds_every_descendant_the_nearest_override_applies_otherwise_and_a_deny_always_wins()
    {
        var (g, root, state, x, x1, y) = Tree();
        Accept(g, OrganisationDecisions.SetPolicy(g, root, "setting.retention-days", "override", J("730"), Alice, Now));
        Accept(g, OrganisationDecisions.SetPolicy(g, x, "setting.retention-days", "override", J("90"), Alice, Now));
        g.EffectivePolicies(x1)["setting.retention-days"].Value.ShouldBe("90");
        g.EffectivePolicies(y)["setting.retention-days"].Value.ShouldBe("730");

        Accept(g, OrganisationDecisions.SetPolicy(g, state, "setting.retention-days", "locked", J("365"), Alice, Now));
        var effective = g.EffectivePolicies(x1)["setting.retention-days"];
        effective.Value.ShouldBe("365");
        effective.SetAt.ShouldBe(state);
        effective.Locked.ShouldBeTrue();
        OrganisationDecisions.SetPolicy(g, x1, "setting.retention-days", "override", J("30"), Alice, Now).Refusal!.Type.ShouldEndWith("locked-by-ancestor");

        Accept(g, OrganisationDecisions.SetPolicy(g, root, "feature.case-files", "locked", J("true"), Alice, Now));
        OrganisationDecisions.SetPolicy(g, x, "feature.case-files", "override", J("false"), Alice, Now).Refusal!.Type.ShouldEndWith("locked-by-ancestor");
        Accept(g, OrganisationDecisions.SetPolicy(g, x, "feature.case-files", "locked", J("false"), Alice, Now));
        g.EffectivePolicies(x1)["feature.case-files"].Value.ShouldBe("false");
        g.EffectivePolicies(y)["feature.case-files"].Value.ShouldBe("true");
        OrganisationDecisions.SetPolicy(g, x1, "feature.case-files", "override", J("true"), Alice, Now).Refusal!.Type.ShouldEndWith("locked-by-ancestor");
        OrganisationDecisions.SetPolicy(g, x1, "feature.case-files", "locked", J("\"yes\""), Alice, Now).Refusal!.Status.ShouldBe(400);
        OrganisationDecisions.SetPolicy(g, x1, "colour", "locked", J("1"), Alice, Now).Refusal!.Status.ShouldBe(400);
    }

    [Fact]
    public void a_chain_a_thousand_levels_deep_inherits_from_the_top_and_moves_in_one_event()
    {
        var (g, root, _, _, _, y) = Tree();
        var chain = new List<Guid>();
        var parent = root;
        for (var i = 0; i < 1000; i++)
        {
            var id = Guid.CreateVersion7();
            Accept(g, OrganisationDecisions.Create(g, id, parent, $"Level {i + 1}", "unit", null, Alice, Now));
            chain.Add(id);
            parent = id;
        }
        Accept(g, OrganisationDecisions.GrantRole(g, root, Carol, "reader", Guid.NewGuid(), Alice, Now));
        var carol = new HashSet<Principal> { Carol };
        g.Explain(carol, "case.read", chain[^1])!.Distance.ShouldBe(1000);
        g.Find(chain[^1])!.Depth.ShouldBe(1000);

        var move = OrganisationDecisions.Move(g, chain[499], y, Alice, Now);
        move.Events.Count.ShouldBe(1);
        Accept(g, move);
        g.Find(chain[^1])!.Depth.ShouldBe(g.Find(y)!.Depth + 501);
        g.Check(carol, "case.read", chain[^1]).ShouldBeTrue();
        OrganisationDecisions.Move(g, chain[0], chain[^1], Alice, Now).Refusal.ShouldBeNull(); // chain[0] is no longer above the bottom
        OrganisationDecisions.Move(g, chain[499], chain[^1], Alice, Now).Refusal!.Type.ShouldEndWith("would-create-cycle");
    }

    [Fact]
    public void the_tree_is_bounded_in_count_and_depth_by_every_decision_that_grows_or_deepens_it()
    {
        var (g, root, state, x, x1, y) = Tree(); // five organisations; unit-x1 at depth 3
        var limits = new OrgLimits(MaxOrganisations: 6, MaxDepth: 4);
        Accept(g, OrganisationDecisions.Create(g, Guid.CreateVersion7(), x1, "Desk", "unit", null, Alice, Now, limits)); // the sixth, at depth 4
        OrganisationDecisions.Create(g, Guid.CreateVersion7(), root, "Seventh", "unit", null, Alice, Now, limits).Refusal!.Type.ShouldEndWith("organisation-limit");
        OrganisationDecisions.CreateMany(g, [(Guid.CreateVersion7(), root, "Seventh", "unit", null)], Alice, Now, limits).Refusal!.Type
            .ShouldEndWith("organisation-limit");

        var roomy = limits with { MaxOrganisations = 100 };
        var desk = g.SelfAndDescendants(x1).Last().Id;
        OrganisationDecisions.Create(g, Guid.CreateVersion7(), desk, "Too deep", "unit", null, Alice, Now, roomy).Refusal!.Type.ShouldEndWith("organisation-too-deep");
        var a = Guid.CreateVersion7();
        OrganisationDecisions.CreateMany(g, [(a, x1, "Fits", "unit", null), (Guid.CreateVersion7(), a, "Does not", "unit", null)], Alice, Now, roomy)
            .Refusal!.Type.ShouldEndWith("organisation-too-deep");
        // County X (depth 2, its subtree two levels deeper) under County Y (depth 2): its desk would sit at 5.
        OrganisationDecisions.Move(g, x, y, Alice, Now, roomy).Refusal!.Type.ShouldEndWith("organisation-too-deep");
        // Up is always fine; across at the same depth too.
        OrganisationDecisions.Move(g, x1, y, Alice, Now, roomy).Refusal.ShouldBeNull();
        OrganisationDecisions.Move(g, x1, state, Alice, Now, roomy).Refusal.ShouldBeNull();
    }
}
