namespace TenantEvents.Keys;

/// <summary>
/// Tenants' data keys, stored only wrapped by the tenant's KEK (TenantKeyRing), and one key per person inside a tenant
/// (erasable on its own), sealed under the tenant's data key. tenant_id puts both under row-level security.
/// </summary>
public static class KeySchema
{
    /// <summary>Migration 1 (the release of 2026-12-03). Released: never edited; a change is a new migration (SchemaRegistry).</summary>
    public static string V1(string s) => $"""
            create table if not exists {s}.tenant_data_keys (
              tenant_id varchar(250) not null,
              version integer not null,
              kek_id text not null,
              algorithm text not null,
              wrapped bytea not null,
              created_at timestamptz not null default now(),
              primary key (tenant_id, version));
            create table if not exists {s}.subject_data_keys (
              tenant_id varchar(250) not null,
              subject_id uuid not null,
              key_version integer not null,
              nonce bytea not null,
              ciphertext bytea not null,
              created_at timestamptz not null default now(),
              primary key (tenant_id, subject_id));
        """;
}
