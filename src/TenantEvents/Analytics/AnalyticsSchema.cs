namespace TenantEvents.Analytics;

/// <summary>
/// Usage records for analytics, in every tenant database (applied by `migrate`; row-level security like every tenant
/// table). analytics_activity: one row per user, day (UTC) and feature area the user used that day: written at most
/// once (the primary key), in batches, never per request. The user is a blind-index token under the tenant's key, not
/// the user's id: the records say how many, not who, and mean nothing once the tenant is shredded.
/// The event-fed projections (<see cref="AnalyticsProjector"/>), rebuildable from mt_events at any time:
/// analytics_tenants (each tenant's lifecycle state, template, zone, milestones, activity), analytics_event_days
/// (events and new records per tenant and UTC day), analytics_record_kinds (events and records per tenant and record
/// kind); analytics_progress (how far the projector has read, per database) and analytics_holes (sequence numbers
/// skipped because their transaction had not committed yet: read again until they appear or time out). The projector
/// reads events across tenants as the platform role and writes through <c>analytics_apply</c>, which runs as the owner
/// (one call per batch, whatever the number of tenants in it); readers go through row-level security as usual.
/// </summary>
public static class AnalyticsSchema
{
    public static string Sql(string s) => $$"""
        create table if not exists {{s}}.analytics_activity (
          tenant_id varchar(250) not null,
          day date not null,
          user_token text not null,
          feature text not null,
          primary key (tenant_id, day, feature, user_token));
        create index if not exists analytics_activity_users on {{s}}.analytics_activity (tenant_id, day, user_token);
        create table if not exists {{s}}.analytics_tenants (
          tenant_id varchar(250) primary key,
          state text,
          state_version bigint not null default 0,
          template text,
          zone text,
          country text,
          requested_at timestamptz,
          provisioned_at timestamptz,
          decommissioned_at timestamptz,
          first_event_at timestamptz not null,
          last_event_at timestamptz not null,
          events bigint not null);
        create table if not exists {{s}}.analytics_event_days (
          tenant_id varchar(250) not null,
          day date not null,
          events bigint not null,
          records bigint not null,
          primary key (tenant_id, day));
        create table if not exists {{s}}.analytics_record_kinds (
          tenant_id varchar(250) not null,
          kind text not null,
          events bigint not null,
          records bigint not null,
          primary key (tenant_id, kind));
        create table if not exists {{s}}.analytics_progress (
          projection text primary key,
          position bigint not null,
          events bigint not null,
          last_event_at timestamptz,
          updated_at timestamptz not null,
          rebuilt_at timestamptz);
        insert into {{s}}.analytics_progress (projection, position, events, updated_at) values ('analytics', 0, 0, now()) on conflict do nothing;
        create table if not exists {{s}}.analytics_holes (
          seq_id bigint primary key,
          noticed_at timestamptz not null);

        -- One batch of the projector, in its transaction: add the batch's counts, fold its tenants, note holes, move on.
        create or replace function {{s}}.analytics_apply(p_position bigint, p_events bigint, p_last_event timestamptz, p_now timestamptz,
            p_holes bigint[], p_settled bigint[],
            d_tenant text[], d_day date[], d_events bigint[], d_records bigint[],
            k_tenant text[], k_kind text[], k_events bigint[], k_records bigint[],
            t_tenant text[], t_state text[], t_version bigint[], t_template text[], t_zone text[], t_country text[],
            t_requested timestamptz[], t_provisioned timestamptz[], t_decommissioned timestamptz[], t_first timestamptz[], t_last timestamptz[],
            t_events bigint[])
          returns void language sql security definer set search_path = pg_catalog as $f$
          insert into {{s}}.analytics_event_days as a (tenant_id, day, events, records)
          select * from unnest(d_tenant, d_day, d_events, d_records)
          on conflict (tenant_id, day) do update set events = a.events + excluded.events, records = a.records + excluded.records;
          insert into {{s}}.analytics_record_kinds as a (tenant_id, kind, events, records)
          select * from unnest(k_tenant, k_kind, k_events, k_records)
          on conflict (tenant_id, kind) do update set events = a.events + excluded.events, records = a.records + excluded.records;
          insert into {{s}}.analytics_tenants as a (tenant_id, state, state_version, template, zone, country, requested_at, provisioned_at,
            decommissioned_at, first_event_at, last_event_at, events)
          select * from unnest(t_tenant, t_state, t_version, t_template, t_zone, t_country, t_requested, t_provisioned, t_decommissioned,
            t_first, t_last, t_events)
          on conflict (tenant_id) do update set
            state = case when excluded.state_version > a.state_version then excluded.state else a.state end,
            state_version = greatest(a.state_version, excluded.state_version),
            template = coalesce(a.template, excluded.template), zone = coalesce(a.zone, excluded.zone), country = coalesce(a.country, excluded.country),
            requested_at = least(a.requested_at, excluded.requested_at), provisioned_at = least(a.provisioned_at, excluded.provisioned_at),
            decommissioned_at = least(a.decommissioned_at, excluded.decommissioned_at),
            first_event_at = least(a.first_event_at, excluded.first_event_at), last_event_at = greatest(a.last_event_at, excluded.last_event_at),
            events = a.events + excluded.events;
          delete from {{s}}.analytics_holes where seq_id = any(p_settled);
          insert into {{s}}.analytics_holes (seq_id, noticed_at) select unnest(p_holes), p_now on conflict do nothing;
          update {{s}}.analytics_progress set position = greatest(position, p_position), events = events + p_events,
            last_event_at = greatest(last_event_at, p_last_event), updated_at = p_now where projection = 'analytics';
          $f$;

        -- A rebuild starts here: every projected row of every tenant in this database goes, the projector reads from the start.
        create or replace function {{s}}.analytics_reset(p_now timestamptz) returns void language sql security definer
          set search_path = pg_catalog as $f$
          delete from {{s}}.analytics_event_days;
          delete from {{s}}.analytics_record_kinds;
          delete from {{s}}.analytics_tenants;
          delete from {{s}}.analytics_holes;
          update {{s}}.analytics_progress set position = 0, events = 0, last_event_at = null, updated_at = p_now, rebuilt_at = p_now
          where projection = 'analytics';
          $f$;
        """;

    /// <summary>The event-fed projections and the projector's list of awaited sequence numbers (what a rebuild empties).</summary>
    public static readonly IReadOnlyList<string> Projections = ["analytics_tenants", "analytics_event_days", "analytics_record_kinds", "analytics_holes"];

    /// <summary>What a decommission deletes: the activity records. The event-fed projections stay (counts, state, template: no
    /// personal data), as the events they are rebuilt from do: the estate still shows the tenant existed and ended.</summary>
    public static readonly IReadOnlyList<string> TenantState = ["analytics_activity"];
}
