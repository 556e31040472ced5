using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Databases;
using TenantEvents.Tenants;

namespace TenantEvents.Compliance;

/// <summary>
/// The compliance schedule, on every instance (each record is locked when it is changed, and a step is decided from the
/// record itself, so two instances never raise one reminder twice): every <see cref="TenantEventsOptions.ComplianceJobInterval"/>
/// it finds the deadlines due in every database (compliance_deadlines, written with the records: a restart loses none)
/// and lets each record's pure tick decide: a request overdue; an incident's reminder, missed deadline and escalation; a
/// data key older than the tenant's baseline allows.
/// </summary>
public sealed class ComplianceJobs(TenantDatabases databases, ComplianceStore store, PlatformIncidents platform, Clock clock, TenantEventsOptions options,
    ILogger<ComplianceJobs> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(options.ComplianceJobInterval, stoppingToken);
                await RunOnceAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                logger.LogWarning(e, "The compliance job failed; it runs again at the next interval");
            }
        }
    }

    // The first sweep an interval after start: rows are written with their records, the sweep only repairs.
    private DateTimeOffset _lastSweep = clock.UtcNow;

    /// <summary>
    /// One round: the events raised, per record. Every <see cref="TenantEventsOptions.ComplianceSweepInterval"/> (or when
    /// asked) the round is a sweep: every record is ticked and its deadline rows written again from its sealed snapshot, so
    /// a row deleted or moved with the service role's password delays a reminder by at most that long.
    /// </summary>
    public async Task<int> RunOnceAsync(CancellationToken cancellation, bool sweep = false)
    {
        var now = clock.UtcNow;
        if (now - _lastSweep >= options.ComplianceSweepInterval) sweep = true;
        if (sweep) _lastSweep = now;
        var raised = 0;
        foreach (var (tenant, record, kind) in await DueAsync(now, sweep, cancellation))
        {
            try
            {
                raised += await TickAsync(tenant, record, kind, now, sweep, cancellation);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning(e, "Compliance deadline of {Kind} {Record} in tenant {Tenant} not handled this round; the others go on", kind, record, tenant);
            }
        }
        try
        {
            raised += await platform.TickAllAsync(now, cancellation, sweep);
            await platform.NotifyRecentAsync(now, cancellation);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogWarning(e, "Platform incidents not ticked this round");
        }
        return raised;
    }

    private async Task<int> TickAsync(Guid tenant, Guid record, string kind, DateTimeOffset now, bool repair, CancellationToken cancellation)
    {
        await using var tx = await store.Streams.BeginAsync(null, tenant, cancellation);
        if (kind == "baseline") return await KeyRotationAsync(tx, now, cancellation);
        int count;
        if (kind == "request")
        {
            if (await store.LoadRequestAsync(tx, record, cancellation, forUpdate: true) is not { } request)
                return Missing(tenant, record, kind);
            var events = RequestDecisions.Tick(request, now);
            if (events.Count > 0) await store.SaveRequestAsync(tx, request, events, cancellation);
            else if (repair) await store.WriteDeadlinesAsync(tx, record, kind, request.OpenDeadlines(), cancellation);
            else return 0;
            count = events.Count;
        }
        else
        {
            if (await store.LoadIncidentAsync(tx, record, cancellation, forUpdate: true) is not { } incident)
                return Missing(tenant, record, kind);
            var events = IncidentDecisions.Tick(incident, now);
            if (events.Count > 0) await store.SaveIncidentAsync(tx, incident, events, cancellation);
            else if (repair) await store.WriteDeadlinesAsync(tx, record, kind, incident.OpenDeadlines(), cancellation);
            else return 0;
            count = events.Count;
        }
        if (await tx.TryCommitAsync(cancellation)) return count;
        logger.LogWarning("Compliance deadline of {Kind} {Record} in tenant {Tenant} lost a race; the next round tries again", kind, record, tenant);
        return 0;
    }

    private int Missing(Guid tenant, Guid record, string kind)
    {
        logger.LogWarning("Compliance deadline names {Kind} {Record} in tenant {Tenant}, which has no record: the row is stale or was tampered with", kind, record, tenant);
        return 0;
    }

    /// <summary>
    /// The data key's rotation under the baseline: overdue once per due date (a rotation since moves the date on), and the
    /// deadline set again to the next date to look at.
    /// </summary>
    private async Task<int> KeyRotationAsync(TenantTransaction tx, DateTimeOffset now, CancellationToken cancellation)
    {
        await tx.LockAsync("compliance-profile", cancellation);
        var (tenant, _) = await ComplianceHttp.TenantAsync(store.Streams, tx.Tenant, cancellation);
        var profile = await store.LoadProfileAsync(tx.Session, tx.Tenant, cancellation);
        if (tenant is null || SecurityBaselineEndpoints.KeyRotationDue(tenant, profile.Baseline) is not { } due)
        {
            await store.ScheduleKeyRotationAsync(tx, null, cancellation);
            await tx.TryCommitAsync(cancellation);
            return 0;
        }
        var raised = 0;
        if (now >= due && profile.KeyRotationOverdue?.DueAt != due)
        {
            await store.AppendProfileAsync(tx, profile, [new KeyRotationOverdue(due.AddDays(-profile.Baseline.KeyRotationDays!.Value), due,
                profile.Baseline.KeyRotationDays.Value, now)], cancellation);
            raised = 1;
        }
        // Looked at again when due (a rotation moves it), or a day on while it stays overdue (in case the key is rotated).
        await store.ScheduleKeyRotationAsync(tx, now >= due ? now.AddDays(1) : due, cancellation);
        return await tx.TryCommitAsync(cancellation) ? raised : 0;
    }

    private async Task<List<(Guid Tenant, Guid Record, string Kind)>> DueAsync(DateTimeOffset now, bool sweep, CancellationToken cancellation)
    {
        var due = new List<(Guid, Guid, string)>();
        foreach (var database in databases.All)
        {
            // A database out of reach costs its own tenants this round, not everyone's.
            try
            {
                if (database.Platform.Value is not { } source) continue;
                await using var command = source.CreateCommand($"""
                    select tenant_id, record_id, kind from {options.DatabaseSchema}.compliance_deadlines where least(due_at, coalesce(remind_at, due_at)) <= $1
                    {(sweep ? $"union select tenant_id, id, kind from {options.DatabaseSchema}.compliance_records" : "")}
                    """);
                command.Parameters.Add(new Npgsql.NpgsqlParameter { Value = now });
                await using var reader = await command.ExecuteReaderAsync(cancellation);
                while (await reader.ReadAsync(cancellation))
                    if (Guid.TryParse(reader.GetString(0), out var tenant)) due.Add((tenant, reader.GetGuid(1), reader.GetString(2)));
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning(e, "Compliance deadlines of database {Database} not read this round", database.Entry.Id);
            }
        }
        return due;
    }
}
