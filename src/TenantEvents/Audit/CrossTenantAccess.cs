using Marten;
using Npgsql;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Tenants;
using Wolverine;
using Wolverine.Runtime;

namespace TenantEvents.Audit;

/// <summary>One access of a resource of <paramref name="OwnerTenant"/>.</summary>
public sealed record AccessRecord(Guid OwnerTenant, string Action, string ResourceType, string ResourceId, string? Purpose);

/// <summary>Records for one tenant's access trail, queued durably by <see cref="CrossTenantAccess.QueueAsync"/>.</summary>
public sealed record RecordCrossTenantAccess(Guid TenantId, IReadOnlyList<CrossTenantAccessRecorded> Records);

public static class RecordCrossTenantAccessHandler
{
    /// <summary>Appends queued records to the tenant's access stream (bound to the envelope's tenant).</summary>
    public static Task Handle(RecordCrossTenantAccess message, CrossTenantAccess access, CancellationToken cancellation) =>
        access.AppendQueuedAsync(message, cancellation);
}

/// <summary>
/// Records a cross-tenant access in both tenants' audit trails: the owner's trail says who, from which tenant, did what
/// to its resource; the accessor's trail says what it accessed of whom. Each record is an event of the tenant's own
/// access stream, sealed under that tenant's key and logged in its Merkle log. Sharing calls this on every read or write
/// of a shared resource, before it answers.
/// </summary>
public sealed class CrossTenantAccess(TenantStreams streams)
{
    public Task RecordAsync(Guid ownerTenant, Guid accessorTenant, Actor by, string action, string resourceType, string resourceId, string? purpose,
        CancellationToken cancellation) =>
        RecordAsync(accessorTenant, by, [new AccessRecord(ownerTenant, action, resourceType, resourceId, purpose)], cancellation);

    /// <summary>
    /// Several accesses by one caller, queued before the caller is answered: one durable message per tenant's trail (the
    /// accessor's and each owner's), persisted together in one transaction of the service's outbox, appended to the
    /// trails right after by <see cref="RecordCrossTenantAccessHandler"/>. Once this returns, the records cannot be lost
    /// (a crash before they are appended leaves them in the outbox, which is replayed at start-up); the trails may show
    /// them a few milliseconds later. The request's work is one small transaction, not one per tenant.
    /// </summary>
    public async Task QueueAsync(MessageContext context, Guid accessorTenant, Actor by, IReadOnlyList<AccessRecord> accesses, CancellationToken cancellation)
    {
        if (accesses.Count == 0) return;
        if (accesses.Any(a => a.OwnerTenant == accessorTenant)) throw new ArgumentException("A cross-tenant access involves two tenants.");
        var now = streams.Now;
        await using var tx = await streams.BeginAsync(context, accessorTenant, cancellation, begin: false);
        await context.PublishAsync(new RecordCrossTenantAccess(accessorTenant, accesses.Select(a =>
                new CrossTenantAccessRecorded(a.OwnerTenant, accessorTenant, "accessor", a.Action, a.ResourceType, a.ResourceId, a.Purpose, by, now)).ToList()),
            new DeliveryOptions { TenantId = accessorTenant.ToString() });
        foreach (var owner in accesses.GroupBy(a => a.OwnerTenant))
            await context.PublishAsync(new RecordCrossTenantAccess(owner.Key, owner.Select(a =>
                    new CrossTenantAccessRecorded(a.OwnerTenant, accessorTenant, "owner", a.Action, a.ResourceType, a.ResourceId, a.Purpose, by, now)).ToList()),
                new DeliveryOptions { TenantId = owner.Key.ToString() });
        await tx.CommitAsync(cancellation);
        await context.FlushOutgoingMessagesAsync();
    }

    public Task AppendQueuedAsync(RecordCrossTenantAccess message, CancellationToken cancellation)
    {
        if (message.Records.Any(r => (r.Side == "owner" ? r.OwnerTenantId : r.AccessorTenantId) != message.TenantId))
            throw new InvalidOperationException("A trail holds only records of its own tenant's side.");
        return AppendAsync([(message.TenantId, message.Records)], cancellation);
    }

    /// <summary>Several accesses by one caller, written before this returns: one transaction per database holding the trails.</summary>
    public async Task RecordAsync(Guid accessorTenant, Actor by, IReadOnlyList<AccessRecord> accesses, CancellationToken cancellation)
    {
        if (accesses.Count == 0) return;
        if (accesses.Any(a => a.OwnerTenant == accessorTenant)) throw new ArgumentException("A cross-tenant access involves two tenants.");
        var now = streams.Now;
        var writes = new List<(Guid Tenant, IReadOnlyList<CrossTenantAccessRecorded> Events)>
        {
            (accessorTenant, accesses.Select(a =>
                new CrossTenantAccessRecorded(a.OwnerTenant, accessorTenant, "accessor", a.Action, a.ResourceType, a.ResourceId, a.Purpose, by, now)).ToList()),
        };
        writes.AddRange(accesses.GroupBy(a => a.OwnerTenant).Select(owner => (owner.Key, (IReadOnlyList<CrossTenantAccessRecorded>)owner.Select(a =>
            new CrossTenantAccessRecorded(a.OwnerTenant, accessorTenant, "owner", a.Action, a.ResourceType, a.ResourceId, a.Purpose, by, now)).ToList())));
        // Tenants of one database are written in one transaction (one commit), each through a session bound to that
        // tenant in turn; tenants elsewhere in transactions of their own databases. Streams are locked in id order, so
        // two such transactions cannot deadlock on each other's streams.
        var byDatabase = new Dictionary<string, List<(Guid Tenant, IReadOnlyList<CrossTenantAccessRecorded> Events)>>();
        foreach (var write in writes.OrderBy(w => w.Tenant))
        {
            var database = (await streams.Databases.ForAsync(write.Tenant, cancellation)).Entry.Id;
            if (!byDatabase.TryGetValue(database, out var list)) byDatabase[database] = list = [];
            list.Add(write);
        }
        await Task.WhenAll(byDatabase.Values.Select(list => AppendAsync(list, cancellation)));
    }

    /// <summary>Appends to the tenants' access streams (all in one database) in one transaction, trying again if it lost a race.</summary>
    private async Task AppendAsync(IReadOnlyList<(Guid Tenant, IReadOnlyList<CrossTenantAccessRecorded> Events)> writes, CancellationToken cancellation)
    {
        var sealedWrites = new List<(Guid Tenant, Guid Stream, IReadOnlyList<object> Events)>();
        foreach (var (tenant, events) in writes)
        {
            var stream = AuditEventTypes.AccessStream(tenant);
            sealedWrites.Add((tenant, stream, await streams.SealAsync(tenant, events, cancellation, stream: stream)));
        }
        var source = (await streams.Databases.ForAsync(writes[0].Tenant, cancellation)).Service;
        for (var attempt = 1; ; attempt++)
        {
            await using var connection = await source.OpenConnectionAsync(cancellation);
            await using var transaction = await connection.BeginTransactionAsync(cancellation);
            try
            {
                foreach (var (tenant, stream, events) in sealedWrites)
                {
                    await TenantEvents.Infrastructure.Databases.Sql.SetTenantAsync(connection, transaction, tenant, cancellation);
                    var options = Marten.Services.SessionOptions.ForTransaction(transaction);
                    options.TenantId = tenant.ToString();
                    await using var session = streams.Store.LightweightSession(options);
                    session.Events.Append(stream, events);
                    await session.SaveChangesAsync(cancellation);
                }
                await transaction.CommitAsync(cancellation);
                return;
            }
            catch (Exception e) when (attempt < 20 && (Failures.IsConcurrency(e) || Retryable(e) || Retryable(e.InnerException)))
            {
                await transaction.RollbackAsync(CancellationToken.None);
            }
        }
    }

    /// <summary>Lost a race for a stream's next version (or a deadlock): the whole transaction is tried again.</summary>
    private static bool Retryable(Exception? e) => e is PostgresException
    {
        SqlState: PostgresErrorCodes.DeadlockDetected or PostgresErrorCodes.SerializationFailure or PostgresErrorCodes.UniqueViolation
            or PostgresErrorCodes.InFailedSqlTransaction,
    };
}
