using JasperFx;
using JasperFx.Events;
using Marten;
using Wolverine.Marten.Publishing;
using Wolverine.Runtime;
using TenantEvents.Infrastructure;

namespace TenantEvents.Tenants;

/// <summary>What became of a command against a tenant stream.</summary>
public abstract record Outcome;

public sealed record Applied(Tenant Tenant, IReadOnlyList<object> Events) : Outcome;

public sealed record Refused(Decision Decision, Tenant Tenant) : Outcome;

public sealed record StreamNotFound : Outcome;

public sealed record VersionMismatch(long Expected, long Actual) : Outcome;

public sealed record LostRace(bool HadExpectedVersion, long? Expected) : Outcome;

/// <summary>
/// The edge around the pure decisions: load the tenant stream (in that tenant's own partition), check the caller's
/// expected version, decide, append, commit, all in one transaction together with the inline read model and
/// Wolverine's outbox. Nothing is appended unless the decision accepts.
/// </summary>
public sealed class TenantStreams(OutboxedSessionFactory sessions, Clock clock)
{
    public DateTimeOffset Now => clock.UtcNow;

    /// <summary>
    /// A session for exactly this tenant, enlisted in the context's outbox. A message that arrived for one tenant can
    /// never open another's stream: Wolverine would hand it the envelope's tenant, so that is refused outright.
    /// </summary>
    public IDocumentSession OpenSession(MessageContext context, Guid tenantId)
    {
        var wanted = tenantId.ToString();
        var bound = context.Envelope?.TenantId ?? context.TenantId;
        if (bound is not null && bound != wanted)
            throw new InvalidOperationException($"Work bound to tenant {bound} may not open tenant {wanted}'s stream.");
        context.TenantId = wanted;
        return sessions.OpenSession(context);
    }

    public async Task<Outcome> Execute(MessageContext context, Guid tenantId, long? expectedVersion,
        Func<Tenant, DateTimeOffset, Decision> decide, CancellationToken cancellation,
        Func<Tenant, IReadOnlyList<object>, IDocumentSession, MessageContext, Task>? alongside = null)
    {
        await using var session = OpenSession(context, tenantId);
        // One connection and one transaction from the read to the commit: fewer round trips than a connection per step.
        await session.BeginTransactionAsync(cancellation);
        var stream = await session.Events.FetchForWriting<Tenant>(tenantId, cancellation);
        if (stream.Aggregate is not { } tenant) return new StreamNotFound();
        if (expectedVersion is { } expected && expected != stream.CurrentVersion)
            return new VersionMismatch(expected, stream.CurrentVersion ?? 0);

        var decision = decide(tenant, Now);
        if (decision is not Accepted accepted) return new Refused(decision, tenant);
        if (accepted.Events.Count == 0) return new Applied(tenant, []);

        // Fold onto a private copy: the loaded aggregate may be shared through Marten's identity map.
        var after = Fold(tenant, accepted.Events);
        var versionBefore = stream.CurrentVersion ?? 0;
        stream.AppendMany(accepted.Events);
        if (alongside is not null) await alongside(after, accepted.Events, session, context);
        try
        {
            await session.SaveChangesAsync(cancellation);
        }
        catch (Exception e) when (Failures.IsConcurrency(e))
        {
            return new LostRace(expectedVersion is not null, expectedVersion);
        }
        after.Version = (int)versionBefore + accepted.Events.Count;
        return new Applied(after, accepted.Events);
    }

    /// <summary>Replays events onto a fresh copy of the tenant, so a response shows the state the write produced.</summary>
    public static Tenant Fold(Tenant current, IEnumerable<object> events)
    {
        var copy = System.Text.Json.JsonSerializer.Deserialize<Tenant>(
            System.Text.Json.JsonSerializer.Serialize(current, Json.Options), Json.Options)!;
        foreach (var e in events) Apply(copy, e);
        return copy;
    }

    public static Tenant Apply(Tenant? tenant, object e)
    {
        if (e is TenantRequested requested) return Tenant.Create(requested);
        ArgumentNullException.ThrowIfNull(tenant);
        switch (e)
        {
            case TenantApproved x: tenant.Apply(x); break;
            case TenantRejected x: tenant.Apply(x); break;
            case TenantProvisioned x: tenant.Apply(x); break;
            case TenantSuspended x: tenant.Apply(x); break;
            case TenantReactivated x: tenant.Apply(x); break;
            case TenantRenamed x: tenant.Apply(x); break;
            case TenantSettingsUpdated x: tenant.Apply(x); break;
            case TenantDecommissionRequested x: tenant.Apply(x); break;
            case TenantDecommissionScheduled x: tenant.Apply(x); break;
            case TenantDecommissionCancelled x: tenant.Apply(x); break;
            case TenantDecommissioned x: tenant.Apply(x); break;
            case LegalHoldPlaced x: tenant.Apply(x); break;
            case LegalHoldLifted x: tenant.Apply(x); break;
            default: throw new ArgumentException($"{e.GetType().Name} is not a tenant event.");
        }
        return tenant;
    }
}
