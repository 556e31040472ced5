// Platform administrators and approvers: the approval queue (four eyes shown), the tenants with filters and CSV, a
// tenant's lifecycle timeline, keys, legal holds and decommissioning with its retention date.
import { html } from '../html.js';
import { t, format } from '../i18n.js';
import { api, all } from '../api.js';
import { useLoad, Loading, Table, Action, Field, Problem, short } from '../ui.js';

const actorName = a => (a ? a.subject + (a.tenantId ? ` (${short(a.tenantId)})` : '') : '');
const tenantLink = row => html`<a href=${`#/tenants/${row.id}`}>${row.name}</a>`;

export function Approvals({ person }) {
  const state = useLoad(async () => [...await all('/api/tenants?state=requested&limit=200'),
    ...await all('/api/tenants?state=decommission-requested&limit=200')]);
  return html`<h1 tabindex="-1">${t('approvals.title')}</h1>
    <p class="muted">${t('approvals.intro')}</p>
    <${Loading} state=${state}>${rows => html`<${Table} name="approvals" rows=${rows} empty=${t('approvals.empty')}
      filters=${[{ key: 'state', label: t('col.state'), value: r => r.state }]}
      columns=${[
        { label: t('col.name'), value: r => r.name, render: tenantLink },
        { label: t('col.state'), value: r => r.state },
        { label: t('col.template'), value: r => r.template },
        { label: t('col.requestedBy'), value: r => actorName(r.state === 'requested' ? r.requestedBy : r.decommissionRequestedBy) },
        { label: t('col.requestedAt'), value: r => r.requestedAt, render: r => format.when(r.requestedAt) },
        { label: t('col.fourEyes'), value: r => fourEyes(r, person) },
        { label: t('col.decide'), value: () => '', render: r => html`<${Decide} tenant=${r} person=${person} onDone=${state.reload} />` },
      ]} />`}<//>`;
}

// The same person as the API's four-eyes rule sees it: the subject and the tenant they act from (none for platform staff).
const samePerson = (actor, person) => actor?.subject === person.subject && (actor?.tenantId ?? null) === (person.tenantId ?? null);

function fourEyes(tenant, person) {
  const by = tenant.state === 'requested' ? tenant.requestedBy : tenant.decommissionRequestedBy;
  return samePerson(by, person) ? t('approvals.yours') : t('approvals.other');
}

function Decide({ tenant, person, onDone }) {
  const by = tenant.state === 'requested' ? tenant.requestedBy : tenant.decommissionRequestedBy;
  if (!person.roles.includes('platform-approver')) return html`<span class="muted">${t('approvals.notApprover')}</span>`;
  if (samePerson(by, person)) return html`<span class="muted">${t('approvals.needsOther')}</span>`;
  const path = tenant.state === 'requested' ? 'approve' : 'decommission/approve';
  return html`<div class="row">
    <${Action} label=${t('approvals.approve', { name: tenant.name })} onDone=${onDone}
      run=${() => api(`/api/tenants/${tenant.id}/${path}`, { method: 'POST', body: {} })} />
    ${tenant.state === 'requested' ? html`<${Action} label=${t('approvals.reject')} danger onDone=${onDone}
      run=${f => api(`/api/tenants/${tenant.id}/reject`, { method: 'POST', body: { reason: f.get('reason') } })}>
      <${Field} label=${t('field.reason')} name="reason" required /><//>` : null}
  </div>`;
}

export function Tenants({ person }) {
  const state = useLoad(() => all('/api/tenants?limit=200'));
  return html`<h1 tabindex="-1">${t('tenants.title')}</h1>
    ${person.roles.includes('platform-admin') ? html`<p><a class="button" href="#/tenants/new">${t('tenants.request')}</a></p>` : null}
    <${Loading} state=${state}>${rows => html`<${Table} name="tenants" rows=${rows} onOpen=${r => (location.hash = `#/tenants/${r.id}`)}
      filters=${[{ key: 'state', label: t('col.state'), value: r => r.state }, { key: 'template', label: t('col.template'), value: r => r.template },
        { key: 'country', label: t('col.country'), value: r => r.residency?.country }]}
      columns=${[
        { label: t('col.name'), value: r => r.name, render: tenantLink },
        { label: t('col.slug'), value: r => r.slug },
        { label: t('col.state'), value: r => r.state, render: r => html`<span class=${`state ${r.state}`}>${r.state}</span>` },
        { label: t('col.template'), value: r => r.template },
        { label: t('col.country'), value: r => [r.residency?.country, r.residency?.subdivision].filter(Boolean).join(' / ') },
        { label: t('col.zone'), value: r => r.storage?.zone },
        { label: t('col.requestedAt'), value: r => r.requestedAt, render: r => format.day(r.requestedAt) },
      ]} />`}<//>`;
}

export function RequestTenant() {
  const templates = useLoad(() => api('/api/templates'));
  const request = async f => {
    const tenant = await api('/api/tenants', { method: 'POST', headers: { 'Idempotency-Key': crypto.randomUUID() }, body: {
      name: f.get('name'), slug: f.get('slug'), template: f.get('template'),
      residency: { country: f.get('country'), subdivision: f.get('subdivision') || null },
      contacts: [{ name: f.get('contactName'), email: f.get('contactEmail'), role: f.get('contactRole') }] } });
    location.hash = `#/tenants/${tenant.id}`;
  };
  return html`<h1 tabindex="-1">${t('request.title')}</h1>
    <${Loading} state=${templates}>${list => html`<${Action} label=${t('request.submit')} run=${request}>
      <${Field} label=${t('col.name')} name="name" required />
      <${Field} label=${t('col.slug')} name="slug" required placeholder="travis-sheriff" />
      <label class="field">${t('col.template')} <select name="template" required>
        ${list.map(x => html`<option value=${x.name}>${x.name}: ${x.description}</option>`)}</select></label>
      <${Field} label=${t('field.country')} name="country" required placeholder="US" />
      <${Field} label=${t('field.subdivision')} name="subdivision" placeholder="US-TX" />
      <${Field} label=${t('field.contactName')} name="contactName" required />
      <${Field} label=${t('field.contactEmail')} name="contactEmail" type="email" required />
      <${Field} label=${t('field.contactRole')} name="contactRole" required />
    <//>`}<//>`;
}

export function TenantDetail({ id, person }) {
  const tenant = useLoad(() => api(`/api/tenants/${id}`), [id]);
  const events = useLoad(() => api(`/api/tenants/${id}/events`), [id]);
  const admin = person.roles.includes('platform-admin');
  const reload = () => { tenant.reload(); events.reload(); };
  return html`<${Loading} state=${tenant}>${x => html`
    <h1 tabindex="-1">${x.name} <span class=${`state ${x.state}`}>${x.state}</span></h1>
    <dl class="facts">
      <dt>${t('col.slug')}</dt><dd>${x.slug}</dd>
      <dt>${t('col.template')}</dt><dd>${x.template} v${x.templateVersion}</dd>
      <dt>${t('col.country')}</dt><dd>${x.residency?.country} ${x.residency?.subdivision ?? ''} · ${x.storage?.zone}${x.storage?.dedicated ? ' (' + t('tenant.dedicated') + ')' : ''}</dd>
      <dt>${t('col.requestedBy')}</dt><dd>${actorName(x.requestedBy)} · ${format.when(x.requestedAt)}</dd>
      ${x.approvedBy ? html`<dt>${t('tenant.approvedBy')}</dt><dd>${actorName(x.approvedBy)} · ${format.when(x.approvedAt)}</dd>` : null}
      <dt>${t('tenant.lastKeyRotation')}</dt><dd>${format.when(x.lastKeyRotation) || t('tenant.never')}</dd>
      ${x.decommissionNotBefore ? html`<dt>${t('tenant.decommissionNotBefore')}</dt><dd>${format.day(x.decommissionNotBefore)}</dd>` : null}
      ${x.retentionBindsUntil ? html`<dt>${t('tenant.retention')}</dt><dd>${format.day(x.retentionBindsUntil)}</dd>` : null}
    </dl>
    ${admin ? html`<section aria-labelledby="lifecycle"><h2 id="lifecycle">${t('tenant.actions')}</h2><div class="row">
      ${x.state === 'approved' ? html`<${Action} label=${t('tenant.provision')} onDone=${reload} run=${() => api(`/api/tenants/${id}/provision`, { method: 'POST', body: {} })} />` : null}
      ${x.state === 'active' ? html`<${Action} label=${t('tenant.suspend')} danger onDone=${reload}
        run=${f => api(`/api/tenants/${id}/suspend`, { method: 'POST', body: { reason: f.get('reason') } })}><${Field} label=${t('field.reason')} name="reason" required /><//>` : null}
      ${x.state === 'suspended' ? html`<${Action} label=${t('tenant.reactivate')} onDone=${reload} run=${() => api(`/api/tenants/${id}/reactivate`, { method: 'POST', body: {} })} />` : null}
      ${['active', 'suspended'].includes(x.state) ? html`<${Action} label=${t('tenant.decommission')} danger onDone=${reload}
        run=${f => api(`/api/tenants/${id}/decommission`, { method: 'POST', body: { reason: f.get('reason') } })}><${Field} label=${t('field.reason')} name="reason" required /><//>` : null}
      ${['decommission-requested', 'decommission-scheduled'].includes(x.state) ? html`<${Action} label=${t('tenant.cancelDecommission')} onDone=${reload}
        run=${() => api(`/api/tenants/${id}/decommission/cancel`, { method: 'POST', body: {} })} />` : null}
      ${x.state === 'decommission-scheduled' ? html`<${Action} label=${t('tenant.complete')} danger confirm=${t('tenant.completeConfirm')} onDone=${reload}
        run=${() => api(`/api/tenants/${id}/decommission/complete`, { method: 'POST', body: {} })} />` : null}
    </div></section>
    <section aria-labelledby="keys"><h2 id="keys">${t('tenant.keys')}</h2><div class="row">
      <${Action} label=${t('tenant.rotateData')} onDone=${reload} run=${() => api(`/api/tenants/${id}/keys/rotate`, { method: 'POST', body: { key: 'data' } })} />
      <${Action} label=${t('tenant.rotateKek')} onDone=${reload} run=${() => api(`/api/tenants/${id}/keys/rotate`, { method: 'POST', body: { key: 'key-encryption' } })} />
    </div></section>` : null}
    <section aria-labelledby="holds"><h2 id="holds">${t('tenant.holds')}</h2>
      <${Table} name="legal-holds" rows=${x.legalHolds ?? []} empty=${t('tenant.noHolds')} columns=${[
        { label: t('col.reference'), value: h => h.reference }, { label: t('field.reason'), value: h => h.reason },
        { label: t('col.placedBy'), value: h => actorName(h.placedBy) }, { label: t('col.placedAt'), value: h => format.when(h.placedAt) },
        ...(admin ? [{ label: t('col.decide'), value: () => '', render: h => html`<${Action} label=${t('tenant.lift', { reference: h.reference })} onDone=${reload}
          run=${() => api(`/api/tenants/${id}/legal-holds/${h.holdId}/lift`, { method: 'POST', body: {} })} />` }] : [])]} />
      ${admin ? html`<${Action} label=${t('tenant.placeHold')} onDone=${reload}
        run=${f => api(`/api/tenants/${id}/legal-holds`, { method: 'POST', body: { reference: f.get('reference'), reason: f.get('reason') } })}>
        <${Field} label=${t('col.reference')} name="reference" required /><${Field} label=${t('field.reason')} name="reason" required /><//>` : null}
    </section>
    <section aria-labelledby="timeline"><h2 id="timeline">${t('tenant.timeline')}</h2>
      <${Loading} state=${events}>${list => html`<${Table} name="lifecycle" rows=${list}
        filters=${[{ key: 'type', label: t('col.type'), value: e => e.type }]}
        columns=${[{ label: t('col.version'), value: e => e.version }, { label: t('col.type'), value: e => e.type },
          { label: t('col.time'), value: e => e.timestamp, render: e => format.when(e.timestamp) }]} />`}<//>
    </section>`}<//>`;
}
