using Npgsql;
using TenantEvents.Infrastructure;

namespace TenantEvents.Tests.Infrastructure;

public class FailuresTests
{
    [Fact]
    public void an_unreachable_database_is_a_503_to_retry_not_a_bug()
    {
        var unreachable = new NpgsqlException("Failed to connect to 127.0.0.1:1", new System.Net.Sockets.SocketException(111));
        unreachable.IsTransient.ShouldBeTrue();
        var problem = Failures.ToProblem(unreachable, "trace");
        problem.Status.ShouldBe(503);
        problem.Code.ShouldBe("database-unavailable");
        Failures.ToProblem(new InvalidOperationException("wrapped", unreachable), "trace").Status.ShouldBe(503);
    }

    [Fact]
    public void anything_unforeseen_is_a_500_naming_the_trace()
    {
        var problem = Failures.ToProblem(new InvalidOperationException("boom"), "abc123");
        problem.Status.ShouldBe(500);
        problem.Detail!.ShouldContain("abc123");
        Failures.ToProblem(new System.Text.Json.JsonException("bad"), "t").Status.ShouldBe(400);
    }

    [Fact]
    public void a_tenant_whose_keys_are_destroyed_is_gone_not_a_bug()
    {
        // E.g. a database restored from before the tenant was shredded: its records are back, its keys are not.
        var problem = Failures.ToProblem(new TenantEvents.Keys.KeyDestroyedException(Guid.NewGuid(), 1), "trace");
        problem.Status.ShouldBe(410);
        problem.Code.ShouldBe("tenant-decommissioned");
    }
}
