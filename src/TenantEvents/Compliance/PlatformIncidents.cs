using System.Text.Json;
using Microsoft.AspNetCore.Authorization;
using Npgsql;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Databases;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Keys;
using TenantEvents.Tenants;
using Wolverine.Http;

namespace TenantEvents.Compliance;

/// <summary>
/// The platform's own incidents (an outage, a breach of the platform itself): kept in the main database (the platform
/// has no tenant key), their events appended to platform_incident_events (the service role may insert them, never change
/// them), their deadlines set by the rules of the platform's jurisdiction (TenantEvents:PlatformJurisdiction). Every step
/// fans out as a notice to each tenant the incident touches, in that tenant's own compliance stream (its audit trail,
/// webhooks and event stream carry it).
/// </summary>
public sealed class PlatformIncidents(TenantStreams streams, ComplianceStore store, TenantEventsOptions options, ILogger<PlatformIncidents> logger)
{
    private string Schema => options.DatabaseSchema;

    /// <summary>Up to this many touched tenants are told within the step's request; more are told by the compliance job.</summary>
    public const int InlineNotices = 50;
    private NpgsqlDataSource Main => streams.Directory.Main;

    public IReadOnlyList<AppliedRule> Rules()
    {
        var code = options.PlatformJurisdiction;
        if (string.IsNullOrEmpty(code)) return [];
        var zone = code.Contains('-', StringComparison.Ordinal) ? new ResidencyZone(code[..code.IndexOf('-', StringComparison.Ordinal)], code) : new ResidencyZone(code);
        return Jurisdictions.Catalogue.For(zone, null);
    }

    private static readonly IReadOnlyDictionary<string, Type> EventTypes =
        ComplianceEventTypes.Incidents.ToDictionary(TenantEventTypes.StoredName, t => t, StringComparer.Ordinal);

    /// <summary>
    /// The incident as its events say (the snapshot row serves lists only: the service role may rewrite it, never an event):
    /// folded from version 1 on, without a gap, to the version the row names.
    /// </summary>
    public async Task<Incident?> LoadAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, Guid id, bool forUpdate, CancellationToken cancellation)
    {
        long version;
        await using (var row = Sql.Command(connection, transaction, $"select version from {Schema}.platform_incidents where id = $1{(forUpdate ? " for update" : "")}", id))
        {
            if (await row.ExecuteScalarAsync(cancellation) is not long v) return null;
            version = v;
        }
        var events = await EventsAsync(connection, transaction, id, cancellation);
        if (events.Count == 0 || events.Count != version) throw new IntegrityViolationException(Guid.Empty, id, "platform_incident");
        var incident = events.Aggregate((Incident?)null, (i, e) => Incident.Apply(i, e.Event))!;
        incident.Version = version;
        return incident;
    }

    /// <summary>An incident's events in order, from version 1 without a gap (anything else was tampered with).</summary>
    private async Task<List<(long Version, object Event)>> EventsAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, Guid id,
        CancellationToken cancellation)
    {
        var events = new List<(long, object)>();
        await using var read = Sql.Command(connection, transaction,
            $"select version, type, data::text from {Schema}.platform_incident_events where incident_id = $1 order by version", id);
        await using var reader = await read.ExecuteReaderAsync(cancellation);
        while (await reader.ReadAsync(cancellation))
        {
            if (reader.GetInt64(0) != events.Count + 1 || !EventTypes.TryGetValue(reader.GetString(1), out var type))
                throw new IntegrityViolationException(Guid.Empty, id, "platform_incident");
            events.Add((reader.GetInt64(0), JsonSerializer.Deserialize(reader.GetString(2), type, SealedJson.Options)!));
        }
        return events;
    }

    public async Task<Incident> SaveAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, Incident? before, IReadOnlyList<object> events,
        CancellationToken cancellation)
    {
        var incident = before;
        foreach (var e in events) incident = Incident.Apply(incident, e);
        var version = before?.Version ?? 0;
        foreach (var e in events)
        {
            version++;
            await using var append = Sql.Command(connection, transaction, $"""
                insert into {Schema}.platform_incident_events (incident_id, version, type, data, at) values ($1, $2, $3, $4::jsonb, $5)
                """, incident!.Id, version, TenantEventTypes.StoredName(e.GetType()), JsonSerializer.Serialize(e, e.GetType(), SealedJson.Options), streams.Now);
            await append.ExecuteNonQueryAsync(cancellation);
        }
        incident!.Version = version;
        await using (var save = Sql.Command(connection, transaction, $"""
                         insert into {Schema}.platform_incidents (id, state, version, snapshot, created_at, updated_at) values ($1, $2, $3, $4::jsonb, $5, $6)
                         on conflict (id) do update set state = excluded.state, version = excluded.version, snapshot = excluded.snapshot, updated_at = excluded.updated_at
                         """, incident.Id, incident.State, incident.Version, JsonSerializer.Serialize(incident, SealedJson.Options), incident.CreatedAt, incident.UpdatedAt))
            await save.ExecuteNonQueryAsync(cancellation);
        await WriteDeadlinesAsync(connection, transaction, incident, cancellation);
        return incident;
    }

    /// <summary>The deadline rows the job watches, re-derived from the incident (at every step, and by the sweep).</summary>
    private async Task WriteDeadlinesAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, Incident incident, CancellationToken cancellation)
    {
        await using (var clear = Sql.Command(connection, transaction, $"delete from {Schema}.platform_deadlines where record_id = $1", incident.Id))
            await clear.ExecuteNonQueryAsync(cancellation);
        foreach (var (name, due, remind) in incident.OpenDeadlines())
        {
            await using var add = Sql.Command(connection, transaction,
                $"insert into {Schema}.platform_deadlines (record_id, name, due_at, remind_at) values ($1, $2, $3, $4)", incident.Id, name, due, (object?)remind ?? DBNull.Value);
            await add.ExecuteNonQueryAsync(cancellation);
        }
    }

    /// <summary>Runs a step on an incident (null: a new one) in one transaction, then tells the tenants it touches.</summary>
    /// <param name="repair">With no events decided, write the incident's deadline rows again (the job's sweep).</param>
    public async Task<(Incident? Incident, Problem? Refusal)> RunAsync(Guid? id, Func<Incident?, (IReadOnlyList<object> Events, Problem? Refusal)> decide,
        long? expected, CancellationToken cancellation, bool repair = false)
    {
        await using var connection = await Main.OpenConnectionAsync(cancellation);
        await using var transaction = await connection.BeginTransactionAsync(cancellation);
        var before = id is { } existing ? await LoadAsync(connection, transaction, existing, forUpdate: true, cancellation) : null;
        if (id is not null && before is null) return (null, Problem.NotFound("incident"));
        if (expected is { } v && before is not null && v != before.Version) return (null, Problem.StaleVersion(v, before.Version));
        var (events, refusal) = decide(before);
        if (refusal is not null) return (null, refusal);
        if (events.Count == 0)
        {
            if (repair && before is not null)
            {
                await WriteDeadlinesAsync(connection, transaction, before, cancellation);
                await transaction.CommitAsync(cancellation);
            }
            return (before, null);
        }
        var after = await SaveAsync(connection, transaction, before, events, cancellation);
        await transaction.CommitAsync(cancellation);
        // A few tenants are told at once; many, by the compliance job's next round (not inside one request).
        if (after.AffectedTenants.Count <= InlineNotices) await NotifyAsync(after, cancellation);
        return (after, null);
    }

    /// <summary>
    /// Tells every tenant the incident touches each step it has not been told yet (its notices carry the step's version):
    /// right after a step, and again by the compliance job, so a tenant missed once (a concurrent write, a restart) is
    /// told later, and never twice. Facts of the step only, never the platform's own free text (a title, description or
    /// report may name other tenants).
    /// </summary>
    public async Task NotifyAsync(Incident incident, CancellationToken cancellation)
    {
        // Every tenant was told up to this version already (on this instance): nothing to do.
        if (_told.TryGetValue(incident.Id, out var done) && done >= incident.Version) return;
        var everyone = true;
        List<(long Version, object Event)> steps;
        await using (var connection = await Main.OpenConnectionAsync(cancellation))
            steps = await EventsAsync(connection, null, incident.Id, cancellation);
        var title = $"Platform {incident.Category} incident";
        foreach (var tenant in incident.AffectedTenants)
        {
            try
            {
                await using var tx = await streams.BeginAsync(null, tenant, cancellation);
                await tx.LockAsync("compliance-profile", cancellation);
                var profile = await store.LoadProfileAsync(tx.Session, tenant, cancellation);
                var told = profile.IncidentNotices.Where(n => n.IncidentId == incident.Id).Select(n => n.Version).DefaultIfEmpty(0).Max();
                var notices = steps.Where(x => x.Version > told).Select(x => Notice(incident, title, x.Version, x.Event)).OfType<object>().ToList();
                if (notices.Count == 0) continue;
                await store.AppendProfileAsync(tx, profile, notices, cancellation);
                await tx.CommitAsync(cancellation);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // A shredded tenant has nobody left to tell; anything else is told at the compliance job's next round.
                if (e is Keys.KeyDestroyedException) continue;
                everyone = false;
                logger.LogWarning(e, "Tenant {Tenant} not told of platform incident {Incident} yet; the compliance job tries again", tenant, incident.Id);
            }
        }
        if (everyone) _told[incident.Id] = incident.Version;
    }

    private readonly System.Collections.Concurrent.ConcurrentDictionary<Guid, long> _told = new();

    private IncidentNoticeReceived? Notice(Incident incident, string title, long version, object e)
    {
        var (stage, summary) = e switch
        {
            IncidentRegistered x => ("registered", $"A {x.Category} incident of the platform, known since {x.AwareAt:O}, touches this tenant."),
            IncidentAssessed x => ("assessed", $"{(x.Significant ? "Significant" : "Not significant")}; severity {x.Severity}."),
            IncidentReportSubmitted x => (x.Stage, $"The platform's {x.Stage} was submitted to the authority."),
            IncidentClosed => ("closed", "The platform closed the incident."),
            _ => (null, null),
        };
        return stage is null ? null : new IncidentNoticeReceived(incident.Id, version, title, stage, summary!, streams.Now);
    }

    /// <summary>The compliance job's catch-up: steps of the last two days not yet told to every tenant they touch.</summary>
    public async Task<int> NotifyRecentAsync(DateTimeOffset now, CancellationToken cancellation)
    {
        var recent = new List<Guid>();
        await using (var command = Main.CreateCommand($"select id from {Schema}.platform_incidents where updated_at >= $1"))
        {
            command.Parameters.Add(new NpgsqlParameter { Value = now.AddDays(-2) });
            await using var reader = await command.ExecuteReaderAsync(cancellation);
            while (await reader.ReadAsync(cancellation)) recent.Add(reader.GetGuid(0));
        }
        foreach (var id in recent)
        {
            try
            {
                await using var connection = await Main.OpenConnectionAsync(cancellation);
                if (await LoadAsync(connection, null, id, forUpdate: false, cancellation) is { } incident) await NotifyAsync(incident, cancellation);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning(e, "Platform incident {Incident}: notices not caught up this round", id);
            }
        }
        return recent.Count;
    }

    /// <summary>The platform's incidents not closed, read from their events (at most 1,000).</summary>
    public async Task<IReadOnlyList<Incident>> OpenAsync(CancellationToken cancellation)
    {
        var ids = new List<Guid>();
        await using (var command = Main.CreateCommand($"select id from {Schema}.platform_incidents where state <> 'closed' order by created_at limit 1000"))
        await using (var reader = await command.ExecuteReaderAsync(cancellation))
            while (await reader.ReadAsync(cancellation)) ids.Add(reader.GetGuid(0));
        var open = new List<Incident>();
        await using var connection = await Main.OpenConnectionAsync(cancellation);
        foreach (var id in ids)
            if (await LoadAsync(connection, null, id, forUpdate: false, cancellation) is { Closed: false } incident) open.Add(incident);
        return open;
    }

    /// <param name="sweep">Every incident ticked and its deadline rows written again from its events (rows deleted or moved come back).</param>
    public async Task<int> TickAllAsync(DateTimeOffset now, CancellationToken cancellation, bool sweep = false)
    {
        var due = new List<Guid>();
        await using (var command = Main.CreateCommand($"""
                         select record_id from {Schema}.platform_deadlines where least(due_at, coalesce(remind_at, due_at)) <= $1
                         {(sweep ? $"union select id from {Schema}.platform_incidents" : "")}
                         """))
        {
            command.Parameters.Add(new NpgsqlParameter { Value = now });
            await using var reader = await command.ExecuteReaderAsync(cancellation);
            while (await reader.ReadAsync(cancellation)) due.Add(reader.GetGuid(0));
        }
        var raised = 0;
        foreach (var id in due)
        {
            try
            {
                var events = 0;
                await RunAsync(id, i =>
                {
                    var tick = IncidentDecisions.Tick(i!, now);
                    events = tick.Count;
                    return (tick, null);
                }, null, cancellation, repair: sweep);
                raised += events;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning(e, "Platform incident {Incident} not ticked this round; the others go on", id);
            }
        }
        return raised;
    }

    public async Task<(IReadOnlyList<Incident> Items, string? Next)> PageAsync(string? state, string? cursor, int limit, CancellationToken cancellation)
    {
        (DateTimeOffset At, Guid Id)? after = cursor is not null && CaseFiles.Cursor.TryParse(cursor, out var at, out var cid) ? (at, cid) : null;
        await using var command = Main.CreateCommand($"""
            select snapshot, created_at, id from {Schema}.platform_incidents where ($1::text is null or state = $1)
              and ($2::timestamptz is null or (created_at, id) < ($2, $3)) order by created_at desc, id desc limit $4
            """);
        command.Parameters.Add(new NpgsqlParameter { Value = (object?)state ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
        command.Parameters.Add(new NpgsqlParameter { Value = (object?)after?.At ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.TimestampTz });
        command.Parameters.Add(new NpgsqlParameter { Value = after?.Id ?? Guid.Empty });
        command.Parameters.Add(new NpgsqlParameter { Value = limit + 1 });
        var rows = new List<(Incident, DateTimeOffset, Guid)>();
        await using var reader = await command.ExecuteReaderAsync(cancellation);
        while (await reader.ReadAsync(cancellation))
            rows.Add((JsonSerializer.Deserialize<Incident>(reader.GetString(0), SealedJson.Options)!, reader.GetFieldValue<DateTimeOffset>(1), reader.GetGuid(2)));
        return (rows.Take(limit).Select(r => r.Item1).ToList(), rows.Count > limit ? CaseFiles.Cursor.Format(rows[limit - 1].Item2, rows[limit - 1].Item3) : null);
    }
}

/// <summary>The platform's incidents: platform administrators register and report them; platform staff read them.</summary>
public static class PlatformIncidentEndpoints
{
    private const string Path = "/api/platform/incidents";
    private const string Readers = $"{Roles.PlatformAdmin},{Roles.PlatformApprover},{Roles.Auditor},{Roles.Analyst}";

    [WolverinePost(Path, OperationId = "RegisterPlatformIncident")]
    [Authorize(Roles = Roles.PlatformAdmin)]
    public static async Task<IResult> Post(RegisterIncident? command, HttpContext http, PlatformIncidents incidents, TenantStreams streams,
        CancellationToken cancellation)
    {
        if (command is null) return Problem.Malformed("The body must be a JSON object: {\"title\", \"description\", \"category\", \"awareAt\", \"affectedTenants\"}.").ToResult();
        var affected = command.AffectedTenants?.Distinct().ToList() ?? [];
        if (affected.Count is 0 or > 10_000)
            return Problem.Validation("affectedTenants", "required", "the tenants the incident touches (1 to 10,000 ids): each is notified.").ToResult();
        foreach (var tenant in affected)
        {
            await using var session = streams.Store.QuerySession(tenant.ToString());
            if (await session.LoadAsync<TenantRecord>(tenant, cancellation) is not { Shredded: false })
                return Problem.Validation("affectedTenants", "unknown-tenant", $"{tenant} is not a tenant (or was decommissioned).").ToResult();
        }
        var (registered, errors) = IncidentDecisions.Register(Guid.CreateVersion7(), "platform", command.Title, command.Description, command.Category,
            command.AwareAt, affected, http.Caller().Actor, streams.Now);
        if (registered is null) return Problem.Validation(errors).ToResult();
        var (incident, refusal) = await incidents.RunAsync(null, _ => ([registered], null), null, cancellation);
        if (refusal is not null) return refusal.ToResult();
        http.Response.Headers.Location = $"{Path}/{incident!.Id}";
        return ComplianceHttp.Respond(http, incident, 201);
    }

    [WolverineGet(Path, OperationId = "ListPlatformIncidents")]
    [Authorize(Roles = Readers)]
    public static async Task<IResult> List(HttpContext http, PlatformIncidents incidents, TenantEventsOptions options, CancellationToken cancellation)
    {
        var (limit, cursor, error) = ComplianceHttp.Page(http, options);
        if (error is not null) return error;
        var state = http.Request.Query["state"].ToString() is { Length: > 0 } s ? s : null;
        if (state is not null && state is not ("registered" or "assessed" or "closed"))
            return Problem.Validation("state", "unknown-state", "registered, assessed or closed.").ToResult();
        var (items, next) = await incidents.PageAsync(state, cursor, limit, cancellation);
        return Results.Json(new { items, nextCursor = next }, Json.Options);
    }

    [WolverineGet(Path + "/{incidentId}", OperationId = "GetPlatformIncident")]
    [Authorize(Roles = Readers)]
    public static async Task<IResult> Get(Guid incidentId, HttpContext http, PlatformIncidents incidents, TenantStreams streams, CancellationToken cancellation)
    {
        await using var connection = await streams.Directory.Main.OpenConnectionAsync(cancellation);
        var incident = await incidents.LoadAsync(connection, null, incidentId, forUpdate: false, cancellation);
        return incident is null ? Problem.NotFound("incident").ToResult() : ComplianceHttp.Respond(http, incident);
    }

    [WolverinePost(Path + "/{incidentId}/assess", OperationId = "AssessPlatformIncident")]
    [Authorize(Roles = Roles.PlatformAdmin)]
    public static Task<IResult> Assess(Guid incidentId, AssessIncident? command, HttpContext http, PlatformIncidents incidents, TenantStreams streams,
        CancellationToken cancellation) =>
        Step(http, incidents, incidentId, i => command is null
            ? (null, Problem.Malformed("The body must be a JSON object: {\"significant\", \"severity\", \"reasons\", ...}."))
            : IncidentDecisions.Assess(i, incidents.Rules(), command.Significant, command.Severity, command.Reasons, command.SuspectedMalicious,
                command.CrossBorder, command.PersonalDataBreach, http.Caller().Actor, streams.Now), cancellation);

    [WolverinePost(Path + "/{incidentId}/reports", OperationId = "SubmitPlatformIncidentReport")]
    [Authorize(Roles = Roles.PlatformAdmin)]
    public static Task<IResult> Report(Guid incidentId, SubmitIncidentReport? command, HttpContext http, PlatformIncidents incidents, TenantStreams streams,
        CancellationToken cancellation) =>
        Step(http, incidents, incidentId, i => IncidentDecisions.Report(i, incidents.Rules(), command?.Stage, command?.Summary, command?.Authority,
            command?.Reference, http.Caller().Actor, streams.Now, command?.SubmittedAt), cancellation);

    [WolverinePost(Path + "/{incidentId}/close", OperationId = "ClosePlatformIncident")]
    [Authorize(Roles = Roles.PlatformAdmin)]
    public static Task<IResult> Close(Guid incidentId, CloseIncident? command, HttpContext http, PlatformIncidents incidents, TenantStreams streams,
        CancellationToken cancellation) =>
        Step(http, incidents, incidentId, i => IncidentDecisions.Close(i, command?.Resolution, http.Caller().Actor, streams.Now), cancellation);

    [WolverineGet(Path + "/{incidentId}/reports/{stage}", OperationId = "GetPlatformIncidentReport")]
    [Authorize(Roles = Readers)]
    public static async Task<IResult> Document(Guid incidentId, string stage, HttpContext http, PlatformIncidents incidents, TenantStreams streams,
        CancellationToken cancellation)
    {
        var format = http.Request.Query["format"].ToString() is { Length: > 0 } f ? f : "json";
        if (format is not ("json" or "pdf")) return Problem.Validation("format", "unknown-format", "json or pdf.").ToResult();
        if (!IncidentStages.All.Contains(stage)) return Problem.Validation("stage", "unknown-stage", $"one of {string.Join(", ", IncidentStages.All)}.").ToResult();
        await using var connection = await streams.Directory.Main.OpenConnectionAsync(cancellation);
        var incident = await incidents.LoadAsync(connection, null, incidentId, forUpdate: false, cancellation);
        if (incident is null) return Problem.NotFound("incident").ToResult();
        var report = IncidentReports.Build(incident, stage, "TenantEvents platform operator", streams.Now);
        return format == "pdf" ? Results.File(IncidentReports.Pdf(report), "application/pdf", $"incident-{incident.Id}-{stage}.pdf") : Results.Json(report, Json.Options);
    }

    private static async Task<IResult> Step(HttpContext http, PlatformIncidents incidents, Guid id, Func<Incident, (object? Event, Problem? Refusal)> decide,
        CancellationToken cancellation)
    {
        if (!TenantHttp.TryExpectedVersion(http.Request, out var expected, out var versionError)) return versionError!;
        var (incident, refusal) = await incidents.RunAsync(id, i =>
        {
            var (e, problem) = decide(i!);
            return (e is null ? [] : [e], problem);
        }, expected, cancellation);
        return refusal is not null ? refusal.ToResult() : ComplianceHttp.Respond(http, incident!);
    }
}
