namespace TenantEvents.Audit;

/// <summary>
/// The ledger inside PostgreSQL, in every tenant database (applied by `migrate`, as the schema owner):
/// <list type="bullet">
/// <item>audit_log: each tenant's append-only Merkle log. A trigger on mt_events notes every tenant event as pending in
/// the event's own transaction (a rollback leaves nothing); <c>audit_flush</c>, run by the service before every read of
/// the log and every second in the background, gives the pending events of a tenant the next gap-free indexes of its
/// log under the tenant's log lock and stores their RFC 9162 leaf hashes, computed from the rows as stored
/// (<c>audit_leaf_data</c> = <see cref="TenantEvents.Ledger.LedgerLeaf.Data"/>). Appending in batches off the command's
/// transaction is what keeps the ledger's cost per command small (`make bench BENCH_ARGS=--audit`).</item>
/// <item>audit_checkpoints: signed checkpoints (C2SP) of each tenant's log.</item>
/// <item>audit_entries / audit_positions: the audit query model (before, after, JSON Patch), sealed, pruned by retention.</item>
/// </list>
/// The events, the log and the checkpoints are immutable: no UPDATE or DELETE privilege for the service's roles
/// (Infrastructure/Databases/DatabasePrivileges.cs: the service's role appends events and reads the rest; checkpoints are
/// the platform role's, pending entries the trigger's), and a
/// trigger that refuses (and so reports, in PostgreSQL's log) any UPDATE or DELETE by anyone, the owner included.
/// </summary>
public static class AuditSchema
{
    public const string RefusedState = "TE001";

    public static string Sql(string s) => $$"""
        -- (An earlier version counted each log's size in audit_heads; the log's own index does it now.)
        drop table if exists {{s}}.audit_heads;
        create table if not exists {{s}}.audit_log (
          tenant_id varchar(250) not null,
          log_index bigint not null,
          seq_id bigint not null,
          leaf_hash bytea not null,
          primary key (tenant_id, log_index));
        create unique index if not exists audit_log_seq on {{s}}.audit_log (tenant_id, seq_id);
        create table if not exists {{s}}.audit_checkpoints (
          tenant_id varchar(250) not null,
          tree_size bigint not null,
          root_hash bytea not null,
          note text not null,
          created_at timestamptz not null,
          primary key (tenant_id, tree_size));
        create table if not exists {{s}}.audit_positions (
          tenant_id varchar(250) primary key,
          position bigint not null,
          retention_days integer not null);
        create table if not exists {{s}}.audit_entries (
          tenant_id varchar(250) not null,
          log_index bigint not null,
          seq_id bigint not null,
          event_id uuid not null,
          stream_id uuid not null,
          stream_kind text not null,
          version bigint not null,
          type text not null,
          at timestamptz not null,
          actor_subject text,
          actor_kind text,
          actor_tenant uuid,
          client_id text,
          on_behalf_of uuid,
          correlation_id text,
          causation_id text,
          retain_until timestamptz not null,
          key_version integer not null,
          nonce bytea not null,
          ciphertext bytea not null,
          primary key (tenant_id, log_index));
        alter table {{s}}.audit_entries add column if not exists recorded_at timestamptz;
        -- The latest state of every stream as the audit model folded it (the "before" of its next entry); not pruned.
        create table if not exists {{s}}.audit_stream_states (
          tenant_id varchar(250) not null,
          stream_id uuid not null,
          kind text not null,
          version bigint not null,
          key_version integer not null,
          nonce bytea not null,
          ciphertext bytea not null,
          primary key (tenant_id, stream_id));
        create index if not exists audit_entries_at on {{s}}.audit_entries (tenant_id, at);
        create index if not exists audit_entries_stream on {{s}}.audit_entries (tenant_id, stream_id, version);
        create index if not exists audit_entries_actor on {{s}}.audit_entries (tenant_id, actor_subject);
        create index if not exists audit_entries_type on {{s}}.audit_entries (tenant_id, type);
        create index if not exists audit_entries_retention on {{s}}.audit_entries (retain_until);

        create or replace function {{s}}.audit_field(v text) returns text language sql immutable as
          $f$ select case when v is null then E'-\n' else octet_length(v)::text || ':' || v || E'\n' end $f$;

        -- The leaf data of a stored event at a log index (the same bytes as LedgerLeaf.Data; used by checks and tools).
        create or replace function {{s}}.audit_leaf_data(tenant text, idx bigint, e {{s}}.mt_events) returns bytea
          language sql stable as $f$
          select convert_to('tenantevents/audit-leaf/v1' || E'\n'
            || {{s}}.audit_field(tenant) || {{s}}.audit_field(idx::text) || {{s}}.audit_field(e.seq_id::text)
            || {{s}}.audit_field(e.id::text) || {{s}}.audit_field(e.stream_id::text) || {{s}}.audit_field(e.version::text)
            || {{s}}.audit_field(e.type)
            || {{s}}.audit_field(to_char(e.timestamp at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
            || {{s}}.audit_field(e.correlation_id) || {{s}}.audit_field(e.causation_id) || {{s}}.audit_field(e.user_name)
            || {{s}}.audit_field(case when e.headers is null then null else encode(sha256(convert_to(e.headers::text, 'UTF8')), 'hex') end)
            || {{s}}.audit_field(encode(sha256(convert_to(e.data::text, 'UTF8')), 'hex')), 'UTF8')
          $f$;

        -- Events waiting for their place in the log. The trigger only notes each tenant event here (one small insert in
        -- the command's transaction); audit_flush gives them their indexes and leaves, many at a time.
        create table if not exists {{s}}.audit_pending (
          tenant_id varchar(250) not null,
          seq_id bigint not null,
          primary key (tenant_id, seq_id));

        -- Runs as the owner: the service's role may not note (or invent) pending entries itself. A pending entry for an
        -- event already in the log would make every later flush of the tenant fail: the ledger poisoned for good.
        create or replace function {{s}}.audit_append() returns trigger language plpgsql security definer
          set search_path = pg_catalog, pg_temp as $f$
          begin
            -- Tenant events only (Marten's own rows, e.g. tombstones of failed appends, carry no tenant UUID).
            if NEW.tenant_id is not null and length(NEW.tenant_id) = 36 then
              insert into {{s}}.audit_pending (tenant_id, seq_id) values (NEW.tenant_id, NEW.seq_id);
            end if;
            return null;
          end $f$;

        -- Appends a tenant's pending events to its log, in sequence order, under the tenant's log lock: gap-free indexes
        -- (one past the largest, read after the lock is held) and leaves computed here, from the rows as stored. Returns
        -- how many were appended. Runs as the owner: the service's roles cannot write the log themselves.
        create or replace function {{s}}.audit_flush(tenant text) returns bigint language plpgsql security definer
          set search_path = pg_catalog, pg_temp as $f$
          declare base bigint; appended bigint;
          begin
            perform pg_advisory_xact_lock(hashtextextended('tenantevents:audit-log:' || tenant, 0));
            select coalesce(max(l.log_index) + 1, 0) into base from {{s}}.audit_log l where l.tenant_id = tenant;
            with pending as (
              delete from {{s}}.audit_pending p where p.tenant_id = tenant returning p.seq_id),
            numbered as (
              select e as ev, e.seq_id, base + row_number() over (order by e.seq_id) - 1 as idx
              from pending p join {{s}}.mt_events e on e.seq_id = p.seq_id and e.tenant_id = tenant
              where not exists (select 1 from {{s}}.audit_log l where l.tenant_id = tenant and l.seq_id = p.seq_id))
            insert into {{s}}.audit_log (tenant_id, log_index, seq_id, leaf_hash)
            select tenant, n.idx, n.seq_id, sha256('\x00'::bytea || {{s}}.audit_leaf_data(tenant, n.idx, n.ev)) from numbered n;
            get diagnostics appended = row_count;
            return appended;
          end $f$;
        create or replace trigger audit_ledger after insert on {{s}}.mt_events for each row execute function {{s}}.audit_append();

        create or replace function {{s}}.audit_refuse_change() returns trigger language plpgsql as $f$
          begin
            raise exception 'audit ledger: % of a row of %.% by % refused (row %): events, the log and its checkpoints are append-only',
              TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME, session_user, row_to_json(OLD)::text
              using errcode = '{{RefusedState}}';
          end $f$;
        create or replace trigger audit_immutable before update or delete on {{s}}.mt_events
          for each row execute function {{s}}.audit_refuse_change();
        create or replace trigger audit_immutable before update or delete on {{s}}.audit_log
          for each row execute function {{s}}.audit_refuse_change();
        create or replace trigger audit_immutable before update or delete on {{s}}.audit_checkpoints
          for each row execute function {{s}}.audit_refuse_change();
        """;

    /// <summary>
    /// Tenants whose events predate the ledger (a database from before it) get a log of them, in sequence order, when
    /// `migrate` runs. Only tenants without any log entry: an event missing from an existing log stays a finding.
    /// </summary>
    public static string BackfillSql(string s) => $$"""
        insert into {{s}}.audit_pending (tenant_id, seq_id)
        select e.tenant_id, e.seq_id from {{s}}.mt_events e
        where e.tenant_id ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
          and not exists (select 1 from {{s}}.audit_log l where l.tenant_id = e.tenant_id)
        on conflict do nothing;
        select {{s}}.audit_flush(t.tenant_id) from (select distinct tenant_id from {{s}}.audit_pending) t;
        """;
}
