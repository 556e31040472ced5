// Runs the GraphQL-over-HTTP audit of graphql-http (serverAudits) against a running service and prints one JSON line:
// {"results":[{"id","name","status":"ok"|"warn"|"error","reason"}...]}. Usage: node audit.mjs URL TOKEN
import { serverAudits } from "graphql-http";

const [url, token] = process.argv.slice(2);
const fetchFn = (input, init = {}) => fetch(input, { ...init, headers: { ...(init.headers ?? {}), authorization: `Bearer ${token}` } });
const results = [];
for (const audit of serverAudits({ url, fetchFn })) {
  const result = await audit.fn();
  results.push({ id: audit.id, name: audit.name, status: result.status, reason: result.reason ?? null });
}
console.log(JSON.stringify({ results }));
