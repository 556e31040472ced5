using Microsoft.AspNetCore.Authorization;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Tenants;
using Wolverine.Http;

namespace TenantEvents.Compliance;

public sealed record ReceiveDataSubjectRequest(string? Kind, string? Email, string? Name, string? Channel, DateTimeOffset? ReceivedAt);
public sealed record VerifyDataSubject(string? Method);
public sealed record ExtendDataSubjectRequest(string? Reasons, DateTimeOffset? Until);
public sealed record RefuseDataSubjectRequest(string? Reason);
public sealed record CloseDataSubjectRequest(string? Note);

/// <summary>Data-subject requests (GDPR Art. 15-20): received, verified, extended, refused, closed; fulfilled in FulfilRequest.cs.</summary>
public static class DataSubjectRequestEndpoints
{
    private const string Path = "/api/tenants/{tenantId}/data-subject-requests";

    /// <summary>
    /// Records a request from a person (compliance.manage): its kind, their e-mail address (and name), when it was received
    /// (default now). It is due by the period of the tenant's jurisdiction (GET .../compliance says which rule).
    /// </summary>
    [WolverinePost(Path, OperationId = "ReceiveDataSubjectRequest")]
    [Authorize(Roles = ComplianceHttp.Roles)]
    public static async Task<IResult> Post(Guid tenantId, ReceiveDataSubjectRequest? command, HttpContext http, ComplianceStore store,
        TenantEventsOptions options, CancellationToken cancellation)
    {
        if (await ComplianceHttp.EnterAsync(http, tenantId, write: true, cancellation) is { } refusal) return refusal;
        if (command is null) return Problem.Malformed("The body must be a JSON object: {\"kind\", \"email\", \"name\", \"channel\", \"receivedAt\"}.").ToResult();
        return await ComplianceEdge.CreateAsync(http, store, RecordKind<DataSubjectRequest>.Request, tenantId,
            (options.MaxOpenDataSubjectRequests, nameof(TenantEventsOptions.MaxOpenDataSubjectRequests), "too-many-open-requests"),
            (_, rules, by, now) =>
            {
                var (received, errors) = RequestDecisions.Receive(Guid.CreateVersion7(), command.Kind, command.Email, command.Name, command.Channel,
                    command.ReceivedAt, RequestDecisions.Rule(rules, command.Kind ?? "access"), by, now);
                return (received, errors);
            }, cancellation);
    }

    /// <summary>The tenant's requests, newest first (compliance.read); state filters (received, verified, fulfilled, refused, closed).</summary>
    [WolverineGet(Path, OperationId = "ListDataSubjectRequests")]
    [Authorize(Roles = ComplianceHttp.Roles)]
    public static Task<IResult> List(Guid tenantId, HttpContext http, ComplianceStore store, TenantEventsOptions options, CancellationToken cancellation) =>
        ComplianceEdge.ListAsync(http, store, options, RecordKind<DataSubjectRequest>.Request, tenantId, cancellation);

    [WolverineGet(Path + "/{requestId}", OperationId = "GetDataSubjectRequest")]
    [Authorize(Roles = ComplianceHttp.Roles)]
    public static async Task<IResult> Get(Guid tenantId, Guid requestId, HttpContext http, ComplianceStore store, CancellationToken cancellation)
    {
        if (await ComplianceHttp.EnterAsync(http, tenantId, write: false, cancellation) is { } refusal) return refusal;
        await using var tx = await store.Streams.BeginAsync(null, tenantId, cancellation);
        var request = await store.LoadRequestAsync(tx, requestId, cancellation);
        return request is null ? Problem.NotFound("data-subject request").ToResult() : ComplianceHttp.Respond(http, request);
    }

    /// <summary>The requester's identity was confirmed (how, in a few words; never the evidence).</summary>
    [WolverinePost(Path + "/{requestId}/verify", OperationId = "VerifyDataSubject")]
    [Authorize(Roles = ComplianceHttp.Roles)]
    public static Task<IResult> Verify(Guid tenantId, Guid requestId, VerifyDataSubject? command, HttpContext http, ComplianceStore store,
        CancellationToken cancellation) =>
        ComplianceEdge.RunAsync(http, store, RecordKind<DataSubjectRequest>.Request, tenantId, requestId, s => RequestDecisions.Verify(s.Record, command?.Method, s.Actor, s.Now), cancellation);

    /// <summary>Puts the answer off (once, with the reasons given to the person, announced before the first due date; at most as far as the rule allows).</summary>
    [WolverinePost(Path + "/{requestId}/extend", OperationId = "ExtendDataSubjectRequest")]
    [Authorize(Roles = ComplianceHttp.Roles)]
    public static Task<IResult> Extend(Guid tenantId, Guid requestId, ExtendDataSubjectRequest? command, HttpContext http, ComplianceStore store,
        CancellationToken cancellation) =>
        ComplianceEdge.RunAsync(http, store, RecordKind<DataSubjectRequest>.Request, tenantId, requestId, s =>
        {
            var rule = s.Rules.Select(a => a.Rule).FirstOrDefault(r => r.Id == s.Record.RuleId) ?? RequestDecisions.Rule(s.Rules, s.Record.Kind);
            return RequestDecisions.Extend(s.Record, rule, command?.Reasons, command?.Until, s.Actor, s.Now);
        }, cancellation);

    /// <summary>Refuses the request (the reason given to the person: Art. 12(4)).</summary>
    [WolverinePost(Path + "/{requestId}/refuse", OperationId = "RefuseDataSubjectRequest")]
    [Authorize(Roles = ComplianceHttp.Roles)]
    public static Task<IResult> Refuse(Guid tenantId, Guid requestId, RefuseDataSubjectRequest? command, HttpContext http, ComplianceStore store,
        CancellationToken cancellation) =>
        ComplianceEdge.RunAsync(http, store, RecordKind<DataSubjectRequest>.Request, tenantId, requestId, s => RequestDecisions.Refuse(s.Record, command?.Reason, s.Actor, s.Now), cancellation);

    /// <summary>Closes a fulfilled or refused request.</summary>
    [WolverinePost(Path + "/{requestId}/close", OperationId = "CloseDataSubjectRequest")]
    [Authorize(Roles = ComplianceHttp.Roles)]
    public static Task<IResult> Close(Guid tenantId, Guid requestId, CloseDataSubjectRequest? command, HttpContext http, ComplianceStore store,
        CancellationToken cancellation) =>
        ComplianceEdge.RunAsync(http, store, RecordKind<DataSubjectRequest>.Request, tenantId, requestId, s => RequestDecisions.Close(s.Record, command?.Note, s.Actor, s.Now), cancellation);
}
