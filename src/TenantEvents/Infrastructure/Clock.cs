namespace TenantEvents.Infrastructure;

/// <summary>
/// The time decisions are made at. Kept apart from the TimeProvider that token validation and the web server use,
/// so that tests can move the business clock (years ahead, to the end of a retention window) without expiring tokens.
/// </summary>
public sealed class Clock(TimeProvider time)
{
    public DateTimeOffset UtcNow => time.GetUtcNow();
}
