#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for development and tests, owned by this checkout:
#   ops/postgres/local-cluster.sh start [DATABASE...]  install PostgreSQL if absent, create/start the cluster, create DBs
#   ops/postgres/local-cluster.sh stop | status | url DATABASE [owner|app|platform] | psql [ARGS]
# The cluster lives in .data/postgres (git-ignored), listens on 127.0.0.1 only, on its own port (PG_PORT, default
# 55432), with trust authentication for loopback connections. It never touches a system PostgreSQL service. initdb
# and postgres refuse to run as root, so as root the cluster runs as the unprivileged `postgres` OS user.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
port=${PG_PORT:-55432}
data_root=${PG_DATA_ROOT:-$root/.data}
cluster=$data_root/postgres
log=$data_root/postgres.log

find_bindir() {
  if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir 2>/dev/null)/initdb" ]; then pg_config --bindir; return; fi
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

ensure_installed() {
  local bindir; bindir=$(find_bindir)
  if [ -n "$bindir" ] && [ -x "$bindir/initdb" ] && [ -x "$bindir/pg_ctl" ]; then echo "$bindir"; return; fi
  echo "PostgreSQL server binaries not found; installing with apt-get..." >&2
  local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql postgresql-contrib >&2
  # Debian starts a system cluster on install; ours is separate, so leave theirs alone but keep it off our port.
  bindir=$(find_bindir)
  [ -x "$bindir/initdb" ] || { echo "PostgreSQL installation failed" >&2; exit 1; }
  echo "$bindir"
}

# Run a command as the cluster's owner: ourselves, or the unprivileged postgres user when we are root.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

prepare_dirs() {
  mkdir -p "$data_root"
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
    # The postgres user must be able to reach the folder: every parent needs the execute bit for others.
    local d=$data_root
    while [ "$d" != "/" ]; do chmod o+x "$d" 2>/dev/null || true; d=$(dirname "$d"); done
    mkdir -p "$cluster"; chown postgres: "$cluster"; chmod 700 "$cluster"
    touch "$log"; chown postgres: "$log"
  else
    mkdir -p "$cluster"; chmod 700 "$cluster"
  fi
}

psql_cmd() {
  local bindir; bindir=$(find_bindir)
  "$bindir/psql" -X -q -h 127.0.0.1 -p "$port" -U postgres "$@"
}

start() {
  local bindir; bindir=$(ensure_installed)
  prepare_dirs
  if [ ! -f "$cluster/PG_VERSION" ]; then
    echo "Creating PostgreSQL cluster in $cluster (port $port)" >&2
    as_owner "$bindir/initdb" -D "$cluster" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    cat >>"$cluster/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = ''
max_connections = 300
shared_buffers = 256MB
CONF
    # Loopback only, nothing else.
    printf 'host all all 127.0.0.1/32 trust\n' >"$cluster/pg_hba.conf"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$cluster/pg_hba.conf"
  fi
  if as_owner "$bindir/pg_ctl" -D "$cluster" status >/dev/null 2>&1; then
    echo "PostgreSQL already running on 127.0.0.1:$port" >&2
  else
    as_owner "$bindir/pg_ctl" -D "$cluster" -l "$log" -w -t 60 start >/dev/null
    echo "PostgreSQL started on 127.0.0.1:$port" >&2
  fi
  psql_cmd -v ON_ERROR_STOP=1 -f "$root/ops/postgres/roles.sql" >/dev/null
  for db in "$@"; do
    if [ -z "$(psql_cmd -tAc "select 1 from pg_database where datname = '$db'")" ]; then
      psql_cmd -c "create database \"$db\" owner tenantevents_owner" >/dev/null
      echo "Created database $db" >&2
    fi
    # The owner creates the schema; the service's roles may connect and nothing more until migrations grant it.
    psql_cmd -d "$db" -v ON_ERROR_STOP=1 -c "alter database \"$db\" owner to tenantevents_owner" \
      -c "revoke create on schema public from public" -c "grant connect on database \"$db\" to tenantevents_app, tenantevents_platform" \
      -c "alter database \"$db\" set app.tenant_id = ''" >/dev/null
  done
}

stop() {
  local bindir; bindir=$(find_bindir)
  [ -f "$cluster/PG_VERSION" ] || return 0
  as_owner "$bindir/pg_ctl" -D "$cluster" -m fast -w stop >/dev/null 2>&1 || true
  echo "PostgreSQL stopped" >&2
}

case "${1:-}" in
  start) shift; start "$@" ;;
  stop) stop ;;
  status) as_owner "$(find_bindir)/pg_ctl" -D "$cluster" status ;;
  # url DATABASE [ROLE]: ROLE is owner, app (default) or platform, or any other role name.
  url)
    role=${3:-app}
    case "$role" in owner|app|platform) role=tenantevents_$role ;; esac
    echo "Host=127.0.0.1;Port=$port;Username=$role;Database=${2:?database};Pooling=true;Maximum Pool Size=100" ;;
  psql) shift; psql_cmd "$@" ;;
  # dump DATABASE: everything in it, as the superuser sees it (what a stolen backup would hold).
  dump) "$(find_bindir)/pg_dump" -h 127.0.0.1 -p "$port" -U postgres --no-owner "${2:?database}" ;;
  *) echo "usage: $0 start [DB...] | stop | status | url DB [ROLE] | psql [ARGS] | dump DB" >&2; exit 2 ;;
esac
