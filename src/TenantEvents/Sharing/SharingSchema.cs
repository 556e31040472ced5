namespace TenantEvents.Sharing;

/// <summary>
/// Case files and sharing, in every tenant database (applied by `migrate`). Each row belongs to the tenant in its
/// tenant_id (the owner of the file, the agreement, the collaboration) and is written only in that tenant's
/// transactions. What another tenant may read of it is said here, by the row-level security policies, once for the
/// database, and again — narrower, per user — by <see cref="Visibility"/> in the queries:
/// <list type="bullet">
/// <item>case_files: the owner's rows; another tenant's session sees a file only while a live share names it (an
/// accepted, unexpired agreement to that tenant, or a collaboration both tenants are members of).</item>
/// <item>case_shares: the materialised shares (file × agreement or collaboration), kept in the owner's transactions.</item>
/// <item>sharing_agreements: the owner's and the recipient's; collaborations and their members: every party's.</item>
/// </list>
/// The time a share expires at is compared with the service's clock, passed in the transaction setting
/// tenantevents.now (so tests can move it); without it, the database's clock.
/// </summary>
public static class SharingSchema
{
    public const string NowSetting = "tenantevents.now";

    public static string Sql(string s, string tenantSetting) => $$"""
        create table if not exists {{s}}.case_files (
          tenant_id varchar(250) not null,
          id uuid not null,
          org_id uuid not null,
          classification text not null,
          tag_tokens text[] not null,
          search_tokens text[] not null,
          version bigint not null,
          key_version integer not null,
          nonce bytea not null,
          ciphertext bytea not null,
          created_at timestamptz not null,
          updated_at timestamptz not null,
          primary key (tenant_id, id));
        create index if not exists case_files_id on {{s}}.case_files (id);
        create index if not exists case_files_recent on {{s}}.case_files (tenant_id, updated_at desc, id desc);
        create index if not exists case_files_search on {{s}}.case_files using gin (search_tokens);
        create table if not exists {{s}}.case_shares (
          tenant_id varchar(250) not null,
          file_id uuid not null,
          source_id uuid not null,
          source_kind text not null,
          grantee_tenant varchar(250),
          permissions text[] not null,
          expires_at timestamptz,
          shared_at timestamptz not null,
          primary key (tenant_id, file_id, source_id));
        create index if not exists case_shares_source on {{s}}.case_shares (source_id, file_id);
        create index if not exists case_shares_file on {{s}}.case_shares (file_id);
        create index if not exists case_shares_grantee on {{s}}.case_shares (grantee_tenant, tenant_id) where grantee_tenant is not null;
        create table if not exists {{s}}.sharing_agreements (
          tenant_id varchar(250) not null,
          id uuid not null,
          recipient_tenant varchar(250) not null,
          state text not null,
          expires_at timestamptz not null,
          version bigint not null,
          key_version integer not null,
          nonce bytea not null,
          ciphertext bytea not null,
          scope_file_ids uuid[] not null,
          scope_classifications text[] not null,
          scope_tag_tokens text[] not null,
          owner_org uuid,
          recipient_orgs uuid[] not null default '{}',
          permissions text[] not null,
          created_at timestamptz not null,
          updated_at timestamptz not null,
          primary key (tenant_id, id));
        create index if not exists sharing_agreements_recipient on {{s}}.sharing_agreements (recipient_tenant, state);
        create index if not exists sharing_agreements_id on {{s}}.sharing_agreements (id);
        create table if not exists {{s}}.collaborations (
          tenant_id varchar(250) not null,
          id uuid not null,
          kind text not null,
          open boolean not null,
          version bigint not null,
          key_version integer not null,
          nonce bytea not null,
          ciphertext bytea not null,
          created_at timestamptz not null,
          updated_at timestamptz not null,
          primary key (tenant_id, id));
        create index if not exists collaborations_id on {{s}}.collaborations (id);
        create table if not exists {{s}}.collaboration_members (
          tenant_id varchar(250) not null,
          collab_id uuid not null,
          member_tenant varchar(250) not null,
          state text not null,
          since timestamptz not null,
          primary key (tenant_id, collab_id, member_tenant));
        create index if not exists collaboration_members_member on {{s}}.collaboration_members (member_tenant, state);
        create index if not exists collaboration_members_collab on {{s}}.collaboration_members (collab_id, member_tenant);

        -- The service's clock for expiry (set per transaction by the service), else the database's.
        create or replace function {{s}}.sharing_now() returns timestamptz language sql stable as $$
          select coalesce(nullif(current_setting('{{NowSetting}}', true), '')::timestamptz, now()) $$;
        drop function if exists {{s}}.shared_with(text, uuid, text) cascade;
        -- Whether a tenant is (still) a member of a collaboration: read past row-level security (the function's owner
        -- owns the table), so a policy can ask it of any collaboration without widening what the caller can list.
        create or replace function {{s}}.collaboration_member(collab uuid, tenant text) returns boolean
          language sql stable security definer set search_path = pg_catalog as $$
          select exists (select 1 from {{s}}.collaboration_members m where m.collab_id = collab and m.member_tenant = tenant and m.state = 'member') $$;
        -- THE database's rule of what another tenant may read: the shares through which the tenant sees files of other
        -- tenants now. An agreement share addressed to it; a collaboration share while it and the file's owner are both
        -- members; unexpired either way. Evaluated once per query (a hashed set), not once per row.
        create or replace function {{s}}.visible_shares(tenant text)
          returns table (owner varchar(250), file_id uuid, source_id uuid, permissions text[])
          language sql stable security definer set search_path = pg_catalog rows 10000 as $$
          select x.tenant_id, x.file_id, x.source_id, x.permissions from {{s}}.case_shares x
          where x.grantee_tenant = tenant and x.tenant_id <> tenant and (x.expires_at is null or x.expires_at > {{s}}.sharing_now())
          union all
          select x.tenant_id, x.file_id, x.source_id, x.permissions
          from {{s}}.collaboration_members r
          join {{s}}.case_shares x on x.source_id = r.collab_id and x.grantee_tenant is null
          where r.member_tenant = tenant and r.state = 'member' and x.tenant_id <> tenant
            and (x.expires_at is null or x.expires_at > {{s}}.sharing_now())
            and exists (select 1 from {{s}}.collaboration_members o where o.collab_id = x.source_id and o.member_tenant = x.tenant_id and o.state = 'member') $$;

        drop policy if exists case_file_visibility on {{s}}.case_files;
        create policy case_file_visibility on {{s}}.case_files
          using (tenant_id = current_setting('{{tenantSetting}}', true)
                 or (tenant_id, id) in (select v.owner, v.file_id from {{s}}.visible_shares(current_setting('{{tenantSetting}}', true)) v))
          with check (tenant_id = current_setting('{{tenantSetting}}', true));
        drop policy if exists case_share_visibility on {{s}}.case_shares;
        create policy case_share_visibility on {{s}}.case_shares
          using (tenant_id = current_setting('{{tenantSetting}}', true) or grantee_tenant = current_setting('{{tenantSetting}}', true)
                 or (grantee_tenant is null and source_id in (select m.collab_id from {{s}}.collaboration_members m
                                                               where m.member_tenant = current_setting('{{tenantSetting}}', true) and m.state = 'member')))
          with check (tenant_id = current_setting('{{tenantSetting}}', true));
        drop policy if exists agreement_parties on {{s}}.sharing_agreements;
        create policy agreement_parties on {{s}}.sharing_agreements
          using (tenant_id = current_setting('{{tenantSetting}}', true) or recipient_tenant = current_setting('{{tenantSetting}}', true))
          with check (tenant_id = current_setting('{{tenantSetting}}', true));
        drop policy if exists collaboration_parties on {{s}}.collaborations;
        create policy collaboration_parties on {{s}}.collaborations
          using (tenant_id = current_setting('{{tenantSetting}}', true)
                 or exists (select 1 from {{s}}.collaboration_members m where m.collab_id = id
                            and m.member_tenant = current_setting('{{tenantSetting}}', true) and m.state in ('member', 'invited')))
          with check (tenant_id = current_setting('{{tenantSetting}}', true));
        drop policy if exists collaboration_member_parties on {{s}}.collaboration_members;
        create policy collaboration_member_parties on {{s}}.collaboration_members
          using (tenant_id = current_setting('{{tenantSetting}}', true) or member_tenant = current_setting('{{tenantSetting}}', true)
                 or {{s}}.collaboration_member(collab_id, current_setting('{{tenantSetting}}', true)))
          with check (tenant_id = current_setting('{{tenantSetting}}', true));
        """;

    /// <summary>A tenant's sharing state, removed when it is decommissioned (its files are its own; its shares go with them).</summary>
    public static readonly IReadOnlyList<string> TenantState = ["case_shares", "case_files", "sharing_agreements", "collaboration_members", "collaborations"];
}
