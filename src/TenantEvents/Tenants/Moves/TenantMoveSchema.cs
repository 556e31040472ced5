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

    /// <summary>
    /// Tables not guarded by refuse_moved_rows: the events (their own trigger, events_refuse_moved), the mover's, and what
    /// background work writes for many tenants in one statement (a refusal there would stall every tenant of the
    /// database): analytics (rebuilt from the moved events), the ledger's pending entries, log and query model, deliveries
    /// and their positions (the target goes on from the copied positions: at least once), quota usage counters (a flush
    /// that lands in the old database in the moment of the switch is lost: counts, not records), checkpoints (the target
    /// signs the next), the access high water (its trigger's).
    /// </summary>
    public static readonly IReadOnlySet<string> Unguarded = new HashSet<string>(StringComparer.Ordinal)
    {
        "mt_events", "moved_event_seqs", "access_high_water", "mt_event_projection_floors",
        "analytics_activity", "analytics_tenants", "analytics_event_days", "analytics_record_kinds",
        "audit_pending", "audit_log", "audit_entries", "audit_positions", "audit_stream_states", "audit_checkpoints",
        "webhook_deliveries", "webhook_attempts", "webhook_positions", "broker_positions", "quota_usage", "usage_daily",
    };

    /// <summary>The guard of the events: one statement trigger on insert (they are never updated or deleted).</summary>
    public static string EventsGuardSql(string s) => $$"""
        create or replace trigger events_refuse_moved after insert on {{s}}.mt_events referencing new table as appended
          for each statement execute function {{s}}.events_refuse_moved();
        """;

    /// <summary>The guard of one table (statement triggers: one per operation, each with its transition table).</summary>
    public static string GuardSql(string s, string table, string owner) => $$"""
        create or replace trigger refuse_moved_insert after insert on {{s}}."{{table}}" referencing new table as changed
          for each statement execute function {{s}}.refuse_moved_rows('{{owner}}');
        create or replace trigger refuse_moved_update after update on {{s}}."{{table}}" referencing new table as changed
          for each statement execute function {{s}}.refuse_moved_rows('{{owner}}');
        create or replace trigger refuse_moved_delete after delete on {{s}}."{{table}}" referencing old table as changed
          for each statement execute function {{s}}.refuse_moved_rows('{{owner}}');
        """;

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

        -- Every other table with a tenant_id gets the same guard on insert, update and delete (installed by migrate with
        -- row-level security, DatabaseMigration.SecureAsync: a table added later is guarded too). The schema owner, who
        -- runs the mover and its clean-up, passes.
        create or replace function {{s}}.refuse_moved_rows() returns trigger language plpgsql security definer
          set search_path = pg_catalog, pg_temp as $f$
          begin
            if session_user = TG_ARGV[0] then return null; end if;
            perform pg_advisory_xact_lock_shared(hashtextextended('tenantevents-move:' || t.tenant_id, 0))
            from (select distinct c.tenant_id::text as tenant_id from changed c) t;
            if exists (select 1 from changed c join {{s}}.tenant_moved_away m on m.tenant = c.tenant_id::text) then
              raise exception 'the tenant moved to another database: write there' using errcode = '{{MovedState}}';
            end if;
            return null;
          end $f$;

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
