using Marten;
using Microsoft.AspNetCore.Authorization;
using TenantEvents.Keys;
using Wolverine;
using Wolverine.Http;
using Wolverine.Runtime;
using TenantEvents.Infrastructure.Security;

namespace TenantEvents.Tenants;

// Decommissioning: request (one person) -> approve (another) -> scheduled no earlier than the audit retention allows
// -> completed by a durable scheduled message when due, unless a legal hold binds the data. Cancel returns the tenant
// to suspended.

public sealed record RequestDecommission(string? Reason);

public sealed record CancelDecommission(string? Reason);

/// <summary>The scheduled completion: sent through Wolverine's durable outbox at approval, for the not-before time.</summary>
public sealed record CompleteDueDecommission(Guid TenantId);

/// <summary>
/// Crypto-shredding, sent through the durable outbox in the same transaction as TenantDecommissioned: the tenant's
/// keys are destroyed once that commit is certain, and retried until done.
/// </summary>
public sealed record ShredTenantKeys(Guid TenantId);

public static class RequestDecommissionEndpoint
{
    /// <summary>A platform administrator, or the tenant's own administrator for its own tenant.</summary>
    [WolverinePost("/api/tenants/{tenantId}/decommission", OperationId = "RequestDecommission")]
    [Authorize(Roles = $"{Roles.PlatformAdmin},{Roles.TenantAdmin}")]
    public static Task<IResult> Post(Guid tenantId, RequestDecommission? command, HttpContext http, TenantStreams streams,
        MessageContext context, CancellationToken cancellation) =>
        TenantHttp.Command(http, streams, context, tenantId, "request decommission",
            TenantHttp.Check(e => TenantRules.Reason("reason", command?.Reason, e)),
            (by, tenant, now) => TenantDecisions.RequestDecommission(tenant, command!.Reason!.Trim(), by, now), cancellation);
}

public static class ApproveDecommissionEndpoint
{
    [WolverinePost("/api/tenants/{tenantId}/decommission/approve", OperationId = "ApproveDecommission")]
    [Authorize(Roles = Roles.PlatformApprover)]
    public static Task<IResult> Post(Guid tenantId, HttpContext http, TenantStreams streams, MessageContext context,
        CancellationToken cancellation) =>
        TenantHttp.Command(http, streams, context, tenantId, "approve decommission", TenantHttp.NoErrors,
            (by, tenant, now) => TenantDecisions.ApproveDecommission(tenant, by, now), cancellation,
            alongside: (tenant, _, _, outbox) => ScheduleCompletion(outbox, tenant));

    /// <summary>Enlisted in the same transaction as the events: the schedule exists if and only if the approval does.</summary>
    public static async Task ScheduleCompletion(IMessageBus outbox, Tenant tenant)
    {
        if (tenant is { State: TenantState.DecommissionScheduled, DecommissionNotBefore: { } notBefore })
            await outbox.ScheduleAsync(new CompleteDueDecommission(tenant.Id), notBefore, new DeliveryOptions { TenantId = tenant.Id.ToString() });
    }
}

public static class CancelDecommissionEndpoint
{
    [WolverinePost("/api/tenants/{tenantId}/decommission/cancel", OperationId = "CancelDecommission")]
    [Authorize(Roles = $"{Roles.PlatformAdmin},{Roles.PlatformApprover}")]
    public static Task<IResult> Post(Guid tenantId, CancelDecommission? command, HttpContext http, TenantStreams streams,
        MessageContext context, CancellationToken cancellation) =>
        TenantHttp.Command(http, streams, context, tenantId, "cancel decommission",
            TenantHttp.Check(e => TenantRules.Reason("reason", command?.Reason, e)),
            (by, tenant, now) => TenantDecisions.CancelDecommission(tenant, command!.Reason!.Trim(), by, now), cancellation);
}

public static class CompleteDecommissionEndpoint
{
    /// <summary>
    /// Completes a due decommission now (the scheduled message does the same by itself when the time comes). Export
    /// the tenant first (GET /api/tenants/{id}/export): afterwards its data cannot be read by anyone.
    /// </summary>
    [WolverinePost("/api/tenants/{tenantId}/decommission/complete", OperationId = "CompleteDecommission")]
    [Authorize(Roles = Roles.PlatformAdmin)]
    public static Task<IResult> Post(Guid tenantId, HttpContext http, TenantStreams streams, MessageContext context,
        CancellationToken cancellation) =>
        TenantHttp.Command(http, streams, context, tenantId, "complete decommission", TenantHttp.NoErrors,
            (by, tenant, now) => TenantDecisions.CompleteDecommission(tenant, by, now), cancellation, alongside: Shred);

    /// <summary>
    /// With TenantDecommissioned: the read model keeps only its clear fields (the tenant existed, and ended), and the
    /// keys are destroyed through the outbox once this transaction commits.
    /// </summary>
    public static async Task Shred(Tenant after, IReadOnlyList<object> events, TenantTransaction tx, MessageContext outbox)
    {
        if (!events.OfType<TenantDecommissioned>().Any()) return;
        var session = tx.Session;
        session.Store(TenantRecord.Of(after, sealedTenant: null));
        // Its organisation read models go with it (row-level security binds these deletes to this tenant's rows);
        // its events stay, sealed under keys about to be destroyed.
        var schema = session.DocumentStore.Options.DatabaseSchemaName;
        // Quota counters, allocations, alerts and reservations (whose purpose is free text) go too; the daily usage
        // history stays: counts per day only, which billing may still need. Its case files, their shares, its agreements
        // and the collaborations it convened go (partners lose sight of them at once).
        foreach (var table in new[] { "org_grants", "org_policies", "org_members", "org_nodes", "tenant_roles", "access_versions", "scim_resources", "scim_versions" }
                     .Concat(TenantEvents.Quotas.QuotaSchema.TenantState).Concat(TenantEvents.Sharing.SharingSchema.TenantState)
                     .Concat(TenantEvents.Delivery.DeliverySchema.TenantState).Concat(TenantEvents.Analytics.AnalyticsSchema.TenantState))
            session.QueueSqlCommand($"delete from {schema}.{table} where tenant_id = ?", after.Id.ToString());
        // So do its service accounts and identity provider: nobody signs in to a tenant that no longer exists.
        session.DeleteWhere<TenantEvents.Identity.ServiceAccountRecord>(_ => true);
        session.Delete<TenantEvents.Identity.IdentityProviderRecord>(after.Id);
        session.Delete<TenantEvents.Domains.TenantDomainsRecord>(after.Id);
        session.Delete<TenantEvents.Manifests.TenantManifestRecord>(after.Id);
        await outbox.PublishAsync(new ShredTenantKeys(after.Id), new DeliveryOptions { TenantId = after.Id.ToString() });
    }
}

public static class ShredTenantKeysHandler
{
    public static async Task Handle(ShredTenantKeys message, TenantKeyRing keys, TenantEvents.Identity.CredentialRevocations revocations,
        TenantEvents.Identity.FederationRegistry federation, TenantEvents.Domains.DomainIndex domains, ILogger<ShredTenantKeys> logger,
        CancellationToken cancellation)
    {
        // Its names resolve to nobody from now on, and are free for another tenant.
        await domains.ForgetTenantAsync(message.TenantId, cancellation);
        // Every token of its service accounts dies now, and its identity provider's issuer is free for another tenant.
        await revocations.ForgetTenantAsync(message.TenantId, cancellation);
        await federation.InvalidateAsync(message.TenantId, cancellation);
        await keys.ShredAsync(message.TenantId, cancellation);
        logger.LogInformation("Tenant {TenantId} crypto-shredded: its keys are destroyed", message.TenantId);
    }
}

public static class CompleteDueDecommissionHandler
{
    /// <summary>
    /// Runs when the schedule comes due. If a legal hold binds the data it does nothing: lifting the last hold schedules
    /// the completion again. If the clock is behind the retention window it reschedules itself for the right time.
    /// </summary>
    public static async Task Handle(CompleteDueDecommission message, TenantStreams streams, MessageContext context,
        ILogger<CompleteDueDecommission> logger, CancellationToken cancellation)
    {
        var outcome = await streams.Execute(context, message.TenantId, null,
            (tenant, now) => TenantDecisions.CompleteDecommission(tenant, Actor.System, now), cancellation,
            alongside: CompleteDecommissionEndpoint.Shred);
        switch (outcome)
        {
            case Applied:
                logger.LogInformation("Tenant {TenantId} decommissioned on schedule", message.TenantId);
                break;
            case Refused { Decision: Blocked { Code: "retention-window", NotBefore: { } notBefore } }:
                await context.ScheduleAsync(message, notBefore, new DeliveryOptions { TenantId = message.TenantId.ToString() });
                break;
            case Refused refused:
                logger.LogInformation("Scheduled decommission of tenant {TenantId} did not complete: {Decision}", message.TenantId, refused.Decision);
                break;
            case LostRace:
                throw new InvalidOperationException($"Concurrent write on tenant {message.TenantId}; Wolverine retries the scheduled completion.");
            case StreamNotFound or TenantShredded:
                logger.LogWarning("Scheduled decommission of tenant {TenantId} found no such tenant", message.TenantId);
                break;
        }
    }
}
