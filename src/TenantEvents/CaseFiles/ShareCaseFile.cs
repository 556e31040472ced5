using Microsoft.AspNetCore.Authorization;
using TenantEvents.Infrastructure;
using TenantEvents.Organisations;
using TenantEvents.Sharing;
using TenantEvents.Tenants;
using Wolverine.Http;
using Wolverine.Runtime;

namespace TenantEvents.CaseFiles;

public sealed record ShareCaseFile(IReadOnlyList<string?>? Permissions);

public static class ShareCaseFileEndpoint
{
    /// <summary>
    /// Shares the tenant's own file into a collaboration its tenant is a member of (case.share at the file's
    /// organisation): every member tenant sees it while both it and the owner stay members. 404 for a collaboration the
    /// tenant is not a member of; 403 not-owner for a file shared with the tenant by another.
    /// </summary>
    [WolverinePut("/api/tenants/{tenantId}/case-files/{caseFileId}/collaborations/{collaborationId}", OperationId = "ShareCaseFileIntoCollaboration")]
    [Authorize(Roles = SharingHttp.Roles)]
    public static async Task<IResult> Put(Guid tenantId, Guid caseFileId, Guid collaborationId, ShareCaseFile? command, HttpContext http,
        SharingStore sharing, OrganisationStore store, MessageContext context, CancellationToken cancellation)
    {
        if (command is null) return Problem.Malformed("The body must be a JSON object: {\"permissions\": [\"read\", \"comment\", \"contribute\"]}.").ToResult();
        var errors = new List<FieldError>();
        var permissions = CaseFileDecisions.Permissions(command.Permissions, "permissions", errors);
        if (errors.Count > 0) return Problem.Validation(errors).ToResult();
        return await Change(tenantId, caseFileId, collaborationId, http, sharing, store, context, (file, by, now) =>
            file.SharedInto.TryGetValue(collaborationId, out var had) && had.SequenceEqual(permissions!)
                ? []
                : [new CaseFileShared(file.Id, collaborationId, permissions!, by, now)], cancellation);
    }

    /// <summary>Withdraws the file from the collaboration.</summary>
    [WolverineDelete("/api/tenants/{tenantId}/case-files/{caseFileId}/collaborations/{collaborationId}", OperationId = "UnshareCaseFileFromCollaboration")]
    [Authorize(Roles = SharingHttp.Roles)]
    public static Task<IResult> Delete(Guid tenantId, Guid caseFileId, Guid collaborationId, HttpContext http, SharingStore sharing,
        OrganisationStore store, MessageContext context, CancellationToken cancellation) =>
        Change(tenantId, caseFileId, collaborationId, http, sharing, store, context, (file, by, now) =>
            file.SharedInto.ContainsKey(collaborationId) ? [new CaseFileUnshared(file.Id, collaborationId, by, now)] : [], cancellation, member: false);

    private static async Task<IResult> Change(Guid tenantId, Guid caseFileId, Guid collaborationId, HttpContext http, SharingStore sharing,
        OrganisationStore store, MessageContext context, Func<CaseFile, Infrastructure.Security.Actor, DateTimeOffset, IReadOnlyList<object>> decide,
        CancellationToken cancellation, bool member = true)
    {
        var (standing, refusal) = await SharingHttp.Enter(http, sharing.Streams, store, tenantId, writing: true, cancellation);
        if (refusal is not null) return refusal;
        await using var tx = await sharing.BeginAsync(context, tenantId, cancellation);
        var (file, problem) = await ReviseCaseFileEndpoint.Writable(sharing, store, tx, standing!, caseFileId, "case.share", cancellation);
        if (problem is not null) return problem.ToResult();
        if (member)
        {
            var collaboration = await sharing.LoadCollaborationAsync(tx.Connection, collaborationId, cancellation);
            if (collaboration is not var (c, _) || !c.IsMember(tenantId)) return Problem.NotFound("collaboration").ToResult();
        }
        var events = decide(file!, standing!.Actor, sharing.Now);
        // Sharing into a collaboration confers on its member tenants what the sharer may do with the file: the grantor
        // bound, as for agreements (Organisations/GrantorBound).
        if (events.OfType<CaseFileShared>().FirstOrDefault() is { } shared
            && await store.ReadAsync(tenantId, g => GrantorBound.Check(standing, g,
                [OfferAgreementEndpoint.Shares(standing, g, shared.Permissions, file!.OrganisationId, "a case file shared into a collaboration")]), cancellation)
                is { } beyond)
            return beyond.ToResult();
        if (events.Count > 0)
        {
            await sharing.SaveCaseFileAsync(tx, file, events, cancellation);
            await tx.Session.SaveChangesAsync(cancellation);
        }
        var after = events.Aggregate(file!, (f, e) => CaseFile.Apply(f, e, tenantId));
        after.Version = file!.Version + events.Count;
        var access = await store.ReadAsync(tenantId, g => CaseFileHttp.OwnAccess(standing, g, after.OrganisationId), cancellation);
        http.Response.Headers.ETag = TenantHttp.ETag(after.Version);
        return Results.Json(CaseFileHttp.View(after, tenantId, access, null, full: true), Json.Options);
    }
}
