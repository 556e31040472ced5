namespace TenantEvents.Organisations;

/// <summary>
/// The organisation tree of each tenant and what confers power in it, projected in the transaction of every change
/// (OrganisationStore), read only through AccessState; the access version and, since migration 2, its MAC and the
/// high water of the versions the events reached (AccessSeal).
/// </summary>
public static class OrganisationSchema
{
    /// <summary>Migration 1 (the release of 2026-12-03). Released: never edited; a change is a new migration (SchemaRegistry).</summary>
    public static string V1(string s) => $"""
            -- The organisation tree of each tenant, projected in the transaction of every change (Organisations/):
            -- the materialised path (root first, self last) answers ancestors and subtrees; names are sealed.
            create table if not exists {s}.org_nodes (
              tenant_id varchar(250) not null,
              id uuid not null,
              parent_id uuid,
              path uuid[] not null,
              depth integer not null,
              open boolean not null,
              kind text not null,
              jurisdiction text,
              name_key_version integer not null,
              name_nonce bytea not null,
              name_ciphertext bytea not null,
              version bigint not null,
              created_at timestamptz not null,
              updated_at timestamptz not null,
              primary key (tenant_id, id));
            create index if not exists org_nodes_path on {s}.org_nodes using gin (path);
            create index if not exists org_nodes_parent on {s}.org_nodes (tenant_id, parent_id);
            create table if not exists {s}.org_grants (
              tenant_id varchar(250) not null,
              id uuid not null,
              org_id uuid not null,
              principal_kind text not null,
              principal_id text not null,
              role text not null,
              granted_at timestamptz not null,
              primary key (tenant_id, id));
            create index if not exists org_grants_principal on {s}.org_grants (tenant_id, principal_kind, principal_id);
            create table if not exists {s}.org_policies (
              tenant_id varchar(250) not null,
              org_id uuid not null,
              key text not null,
              mode text not null,
              value text not null,
              set_at timestamptz not null,
              primary key (tenant_id, org_id, key));
            create table if not exists {s}.org_members (
              tenant_id varchar(250) not null,
              org_id uuid not null,
              user_id text not null,
              added_at timestamptz not null,
              primary key (tenant_id, org_id, user_id));
            create index if not exists org_members_user on {s}.org_members (tenant_id, user_id);
            create table if not exists {s}.tenant_roles (
              tenant_id varchar(250) not null,
              name text not null,
              description text not null,
              permissions text[] not null,
              primary key (tenant_id, name));
            create table if not exists {s}.access_versions (
              tenant_id varchar(250) primary key,
              version bigint not null);
        """;
    /// <summary>
    /// The organisation event types the high-water trigger of migration 2 notes, as they were at that release. A new
    /// organisation event type needs a migration that replaces the trigger's function with the longer list
    /// (SchemaMigrationTests compares the live function with <see cref="OrganisationEventTypes.StoredNames"/>).
    /// </summary>
    public static readonly IReadOnlyList<string> HighWaterTypes =
    [
        "organisation_created", "organisation_renamed", "organisation_attributes_updated", "organisation_moved", "organisation_closed",
        "role_granted", "grant_revoked", "role_defined", "role_removed", "policy_set", "policy_cleared", "member_added", "member_removed",
        "quota_allocated", "quota_allocation_removed",
    ];

    /// <summary>
    /// Migration 2 (issue 18, the release of 2026-12-04): the MAC of the access state beside its version (AccessSeal), and
    /// the highest access version each tenant's organisation events were written at, kept by a trigger that runs as the
    /// owner in a table the service's role may only read (so a version number put back with that role's password is seen
    /// for what it is), filled from the events when the migration runs. The states already there are sealed by the
    /// migration's data step (AccessState.SealUnstampedAsync). Released: never edited.
    /// </summary>
    public static string V2(string s)
    {
        var types = string.Join(", ", HighWaterTypes.Select(n => $"'{n}'"));
        return $"""
            alter table {s}.access_versions add column if not exists state_mac bytea;
            alter table {s}.access_versions add column if not exists mac_key_version integer;
            create table if not exists {s}.access_high_water (
              tenant_id varchar(250) primary key,
              version bigint not null);
            create or replace function {s}.access_note_version() returns trigger language plpgsql security definer
              set search_path = pg_catalog, pg_temp as $f$
              begin
                if NEW.tenant_id is not null and NEW.type in ({types})
                   and (NEW.headers ->> 'access_version') ~ '^[0-9]+$' and length(NEW.headers ->> 'access_version') < 19 then
                  insert into {s}.access_high_water as h (tenant_id, version) values (NEW.tenant_id, (NEW.headers ->> 'access_version')::bigint)
                  on conflict (tenant_id) do update set version = excluded.version where h.version < excluded.version;
                end if;
                return null;
              end $f$;
            create or replace trigger access_high_water after insert on {s}.mt_events for each row
              when ((NEW.headers ->> 'access_version') is not null) execute function {s}.access_note_version();
            insert into {s}.access_high_water (tenant_id, version)
              select tenant_id, max((headers ->> 'access_version')::bigint) from {s}.mt_events
              where type in ({types}) and (headers ->> 'access_version') ~ '^[0-9]+$' and length(headers ->> 'access_version') < 19
              group by tenant_id
            on conflict (tenant_id) do nothing;
            """;
    }
}
