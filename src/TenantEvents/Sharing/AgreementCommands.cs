using Microsoft.AspNetCore.Authorization;
using TenantEvents.Audit;
using TenantEvents.CaseFiles;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Organisations;
using TenantEvents.Tenants;
using Wolverine.Http;
using Wolverine.Runtime;

namespace TenantEvents.Sharing;

public sealed record AcceptAgreement(IReadOnlyList<Guid>? RecipientOrganisationIds);

public sealed record EndAgreement(string? Reason);

/// <summary>Absent parts stay as they are; anything wider than the agreement is refused (consent-required).</summary>
public sealed record NarrowAgreement(ScopeInput? Scope, IReadOnlyList<string?>? Permissions, DateTimeOffset? ExpiresAt);

public static class AgreementCommandEndpoints
{
    /// <summary>
    /// The recipient's administrator (sharing.manage at its root, or at every organisation it narrows the agreement to)
    /// accepts an offer addressed to its tenant: from now its readers (in those organisations, if named) see the scope.
    /// </summary>
    [WolverinePost("/api/tenants/{tenantId}/sharing/agreements/{agreementId}/accept", OperationId = "AcceptSharingAgreement")]
    [Authorize(Roles = SharingHttp.Roles)]
    public static async Task<IResult> Accept(Guid tenantId, Guid agreementId, AcceptAgreement? command, HttpContext http, SharingStore sharing,
        OrganisationStore store, CrossTenantAccess audit, MessageContext context, CancellationToken cancellation)
    {
        var orgs = command?.RecipientOrganisationIds ?? [];
        if (orgs.Count > 100) return Problem.Validation("recipientOrganisationIds", "too-many", "at most 100.").ToResult();
        return await Run(tenantId, agreementId, http, sharing, store, audit, context, "accept-agreement", orgs, async (a, standing) =>
        {
            if (orgs.Count > 0 && !await store.ReadAsync(tenantId, g => orgs.All(o => g.FindOpen(o) is not null), cancellation))
                return OrgDecision.Refuse(Problem.Validation("recipientOrganisationIds", "unknown-organisation", "each an open organisation of this tenant."));
            return AgreementDecisions.Accept(a, tenantId, orgs, standing.Actor, sharing.Now);
        }, cancellation);
    }

    /// <summary>The recipient declines an offer.</summary>
    [WolverinePost("/api/tenants/{tenantId}/sharing/agreements/{agreementId}/decline", OperationId = "DeclineSharingAgreement")]
    [Authorize(Roles = SharingHttp.Roles)]
    public static Task<IResult> Decline(Guid tenantId, Guid agreementId, EndAgreement? command, HttpContext http, SharingStore sharing,
        OrganisationStore store, CrossTenantAccess audit, MessageContext context, CancellationToken cancellation) =>
        Run(tenantId, agreementId, http, sharing, store, audit, context, "decline-agreement", null,
            (a, standing) => Task.FromResult(AgreementDecisions.Decline(a, tenantId, command?.Reason, standing.Actor, sharing.Now)), cancellation);

    /// <summary>Either party ends an offered or active agreement: nothing of it is visible from now on.</summary>
    [WolverinePost("/api/tenants/{tenantId}/sharing/agreements/{agreementId}/revoke", OperationId = "RevokeSharingAgreement")]
    [Authorize(Roles = SharingHttp.Roles)]
    public static Task<IResult> Revoke(Guid tenantId, Guid agreementId, EndAgreement? command, HttpContext http, SharingStore sharing,
        OrganisationStore store, CrossTenantAccess audit, MessageContext context, CancellationToken cancellation) =>
        Run(tenantId, agreementId, http, sharing, store, audit, context, "revoke-agreement", null,
            (a, standing) => Task.FromResult(AgreementDecisions.Revoke(a, tenantId, command?.Reason, standing.Actor, sharing.Now)), cancellation);

    /// <summary>
    /// The owner shares less: a scope within the current one, fewer permissions, an earlier end; applied at once. Wider
    /// is refused (409 consent-required) and nothing changes: the owner offers a new agreement instead.
    /// </summary>
    [WolverinePatch("/api/tenants/{tenantId}/sharing/agreements/{agreementId}", OperationId = "NarrowSharingAgreement")]
    [Authorize(Roles = SharingHttp.Roles)]
    public static Task<IResult> Narrow(Guid tenantId, Guid agreementId, NarrowAgreement? command, HttpContext http, SharingStore sharing,
        OrganisationStore store, CrossTenantAccess audit, MessageContext context, CancellationToken cancellation)
    {
        if (command is null) return Task.FromResult(Problem.Malformed("The body must be a JSON object: {\"scope\", \"permissions\", \"expiresAt\"}.").ToResult());
        return Run(tenantId, agreementId, http, sharing, store, audit, context, "narrow-agreement", null, (a, standing) =>
        {
            var errors = new List<FieldError>();
            var scope = command.Scope is null ? a.Scope : AgreementDecisions.Scope(command.Scope, errors);
            var permissions = command.Permissions is null ? a.Permissions : CaseFileDecisions.Permissions(command.Permissions, "permissions", errors);
            if (errors.Count > 0) return Task.FromResult(OrgDecision.Refuse(Problem.Validation(errors)));
            return Task.FromResult(AgreementDecisions.Narrow(a, tenantId, scope!, permissions!, command.ExpiresAt ?? a.ExpiresAt, standing.Actor, sharing.Now));
        }, cancellation);
    }

    /// <summary>
    /// A command on an agreement the caller's tenant is a party to (404 otherwise, whoever else's it is): decided on the
    /// agreement as read under its owner's lock, written to the owner's stream, and — when the recipient acted — recorded
    /// in both tenants' audit trails.
    /// </summary>
    private static async Task<IResult> Run(Guid tenantId, Guid agreementId, HttpContext http, SharingStore sharing, OrganisationStore store,
        CrossTenantAccess audit, MessageContext context, string action, IReadOnlyList<Guid>? manageAt,
        Func<SharingAgreement, Standing, Task<OrgDecision>> decide, CancellationToken cancellation)
    {
        var (standing, refusal) = await SharingHttp.Enter(http, sharing.Streams, store, tenantId, writing: true, cancellation);
        if (refusal is not null) return refusal;
        SharingAgreement? seen;
        await using (var scope = await sharing.ReadAsync(tenantId, cancellation))
            seen = await sharing.LoadAgreementAsync(scope.Connection, agreementId, cancellation);
        if (seen is null) return Problem.NotFound("sharing agreement").ToResult();
        if (!await SharingHttp.ManagesSharing(store, standing!, tenantId,
                manageAt is { Count: > 0 } ? manageAt : seen.OwnerTenantId == tenantId && seen.OwnerOrganisationId is { } o ? [o] : null, cancellation))
            return SharingHttp.MayNotManageSharing().ToResult();
        var owner = seen.OwnerTenantId;
        SharingAgreement after;
        await using (var tx = await sharing.BeginAsync(context, owner, cancellation))
        {
            var current = await sharing.LoadAgreementAsync(tx.Connection, agreementId, cancellation, forUpdate: true);
            if (!TenantHttp.TryExpectedVersion(http.Request, out var expected, out var versionError)) return versionError!;
            if (expected is { } v && v != current!.Version) return Problem.StaleVersion(v, current.Version).ToResult();
            var decision = await decide(current!, standing!);
            if (decision.Refusal is not null) return decision.Refusal.ToResult();
            after = await sharing.SaveAgreementAsync(tx, current, decision.Events, cancellation);
            if (decision.Events.Count > 0) await tx.Session.SaveChangesAsync(cancellation);
        }
        if (owner != tenantId)
            await audit.RecordAsync(owner, tenantId, standing!.Actor, action, "sharing-agreement", agreementId.ToString(), after.Purpose, cancellation);
        http.Response.Headers.ETag = TenantHttp.ETag(after.Version);
        return Results.Json(OfferAgreementEndpoint.View(after, tenantId, sharing.Now), Json.Options);
    }
}

public static class AgreementQueryEndpoints
{
    /// <summary>The agreements the tenant is a party to (role=owner|recipient, state=offered|active|expired|declined|revoked).</summary>
    [WolverineGet("/api/tenants/{tenantId}/sharing/agreements", OperationId = "ListSharingAgreements")]
    [Authorize(Roles = SharingHttp.Roles)]
    public static async Task<IResult> List(Guid tenantId, HttpContext http, SharingStore sharing, OrganisationStore store, CancellationToken cancellation)
    {
        var role = http.Request.Query["role"].ToString();
        var state = http.Request.Query["state"].ToString();
        if (role is not ("" or "owner" or "recipient")) return Problem.Validation("role", "invalid-role", "owner or recipient.").ToResult();
        if (state is not ("" or "offered" or "active" or "expired" or "declined" or "revoked"))
            return Problem.Validation("state", "invalid-state", "offered, active, expired, declined or revoked.").ToResult();
        var (standing, refusal) = await SharingHttp.Enter(http, sharing.Streams, store, tenantId, writing: false, cancellation);
        if (refusal is not null) return refusal;
        if (!await ReadsAgreements(store, standing!, tenantId, cancellation)) return SharingHttp.MayNotManageSharing().ToResult();
        await using var scope = await sharing.ReadAsync(tenantId, cancellation);
        var now = sharing.Now;
        var items = (await sharing.AgreementsAsync(scope.Connection, cancellation))
            .Select(a => OfferAgreementEndpoint.View(a, tenantId, now))
            .Where(v => (role == "" || v.Role == role) && (state == "" || v.State == state)).ToList();
        return Results.Json(new { items }, Json.Options);
    }

    [WolverineGet("/api/tenants/{tenantId}/sharing/agreements/{agreementId}", OperationId = "GetSharingAgreement")]
    [Authorize(Roles = SharingHttp.Roles)]
    public static async Task<IResult> Get(Guid tenantId, Guid agreementId, HttpContext http, SharingStore sharing, OrganisationStore store,
        CancellationToken cancellation)
    {
        var (standing, refusal) = await SharingHttp.Enter(http, sharing.Streams, store, tenantId, writing: false, cancellation);
        if (refusal is not null) return refusal;
        if (!await ReadsAgreements(store, standing!, tenantId, cancellation)) return Problem.NotFound("sharing agreement").ToResult();
        await using var scope = await sharing.ReadAsync(tenantId, cancellation);
        if (await sharing.LoadAgreementAsync(scope.Connection, agreementId, cancellation) is not { } a) return Problem.NotFound("sharing agreement").ToResult();
        http.Response.Headers.ETag = TenantHttp.ETag(a.Version);
        return Results.Json(OfferAgreementEndpoint.View(a, tenantId, sharing.Now), Json.Options);
    }

    /// <summary>Agreements are read by those who manage sharing somewhere in the tenant (and its administrators).</summary>
    private static Task<bool> ReadsAgreements(OrganisationStore store, Standing standing, Guid tenant, CancellationToken cancellation) =>
        store.ReadAsync(tenant, g => standing.Everything || (standing.Scopes?.Contains("sharing.manage")
                                                             ?? g.OrganisationsWhere(standing.Principals, "sharing.manage").Count > 0), cancellation);
}
