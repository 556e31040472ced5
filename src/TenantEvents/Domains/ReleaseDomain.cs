using Microsoft.AspNetCore.Authorization;
using TenantEvents.Identity;
using TenantEvents.Infrastructure;
using TenantEvents.Organisations;
using Wolverine.Http;
using Wolverine.Runtime;

namespace TenantEvents.Domains;

/// <summary>
/// The tenant gives a name up (identity.manage at the root): out of the index first, so from that moment it resolves to
/// nobody and tokens issued under it are refused; then DomainReleased in the trail. Another tenant may claim it after.
/// </summary>
public static class ReleaseDomainEndpoint
{
    [WolverineDelete("/api/tenants/{tenantId}/domains/{domain}", OperationId = "ReleaseDomain")]
    [Authorize(Roles = OrgHttp.WriteRoles)]
    public static async Task<IResult> Delete(Guid tenantId, string domain, HttpContext http, ServiceAccountStore access, DomainIndex index,
        MessageContext context, CancellationToken cancellation)
    {
        var (standing, refusal) = await access.EnterAsync(http, tenantId, writing: true, null, cancellation);
        if (refusal is not null) return refusal;
        var streams = access.Streams;
        var record = await DomainWrites.LoadAsync(streams, tenantId, cancellation);
        if (DomainWrites.RouteName(domain) is not { } name || record?.Find(name) is null) return Problem.NotFound("domain").ToResult();
        var reason = http.Request.Query["reason"].ToString() is { Length: > 0 and <= 500 } given ? given : null;
        var entry = record!.Find(name)!;
        await index.UnbindAsync(name, tenantId, cancellation);
        var released = false;
        try
        {
            var (_, problem) = await DomainWrites.ExecuteAsync(streams, context, tenantId, record,
                r => DomainDecisions.Release(r, name, reason, standing!.Actor, streams.Now), cancellation);
            released = problem is null;
            return problem?.ToResult() ?? Results.NoContent();
        }
        finally
        {
            // Not released after all (a concurrent change, a failure): the name serves the tenant again, if still free.
            if (!released && entry.State == DomainEntry.Verified) await index.BindAsync(name, tenantId, entry.Kind, CancellationToken.None);
        }
    }
}
