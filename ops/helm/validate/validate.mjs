// Reads Kubernetes manifests (YAML, several documents) on stdin and checks each against the Kubernetes API's own schemas
// (kubernetes-models: the OpenAPI definitions of the API server, compiled for ajv). Prints every document as one JSON
// array on stdout (for the tests' own checks) and every violation on stderr; exits 1 if there is any, or a kind it does
// not know (a typo in apiVersion or kind is an error, not a skip).
import { parseAllDocuments } from "yaml";

const input = await new Promise((resolve) => {
  let text = "";
  process.stdin.setEncoding("utf8");
  process.stdin.on("data", (chunk) => (text += chunk));
  process.stdin.on("end", () => resolve(text));
});

const documents = parseAllDocuments(input)
  .map((d) => {
    if (d.errors.length) throw new Error(`YAML: ${d.errors.map((e) => e.message).join("; ")}`);
    return d.toJSON();
  })
  .filter((d) => d !== null);

// The packages that declare the models: the Kubernetes API's own, then the Prometheus operator's (ServiceMonitor,
// PrometheusRule). Anything else is unknown.
const packages = ["kubernetes-models", "@kubernetes-models/prometheus-operator"];
const modules = new Map();
async function modelOf(document) {
  const [group, version] = String(document.apiVersion ?? "").includes("/") ? document.apiVersion.split("/") : [null, document.apiVersion];
  for (const root of packages) {
    const module = `${root}/${group ? `${group}/` : ""}${version}/${document.kind}`;
    try {
      const Model = (await import(module))[document.kind];
      if (typeof Model === "function") {
        modules.set(document, module);
        return Model;
      }
    } catch {
      // not in this package
    }
  }
  return undefined;
}

let failures = 0;
for (const document of documents) {
  const where = `${document?.kind ?? "?"}/${document?.metadata?.name ?? "?"}`;
  const Model = await modelOf(document);
  if (Model === undefined) {
    console.error(`${where}: unknown apiVersion/kind ${document.apiVersion} ${document.kind}`);
    failures++;
    continue;
  }
  try {
    new Model(document).validate();
  } catch (e) {
    console.error(`${where}: ${e.message}`);
    failures++;
  }
}
// Unknown fields: the API server refuses them (strict field validation, kubectl's default), but the schemas above allow
// them. TypeScript's excess-property check does the same as the server: each document is assigned, as an object literal,
// to the model's declared type, and `tsc` reports any field the type does not have, at any depth.
const checks = [];
const imports = new Map();
documents.forEach((document, i) => {
  const module = modules.get(document);
  const type = `I${document.kind}_${imports.size}`;
  if (!imports.has(module)) imports.set(module, type);
  checks.push(`export const document${i}: ${imports.get(module)} = ${JSON.stringify(document)};`);
});
if (failures === 0 && documents.length) {
  const { mkdtempSync, writeFileSync, rmSync } = await import("node:fs");
  const { join, dirname } = await import("node:path");
  const { tmpdir } = await import("node:os");
  const { spawnSync } = await import("node:child_process");
  const { fileURLToPath } = await import("node:url");
  const here = dirname(fileURLToPath(import.meta.url));
  const folder = mkdtempSync(join(here, ".check-"));
  try {
    const header = [...imports].map(([module, type]) => {
      const kind = module.split("/").pop();
      return `import type { I${kind} as ${type} } from "${module}";`;
    });
    const lines = [...header, ...checks];
    writeFileSync(join(folder, "check.ts"), lines.join("\n") + "\n");
    const tsc = spawnSync(process.execPath, [join(here, "node_modules", "typescript", "bin", "tsc"), "--noEmit", "--strict", "--skipLibCheck",
      "--module", "nodenext", "--moduleResolution", "nodenext", "--target", "es2022", join(folder, "check.ts")], { encoding: "utf8", cwd: here });
    if (tsc.status !== 0) {
      for (const line of tsc.stdout.split("\n").filter((l) => l.includes("check.ts("))) {
        const at = Number(/check\.ts\((\d+),/.exec(line)[1]) - header.length - 1;
        const document = documents[at];
        console.error(`${document?.kind ?? "?"}/${document?.metadata?.name ?? "?"}: ${line.replace(/^.*?error /, "")}`);
        failures++;
      }
      if (failures === 0) {
        console.error(tsc.stdout + tsc.stderr);
        failures++;
      }
    }
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}
process.stdout.write(JSON.stringify(documents));
process.exit(failures ? 1 : 0);
