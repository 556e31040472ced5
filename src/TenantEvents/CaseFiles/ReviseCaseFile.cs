using Microsoft.AspNetCore.Authorization;
using TenantEvents.Infrastructure;
using TenantEvents.Organisations;
using TenantEvents.Sharing;
using TenantEvents.Tenants;
using Wolverine.Http;
using Wolverine.Runtime;

namespace TenantEvents.CaseFiles;

/// <summary>What changes (absent: unchanged). Tags replace the file's tags.</summary>
public sealed record ReviseCaseFile(string? Title, string? Classification, IReadOnlyList<string>? Tags, string? Body);

public static class ReviseCaseFileEndpoint
{
    /// <summary>
    /// Revises the tenant's own file (case.write at its organisation; If-Match: its version). The file's shares follow:
    /// a new tag or classification can bring it into an agreement's scope, or take it out. Partners never revise
    /// another tenant's file (403 when they see it); they comment or contribute.
    /// </summary>
    [WolverinePatch("/api/tenants/{tenantId}/case-files/{caseFileId}", OperationId = "ReviseCaseFile")]
    [Authorize(Roles = SharingHttp.Roles)]
    public static async Task<IResult> Patch(Guid tenantId, Guid caseFileId, ReviseCaseFile? command, HttpContext http, SharingStore sharing,
        OrganisationStore store, MessageContext context, CancellationToken cancellation)
    {
        if (command is null) return Problem.Malformed("The body must be a JSON object: {\"title\", \"classification\", \"tags\", \"body\"} (each optional).").ToResult();
        var (standing, refusal) = await SharingHttp.Enter(http, sharing.Streams, store, tenantId, writing: true, cancellation);
        if (refusal is not null) return refusal;
        if (!TenantHttp.TryExpectedVersion(http.Request, out var expected, out var versionError)) return versionError!;
        await using var tx = await sharing.BeginAsync(context, tenantId, cancellation);
        if (await Writable(sharing, store, tx, standing!, caseFileId, "case.write", cancellation) is var (file, problem) && problem is not null)
            return problem.ToResult();
        if (expected is { } v && v != file!.Version) return Problem.StaleVersion(v, file.Version).ToResult();
        var decision = CaseFileDecisions.Revise(file!, command.Title, command.Classification, command.Tags, command.Body, standing!.Actor, sharing.Now);
        if (decision.Refusal is not null) return decision.Refusal.ToResult();
        if (decision.Events.Count > 0)
        {
            await sharing.SaveCaseFileAsync(tx, file, decision.Events, cancellation);
            await tx.Session.SaveChangesAsync(cancellation);
        }
        var after = decision.Events.Aggregate(file!, (f, e) => CaseFile.Apply(f, e, tenantId));
        after.Version = file!.Version + decision.Events.Count;
        var access = await store.ReadAsync(tenantId, g => CaseFileHttp.OwnAccess(standing, g, after.OrganisationId), cancellation);
        http.Response.Headers.ETag = TenantHttp.ETag(after.Version);
        return Results.Json(CaseFileHttp.View(after, tenantId, access, null, full: true), Json.Options);
    }

    /// <summary>
    /// The tenant's own file, locked for the change, if the caller holds the permission at its organisation: 404 for a
    /// file it cannot see, 403 for one it sees but may not change (or that another tenant owns).
    /// </summary>
    public static async Task<(CaseFile? File, Problem? Problem)> Writable(SharingStore sharing, OrganisationStore store, TenantTransaction tx,
        Standing standing, Guid id, string permission, CancellationToken cancellation)
    {
        var found = await sharing.LoadCaseFileAsync(tx.Connection, id, cancellation);
        if (found is not var (file, owner)) return (null, Problem.NotFound("case file"));
        if (owner != tx.Tenant)
        {
            var reader = await Visibility.ReaderAsync(tx.Connection, sharing.Schema, standing, tx.Tenant,
                read => store.ReadAsync(tx.Tenant, read, cancellation), sharing.Now, cancellation);
            var (_, via) = await Visibility.SharedAccessAsync(tx.Connection, sharing.Schema, reader, owner, id, sharing.Now, cancellation);
            return (null, via.Count == 0 ? Problem.NotFound("case file")
                : new Problem("not-owner", 403, "Only the owning tenant changes or shares this file",
                    "The file is shared with your tenant; you may comment or contribute where the share allows it."));
        }
        var problem = await store.ReadAsync(tx.Tenant, g => CaseFileHttp.AuthoriseAt(standing, g, permission, file.OrganisationId, "case file"), cancellation);
        if (problem is not null) return (null, problem);
        // Lock the row for the rest of the transaction (the append at the version read catches a racing writer too).
        await tx.ExecuteAsync($"select 1 from {sharing.Schema}.case_files where tenant_id = $1 and id = $2 for update", cancellation, tx.Tenant.ToString(), id);
        var locked = await sharing.LoadCaseFileAsync(tx.Connection, id, cancellation);
        return (locked!.Value.File, null);
    }
}
