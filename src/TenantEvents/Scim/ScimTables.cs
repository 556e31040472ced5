namespace TenantEvents.Scim;

/// <summary>SCIM users and groups: each resource sealed under the tenant's key, and the tenant's SCIM version.</summary>
public static class ScimTables
{
    /// <summary>Migration 1 (the release of 2026-12-03). Released: never edited; a change is a new migration (SchemaRegistry).</summary>
    public static string V1(string s) => $"""
            -- SCIM users and groups (Scim/): each resource sealed under the tenant's key, and the tenant's SCIM version.
            create table if not exists {s}.scim_resources (
              tenant_id varchar(250) not null,
              id uuid not null,
              kind text not null,
              version bigint not null,
              key_version integer not null,
              nonce bytea not null,
              ciphertext bytea not null,
              created_at timestamptz not null,
              updated_at timestamptz not null,
              primary key (tenant_id, id));
            -- Each row remembers the tenant's SCIM version that last wrote it, and a deletion leaves a tombstone, so an
            -- instance that holds the directory at version n reads only what changed after n.
            alter table {s}.scim_resources add column if not exists scim_version bigint not null default 0;
            alter table {s}.scim_resources add column if not exists deleted boolean not null default false;
            create index if not exists scim_resources_changes on {s}.scim_resources (tenant_id, scim_version);
            create table if not exists {s}.scim_versions (
              tenant_id varchar(250) primary key,
              version bigint not null);
        """;
}
