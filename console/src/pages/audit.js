// Auditors (and the tenant's administrators): the trail with filters, each entry's before/after and patch, CSV export
// of the filtered trail from the API itself, and an entry's inclusion in a signed checkpoint verified here, in the page.
import { useState } from 'preact/hooks';
import { html } from '../html.js';
import { t, format } from '../i18n.js';
import { api } from '../api.js';
import { download } from '../csv.js';
import { useLoad, Loading, Table, Problem, short } from '../ui.js';
import { verifyEntry, toBase64 } from '../proof.js';

const PIN = 'tenantevents.console.pinnedLogKey';

const filterNames = ['type', 'actor', 'stream', 'from', 'to'];

export function AuditTrail({ id, query }) {
  const filters = Object.fromEntries(filterNames.map(n => [n, query.get(n) ?? '']));
  const search = new URLSearchParams(Object.entries(filters).filter(([, v]) => v));
  const [after, setAfter] = useState(0);
  const entries = useLoad(() => api(`/api/tenants/${id}/audit/entries?${search}&limit=200${after ? `&after=${after}` : ''}`), [id, search.toString(), after]);
  const [chosen, setChosen] = useState(null);
  const apply = event => {
    event.preventDefault();
    const f = new FormData(event.target);
    // The date fields are read as UTC (the times shown are UTC), not as this browser's local time.
    const next = new URLSearchParams(filterNames.filter(n => f.get(n)).map(n => [n, (n === 'from' || n === 'to') ? f.get(n) + ':00Z' : f.get(n)]));
    setAfter(0);
    location.hash = `#/tenants/${id}/audit?${next}`;
  };
  const exportCsv = async () => download(`audit-${id}.csv`, await api(`/api/tenants/${id}/audit/entries?${search}&format=csv`, { as: 'text', headers: { Accept: 'text/csv' } }));
  return html`<h1 tabindex="-1">${t('audit.title')}</h1>
    <form class="toolbar" role="search" onSubmit=${apply}>
      ${filterNames.map(n => html`<label>${t('audit.' + n)} <input name=${n} defaultValue=${(n === 'from' || n === 'to') ? filters[n].replace(/:00Z$/, '') : filters[n]} type=${n === 'from' || n === 'to' ? 'datetime-local' : 'text'} /></label>`)}
      <button type="submit">${t('audit.apply')}</button>
      <button type="button" onClick=${exportCsv}>${t('audit.export')}</button>
    </form>
    <${Loading} state=${entries}>${page => html`<${Table} name="audit-page" rows=${page.entries} onOpen=${setChosen}
      columns=${[{ label: t('audit.index'), value: e => e.index }, { label: t('col.time'), value: e => e.time, render: e => format.when(e.time) },
        { label: t('col.type'), value: e => e.type }, { label: t('audit.actor'), value: e => e.actor?.subject ?? '' },
        { label: t('audit.stream'), value: e => `${e.streamKind} ${short(e.streamId)}` },
        { label: t('audit.open'), value: () => '', render: e => html`<button type="button" onClick=${() => setChosen(e)}>${t('audit.show', { index: e.index })}</button>` }]} />
      <div class="row">${after ? html`<button type="button" onClick=${() => setAfter(0)}>${t('audit.first')}</button>` : null}
      ${page.next !== null && page.next !== undefined ? html`<button type="button" onClick=${() => setAfter(page.next)}>${t('audit.more')}</button>` : null}</div>`}<//>
    ${chosen ? html`<${Entry} tenant=${id} entry=${chosen} key=${chosen.index} />` : null}`;
}

function Diff({ before, after }) {
  const keys = [...new Set([...Object.keys(before ?? {}), ...Object.keys(after ?? {})])];
  const text = v => (v === undefined ? '' : JSON.stringify(v));
  const changed = keys.filter(k => text(before?.[k]) !== text(after?.[k]));
  return html`<table class="diff"><caption>${t('audit.diff', { count: changed.length })}</caption>
    <thead><tr><th scope="col">${t('audit.field')}</th><th scope="col">${t('audit.before')}</th><th scope="col">${t('audit.after')}</th></tr></thead>
    <tbody>${keys.map(k => html`<tr class=${changed.includes(k) ? 'changed' : ''}><th scope="row">${k}</th>
      <td><code>${text(before?.[k])}</code></td><td><code>${text(after?.[k])}</code></td></tr>`)}</tbody></table>`;
}

function Entry({ tenant, entry }) {
  const [result, setResult] = useState(null);
  const [busy, setBusy] = useState(false);
  const verify = async () => {
    setBusy(true); setResult(null);
    try {
      // The checkpoint to check against: the latest signed one; the proof for this entry's event at exactly that size.
      const [key, checkpoints] = await Promise.all([api('/api/audit/log-key'), api(`/api/tenants/${tenant}/audit/checkpoints`)]);
      let latest = checkpoints.checkpoints.at(-1);
      if (!latest || latest.treeSize <= entry.index) {
        await api(`/api/tenants/${tenant}/audit/checkpoints`, { method: 'POST', body: {} }).catch(() => null);
        latest = (await api(`/api/tenants/${tenant}/audit/checkpoints`)).checkpoints.at(-1);
      }
      if (!latest || latest.treeSize <= entry.index) throw new Error(t('audit.noCheckpoint'));
      const proof = await api(`/api/tenants/${tenant}/audit/proofs/inclusion?eventId=${encodeURIComponent(entry.eventId)}&treeSize=${latest.treeSize}`);
      const pinned = localStorage.getItem(PIN);
      // The checkpoint this browser verified before for this tenant, with the pinned key: the log must have grown from it
      // by appending only. Only a pinned key's verification is kept as such an anchor (a served key proves nothing new).
      const trustedKey = `tenantevents.console.trusted.${tenant}`;
      const stored = JSON.parse(localStorage.getItem(trustedKey) || 'null');
      const trusted = pinned && stored?.key === pinned ? stored : null;
      const consistency = trusted && trusted.size < latest.treeSize
        ? (await api(`/api/tenants/${tenant}/audit/proofs/consistency?from=${trusted.size}&to=${latest.treeSize}`)).proof : [];
      const outcome = await verifyEntry({ verifierKeys: pinned ? [pinned] : key.allVerifierKeys, note: latest.note, tenantId: tenant, proof, entry,
        trusted, consistency });
      if (outcome.ok && pinned && outcome.checkpoint)
        localStorage.setItem(trustedKey, JSON.stringify({ size: outcome.checkpoint.size, root: toBase64(outcome.checkpoint.root), key: pinned }));
      setResult({ ...outcome, pinned: !!pinned, size: latest.treeSize, trusted: trusted?.size ?? null });
    } catch (error) { setResult({ ok: false, error }); }
    setBusy(false);
  };
  return html`<section class="panel" aria-labelledby="entry-title">
    <h2 id="entry-title">${t('audit.entry', { index: entry.index, type: entry.type })}</h2>
    <dl class="facts"><dt>${t('audit.actor')}</dt><dd>${entry.actor?.subject} (${entry.actor?.kind})${entry.onBehalfOf ? ' · ' + t('audit.onBehalfOf', { tenant: short(entry.onBehalfOf) }) : ''}</dd>
      <dt>${t('col.time')}</dt><dd>${format.when(entry.time)}</dd><dt>${t('audit.event')}</dt><dd><code>${entry.eventId}</code></dd>
      <dt>${t('audit.stream')}</dt><dd>${entry.streamKind} <code>${entry.streamId}</code> v${entry.version}</dd></dl>
    <${Diff} before=${entry.before} after=${entry.after} />
    ${entry.patch ? html`<details><summary>${t('audit.patch')}</summary><pre>${JSON.stringify(entry.patch, null, 2)}</pre></details>` : null}
    <h3>${t('audit.proofTitle')}</h3>
    <p class="muted">${t('audit.proofIntro')}</p>
    <${PinnedKey} />
    <button type="button" onClick=${verify} disabled=${busy}>${t('audit.verify')}</button>
    ${result?.error ? html`<${Problem} error=${result.error} />` : null}
    ${result && !result.error ? html`<div class=${`answer ${result.ok ? 'yes' : 'no'}`} role="status" data-testid="proof-result">
      <strong>${result.ok ? t('audit.verified', { index: entry.index, size: result.size }) : t('audit.notVerified')}</strong>
      <ul>${result.steps.map(s => html`<li>${s.ok ? '✔' : '✘'} ${t('audit.step.' + s.id)} <span class="muted">${s.detail}</span></li>`)}</ul>
      <p class="muted">${result.pinned ? t('audit.withPinned') : t('audit.withServed')}
        ${result.trusted !== null ? ' ' + t('audit.fromTrusted', { size: result.trusted }) : result.pinned ? ' ' + t('audit.firstTrusted') : ''}</p>
      ${result.pinned ? html`<button type="button" onClick=${() => { localStorage.removeItem(`tenantevents.console.trusted.${tenant}`); setResult(null); }}>${t('audit.forget')}</button>` : null}</div>` : null}
  </section>`;
}

function PinnedKey() {
  const [pinned, setPinned] = useState(localStorage.getItem(PIN) ?? '');
  const save = event => {
    event.preventDefault();
    const value = new FormData(event.target).get('key').trim();
    if (value) localStorage.setItem(PIN, value); else localStorage.removeItem(PIN);
    setPinned(value);
  };
  return html`<form class="action" onSubmit=${save}><label class="field">${t('audit.pin')} <input name="key" defaultValue=${pinned} size="60" /></label>
    <button type="submit">${t('audit.savePin')}</button></form>`;
}
