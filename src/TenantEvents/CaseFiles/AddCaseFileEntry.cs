using Microsoft.AspNetCore.Authorization;
using TenantEvents.Audit;
using TenantEvents.Infrastructure;
using TenantEvents.Organisations;
using TenantEvents.Sharing;
using TenantEvents.Tenants;
using Wolverine.Http;
using Wolverine.Runtime;

namespace TenantEvents.CaseFiles;

public sealed record AddCaseFileEntry(string? Text);

public static class AddCaseFileEntryEndpoint
{
    /// <summary>
    /// A comment on a file: the tenant's own (case.comment or case.write at its organisation) or a partner's shared with
    /// "comment" (and the caller holds case.comment or case.write in its own tenant). Written to the owner's file stream;
    /// a partner's comment is recorded in both audit trails.
    /// </summary>
    [WolverinePost("/api/tenants/{tenantId}/case-files/{caseFileId}/comments", OperationId = "CommentOnCaseFile")]
    [Authorize(Roles = SharingHttp.Roles)]
    public static Task<IResult> Comment(Guid tenantId, Guid caseFileId, AddCaseFileEntry? command, HttpContext http, SharingStore sharing,
        OrganisationStore store, CrossTenantAccess audit, MessageContext context, CancellationToken cancellation) =>
        Add(tenantId, caseFileId, "comment", command, http, sharing, store, audit, context, cancellation);

    /// <summary>Material added to a file (case.write on the tenant's own; "contribute" on a partner's, and case.write in the caller's tenant).</summary>
    [WolverinePost("/api/tenants/{tenantId}/case-files/{caseFileId}/contributions", OperationId = "ContributeToCaseFile")]
    [Authorize(Roles = SharingHttp.Roles)]
    public static Task<IResult> Contribute(Guid tenantId, Guid caseFileId, AddCaseFileEntry? command, HttpContext http, SharingStore sharing,
        OrganisationStore store, CrossTenantAccess audit, MessageContext context, CancellationToken cancellation) =>
        Add(tenantId, caseFileId, "contribution", command, http, sharing, store, audit, context, cancellation);

    private static async Task<IResult> Add(Guid tenantId, Guid caseFileId, string kind, AddCaseFileEntry? command, HttpContext http,
        SharingStore sharing, OrganisationStore store, CrossTenantAccess audit, MessageContext context, CancellationToken cancellation)
    {
        if (command is null) return Problem.Malformed("The body must be a JSON object: {\"text\": \"…\"}.").ToResult();
        var ownPermissions = kind == "comment" ? new[] { "case.comment", "case.write" } : ["case.write"];
        var sharePermission = kind == "comment" ? "comment" : "contribute";
        Guid owner;
        string? purpose = null;
        await using (var scope = await sharing.ReadAsync(tenantId, cancellation))
        {
            var (reader, refusal) = await SharingHttp.Reader(http, sharing, store, scope.Connection, tenantId, writing: true, cancellation);
            if (refusal is not null) return refusal;
            var (view, via) = await GetCaseFileEndpoint.Find(sharing, store, scope.Connection, reader!, caseFileId, cancellation);
            if (view is null) return Problem.NotFound("case file").ToResult();
            owner = view.OwnerTenantId;
            var allowed = view.Shared
                ? view.Access.Contains(sharePermission) && await store.ReadAsync(tenantId, g => reader!.Standing.Everything
                      || ownPermissions.Any(p => reader.Standing.Scopes?.Contains(p) ?? g.OrganisationsWhere(reader.Standing.Principals, p).Count > 0), cancellation)
                : await store.ReadAsync(tenantId, g => ownPermissions.Any(p => reader!.Standing.Can(g, p, view.OrganisationId!.Value)), cancellation);
            if (!allowed)
                return Problem.Forbidden(view.Shared
                        ? $"The share does not allow you to {sharePermission} ({string.Join(", ", view.Access)}), or you hold neither {string.Join(" nor ", ownPermissions)}."
                        : $"You need {string.Join(" or ", ownPermissions)} at the file's organisation.")
                    .With("permission", view.Shared ? sharePermission : ownPermissions[0]).ToResult();
            purpose = via;
        }
        CaseFileEntryAdded added;
        await using (var tx = await sharing.BeginAsync(context, owner, cancellation))
        {
            await tx.ExecuteAsync($"select 1 from {sharing.Schema}.case_files where tenant_id = $1 and id = $2 for update", cancellation, owner.ToString(), caseFileId);
            var (file, _) = (await sharing.LoadCaseFileAsync(tx.Connection, caseFileId, cancellation))!.Value;
            var decision = CaseFileDecisions.AddEntry(file, kind, command.Text, tenantId, http.Caller().Actor, sharing.Now, Guid.CreateVersion7(),
                sharing.Streams.Options.MaxCaseFileEntries);
            if (decision.Refusal is not null) return decision.Refusal.ToResult();
            added = (CaseFileEntryAdded)decision.Events[0];
            await sharing.SaveCaseFileAsync(tx, file, decision.Events, cancellation);
            await tx.Session.SaveChangesAsync(cancellation);
            http.Response.Headers.ETag = TenantHttp.ETag(file.Version + 1);
        }
        if (owner != tenantId)
            await audit.RecordAsync(owner, tenantId, http.Caller().Actor, kind == "comment" ? "comment" : "contribute", "case-file", caseFileId.ToString(),
                purpose, cancellation);
        return Results.Created($"/api/tenants/{tenantId}/case-files/{caseFileId}",
            new CaseFileEntryView(added.EntryId, added.Kind, added.Text, added.FromTenantId, added.By.Subject, added.At));
    }
}
