namespace TenantEvents.Tenants.Moves;

/// <summary>
/// Tenants-track migration 3: what a tenant's move between databases needs in every database (TenantMove).
/// <list type="bullet">
/// <item>tenant_moved_away: a tenant whose data went to another database. From the moment its row is committed, no event
/// of the tenant is appended here any more (a statement trigger on mt_events refuses them with SQLSTATE TE002, which the
/// service answers 503 Retry-After). The trigger takes a shared per-tenant lock that the mover takes exclusively while it
/// writes the row, so an append in flight is either committed before the move starts or refused.</item>
/// <item>moved_event_seqs: a moved event gets a new sequence number where it lands; its ledger leaf commits to the number
/// it had when it was appended. The leaf is computed with that one (audit_leaf_data), so the moved log verifies as it
/// did, and so does everything appended after it.</item>
/// </list>
/// </summary>
public static class TenantMoveSchema
{
    public const string MovedState = "TE002";

    public static string Sql(string s) => $$"""
        create table if not exists {{s}}.tenant_moved_away (
          tenant text primary key,
          to_database text not null,
          moved_at timestamptz not null default clock_timestamp());
        create table if not exists {{s}}.moved_event_seqs (
          tenant_id varchar(250) not null,
          seq_id bigint not null,
          leaf_seq bigint not null,
          primary key (tenant_id, seq_id));

        create or replace function {{s}}.events_refuse_moved() returns trigger language plpgsql security definer
          set search_path = pg_catalog, pg_temp as $f$
          begin
            perform pg_advisory_xact_lock_shared(hashtextextended('tenantevents-move:' || t.tenant_id, 0))
            from (select distinct a.tenant_id from appended a) t;
            if exists (select 1 from appended a join {{s}}.tenant_moved_away m on m.tenant = a.tenant_id) then
              raise exception 'the tenant moved to another database: append there' using errcode = '{{MovedState}}';
            end if;
            return null;
          end $f$;
        create or replace trigger events_refuse_moved after insert on {{s}}.mt_events referencing new table as appended
          for each statement execute function {{s}}.events_refuse_moved();

        create or replace function {{s}}.audit_leaf_data(tenant text, idx bigint, e {{s}}.mt_events) returns bytea
          language sql stable as $f$
          select convert_to('tenantevents/audit-leaf/v1' || E'\n'
            || {{s}}.audit_field(tenant) || {{s}}.audit_field(idx::text)
            || {{s}}.audit_field(coalesce((select m.leaf_seq from {{s}}.moved_event_seqs m where m.tenant_id = e.tenant_id and m.seq_id = e.seq_id),
                                          e.seq_id)::text)
            || {{s}}.audit_field(e.id::text) || {{s}}.audit_field(e.stream_id::text) || {{s}}.audit_field(e.version::text)
            || {{s}}.audit_field(e.type)
            || {{s}}.audit_field(to_char(e.timestamp at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
            || {{s}}.audit_field(e.correlation_id) || {{s}}.audit_field(e.causation_id) || {{s}}.audit_field(e.user_name)
            || {{s}}.audit_field(case when e.headers is null then null else encode(sha256(convert_to(e.headers::text, 'UTF8')), 'hex') end)
            || {{s}}.audit_field(encode(sha256(convert_to(e.data::text, 'UTF8')), 'hex')), 'UTF8')
          $f$;
        """;
}
