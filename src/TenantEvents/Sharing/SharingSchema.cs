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
/// The time a share expires at is compared with the database's clock; only in a database whose owner said so at
/// `migrate` (sharing_clock, TenantEventsOptions.DatabaseFollowsServiceClock: the tests, which move the service's clock)
/// with the service's clock, passed in the transaction setting tenantevents.now. A setting alone is not trusted: any
/// session may set it, and a clock set back would show shares that have expired.
/// Every policy names its command: reading follows the sharing rule, writing only ever the session's own tenant's rows
/// (a policy without FOR would let a recipient update or delete what is shared with it).
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
        -- The file's last change, kept on its shares (in the owner's transactions) so a reader's newest shared files are
        -- found from the shares alone.
        alter table {{s}}.case_shares add column if not exists file_updated_at timestamptz not null default '-infinity';
        -- And its classification and tag tokens, so a reader's filters on them are answered from the shares too.
        alter table {{s}}.case_shares add column if not exists file_classification text not null default '';
        alter table {{s}}.case_shares add column if not exists file_tag_tokens text[] not null default '{}';
        create index if not exists case_shares_recent on {{s}}.case_shares (source_id, file_updated_at desc, file_id);
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

        -- Whether the service's clock is trusted for expiry: set by `migrate` (as the owner), never by a session.
        create table if not exists {{s}}.sharing_clock (
          one boolean primary key default true check (one),
          follows_service boolean not null default false);
        insert into {{s}}.sharing_clock (one, follows_service) values (true, false) on conflict do nothing;
        -- The clock for expiry: the database's, or where the owner allows it the service's (set per transaction).
        create or replace function {{s}}.sharing_now() returns timestamptz language sql stable as $$
          select case when (select c.follows_service from {{s}}.sharing_clock c)
                      then coalesce(nullif(current_setting('{{NowSetting}}', true), '')::timestamptz, now()) else now() end $$;
        drop function if exists {{s}}.shared_with(text, uuid, text) cascade;
        drop index if exists {{s}}.case_shares_source;
        -- Whether a tenant is (still) a member of a collaboration: read past row-level security (the function's owner
        -- owns the table), so a policy can ask it of any collaboration without widening what the caller can list.
        create or replace function {{s}}.collaboration_member(collab uuid, tenant text) returns boolean
          language sql stable security definer set search_path = pg_catalog as $$
          select exists (select 1 from {{s}}.collaboration_members m where m.collab_id = collab and m.member_tenant = tenant and m.state = 'member') $$;
        drop function if exists {{s}}.visible_shares(text) cascade;
        -- THE rule of what another tenant may read, for one share row: an agreement share addressed to the tenant; a
        -- collaboration share while the tenant and the file's owner are both members; unexpired either way. A plain SQL
        -- expression (inlined where it is used): the row-level security policy below asks it of the shares of each file
        -- it shows, and the service's queries ask it of the shares they read (Sharing/Visibility.cs).
        create or replace function {{s}}.share_admits(x {{s}}.case_shares, tenant text) returns boolean language sql stable as $$
          select x.tenant_id <> tenant and (x.expires_at is null or x.expires_at > {{s}}.sharing_now())
             and (x.grantee_tenant = tenant
                  or (x.grantee_tenant is null and {{s}}.collaboration_member(x.source_id, tenant) and {{s}}.collaboration_member(x.source_id, x.tenant_id))) $$;

        -- The blind index, looked up past row-level security: array operators are not leakproof, so under a policy
        -- PostgreSQL may not use the GIN index for them. Only (tenant, id) pairs of the named owners come out; the files
        -- themselves are then read under the policy (and the service's narrowing), so nothing is shown that would not be.
        create or replace function {{s}}.search_hits(owners text[], tokens text[]) returns table (tenant_id varchar(250), id uuid)
          language sql stable security definer set search_path = pg_catalog rows 50 as $$
          select h.tenant_id, h.id from (select f.tenant_id, f.id from {{s}}.case_files f where f.search_tokens && tokens offset 0) h
          where h.tenant_id = any(owners) $$;
        -- The same, for files holding every token their owner needs (need: owner -> tokens), found through one token
        -- each (first): a search's hits are then complete before any share or page limit is applied to them.
        create or replace function {{s}}.search_matches(owners text[], first text[], need jsonb) returns table (tenant_id varchar(250), id uuid)
          language sql stable security definer set search_path = pg_catalog rows 50 as $$
          select h.tenant_id, h.id from (select f.tenant_id, f.id, f.search_tokens from {{s}}.case_files f where f.search_tokens && first offset 0) h
          where h.tenant_id = any(owners) and h.search_tokens @> array(select jsonb_array_elements_text(need -> h.tenant_id::text)) $$;

        {{Policies(s, tenantSetting, "case_file_visibility", "case_files", $"""
            tenant_id = current_setting('{tenantSetting}', true)
                   or exists (select 1 from {s}.case_shares x where x.tenant_id = case_files.tenant_id and x.file_id = case_files.id
                              and {s}.share_admits(x, current_setting('{tenantSetting}', true)))
            """)}}
        {{Policies(s, tenantSetting, "case_share_visibility", "case_shares", $"""
            tenant_id = current_setting('{tenantSetting}', true) or grantee_tenant = current_setting('{tenantSetting}', true)
                   or (grantee_tenant is null and source_id in (select m.collab_id from {s}.collaboration_members m
                                                                 where m.member_tenant = current_setting('{tenantSetting}', true) and m.state = 'member'))
            """)}}
        {{Policies(s, tenantSetting, "agreement_parties", "sharing_agreements", $"""
            tenant_id = current_setting('{tenantSetting}', true) or recipient_tenant = current_setting('{tenantSetting}', true)
            """)}}
        {{Policies(s, tenantSetting, "collaboration_parties", "collaborations", $"""
            tenant_id = current_setting('{tenantSetting}', true)
                   or exists (select 1 from {s}.collaboration_members m where m.collab_id = id
                              and m.member_tenant = current_setting('{tenantSetting}', true) and m.state in ('member', 'invited'))
            """)}}
        {{Policies(s, tenantSetting, "collaboration_member_parties", "collaboration_members", $"""
            tenant_id = current_setting('{tenantSetting}', true) or member_tenant = current_setting('{tenantSetting}', true)
                   or {s}.collaboration_member(collab_id, current_setting('{tenantSetting}', true))
            """)}}
        """;

    /// <summary>
    /// A sharing table's policies, one per command: another party reads what <paramref name="read"/> admits; rows are
    /// inserted, updated and deleted by their own tenant's session only.
    /// </summary>
    private static string Policies(string s, string tenantSetting, string name, string table, string read)
    {
        var own = $"tenant_id = current_setting('{tenantSetting}', true)";
        return $"""
            drop policy if exists {name} on {s}.{table};
            create policy {name} on {s}.{table} for select using ({read});
            drop policy if exists {name}_insert on {s}.{table};
            create policy {name}_insert on {s}.{table} for insert with check ({own});
            drop policy if exists {name}_update on {s}.{table};
            create policy {name}_update on {s}.{table} for update using ({own}) with check ({own});
            drop policy if exists {name}_delete on {s}.{table};
            create policy {name}_delete on {s}.{table} for delete using ({own});
            """;
    }

    /// <summary>A tenant's sharing state, removed when it is decommissioned (its files are its own; its shares go with them).</summary>
    public static readonly IReadOnlyList<string> TenantState = ["case_shares", "case_files", "sharing_agreements", "collaboration_members", "collaborations"];
}
