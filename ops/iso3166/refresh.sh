#!/usr/bin/env bash
# Regenerates the ISO 3166-1 alpha-2 and ISO 3166-2 code list the service validates residency zones against,
# from Debian's iso-codes package (apt-get install iso-codes). The result is committed; run this when iso-codes updates.
set -euo pipefail
src=${ISO_CODES_DIR:-/usr/share/iso-codes/json}
out=$(dirname "$0")/../../src/TenantEvents/Tenants/Residency/iso3166.json
python3 - "$src" "$out" <<'PY'
import json, sys
src, out = sys.argv[1], sys.argv[2]
countries = json.load(open(f"{src}/iso_3166-1.json"))["3166-1"]
subdivisions = json.load(open(f"{src}/iso_3166-2.json"))["3166-2"]
data = {
    "source": "Debian iso-codes (ISO 3166-1 alpha-2, ISO 3166-2)",
    "countries": {c["alpha_2"]: c["name"] for c in sorted(countries, key=lambda c: c["alpha_2"])},
    "subdivisions": {s["code"]: s["name"] for s in sorted(subdivisions, key=lambda s: s["code"])},
}
json.dump(data, open(out, "w"), ensure_ascii=False, indent=0, sort_keys=False)
print(f"{len(data['countries'])} countries, {len(data['subdivisions'])} subdivisions -> {out}")
PY
