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

public sealed record StartCollaboration(string? Kind, string? Name, string? Charter, IReadOnlyList<Guid>? Invite);

public sealed record InviteToCollaboration(Guid? TenantId);

public sealed record ReviseCharter(string? Charter);

public sealed record RemoveMember(string? Reason);

public sealed record MemberView(Guid TenantId, string State, DateTimeOffset Since);

public sealed record CollaborationView(Guid Id, string Kind, string Name, string Charter, Guid ConvenorTenantId, bool Open, string YourState,
    IReadOnlyList<MemberView> Members, DateTimeOffset CreatedAt, long Version);

public static class CollaborationEndpoints
{
    /// <summary>
    /// Starts a COI channel (kind channel: its convenor governs membership) or a joint investigation (kind investigation:
    /// co-owned by its member agencies), with a charter or brief, inviting other tenants (of the same database). Needs
    /// sharing.manage at the root. The starting tenant is its first member.
    /// </summary>
    [WolverinePost("/api/tenants/{tenantId}/collaborations", OperationId = "StartCollaboration")]
    [Authorize(Roles = SharingHttp.Roles)]
    public static async Task<IResult> Start(Guid tenantId, StartCollaboration? command, HttpContext http, SharingStore sharing, OrganisationStore store,
        MessageContext context, CancellationToken cancellation)
    {
        if (command is null) return Problem.Malformed("The body must be a JSON object: {\"kind\", \"name\", \"charter\", \"invite\"}.").ToResult();
        var (standing, refusal) = await SharingHttp.Enter(http, sharing.Streams, store, tenantId, writing: true, cancellation);
        if (refusal is not null) return refusal;
        var errors = CollaborationDecisions.Validate(command.Kind, command.Name, command.Charter);
        var invite = (command.Invite ?? []).Distinct().ToList();
        if (invite.Count > 100) errors.Add(new("invite", "too-many", "at most 100 tenants at once."));
        if (errors.Count > 0) return Problem.Validation(errors).ToResult();
        if (!await SharingHttp.ManagesSharing(store, standing!, tenantId, null, cancellation)) return SharingHttp.MayNotManageSharing().ToResult();
        foreach (var t in invite)
            if (await SharingHttp.Partner(sharing.Streams, store, tenantId, t, "invite", cancellation) is { } partner) return partner.ToResult();
        var id = Guid.CreateVersion7();
        var now = sharing.Now;
        var events = new List<object> { new CollaborationStarted(id, command.Kind!, command.Name!.Trim(), command.Charter!, tenantId, standing!.Actor, now) };
        events.AddRange(invite.Select(t => new CollaborationMemberInvited(id, t, standing.Actor, now)));
        await using var tx = await sharing.BeginAsync(context, tenantId, cancellation);
        var c = await sharing.SaveCollaborationAsync(tx, null, events, cancellation);
        await tx.Session.SaveChangesAsync(cancellation);
        http.Response.Headers.ETag = TenantHttp.ETag(c.Version);
        return Results.Created($"/api/tenants/{tenantId}/collaborations/{id}", View(c, tenantId));
    }

    /// <summary>Invites another tenant (a channel's convenor; any member of an investigation).</summary>
    [WolverinePost("/api/tenants/{tenantId}/collaborations/{collaborationId}/invitations", OperationId = "InviteToCollaboration")]
    [Authorize(Roles = SharingHttp.Roles)]
    public static async Task<IResult> Invite(Guid tenantId, Guid collaborationId, InviteToCollaboration? command, HttpContext http, SharingStore sharing,
        OrganisationStore store, CrossTenantAccess audit, MessageContext context, CancellationToken cancellation)
    {
        if ((await SharingHttp.Enter(http, sharing.Streams, store, tenantId, writing: true, cancellation)).Refusal is { } refusal) return refusal;
        if (command?.TenantId is not { } invitee) return Problem.Validation("tenantId", "required", "the tenant to invite.").ToResult();
        if (await SharingHttp.Partner(sharing.Streams, store, tenantId, invitee, "tenantId", cancellation) is { } partner) return partner.ToResult();
        return await Run(tenantId, collaborationId, http, sharing, store, audit, context, "invite",
            (c, s) => CollaborationDecisions.Invite(c, tenantId, invitee, s.Actor, sharing.Now), cancellation);
    }

    /// <summary>The invited tenant joins: from now its readers see what is shared into the collaboration, and it may share into it.</summary>
    [WolverinePost("/api/tenants/{tenantId}/collaborations/{collaborationId}/accept", OperationId = "AcceptCollaborationInvitation")]
    [Authorize(Roles = SharingHttp.Roles)]
    public static Task<IResult> Accept(Guid tenantId, Guid collaborationId, HttpContext http, SharingStore sharing, OrganisationStore store,
        CrossTenantAccess audit, MessageContext context, CancellationToken cancellation) =>
        Run(tenantId, collaborationId, http, sharing, store, audit, context, "join",
            (c, s) => CollaborationDecisions.AcceptInvitation(c, tenantId, s.Actor, sharing.Now), cancellation);

    [WolverinePost("/api/tenants/{tenantId}/collaborations/{collaborationId}/decline", OperationId = "DeclineCollaborationInvitation")]
    [Authorize(Roles = SharingHttp.Roles)]
    public static Task<IResult> Decline(Guid tenantId, Guid collaborationId, HttpContext http, SharingStore sharing, OrganisationStore store,
        CrossTenantAccess audit, MessageContext context, CancellationToken cancellation) =>
        Run(tenantId, collaborationId, http, sharing, store, audit, context, "decline",
            (c, s) => CollaborationDecisions.DeclineInvitation(c, tenantId, s.Actor, sharing.Now), cancellation);

    /// <summary>The tenant leaves: it sees nothing shared into the collaboration any more, and its own files are withdrawn from it.</summary>
    [WolverinePost("/api/tenants/{tenantId}/collaborations/{collaborationId}/leave", OperationId = "LeaveCollaboration")]
    [Authorize(Roles = SharingHttp.Roles)]
    public static Task<IResult> Leave(Guid tenantId, Guid collaborationId, HttpContext http, SharingStore sharing, OrganisationStore store,
        CrossTenantAccess audit, MessageContext context, CancellationToken cancellation) =>
        Run(tenantId, collaborationId, http, sharing, store, audit, context, "leave",
            (c, s) => CollaborationDecisions.Leave(c, tenantId, s.Actor, sharing.Now), cancellation);

    /// <summary>A channel's convenor removes a member (or withdraws an invitation): the same effect as leaving.</summary>
    [WolverineDelete("/api/tenants/{tenantId}/collaborations/{collaborationId}/members/{memberTenantId}", OperationId = "RemoveCollaborationMember")]
    [Authorize(Roles = SharingHttp.Roles)]
    public static Task<IResult> Remove(Guid tenantId, Guid collaborationId, Guid memberTenantId, HttpContext http, SharingStore sharing,
        OrganisationStore store, CrossTenantAccess audit, MessageContext context, CancellationToken cancellation) =>
        Run(tenantId, collaborationId, http, sharing, store, audit, context, "remove",
            (c, s) => CollaborationDecisions.Remove(c, tenantId, memberTenantId, http.Request.Query["reason"].ToString() is { Length: > 0 } r ? r : null,
                s.Actor, sharing.Now), cancellation);

    /// <summary>Revises the charter (a channel's convenor) or the brief (any member of an investigation).</summary>
    [WolverinePut("/api/tenants/{tenantId}/collaborations/{collaborationId}/charter", OperationId = "ReviseCollaborationCharter")]
    [Authorize(Roles = SharingHttp.Roles)]
    public static Task<IResult> Charter(Guid tenantId, Guid collaborationId, ReviseCharter? command, HttpContext http, SharingStore sharing,
        OrganisationStore store, CrossTenantAccess audit, MessageContext context, CancellationToken cancellation) =>
        command is null
            ? Task.FromResult(Problem.Malformed("The body must be a JSON object: {\"charter\": \"…\"}.").ToResult())
            : Run(tenantId, collaborationId, http, sharing, store, audit, context, "revise-charter",
                (c, s) => CollaborationDecisions.ReviseCharter(c, tenantId, command.Charter, s.Actor, sharing.Now), cancellation);

    /// <summary>The convening tenant closes it: nothing shared into it is visible any more.</summary>
    [WolverinePost("/api/tenants/{tenantId}/collaborations/{collaborationId}/close", OperationId = "CloseCollaboration")]
    [Authorize(Roles = SharingHttp.Roles)]
    public static Task<IResult> Close(Guid tenantId, Guid collaborationId, HttpContext http, SharingStore sharing, OrganisationStore store,
        CrossTenantAccess audit, MessageContext context, CancellationToken cancellation) =>
        Run(tenantId, collaborationId, http, sharing, store, audit, context, "close",
            (c, s) => CollaborationDecisions.Close(c, tenantId, s.Actor, sharing.Now), cancellation);

    /// <summary>The collaborations the tenant is a member of or invited to.</summary>
    [WolverineGet("/api/tenants/{tenantId}/collaborations", OperationId = "ListCollaborations")]
    [Authorize(Roles = SharingHttp.Roles)]
    public static async Task<IResult> List(Guid tenantId, HttpContext http, SharingStore sharing, OrganisationStore store, CancellationToken cancellation)
    {
        var (standing, refusal) = await SharingHttp.Enter(http, sharing.Streams, store, tenantId, writing: false, cancellation);
        if (refusal is not null) return refusal;
        if (!await Reads(store, standing!, tenantId, cancellation)) return Results.Json(new { items = Array.Empty<CollaborationView>() }, Json.Options);
        await using var scope = await sharing.ReadAsync(tenantId, cancellation);
        var items = (await sharing.CollaborationsAsync(scope.Connection, cancellation))
            .Where(c => c.IsMember(tenantId) || c.IsInvited(tenantId) || c.ConvenorTenantId == tenantId).Select(c => View(c, tenantId)).ToList();
        return Results.Json(new { items }, Json.Options);
    }

    [WolverineGet("/api/tenants/{tenantId}/collaborations/{collaborationId}", OperationId = "GetCollaboration")]
    [Authorize(Roles = SharingHttp.Roles)]
    public static async Task<IResult> Get(Guid tenantId, Guid collaborationId, HttpContext http, SharingStore sharing, OrganisationStore store,
        CancellationToken cancellation)
    {
        var (standing, refusal) = await SharingHttp.Enter(http, sharing.Streams, store, tenantId, writing: false, cancellation);
        if (refusal is not null) return refusal;
        if (!await Reads(store, standing!, tenantId, cancellation)) return Problem.NotFound("collaboration").ToResult();
        await using var scope = await sharing.ReadAsync(tenantId, cancellation);
        if (await sharing.LoadCollaborationAsync(scope.Connection, collaborationId, cancellation) is not var (c, _)
            || !(c.IsMember(tenantId) || c.IsInvited(tenantId) || c.ConvenorTenantId == tenantId))
            return Problem.NotFound("collaboration").ToResult();
        http.Response.Headers.ETag = TenantHttp.ETag(c.Version);
        return Results.Json(View(c, tenantId), Json.Options);
    }

    public static CollaborationView View(Collaboration c, Guid reader) =>
        new(c.Id, c.Kind, c.Name, c.Charter, c.ConvenorTenantId, c.Open, c.Members.TryGetValue(reader, out var m) ? m.State : "none",
            c.Members.Values.Where(x => x.State is "member" or "invited").OrderBy(x => x.Since).ThenBy(x => x.TenantId)
                .Select(x => new MemberView(x.TenantId, x.State, x.Since)).ToList(), c.CreatedAt, c.Version);

    /// <summary>Collaborations are seen by the tenant's people who manage sharing or read case files.</summary>
    private static Task<bool> Reads(OrganisationStore store, Standing standing, Guid tenant, CancellationToken cancellation) =>
        store.ReadAsync(tenant, g => standing.Everything
                                     || (standing.Scopes is { } scopes ? scopes.Contains("sharing.manage") || scopes.Contains("case.read")
                                         : g.OrganisationsWhere(standing.Principals, "sharing.manage").Count > 0
                                           || g.OrganisationsWhere(standing.Principals, "case.read").Count > 0), cancellation);

    /// <summary>
    /// A command on a collaboration the tenant is a party to (404 otherwise), by someone with sharing.manage at its root:
    /// decided under the convenor's row lock, written to the convenor's stream; recorded in both audit trails when
    /// another tenant acted. A tenant that leaves or is removed has its files withdrawn (in its own transaction).
    /// </summary>
    private static async Task<IResult> Run(Guid tenantId, Guid collaborationId, HttpContext http, SharingStore sharing, OrganisationStore store,
        CrossTenantAccess audit, MessageContext context, string action, Func<Collaboration, Standing, OrgDecision> decide, CancellationToken cancellation)
    {
        var (standing, refusal) = await SharingHttp.Enter(http, sharing.Streams, store, tenantId, writing: true, cancellation);
        if (refusal is not null) return refusal;
        Guid convenor;
        await using (var scope = await sharing.ReadAsync(tenantId, cancellation))
        {
            if (await sharing.LoadCollaborationAsync(scope.Connection, collaborationId, cancellation) is not var (seen, owner)
                || !(seen.IsMember(tenantId) || seen.IsInvited(tenantId)))
                return Problem.NotFound("collaboration").ToResult();
            convenor = owner;
        }
        if (!await SharingHttp.ManagesSharing(store, standing!, tenantId, null, cancellation)) return SharingHttp.MayNotManageSharing().ToResult();
        Collaboration after;
        IReadOnlyList<object> events;
        await using (var tx = await sharing.BeginAsync(context, convenor, cancellation))
        {
            var (current, _) = (await sharing.LoadCollaborationAsync(tx.Connection, collaborationId, cancellation, forUpdate: true))!.Value;
            if (!TenantHttp.TryExpectedVersion(http.Request, out var expected, out var versionError)) return versionError!;
            if (expected is { } v && v != current.Version) return Problem.StaleVersion(v, current.Version).ToResult();
            var decision = decide(current, standing!);
            if (decision.Refusal is not null) return decision.Refusal.ToResult();
            events = decision.Events;
            after = await sharing.SaveCollaborationAsync(tx, current, events, cancellation);
            if (events.Count > 0) await tx.Session.SaveChangesAsync(cancellation);
        }
        foreach (var e in events)
            switch (e)
            {
                case CollaborationMemberLeft left: await WithdrawAsync(sharing, left.TenantId, collaborationId, standing!.Actor, cancellation); break;
                case CollaborationMemberRemoved removed: await WithdrawAsync(sharing, removed.TenantId, collaborationId, Actor.System, cancellation); break;
            }
        if (convenor != tenantId && events.Count > 0)
            await audit.RecordAsync(convenor, tenantId, standing!.Actor, action, "collaboration", collaborationId.ToString(), after.Name, cancellation);
        http.Response.Headers.ETag = TenantHttp.ETag(after.Version);
        return Results.Json(View(after, tenantId), Json.Options);
    }

    /// <summary>Withdraws a departing tenant's files from the collaboration, on each file's stream (visibility already ended with its membership).</summary>
    private static async Task WithdrawAsync(SharingStore sharing, Guid tenant, Guid collaboration, Actor by, CancellationToken cancellation)
    {
        await using var tx = await sharing.BeginAsync(null, tenant, cancellation);
        var files = new List<Guid>();
        await using (var find = SharingStore.Command($"select file_id from {sharing.Schema}.case_shares where tenant_id = $1 and source_id = $2 for update",
                         tx.Connection, tenant.ToString(), collaboration))
        await using (var r = await find.ExecuteReaderAsync(cancellation))
            while (await r.ReadAsync(cancellation)) files.Add(r.GetGuid(0));
        foreach (var id in files)
        {
            var (file, _) = (await sharing.LoadCaseFileAsync(tx.Connection, id, cancellation))!.Value;
            await sharing.SaveCaseFileAsync(tx, file, [new CaseFileUnshared(id, collaboration, by, sharing.Now)], cancellation);
        }
        await tx.Session.SaveChangesAsync(cancellation);
    }
}
