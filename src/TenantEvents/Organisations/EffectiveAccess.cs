using Microsoft.AspNetCore.Authorization;
using TenantEvents.Infrastructure;
using TenantEvents.Tenants;
using Wolverine.Http;

namespace TenantEvents.Organisations;

public sealed record AccessAnswer(bool Allowed, Principal Principal, string Permission, Guid OrganisationId, GrantView? Grant, bool Inherited,
    IReadOnlyList<Guid>? Path);

public sealed record AccessCheck(string? Principal, string? Permission, Guid? OrganisationId, List<string>? Groups);

public sealed record CheckAccess(List<AccessCheck>? Checks);

public sealed record CheckResult(bool Allowed, Guid? GrantId, Guid? GrantedAt);

/// <summary>Effective access: why someone holds a permission at an organisation, many checks at once, and where they hold it.</summary>
public static class EffectiveAccessEndpoints
{
    public const int MaxBatch = 1000;

    /// <summary>
    /// Whether the principal (user:ID or group:ID; with ?groups=a,b the user's groups count too) holds the permission at
    /// the organisation, and why: the grant, where it was made, and the path down from there. ?asOf= / ?asOfVersion= too.
    /// </summary>
    [WolverineGet("/api/tenants/{tenantId}/access/explain", OperationId = "ExplainAccess")]
    [Authorize(Roles = OrgHttp.Roles)]
    public static async Task<IResult> Explain(Guid tenantId, HttpContext http, TenantStreams streams, OrganisationStore store,
        CancellationToken cancellation)
    {
        var q = http.Request.Query;
        var errors = new List<FieldError>();
        var principal = ParsePrincipal("principal", q["principal"], errors);
        var permission = ParsePermission("permission", q["permission"], errors);
        Guid org = Guid.Empty;
        if (!Guid.TryParse(q["organisationId"], out org)) errors.Add(new FieldError("organisationId", "required", "the organisation's id."));
        if (errors.Count > 0) return Problem.Validation(errors).ToResult();
        if (!OrgHttp.TryAsOf(http.Request, out var at, out var version, out var error)) return error!;
        var principals = Principals(principal!, q["groups"].ToString());
        AccessAnswer Answer(AccessGraph g)
        {
            var why = g.Explain(principals, permission!, org);
            IReadOnlyList<Guid>? path = why is null ? null
                : g.SelfAndAncestors(org).Take(why.Distance + 1).Select(n => n.Id).Reverse().ToList();
            return new AccessAnswer(why is not null, principal!, permission!, org, why is null ? null : GrantsEndpoints.View(why.Grant),
                why?.Inherited ?? false, path);
        }

        return await OrgHttp.ReadAsOf(http, streams, store, tenantId, at, version, (standing, g) => AskAbout(standing, g, principal!, org),
            g => g.Find(org) is null ? Problem.NotFound("organisation").ToResult() : Results.Json(Answer(g), Json.Options), cancellation);
    }

    /// <summary>Up to 1,000 (principal, permission, organisation) checks in one call, answered in order.</summary>
    [WolverinePost("/api/tenants/{tenantId}/access/check", OperationId = "CheckAccess")]
    [Authorize(Roles = OrgHttp.Roles)]
    public static async Task<IResult> Check(Guid tenantId, CheckAccess? command, HttpContext http, TenantStreams streams, OrganisationStore store,
        CancellationToken cancellation)
    {
        if (command?.Checks is not { } checks) return Problem.Validation("checks", "required", "a list of {principal, permission, organisationId}.").ToResult();
        if (checks.Count is 0 or > MaxBatch) return Problem.Validation("checks", "out-of-range", $"1 to {MaxBatch} checks.").ToResult();
        var errors = new List<FieldError>();
        var parsed = checks.Select((c, i) =>
        {
            if (c is null) { errors.Add(new FieldError($"checks[{i}]", "required", "a check object.")); return default; }
            var p = ParsePrincipal($"checks[{i}].principal", c.Principal, errors);
            var perm = ParsePermission($"checks[{i}].permission", c.Permission, errors);
            if (c.OrganisationId is null) errors.Add(new FieldError($"checks[{i}].organisationId", "required", "the organisation's id."));
            return (Principal: p, Permission: perm, Org: c.OrganisationId ?? Guid.Empty, Groups: c.Groups);
        }).ToList();
        if (errors.Count > 0) return Problem.Validation(errors).ToResult();
        return await OrgHttp.Read(http, streams, store, tenantId, (standing, g) => Results.Json(new
        {
            results = parsed.Select(c =>
            {
                // What the caller may not ask about answers like what is not allowed: no hint either way.
                if (AskAbout(standing, g, c.Principal!, c.Org) is not null) return new CheckResult(false, null, null);
                var principals = Principals(c.Principal!, string.Join(',', c.Groups ?? []));
                var why = g.Explain(principals, c.Permission!, c.Org);
                return new CheckResult(why is not null, why?.Grant.Id, why?.GrantedAt);
            }).ToList(),
        }, Json.Options), cancellation);
    }

    /// <summary>The organisations where the principal holds the permission (granted there or above), id order, paginated.</summary>
    [WolverineGet("/api/tenants/{tenantId}/access/organisations", OperationId = "ListOrganisationsWithPermission")]
    [Authorize(Roles = OrgHttp.Roles)]
    public static async Task<IResult> Where(Guid tenantId, HttpContext http, TenantStreams streams, OrganisationStore store, TenantEventsOptions options,
        CancellationToken cancellation)
    {
        var (standing, refusal) = await OrgHttp.Enter(http, streams, store, tenantId, writing: false, cancellation);
        if (refusal is not null) return refusal;
        var q = http.Request.Query;
        var errors = new List<FieldError>();
        var principal = ParsePrincipal("principal", q["principal"], errors);
        var permission = ParsePermission("permission", q["permission"], errors);
        if (errors.Count > 0) return Problem.Validation(errors).ToResult();
        if (!OrgHttp.TryPage(http.Request, options, out var limit, out var cursor, out var error)) return error!;
        var principals = Principals(principal!, q["groups"].ToString());
        var page = await store.ReadAsync(tenantId, g =>
        {
            var ids = g.OrganisationsWhere(principals, permission!)
                .Where(id => cursor is null || string.CompareOrdinal(id.ToString("N"), cursor.Value.ToString("N")) > 0)
                .Where(id => AskAbout(standing!, g, principal!, id) is null)
                .Take(limit + 1).ToList();
            return ids.Select(id => g.Find(id)!).ToList();
        }, cancellation);
        var items = page.Take(limit).ToList();
        var names = await store.NamesAsync(tenantId, items.Select(n => n.Id).ToList(), cancellation);
        return Results.Json(new OrganisationPage(items.Select(n => OrgHttp.View(n, names.GetValueOrDefault(n.Id))).ToList(),
            page.Count > limit ? items[^1].Id.ToString() : null), Json.Options);
    }

    /// <summary>Anyone may ask about themselves where they can see; about others only with access.read there.</summary>
    private static Problem? AskAbout(Standing standing, AccessGraph graph, Principal principal, Guid org)
    {
        if (!standing.Knows(graph, org)) return Problem.NotFound("organisation");
        var self = standing.Principals.Contains(principal);
        return self || standing.Can(graph, Permissions.AccessRead, org) ? null
            : Problem.Forbidden("You need access.read here to see another principal's access.").With("permission", Permissions.AccessRead);
    }

    private static HashSet<Principal> Principals(Principal principal, string groups)
    {
        var set = new HashSet<Principal> { principal };
        if (principal.Kind == Principal.User)
            foreach (var g in groups.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)) set.Add(Principal.OfGroup(g));
        return set;
    }

    private static Principal? ParsePrincipal(string field, string? value, List<FieldError> errors)
    {
        var parts = (value ?? "").Split(':', 2);
        if (parts.Length == 2 && parts[0] is Principal.User or Principal.Group && parts[1].Length is > 0 and <= 200)
            return new Principal(parts[0], parts[1]);
        errors.Add(new FieldError(field, "invalid-principal", "user:ID or group:ID."));
        return null;
    }

    private static string? ParsePermission(string field, string? value, List<FieldError> errors)
    {
        if (value is not null && Permissions.IsKnown(value)) return value;
        errors.Add(new FieldError(field, "unknown-permission", $"one of {string.Join(", ", Permissions.All.Keys)}."));
        return null;
    }
}
