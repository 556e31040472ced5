using Microsoft.AspNetCore.Authorization;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Tenants;
using Wolverine.Http;

namespace TenantEvents.Compliance;

public sealed record RegisterIncident(string? Title, string? Description, string? Category, DateTimeOffset? AwareAt, IReadOnlyList<Guid>? AffectedTenants);
public sealed record AssessIncident(bool? Significant, string? Severity, string? Reasons, bool SuspectedMalicious, bool CrossBorder, bool PersonalDataBreach);
public sealed record SubmitIncidentReport(string? Stage, string? Summary, string? Authority, string? Reference, DateTimeOffset? SubmittedAt);
public sealed record CloseIncident(string? Resolution);

/// <summary>
/// A tenant's incidents (NIS2 Art. 23): registered, assessed, reported at each stage, closed; the compliance job raises
/// reminders, missed deadlines and escalations. Every route needs compliance.read or .manage; another tenant sees 404.
/// </summary>
public static class IncidentEndpoints
{
    private const string Path = "/api/tenants/{tenantId}/incidents";

    [WolverinePost(Path, OperationId = "RegisterIncident")]
    [Authorize(Roles = ComplianceHttp.Roles)]
    public static async Task<IResult> Post(Guid tenantId, RegisterIncident? command, HttpContext http, ComplianceStore store, TenantEventsOptions options,
        CancellationToken cancellation)
    {
        if (await ComplianceHttp.EnterAsync(http, tenantId, write: true, cancellation) is { } refusal) return refusal;
        if (command is null) return Problem.Malformed("The body must be a JSON object: {\"title\", \"description\", \"category\", \"awareAt\"}.").ToResult();
        if (command.AffectedTenants is { Count: > 0 })
            return Problem.Validation("affectedTenants", "platform-only", "a tenant's incident is its own; platform incidents name the tenants they touch.").ToResult();
        return await ComplianceEdge.CreateAsync(http, store, RecordKind<Incident>.Incident, tenantId,
            (options.MaxOpenIncidents, nameof(TenantEventsOptions.MaxOpenIncidents), "too-many-open-incidents"),
            (_, _, by, now) =>
            {
                var (registered, errors) = IncidentDecisions.Register(Guid.CreateVersion7(), "tenant", command.Title, command.Description, command.Category,
                    command.AwareAt, [], by, now);
                return (registered, errors);
            }, cancellation);
    }

    [WolverineGet(Path, OperationId = "ListIncidents")]
    [Authorize(Roles = ComplianceHttp.Roles)]
    public static Task<IResult> List(Guid tenantId, HttpContext http, ComplianceStore store, TenantEventsOptions options, CancellationToken cancellation) =>
        ComplianceEdge.ListAsync(http, store, options, RecordKind<Incident>.Incident, tenantId, cancellation);

    [WolverineGet(Path + "/{incidentId}", OperationId = "GetIncident")]
    [Authorize(Roles = ComplianceHttp.Roles)]
    public static async Task<IResult> Get(Guid tenantId, Guid incidentId, HttpContext http, ComplianceStore store, CancellationToken cancellation)
    {
        if (await ComplianceHttp.EnterAsync(http, tenantId, write: false, cancellation) is { } refusal) return refusal;
        await using var tx = await store.Streams.BeginAsync(null, tenantId, cancellation);
        var incident = await store.LoadIncidentAsync(tx, incidentId, cancellation);
        return incident is null ? Problem.NotFound("incident").ToResult() : ComplianceHttp.Respond(http, incident);
    }

    /// <summary>Assesses significance (NIS2 Art. 23(3)); a significant incident starts the deadlines of the rules that apply.</summary>
    [WolverinePost(Path + "/{incidentId}/assess", OperationId = "AssessIncident")]
    [Authorize(Roles = ComplianceHttp.Roles)]
    public static Task<IResult> Assess(Guid tenantId, Guid incidentId, AssessIncident? command, HttpContext http, ComplianceStore store,
        CancellationToken cancellation) =>
        ComplianceEdge.RunAsync(http, store, RecordKind<Incident>.Incident, tenantId, incidentId, s => command is null
            ? (null, Problem.Malformed("The body must be a JSON object: {\"significant\", \"severity\", \"reasons\", ...}."))
            : IncidentDecisions.Assess(s.Record, s.Rules, command.Significant, command.Severity, command.Reasons, command.SuspectedMalicious,
                command.CrossBorder, command.PersonalDataBreach, s.Actor, s.Now), cancellation);

    /// <summary>Records a report submitted to the authority at a stage (early-warning, notification, intermediate, final-report, ...).</summary>
    [WolverinePost(Path + "/{incidentId}/reports", OperationId = "SubmitIncidentReport")]
    [Authorize(Roles = ComplianceHttp.Roles)]
    public static Task<IResult> Report(Guid tenantId, Guid incidentId, SubmitIncidentReport? command, HttpContext http, ComplianceStore store,
        CancellationToken cancellation) =>
        ComplianceEdge.RunAsync(http, store, RecordKind<Incident>.Incident, tenantId, incidentId, s => IncidentDecisions.Report(s.Record, s.Rules, command?.Stage, command?.Summary, command?.Authority,
            command?.Reference, s.Actor, s.Now, command?.SubmittedAt), cancellation);

    [WolverinePost(Path + "/{incidentId}/close", OperationId = "CloseIncident")]
    [Authorize(Roles = ComplianceHttp.Roles)]
    public static Task<IResult> Close(Guid tenantId, Guid incidentId, CloseIncident? command, HttpContext http, ComplianceStore store,
        CancellationToken cancellation) =>
        ComplianceEdge.RunAsync(http, store, RecordKind<Incident>.Incident, tenantId, incidentId, s => IncidentDecisions.Close(s.Record, command?.Resolution, s.Actor, s.Now), cancellation);

    /// <summary>The report document of a stage, as submitted (or as a draft from what is known): format=json (default) or pdf.</summary>
    [WolverineGet(Path + "/{incidentId}/reports/{stage}", OperationId = "GetIncidentReport")]
    [Authorize(Roles = ComplianceHttp.Roles)]
    public static async Task<IResult> Document(Guid tenantId, Guid incidentId, string stage, HttpContext http, ComplianceStore store,
        CancellationToken cancellation)
    {
        if (await ComplianceHttp.EnterAsync(http, tenantId, write: false, cancellation) is { } refusal) return refusal;
        var format = http.Request.Query["format"].ToString() is { Length: > 0 } f ? f : "json";
        if (format is not ("json" or "pdf")) return Problem.Validation("format", "unknown-format", "json or pdf.").ToResult();
        if (!IncidentStages.All.Contains(stage)) return Problem.Validation("stage", "unknown-stage", $"one of {string.Join(", ", IncidentStages.All)}.").ToResult();
        var (tenant, _) = await ComplianceHttp.TenantAsync(store.Streams, tenantId, cancellation);
        if (tenant is null) return Problem.NotFound("tenant").ToResult();
        await using var tx = await store.Streams.BeginAsync(null, tenantId, cancellation);
        var incident = await store.LoadIncidentAsync(tx, incidentId, cancellation);
        if (incident is null) return Problem.NotFound("incident").ToResult();
        var report = IncidentReports.Build(incident, stage, tenant.Name, store.Now);
        return format == "pdf"
            ? Results.File(IncidentReports.Pdf(report), "application/pdf", $"incident-{incident.Id}-{stage}.pdf")
            : Results.Json(report, Json.Options);
    }
}
