namespace TenantEvents.Tests.Support;

/// <summary>A business clock the tests set and move, forwards or back.</summary>
public sealed class TestClock(DateTimeOffset start) : TimeProvider
{
    private DateTimeOffset _now = start;

    public override DateTimeOffset GetUtcNow() => _now;
    public void SetUtcNow(DateTimeOffset value) => _now = value;
    public void Advance(TimeSpan by) => _now += by;
}
