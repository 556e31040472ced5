#!/usr/bin/env bash
# `make backup`: every database of the estate (the main one, the residency zones', the dedicated ones: as the platform
# directory lists them), each with pg_dump, and the key material apart from them.
#
#   ops/backup/backup.sh
#     BACKUP_DIR        where the database dumps go        (default .data/backups/<UTC time>)
#     BACKUP_KEYS_DIR   where the keys go: another medium  (default <BACKUP_DIR>.keys)
#     DB                the main database                  (default tenantevents)
#     DATA              the service's data folder          (default .data; its keys/ are the local key provider's)
#     PGHOST PGPORT PGUSER PGPASSWORD   a role that reads every row (a superuser, or one with BYPASSRLS and read on
#                       every table); default: the local cluster's superuser
#
# A database dump alone never opens a tenant's data (everything in it is sealed under keys that are not in it); the keys
# alone open nothing without the dumps. Keep them on different media with different access.
#
# Shredding wins over backups: a tenant the key store records as shredded (keys/shredded/<tenant>) is left out of this
# key backup and purged from every earlier key backup beside it (BACKUP_KEYS_DIR's parent; copies kept elsewhere must be
# purged the same way), and its record goes along, so a restore does not bring its keys back. The records are the
# authority: keep keys/shredded on durable storage (a key store lost with its records, then restored from a key backup
# older than a shredding, would bring that tenant's keys back). With Azure Key Vault no key is ever in a backup.
set -euo pipefail
shopt -s nullglob
# Dumps hold no key but plenty of metadata: readable by the one who made them only.
umask 077
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
DEST=${BACKUP_DIR:-$ROOT/.data/backups/$STAMP}
KEYS_DEST=${BACKUP_KEYS_DIR:-$DEST.keys}
DB=${DB:-tenantevents}
DATA=${DATA:-$ROOT/.data}
SCHEMA=${SCHEMA:-tenantevents}
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-${PG_PORT:-55432}} PGUSER=${PGUSER:-postgres}
BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
PSQL=${BIN:+$BIN/}psql
PG_DUMP=${BIN:+$BIN/}pg_dump

[ ! -e "$DEST" ] || { echo "backup: $DEST exists; a backup is never written over another" >&2; exit 2; }
[ ! -e "$KEYS_DEST" ] || { echo "backup: $KEYS_DEST exists; a key backup is never written over another" >&2; exit 2; }
mkdir -p "$DEST/databases"
# The main database, and every other one the directory names (zones, dedicated; those on another server by host/port).
mapfile -t databases < <("$PSQL" -X -Atq -d "$DB" -c "select distinct database || '|' || coalesce(host, '') || '|' || coalesce(port::text, '')
  from $SCHEMA.tenant_databases union select '$DB||' order by 1")
manifest=$DEST/MANIFEST.partial
: > "$manifest"
for entry in "${databases[@]}"; do
  IFS='|' read -r name host port <<<"$entry"
  # A database name goes into commands and the restore's SQL: only what the service itself names databases with.
  [[ $name =~ ^[a-z0-9_]+$ ]] || { echo "backup: refusing the database name '$name'" >&2; exit 1; }
  "$PG_DUMP" -Fc --create ${host:+-h "$host"} ${port:+-p "$port"} -d "$name" -f "$DEST/databases/$name.dump"
  echo "$name ${host:-$PGHOST}:${port:-$PGPORT} $(sha256sum "$DEST/databases/$name.dump" | cut -d' ' -f1)" >> "$manifest"
done
# Complete only when every dump is: a backup cut short has no MANIFEST, and restores nothing.
mv "$manifest" "$DEST/MANIFEST"
echo "dumped $(wc -l < "$DEST/MANIFEST") database(s) to $DEST"

KEYS=$DATA/keys
if [ -d "$KEYS" ]; then
  mkdir -p "$KEYS_DEST"
  # Everything but the tenants the store records as shredded; their records (no key in them) go along.
  items=()
  [ -f "$KEYS/root.key" ] && items+=(root.key)
  [ -d "$KEYS/shredded" ] && items+=(shredded)
  for t in "$KEYS"/tenants/*; do [ -e "$KEYS/shredded/$(basename "$t")" ] || items+=("tenants/$(basename "$t")"); done
  if [ ${#items[@]} -gt 0 ]; then
    (cd "$KEYS" && tar --exclude='./tenants/*/.kek-*' --exclude='tenants/*/.kek-*' -cf - "${items[@]}") | (cd "$KEYS_DEST" && tar -xpf -)
  fi
  chmod -R go-rwx "$KEYS_DEST"
  # Purge the shredded tenants from the earlier key backups beside this one.
  purged=0
  if [ -d "$KEYS/shredded" ]; then
    for earlier in "$(dirname "$KEYS_DEST")"/*/; do
      earlier=${earlier%/}
      [ -d "$earlier/tenants" ] && [ "$earlier" != "$KEYS_DEST" ] || continue
      for record in "$KEYS/shredded"/*; do
        tenant=$(basename "$record")
        if [ -d "$earlier/tenants/$tenant" ]; then rm -rf "${earlier:?}/tenants/$tenant"; purged=$((purged + 1)); fi
        mkdir -p "$earlier/shredded" && cp -p "$record" "$earlier/shredded/$tenant"
      done
    done
  fi
  echo "keys of $(find "$KEYS_DEST/tenants" -mindepth 1 -maxdepth 1 -type d 2>/dev/null | wc -l) tenant(s) to $KEYS_DEST (shredded tenants purged from earlier key backups: $purged)"
else
  echo "no local keys in $KEYS (a key vault holds them): nothing to back up there"
fi
