namespace TenantEvents.Delivery;

/// <summary>
/// Event delivery, in every tenant database (applied by `migrate`); every table carries tenant_id and so gets the
/// tenant row-level security policy. The subscriber owns its rows: a tenant's webhooks and their deliveries live in the
/// tenant's database; the platform's (tenant_id 'platform') in the main one.
/// <list type="bullet">
/// <item>webhook_subscriptions: endpoint, event-type filter, signing secret (sealed under the tenant's key, or wrapped
/// by a platform key), state.</item>
/// <item>webhook_positions: per source tenant, the next index of its log (the audit log: gap-free, in commit order,
/// per-stream order kept) to fan out to the subscriptions.</item>
/// <item>broker_positions: per source tenant, the next index of its log to publish to RabbitMQ (when configured).</item>
/// <item>webhook_deliveries: one per event and subscription, the durable outbox of the webhooks: pending, retrying,
/// delivered, dead (after the last attempt) or cancelled; webhook_attempts: every try with its answer.</item>
/// </list>
/// A statement trigger on mt_events notifies tenantevents_events with the tenant of every commit that appended events,
/// so deliveries and the server-sent-events stream start within milliseconds instead of at the next poll.
/// </summary>
public static class DeliverySchema
{
    public const string Channel = "tenantevents_events";
    public const string PlatformOwner = "platform";

    public static string Sql(string s) => $$"""
        create table if not exists {{s}}.webhook_subscriptions (
          tenant_id varchar(250) not null,
          id uuid not null,
          url text not null,
          description text not null,
          types text[] not null,
          state text not null,
          secret_key_version integer not null,
          secret_nonce bytea not null,
          secret_ciphertext bytea not null,
          secret_kek text,
          version bigint not null,
          created_at timestamptz not null,
          updated_at timestamptz not null,
          created_by text,
          primary key (tenant_id, id));
        create table if not exists {{s}}.webhook_positions (
          tenant_id varchar(250) primary key,
          position bigint not null);
        create table if not exists {{s}}.broker_positions (
          tenant_id varchar(250) primary key,
          position bigint not null);
        create table if not exists {{s}}.webhook_deliveries (
          tenant_id varchar(250) not null,
          id uuid not null,
          subscription_id uuid not null,
          source_tenant uuid not null,
          log_index bigint not null,
          seq_id bigint not null,
          event_id uuid not null,
          stream_id uuid not null,
          event_type text not null,
          status text not null,
          attempts integer not null,
          attempt_base integer not null,
          next_attempt_at timestamptz not null,
          created_at timestamptz not null,
          delivered_at timestamptz,
          last_status integer,
          last_error text,
          primary key (tenant_id, id));
        create unique index if not exists webhook_deliveries_event on {{s}}.webhook_deliveries (subscription_id, source_tenant, log_index);
        create index if not exists webhook_deliveries_due on {{s}}.webhook_deliveries (next_attempt_at) where status in ('pending', 'retrying');
        create index if not exists webhook_deliveries_chain on {{s}}.webhook_deliveries (subscription_id, source_tenant, stream_id, log_index)
          where status in ('pending', 'retrying');
        create index if not exists webhook_deliveries_history on {{s}}.webhook_deliveries (tenant_id, subscription_id, log_index desc);
        create table if not exists {{s}}.webhook_attempts (
          tenant_id varchar(250) not null,
          delivery_id uuid not null,
          attempt integer not null,
          at timestamptz not null,
          status_code integer,
          error text,
          duration_ms integer not null,
          primary key (tenant_id, delivery_id, attempt));

        -- Where fan-out starts for tenants nobody was delivered to, when the platform's first subscription is made: the
        -- current end of their logs (it receives what happens from now on, not the past). Runs as the owner: it spans
        -- every tenant.
        create or replace function {{s}}.webhook_start_positions() returns void language sql security definer
          set search_path = pg_catalog as $f$
          select {{s}}.audit_flush(t.tenant_id) from (select distinct tenant_id from {{s}}.audit_pending) t;
          insert into {{s}}.webhook_positions (tenant_id, position)
          select l.tenant_id, max(l.log_index) + 1 from {{s}}.audit_log l group by l.tenant_id
          on conflict (tenant_id) do update set position = greatest({{s}}.webhook_positions.position, excluded.position)
          where not exists (select 1 from {{s}}.webhook_subscriptions s where s.tenant_id = excluded.tenant_id) $f$;

        -- Where publishing to the broker starts the first time one is configured: every tenant's log's end (the broker
        -- gets what happens from then on). Later, a tenant without a position is new and starts at its first event.
        create or replace function {{s}}.broker_start_positions() returns void language sql security definer
          set search_path = pg_catalog as $f$
          select {{s}}.audit_flush(t.tenant_id) from (select distinct tenant_id from {{s}}.audit_pending) t
          where not exists (select 1 from {{s}}.broker_positions);
          insert into {{s}}.broker_positions (tenant_id, position)
          select l.tenant_id, max(l.log_index) + 1 from {{s}}.audit_log l
          where not exists (select 1 from {{s}}.broker_positions) group by l.tenant_id
          union all select 'started', 0 where not exists (select 1 from {{s}}.broker_positions) $f$;

        create or replace function {{s}}.events_notify() returns trigger language plpgsql as $f$
          declare t text;
          begin
            for t in select distinct n.tenant_id from appended n where n.tenant_id is not null and length(n.tenant_id) = 36 loop
              perform pg_notify('{{Channel}}', t);
            end loop;
            return null;
          end $f$;
        create or replace trigger events_notify after insert on {{s}}.mt_events referencing new table as appended
          for each statement execute function {{s}}.events_notify();
        """;

    /// <summary>A tenant's delivery state, removed when it is decommissioned.</summary>
    public static readonly IReadOnlyList<string> TenantState = ["webhook_attempts", "webhook_deliveries", "webhook_positions", "webhook_subscriptions", "broker_positions"];
}
