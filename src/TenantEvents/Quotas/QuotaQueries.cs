using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.Authorization;
using Npgsql;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Databases;
using TenantEvents.Organisations;
using TenantEvents.Scim;
using TenantEvents.Tenants;
using Wolverine.Http;

namespace TenantEvents.Quotas;

public sealed record OrganisationUsage(Guid? OrganisationId, long Used, long Held);

public sealed record AllocationUsage(Guid OrganisationId, long Guaranteed, long? Cap, Guid? CarvedOutOf, long Load, long Free);

/// <summary>One quota now: limit, mode, period, what is used and held, and how it is spread over the organisations.</summary>
public sealed record QuotaUsage(string Kind, string Unit, long Limit, string Mode, IReadOnlyList<int> AlertThresholds, DateTimeOffset PeriodStart,
    DateTimeOffset ResetAt, long Used, long Held, long Remaining, double PercentUsed, IReadOnlyList<AllocationUsage> Allocations,
    IReadOnlyList<OrganisationUsage> ByOrganisation);

public sealed record TenantQuotaUsage(Guid TenantId, DateTimeOffset At, IReadOnlyList<QuotaUsage> Quotas);

public sealed record UsageDay(DateOnly Day, long Amount);

public sealed record UsageHistory(Guid TenantId, string Metric, Guid? OrganisationId, DateOnly From, DateOnly To, IReadOnlyList<UsageDay> Days);

public sealed record QuotaAlert(string Kind, DateTimeOffset PeriodStart, int Threshold, long Used, long Limit, DateTimeOffset RaisedAt);

/// <summary>
/// Usage against limits, per tenant and organisation; daily usage history (JSON or CSV); the alerts raised. For the
/// platform's staff, the tenant's administrators, and members holding billing.read at the root.
/// </summary>
public static class QuotaQueries
{
    public const string Permission = "billing.read";

    /// <summary>The answer to give instead of the tenant's usage (404, 410, 403 without billing.read at the root); one look at the graph.</summary>
    private static async Task<IResult?> Refuse(HttpContext http, TenantStreams streams, OrganisationStore store, Guid tenantId, CancellationToken cancellation)
    {
        var (refusal, forbidden) = await OrgHttp.ReadCore(http, streams, store, tenantId, (standing, g) =>
            standing.Everything || standing.ReadEverything || (g.Root is { } root && standing.Can(g, Permission, root)) ? null
                : Problem.Forbidden($"Reading the tenant's usage needs {Permission} at its root organisation.").With("permission", Permission),
            cancellation);
        return refusal ?? forbidden?.ToResult();
    }

    [WolverineGet("/api/tenants/{tenantId}/quotas", OperationId = "GetQuotaUsage")]
    [Authorize(Roles = OrgHttp.Roles)]
    public static async Task<IResult> Usage(Guid tenantId, HttpContext http, TenantStreams streams, OrganisationStore store, QuotaLedger quotas, QuotaPolicies policies,
        ScimStore scim, CancellationToken cancellation)
    {
        if (await Refuse(http, streams, store, tenantId, cancellation) is { } no) return no;
        return await NowAsync(tenantId, streams, quotas, policies, scim, cancellation) is { } usage ? Results.Json(usage, Json.Options) : Problem.NotFound("tenant").ToResult();
    }

    /// <summary>Every quota of the tenant now (limit, used, held, allocations); null if the tenant has no quota policy (unknown, gone).</summary>
    public static async Task<TenantQuotaUsage?> NowAsync(Guid tenantId, TenantStreams streams, QuotaLedger quotas, QuotaPolicies policies, ScimStore scim, CancellationToken cancellation)
    {
        if (await policies.PolicyAsync(tenantId, cancellation, fresh: true) is not { } policy) return null;
        var counters = await quotas.CountersAsync(tenantId, cancellation);
        var active = await scim.ReadAsync(tenantId, s => s.ActiveUsers, cancellation);
        var now = streams.Now;
        var list = new List<QuotaUsage>();
        foreach (var kind in QuotaKinds.All)
        {
            var limit = policy.Limit(kind);
            var (start, end) = QuotaKinds.PeriodAt(kind, now);
            var tree = policy.Trees[kind];
            var rows = counters.GetValueOrDefault(kind) ?? new Dictionary<Guid, (long Used, long Held)>();
            long used = kind == QuotaKinds.Licences ? active : rows.Values.Sum(r => r.Used);
            long held = rows.Values.Sum(r => r.Held);
            var loads = tree.Loads(rows.ToDictionary(r => r.Key, r => r.Value.Used + r.Value.Held));
            var allocations = tree.Shares.Values.OrderBy(s => s.OrganisationId)
                .Select(s => new AllocationUsage(s.OrganisationId, s.Guaranteed, s.Cap, tree.AllocatedParentOf(s.OrganisationId),
                    loads.GetValueOrDefault(s.OrganisationId), tree.Free(s.OrganisationId, loads)))
                .ToList();
            list.Add(new QuotaUsage(kind, QuotaKinds.UnitOf(kind), limit, QuotaKinds.ModeName(policy.Mode(kind)), policy.Quotas.AlertThresholds, start, end,
                used, held, Math.Max(0, limit - used - held), limit == 0 ? 0 : Math.Round(100.0 * used / limit, 2), allocations,
                rows.OrderBy(r => r.Key).Select(r => new OrganisationUsage(r.Key == Guid.Empty ? null : r.Key, r.Value.Used, r.Value.Held)).ToList()));
        }
        return new TenantQuotaUsage(tenantId, now, list);
    }

    /// <summary>
    /// Daily usage: metric apiCalls (calls), aiCompute (units committed) or licences (the day's peak of active users),
    /// from..to (UTC dates, at most 366 days; default the last 30), optionally of one organisation; CSV with
    /// format=csv or Accept: text/csv.
    /// </summary>
    [WolverineGet("/api/tenants/{tenantId}/quotas/history", OperationId = "GetUsageHistory")]
    [Authorize(Roles = OrgHttp.Roles)]
    public static async Task<IResult> History(Guid tenantId, HttpContext http, TenantStreams streams, OrganisationStore store, QuotaLedger quotas,
        CancellationToken cancellation)
    {
        if (await Refuse(http, streams, store, tenantId, cancellation) is { } no) return no;
        var query = http.Request.Query;
        var errors = new List<FieldError>();
        var metric = query["metric"].ToString() is { Length: > 0 } m ? m : "apiCalls";
        if (!QuotaKinds.Metrics.Contains(metric))
            errors.Add(new FieldError("metric", "unknown-metric", $"'{metric}' is not a usage metric (known: {string.Join(", ", QuotaKinds.Metrics)})."));
        var today = DateOnly.FromDateTime(streams.Now.UtcDateTime);
        var to = Date(query["to"], "to", today, errors);
        var from = Date(query["from"], "from", to.DayNumber >= 29 ? to.AddDays(-29) : DateOnly.MinValue, errors);
        if (errors.Count == 0 && from > to) errors.Add(new FieldError("from", "after-to", "must not be after to."));
        if (errors.Count == 0 && to.DayNumber - from.DayNumber >= 366) errors.Add(new FieldError("from", "range-too-long", "from..to may span at most 366 days."));
        Guid? org = null;
        if (query["organisationId"].ToString() is { Length: > 0 } o)
        {
            if (Guid.TryParse(o, out var id)) org = id;
            else errors.Add(new FieldError("organisationId", "invalid-id", "must be an organisation's UUID."));
        }
        var format = query["format"].ToString();
        if (format is { Length: > 0 } and not ("json" or "csv")) errors.Add(new FieldError("format", "unknown-format", "must be json or csv."));
        if (errors.Count > 0) return Problem.Validation(errors).ToResult();
        if (org is { } wanted && !await store.ReadAsync(tenantId, g => g.Find(wanted) is not null, cancellation))
            return Problem.NotFound("organisation").ToResult();

        await quotas.FlushAsync(cancellation, tenantId);
        var amounts = new Dictionary<DateOnly, long>();
        await using (var scope = await TenantReadScope.OpenAsync(streams.Databases, tenantId, cancellation))
        {
            await using var read = new NpgsqlCommand($"""
                select day, {(metric == "licences" ? "max" : "sum")}(amount)::bigint from {streams.Options.DatabaseSchema}.usage_daily
                where metric = $1 and day between $2 and $3 {(org is null ? "" : "and org_id = $4")} group by day
                """, scope.Connection, scope.Transaction);
            read.Parameters.Add(new NpgsqlParameter { Value = metric });
            read.Parameters.Add(new NpgsqlParameter { Value = from });
            read.Parameters.Add(new NpgsqlParameter { Value = to });
            if (org is { } id) read.Parameters.Add(new NpgsqlParameter { Value = id });
            await using var reader = await read.ExecuteReaderAsync(cancellation);
            while (await reader.ReadAsync(cancellation)) amounts[reader.GetFieldValue<DateOnly>(0)] = reader.GetInt64(1);
        }
        var days = Enumerable.Range(0, to.DayNumber - from.DayNumber + 1).Select(i => from.AddDays(i))
            .Select(d => new UsageDay(d, amounts.GetValueOrDefault(d))).ToList();
        var csv = format == "csv" || (format.Length == 0 && http.Request.GetTypedHeaders().Accept.Any(a => a.MediaType == "text/csv"));
        if (!csv) return Results.Json(new UsageHistory(tenantId, metric, org, from, to, days), Json.Options);
        var text = new StringBuilder(CsvText.Row(["day", "metric", "amount"]));
        foreach (var d in days) text.Append(CsvText.Row([d.Day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture), metric, d.Amount]));
        return Results.Text(text.ToString(), "text/csv; charset=utf-8");
    }

    /// <summary>The thresholds each quota has reached, newest first (one per threshold per period).</summary>
    [WolverineGet("/api/tenants/{tenantId}/quotas/alerts", OperationId = "GetQuotaAlerts")]
    [Authorize(Roles = OrgHttp.Roles)]
    public static async Task<IResult> Alerts(Guid tenantId, HttpContext http, TenantStreams streams, OrganisationStore store, CancellationToken cancellation)
    {
        if (await Refuse(http, streams, store, tenantId, cancellation) is { } no) return no;
        var kind = http.Request.Query["kind"].ToString();
        if (kind.Length > 0 && !QuotaKinds.IsKnown(kind))
            return Problem.Validation("kind", "unknown-quota-kind", $"'{kind}' is not a quota kind (known: {string.Join(", ", QuotaKinds.All)}).").ToResult();
        var alerts = new List<QuotaAlert>();
        await using (var scope = await TenantReadScope.OpenAsync(streams.Databases, tenantId, cancellation))
        {
            await using var read = new NpgsqlCommand($"""
                select kind, period_start, threshold, used, quota_limit, raised_at from {streams.Options.DatabaseSchema}.quota_alerts
                where $1 = '' or kind = $1 order by raised_at desc, kind, threshold desc limit 1000
                """, scope.Connection, scope.Transaction);
            read.Parameters.Add(new NpgsqlParameter { Value = kind });
            await using var reader = await read.ExecuteReaderAsync(cancellation);
            while (await reader.ReadAsync(cancellation))
                alerts.Add(new QuotaAlert(reader.GetString(0), reader.GetFieldValue<DateTimeOffset>(1), reader.GetInt32(2), reader.GetInt64(3),
                    reader.GetInt64(4), reader.GetFieldValue<DateTimeOffset>(5)));
        }
        return Results.Json(new { items = alerts }, Json.Options);
    }

    private static DateOnly Date(Microsoft.Extensions.Primitives.StringValues value, string field, DateOnly fallback, List<FieldError> errors)
    {
        if (value.ToString() is not { Length: > 0 } text) return fallback;
        if (DateOnly.TryParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var day)) return day;
        errors.Add(new FieldError(field, "invalid-date", "must be a date, yyyy-MM-dd (UTC)."));
        return fallback;
    }
}

/// <summary>One quota as an organisation sees it: its own share (if any), where its usage is charged, and what it may still use.</summary>
public sealed record OrganisationQuota(string Kind, string Unit, long? Guaranteed, long? Cap, Guid? CarvedOutOf, Guid? ChargedTo, long Load, long Free,
    long UsedBySubtree, long HeldBySubtree, DateTimeOffset PeriodStart, DateTimeOffset ResetAt);

public sealed record OrganisationQuotaUsage(Guid TenantId, Guid OrganisationId, DateTimeOffset At, IReadOnlyList<OrganisationQuota> Quotas);

public static class OrganisationQuotaQueries
{
    /// <summary>
    /// An organisation's quotas, for its own administrators: its share, the allocated node it is charged to (itself, an
    /// ancestor, or the tenant: null), that node's load, what the organisation may still use, and what its subtree used
    /// and holds this period. Needs billing.read or quota.manage at the organisation or above (404 for one you cannot see).
    /// </summary>
    [WolverineGet("/api/tenants/{tenantId}/organisations/{orgId}/quotas", OperationId = "GetOrganisationQuotaUsage")]
    [Authorize(Roles = OrgHttp.Roles)]
    public static async Task<IResult> Get(Guid tenantId, Guid orgId, HttpContext http, TenantStreams streams, OrganisationStore store, QuotaLedger quotas, QuotaPolicies policies,
        CancellationToken cancellation)
    {
        var (refusal, answer) = await OrgHttp.ReadCore(http, streams, store, tenantId, (standing, g) =>
        {
            if (g.Find(orgId) is null || !standing.CanSee(g, orgId)) return ((Problem?)Problem.NotFound("organisation"), (HashSet<Guid>?)null);
            if (!standing.Everything && !standing.ReadEverything && !standing.Can(g, QuotaQueries.Permission, orgId) && !standing.Can(g, "quota.manage", orgId))
                return (Problem.Forbidden($"Reading an organisation's quotas needs {QuotaQueries.Permission} or quota.manage there or above.")
                    .With("permission", QuotaQueries.Permission), (HashSet<Guid>?)null);
            return ((Problem?)null, (HashSet<Guid>?)g.SelfAndDescendants(orgId).Select(n => n.Id).ToHashSet());
        }, cancellation);
        if (refusal is not null) return refusal;
        var (problem, subtree) = answer;
        if (problem is not null) return problem.ToResult();
        if (await policies.PolicyAsync(tenantId, cancellation, fresh: true) is not { } policy) return Problem.NotFound("tenant").ToResult();
        var counters = await quotas.CountersAsync(tenantId, cancellation);
        var now = streams.Now;
        var list = new List<OrganisationQuota>();
        foreach (var kind in QuotaKinds.Allocatable)
        {
            var tree = policy.Trees[kind];
            var rows = counters[kind];
            var loads = tree.Loads(rows.ToDictionary(r => r.Key, r => r.Value.Used + r.Value.Held));
            var share = tree.Shares.GetValueOrDefault(orgId);
            var anchor = tree.AnchorOf(orgId);
            var (start, end) = QuotaKinds.PeriodAt(kind, now);
            list.Add(new OrganisationQuota(kind, QuotaKinds.UnitOf(kind), share?.Guaranteed, share?.Cap, share is null ? null : tree.AllocatedParentOf(orgId),
                anchor, loads.GetValueOrDefault(anchor ?? Guid.Empty), tree.Free(orgId, loads),
                rows.Where(r => subtree!.Contains(r.Key)).Sum(r => r.Value.Used), rows.Where(r => subtree!.Contains(r.Key)).Sum(r => r.Value.Held), start, end));
        }
        return Results.Json(new OrganisationQuotaUsage(tenantId, orgId, now, list), Json.Options);
    }
}
