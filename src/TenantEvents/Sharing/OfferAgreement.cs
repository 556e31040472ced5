using Microsoft.AspNetCore.Authorization;
using Npgsql;
using NpgsqlTypes;
using TenantEvents.CaseFiles;
using TenantEvents.Infrastructure;
using TenantEvents.Organisations;
using TenantEvents.Tenants;
using Wolverine.Http;
using Wolverine.Runtime;

namespace TenantEvents.Sharing;

public sealed record OfferAgreement(Guid? RecipientTenantId, ScopeInput? Scope, IReadOnlyList<string?>? Permissions, string? Purpose,
    DateTimeOffset? ExpiresAt, Guid? OwnerOrganisationId);

/// <summary>A sharing agreement as either party sees it (each sees its own side's organisations).</summary>
public sealed record AgreementView(Guid Id, string Role, Guid OwnerTenantId, Guid RecipientTenantId, string State, SharingScope Scope,
    IReadOnlyList<string> Permissions, string Purpose, DateTimeOffset ExpiresAt, Guid? OwnerOrganisationId, IReadOnlyList<Guid>? RecipientOrganisationIds,
    DateTimeOffset OfferedAt, DateTimeOffset? AcceptedAt, DateTimeOffset? EndedAt, string? EndedReason, long Version);

public static class OfferAgreementEndpoint
{
    /// <summary>
    /// Offers another tenant (of the same database) a scope of this tenant's case files: named files, and/or every file
    /// with a tag or classification, optionally only those under one of its organisations; with permissions, a purpose
    /// and an end. Needs sharing.manage at the root (or at the organisation named). Nothing is shared until the
    /// recipient accepts. Files named must be this tenant's own.
    /// </summary>
    [WolverinePost("/api/tenants/{tenantId}/sharing/agreements", OperationId = "OfferSharingAgreement")]
    [Authorize(Roles = SharingHttp.Roles)]
    public static async Task<IResult> Post(Guid tenantId, OfferAgreement? command, HttpContext http, SharingStore sharing, OrganisationStore store,
        MessageContext context, CancellationToken cancellation)
    {
        if (command is null) return Problem.Malformed("The body must be a JSON object: {\"recipientTenantId\", \"scope\", \"permissions\", \"purpose\", \"expiresAt\"}.").ToResult();
        var (standing, refusal) = await SharingHttp.Enter(http, sharing.Streams, store, tenantId, writing: true, cancellation);
        if (refusal is not null) return refusal;
        var now = sharing.Now;
        var errors = AgreementDecisions.Validate(command.Purpose, command.ExpiresAt, now);
        var scope = AgreementDecisions.Scope(command.Scope, errors);
        var permissions = CaseFileDecisions.Permissions(command.Permissions, "permissions", errors);
        if (command.RecipientTenantId is null) errors.Add(new("recipientTenantId", "required", "the tenant to share with."));
        if (command.OwnerOrganisationId is { } org && !await store.ReadAsync(tenantId, g => g.FindOpen(org) is not null, cancellation))
            errors.Add(new("ownerOrganisationId", "unknown-organisation", "no open organisation of this tenant with that id."));
        if (errors.Count > 0) return Problem.Validation(errors).ToResult();
        if (!await SharingHttp.ManagesSharing(store, standing!, tenantId, command.OwnerOrganisationId is { } o ? [o] : null, cancellation))
            return SharingHttp.MayNotManageSharing().ToResult();
        if (await SharingHttp.Partner(sharing.Streams, store, tenantId, command.RecipientTenantId!.Value, "recipientTenantId", cancellation) is { } partner)
            return partner.ToResult();

        var id = Guid.CreateVersion7();
        await using var tx = await sharing.BeginAsync(context, tenantId, cancellation);
        var owned = new Dictionary<Guid, Guid>();
        if (scope!.CaseFileIds.Count > 0)
        {
            // Only the tenant's own files can be offered; whether an id is another tenant's (shared with it or not) is not said.
            await using var command2 = new NpgsqlCommand($"select id, org_id from {sharing.Schema}.case_files where tenant_id = $1 and id = any($2)", tx.Connection);
            command2.Parameters.Add(new NpgsqlParameter { Value = tenantId.ToString() });
            command2.Parameters.Add(new NpgsqlParameter { Value = scope.CaseFileIds.ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Uuid });
            await using (var r = await command2.ExecuteReaderAsync(cancellation))
                while (await r.ReadAsync(cancellation)) owned[r.GetGuid(0)] = r.GetGuid(1);
            var foreign = scope.CaseFileIds.Where(f => !owned.ContainsKey(f)).ToList();
            if (foreign.Count > 0)
                return Problem.Validation("scope.caseFileIds", "not-owned", "only this tenant's own case files can be shared: " + string.Join(", ", foreign))
                    .ToResult();
        }
        if (await store.ReadAsync(tenantId, g => WithinBound(standing!, g, scope, permissions!, owned.Values, command.OwnerOrganisationId), cancellation)
            is { } beyond)
            return beyond.ToResult();
        var offered = new SharingAgreementOffered(id, tenantId, command.RecipientTenantId.Value, scope, permissions!, command.Purpose!.Trim(),
            command.ExpiresAt!.Value, command.OwnerOrganisationId, standing!.Actor, now);
        var agreement = await sharing.SaveAgreementAsync(tx, null, [offered], cancellation);
        await tx.Session.SaveChangesAsync(cancellation);
        http.Response.Headers.ETag = TenantHttp.ETag(agreement.Version);
        return Results.Created($"/api/tenants/{tenantId}/sharing/agreements/{id}", View(agreement, tenantId, now));
    }

    /// <summary>
    /// The grantor's bound on an offer: it confers on another tenant what the offerer may do with the files, so the
    /// offerer must hold it itself: at each named file's organisation, and, for files chosen by tag or classification
    /// (those now and those to come), at the owner organisation named or else the root. Read needs case.read, contribute
    /// case.write, comment case.comment (or case.write, which lets one comment on one's own files too).
    /// </summary>
    private static Problem? WithinBound(Standing standing, AccessGraph graph, SharingScope scope, IReadOnlyList<string> permissions,
        IEnumerable<Guid> fileOrganisations, Guid? ownerOrganisation)
    {
        if (graph.Root is not { } root) return Problem.NotFound("tenant");
        var at = fileOrganisations.ToHashSet();
        if (scope.Tags.Count > 0 || scope.Classifications.Count > 0) at.Add(ownerOrganisation ?? root);
        return GrantorBound.Check(standing, graph, at.Select(org => Shares(standing, graph, permissions, org, "case files offered to another tenant")));
    }

    /// <summary>
    /// What sharing case files of an organisation with other tenants confers, as permissions the sharer must hold there
    /// (agreements and collaborations alike): read needs case.read, contribute case.write, comment case.comment (or
    /// case.write, which lets one comment on one's own files too).
    /// </summary>
    public static Conferral Shares(Standing standing, AccessGraph graph, IReadOnlyList<string> permissions, Guid org, string what) =>
        new(permissions.Select(p => p switch
        {
            "read" => "case.read",
            "contribute" => "case.write",
            _ => standing.Can(graph, "case.write", org) ? "case.write" : "case.comment",
        }).Distinct().ToList(), org, What: what);

    public static AgreementView View(SharingAgreement a, Guid reader, DateTimeOffset now)
    {
        var owner = a.OwnerTenantId == reader;
        return new AgreementView(a.Id, owner ? "owner" : "recipient", a.OwnerTenantId, a.RecipientTenantId, a.StateAt(now), a.Scope, a.Permissions,
            a.Purpose, a.ExpiresAt, owner ? a.OwnerOrganisationId : null, owner ? null : a.RecipientOrganisationIds, a.OfferedAt, a.AcceptedAt,
            a.EndedAt, a.EndedReason, a.Version);
    }
}
