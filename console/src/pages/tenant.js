// Tenant administrators (and members, within what their grants allow): the organisation tree (lazy, searchable,
// movable), grants and "why may this person do that", members, service accounts (secret shown once), the identity
// provider and SCIM, quotas with their allocations, sharing agreements and webhooks with deliveries.
import { useRef, useState } from 'preact/hooks';
import { html } from '../html.js';
import { t, format } from '../i18n.js';
import { api, all } from '../api.js';
import { useLoad, Loading, Table, Action, Field, Problem, short } from '../ui.js';

const principalText = p => (p ? `${p.kind}:${p.id}` : '');
const splitPrincipal = text => { const [kind, ...rest] = String(text).split(':'); return { kind, id: rest.join(':') }; };

/** One node of the tree: its children load when it opens (aria tree pattern, arrow keys). */
function Node({ tenant, org, depth, selected, onSelect, open: startOpen, version }) {
  const [open, setOpen] = useState(!!startOpen);
  const children = useLoad(() => (open ? all(`/api/tenants/${tenant}/organisations/${org.id}/children?limit=200`) : Promise.resolve(null)), [open, org.id, version]);
  const key = event => {
    if (event.key === 'ArrowRight') { event.preventDefault(); setOpen(true); }
    else if (event.key === 'ArrowLeft') { event.preventDefault(); setOpen(false); }
    else if (event.key === 'Enter' || event.key === ' ') { event.preventDefault(); onSelect(org); }
    else if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
      event.preventDefault();
      const items = [...document.querySelectorAll('[role=treeitem] > .label')];
      items[items.indexOf(event.currentTarget) + (event.key === 'ArrowDown' ? 1 : -1)]?.focus();
    }
  };
  return html`<li role="treeitem" aria-expanded=${open} aria-selected=${selected === org.id} aria-level=${depth + 1}>
    <span class="label" tabindex="0" onKeyDown=${key} onClick=${() => onSelect(org)}>
      <button type="button" class="twisty" tabindex="-1" aria-label=${open ? t('tree.collapse', { name: org.name }) : t('tree.expand', { name: org.name })}
        onClick=${e => { e.stopPropagation(); setOpen(!open); }}>${open ? '▾' : '▸'}</button>
      ${org.name} <span class="muted">${org.kind}${org.state !== 'open' ? ' · ' + org.state : ''}</span></span>
    ${open ? html`<${Loading} state=${children}>${list => list && list.length ? html`<ul role="group">
      ${list.map(c => html`<${Node} key=${c.id} tenant=${tenant} org=${c} depth=${depth + 1} selected=${selected} onSelect=${onSelect} version=${version} />`)}</ul>` : null}<//>` : null}
  </li>`;
}

export function Tree({ id }) {
  // The roots the person may see: depth-0 organisations, or (for someone granted lower down) the highest visible ones.
  const roots = useLoad(async () => {
    // Whoever sees the tenant's root sees everything under it: the first page holds it. Someone granted lower down
    // (one subtree or several, at any depth) gets the highest organisations they see, from all they see.
    const first = await api(`/api/tenants/${id}/organisations?limit=200`);
    const root = first.items.find(o => o.depth === 0);
    if (root) return [root];
    const items = first.nextCursor ? await all(`/api/tenants/${id}/organisations?limit=200`, 20000) : first.items;
    const ids = new Set(items.map(o => o.id));
    return items.filter(o => !o.parentId || !ids.has(o.parentId));
  }, [id]);
  const [selected, setSelected] = useState(null);
  const [version, setVersion] = useState(0);
  const cache = useRef(null);
  const [search, setSearch] = useState({ q: '', hits: null });
  const find = async event => {
    event.preventDefault();
    const q = new FormData(event.target).get('q').trim().toLowerCase();
    // Every visible organisation, read once per tree (and again after a change here): later searches cost nothing.
    let everything = cache.current?.version === version ? cache.current.list : null;
    if (!everything) {
      try { everything = await all(`/api/tenants/${id}/organisations?limit=200`, 20000); } catch (error) { setSearch({ q, error }); return; }
      cache.current = { version, list: everything };
    }
    const byId = new Map(everything.map(o => [o.id, o]));
    const path = o => { const names = []; for (let n = o; n; n = byId.get(n.parentId)) names.unshift(n.name); return names.join(' / '); };
    const hits = everything.filter(o => (o.name ?? '').toLowerCase().includes(q)).slice(0, 200).map(o => ({ ...o, path: path(o) }));
    if (everything.truncated) hits.truncated = true; // searched among the first organisations only: say so
    setSearch({ q, hits });
  };
  return html`<h1 tabindex="-1">${t('tree.title')}</h1>
    <form class="toolbar" role="search" onSubmit=${find}><label>${t('tree.search')} <input type="search" name="q" required /></label>
      <button type="submit">${t('tree.find')}</button></form>
    <${Problem} error=${search.error} />
    ${search.hits ? html`<${Table} name="organisation-search" rows=${search.hits} onOpen=${setSelected} caption=${t('tree.hits', { q: search.q })}
      columns=${[{ label: t('col.name'), value: o => o.name, render: o => html`<button type="button" class="linklike" onClick=${() => setSelected(o)}>${o.name}</button>` },
        { label: t('col.path'), value: o => o.path }, { label: t('col.kind'), value: o => o.kind }]} />` : null}
    <div class="split">
      <${Loading} state=${roots}>${list => html`<ul role="tree" aria-label=${t('tree.title')} class="tree">
        ${list.map(o => html`<${Node} key=${o.id} tenant=${id} org=${o} depth=${0} selected=${selected?.id} onSelect=${setSelected} open=${true} version=${version} />`)}</ul>`}<//>
      ${selected ? html`<${Organisation} tenant=${id} org=${selected} key=${selected.id} onChanged=${() => setVersion(v => v + 1)} />` : html`<p class="muted">${t('tree.pick')}</p>`}
    </div>`;
}

/** Every organisation the person may see, each with its path (for choosers and search), sorted by path. */
export function useOrganisations(tenant) {
  return useLoad(async () => {
    if (!tenant) return [];
    const everything = await all(`/api/tenants/${tenant}/organisations?limit=200`, 20000);
    const byId = new Map(everything.map(o => [o.id, o]));
    const path = o => { const names = []; for (let n = o, i = 0; n && i < 64; n = byId.get(n.parentId), i++) names.unshift(n.name); return names.join(' / '); };
    return everything.map(o => ({ ...o, path: path(o) })).sort((a, b) => a.path.localeCompare(b.path));
  }, [tenant]);
}

function Organisation({ tenant, org, onChanged }) {
  const [moving, setMoving] = useState(false);
  const everything = useOrganisations(moving ? tenant : null);
  const base = `/api/tenants/${tenant}/organisations/${org.id}`;
  const grants = useLoad(() => api(`${base}/grants`), [org.id]);
  const members = useLoad(() => api(`${base}/members`), [org.id]);
  const roles = useLoad(() => api(`/api/tenants/${tenant}/roles`), [tenant]);
  const policies = useLoad(() => api(`${base}/policies`), [org.id]);
  return html`<section class="panel" aria-labelledby="org-title">
    <h2 id="org-title">${org.name}</h2>
    <p class="muted">${org.kind} · ${t('col.depth')} ${org.depth} · <code>${org.id}</code></p>
    <div class="row">
      <${Action} label=${t('tree.addChild')} onDone=${onChanged} run=${f => api(`/api/tenants/${tenant}/organisations`, { method: 'POST', body: { parentId: org.id, name: f.get('name'), kind: f.get('kind') } })}>
        <${Field} label=${t('col.name')} name="name" required /><${Field} label=${t('col.kind')} name="kind" required value="unit" /><//>
      ${moving ? html`<${Loading} state=${everything}>${list => html`<${Action} label=${t('tree.move')} onDone=${onChanged}
        run=${f => api(`${base}/move`, { method: 'POST', body: { parentId: f.get('parentId') } })}>
        <label class="field">${t('tree.newParent')} <select name="parentId" required>
          ${list.filter(o => o.id !== org.id && !o.path.startsWith(org.path + ' / ') && o.path !== org.path).map(o => html`<option value=${o.id}>${o.path}</option>`)}</select></label><//>`}<//>`
        : html`<button type="button" onClick=${() => setMoving(true)}>${t('tree.moveStart')}</button>`}
    </div>
    <h3>${t('tree.grants')}</h3>
    <${Loading} state=${grants}>${g => html`<${Table} name="grants" rows=${g.items ?? g} columns=${[
      { label: t('col.principal'), value: x => principalText(x.principal) }, { label: t('col.role'), value: x => x.role },
      { label: t('col.since'), value: x => x.at, render: x => format.when(x.at) },
      { label: t('col.decide'), value: () => '', render: x => html`<${Action} label=${t('tree.revoke', { role: x.role })} danger onDone=${grants.reload}
        run=${() => api(`${base}/grants/${x.id}`, { method: 'DELETE' })} />` }]} />`}<//>
    <${Loading} state=${roles}>${r => html`<${Action} label=${t('tree.grant')} onDone=${grants.reload}
      run=${f => api(`${base}/grants`, { method: 'POST', body: { principal: splitPrincipal(f.get('principal')), role: f.get('role') } })}>
      <${Field} label=${t('col.principal')} name="principal" required placeholder="user:xavier" />
      <label class="field">${t('col.role')} <select name="role">${(r.items ?? r).map(x => html`<option value=${x.name}>${x.name}</option>`)}</select></label><//>`}<//>
    <h3>${t('tree.guardrails')}</h3>
    <${Loading} state=${policies}>${p => html`<${Table} name="guardrails" rows=${p.items ?? []} empty=${t('tree.noGuardrails')} columns=${[
      { label: t('tree.key'), value: x => x.key }, { label: t('tree.value'), value: x => JSON.stringify(x.value) }, { label: t('quotas.mode'), value: x => x.mode },
      { label: t('tree.where'), value: x => (x.inherited ? t('tree.inherited') : t('tree.here')) + (x.locked ? ' · ' + t('tree.locked') : '') },
      { label: t('col.decide'), value: () => '', render: x => x.inherited ? null : html`<${Action} label=${t('tree.clear', { key: x.key })} danger onDone=${policies.reload}
        run=${() => api(`${base}/policies/${encodeURIComponent(x.key)}`, { method: 'DELETE' })} />` }]} />`}<//>
    <${Action} label=${t('tree.setGuardrail')} onDone=${policies.reload}
      run=${f => api(`${base}/policies/${encodeURIComponent(f.get('key'))}`, { method: 'PUT', body: { mode: f.get('mode'), value: JSON.parse(f.get('value')) } })}>
      <${Field} label=${t('tree.key')} name="key" required placeholder="feature.case-files" />
      <${Field} label=${t('tree.valueJson')} name="value" required placeholder="false" />
      <label class="field">${t('quotas.mode')} <select name="mode"><option value="override">override</option><option value="locked">locked</option></select></label><//>
    <h3>${t('nav.members')}</h3>
    <${Loading} state=${members}>${m => html`<${Table} name="members" rows=${(m.items ?? []).map(u => ({ user: u }))} columns=${[
      { label: t('col.user'), value: x => x.user },
      { label: t('col.decide'), value: () => '', render: x => html`<${Action} label=${t('members.remove', { user: x.user })} danger onDone=${members.reload}
        run=${() => api(`${base}/members/${encodeURIComponent(x.user)}`, { method: 'DELETE' })} />` }]} />`}<//>
    <${Action} label=${t('members.add')} onDone=${members.reload} run=${f => api(`${base}/members`, { method: 'POST', body: { userId: f.get('userId') } })}>
      <${Field} label=${t('col.user')} name="userId" required /><//>
  </section>`;
}

export function Explain({ id, query }) {
  const [answer, setAnswer] = useState(null);
  const [error, setError] = useState(null);
  const orgs = useOrganisations(id);
  const ask = async event => {
    event.preventDefault();
    const f = new FormData(event.target);
    setError(null); setAnswer(null);
    try {
      setAnswer(await api(`/api/tenants/${id}/access/explain?` + new URLSearchParams({ principal: f.get('principal'), permission: f.get('permission'), organisationId: f.get('organisationId') })));
    } catch (e) { setError(e); }
  };
  const names = new Map((orgs.data ?? []).map(o => [o.id, o.name]));
  return html`<h1 tabindex="-1">${t('explain.title')}</h1>
    <p class="muted">${t('explain.intro')}</p>
    <form class="action" onSubmit=${ask}>
      <${Field} label=${t('col.principal')} name="principal" required value=${query.get('principal') ?? ''} placeholder="user:xavier" />
      <${Field} label=${t('explain.permission')} name="permission" required value=${query.get('permission') ?? ''} placeholder="org.manage" />
      <label class="field">${t('explain.organisation')} <select name="organisationId" required>
        ${(orgs.data ?? []).map(o => html`<option value=${o.id}>${o.path}</option>`)}</select></label>
      <button type="submit">${t('explain.ask')}</button>
    </form>
    <${Problem} error=${error || orgs.error} />
    ${answer ? html`<section class=${`answer ${answer.allowed ? 'yes' : 'no'}`} aria-live="polite" data-testid="explain-answer">
      <h2>${answer.allowed ? t('explain.allowed') : t('explain.denied')}</h2>
      ${answer.grant ? html`<p>${t('explain.because', { role: answer.grant.role, principal: principalText(answer.grant.principal),
        organisation: names.get(answer.grant.organisationId) ?? short(answer.grant.organisationId) })}
        ${answer.inherited ? ' ' + t('explain.inherited') : ''}</p>` : html`<p>${t('explain.noGrant')}</p>`}
      ${answer.path?.length ? html`<p>${t('explain.path')}: ${answer.path.map(p => names.get(p) ?? short(p)).join(' → ')}</p>` : null}
    </section>` : null}`;
}

export function Members({ id }) {
  const orgs = useOrganisations(id);
  const [org, setOrg] = useState(null);
  const members = useLoad(() => (org ? api(`/api/tenants/${id}/organisations/${org}/members`) : Promise.resolve({ items: [] })), [org]);
  return html`<h1 tabindex="-1">${t('nav.members')}</h1>
    <${Loading} state=${orgs}>${list => html`<label class="field">${t('explain.organisation')}
      <select onChange=${e => setOrg(e.target.value)}><option value="">${t('members.choose')}</option>
      ${list.map(o => html`<option value=${o.id}>${o.path}</option>`)}</select></label>`}<//>
    <${Loading} state=${members}>${m => html`<${Table} name="members" rows=${(m.items ?? []).map(u => ({ user: u }))} columns=${[{ label: t('col.user'), value: x => x.user }]} />`}<//>`;
}

export function ServiceAccounts({ id }) {
  const accounts = useLoad(() => all(`/api/tenants/${id}/service-accounts`), [id]);
  const [created, setCreated] = useState(null);
  return html`<h1 tabindex="-1">${t('nav.serviceAccounts')}</h1>
    ${created ? html`<section class="secret" role="status" data-testid="secret">
      <h2>${t('accounts.once')}</h2>
      <dl class="facts"><dt>${t('accounts.clientId')}</dt><dd><code>${created.clientId}</code></dd>
      <dt>${t('accounts.secret')}</dt><dd><code>${created.clientSecret}</code></dd>
      ${created.scimToken ? html`<dt>${t('accounts.scim')}</dt><dd><code>${created.scimToken}</code></dd>` : null}
      <dt>${t('accounts.tokenEndpoint')}</dt><dd><code>${created.tokenEndpoint}</code></dd></dl>
      <button type="button" onClick=${() => setCreated(null)}>${t('accounts.stored')}</button></section>` : null}
    <${Action} label=${t('accounts.create')} onDone=${r => { setCreated(r); accounts.reload(); }}
      run=${f => api(`/api/tenants/${id}/service-accounts`, { method: 'POST', body: { name: f.get('name'), scopes: f.get('scopes').split(/[\s,]+/).filter(Boolean) } })}>
      <${Field} label=${t('col.name')} name="name" required /><${Field} label=${t('accounts.scopes')} name="scopes" required placeholder="org.read scim.provision" /><//>
    <${Loading} state=${accounts}>${rows => html`<${Table} name="service-accounts" rows=${rows}
      filters=${[{ key: 'state', label: t('col.state'), value: a => a.state }]}
      columns=${[{ label: t('col.name'), value: a => a.name }, { label: t('accounts.clientId'), value: a => a.clientId },
        { label: t('accounts.scopes'), value: a => a.scopes.join(' ') }, { label: t('col.state'), value: a => a.state },
        { label: t('col.createdAt'), value: a => a.createdAt, render: a => format.when(a.createdAt) },
        { label: t('col.decide'), value: () => '', render: a => html`<${Action} label=${a.state === 'enabled' ? t('accounts.disable', { name: a.name }) : t('accounts.enable', { name: a.name })}
          danger=${a.state === 'enabled'} onDone=${accounts.reload}
          run=${() => api(`/api/tenants/${id}/service-accounts/${a.id}/${a.state === 'enabled' ? 'disable' : 'enable'}`, { method: 'POST', body: {} })} />` }]} />`}<//>`;
}

export function Identity({ id }) {
  const provider = useLoad(() => api(`/api/tenants/${id}/identity-provider`).catch(e => (e.status === 404 ? null : Promise.reject(e))), [id]);
  const accounts = useLoad(() => all(`/api/tenants/${id}/service-accounts`), [id]);
  return html`<h1 tabindex="-1">${t('nav.identity')}</h1>
    <section aria-labelledby="idp"><h2 id="idp">${t('identity.provider')}</h2>
    <${Loading} state=${provider}>${p => (p ? html`<dl class="facts">
      <dt>${t('identity.issuer')}</dt><dd><code>${p.settings.issuer}</code></dd><dt>${t('identity.audience')}</dt><dd>${p.settings.audience}</dd>
      <dt>${t('identity.adminGroups')}</dt><dd>${p.settings.adminGroups.join(', ')}</dd>
      <dt>${t('identity.mappings')}</dt><dd>${p.settings.mappings.map(m => `${m.group} → ${m.role ?? t('identity.memberOnly')} @ ${short(m.organisationId)}`).join('; ') || '—'}</dd>
      <dt>${t('identity.emailDomains')}</dt><dd>${p.settings.allowedEmailDomains.join(', ') || t('identity.anyDomain')}</dd>
      <dt>${t('identity.configured')}</dt><dd>${p.configuredBy} · ${format.when(p.configuredAt)} · v${p.version}</dd>
      <dt>${t('identity.hint')}</dt><dd>${p.signInHint}</dd></dl>` : html`<p>${t('identity.none')}</p>`)}<//>
    <${Loading} state=${provider}>${p => html`<${ProviderForm} tenant=${id} current=${p} onDone=${provider.reload} key=${p?.version ?? 0} />`}<//></section>
    <section aria-labelledby="scim"><h2 id="scim">${t('identity.scim')}</h2>
      <p class="muted">${t('identity.scimIntro', { path: `/api/tenants/${id}/scim/v2` })}</p>
      <${Loading} state=${accounts}>${rows => html`<${Table} name="scim-credentials" rows=${rows.filter(a => a.scopes.includes('scim.provision'))}
        empty=${t('identity.noScim')} columns=${[{ label: t('col.name'), value: a => a.name }, { label: t('col.state'), value: a => a.state },
          { label: t('col.createdAt'), value: a => format.when(a.createdAt) }]} />`}<//></section>`;
}

const words = text => (text ?? '').split(/[\s,]+/).filter(Boolean);

/**
 * The provider's settings as a whole, started from what is configured: every field the API keeps is sent (a setting left
 * out would be reset: e-mail domains, mappings), with the version read (If-Match), so a change made meanwhile is not lost.
 */
function ProviderForm({ tenant, current, onDone }) {
  const s = current?.settings;
  const save = f => api(`/api/tenants/${tenant}/identity-provider`, { method: 'PUT', headers: current ? { 'If-Match': `"${current.version}"` } : {},
    body: { issuer: f.get('issuer'), audience: f.get('audience'), algorithms: words(f.get('algorithms')), claims: s?.claims,
      adminGroups: words(f.get('adminGroups')), allowedEmailDomains: words(f.get('allowedEmailDomains')),
      groupMappings: (s?.mappings ?? []).map(m => ({ group: m.group, organisationId: m.organisationId, role: m.role })) } });
  return html`<${Action} label=${t('identity.configure')} onDone=${onDone} run=${save}>
    <${Field} label=${t('identity.issuer')} name="issuer" type="url" required value=${s?.issuer ?? ''} />
    <${Field} label=${t('identity.audience')} name="audience" required value=${s?.audience ?? ''} />
    <${Field} label=${t('identity.algorithms')} name="algorithms" value=${(s?.algorithms ?? ['RS256', 'ES256']).join(' ')} />
    <${Field} label=${t('identity.adminGroups')} name="adminGroups" value=${(s?.adminGroups ?? []).join(' ')} />
    <${Field} label=${t('identity.emailDomains')} name="allowedEmailDomains" value=${(s?.allowedEmailDomains ?? []).join(' ')} /><//>`;
}

export function Quotas({ id }) {
  const quotas = useLoad(() => api(`/api/tenants/${id}/quotas`), [id]);
  const orgs = useLoad(() => all(`/api/tenants/${id}/organisations?limit=200`, 20000).catch(() => []), [id]);
  const names = new Map((orgs.data ?? []).map(o => [o.id, o.name]));
  return html`<h1 tabindex="-1">${t('nav.quotas')}</h1>
    <${Loading} state=${quotas}>${q => html`<${Table} name="quotas" rows=${q.quotas} columns=${[
      { label: t('col.kind'), value: x => x.kind }, { label: t('quotas.unit'), value: x => x.unit }, { label: t('quotas.limit'), value: x => x.limit, render: x => format.number(x.limit) },
      { label: t('quotas.used'), value: x => x.used, render: x => format.number(x.used) }, { label: t('quotas.held'), value: x => x.held },
      { label: t('quotas.percent'), value: x => x.percentUsed, render: x => html`<meter min="0" max="100" value=${x.percentUsed} aria-label=${t('quotas.percentOf', { kind: x.kind })}></meter> ${x.percentUsed}%` },
      { label: t('quotas.mode'), value: x => x.mode }, { label: t('quotas.resets'), value: x => x.resetAt, render: x => format.day(x.resetAt) }]} />
      <h2>${t('quotas.allocations')}</h2>
      <${Table} name="quota-allocations" rows=${q.quotas.flatMap(x => (x.allocations ?? []).map(a => ({ kind: x.kind, ...a })))}
        empty=${t('quotas.noAllocations')} columns=${[{ label: t('col.kind'), value: a => a.kind },
          { label: t('explain.organisation'), value: a => names.get(a.organisationId) ?? a.organisationId },
          { label: t('quotas.carvedOutOf'), value: a => (a.carvedOutOf ? names.get(a.carvedOutOf) ?? a.carvedOutOf : t('quotas.tenantPool')) },
          { label: t('quotas.guaranteed'), value: a => a.guaranteed, render: a => format.number(a.guaranteed) },
          { label: t('quotas.cap'), value: a => a.cap ?? '', render: a => format.number(a.cap) },
          { label: t('quotas.load'), value: a => a.load, render: a => format.number(a.load) },
          { label: t('quotas.free'), value: a => a.free, render: a => format.number(a.free) }]} />
      <h2>${t('quotas.usage')}</h2>
      <${Table} name="quota-usage" rows=${q.quotas.flatMap(x => (x.byOrganisation ?? []).map(a => ({ kind: x.kind, ...a })))}
        empty=${t('quotas.noUsage')} columns=${[{ label: t('col.kind'), value: a => a.kind },
          { label: t('explain.organisation'), value: a => (a.organisationId ? names.get(a.organisationId) ?? a.organisationId : t('quotas.unattributed')) },
          { label: t('quotas.used'), value: a => a.used, render: a => format.number(a.used) }, { label: t('quotas.held'), value: a => a.held }]} />`}<//>`;
}

export function Sharing({ id }) {
  const agreements = useLoad(() => all(`/api/tenants/${id}/sharing/agreements`), [id]);
  const collaborations = useLoad(() => all(`/api/tenants/${id}/collaborations`), [id]);
  return html`<h1 tabindex="-1">${t('nav.sharing')}</h1>
    <${Loading} state=${agreements}>${rows => html`<${Table} name="sharing-agreements" rows=${rows}
      filters=${[{ key: 'state', label: t('col.state'), value: a => a.state }, { key: 'role', label: t('sharing.side'), value: a => a.role }]}
      columns=${[{ label: t('sharing.side'), value: a => a.role }, { label: t('sharing.owner'), value: a => a.ownerTenantId },
        { label: t('sharing.recipient'), value: a => a.recipientTenantId }, { label: t('col.state'), value: a => a.state },
        { label: t('sharing.scope'), value: a => [...(a.scope?.tags ?? []).map(x => '#' + x), ...(a.scope?.classifications ?? []), ...(a.scope?.caseFileIds ?? []).map(short)].join(' ') },
        { label: t('sharing.permissions'), value: a => a.permissions.join(', ') }, { label: t('sharing.purpose'), value: a => a.purpose },
        { label: t('sharing.expires'), value: a => a.expiresAt, render: a => format.day(a.expiresAt) },
        { label: t('col.decide'), value: () => '', render: a => a.state === 'active' || a.state === 'offered' ? html`<${Action} label=${t('sharing.revoke')} danger
          onDone=${agreements.reload} run=${f => api(`/api/tenants/${id}/sharing/agreements/${a.id}/revoke`, { method: 'POST', body: { reason: f.get('reason') } })}>
          <${Field} label=${t('field.reason')} name="reason" required /><//>` : null }]} />`}<//>
    <h2>${t('sharing.channels')}</h2>
    <${Loading} state=${collaborations}>${rows => html`<${Table} name="collaborations" rows=${rows} empty=${t('sharing.noChannels')}
      filters=${[{ key: 'kind', label: t('col.kind'), value: c => c.kind }, { key: 'state', label: t('col.state'), value: c => c.state }]}
      columns=${[{ label: t('col.name'), value: c => c.name ?? c.title ?? '' }, { label: t('col.kind'), value: c => c.kind },
        { label: t('col.state'), value: c => c.state }, { label: t('sharing.members'), value: c => (c.members ?? c.tenants ?? []).length },
        { label: t('sharing.purpose'), value: c => c.purpose ?? '' }, { label: t('col.createdAt'), value: c => c.createdAt, render: c => format.day(c.createdAt) }]} />`}<//>`;
}

export function Webhooks({ id }) {
  const hooks = useLoad(() => api(`/api/tenants/${id}/webhooks`), [id]);
  const [open, setOpen] = useState(null);
  const [secret, setSecret] = useState(null);
  return html`<h1 tabindex="-1">${t('nav.webhooks')}</h1>
    ${secret ? html`<section class="secret" role="status"><h2>${t('accounts.once')}</h2><code>${secret}</code>
      <button type="button" onClick=${() => setSecret(null)}>${t('accounts.stored')}</button></section>` : null}
    <${Action} label=${t('webhooks.create')} onDone=${r => { setSecret(r.secret); hooks.reload(); }}
      run=${f => api(`/api/tenants/${id}/webhooks`, { method: 'POST', body: { url: f.get('url'), description: f.get('description'), types: f.get('types').split(/[\s,]+/).filter(Boolean) } })}>
      <${Field} label=${t('webhooks.url')} name="url" type="url" required /><${Field} label=${t('webhooks.description')} name="description" />
      <${Field} label=${t('webhooks.types')} name="types" placeholder="com.tenantevents.organisation_*" /><//>
    <${Loading} state=${hooks}>${rows => html`<${Table} name="webhooks" rows=${rows.items ?? rows} onOpen=${w => setOpen(w)}
      columns=${[{ label: t('webhooks.url'), value: w => w.url }, { label: t('webhooks.description'), value: w => w.description },
        { label: t('webhooks.types'), value: w => w.types.join(' ') }, { label: t('col.state'), value: w => w.state },
        { label: t('webhooks.deliveries'), value: () => '', render: w => html`<button type="button" onClick=${() => setOpen(w)}>${t('webhooks.show', { url: w.url })}</button>` }]} />`}<//>
    ${open ? html`<${Deliveries} tenant=${id} hook=${open} key=${open.id} />` : null}`;
}

function Deliveries({ tenant, hook }) {
  const base = `/api/tenants/${tenant}/webhooks/${hook.id}`;
  const deliveries = useLoad(() => all(`${base}/deliveries`), [hook.id]);
  return html`<section aria-labelledby="deliveries"><h2 id="deliveries">${t('webhooks.historyOf', { url: hook.url })}</h2>
    <${Loading} state=${deliveries}>${rows => html`<${Table} name="deliveries" rows=${rows}
      filters=${[{ key: 'status', label: t('col.state'), value: d => d.status }]}
      columns=${[{ label: t('col.type'), value: d => d.type }, { label: t('col.state'), value: d => d.status }, { label: t('webhooks.attempts'), value: d => d.attempts },
        { label: t('col.createdAt'), value: d => d.createdAt, render: d => format.when(d.createdAt) },
        { label: t('webhooks.lastError'), value: d => d.lastError ?? d.lastStatus ?? '' },
        { label: t('col.decide'), value: () => '', render: d => html`<${Action} label=${t('webhooks.redeliver')} onDone=${deliveries.reload}
          run=${() => api(`${base}/deliveries/${d.id}/redeliver`, { method: 'POST', body: {} })} />` }]} />`}<//>
  </section>`;
}
