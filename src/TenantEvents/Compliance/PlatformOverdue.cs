using Microsoft.AspNetCore.Authorization;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Databases;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Keys;
using Wolverine.Http;

namespace TenantEvents.Compliance;

/// <summary>
/// What is late across the estate, for platform staff: data-subject requests past their due date and incident reports
/// past their deadline, in every tenant, oldest first. Metadata only (tenant, record, stage, when it was due); the
/// tenant's compliance routes hold the rest. Escalations also reach platform webhook subscriptions as events.
/// </summary>
public static class PlatformOverdueEndpoint
{
    public const int MaxRecords = 5000;

    public sealed record Late(Guid TenantId, string Kind, Guid Id, string What, DateTimeOffset DueAt);

    [WolverineGet("/api/platform/compliance/overdue", OperationId = "ListOverdueCompliance")]
    [Authorize(Roles = $"{Roles.PlatformAdmin},{Roles.PlatformApprover},{Roles.Auditor},{Roles.Analyst}")]
    public static async Task<IResult> Get(ComplianceStore store, PlatformIncidents platform, TenantDatabases databases, TenantEventsOptions options,
        ILogger<ComplianceStore> logger, CancellationToken cancellation)
    {
        var now = store.Now;
        var late = new List<Late>();
        var read = 0;
        var unread = new List<string>();
        foreach (var database in databases.All)
        {
          try
          {
            if (database.Platform.Value is not { } source) continue;
            await using var command = source.CreateCommand($"""
                select tenant_id, id, kind, version, key_version, nonce, ciphertext from {options.DatabaseSchema}.compliance_records
                where state not in ('fulfilled', 'refused', 'closed') and (kind = 'incident' or due_at <= $1) order by due_at limit $2
                """);
            command.Parameters.Add(new Npgsql.NpgsqlParameter { Value = now });
            command.Parameters.Add(new Npgsql.NpgsqlParameter { Value = MaxRecords });
            await using var reader = await command.ExecuteReaderAsync(cancellation);
            while (await reader.ReadAsync(cancellation) && read++ < MaxRecords)
            {
                if (!Guid.TryParse(reader.GetString(0), out var tenant)) continue;
                var (id, kind, version) = (reader.GetGuid(1), reader.GetString(2), reader.GetInt64(3));
                var payload = new SealedPayload(reader.GetInt32(4), (byte[])reader[5], (byte[])reader[6]);
                try
                {
                    if (kind == "request")
                    {
                        var r = await store.OpenAsync<DataSubjectRequest>(tenant, id, version, payload, cancellation);
                        if (r.Open && r.DueAt <= now) late.Add(new Late(tenant, "data-subject-request", id, $"{r.Kind} request unanswered", r.DueAt));
                    }
                    else
                    {
                        var i = await store.OpenAsync<Incident>(tenant, id, version, payload, cancellation);
                        late.AddRange(i.Deadlines.Where(d => d.MetAt is null && d.DueAt <= now).Select(d => new Late(tenant, "incident", id, d.Stage + " not submitted", d.DueAt)));
                    }
                }
                catch (Exception e) when (e is KeyDestroyedException or IntegrityViolationException)
                {
                    logger.LogWarning(e, "Compliance record {Record} of tenant {Tenant} left out of the overview", id, tenant);
                }
            }
          }
          catch (Npgsql.NpgsqlException e)
          {
              // A database out of reach is named, not a 500 for the whole estate.
              logger.LogWarning(e, "Database {Database} left out of the compliance overview", database.Entry.Id);
              unread.Add(database.Entry.Id);
          }
        }
        // Platform incidents past a deadline, from their events.
        foreach (var incident in await platform.OpenAsync(cancellation))
            late.AddRange(incident.Deadlines.Where(d => d.MetAt is null && d.DueAt <= now)
                .Select(d => new Late(Guid.Empty, "platform-incident", incident.Id, d.Stage + " not submitted", d.DueAt)));
        return Results.Json(new { items = late.OrderBy(l => l.DueAt).ToList(), truncated = read > MaxRecords, unreadDatabases = unread, at = now }, Json.Options);
    }
}
