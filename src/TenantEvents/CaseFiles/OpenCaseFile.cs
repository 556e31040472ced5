using Microsoft.AspNetCore.Authorization;
using TenantEvents.Infrastructure;
using TenantEvents.Organisations;
using TenantEvents.Sharing;
using TenantEvents.Tenants;
using Wolverine.Http;
using Wolverine.Runtime;

namespace TenantEvents.CaseFiles;

public sealed record OpenCaseFile(Guid? OrganisationId, string? Title, string? Classification, IReadOnlyList<string>? Tags, string? Body);

public static class OpenCaseFileEndpoint
{
    /// <summary>Opens a case file in an organisation of the tenant (needs case.write there). Its content is sealed under the tenant's key.</summary>
    [WolverinePost("/api/tenants/{tenantId}/case-files", OperationId = "OpenCaseFile")]
    [Authorize(Roles = SharingHttp.Roles)]
    public static async Task<IResult> Post(Guid tenantId, OpenCaseFile? command, HttpContext http, SharingStore sharing, OrganisationStore store,
        MessageContext context, CancellationToken cancellation)
    {
        if (command is null) return Problem.Malformed("The body must be a JSON object: {\"organisationId\", \"title\", \"classification\", \"tags\", \"body\"}.").ToResult();
        var (standing, refusal) = await SharingHttp.Enter(http, sharing.Streams, store, tenantId, writing: true, cancellation);
        if (refusal is not null) return refusal;
        if (command.OrganisationId is not { } org)
            return Problem.Validation("organisationId", "required", "the organisation the file belongs to.").ToResult();
        if (await store.ReadAsync(tenantId, g => CaseFileHttp.AuthoriseAt(standing!, g, "case.write", org), cancellation) is { } no) return no.ToResult();
        var id = Guid.CreateVersion7();
        var decision = CaseFileDecisions.Open(id, org, command.Title, command.Classification, command.Tags, command.Body, standing!.Actor, sharing.Now);
        if (decision.Refusal is not null) return decision.Refusal.ToResult();
        CaseFile file;
        await using (var tx = await sharing.BeginAsync(context, tenantId, cancellation))
        {
            await sharing.SaveCaseFileAsync(tx, null, decision.Events, cancellation);
            file = decision.Events.Aggregate((CaseFile?)null, (f, e) => CaseFile.Apply(f, e, tenantId))!;
            file.Version = decision.Events.Count;
            await tx.Session.SaveChangesAsync(cancellation);
        }
        var access = await store.ReadAsync(tenantId, g => CaseFileHttp.OwnAccess(standing, g, org), cancellation);
        http.Response.Headers.ETag = TenantHttp.ETag(file.Version);
        return Results.Created($"/api/tenants/{tenantId}/case-files/{id}", CaseFileHttp.View(file, tenantId, access, null, full: true));
    }
}
