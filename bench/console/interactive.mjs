// How soon each console page is usable, in Debian's Chromium (playwright-core from console/), against a running service
// (make run, Development). "Interactive": the page's heading is shown and every list or chart on it has its data (no
// "Loading…" left), measured by the page's own clock (performance.now(), from the start of navigation), each load in a
// fresh browser context (nothing cached). The baseline, in the same run: the same browser loading the service's
// smallest document (/health/live), so the ratio says what the console adds to a round trip on this machine.
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
await interactive(admin, '/tenants'); // warm the service (JIT), not the browser
const base = [];
const times = Object.fromEntries(pages.map(([name]) => [name, []]));
for (let r = 0; r < rounds; r++) {
  base.push(await baseline());
  for (const [name, bearer, hash] of pages) times[name].push(await interactive(bearer, hash));
}
await browser.close();

const html = await (await fetch(`${BASE}/console/`)).text();
let script = 0;
for (const [, src] of html.matchAll(/src="([^"]+\.js)"/g)) script += gzipSync(Buffer.from(await (await fetch(BASE + src)).arrayBuffer())).length;
console.log(`first load: ${(script / 1024).toFixed(1)} KB of script, gzip (budget 300 KB)`);
console.log(`baseline /health/live loaded: median ${median(base).toFixed(0)} ms (${base.map(x => x.toFixed(0)).join(' / ')})`);
for (const [name] of pages) {
  const m = median(times[name]);
  console.log(`${name.padEnd(30)} interactive: median ${m.toFixed(0)} ms, ratio ${(m / median(base)).toFixed(1)} to the baseline (${times[name].map(x => x.toFixed(0)).join(' / ')})`);
}
