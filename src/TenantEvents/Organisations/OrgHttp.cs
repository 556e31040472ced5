using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Tenants;
using Wolverine.Runtime;

namespace TenantEvents.Organisations;

/// <summary>
/// How a caller stands in a tenant's organisation tree: platform administrators and the tenant's administrators may do
/// everything (the administrator's reach is the whole tenant); auditors, analysts and approvers read; a tenant member
/// holds exactly what its grants (and its groups' grants) give it, at the organisations they were made at and below.
/// </summary>
/// <remarks>
/// A service account (client-credentials token) holds its token's scopes, each a permission, across its whole tenant;
/// nothing else.
/// </remarks>
public sealed record Standing(bool Everything, bool ReadEverything, IReadOnlyCollection<Principal> Principals, Actor Actor,
    IReadOnlySet<string>? Scopes = null)
{
    private static readonly string[] ReadPermissions = [Permissions.OrgRead, Permissions.AccessRead, "member.read"];
    private static readonly string[] SeePermissions = [Permissions.OrgRead, Permissions.OrgManage, Permissions.MemberManage, Permissions.AccessRead];

    public bool Can(AccessGraph graph, string permission, Guid org) =>
        Everything || (ReadEverything && ReadPermissions.Contains(permission))
        || (Scopes is null ? graph.Check(Principals, permission, org) : Scopes.Contains(permission) && graph.Find(org) is not null);

    /// <summary>May know the organisation exists (else it answers 404, never 403).</summary>
    public bool CanSee(AccessGraph graph, Guid org) =>
        Everything || ReadEverything
        || (Scopes is null ? graph.HoldsAny(Principals, SeePermissions, org) : SeePermissions.Any(Scopes.Contains) && graph.Find(org) is not null);

    private static readonly string[] AnyPermission = [.. Permissions.All.Keys];

    /// <summary>
    /// Holds something at the organisation (any permission there, or may see it): where the caller's own calls may be
    /// charged (Quotas/ApiMetering.cs). Naming an organisation one has no business at must not spend its share.
    /// </summary>
    public bool ActsAt(AccessGraph graph, Guid org) =>
        CanSee(graph, org) || (Scopes is null ? graph.HoldsAny(Principals, AnyPermission, org) : Scopes.Count > 0 && graph.Find(org) is not null);

    public static Standing? Of(Caller caller, Guid tenantId)
    {
        if (caller.Has(Roles.PlatformAdmin) || caller.AdministersTenant(tenantId)) return new(true, true, [], caller.Actor);
        if (caller.HasAny(Roles.PlatformWide)) return new(false, true, [], caller.Actor);
        if (!caller.IsMemberOf(tenantId)) return null;
        if (caller.IsService) return new(false, false, [], caller.Actor, Permissions.Effective(caller.Scopes).ToHashSet(StringComparer.Ordinal));
        var principals = new HashSet<Principal> { Principal.OfUser(caller.Actor.Subject) };
        foreach (var group in caller.Groups) principals.Add(Principal.OfGroup(group));
        return new(false, false, principals, caller.Actor);
    }
}

/// <summary>An organisation as the API shows it.</summary>
public sealed record OrganisationView(Guid Id, Guid? ParentId, string? Name, string Kind, string? Jurisdiction, string State, int Depth,
    long Version, IReadOnlyList<Guid>? Ancestors = null);

public sealed record OrganisationPage(IReadOnlyList<OrganisationView> Items, string? NextCursor);

public static class OrgHttp
{
    public const string Roles = $"{Infrastructure.Security.Roles.PlatformAdmin},{Infrastructure.Security.Roles.PlatformApprover}," +
                                $"{Infrastructure.Security.Roles.Auditor},{Infrastructure.Security.Roles.Analyst}," +
                                $"{Infrastructure.Security.Roles.TenantAdmin},{Infrastructure.Security.Roles.TenantMember}";

    public const string WriteRoles = $"{Infrastructure.Security.Roles.PlatformAdmin},{Infrastructure.Security.Roles.TenantAdmin}," +
                                     $"{Infrastructure.Security.Roles.TenantMember}";

    /// <summary>The caller's standing and the tenant, or the answer to give instead (404 unknown or not yours, 410 shredded, 409 not active).</summary>
    public static async Task<(Standing? Standing, IResult? Refusal)> Enter(HttpContext http, TenantStreams streams, OrganisationStore store,
        Guid tenantId, bool writing, CancellationToken cancellation)
    {
        var (refusal, standing) = await ReadCore(http, streams, store, tenantId, (standing, _) => standing, cancellation, writing);
        return (refusal is null ? standing : null, refusal);
    }

    /// <summary>
    /// A read in one round trip to the database when the graph is current: the caller's standing, the tenant's status
    /// and the graph, answered under the graph's lock. 404 for a tenant that is unknown or not the caller's, 410 shredded.
    /// </summary>
    public static async Task<IResult> Read(HttpContext http, TenantStreams streams, OrganisationStore store, Guid tenantId,
        Func<Standing, AccessGraph, IResult> read, CancellationToken cancellation)
    {
        var (refusal, answer) = await ReadCore(http, streams, store, tenantId, read, cancellation);
        return refusal ?? answer!;
    }

    /// <summary>
    /// A read now, or as the tree was (?asOf= / ?asOfVersion=): who may ask is decided on the tree as it is now (a past
    /// grant does not reopen what the caller may no longer see); the answer comes from the tree then.
    /// </summary>
    public static async Task<IResult> ReadAsOf(HttpContext http, TenantStreams streams, OrganisationStore store, Guid tenantId,
        DateTimeOffset? at, long? version, Func<Standing, AccessGraph, Problem?> authorise, Func<AccessGraph, IResult> answer,
        CancellationToken cancellation)
    {
        var now = at is null && version is null;
        var (refusal, result) = await ReadCore(http, streams, store, tenantId,
            (standing, g) => authorise(standing, g) is { } no ? no.ToResult() : now ? answer(g) : null, cancellation);
        if (refusal is not null) return refusal;
        return result ?? answer(await store.AsOfAsync(tenantId, at, version, cancellation));
    }

    /// <summary>The one path every organisation request takes into a tenant: standing, tenant status, graph.</summary>
    public static async Task<(IResult? Refusal, T? Value)> ReadCore<T>(HttpContext http, TenantStreams streams, OrganisationStore store,
        Guid tenantId, Func<Standing, AccessGraph, T> read, CancellationToken cancellation, bool writing = false)
    {
        if (Standing.Of(http.Caller(), tenantId) is not { } standing) return (Problem.NotFound("tenant").ToResult(), default);
        var (status, value) = await store.ReadAsync(tenantId, (status, g) => (status, Usable(status, writing) ? read(standing, g) : default),
            cancellation);
        if (Usable(status, writing)) return (null, value);
        if (!status.Exists) return (Problem.NotFound("tenant").ToResult(), default);
        if (status.Shredded)
        {
            await using var session = streams.Store.QuerySession(tenantId.ToString());
            return (TenantHttp.Gone((await session.LoadAsync<TenantRecord>(tenantId, cancellation))!), default);
        }
        var state = TenantHttp.Kebab(Enum.Parse<TenantState>(status.State!));
        return (new Problem("tenant-not-active", 409, "The tenant's organisations change only while it is active",
            $"The tenant is {state}.").With("currentState", state).ToResult(), default);
    }

    private static bool Usable(TenantStatus status, bool writing) =>
        status.Exists && !status.Shredded && (!writing || status.State == nameof(TenantState.Active));

    /// <summary>
    /// 404 for an organisation the caller may not see (or that does not exist), 403 for one it sees but may not act on
    /// with this permission; null when allowed.
    /// </summary>
    public static Problem? Authorise(Standing standing, AccessGraph graph, string permission, Guid org, string what = "organisation")
    {
        if (graph.Find(org) is null || !standing.CanSee(graph, org)) return Problem.NotFound(what);
        return standing.Can(graph, permission, org) ? null
            : Problem.Forbidden($"You do not hold {permission} at this organisation or above it.").With("permission", permission);
    }

    public static OrganisationView View(OrgNode node, string? name, bool withAncestors = false, AccessGraph? graph = null) =>
        new(node.Id, node.ParentId, name ?? node.Name, node.Kind, node.Jurisdiction, node.Open ? "open" : "closed", node.Depth, node.Version,
            withAncestors && graph is not null ? graph.SelfAndAncestors(node.Id).Skip(1).Select(n => n.Id).Reverse().ToList() : null);

    /// <summary>Runs a command and answers: the refusal, or <paramref name="respond"/> with what was applied.</summary>
    public static async Task<IResult> Command(HttpContext http, TenantStreams streams, OrganisationStore store, MessageContext context, Guid tenantId,
        Func<Standing, AccessGraph, OrgDecision> decide, Func<OrgApplied, Task<IResult>> respond, CancellationToken cancellation,
        Guid? versioned = null)
    {
        var (standing, refusal) = await Enter(http, streams, store, tenantId, writing: true, cancellation);
        if (refusal is not null) return refusal;
        if (!TenantHttp.TryExpectedVersion(http.Request, out var expected, out var error)) return error!;
        var outcome = await store.Execute(context, tenantId, graph =>
        {
            var decision = decide(standing!, graph);
            if (decision.Refusal is null && expected is { } v && versioned is { } org && graph.Find(org) is { } node && node.Version != v)
                return OrgDecision.Refuse(Problem.StaleVersion(v, node.Version));
            return decision;
        }, cancellation);
        return outcome switch
        {
            OrgRefused r => r.Problem.ToResult(),
            OrgApplied a => await respond(a),
            _ => throw new InvalidOperationException(),
        };
    }

    public static bool TryPage(HttpRequest request, TenantEventsOptions options, out int limit, out Guid? cursor, out IResult? error)
    {
        var errors = new List<FieldError>();
        limit = 50;
        cursor = null;
        if (request.Query["limit"].ToString() is { Length: > 0 } l && (!int.TryParse(l, out limit) || limit < 1 || limit > options.MaxPageSize))
            errors.Add(new FieldError("limit", "out-of-range", $"must be a whole number from 1 to {options.MaxPageSize}."));
        if (request.Query["cursor"].ToString() is { Length: > 0 } c)
        {
            if (Guid.TryParse(c, out var g)) cursor = g;
            else errors.Add(new FieldError("cursor", "invalid-cursor", "must be a nextCursor value from a previous page."));
        }
        error = errors.Count > 0 ? Problem.Validation(errors).ToResult() : null;
        return error is null;
    }

    /// <summary>asOf (ISO 8601 time) or asOfVersion (the tenant's access version): time travel; neither: now.</summary>
    public static bool TryAsOf(HttpRequest request, out DateTimeOffset? at, out long? version, out IResult? error)
    {
        at = null;
        version = null;
        error = null;
        if (request.Query["asOf"].ToString() is { Length: > 0 } a)
        {
            if (DateTimeOffset.TryParse(a, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal, out var t)) at = t;
            else error = Problem.Validation("asOf", "invalid-time", "must be an ISO 8601 time, e.g. 2026-11-28T09:00:00Z.").ToResult();
        }
        if (request.Query["asOfVersion"].ToString() is { Length: > 0 } v)
        {
            if (long.TryParse(v, out var n) && n >= 0) version = n;
            else error = Problem.Validation("asOfVersion", "invalid-version", "must be a whole number, 0 or more.").ToResult();
        }
        return error is null;
    }

    /// <summary>The graph now (cached) or as it was.</summary>
    public static async Task<T> Graph<T>(OrganisationStore store, Guid tenantId, DateTimeOffset? at, long? version, Func<AccessGraph, T> read,
        CancellationToken cancellation) =>
        at is null && version is null
            ? await store.ReadAsync(tenantId, read, cancellation)
            : read(await store.AsOfAsync(tenantId, at, version, cancellation));

    public static IEnumerable<OrgNode> Page(IEnumerable<OrgNode> nodes, Guid? cursor, int take) =>
        nodes.Where(n => cursor is null || string.CompareOrdinal(n.Id.ToString("N"), cursor.Value.ToString("N")) > 0)
            .OrderBy(n => n.Id.ToString("N"), StringComparer.Ordinal).Take(take);
}
