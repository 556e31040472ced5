#!/bin/sh
# First start of the compose PostgreSQL, after ops/postgres/roles.sql (mounted as 10-roles.sql) made the three roles: their
# passwords from the secrets, and the tenantevents database owned by the schema owner; the same as the local cluster.
set -eu
password() { sed -n 's/.*Password=\([^;]*\).*/\1/p' "/run/secrets/$1"; }
psql -v ON_ERROR_STOP=1 -U postgres \
  -c "alter role tenantevents_owner password '$(password owner)'" \
  -c "alter role tenantevents_app password '$(password app)'" \
  -c "alter role tenantevents_platform password '$(password platform)'" \
  -c "create database tenantevents owner tenantevents_owner"
psql -v ON_ERROR_STOP=1 -U postgres -d tenantevents \
  -c "revoke create on schema public from public" \
  -c "grant connect on database tenantevents to tenantevents_app, tenantevents_platform" \
  -c "alter database tenantevents set app.tenant_id = ''"
