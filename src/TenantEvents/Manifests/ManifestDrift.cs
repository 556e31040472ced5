using System.Security.Claims;
using Microsoft.AspNetCore.Authorization;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Tenants;
using Wolverine;
using Wolverine.Http;
using Wolverine.Runtime;

namespace TenantEvents.Manifests;

/// <summary>The scheduled drift check of a tenant's manifest, for the plan it was last applied with (a newer apply starts its own).</summary>
public sealed record CheckManifestDrift(Guid TenantId, string Digest);

/// <summary>
/// Drift: the manifest last applied to a tenant, planned again. When the tenant differs (a change by hand, a removal), the
/// tenant's manifest stream gets <see cref="ManifestDrifted"/> (delivered like every event: webhooks, the feed, SSE, the
/// audit trail) with how many changes of each kind; the same drift is reported once. Run on a durable schedule per tenant
/// (TenantEvents:ManifestDriftInterval, started by apply), or now by POST /api/tenants/{id}/manifest/drift.
/// </summary>
public static class ManifestDrift
{
    [WolverinePost("/api/tenants/{tenantId}/manifest/drift", OperationId = "CheckManifestDrift")]
    [Authorize(Roles = PlanManifestEndpoint.Roles)]
    public static async Task<IResult> Post(Guid tenantId, HttpContext http, ManifestService manifests, MessageContext context, CancellationToken cancellation)
    {
        if (await Tenants.TenantHttp.InvisibleAsync(http, tenantId, Organisations.Permissions.OrgRead, cancellation) is { } hidden) return hidden;
        // Checking writes the tenant's drift event: for its administrators (and the platform's), as applying the manifest is.
        if (Organisations.Standing.Of(http.Caller(), tenantId) is not { Everything: true })
            return Problem.Forbidden("Checking a tenant's manifest for drift is for its administrators.").ToResult();
        var (plan, manifest, refusal) = await CheckAsync(http, tenantId, manifests, context, cancellation);
        return refusal is not null ? refusal.ToResult() : ManifestHttp.PlanResult(manifest!, tenantId, plan!);
    }

    public static async Task<(PlannedManifest? Plan, TenantManifest? Manifest, Problem? Refusal)> CheckAsync(HttpContext http, Guid tenantId,
        ManifestService manifests, MessageContext context, CancellationToken cancellation)
    {
        var record = await manifests.LoadRecordAsync(tenantId, cancellation);
        if (record is null || await manifests.DesiredAsync(record, cancellation) is not { } manifest)
            return (null, null, new Problem("no-manifest", 404, "No manifest was applied to this tenant",
                "Drift is measured against the manifest last applied: apply one first."));
        var outcome = await manifests.PlanAsync(http, manifest, allowDelete: false, cancellation, comparing: true);
        if (outcome.Refusal is not null) return (null, manifest, outcome.Refusal);
        var plan = outcome.Plan!;
        // A drift is reported once; back in sync is reported too (Changes 0), so that the same drift coming back is news again.
        if (plan.Count > 0 || record.DriftFingerprint is not null)
            await ReportAsync(manifests, context, tenantId, record, manifest, plan, http.Caller().Actor, cancellation);
        return (plan, manifest, null);
    }

    private static async Task ReportAsync(ManifestService manifests, MessageContext context, Guid tenantId, TenantManifestRecord record,
        TenantManifest manifest, PlannedManifest plan, Actor by, CancellationToken cancellation)
    {
        var changes = plan.Changes.Where(c => c.Withheld is null).ToList();
        var fingerprint = changes.Count == 0 ? null : "sha256:" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(
            System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(changes.Select(c => new { c.Kind, c.Action, c.Target }), Json.Options)));
        if (record.DriftFingerprint == fingerprint) return;
        var drifted = new ManifestDrifted(manifest.Metadata!.Name!, changes.Count,
            changes.GroupBy(c => c.Kind).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal), fingerprint, by, manifests.Streams.Now);
        await using var tx = await manifests.Streams.BeginAsync(context, tenantId, cancellation, begin: false);
        await tx.AppendAsync(ManifestEventTypes.Stream(tenantId), [drifted], cancellation, versionAfter: record.Version + 1);
        tx.Session.Store(TenantManifestRecord.Fold(tenantId, record, [drifted]));
        await tx.TryCommitAsync(cancellation); // lost to a concurrent apply or check: that one's state is the newer
    }

    /// <summary>
    /// Who the scheduled check reads as: the tenant's administrator, through the same GET routes a person would use (a
    /// tenant's webhooks and accounts are its own: no platform role reads them). It only plans and records its own event;
    /// this identity exists in this process only, for this call.
    /// </summary>
    public static ClaimsPrincipal Reader(Guid tenant) => new(new ClaimsIdentity(
        [new Claim(Claims.Subject, "system:manifest-drift"), new Claim(Claims.Role, Roles.TenantAdmin), new Claim(Claims.TenantId, tenant.ToString())],
        "manifest-drift", Claims.Name, Claims.Role));
}

public static class CheckManifestDriftHandler
{
    public static async Task Handle(CheckManifestDrift message, ManifestService manifests, IServiceScopeFactory scopes, MessageContext context,
        TenantEventsOptions options, ILogger<CheckManifestDrift> logger, CancellationToken cancellation)
    {
        var record = await manifests.LoadRecordAsync(message.TenantId, cancellation);
        if (record?.Digest != message.Digest) return; // a newer apply has its own schedule, or the tenant is gone
        await using var scope = scopes.CreateAsyncScope();
        var http = new DefaultHttpContext { RequestServices = scope.ServiceProvider, User = ManifestDrift.Reader(message.TenantId) };
        var (plan, _, refusal) = await ManifestDrift.CheckAsync(http, message.TenantId, manifests, context, cancellation);
        if (refusal is not null)
            // The code only: a refusal's detail may name organisations, which logs must not keep past the tenant's shredding.
            logger.LogInformation("Drift check of tenant {TenantId} could not plan: {Problem}", message.TenantId, refusal.Code);
        else if (plan!.Count > 0)
            logger.LogInformation("Tenant {TenantId} differs from its manifest: {Changes} change(s)", message.TenantId, plan.Count);
        // A tenant that is no longer active (suspended, decommissioned) is checked no more; reactivation does not restart it (apply does).
        if (refusal is { Status: 409 or 410 or 404 }) return;
        await context.ScheduleAsync(message, options.ManifestDriftInterval, new DeliveryOptions { TenantId = message.TenantId.ToString() });
    }
}
