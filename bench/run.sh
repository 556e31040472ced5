#!/usr/bin/env bash
# Runs the benchmarks against the local PostgreSQL cluster (make bench sets ConnectionStrings__TenantEvents).
# Extra arguments go to the provisioning benchmark: --tenants N --concurrency N --rounds N
set -euo pipefail
cd "$(dirname "$0")/.."
ops/postgres/local-cluster.sh start tenantevents_bench
dotnet build -c Release src/TenantEvents -nologo -clp:ErrorsOnly >/dev/null
dotnet build -c Release bench/TenantEvents.Bench -nologo -clp:ErrorsOnly >/dev/null
dotnet bench/TenantEvents.Bench/bin/Release/net10.0/TenantEvents.Bench.dll "$@"
