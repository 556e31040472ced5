namespace TenantEvents.Compliance;

/// <summary>
/// Compliance tables, in every tenant database (tenants-track migration 5; row-level security on both):
/// <list type="bullet">
/// <item>compliance_records: each data-subject request and incident, its snapshot sealed under the tenant's key (a
/// request's person also under the request's own key), with what lists need in the clear: kind, state, next due date.</item>
/// <item>compliance_deadlines: the deadlines the compliance job watches (a request's due date; an incident's report
/// stages), with when to remind; written with the record, so they outlive any instance (durable reminders).</item>
/// </list>
/// And in the main database (directory track, migration 4), the platform's own incidents: platform_incidents (the
/// snapshot and its events; the platform has no tenant key) and their deadlines in platform_deadlines.
/// </summary>
public static class ComplianceSchema
{
    public static string Sql(string s) => $"""
        create table if not exists {s}.compliance_records (
          tenant_id varchar(250) not null,
          id uuid not null,
          kind text not null,
          state text not null,
          due_at timestamptz,
          version bigint not null,
          key_version integer not null,
          nonce bytea not null,
          ciphertext bytea not null,
          created_at timestamptz not null,
          updated_at timestamptz not null,
          primary key (tenant_id, id));
        create index if not exists compliance_records_kind on {s}.compliance_records (tenant_id, kind, created_at desc);
        create table if not exists {s}.compliance_deadlines (
          tenant_id varchar(250) not null,
          record_id uuid not null,
          kind text not null,
          name text not null,
          due_at timestamptz not null,
          remind_at timestamptz,
          primary key (tenant_id, record_id, name));
        create index if not exists compliance_deadlines_next on {s}.compliance_deadlines (least(due_at, coalesce(remind_at, due_at)));
        """;

    public static string PlatformSql(string s) => $"""
        create table if not exists {s}.platform_incidents (
          id uuid not null primary key,
          state text not null,
          version bigint not null,
          snapshot jsonb not null,
          created_at timestamptz not null,
          updated_at timestamptz not null);
        create table if not exists {s}.platform_incident_events (
          incident_id uuid not null,
          version bigint not null,
          type text not null,
          data jsonb not null,
          at timestamptz not null,
          primary key (incident_id, version));
        create table if not exists {s}.platform_deadlines (
          record_id uuid not null,
          name text not null,
          due_at timestamptz not null,
          remind_at timestamptz,
          primary key (record_id, name));
        """;
}
