-- The three database roles of TenantEvents (idempotent; run by ops/postgres/local-cluster.sh on every start, and by an
-- administrator on any other PostgreSQL). Passwords are left to the administrator; the local cluster trusts loopback.
--
--   tenantevents_owner     owns the schema and every table; runs migrations (`TenantEvents migrate`), which also creates
--                          the residency zones' and the dedicated databases (hence CREATEDB). Never serves requests.
--   tenantevents_app       the service's role for tenant work: owns nothing, cannot bypass row-level security, and sees
--                          only the rows of the tenant named in the connection's app.tenant_id setting.
--   tenantevents_platform  explicitly cross-tenant work (platform-administrator listings, later the projection daemon):
--                          reads past row-level security, writes nothing.
do $$
begin
  if not exists (select from pg_roles where rolname = 'tenantevents_owner') then
    create role tenantevents_owner login nosuperuser nocreaterole createdb;
  end if;
  if not exists (select from pg_roles where rolname = 'tenantevents_app') then
    create role tenantevents_app login nosuperuser nocreaterole nocreatedb nobypassrls;
  end if;
  if not exists (select from pg_roles where rolname = 'tenantevents_platform') then
    create role tenantevents_platform login nosuperuser nocreaterole nocreatedb bypassrls;
  end if;
end $$;
alter role tenantevents_owner createdb;
alter role tenantevents_app nobypassrls;
alter role tenantevents_platform bypassrls;
-- The owner may make "no tenant" the default of the databases `migrate` creates (zones, dedicated): PostgreSQL 15 lets
-- only a superuser, or a holder of SET on the parameter, set a custom parameter's database default.
do $$ begin
  execute 'grant set on parameter app.tenant_id to tenantevents_owner';
exception when syntax_error or feature_not_supported then raise notice 'PostgreSQL before 15: no parameter privileges';
end $$;
