// The console: a hash router over pages, a header with the signed-in person, a navigation that offers what their role
// may use (the API still decides every call). English strings live in strings.en.js.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { html } from './html.js';
import { t, language } from './i18n.js';
import { session, onSession, who, signOut, completeSignIn } from './auth.js';
import { SignIn } from './pages/signin.js';
import { Approvals, Tenants, TenantDetail, RequestTenant } from './pages/platform.js';
import { Tree, Explain, Members, ServiceAccounts, Identity, Quotas, Sharing, Webhooks } from './pages/tenant.js';
import { Estate, Health } from './pages/analytics.js';
import { AuditTrail } from './pages/audit.js';

const routes = [
  ['/approvals', Approvals], ['/tenants', Tenants], ['/tenants/new', RequestTenant], ['/estate', Estate],
  ['/tenants/:id', TenantDetail], ['/tenants/:id/organisations', Tree], ['/tenants/:id/explain', Explain],
  ['/tenants/:id/members', Members], ['/tenants/:id/service-accounts', ServiceAccounts], ['/tenants/:id/identity', Identity],
  ['/tenants/:id/quotas', Quotas], ['/tenants/:id/sharing', Sharing], ['/tenants/:id/webhooks', Webhooks],
  ['/tenants/:id/health', Health], ['/tenants/:id/audit', AuditTrail],
];

function match(path) {
  for (const [pattern, page] of routes) {
    const names = [];
    // Identifiers in the address are UUIDs and nothing else: a link cannot steer the console's API calls elsewhere.
    const re = new RegExp('^' + pattern.replace(/:(\w+)/g, (_, n) => { names.push(n); return '([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})'; }) + '$');
    const m = path.match(re);
    if (m) return { page, params: Object.fromEntries(names.map((n, i) => [n, m[i + 1]])) };
  }
  return null;
}

const location = () => {
  const [path, query = ''] = (window.location.hash.slice(1) || '/').split('?');
  return { path, query: new URLSearchParams(query) };
};

function home(person) {
  if (person.platform) return person.roles.includes('analyst') && !person.roles.some(r => r.startsWith('platform')) ? '/estate' : '/tenants';
  return person.tenantId ? `/tenants/${person.tenantId}` : '/tenants';
}

function Navigation({ person, path }) {
  const items = [];
  const roles = person.roles;
  if (roles.includes('platform-admin') || roles.includes('platform-approver')) items.push(['/approvals', t('nav.approvals')]);
  if (person.platform) items.push(['/tenants', t('nav.tenants')]);
  if (person.platform) items.push(['/estate', t('nav.estate')]);
  const tenant = path.match(/^\/tenants\/([0-9a-f-]{36})/)?.[1] ?? (!person.platform ? person.tenantId : null);
  // What each role is offered (the API still decides every call): platform administrators and tenant people see
  // every tenant page; auditors the record; analysts the figures; approvers the tenant itself.
  const offered = roles.some(r => ['platform-admin', 'tenant-admin', 'tenant-member'].includes(r)) || !person.platform
    ? ['', '/organisations', '/explain', '/members', '/service-accounts', '/identity', '/quotas', '/sharing', '/webhooks', '/health', '/audit']
    : [...new Set([''].concat(roles.includes('auditor') ? ['/organisations', '/audit'] : [], roles.includes('analyst') ? ['/health', '/quotas'] : []))];
  const labels = { '': 'nav.overview', '/organisations': 'nav.tree', '/explain': 'nav.explain', '/members': 'nav.members',
    '/service-accounts': 'nav.serviceAccounts', '/identity': 'nav.identity', '/quotas': 'nav.quotas', '/sharing': 'nav.sharing',
    '/webhooks': 'nav.webhooks', '/health': 'nav.health', '/audit': 'nav.audit' };
  const tenantItems = tenant ? offered.map(suffix => [`/tenants/${tenant}${suffix}`, t(labels[suffix])]) : [];
  const entry = ([href, label]) => html`<li><a href=${'#' + href} aria-current=${path === href ? 'page' : undefined}>${label}</a></li>`;
  return html`<nav aria-label=${t('nav.label')}>
    <ul>${items.map(entry)}</ul>
    ${tenantItems.length ? html`<h2 class="navhead">${t('nav.tenant')}</h2><ul>${tenantItems.map(entry)}</ul>` : null}
  </nav>`;
}

function App() {
  const [current, setCurrent] = useState(session());
  const [where, setWhere] = useState(location());
  const [notice, setNotice] = useState(null);
  useEffect(() => onSession((s, reason) => { setCurrent(s); if (reason === 'expired') setNotice(t('signin.expired')); }), []);
  useEffect(() => {
    const listen = () => setWhere(location());
    window.addEventListener('hashchange', listen);
    completeSignIn().catch(e => setNotice(e.message));
    return () => window.removeEventListener('hashchange', listen);
  }, []);
  useEffect(() => {
    // Focus the page's heading after navigation, so keyboard and screen-reader users land on the new content.
    document.querySelector('main h1')?.focus();
  }, [where.path]);
  const person = who(current);
  if (!person) return html`<${SignIn} notice=${notice} />`;
  if (where.path === '/') { window.location.replace('#' + home(person)); return null; }
  const found = match(where.path);
  const Page = found?.page;
  return html`<div class="shell">
    <a class="skip" href="#main" onClick=${e => { e.preventDefault(); document.getElementById('main').focus(); }}>${t('skip')}</a>
    <header>
      <a class="brand" href="#/">${t('app.name')}</a>
      <span class="person" data-testid="person">${person.name} · ${person.roles.length ? person.roles.join(', ') : t('signin.via', { issuer: person.via })}</span>
      <button type="button" onClick=${() => signOut()}>${t('signout')}</button>
    </header>
    <${Navigation} person=${person} path=${where.path} />
    <main id="main" tabindex="-1">
      ${Page ? html`<${Page} ...${found.params} query=${where.query} person=${person} />`
        : html`<h1 tabindex="-1">${t('notfound.title')}</h1><p>${t('notfound.detail')}</p>`}
    </main>
  </div>`;
}

render(html`<${App} />`, document.getElementById('app'));
document.documentElement.lang = language;
