using Marten;
using Npgsql;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Databases;

namespace TenantEvents.Tenants;

/// <summary>
/// One write of one tenant, the only way any capability appends a tenant's events: a Marten session for exactly that
/// tenant (enlisted in the request's outbox when there is one), its connection bound to the tenant by row-level security,
/// one transaction from the first read to the commit. Events go in sealed under the tenant's current data key and bound
/// to their stream (<see cref="AppendAsync"/>); read-model rows written through <see cref="Command"/> commit with them.
/// Opened by <see cref="TenantStreams.BeginAsync"/>. Two writers of tenant data stay apart, on purpose: quota counters
/// (Quotas/QuotaUsageStore.InTenantAsync: no events, the metering hot path) and cross-tenant access trails
/// (Audit/CrossTenantAccess.AppendAsync: two tenants' trails in one transaction). A tenant's first event is started by
/// <see cref="TenantStreams.StartAsync"/> (its keys are made, not looked up).
/// </summary>
public sealed class TenantTransaction(TenantStreams streams, IDocumentSession session, NpgsqlConnection? connection, Guid tenant) : IAsyncDisposable
{
    public IDocumentSession Session { get; } = session;

    /// <summary>
    /// The transaction's connection (open; statements on it run inside the session's transaction). A write opened with
    /// <c>begin: false</c> has none: it connects only when it commits.
    /// </summary>
    public NpgsqlConnection Connection =>
        connection ?? throw new InvalidOperationException("This write was opened without a transaction (begin: false): it reads nothing and connects at its commit.");

    public Guid Tenant { get; } = tenant;

    public DateTimeOffset Now => streams.Now;

    public NpgsqlCommand Command(string sql, params object?[] values) => Sql.Command(Connection, null, sql, values);

    public async Task<int> ExecuteAsync(string sql, CancellationToken cancellation, params object?[] values)
    {
        await using var command = Command(sql, values);
        return await command.ExecuteNonQueryAsync(cancellation);
    }

    /// <summary>Serialises this tenant's writers of one kind (an advisory lock held until the transaction ends).</summary>
    public Task LockAsync(string kind, CancellationToken cancellation) =>
        ExecuteAsync("select pg_advisory_xact_lock(hashtextextended($1, 0))", cancellation, $"tenantevents:{kind}:{Tenant}");

    /// <summary>
    /// Appends events to one of the tenant's streams, sealed and bound to that stream. <paramref name="versionAfter"/>:
    /// the stream's version once they are in, checked at the commit (a concurrent writer makes it fail); null appends
    /// wherever the stream is. <paramref name="start"/> starts a new stream.
    /// </summary>
    public async Task AppendAsync(Guid stream, IReadOnlyList<object> events, CancellationToken cancellation, long? versionAfter = null,
        bool start = false)
    {
        var sealedEvents = await streams.SealAsync(Tenant, events, cancellation, stream: stream);
        if (start) Session.Events.StartStream(stream, sealedEvents);
        else if (versionAfter is { } version) Session.Events.Append(stream, version, sealedEvents);
        else Session.Events.Append(stream, sealedEvents);
    }

    /// <summary>Commits everything: events, documents, rows and outgoing messages.</summary>
    public Task CommitAsync(CancellationToken cancellation) => Session.SaveChangesAsync(cancellation);

    /// <summary>Commits; false (nothing written) when a concurrent writer got there first (a stream's expected version, a unique key).</summary>
    public async Task<bool> TryCommitAsync(CancellationToken cancellation)
    {
        try
        {
            await Session.SaveChangesAsync(cancellation);
            return true;
        }
        catch (Exception e) when (Failures.IsConcurrency(e))
        {
            return false;
        }
    }

    public ValueTask DisposeAsync() => Session.DisposeAsync();
}
