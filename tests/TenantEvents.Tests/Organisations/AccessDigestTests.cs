using TenantEvents.Infrastructure.Security;
using TenantEvents.Keys;
using TenantEvents.Organisations;
using TenantEvents.Quotas;

namespace TenantEvents.Tests.Organisations;

/// <summary>
/// The access state's digest is kept up to date row by row (AccessGraph.Mix): after any sequence of events it must equal
/// the digest computed from every row again, equal for a copy, and differ when anything that confers power differs.
/// </summary>
public class AccessDigestTests
{
    private static readonly Actor Alice = new("alice", "user");
    private static readonly DateTimeOffset Now = new(2026, 11, 28, 9, 0, 0, TimeSpan.Zero);

    private static AccessHasher Hasher(byte fill = 7) => new(new DataKey(Guid.CreateVersion7(), 1, Enumerable.Repeat(fill, 32).ToArray()));

    [Fact]
    public void the_running_digest_equals_the_digest_of_every_row_after_every_kind_of_change()
    {
        var hasher = Hasher();
        var g = AccessGraph.Keyed(hasher);
        Guid root = Guid.CreateVersion7(), a = Guid.CreateVersion7(), b = Guid.CreateVersion7(), c = Guid.CreateVersion7(), grant = Guid.CreateVersion7();
        object[] events =
        [
            new RoleDefined("admin", "Administers", ["org.manage", "org.read"], Alice, Now),
            new OrganisationCreated(root, null, "Root", "agency", null, Alice, Now),
            new OrganisationCreated(a, root, "A", "unit", "US-TX", Alice, Now),
            new OrganisationCreated(b, root, "B", "unit", null, Alice, Now),
            new OrganisationCreated(c, a, "C", "team", null, Alice, Now),
            new RoleGranted(a, grant, Principal.OfUser("olga"), "admin", Alice, Now),
            new RoleGranted(b, Guid.CreateVersion7(), Principal.OfUser("xavier"), "admin", Alice, Now),
            new PolicySet(a, "feature.sharing", Policy.Locked, "false", Alice, Now),
            new PolicySet(a, "feature.sharing", Policy.Override, "true", Alice, Now),
            new MemberAdded(c, "olga", Alice, Now),
            new MemberAdded(c, "olga", Alice, Now),
            new MemberAdded(b, "kim", Alice, Now),
            new QuotaAllocated(a, "licences", 10, 20, Alice, Now),
            new QuotaAllocated(a, "licences", 12, null, Alice, Now),
            new OrganisationAttributesUpdated(b, "division", "US-CA", Alice, Now),
            new OrganisationMoved(c, a, b, Alice, Now),
            new OrganisationRenamed(c, "C prime", Alice, Now),
            new RoleDefined("admin", "Administers", ["org.manage", "org.read", "member.manage"], Alice, Now),
            new RoleDefined("reader", "", ["org.read"], Alice, Now),
        ];
        // What a command's MAC is made of before it commits (DigestAfter, the graph untouched) is what the graph holds after.
        var start = AccessGraph.Keyed(hasher);
        start.DigestAfter(events).ShouldBe(Folded(hasher, events).StateDigest());
        start.StateDigest().ShouldBe(new byte[32]);
        foreach (var e in events)
        {
            var predicted = g.DigestAfter([e]);
            g.Apply(e);
            g.StateDigest().ShouldBe(predicted, e.GetType().Name);
            g.StateDigest().ShouldBe(g.RecomputedDigest(), e.GetType().Name);
        }
        var before = g.StateDigest();
        // An independent graph of the same events holds the same digest.
        var copy = Folded(hasher, events);
        copy.StateDigest().ShouldBe(before);
        copy.RecomputedDigest().ShouldBe(before);

        // Each change that confers or takes power moves the digest; undoing it brings it back.
        foreach (var (change, undo) in new (object, object)[]
        {
            (new GrantRevoked(a, grant, Alice, Now), new RoleGranted(a, grant, Principal.OfUser("olga"), "admin", Alice, Now)),
            (new PolicyCleared(a, "feature.sharing", Alice, Now), new PolicySet(a, "feature.sharing", Policy.Override, "true", Alice, Now)),
            (new MemberRemoved(c, "olga", Alice, Now), new MemberAdded(c, "olga", Alice, Now)),
            (new QuotaAllocationRemoved(a, "licences", Alice, Now), new QuotaAllocated(a, "licences", 12, null, Alice, Now)),
            (new RoleRemoved("reader", Alice, Now), new RoleDefined("reader", "", ["org.read"], Alice, Now)),
        })
        {
            copy.DigestAfter([change, undo]).ShouldBe(before);
            var predicted = copy.DigestAfter([change]);
            copy.Apply(change);
            copy.StateDigest().ShouldBe(predicted);
            copy.StateDigest().ShouldNotBe(before, change.GetType().Name);
            copy.StateDigest().ShouldBe(copy.RecomputedDigest());
            copy.Apply(undo);
            copy.StateDigest().ShouldBe(before, undo.GetType().Name);
        }
        copy.Apply(new OrganisationClosed(c, null, Alice, Now));
        copy.StateDigest().ShouldNotBe(before);
        copy.StateDigest().ShouldBe(copy.RecomputedDigest());
        // The original was not touched by what happened to its copy.
        g.StateDigest().ShouldBe(before);
    }

    private static AccessGraph Folded(AccessHasher hasher, IEnumerable<object> events)
    {
        var g = AccessGraph.Keyed(hasher);
        foreach (var e in events) g.Apply(e);
        return g;
    }

    [Fact]
    public void the_same_rows_under_another_tenants_key_give_another_digest_and_a_graph_without_a_key_keeps_none()
    {
        AccessGraph Build(AccessHasher? h)
        {
            var g = h is null ? new AccessGraph() : AccessGraph.Keyed(h);
            var root = new Guid("01a24000-0000-7000-8000-000000000001");
            g.Apply(new OrganisationCreated(root, null, "Root", "agency", null, Alice, Now));
            g.Apply(new RoleGranted(root, new Guid("01a24000-0000-7000-8000-000000000002"), Principal.OfUser("olga"), "admin", Alice, Now));
            return g;
        }
        Build(Hasher(7)).StateDigest().ShouldNotBe(Build(Hasher(8)).StateDigest());
        Build(Hasher(7)).StateDigest().ShouldBe(Build(Hasher(7)).StateDigest());
        Should.Throw<InvalidOperationException>(() => Build(null).StateDigest());
        Build(Hasher(7)).RecomputedDigest().ShouldBe(Build(Hasher(7)).StateDigest());
    }
}
