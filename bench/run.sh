#!/usr/bin/env bash
# Runs the benchmarks against the local PostgreSQL cluster (make bench sets ConnectionStrings__TenantEvents).
# Extra arguments go to the provisioning benchmark: --tenants N --concurrency N --rounds N
set -euo pipefail
cd "$(dirname "$0")/.."
ops/postgres/local-cluster.sh start tenantevents_bench
# The auth benchmark runs the test identity provider (Node.js + oauth2-mock-server).
if [[ " $* " == *" --auth "* && ! -d tests/idp/node_modules ]]; then (cd tests/idp && npm ci --no-audit --no-fund --loglevel=error); fi
dotnet build -c Release src/TenantEvents -nologo -clp:ErrorsOnly >/dev/null
dotnet build -c Release bench/TenantEvents.Bench -nologo -clp:ErrorsOnly >/dev/null
dotnet bench/TenantEvents.Bench/bin/Release/net10.0/TenantEvents.Bench.dll "$@"
