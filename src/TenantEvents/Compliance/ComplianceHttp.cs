using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Keys;
using TenantEvents.Tenants;

namespace TenantEvents.Compliance;

/// <summary>
/// The edge shared by the compliance routes: who may (platform staff, the tenant's administrators, and members holding
/// compliance.read or compliance.manage at the root; anyone else from another tenant sees a 404), the tenant as it is
/// now, and the rules of its jurisdiction.
/// </summary>
public static class ComplianceHttp
{
    public const string Read = "compliance.read", Manage = "compliance.manage";

    /// <summary>Every role that may reach a compliance route (what it may do there is decided by <see cref="EnterAsync"/>).</summary>
    public const string Roles = $"{Infrastructure.Security.Roles.PlatformAdmin},{Infrastructure.Security.Roles.PlatformApprover},{Infrastructure.Security.Roles.Auditor}," +
                                $"{Infrastructure.Security.Roles.Analyst},{Infrastructure.Security.Roles.TenantAdmin},{Infrastructure.Security.Roles.TenantMember}";

    /// <summary>
    /// Reading: platform staff, the tenant's administrators, members with compliance.read at the root. Changing: platform
    /// administrators, the tenant's administrators, members with compliance.manage at the root (an auditor or analyst
    /// reads, and is refused a change with 403). Anyone else: 404, as if the tenant did not exist.
    /// </summary>
    public static async Task<IResult?> EnterAsync(HttpContext http, Guid tenantId, bool write, CancellationToken cancellation)
    {
        var caller = http.Caller();
        if (write && caller.CanSeeTenant(tenantId) && !caller.Has(Infrastructure.Security.Roles.PlatformAdmin) && !caller.AdministersTenant(tenantId))
            return Problem.Forbidden("Platform staff other than administrators read compliance records; they do not change them.").ToResult();
        return await TenantHttp.InvisibleAsync(http, tenantId, write ? Manage : Read, cancellation);
    }

    /// <summary>
    /// The organisations whose case files the handler may read, as the case-file routes decide (Sharing/Visibility.OwnReach):
    /// a package shows the passages of those files only; of the rest, that they name the person. The tenant's
    /// administrators read every file; platform staff none (as everywhere: Audit/ContentDisclosure.cs).
    /// </summary>
    public static async Task<Func<Guid, bool>> CaseReachAsync(HttpContext http, TenantEvents.Organisations.OrganisationStore organisations, Guid tenantId,
        CancellationToken cancellation)
    {
        var caller = http.Caller();
        if (caller.AdministersTenant(tenantId)) return _ => true;
        if (!caller.IsMemberOf(tenantId) || TenantEvents.Organisations.Standing.Of(caller, tenantId) is not { } standing) return _ => false;
        var (whole, orgs) = await organisations.ReadAsync(tenantId, g => Sharing.Visibility.OwnReach(standing, g), cancellation);
        var set = orgs.ToHashSet();
        return org => whole || set.Contains(org);
    }

    /// <summary>The tenant (null: unknown, or shredded) with the rules that apply to it.</summary>
    public static async Task<(Tenant? Tenant, IReadOnlyList<AppliedRule> Rules)> TenantAsync(TenantStreams streams, Guid tenantId, CancellationToken cancellation) =>
        await streams.CurrentAsync(tenantId, cancellation) is { } tenant ? (tenant, Jurisdictions.Catalogue.For(tenant.Residency, tenant.Template)) : (null, []);

    public static object View(DataSubjectRequest r) => new
    {
        id = r.Id, kind = r.Kind, article = RequestKinds.Articles.GetValueOrDefault(r.Kind), subject = r.Subject, channel = r.Channel, state = r.State,
        ruleId = r.RuleId, receivedAt = r.ReceivedAt, firstDueAt = r.FirstDueAt, dueAt = r.DueAt, extended = r.ExtensionReasons is not null,
        extensionReasons = r.ExtensionReasons, overdue = r.Overdue, verification = r.VerificationMethod, verifiedBy = r.VerifiedBy, fulfilledAt = r.FulfilledAt,
        found = r.Found, erased = r.Erased, retained = r.Retained, packageDigest = r.PackageDigest, packageReads = r.Disclosures, notified = r.Notified, erasedRecords = r.ErasedRecords,
        outcome = r.Outcome,
        version = r.Version, createdAt = r.CreatedAt, updatedAt = r.UpdatedAt,
    };

    public static IResult Respond(HttpContext http, DataSubjectRequest r, int status = 200)
    {
        http.Response.Headers.ETag = TenantHttp.ETag(r.Version);
        return Results.Json(View(r), Json.Options, statusCode: status);
    }

    public static IResult Respond(HttpContext http, Incident i, int status = 200)
    {
        http.Response.Headers.ETag = TenantHttp.ETag(i.Version);
        return Results.Json(i, Json.Options, statusCode: status);
    }

    /// <summary>limit (1..MaxPageSize) and cursor of a list, or a 400.</summary>
    public static (int Limit, string? Cursor, IResult? Error) Page(HttpContext http, TenantEventsOptions options)
    {
        var q = http.Request.Query;
        var limit = 50;
        if (q["limit"].ToString() is { Length: > 0 } l && (!int.TryParse(l, out limit) || limit < 1 || limit > options.MaxPageSize))
            return (0, null, Problem.Validation("limit", "out-of-range", $"must be a whole number from 1 to {options.MaxPageSize}.").ToResult());
        var cursor = q["cursor"].ToString() is { Length: > 0 } c ? c : null;
        if (cursor is not null && !CaseFiles.Cursor.TryParse(cursor, out _, out _))
            return (0, null, Problem.Validation("cursor", "invalid-cursor", "must be a nextCursor value from a previous page.").ToResult());
        return (limit, cursor, null);
    }
}

/// <summary>What a step on a record sees: the record (locked), the tenant, its rules, the caller and the time.</summary>
public sealed record ComplianceStep<T>(T Record, Tenant Tenant, IReadOnlyList<AppliedRule> Rules, Actor Actor, DateTimeOffset Now);

/// <summary>How one kind of record is loaded, saved and answered (a data-subject request, an incident).</summary>
/// <param name="Stored">The kind as compliance_records holds it.</param>
/// <param name="States">The states a list may filter by.</param>
public sealed record RecordKind<T>(string Name, string Stored, string Route, IReadOnlyList<string> States,
    Func<ComplianceStore, TenantTransaction, Guid, CancellationToken, Task<T?>> Load,
    Func<ComplianceStore, TenantTransaction, T?, IReadOnlyList<object>, CancellationToken, Task<T>> Save, Func<T, Guid> Id, Func<T, long> Version,
    Func<HttpContext, T, int, IResult> Respond, Func<T, object> View) where T : class
{
    public static readonly RecordKind<DataSubjectRequest> Request = new("data-subject request", "request", "data-subject-requests",
        [RequestStates.Received, RequestStates.Verified, RequestStates.Fulfilled, RequestStates.Refused, RequestStates.Closed],
        (s, tx, id, c) => s.LoadRequestAsync(tx, id, c, forUpdate: true), (s, tx, r, e, c) => s.SaveRequestAsync(tx, r, e, c), r => r.Id, r => r.Version,
        (http, r, status) => ComplianceHttp.Respond(http, r, status), ComplianceHttp.View);

    public static readonly RecordKind<Incident> Incident = new("incident", "incident", "incidents", ["registered", "assessed", "closed"],
        (s, tx, id, c) => s.LoadIncidentAsync(tx, id, c, forUpdate: true), (s, tx, i, e, c) => s.SaveIncidentAsync(tx, i, e, c), i => i.Id, i => i.Version,
        (http, i, status) => ComplianceHttp.Respond(http, i, status), i => i);
}

/// <summary>
/// The one edge of every step on a tenant's data-subject request or incident: the caller's right (compliance.manage),
/// If-Match, the record locked in the tenant's transaction, the step's pure decision, the event appended with the snapshot
/// and the deadlines re-derived, committed together.
/// </summary>
public static class ComplianceEdge
{
    public static async Task<IResult> RunAsync<T>(HttpContext http, ComplianceStore store, RecordKind<T> kind, Guid tenantId, Guid id,
        Func<ComplianceStep<T>, (object? Event, Problem? Refusal)> decide, CancellationToken cancellation) where T : class
    {
        if (await ComplianceHttp.EnterAsync(http, tenantId, write: true, cancellation) is { } refusal) return refusal;
        if (!TenantHttp.TryExpectedVersion(http.Request, out var expected, out var versionError)) return versionError!;
        var (tenant, rules) = await ComplianceHttp.TenantAsync(store.Streams, tenantId, cancellation);
        if (tenant is null) return Problem.NotFound("tenant").ToResult();
        await using var tx = await store.Streams.BeginAsync(null, tenantId, cancellation);
        var record = await kind.Load(store, tx, id, cancellation);
        if (record is null) return Problem.NotFound(kind.Name).ToResult();
        if (expected is { } v && v != kind.Version(record)) return Problem.StaleVersion(v, kind.Version(record)).ToResult();
        var (e, problem) = decide(new ComplianceStep<T>(record, tenant, rules, http.Caller().Actor, store.Now));
        if (problem is not null) return problem.ToResult();
        if (e is null) return kind.Respond(http, record, 200);
        var after = await kind.Save(store, tx, record, [e], cancellation);
        if (!await tx.TryCommitAsync(cancellation)) return Problem.ConcurrentWrite().ToResult();
        return kind.Respond(http, after, 200);
    }

    /// <summary>
    /// A new record of the tenant (after the caller's right and the body were checked): its first event decided from the
    /// tenant and its rules, the bound on open records, written and committed; 201 with its Location.
    /// </summary>
    public static async Task<IResult> CreateAsync<T>(HttpContext http, ComplianceStore store, RecordKind<T> kind, Guid tenantId,
        (int Limit, string Setting, string Code) bound,
        Func<Tenant, IReadOnlyList<AppliedRule>, Actor, DateTimeOffset, (object? Event, IReadOnlyList<FieldError> Errors)> create,
        CancellationToken cancellation) where T : class
    {
        var (tenant, rules) = await ComplianceHttp.TenantAsync(store.Streams, tenantId, cancellation);
        if (tenant is null) return Problem.NotFound("tenant").ToResult();
        var (first, errors) = create(tenant, rules, http.Caller().Actor, store.Now);
        if (first is null) return Problem.Validation(errors).ToResult();
        await using var tx = await store.Streams.BeginAsync(null, tenantId, cancellation);
        if (await BoundAsync(store, tx, kind.Stored, bound.Limit, bound.Setting, bound.Code, cancellation) is { } full) return full.ToResult();
        var record = await kind.Save(store, tx, null, [first], cancellation);
        await tx.CommitAsync(cancellation);
        http.Response.Headers.Location = $"/api/tenants/{tenantId}/{kind.Route}/{kind.Id(record)}";
        return kind.Respond(http, record, 201);
    }

    /// <summary>A page of the tenant's records of a kind, newest first (compliance.read), optionally in one state.</summary>
    public static async Task<IResult> ListAsync<T>(HttpContext http, ComplianceStore store, TenantEventsOptions options, RecordKind<T> kind, Guid tenantId,
        CancellationToken cancellation) where T : class
    {
        if (await ComplianceHttp.EnterAsync(http, tenantId, write: false, cancellation) is { } refusal) return refusal;
        var (limit, cursor, error) = ComplianceHttp.Page(http, options);
        if (error is not null) return error;
        var state = http.Request.Query["state"].ToString() is { Length: > 0 } s ? s : null;
        if (state is not null && !kind.States.Contains(state))
            return Problem.Validation("state", "unknown-state", string.Join(", ", kind.States) + ".").ToResult();
        var (items, next) = await store.PageAsync<T>(tenantId, kind.Stored, state, cursor, limit, cancellation);
        return Results.Json(new { items = items.Select(kind.View), nextCursor = next }, Json.Options);
    }

    /// <summary>Refuses a new record of a kind when the tenant already has as many open as the setting allows.</summary>
    public static async Task<Problem?> BoundAsync(ComplianceStore store, TenantTransaction tx, string kind, int limit, string setting, string code,
        CancellationToken cancellation)
    {
        await using var count = tx.Command($"""
            select count(*) from {store.Schema}.compliance_records where tenant_id = $1 and kind = $2 and state not in ('fulfilled', 'refused', 'closed')
            """, tx.Tenant.ToString(), kind);
        var open = (long)(await count.ExecuteScalarAsync(cancellation))!;
        return open < limit ? null
            : Problem.LimitReached(code, "Too many open " + kind + "s", $"The tenant has {open} open {kind}s; close some first.", limit, setting);
    }
}
