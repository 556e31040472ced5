using Microsoft.AspNetCore.Authorization;
using TenantEvents.Audit;
using TenantEvents.Infrastructure;
using TenantEvents.Organisations;
using TenantEvents.Sharing;
using TenantEvents.Tenants;
using Wolverine.Http;

namespace TenantEvents.CaseFiles;

public static class GetCaseFileEndpoint
{
    /// <summary>
    /// One case file the caller may see: its tenant's own (case.read at the file's organisation or above) or another
    /// tenant's shared with it now. Anything else is 404, whether it exists or not. A read of another tenant's file is
    /// recorded in both tenants' audit trails.
    /// </summary>
    [WolverineGet("/api/tenants/{tenantId}/case-files/{caseFileId}", OperationId = "GetCaseFile")]
    [Authorize(Roles = SharingHttp.Roles)]
    public static async Task<IResult> Get(Guid tenantId, Guid caseFileId, HttpContext http, SharingStore sharing, OrganisationStore store,
        CrossTenantAccess audit, Wolverine.Runtime.MessageContext context, CancellationToken cancellation)
    {
        await using var scope = await sharing.ReadAsync(tenantId, cancellation);
        var (reader, refusal) = await SharingHttp.Reader(http, sharing, store, scope.Connection, tenantId, writing: false, cancellation);
        if (refusal is not null) return refusal;
        var (view, access) = await Find(sharing, store, scope.Connection, reader!, caseFileId, cancellation);
        if (view is null) return Problem.NotFound("case file").ToResult();
        if (view.Shared)
            await SharingHttp.Record(audit, context, reader!, [new AccessRecord(view.OwnerTenantId, "read", "case-file", view.Id.ToString(), access)], cancellation);
        http.Response.Headers.ETag = TenantHttp.ETag(view.Version);
        return Results.Json(view, Json.Options);
    }

    /// <summary>The file as the reader may see it (null: not visible), and for a shared one the purposes it is shared for.</summary>
    public static async Task<(CaseFileView? View, string? Purpose)> Find(SharingStore sharing, OrganisationStore store, Npgsql.NpgsqlConnection connection,
        Reader reader, Guid id, CancellationToken cancellation)
    {
        if (await sharing.LoadCaseFileAsync(connection, id, cancellation) is not var (file, owner)) return (null, null);
        if (owner == reader.Tenant)
        {
            if (!reader.ReadsOwn(file.OrganisationId)) return (null, null);
            var access = await store.ReadAsync(reader.Tenant, g => CaseFileHttp.OwnAccess(reader.Standing, g, file.OrganisationId), cancellation);
            return (CaseFileHttp.View(file, reader.Tenant, access, null, full: true), null);
        }
        var (permissions, via) = await Visibility.SharedAccessAsync(connection, sharing.Schema, reader, owner, id, sharing.Now, cancellation);
        if (via.Count == 0) return (null, null);
        return (CaseFileHttp.View(file, reader.Tenant, permissions, via, full: true), string.Join(", ", via.Select(v => reader.Sources[v].Kind + ":" + v)));
    }
}
