// How soon each console page is usable, in Debian's Chromium (playwright-core from console/), against a running service
// (make run, Development). "Interactive": the page's heading is shown and every list or chart on it has its data (no
// "Loading…" left), measured by the page's own clock (performance.now(), from the start of navigation), each load in a
// fresh browser context (nothing cached). The baseline, in the same run: the same browser loading the service's
// smallest document (/health/live), so the ratio says what the console adds to a round trip on this machine.
// With ORGS=N (default 5000), a tenant of its own gets N organisations first (20 departments of N/20 units, by the batch
// API), and the tree page, its first expansion and a search over all of them are timed too.
//   node bench/console/interactive.mjs [rounds]      BASE=http://127.0.0.1:5080 DATA=.data (the dev-token key)
import { chromium } from '../../console/node_modules/playwright-core/index.mjs';
import { execFileSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';

const BASE = process.env.BASE ?? 'http://127.0.0.1:5080';
const rounds = Number(process.argv[2] ?? 7);
const dll = new URL('../../src/TenantEvents/bin/Debug/net10.0/TenantEvents.dll', import.meta.url).pathname;
const data = process.env.DATA ?? new URL('../../.data', import.meta.url).pathname;
const token = (role, sub, tenant = '') => execFileSync('dotnet', [dll, 'dev-token', '--role', role, '--sub', sub, '--tenant', tenant],
  { encoding: 'utf8', env: { ...process.env, ASPNETCORE_ENVIRONMENT: 'Development', TenantEvents__DataFolder: data } }).trim();

const admin = token('platform-admin,platform-approver', 'bench-admin');
const tenants = await (await fetch(`${BASE}/api/tenants?state=active&limit=1`, { headers: { Authorization: `Bearer ${admin}` } })).json();
const tenant = tenants.items?.[0]?.id;
if (!tenant) { console.error('No active tenant: run `make tour` first (it makes some).'); process.exit(1); }
const sally = token('tenant-admin', 'bench-sally', tenant);
const auditor = token('auditor', 'bench-carol');
const analyst = token('analyst', 'bench-ana');

// A large tree: a tenant of its own, so the tour's stays as it is.
const ORGS = Number(process.env.ORGS ?? 5000);
const post = async (path, bearer, body) => {
  const r = await fetch(BASE + path, { method: 'POST', headers: { Authorization: `Bearer ${bearer}`, 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  if (!r.ok) throw new Error(`${path}: ${r.status} ${await r.text()}`);
  return r.json();
};
const slug = `bench-tree-${Date.now().toString(36)}`;
const big = await post('/api/tenants', admin, { name: `Bench tree ${slug}`, slug, template: 'law-enforcement', residency: { country: 'US', subdivision: 'US-TX' },
  contacts: [{ name: 'Bench Admin', email: 'bench@example.gov', role: 'admin' }] }).catch(e => { console.error(e.message); process.exit(1); });
await post(`/api/tenants/${big.id}/approve`, token('platform-approver', 'bench-approver'), {});
await post(`/api/tenants/${big.id}/provision`, admin, {});
const bigAdmin = token('tenant-admin', 'bench-admin', big.id);
const firstPage = await (await fetch(`${BASE}/api/tenants/${big.id}/organisations?limit=200`, { headers: { Authorization: `Bearer ${bigAdmin}` } })).json();
const bigRoot = firstPage.items.find(o => o.depth === 0).id;
const departments = Array.from({ length: 20 }, (_, d) => ({ id: crypto.randomUUID(), parentId: bigRoot, name: `Department ${d}`, kind: 'department' }));
const units = departments.flatMap((dep, d) => Array.from({ length: Math.max(1, Math.floor(ORGS / 20) - 1) }, (_, u) => ({ id: crypto.randomUUID(), parentId: dep.id, name: `Unit ${d}-${u}`, kind: 'unit' })));
const all = [...departments, ...units];
const made = Date.now();
for (let i = 0; i < all.length; i += 500) await post(`/api/tenants/${big.id}/organisations/batch`, bigAdmin, { organisations: all.slice(i, i + 500) });
console.log(`tree: ${all.length + 1} organisations made in ${((Date.now() - made) / 1000).toFixed(1)} s (batch API)`);

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: ['--no-sandbox'] });
const median = xs => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

async function baseline() {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${BASE}/health/live`, { waitUntil: 'load' });
  const ms = await page.evaluate(() => performance.getEntriesByType('navigation')[0].loadEventEnd);
  await context.close();
  return ms;
}

const callers = new Map();
async function interactive(bearer, hash) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  // Signed in as the console keeps it (this tab's session storage: the token and who the service says it is), before
  // the first byte of the page.
  if (!callers.has(bearer)) callers.set(bearer, await (await fetch(`${BASE}/api/console/me`, { headers: { Authorization: `Bearer ${bearer}` } })).json());
  await context.addInitScript(([token, caller]) => {
    sessionStorage.setItem('tenantevents.console.session', JSON.stringify({ token, expires: null, caller, via: 'development' }));
  }, [bearer, callers.get(bearer)]);
  const page = await context.newPage();
  await page.goto(`${BASE}/console/#${hash}`);
  await page.waitForFunction(() => document.querySelector('main h1') && !document.body.innerText.includes('Loading…'), null, { polling: 'raf' });
  const ms = await page.evaluate(() => performance.now());
  await context.close();
  return ms;
}

const pages = [
  ['tenants (platform admin)', admin, '/tenants'],
  ['tenant overview and timeline', admin, `/tenants/${tenant}`],
  ['organisation tree', sally, `/tenants/${tenant}/organisations`],
  ['audit trail', auditor, `/tenants/${tenant}/audit`],
  ['tenant health charts', analyst, `/tenants/${tenant}/health`],
  ['estate charts', analyst, '/estate'],
];
pages.push(['tree of ' + (all.length + 1) + ' organisations', bigAdmin, `/tenants/${big.id}/organisations`]);
await interactive(admin, '/tenants'); // warm the service (JIT), not the browser

/** The big tree: open one department (its 250 units load) and search every organisation for one unit, timed in the page. */
async function treeActions() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  if (!callers.has(bigAdmin)) callers.set(bigAdmin, await (await fetch(`${BASE}/api/console/me`, { headers: { Authorization: `Bearer ${bigAdmin}` } })).json());
  await context.addInitScript(([token, caller]) => sessionStorage.setItem('tenantevents.console.session', JSON.stringify({ token, expires: null, caller, via: 'development' })),
    [bigAdmin, callers.get(bigAdmin)]);
  const page = await context.newPage();
  await page.goto(`${BASE}/console/#/tenants/${big.id}/organisations`);
  await page.getByRole('button', { name: 'Open Department 7' }).waitFor();
  let started = Date.now();
  await page.getByRole('button', { name: 'Open Department 7' }).click();
  await page.getByRole('treeitem', { name: /Unit 7-0\b/ }).first().waitFor();
  const expand = Date.now() - started;
  await page.getByLabel('Find an organisation', { exact: true }).fill('Unit 13-42');
  started = Date.now();
  await page.getByRole('button', { name: 'Find', exact: true }).click();
  await page.getByRole('cell', { name: /Department 13 \/ Unit 13-42$/ }).waitFor({ timeout: 60000 });
  const search = Date.now() - started;
  await context.close();
  return { expand, search };
}
const base = [];
const times = Object.fromEntries(pages.map(([name]) => [name, []]));
for (let r = 0; r < rounds; r++) {
  base.push(await baseline());
  for (const [name, bearer, hash] of pages) times[name].push(await interactive(bearer, hash));
}
const expands = [], searches = [];
for (let r = 0; r < Math.min(rounds, 5); r++) { const { expand, search } = await treeActions(); expands.push(expand); searches.push(search); }
await browser.close();

const html = await (await fetch(`${BASE}/console/`)).text();
let script = 0;
for (const [, src] of html.matchAll(/src="([^"]+\.js)"/g)) script += gzipSync(Buffer.from(await (await fetch(BASE + src)).arrayBuffer())).length;
console.log(`first load: ${(script / 1024).toFixed(1)} KB of script, gzip (budget 300 KB)`);
console.log(`baseline /health/live loaded: median ${median(base).toFixed(0)} ms (${base.map(x => x.toFixed(0)).join(' / ')})`);
console.log(`tree: open a department of ${Math.floor(ORGS / 20) - 1} units: median ${median(expands)} ms (${expands.join(' / ')}); search all ${all.length + 1}: median ${median(searches)} ms (${searches.join(' / ')})`);
for (const [name] of pages) {
  const m = median(times[name]);
  console.log(`${name.padEnd(30)} interactive: median ${m.toFixed(0)} ms, ratio ${(m / median(base)).toFixed(1)} to the baseline (${times[name].map(x => x.toFixed(0)).join(' / ')})`);
}
