using Marten;
using Microsoft.AspNetCore.Authorization;
using Npgsql;
using NpgsqlTypes;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Databases;
using TenantEvents.Quotas;
using TenantEvents.Scim;
using TenantEvents.Tenants;
using Wolverine.Http;

namespace TenantEvents.Analytics;

/// <summary>A figure over the last 7 days against the 7 before: rising, steady, falling (±10 %), new (nothing before), none.</summary>
public sealed record Trend(long Last7Days, long Previous7Days, string Direction);

public sealed record QuotaPressure(string Kind, string Mode, long Limit, long Used, long Held, double PercentUsed, int? ThresholdReached, string Level);

public sealed record DeliveryHealth(long Dead, long Retrying, long Pending, DateTimeOffset? OldestWaitingSince);

public sealed record PendingApprovals(int AgreementsOfferedToTenant, int AgreementsAwaitingPartners, int CollaborationInvitations, bool DecommissionAwaitingApproval,
    bool TenantAwaitingApproval)
{
    public int Total => AgreementsOfferedToTenant + AgreementsAwaitingPartners + CollaborationInvitations + (DecommissionAwaitingApproval ? 1 : 0) + (TenantAwaitingApproval ? 1 : 0);
}

public sealed record HealthFinding(string Severity, string Code, string Detail);

public sealed record TenantHealthReport(Guid TenantId, DateTimeOffset At, string State, string Status, IReadOnlyList<HealthFinding> Findings,
    Trend ActiveUsers, Trend Events, IReadOnlyList<QuotaPressure> Quotas, DeliveryHealth Deliveries, PendingApprovals Approvals, ProjectionLag Projection);

/// <summary>The health decisions: pure.</summary>
public static class HealthDecisions
{
    public static Trend TrendOf(long last, long previous) => new(last, previous,
        last == 0 && previous == 0 ? "none"
        : previous == 0 ? "new"
        : last > previous * 1.1 ? "rising"
        : last < previous * 0.9 ? "falling"
        : "steady");

    /// <summary>exceeded at or over the limit; high at or over the tenant's first alert threshold (80 % without one); else ok.</summary>
    public static QuotaPressure Pressure(QuotaUsage q)
    {
        var reached = q.AlertThresholds.Where(t => q.PercentUsed >= t).Cast<int?>().Max();
        var high = q.AlertThresholds.Where(t => t < 100).Cast<int?>().Min() ?? 80;
        var level = q.Limit > 0 && q.Used >= q.Limit ? "exceeded" : q.PercentUsed >= high ? "high" : "ok";
        return new QuotaPressure(q.Kind, q.Mode, q.Limit, q.Used, q.Held, q.PercentUsed, reached, level);
    }

    /// <summary>
    /// What needs attention, most severe first, and the overall status: critical (suspended or being decommissioned, a
    /// hard quota exhausted, deliveries dead), attention (a quota high or an observe-only one over, deliveries retrying,
    /// approvals waiting, activity falling), healthy.
    /// </summary>
    public static (string Status, IReadOnlyList<HealthFinding> Findings) Assess(string state, Trend users, Trend events, IReadOnlyList<QuotaPressure> quotas,
        DeliveryHealth deliveries, PendingApprovals approvals)
    {
        var findings = new List<HealthFinding>();
        void Add(string severity, string code, string detail) => findings.Add(new(severity, code, detail));
        switch (state)
        {
            case "suspended": Add("critical", "tenant-suspended", "The tenant is suspended: its users cannot work."); break;
            case "decommission-scheduled": Add("critical", "decommission-scheduled", "The tenant is scheduled for decommissioning."); break;
            case "decommission-requested": Add("attention", "decommission-requested", "A decommission was requested and awaits a second approval."); break;
            case "requested" or "approved": Add("attention", "not-provisioned", $"The tenant is {state}, not yet provisioned."); break;
        }
        foreach (var q in quotas)
        {
            if (q.Level == "exceeded")
                Add(q.Mode == "hard" ? "critical" : "attention", "quota-exceeded",
                    $"{q.Kind}: {q.Used} of {q.Limit} used ({q.Mode}{(q.Mode == "hard" ? ": further use is refused" : ": over, not refused")}).");
            else if (q.Level == "high") Add("attention", "quota-high", $"{q.Kind}: {q.PercentUsed} % of {q.Limit} used.");
        }
        if (deliveries.Dead > 0) Add("critical", "deliveries-dead", $"{deliveries.Dead} webhook deliveries failed for good; redeliver them once the endpoint is fixed.");
        if (deliveries.Retrying > 0) Add("attention", "deliveries-retrying", $"{deliveries.Retrying} webhook deliveries are being retried.");
        if (approvals.Total > 0) Add("attention", "approvals-pending", $"{approvals.Total} approvals are waiting.");
        if (users.Direction == "falling") Add("attention", "activity-falling", $"Active users fell from {users.Previous7Days} to {users.Last7Days} (7 days against the 7 before).");
        var ordered = findings.OrderBy(f => f.Severity == "critical" ? 0 : 1).ToList();
        var status = ordered.Any(f => f.Severity == "critical") ? "critical" : ordered.Count > 0 ? "attention" : "healthy";
        return (status, ordered);
    }
}

public static class TenantHealthEndpoint
{
    /// <summary>
    /// A tenant's health on one page: lifecycle state; activity trend (active users and events, the last 7 days against
    /// the 7 before); quota pressure per kind; webhook deliveries dead, retrying and waiting; approvals waiting (sharing
    /// agreements offered to or by the tenant, collaboration invitations, a decommission or the tenant itself awaiting
    /// approval); the findings behind an overall status (healthy, attention, critical). Who may see it: as for active users.
    /// </summary>
    [WolverineGet("/api/tenants/{tenantId}/analytics/health", OperationId = "GetTenantHealth")]
    [Authorize(Roles = AnalyticsHttp.Roles)]
    public static async Task<IResult> Get(Guid tenantId, HttpContext http, TenantStreams streams, QuotaLedger quotas, QuotaPolicies policies, ScimStore scim,
        AnalyticsProjector projector, CancellationToken cancellation)
    {
        if (await TenantHttp.InvisibleAsync(http, tenantId, "analytics.read", cancellation) is { } hidden) return hidden;
        TenantRecord? record;
        await using (var session = streams.Store.QuerySession(tenantId.ToString()))
            record = await session.LoadAsync<TenantRecord>(tenantId, cancellation);
        if (record is null) return Problem.NotFound("tenant").ToResult();
        var state = TenantHttp.Kebab(record.State);
        var now = streams.Now;
        var today = DateOnly.FromDateTime(now.UtcDateTime);
        var s = streams.Options.DatabaseSchema;
        long users7 = 0, usersPrev = 0, events7 = 0, eventsPrev = 0;
        DeliveryHealth deliveries;
        PendingApprovals approvals;
        await using (var scope = await TenantReadScope.OpenAsync(streams.Databases, tenantId, cancellation))
        {
            await using (var read = new NpgsqlCommand($"""
                select (select count(distinct user_token) from {s}.analytics_activity where tenant_id = $1 and day between $2 - 6 and $2),
                       (select count(distinct user_token) from {s}.analytics_activity where tenant_id = $1 and day between $2 - 13 and $2 - 7),
                       (select coalesce(sum(events), 0)::bigint from {s}.analytics_event_days where tenant_id = $1 and day between $2 - 6 and $2),
                       (select coalesce(sum(events), 0)::bigint from {s}.analytics_event_days where tenant_id = $1 and day between $2 - 13 and $2 - 7),
                       (select count(*) from {s}.webhook_deliveries where tenant_id = $1 and status = 'dead'),
                       (select count(*) from {s}.webhook_deliveries where tenant_id = $1 and status = 'retrying'),
                       (select count(*) from {s}.webhook_deliveries where tenant_id = $1 and status = 'pending'),
                       (select min(created_at) from {s}.webhook_deliveries where tenant_id = $1 and status in ('pending', 'retrying')),
                       (select count(*)::int from {s}.sharing_agreements where recipient_tenant = $1 and state = 'offered' and expires_at > $3),
                       (select count(*)::int from {s}.sharing_agreements where tenant_id = $1 and state = 'offered' and expires_at > $3),
                       (select count(*)::int from {s}.collaboration_members where member_tenant = $1 and state = 'invited')
                """, scope.Connection, scope.Transaction))
            {
                read.Parameters.Add(new NpgsqlParameter { Value = tenantId.ToString() });
                read.Parameters.Add(new NpgsqlParameter { Value = today, NpgsqlDbType = NpgsqlDbType.Date });
                read.Parameters.Add(new NpgsqlParameter { Value = now });
                await using var reader = await read.ExecuteReaderAsync(cancellation);
                await reader.ReadAsync(cancellation);
                (users7, usersPrev, events7, eventsPrev) = (reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3));
                deliveries = new DeliveryHealth(reader.GetInt64(4), reader.GetInt64(5), reader.GetInt64(6), reader.IsDBNull(7) ? null : reader.GetFieldValue<DateTimeOffset>(7));
                approvals = new PendingApprovals(reader.GetInt32(8), reader.GetInt32(9), reader.GetInt32(10),
                    record.State == TenantState.DecommissionRequested, record.State is TenantState.Requested);
            }
        }
        var usage = await QuotaQueries.NowAsync(tenantId, streams, quotas, policies, scim, cancellation);
        var pressure = usage?.Quotas.Select(HealthDecisions.Pressure).ToList() ?? [];
        var userTrend = HealthDecisions.TrendOf(users7, usersPrev);
        var eventTrend = HealthDecisions.TrendOf(events7, eventsPrev);
        var (status, findings) = HealthDecisions.Assess(state, userTrend, eventTrend, pressure, deliveries, approvals);
        var progress = await projector.ProgressAsync(cancellation);
        return Results.Json(new TenantHealthReport(tenantId, now, state, status, findings, userTrend, eventTrend, pressure, deliveries, approvals,
            ProjectionLag.Of(progress)), Json.Options);
    }
}
