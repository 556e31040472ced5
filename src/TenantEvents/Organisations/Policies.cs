using System.Text.Json;
using Microsoft.AspNetCore.Authorization;
using TenantEvents.Infrastructure;
using TenantEvents.Tenants;
using Wolverine.Http;
using Wolverine.Runtime;

namespace TenantEvents.Organisations;

public sealed record SetPolicy(string? Mode, JsonElement? Value);

public sealed record PolicyView(string Key, JsonElement Value, string Mode, bool Locked, Guid SetAt, bool Inherited);

/// <summary>
/// Guardrails: settings and features set at an organisation (override, or locked for every descendant); the most
/// restrictive ancestor wins and a feature denied above cannot be allowed below. Needs org.manage where it is set.
/// </summary>
public static class PolicyEndpoints
{
    [WolverinePut("/api/tenants/{tenantId}/organisations/{orgId}/policies/{key}", OperationId = "SetPolicy")]
    [Authorize(Roles = OrgHttp.WriteRoles)]
    public static Task<IResult> Put(Guid tenantId, Guid orgId, string key, SetPolicy? command, HttpContext http, TenantStreams streams,
        OrganisationStore store, MessageContext context, CancellationToken cancellation)
    {
        if (command is null) return Task.FromResult(Problem.Malformed("The body must be a JSON object: {mode, value}.").ToResult());
        return OrgHttp.Command(http, streams, store, context, tenantId, (standing, graph) =>
                OrgCommands.SetPolicy(standing, graph, orgId, key, command.Mode, command.Value, streams.Now),
            _ => Effective(http, streams, store, tenantId, orgId, cancellation), cancellation, versioned: orgId);
    }

    [WolverineDelete("/api/tenants/{tenantId}/organisations/{orgId}/policies/{key}", OperationId = "ClearPolicy")]
    [Authorize(Roles = OrgHttp.WriteRoles)]
    public static Task<IResult> Delete(Guid tenantId, Guid orgId, string key, HttpContext http, TenantStreams streams, OrganisationStore store,
        MessageContext context, CancellationToken cancellation) =>
        OrgHttp.Command(http, streams, store, context, tenantId, (standing, graph) =>
                OrgCommands.ClearPolicy(standing, graph, orgId, key, streams.Now),
            _ => Effective(http, streams, store, tenantId, orgId, cancellation), cancellation, versioned: orgId);

    /// <summary>The guardrails in force at the organisation, each with where it was set and whether a lock binds it.</summary>
    [WolverineGet("/api/tenants/{tenantId}/organisations/{orgId}/policies", OperationId = "EffectivePolicies")]
    [Authorize(Roles = OrgHttp.Roles)]
    public static Task<IResult> Get(Guid tenantId, Guid orgId, HttpContext http, TenantStreams streams, OrganisationStore store,
        CancellationToken cancellation) =>
        Effective(http, streams, store, tenantId, orgId, cancellation);

    private static Task<IResult> Effective(HttpContext http, TenantStreams streams, OrganisationStore store, Guid tenantId, Guid orgId,
        CancellationToken cancellation) =>
        OrgHttp.Read(http, streams, store, tenantId, (standing, g) =>
            g.Find(orgId) is null || !standing.CanSee(g, orgId) ? Problem.NotFound("organisation").ToResult()
            : Results.Json(new
            {
                items = g.EffectivePolicies(orgId).Values.OrderBy(p => p.Key, StringComparer.Ordinal)
                    .Select(p => new PolicyView(p.Key, JsonDocument.Parse(p.Value).RootElement.Clone(), p.Mode, p.Locked, p.SetAt, p.SetAt != orgId)).ToList(),
            }, Json.Options), cancellation);
}
