// Each role's main journey through the console in Debian's Chromium (playwright-core), against a real service process
// (tests/TenantEvents.Tests/WebConsole/ConsoleTests.cs starts it and runs this). Every page visited is checked with
// axe-core (no serious or critical violation) and kept as a screenshot in $SCREENSHOTS. Exit code 0 when every check held.
//   BASE         the service (http://127.0.0.1:PORT)
//   TOKEN_CMD    a command that prints a development token: TOKEN_CMD ROLE SUBJECT [TENANT]
//   SCREENSHOTS  folder for the screenshots (made if absent)
//   CHROMIUM     the browser (default /usr/bin/chromium)
import { chromium } from 'playwright-core';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import assert from 'node:assert/strict';

const BASE = process.env.BASE;
const SHOTS = process.env.SCREENSHOTS ?? '/tmp/console-screenshots';
const axeSource = readFileSync(new URL('../node_modules/axe-core/axe.min.js', import.meta.url), 'utf8');
mkdirSync(SHOTS, { recursive: true });
const [tokenCommand, ...tokenArgs] = JSON.parse(process.env.TOKEN_CMD);
const token = (role, subject, tenant = '') => execFileSync(tokenCommand, [...tokenArgs, '--role', role, '--sub', subject, '--tenant', tenant], { encoding: 'utf8' }).trim();
const run = Math.random().toString(36).slice(2, 8);
const failures = [];
const axeFindings = [];
let passed = 0;

async function rest(method, path, bearer, body) {
  const response = await fetch(BASE + path, { method, headers: { Authorization: `Bearer ${bearer}`, 'Content-Type': 'application/json' }, body: body ? JSON.stringify(body) : undefined });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: ['--no-sandbox'] });

async function signedIn(bearer, viewport = { width: 1280, height: 800 }) {
  const context = await browser.newContext({ viewport, acceptDownloads: true });
  const page = await context.newPage();
  page.on('pageerror', e => failures.push(`page error: ${e.message}`));
  page.on('console', m => { if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) failures.push(`console error: ${m.text()}`); });
  await page.goto(BASE + '/console/');
  await page.getByLabel('Development token', { exact: true }).fill(bearer);
  await page.getByRole('button', { name: 'Sign in with this token' }).click();
  await page.locator('[data-testid=person]').waitFor();
  return page;
}

async function visit(page, hash, heading) {
  await page.goto(`${BASE}/console/#${hash}`);
  if (heading) await page.getByRole('heading', { level: 1, name: heading }).waitFor();
  await page.waitForFunction(() => !document.body.innerText.includes('Loading…'));
}

/** axe-core on the page as it is now; serious and critical violations are failures. Then a screenshot. */
async function check(page, name) {
  // Evaluated through the debugging protocol: the console's Content-Security-Policy (rightly) refuses injected scripts.
  if (!(await page.evaluate(() => !!window.axe))) await page.evaluate(`${axeSource}\n;0`);
  const result = await page.evaluate(async () => await window.axe.run(document, { resultTypes: ['violations'] }));
  for (const v of result.violations.filter(v => v.impact === 'serious' || v.impact === 'critical'))
    axeFindings.push(`${name}: ${v.id} (${v.impact}) ${v.help}: ${v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', ')}`);
  await page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });
}

async function journey(name, body) {
  try { await body(); passed++; console.log(`ok ${name}`); }
  catch (e) { failures.push(`${name}: ${e.stack ?? e}`); console.log(`FAILED ${name}: ${e.message}`); }
}

const alice = token('platform-admin,platform-approver', 'alice');
const bob = token('platform-approver', 'bob');
let tenantId, tenantName = `Travis County Sheriff ${run}`, rootId;

await journey('platform: request, approve (four eyes), provision', async () => {
  const page = await signedIn(alice);
  await visit(page, '/tenants/new', 'Request a tenant');
  await page.getByLabel('Name', { exact: true }).fill(tenantName);
  await page.getByLabel('Short name', { exact: true }).fill(`travis-${run}`);
  await page.getByRole('combobox', { name: /^Template/ }).selectOption('law-enforcement');
  await page.getByLabel('Country (ISO 3166)', { exact: true }).fill('US');
  await page.getByLabel('Subdivision (optional)', { exact: true }).fill('US-TX');
  await page.getByLabel('Contact name', { exact: true }).fill('Sally Hemphill');
  await page.getByLabel('Contact e-mail', { exact: true }).fill('sally@travis.example.gov');
  await page.getByLabel('Contact role', { exact: true }).fill('sheriff');
  await check(page, '01-platform-request-form');
  await page.getByRole('button', { name: 'Request' }).click();
  await page.getByRole('heading', { level: 1, name: tenantName }).waitFor();
  tenantId = page.url().match(/tenants\/([0-9a-f-]{36})/)[1];
  await page.getByText('requested', { exact: true }).first().waitFor();
  // Alice asked: the queue says so and offers her no approval.
  await visit(page, '/approvals', 'Approval queue');
  const row = page.getByRole('row').filter({ hasText: tenantName });
  await row.getByText('You asked: someone else approves').waitFor();
  await row.getByText('Another approver must decide.').waitFor();
  assert.equal(await row.getByRole('button', { name: `Approve ${tenantName}` }).count(), 0);
  await check(page, '02-platform-approvals-four-eyes');
  // Bob approves.
  const approver = await signedIn(bob);
  await visit(approver, '/approvals', 'Approval queue');
  await approver.getByRole('row').filter({ hasText: tenantName }).getByRole('button', { name: `Approve ${tenantName}` }).click();
  await approver.getByRole('row').filter({ hasText: tenantName }).waitFor({ state: 'detached' });
  await approver.context().close();
  // Alice provisions; the timeline shows the three events, the tenant is active.
  await visit(page, `/tenants/${tenantId}`, tenantName);
  await page.getByRole('button', { name: 'Provision' }).click();
  await page.locator('.state.active').first().waitFor();
  await page.getByRole('cell', { name: 'tenant_provisioned' }).waitFor();
  await page.getByRole('cell', { name: 'tenant_approved' }).waitFor();
  await page.getByRole('button', { name: 'Place a legal hold' }).waitFor();
  await check(page, '03-platform-tenant-active-timeline');
  // The tenants list: filtered by state, keyboard to the tenant, CSV of what is shown.
  await visit(page, '/tenants', 'Tenants');
  await page.getByLabel('Filter', { exact: true }).fill(run);
  const first = page.locator('tbody tr').first();
  await first.focus();
  const download = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Download CSV' }).click();
  const csv = readFileSync(await (await download).path(), 'utf8');
  assert.match(csv, /^Name,Short name,State,/);
  assert.equal(csv.trim().split('\r\n').length, 2, 'the CSV holds exactly the filtered row');
  await check(page, '04-platform-tenants');
  await first.press('Enter');
  await page.getByRole('heading', { level: 1, name: tenantName }).waitFor();
  await page.context().close();
});

const sally = () => token('tenant-admin', 'sally', tenantId);
let precinct;
await journey('tenant admin: build a tree, grant, explain, service account', async () => {
  const page = await signedIn(sally());
  await visit(page, `/tenants/${tenantId}/organisations`, 'Organisation tree');
  const root = page.getByRole('treeitem').first();
  await root.locator('.label').first().click();
  await page.getByRole('heading', { level: 2, name: tenantName }).waitFor();
  const panel = page.locator('section.panel');
  await panel.getByLabel('Name', { exact: true }).fill('Precinct 4');
  await panel.getByLabel('Kind', { exact: true }).fill('field-office');
  await panel.getByRole('button', { name: 'Add an organisation under this one' }).click();
  await panel.getByText('Done.').first().waitFor();
  // The new node appears under the open root (its children are read again).
  await page.getByRole('treeitem', { name: /Precinct 4/ }).locator('.label').first().click();
  await page.getByRole('heading', { level: 2, name: 'Precinct 4' }).waitFor();
  await panel.getByLabel('Who (user:NAME, group:NAME, service:ID)', { exact: true }).fill('user:xavier');
  await panel.getByRole('combobox', { name: /^Role/ }).selectOption('agency-admin');
  await panel.getByRole('button', { name: 'Grant', exact: true }).click();
  await panel.getByRole('cell', { name: 'user:xavier', exact: true }).waitFor();
  await check(page, '05-tenant-tree-grant');
  // Move Precinct 4 under the Patrol Division (chosen by its path); the tree shows it there.
  await panel.getByRole('button', { name: 'Move\u2026' }).click();
  await panel.getByRole('combobox', { name: /^New parent/ }).selectOption({ label: `${tenantName} / Patrol Division` });
  await panel.getByRole('button', { name: 'Move under' }).click();
  await panel.getByText('Done.').first().waitFor();
  const patrol = page.getByRole('treeitem', { name: /^▸ Patrol Division|Patrol Division/ }).first();
  await patrol.getByRole('button', { name: 'Open Patrol Division' }).click();
  await patrol.getByRole('treeitem', { name: /Precinct 4/ }).waitFor();
  // Search across the whole tree.
  await page.getByLabel('Find an organisation', { exact: true }).fill('precinct');
  await page.getByRole('button', { name: 'Find', exact: true }).click();
  await page.getByRole('cell', { name: `${tenantName} / Patrol Division / Precinct 4` }).waitFor();
  // Keyboard: the tree's labels take focus and arrow keys move between them.
  await page.locator('[role=treeitem] > .label').first().focus();
  await page.keyboard.press('ArrowDown');
  assert.ok(await page.evaluate(() => document.activeElement?.classList.contains('label')), 'arrow keys move within the tree');
  // Why may xavier manage Precinct 4?
  await visit(page, `/tenants/${tenantId}/explain`, 'Why may this person do that?');
  await page.getByLabel('Who (user:NAME, group:NAME, service:ID)', { exact: true }).fill('user:xavier');
  await page.getByLabel('Permission', { exact: true }).fill('org.manage');
  await page.getByRole('combobox', { name: /^Organisation/ }).selectOption({ label: `${tenantName} / Patrol Division / Precinct 4` });
  await page.getByRole('button', { name: 'Explain' }).click();
  const answer = page.locator('[data-testid=explain-answer]');
  await answer.getByRole('heading', { name: 'Allowed' }).waitFor();
  await answer.getByText('Because user:xavier holds agency-admin at Precinct 4.').waitFor();
  await check(page, '06-tenant-explain');
  // And someone without a grant: not allowed.
  await page.getByLabel('Who (user:NAME, group:NAME, service:ID)', { exact: true }).fill('user:nobody');
  await page.getByRole('button', { name: 'Explain' }).click();
  await answer.getByRole('heading', { name: 'Not allowed' }).waitFor();
  // A service account: the secret is shown once, and not in the list.
  await visit(page, `/tenants/${tenantId}/service-accounts`, 'Service accounts');
  await page.getByLabel('Name', { exact: true }).fill('records sync');
  await page.getByLabel('Scopes', { exact: true }).fill('org.read');
  await page.getByRole('button', { name: 'Create service account' }).click();
  const secret = await page.locator('[data-testid=secret] dd').nth(1).innerText();
  assert.ok(secret.length > 20, 'the secret is shown');
  await check(page, '07-tenant-service-account-secret-once');
  await page.getByRole('button', { name: 'I have stored it' }).click();
  await page.getByRole('cell', { name: 'records sync', exact: true }).waitFor();
  assert.ok(!(await page.content()).includes(secret), 'the secret is gone from the page');
  for (const [path, heading, shot] of [['quotas', 'Quotas', '08-tenant-quotas'], ['identity', 'Identity and SCIM', '09-tenant-identity'],
    ['webhooks', 'Webhooks', '10-tenant-webhooks'], ['sharing', 'Sharing', '11-tenant-sharing'], ['members', 'Members', '12-tenant-members']]) {
    await visit(page, `/tenants/${tenantId}/${path}`, heading);
    await check(page, shot);
  }
  await page.context().close();
});

await journey('a tenant\u2019s people sign in through its own OpenID provider (authorization code with PKCE)', async () => {
  const IDP = process.env.IDP;
  assert.ok(IDP, 'IDP: the test OpenID provider (tests/idp)');
  // Sally configures the provider in the console; the console's client id there is the audience.
  const page = await signedIn(sally());
  await visit(page, `/tenants/${tenantId}/identity`, 'Identity and SCIM');
  await page.getByText('No identity provider is configured.').waitFor();
  await page.getByLabel('Issuer', { exact: true }).fill(IDP);
  await page.getByLabel('Audience (the console\u2019s client id)', { exact: true }).fill('tenantevents-console');
  await page.getByLabel('Administrator groups', { exact: true }).fill('it-admins');
  await page.getByRole('button', { name: 'Configure' }).click();
  await page.getByRole('definition').filter({ hasText: IDP }).first().waitFor();
  await check(page, '22-tenant-identity-provider');
  await page.context().close();
  // Sam, of it-admins, signs in at the provider: the console sends him there and exchanges the code with its verifier.
  await fetch(`${IDP}/control/next-user`, { method: 'POST', body: JSON.stringify({ sub: 'sam', name: 'Sam Okafor', groups: ['it-admins'] }) });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const sam = await context.newPage();
  sam.on('pageerror', e => failures.push(`page error: ${e.message}`));
  sam.on('response', async r => {
    if ((r.url().startsWith(IDP + '/token') || r.url().startsWith(BASE + '/api/')) && r.status() >= 400)
      console.log(`  ${r.request().method()} ${r.url()}: ${r.status()} ${await r.text().catch(() => '')} ${r.headers()['www-authenticate'] ?? ''}`);
  });
  const authorize = [];
  sam.on('request', r => { if (r.url().startsWith(IDP + '/authorize')) authorize.push(new URL(r.url())); });
  await sam.goto(BASE + '/console/');
  await sam.getByLabel('Your organisation (its short name)').fill(`travis-${run}`);
  await sam.getByRole('button', { name: 'Continue to your identity provider' }).click();
  await sam.locator('[data-testid=person]').waitFor();
  assert.match(await sam.locator('[data-testid=person]').innerText(), /^Sam Okafor/);
  const asked = authorize[0].searchParams;
  assert.equal(asked.get('code_challenge_method'), 'S256');
  assert.equal(asked.get('client_id'), 'tenantevents-console');
  assert.ok(/^[A-Za-z0-9_-]{43}$/.test(asked.get('code_challenge')) && asked.get('state'), 'a challenge and a state');
  assert.ok(!sam.url().includes('code='), 'the code is gone from the address');
  // As an administrator of the tenant through his group, he sees its tree; not another tenant's.
  await visit(sam, `/tenants/${tenantId}/organisations`, 'Organisation tree');
  await sam.getByRole('treeitem', { name: new RegExp(tenantName) }).first().waitFor();
  await check(sam, '23-federated-sign-in');
  // A name nobody holds: the same answer as a tenant without a provider.
  await sam.getByRole('button', { name: 'Sign out' }).click();
  await sam.getByLabel('Your organisation (its short name)').fill(`nobody-${run}`);
  await sam.getByRole('button', { name: 'Continue to your identity provider' }).click();
  await sam.getByText('No sign-in is set up under that name.', { exact: false }).waitFor();
  await context.close();
});

await journey('platform staff sign in at the platform\u2019s own provider; answers not for this sign-in are refused', async () => {
  const STAFF = process.env.STAFF_IDP;
  assert.ok(STAFF, 'STAFF_IDP: the platform staff\u2019s OpenID provider (tests/idp)');
  await fetch(`${STAFF}/control/next-user`, { method: 'POST', body: JSON.stringify({ sub: 'olga', name: 'Olga Ruiz', groups: ['platform-operators'] }) });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.on('pageerror', e => failures.push(`page error: ${e.message}`));
  await page.goto(BASE + '/console/');
  await page.getByRole('button', { name: 'Platform staff: sign in' }).click();
  await page.locator('[data-testid=person]').waitFor();
  assert.equal(await page.locator('[data-testid=person]').innerText(), 'Olga Ruiz · platform-admin, platform-approver');
  await page.getByRole('heading', { level: 1, name: 'Tenants' }).waitFor();
  await page.getByRole('link', { name: tenantName }).waitFor();
  await check(page, '24-staff-sign-in');
  await page.getByRole('button', { name: 'Sign out' }).click();
  // A sign-in that left for a provider, whose answer comes back to another provider's address (a mix-up), is refused.
  await page.route(`${STAFF}/authorize**`, route => route.fulfill({ status: 200, contentType: 'text/html', body: '<p>held</p>' }));
  await page.getByRole('button', { name: 'Platform staff: sign in' }).click();
  await page.waitForURL(`${STAFF}/authorize**`);
  await page.unroute(`${STAFF}/authorize**`);
  await page.goBack();
  const state = await page.evaluate(() => JSON.parse(sessionStorage.getItem('tenantevents.console.pending')).state);
  await page.goto(`${BASE}/console/signin/t/travis-${run}?code=stolen&state=${state}`);
  await page.getByText('This sign-in answer was not for this tab or came from another provider than the one you chose; sign in again.').waitFor();
  assert.equal(await page.locator('[data-testid=person]').count(), 0);
  // A link carrying an error text of someone else's choosing shows ours, not theirs.
  await page.goto(`${BASE}/console/signin/staff?error=access_denied&error_description=Call%20us%20at%20555-0100&state=x`);
  await page.getByText('This sign-in answer was not for this tab', { exact: false }).waitFor();
  assert.ok(!(await page.content()).includes('555-0100'));
  await check(page, '25-sign-in-answer-refused');
  await context.close();
});

await journey('analyst: read the estate and a tenant\u2019s charts, download their data', async () => {
  const page = await signedIn(token('analyst', 'ana'));
  await visit(page, '/estate', 'Estate analytics');
  await page.getByRole('img', { name: 'Tenants by month' }).waitFor();
  const download = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Download data of \u201cTenants by month\u201d as CSV' }).click();
  const csv = readFileSync(await (await download).path(), 'utf8');
  assert.match(csv, /^Date,Live at month end,Requested,Provisioned,Decommissioned\r\n/);
  assert.ok(csv.split('\r\n').length > 3, 'a row per month');
  await check(page, '13-analyst-estate');
  await visit(page, `/tenants/${tenantId}/health`, 'Health and usage');
  await page.getByRole('img', { name: 'Daily and monthly active users' }).waitFor();
  await page.locator('[data-testid=health-status]').waitFor();
  const daily = page.waitForEvent('download');
  await page.getByRole('button', { name: /Download data of .Daily and monthly active users/ }).click();
  assert.match(readFileSync(await (await daily).path(), 'utf8'), /^Date,Daily active users,Monthly active users \(30 days\)\r\n\d{4}-\d\d-\d\d,/);
  await check(page, '14-analyst-tenant-health');
  await page.context().close();
});

await journey('auditor: the trail, a diff, a proof verified in the page', async () => {
  const page = await signedIn(token('auditor', 'carol'));
  await visit(page, `/tenants/${tenantId}/audit?type=tenant_approved`, 'Audit trail');
  await page.getByRole('button', { name: /Open entry \d+/ }).first().click();
  await page.getByRole('heading', { level: 2, name: /Entry \d+: tenant_approved/ }).waitFor();
  await page.locator('tr.changed').filter({ hasText: 'state' }).waitFor();
  await page.getByRole('button', { name: 'Verify this entry' }).click();
  const result = page.locator('[data-testid=proof-result]');
  await result.getByText(/^Verified: entry \d+ is in the log of \d+ entries that the audit key signed\.$/).waitFor({ timeout: 15000 });
  await check(page, '15-auditor-proof-verified');
  // Pin a key that is not the log's: the same proof no longer verifies.
  const other = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
  const spki = new Uint8Array(await crypto.subtle.exportKey('spki', other.publicKey));
  const served = await (await fetch(BASE + '/api/audit/log-key')).json();
  const material = new Uint8Array([...new TextEncoder().encode(served.name), 0x0a, 0x02, ...spki]);
  const id = [...new Uint8Array(await crypto.subtle.digest('SHA-256', material)).slice(0, 4)].map(b => b.toString(16).padStart(2, '0')).join('');
  await page.getByLabel(/Pinned audit log key/).fill(`${served.name}+${id}+${Buffer.from([0x02, ...spki]).toString('base64')}`);
  await page.getByRole('button', { name: 'Pin' }).click();
  await page.getByRole('button', { name: 'Verify this entry' }).click();
  await result.getByText('NOT verified.').waitFor();
  await check(page, '16-auditor-wrong-key-refused');
  // The export honours the filters (the API's own CSV).
  const download = page.waitForEvent('download');
  await page.getByRole('button', { name: /Export CSV/ }).click();
  const lines = readFileSync(await (await download).path(), 'utf8').trim().split(/\r?\n/);
  assert.ok(lines.length >= 2 && lines.slice(1).every(l => l.includes(',tenant_approved,')), 'only the filtered type');
  await page.context().close();
});

await journey('the console never shows what the API refuses (another tenant, a member, anonymous)', async () => {
  // A second tenant, made through the API; Sally administers the first only.
  const other = await rest('POST', '/api/tenants', alice, { name: `Hays County ${run}`, slug: `hays-${run}`, template: 'law-enforcement',
    residency: { country: 'US', subdivision: 'US-TX' }, contacts: [{ name: 'Dana Cole', email: 'dana@hays.example.gov', role: 'sheriff' }] });
  await rest('POST', `/api/tenants/${other.id}/approve`, bob, {});
  await rest('POST', `/api/tenants/${other.id}/provision`, alice, {});
  const page = await signedIn(sally());
  const pages = ['', '/organisations', '/explain', '/members', '/service-accounts', '/identity', '/quotas', '/sharing', '/webhooks', '/health', '/audit'];
  for (const suffix of pages) {
    await visit(page, `/tenants/${other.id}${suffix}`);
    await page.getByText('Not available to you.').first().waitFor();
    const text = await page.locator('main').innerText();
    for (const secret of ['Hays County', `hays-${run}`, 'Dana Cole', 'dana@hays']) assert.ok(!text.includes(secret), `${suffix || '/'} shows ${secret}`);
  }
  await check(page, '17-cross-tenant-refused');
  // An address that would steer the console's calls elsewhere is no page at all.
  await page.goto(`${BASE}/console/#/tenants/..%2Fplatform%2Fdatabases%3F`);
  await page.getByRole('heading', { level: 1, name: 'No such page' }).waitFor();
  // Platform pages: the API refuses a tenant administrator the queue and the estate; so does the console.
  for (const [hash, secret] of [['/approvals', ''], ['/estate', ''], ['/tenants', 'Hays County']]) {
    await visit(page, hash);
    const text = await page.locator('main').innerText();
    if (secret) assert.ok(!text.includes(secret), `${hash} shows ${secret}`);
    assert.ok(!text.includes(`hays-${run}`), `${hash} shows the other tenant`);
  }
  // A member with one permission (org.read at Precinct 4 only) sees that subtree, not the root's grants.
  const member = await signedIn(token('tenant-member', 'mia', tenantId));
  await rest('POST', `/api/tenants/${tenantId}/organisations/${(await rest('GET', `/api/tenants/${tenantId}/organisations?limit=200`, sally())).items.find(o => o.name === 'Precinct 4').id}/grants`,
    sally(), { principal: { kind: 'user', id: 'mia' }, role: 'analyst' }).catch(() => null);
  await visit(member, `/tenants/${tenantId}/service-accounts`, 'Service accounts');
  await member.getByText('Not available to you.').first().waitFor();
  assert.ok(!(await member.locator('main').innerText()).includes('records sync'), 'a member without identity.read sees no service account');
  await check(member, '18-member-refused');
  await member.context().close();
  // Signed out: only the sign-in page.
  const anonymous = await (await browser.newContext()).newPage();
  await anonymous.goto(`${BASE}/console/#/tenants/${tenantId}/audit`);
  await anonymous.getByRole('heading', { name: 'Sign in to TenantEvents' }).waitFor();
  await check(anonymous, '19-sign-in');
  await page.context().close();
});

await journey('phone-sized screen', async () => {
  const page = await signedIn(sally(), { width: 390, height: 844 });
  await visit(page, `/tenants/${tenantId}/organisations`, 'Organisation tree');
  await check(page, '20-phone-tree');
  await visit(page, `/tenants/${tenantId}/quotas`, 'Quotas');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `the page is ${overflow}px wider than the phone`);
  await check(page, '21-phone-quotas');
  await page.context().close();
});

await journey('budget: first load under 300 KB of compressed script', async () => {
  const html = await (await fetch(BASE + '/console/')).text();
  const scripts = [...html.matchAll(/src="([^"]+\.js)"/g)].map(m => m[1]);
  let total = 0;
  for (const src of scripts) total += gzipSync(Buffer.from(await (await fetch(BASE + src)).arrayBuffer())).length;
  console.log(`script on first load: ${scripts.length} file(s), ${(total / 1024).toFixed(1)} KB gzip`);
  assert.ok(scripts.length > 0 && total < 300 * 1024, `${total} bytes`);
});

await browser.close();
if (axeFindings.length) failures.push('axe-core found serious or critical violations:\n  ' + axeFindings.join('\n  '));
writeFileSync(`${SHOTS}/result.txt`, failures.join('\n\n') + '\n');
console.log(`journeys: ${passed} passed, ${failures.length} failure(s)`);
for (const f of failures) console.log('---\n' + f);
process.exit(failures.length ? 1 : 0);
