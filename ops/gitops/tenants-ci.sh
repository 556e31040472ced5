#!/usr/bin/env bash
# Tenants as code in CI (docs/gitops.md). Plans every manifest under a folder; with --apply, applies each plan that has
# changes. Each plan is written next to the job's artifacts (plans/), so a reviewer reads exactly what apply will do.
#   tenants-ci.sh [--apply] [--allow-delete] [FOLDER]      (default folder: tenants)
# Needs TENANTEVENTS_URL and TENANTEVENTS_CLIENT_ID + TENANTEVENTS_CLIENT_SECRET (or TENANTEVENTS_TOKEN), and the
# command TENANTEVENTS (default: TenantEvents; e.g. "podman run --rm -v $PWD:/w -w /w -e TENANTEVENTS_URL ... IMAGE").
# Exit: 0 nothing to change (or all applied), 1 an error, 2 changes planned and not applied.
set -uo pipefail
apply=0; allow=(); folder=tenants
for arg in "$@"; do
  case "$arg" in
    --apply) apply=1 ;;
    --allow-delete) allow=(--allow-delete) ;;
    *) folder="$arg" ;;
  esac
done
read -r -a cli <<< "${TENANTEVENTS:-TenantEvents}"
mkdir -p plans
status=0
shopt -s nullglob
for manifest in "$folder"/*.yaml "$folder"/*.yml "$folder"/*.json; do
  name=$(basename "${manifest%.*}")
  echo "== $manifest"
  "${cli[@]}" manifest plan -f "$manifest" "${allow[@]}" --out "plans/$name.plan.json"
  case $? in
    0) continue ;;
    2) if [[ $apply == 1 ]]; then
         "${cli[@]}" manifest apply "plans/$name.plan.json" --secrets-out "plans/$name.secrets.jsonl" || status=1
       elif [[ $status == 0 ]]; then status=2; fi ;;
    *) status=1 ;;
  esac
done
exit $status
