#!/usr/bin/env bash
# The tour: every capability once, in order, against a running service (`make run`, then `make tour` in another
# terminal). Each call says what it expects; the tour stops at the first answer that differs, so it cannot rot: the
# tests run it against a real service process (Tenants/TourTests). Read it as the documentation it is.
#
#   B       the service (default http://127.0.0.1:5080)
#   DATA    the service's data folder, where the development token key lives (default .data)
#   QUIET=1 print only the step titles
# Needs curl and jq; step 6 starts the test OpenID provider (tests/idp, Node.js; `make tour` installs it) and needs
# the service to accept a plain-http provider on loopback (`make run` does in Development).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
B=${B:-http://127.0.0.1:5080}
DATA=${DATA:-$root/.data}
DLL=${SERVICE_DLL:-$root/src/TenantEvents/bin/Debug/net10.0/TenantEvents.dll}
work=$(mktemp -d)
trap 'rm -rf "$work"; [ -n "${IDP_PID:-}" ] && kill "$IDP_PID" 2>/dev/null; true' EXIT
step="" run=$RANDOM$RANDOM

# The tour's narration goes to stderr; stdout carries only what a step hands to the next.
say() { step=$1; { echo; echo "== $*"; } >&2; }
note() { [ -n "${QUIET:-}" ] || echo "   $*" >&2; }

# token ROLE SUB [TENANT]: a development token (signed with the key in $DATA; the service accepts it in Development).
token() {
  ASPNETCORE_ENVIRONMENT=Development TenantEvents__DataFolder="$DATA" dotnet "$DLL" dev-token --role "$1" --sub "$2" --tenant "${3:-}"
}

# call EXPECTED METHOD PATH TOKEN [JSON] [curl args...]: the body on stdout; stops the tour when the status is not one
# of EXPECTED (e.g. "200" or "200 201").
call() {
  local expect=$1 method=$2 path=$3 bearer=$4 body=${5:-}
  shift $(( $# < 5 ? $# : 5 ))
  local args=(-s -o "$work/body" -D "$work/headers" -w '%{http_code}' -X "$method" "$B$path")
  [ -n "$bearer" ] && args+=(-H "Authorization: Bearer $bearer")
  [ -n "$body" ] && args+=(-H 'Content-Type: application/json' -d "$body")
  local status
  status=$(curl "${args[@]}" "$@" || true)
  [ -n "${QUIET:-}" ] || { echo "   $method $path -> $status"; head -c 400 "$work/body" | sed 's/^/     /'; echo; } >&2
  if [[ " $expect " != *" $status "* ]]; then
    echo "step $step: $method $path answered $status, expected $expect:" >&2; cat "$work/body" >&2; echo >&2
    exit 1
  fi
  cat "$work/body"
}
header() { grep -i "^$1:" "$work/headers" | head -1 | cut -d' ' -f2- | tr -d '\r'; }

ADMIN=$(token platform-admin,platform-approver alice)   # alice administers the platform and may approve
APPROVER=$(token platform-approver bob)                  # bob, a different person
AUDITOR=$(token auditor carol)

say 1 "Request a tenant from a template (law-enforcement, intelligence, government-services, commercial-saas)"
call 200 GET /api/templates "$ADMIN" | jq -r '.[].name' | sed 's/^/   template: /' >&2
REQUEST='{"name": "Travis County Sheriff", "slug": "travis-sheriff-'$run'", "template": "law-enforcement",
  "residency": {"country": "US", "subdivision": "US-TX"},
  "contacts": [{"name": "Sally Hemphill", "email": "sally@travis.example.gov", "role": "sheriff"}],
  "overrides": {"quotas": {"licences": 800}}}'
ID=$(call 201 POST /api/tenants "$ADMIN" "$REQUEST" -H "Idempotency-Key: travis-$run" | jq -r .id)
note "the same request again with the same Idempotency-Key answers the same tenant, nothing new"
[ "$(call 201 POST /api/tenants "$ADMIN" "$REQUEST" -H "Idempotency-Key: travis-$run" | jq -r .id)" = "$ID" ]

say 2 "Approve: four-eyes (alice requested, so she may not approve; bob may)"
call 403 POST /api/tenants/$ID/approve "$ADMIN" >/dev/null
call 200 POST /api/tenants/$ID/approve "$APPROVER" '{"comment": "budget confirmed"}' >/dev/null

say 3 "Provision: the template's root organisation, first units, roles and quotas; the tenant is active"
[ "$(call 200 POST /api/tenants/$ID/provision "$ADMIN" | jq -r .state)" = active ]

say 4 "Read it (with its ETag), list tenants, replay its events as an auditor, change its contacts"
call 200 GET /api/tenants/$ID "$ADMIN" >/dev/null
ETAG=$(header etag)
call 200 GET "/api/tenants?state=active&country=US&limit=20" "$ADMIN" | jq -e '.items | length > 0' >/dev/null
call 200 GET /api/tenants/$ID/events "$AUDITOR" | jq -e 'length > 0' >/dev/null
note "bad input is a 400 problem that names what is wrong, and changes nothing"
call 400 PUT /api/tenants/$ID/name "$ADMIN" '{"name": ' | jq -e '.type == "https://httpstatuses.com/400" or (.type | startswith("urn:tenantevents:problem:"))' >/dev/null
call 400 PUT /api/tenants/$ID/name "$ADMIN" '{"name": ""}' | jq -e '.errors[0].field == "name"' >/dev/null
note "the contacts as a whole: Sally stays the same person (same subject id and key), Noor is new"
SALLY=$(call 200 GET /api/tenants/$ID "$ADMIN" | jq -r '.contacts[0].subjectId')
call 200 PUT /api/tenants/$ID/contacts "$ADMIN" '{"contacts": [{"name": "Sally Hemphill", "email": "sally@travis.example.gov", "role": "sheriff"},
  {"name": "Noor Haddad", "email": "noor.haddad@travis.example.gov", "role": "records"}]}' \
  | jq -e --arg sally "$SALLY" '.contacts[0].subjectId == $sally and (.contacts | length) == 2' >/dev/null

say 5 "The organisation tree: grow it under the root, grant, and ask why someone may act"
TA=$(token tenant-admin sally $ID)                       # the tenant's own administrator
ROOT=$(call 200 GET /api/tenants/$ID "$TA" | jq -r '.organisations[] | select(.parentId == null) | .id')
PRECINCT=$(call 201 POST /api/tenants/$ID/organisations "$TA" \
  "{\"parentId\": \"$ROOT\", \"name\": \"Precinct 4\", \"kind\": \"field-office\", \"jurisdiction\": \"US-TX\"}" | jq -r .id)
call 201 POST /api/tenants/$ID/organisations/$PRECINCT/grants "$TA" '{"principal": {"kind": "user", "id": "xavier"}, "role": "agency-admin"}' >/dev/null
XAVIER=$(token tenant-member xavier $ID)                  # administers Precinct 4 and below, nothing else
call 201 POST /api/tenants/$ID/organisations "$XAVIER" "{\"parentId\": \"$PRECINCT\", \"name\": \"Night shift\", \"kind\": \"unit\"}" >/dev/null
call 404 GET /api/tenants/$ID/organisations/$ROOT "$XAVIER" >/dev/null          # above his subtree: he does not know it
call 200 GET "/api/tenants/$ID/access/explain?principal=user:xavier&permission=org.manage&organisationId=$PRECINCT" "$TA" \
  | jq -e '.allowed == true' >/dev/null
call 404 GET "/api/tenants/$ID/organisations/$PRECINCT?asOfVersion=1" "$TA" >/dev/null   # it did not exist yet

say 6 "Identity: a service account (client credentials), the SCIM directory, and the tenant's own OpenID provider"
call 201 POST /api/tenants/$ID/service-accounts "$TA" '{"name": "records sync", "scopes": ["org.read", "scim.provision"]}' > "$work/sa.json"
CID=$(jq -r .clientId "$work/sa.json"); SECRET=$(jq -r .clientSecret "$work/sa.json"); SCIM=$(jq -r .scimToken "$work/sa.json")
note "the secret and the SCIM token are shown this once"
SA=$(call 200 POST /oauth2/token "" "" -u "$CID:$SECRET" -d grant_type=client_credentials -d scope=org.read | jq -r .access_token)
call 200 GET /api/tenants/$ID/organisations "$SA" >/dev/null
call 200 GET /.well-known/openid-configuration "" >/dev/null
call 200 GET /.well-known/jwks.json "" >/dev/null
call 201 POST /api/tenants/$ID/scim/v2/Users "$SCIM" '{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
  "userName": "bjensen@travis.example.gov", "name": {"familyName": "Jensen"},
  "emails": [{"value": "bjensen@travis.example.gov", "type": "work"}]}' -H 'Content-Type: application/scim+json' >/dev/null
call 200 GET "/api/tenants/$ID/scim/v2/Users" "$SCIM" "" -G --data-urlencode 'filter=emails[type eq "work" and value ew "@travis.example.gov"]' \
  | jq -e '.totalResults == 1' >/dev/null
note "the test OpenID provider (tests/idp) stands in for Entra ID or Keycloak; it lives while its input is open"
coproc IDP { exec node "$root/tests/idp/server.mjs"; }
IDP_PID=$IDP_PID
read -r -t 30 line <&"${IDP[0]}"
ISS=$(jq -r .issuer <<<"$line")
call 200 PUT /api/tenants/$ID/identity-provider "$TA" "{\"issuer\": \"$ISS\", \"audience\": \"tenantevents\", \"adminGroups\": [\"it-admins\"]}" >/dev/null
CAROL=$(curl -s -X POST "$ISS/control/token" -d '{"claims": {"sub": "carol", "aud": "tenantevents", "groups": ["it-admins"],
  "email": "carol@travis.example.gov", "email_verified": true}}' | jq -r .token)
call 200 GET /api/tenants/$ID/service-accounts "$CAROL" >/dev/null               # carol, of it-admins, administers the tenant
call 200 GET "/api/tenants/$ID/scim/v2/Users" "$SCIM" "" -G --data-urlencode 'filter=userName eq "carol"' \
  | jq -e '.totalResults == 1' >/dev/null                                        # recorded at her first sign-in
note "a name of its own: a subdomain of the platform's zone (make run: tenants.localhost), granted at once; at that Host the"
note "discovery document and the tokens name the tenant's origin (its own domain would be proven first: docs/operations.md)"
call 201 POST /api/tenants/$ID/domains "$TA" "{\"subdomain\": \"travis-$run\"}" > "$work/domain.json"
jq -e '.state == "verified"' "$work/domain.json" >/dev/null
NAME=$(jq -r .domain "$work/domain.json")
call 200 GET /.well-known/openid-configuration "" "" -H "Host: $NAME" | jq -e --arg n "$NAME" '.issuer | startswith("http://" + $n + ":")' >/dev/null

say 7 "Quotas: limits, an organisation's guaranteed share, AI compute reserved and committed, usage and history"
call 200 PATCH /api/tenants/$ID/settings "$ADMIN" '{"quotas": {"aiComputeUnitsPerMonth": 1000, "apiCallsPerDay": 5000, "alertThresholds": [50, 80, 100]}}' >/dev/null
FORENSICS=$(call 201 POST /api/tenants/$ID/organisations "$TA" "{\"parentId\": \"$ROOT\", \"name\": \"Forensics\", \"kind\": \"unit\"}" | jq -r .id)
call 200 PUT /api/tenants/$ID/organisations/$FORENSICS/quotas/aiComputeUnitsPerMonth "$TA" '{"guaranteed": 600, "cap": 800}' >/dev/null
call 409 PUT /api/tenants/$ID/organisations/$FORENSICS/quotas/aiComputeUnitsPerMonth "$TA" '{"guaranteed": 1001}' >/dev/null   # more than the tenant has
RES=$(call 201 POST /api/tenants/$ID/ai-compute/reservations "$TA" "{\"units\": 50, \"organisationId\": \"$FORENSICS\", \"purpose\": \"transcription\"}" | jq -r .id)
call 200 POST /api/tenants/$ID/ai-compute/reservations/$RES/commit "$TA" '{"units": 42}' >/dev/null
call 200 GET /api/tenants/$ID/quotas "$ADMIN" >/dev/null
call 200 GET "/api/tenants/$ID/quotas/history?metric=apiCalls&format=csv" "$ADMIN" >/dev/null

say 8 "Sharing: Travis shares its gang-unit case files with the state police, who read one; Travis revokes"
SP=$(call 201 POST /api/tenants "$ADMIN" '{"name": "Texas State Police", "slug": "texas-state-police-'$run'", "template": "law-enforcement",
  "residency": {"country": "US", "subdivision": "US-TX"}, "contacts": [{"name": "Lee Park", "email": "lee@dps.example.gov"}]}' | jq -r .id)
call 200 POST /api/tenants/$SP/approve "$APPROVER" >/dev/null
call 200 POST /api/tenants/$SP/provision "$ADMIN" >/dev/null
SPA=$(token tenant-admin lee $SP)
FILE=$(call 201 POST /api/tenants/$ID/case-files "$TA" "{\"organisationId\": \"$ROOT\", \"title\": \"Los Zetas cell, San Antonio\",
  \"classification\": \"official\", \"tags\": [\"gang-unit\"], \"body\": \"Warehouse on Zarzamora St.\"}" | jq -r .id)
AG=$(call 201 POST /api/tenants/$ID/sharing/agreements "$TA" "{\"recipientTenantId\": \"$SP\", \"scope\": {\"tags\": [\"gang-unit\"]},
  \"permissions\": [\"read\", \"comment\"], \"purpose\": \"I-35 gang task force\", \"expiresAt\": \"$(date -u -d "+1 year" +%Y-%m-%dT00:00:00Z)\"}" | jq -r .id)
call 404 GET /api/tenants/$SP/case-files/$FILE "$SPA" >/dev/null                 # not accepted yet
call 200 POST /api/tenants/$SP/sharing/agreements/$AG/accept "$SPA" '{}' >/dev/null
call 200 GET /api/tenants/$SP/case-files/$FILE "$SPA" | jq -e '.title == "Los Zetas cell, San Antonio"' >/dev/null   # now theirs to read
call 200 GET "/api/tenants/$SP/case-files?q=warehouse" "$SPA" | jq -e '[.items[] | select(.shared == true)] | length == 1' >/dev/null
call 409 PATCH /api/tenants/$ID/sharing/agreements/$AG "$TA" '{"permissions": ["read", "comment", "contribute"]}' >/dev/null   # needs consent
call 200 POST /api/tenants/$ID/sharing/agreements/$AG/revoke "$TA" '{"reason": "operation closed"}' >/dev/null
call 404 GET /api/tenants/$SP/case-files/$FILE "$SPA" >/dev/null                 # gone again

say 9 "Events out: a live stream (server-sent events), a webhook with its deliveries, GraphQL"
curl -sN "$B/api/tenants/$ID/events/stream?after=-1&types=com.tenantevents.organisation_*" -H "Authorization: Bearer $TA" --max-time 3 \
  > "$work/sse" || true
grep -q '^event: ' "$work/sse"
HOOK=$(call 201 POST /api/tenants/$ID/webhooks "$TA" '{"url": "http://127.0.0.1:9/hook", "types": ["com.tenantevents.organisation_*"],
  "description": "records system"}' | jq -r .id)                                   # the answer carries its signing secret, once
call 200 PUT /api/tenants/$ID/organisations/$FORENSICS/name "$TA" '{"name": "Gang Unit"}' >/dev/null
call 200 GET /api/tenants/$ID/webhooks/$HOOK/deliveries "$TA" >/dev/null        # pending, then retrying: nothing listens there
call 200 POST /graphql "$TA" "{\"query\": \"{ tenant(id: \\\"$ID\\\") { name organisations(first: 5) { nodes { name depth } pageInfo { hasNextPage } } } }\"}" \
  -H 'Accept: application/graphql-response+json' | jq -e '.data.tenant.name == "Travis County Sheriff"' >/dev/null

say 10 "Audit: who changed what (before, after, patch), a signed checkpoint, a proof, and an offline verification"
call 200 GET "/api/tenants/$ID/audit/entries?stream=$ID&limit=2" "$AUDITOR" >/dev/null
call 200 GET "/api/tenants/$ID/audit/entries?format=csv" "$AUDITOR" >/dev/null
call 201 POST /api/tenants/$ID/audit/checkpoints "$AUDITOR" >/dev/null
call 200 GET "/api/tenants/$ID/audit/proofs/inclusion?index=0" "$AUDITOR" >/dev/null
call 200 GET /api/tenants/$ID/audit/export "$AUDITOR" > "$work/bundle.json"
call 200 GET /api/audit/log-key "" > "$work/logkey.json"                         # the key auditors pin
dotnet "$(dirname "$DLL")/../../../../TenantEvents.Cli/bin/Debug/net10.0/tenantevents-audit.dll" verify --bundle "$work/bundle.json" --key "@$work/logkey.json"

say 11 "Analytics: who was active, the tenant's health, the estate"
call 200 GET "/api/tenants/$ID/analytics/active-users?granularity=week" "$ADMIN" >/dev/null
call 200 GET /api/tenants/$ID/analytics/health "$ADMIN" >/dev/null
call 200 GET /api/analytics/estate "$ADMIN" >/dev/null

say 12 "Tenants as code: export the tenant as a manifest, plan it (no changes), add an organisation, plan and apply"
manifest() { TENANTEVENTS_URL=$B TENANTEVENTS_TOKEN=$TA dotnet "$DLL" manifest "$@"; }
manifest export "$ID" -o "$work/tenant.yaml"                                    # YAML, organisations by path
manifest plan -f "$work/tenant.yaml" >&2                                         # exit 0: the tenant is as it says
call 200 GET /api/tenants/$ID/manifest "$TA" \
  | jq '.spec.organisations += [{"path": (.spec.organisations[0].path + "/Marine Unit"), "kind": "unit"}]' > "$work/tenant.json"
PLAN=$(curl -s -X POST "$B/api/manifests/plan" -H "Authorization: Bearer $TA" -H 'Content-Type: application/json' \
  --data-binary @"$work/tenant.json")
echo "$PLAN" | jq -e '.changes == [.changes[0]] and .changes[0].action == "create"' >/dev/null
call 200 POST /api/manifests/apply "$TA" "$(cat "$work/tenant.json")" -H "If-Match: \"$(echo "$PLAN" | jq -r .digest)\"" >/dev/null
call 412 POST /api/manifests/apply "$TA" "$(cat "$work/tenant.json")" -H "If-Match: \"$(echo "$PLAN" | jq -r .digest)\"" >/dev/null  # that plan is spent

say 13 "Billing and compute: the tenant's terms and a budget, an AI job on the worker pool, the budgets' standing"
call 200 PUT /api/tenants/$ID/billing/terms "$TA" '{"buyer": {"name": "Travis County Sheriff", "country": "US", "city": "Austin"}, "recovery": "partial", "subsidy": 0.25, "split": "proportional", "approvalRequired": true}' >/dev/null
call 200 PUT /api/tenants/$ID/organisations/$FORENSICS/budget "$TA" '{"amount": 500, "thresholds": [0.5, 0.8, 1.0], "forecast": true, "hard": true}' >/dev/null
JOB=$(call 202 POST /api/tenants/$ID/ai-compute/jobs "$TA" "{\"units\": 20, \"organisationId\": \"$FORENSICS\", \"purpose\": \"redaction\"}" | jq -r .id)
call 200 GET /api/tenants/$ID/ai-compute/jobs/$JOB "$TA" | jq -e '.state | IN("queued", "running", "done")' >/dev/null   # done in 20 ms of work
call 200 POST /api/tenants/$ID/billing/budgets/check "$TA" | jq -e '.items[0].spent >= 0' >/dev/null
call 200 GET /api/tenants/$ID/billing "$TA" | jq -e '.rateCards | length >= 1' >/dev/null   # the template's card prices the tenant
call 409 POST "/api/tenants/$ID/billing/months/$(date -u +%Y-%m)/close" "$ADMIN" >/dev/null  # the month has not ended
call 200 GET /api/ai-compute/pool "$ADMIN" >/dev/null

say 14 "Compliance: the rules of the tenant's jurisdiction, a data-subject access request, an incident, the security baseline"
call 200 GET /api/tenants/$ID/compliance "$TA" | jq -e '[.rules[].rule.id] | index("platform-default-requests") != null' >/dev/null  # US-TX: no catalogued DSR law
DSR=$(call 201 POST /api/tenants/$ID/data-subject-requests "$TA" '{"kind": "access", "email": "noor.haddad@travis.example.gov", "name": "Noor Haddad"}' | jq -r .id)
call 409 POST /api/tenants/$ID/data-subject-requests/$DSR/fulfil "$TA" '{}' >/dev/null            # not before the identity is verified
call 200 POST /api/tenants/$ID/data-subject-requests/$DSR/verify "$TA" '{"method": "driving licence seen at the front desk"}' >/dev/null
call 200 POST /api/tenants/$ID/data-subject-requests/$DSR/fulfil "$TA" '{}' | jq -e '.package.contacts[0].email == "noor.haddad@travis.example.gov"' >/dev/null
INC=$(call 201 POST /api/tenants/$ID/incidents "$TA" '{"title": "Phishing wave", "description": "Officers received fake password-reset mail.", "category": "phishing"}' | jq -r .id)
call 200 POST /api/tenants/$ID/incidents/$INC/assess "$TA" '{"significant": false, "severity": "low", "reasons": "Nobody entered a password"}' >/dev/null
call 200 POST /api/tenants/$ID/incidents/$INC/close "$TA" '{"resolution": "Sender blocked"}' >/dev/null
call 200 PUT /api/tenants/$ID/security-baseline "$TA" '{"requiredAmr": ["mfa"], "keyRotationDays": 90}' >/dev/null
call 200 GET /api/tenants/$ID/security-baseline/evidence "$TA" | jq -e '[.controls[] | select(.control == "key-rotation")][0].status == "met"' >/dev/null
call 200 GET "/api/tenants/$ID/compliance/records-of-processing?format=csv" "$TA" >/dev/null

say 15 "Lifecycle: suspend with optimistic concurrency (a stale ETag is 412), reactivate, then decommission with four eyes"
call 200 GET /api/tenants/$ID "$ADMIN" >/dev/null
ETAG=$(header etag)
call 412 POST /api/tenants/$ID/suspend "$ADMIN" '{"reason": "invoice overdue"}' -H 'If-Match: "1"' >/dev/null
call 200 POST /api/tenants/$ID/suspend "$ADMIN" '{"reason": "invoice overdue"}' -H "If-Match: $ETAG" >/dev/null
call 200 POST /api/tenants/$ID/reactivate "$ADMIN" '{}' >/dev/null
call 200 POST /api/tenants/$ID/keys/rotate "$ADMIN" '{"key": "data"}' >/dev/null
call 200 GET /api/tenants/$ID/export "$ADMIN" > "$work/export.ndjson"            # everything, before it is shredded
call 200 POST /api/tenants/$ID/decommission "$ADMIN" '{"reason": "merged into the state police"}' >/dev/null
call 200 POST /api/tenants/$ID/decommission/approve "$APPROVER" >/dev/null
call 409 POST /api/tenants/$ID/decommission/complete "$ADMIN" >/dev/null         # not before the audit retention has passed
call 200 POST /api/tenants/$ID/legal-holds "$ADMIN" '{"reference": "CASE-2026-0042", "reason": "litigation"}' >/dev/null

say 16 "The web console: /console for every role, signing in at the tenant's own provider with PKCE (open it in a browser)"
curl -s -D "$work/console-headers" -o "$work/console.html" "$B/console/"
grep -q '<div id="app">' "$work/console.html" && grep -qi "^content-security-policy: default-src 'none'" "$work/console-headers"
note "$B/console/ serves the console under a strict Content-Security-Policy"
call 200 GET /api/console/sign-in "" | jq -e '.development == true' >/dev/null                  # Development: paste make token ROLE=...
call 200 GET "/api/console/sign-in?tenant=travis-sheriff-$run" "" | jq -e --arg iss "$ISS" '.provider.issuer == $iss and .provider.redirectPath == "/console/signin/t/travis-sheriff-'$run'"' >/dev/null
call 404 GET "/api/console/sign-in?tenant=nobody-$run" "" >/dev/null                           # the same answer as a tenant without a provider
call 200 GET /api/console/me "$TA" | jq -e --arg id "$ID" '.tenantId == $id and (.roles | index("tenant-admin") != null)' >/dev/null

echo
echo "The tour went through all 16 steps."
