#!/usr/bin/env bash
# `make restore BACKUP_DIR=...`: the databases of a backup back in place (each dropped and created again from its dump),
# then the keys from the key backup into the data folder, except any tenant shredded since (recorded in the data folder's
# keys/shredded or in the key backup's): a tenant shredded after the backup stays shredded.
# Stop every instance of the service first; start them again afterwards (they run no migration: the dumps carry the
# schema at its version).
#
#   ops/backup/restore.sh        BACKUP_DIR (required), BACKUP_KEYS_DIR (default <BACKUP_DIR>.keys), DATA, PG* as for backup.sh
#
# The databases are restored to the server PGHOST/PGPORT names (a recovery cluster, say), all of them; RESTORE_TO_RECORDED=1
# restores each to the server the backup recorded it on instead. Nothing is dropped until every dump has been checked and
# the server has the service's three roles.
set -euo pipefail
shopt -s nullglob
umask 077
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DEST=${BACKUP_DIR:?BACKUP_DIR: the backup to restore (a folder made by make backup)}
KEYS_DEST=${BACKUP_KEYS_DIR:-$DEST.keys}
DATA=${DATA:-$ROOT/.data}
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-${PG_PORT:-55432}} PGUSER=${PGUSER:-postgres}
BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
PG_RESTORE=${BIN:+$BIN/}pg_restore
PSQL=${BIN:+$BIN/}psql

[ -f "$DEST/MANIFEST" ] || { echo "restore: $DEST has no MANIFEST (not a backup made by make backup)" >&2; exit 2; }
# Every dump first checked against the manifest: a damaged backup restores nothing.
while read -r name _ sum; do
  [ "$(sha256sum "$DEST/databases/$name.dump" | cut -d' ' -f1)" = "$sum" ] || { echo "restore: $name.dump does not match its checksum" >&2; exit 1; }
done < "$DEST/MANIFEST"
while read -r name address _; do
  [[ $name =~ ^[a-z0-9_]+$ ]] || { echo "restore: refusing the database name '$name'" >&2; exit 1; }
  if [ "${RESTORE_TO_RECORDED:-}" = 1 ]; then host=${address%:*}; port=${address##*:}; else host=$PGHOST; port=$PGPORT; fi
  roles=$("$PSQL" -X -Atq -h "$host" -p "$port" -d postgres -c \
    "select count(*) from pg_roles where rolname in ('tenantevents_owner', 'tenantevents_app', 'tenantevents_platform')")
  [ "$roles" = 3 ] || { echo "restore: $host:$port lacks the service's roles: run ops/postgres/roles.sql there first" >&2; exit 1; }
done < "$DEST/MANIFEST"
while read -r name address _; do
  if [ "${RESTORE_TO_RECORDED:-}" = 1 ]; then host=${address%:*}; port=${address##*:}; else host=$PGHOST; port=$PGPORT; fi
  "$PSQL" -X -q -h "$host" -p "$port" -d postgres -c "drop database if exists \"$name\" with (force)"
  "$PG_RESTORE" -h "$host" -p "$port" -d postgres --create --exit-on-error "$DEST/databases/$name.dump"
  echo "restored $name on $host:$port"
done < "$DEST/MANIFEST"

if [ -d "$KEYS_DEST" ]; then
  mkdir -p "$DATA/keys/tenants" "$DATA/keys/shredded"
  if [ -f "$KEYS_DEST/root.key" ]; then
    if [ -f "$DATA/keys/root.key" ] && ! cmp -s "$KEYS_DEST/root.key" "$DATA/keys/root.key"; then
      echo "restore: $DATA/keys/root.key differs from the backup's: the restored keys would not open; move it aside first" >&2; exit 1
    fi
    cp -p "$KEYS_DEST/root.key" "$DATA/keys/root.key"
  fi
  [ -d "$KEYS_DEST/shredded" ] && cp -p "$KEYS_DEST/shredded/"* "$DATA/keys/shredded/" 2>/dev/null || true
  restored=0; skipped=0
  for folder in "$KEYS_DEST"/tenants/*; do
    [ -d "$folder" ] || continue
    tenant=$(basename "$folder")
    if [ -e "$DATA/keys/shredded/$tenant" ]; then skipped=$((skipped + 1)); continue; fi
    mkdir -p "$DATA/keys/tenants/$tenant"
    # Versions already there stay (a key is never overwritten); missing ones come back.
    cp -pn "$folder"/kek-v*.bin "$DATA/keys/tenants/$tenant/" 2>/dev/null || true
    restored=$((restored + 1))
  done
  chmod -R go-rwx "$DATA/keys"
  echo "keys of $restored tenant(s) restored; $skipped shredded tenant(s) left shredded"
fi

# A tenant shredded since the backup has its wrapped data keys back in the restored databases: they are deleted, so that
# nothing follows it as a live tenant (its keys, gone, could not open them anyway).
shredded=()
for record in "$DATA/keys/shredded"/*; do
  tenant=$(basename "$record")
  [[ $tenant =~ ^[0-9a-f-]{36}$ ]] && shredded+=("'$tenant'")
done
if [ ${#shredded[@]} -gt 0 ]; then
  list=$(IFS=,; echo "${shredded[*]}")
  while read -r name address _; do
    if [ "${RESTORE_TO_RECORDED:-}" = 1 ]; then host=${address%:*}; port=${address##*:}; else host=$PGHOST; port=$PGPORT; fi
    "$PSQL" -X -q -h "$host" -p "$port" -d "$name" -c "delete from ${SCHEMA:-tenantevents}.tenant_data_keys where tenant_id in ($list);
      delete from ${SCHEMA:-tenantevents}.subject_data_keys where tenant_id in ($list)"
  done < "$DEST/MANIFEST"
  echo "the wrapped data keys of ${#shredded[@]} shredded tenant(s) deleted from the restored databases"
fi
