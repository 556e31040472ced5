using TenantEvents.Tenants;

namespace TenantEvents.Quotas;

/// <summary>
/// Quota tables, in every tenant database (applied by `migrate`; row-level security on all of them):
/// <list type="bullet">
/// <item>org_quota_allocations: the projection of <see cref="QuotaAllocated"/>, written in the command's transaction.</item>
/// <item>quota_usage: one counter per tenant, kind, period and organisation charged (the tenant as a whole is the
/// empty UUID): <c>used</c> is consumption, <c>held</c> is capacity granted but not yet consumed (an instance's API
/// call lease, an AI compute reservation). Enforcement compares used + held with the limits, so several instances
/// never grant more than the limit between them.</item>
/// <item>usage_daily: usage history per day (API calls, AI compute committed, peak licences), partitioned by month.</item>
/// <item>quota_alerts: which thresholds a period has already raised (so each is raised once).</item>
/// <item>ai_reservations: AI compute reserved, then committed or released, or expired.</item>
/// </list>
/// </summary>
public static class QuotaSchema
{
    public static string Sql(string s) => $$"""
        create table if not exists {{s}}.org_quota_allocations (
          tenant_id varchar(250) not null,
          org_id uuid not null,
          kind text not null,
          guaranteed bigint not null,
          cap bigint,
          set_at timestamptz not null,
          primary key (tenant_id, org_id, kind));
        create table if not exists {{s}}.quota_usage (
          tenant_id varchar(250) not null,
          kind text not null,
          period_start timestamptz not null,
          org_id uuid not null,
          used bigint not null default 0,
          held bigint not null default 0,
          updated_at timestamptz not null,
          primary key (tenant_id, kind, period_start, org_id));
        create table if not exists {{s}}.usage_daily (
          tenant_id varchar(250) not null,
          metric text not null,
          day date not null,
          org_id uuid not null,
          amount bigint not null,
          primary key (tenant_id, metric, day, org_id)) partition by range (day);
        create table if not exists {{s}}.usage_daily_default partition of {{s}}.usage_daily default;
        -- A partition per month from last month to two years ahead; a month whose rows already sit in the default
        -- partition keeps them there (creating its partition would fail).
        do $$ declare m date; n text; begin
          for i in -1..24 loop
            m := (date_trunc('month', now()) + make_interval(months => i))::date;
            n := 'usage_daily_' || to_char(m, 'YYYYMM');
            if not exists (select 1 from pg_class c join pg_namespace ns on ns.oid = c.relnamespace where ns.nspname = '{{s.Trim('"')}}' and c.relname = n)
               and not exists (select 1 from {{s}}.usage_daily_default where day >= m and day < (m + interval '1 month')::date) then
              execute format('create table %I.%I partition of %I.usage_daily for values from (%L) to (%L)',
                '{{s.Trim('"')}}', n, '{{s.Trim('"')}}', m, (m + interval '1 month')::date);
            end if;
          end loop;
        end $$;
        create table if not exists {{s}}.quota_alerts (
          tenant_id varchar(250) not null,
          kind text not null,
          period_start timestamptz not null,
          threshold integer not null,
          used bigint not null,
          quota_limit bigint not null,
          raised_at timestamptz not null,
          primary key (tenant_id, kind, period_start, threshold));
        create table if not exists {{s}}.ai_reservations (
          tenant_id varchar(250) not null,
          id uuid not null,
          org_id uuid not null,
          units bigint not null,
          state text not null,
          period_start timestamptz not null,
          created_at timestamptz not null,
          expires_at timestamptz not null,
          settled_at timestamptz,
          committed_units bigint,
          purpose text,
          actor text not null,
          primary key (tenant_id, id));
        create index if not exists ai_reservations_held on {{s}}.ai_reservations (tenant_id, expires_at) where state = 'held';
        -- Each quota's limit from the moment it took effect (provisioning, every settings change), written in the
        -- transaction of the event: utilisation compares a past period with the limit then in force.
        create table if not exists {{s}}.quota_limits_history (
          tenant_id varchar(250) not null,
          kind text not null,
          since timestamptz not null,
          quota_limit bigint not null,
          primary key (tenant_id, kind, since));
        """;

    /// <summary>
    /// The quota limits as they take effect (provisioning, a settings change; counts only, clear), queued in the command's
    /// transaction, for utilisation against the limit of each period.
    /// </summary>
    public static void RecordLimits(Marten.IDocumentSession session, string schema, Tenant after, IReadOnlyList<object> events, DateTimeOffset now)
    {
        if (!events.Any(e => e is TenantProvisioned or TenantSettingsUpdated)) return;
        foreach (var kind in QuotaKinds.All)
            session.QueueSqlCommand($"""
                insert into {schema}.quota_limits_history (tenant_id, kind, since, quota_limit) values (?, ?, ?, ?)
                on conflict (tenant_id, kind, since) do update set quota_limit = excluded.quota_limit
                """, after.Id.ToString(), kind, now, QuotaKinds.LimitOf(after.Settings.Quotas, kind));
    }

    /// <summary>The tenant's quota state, removed when it is decommissioned (reservation purposes are free text).</summary>
    public static readonly IReadOnlyList<string> TenantState = ["org_quota_allocations", "quota_usage", "quota_alerts", "ai_reservations"];

    /// <summary>Every quota table: the state, and the daily usage and limits history (counts only, kept after a decommission for billing).</summary>
    public static readonly IReadOnlyList<string> Tables = [.. TenantState, "usage_daily", "quota_limits_history"];
}
