// Analysts: the estate (tenants by state, template and zone; growth by month) and a tenant's health (active users over
// time, adoption, utilisation against limits). Every chart's data downloads as CSV.
import { html } from '../html.js';
import { t, format } from '../i18n.js';
import { api } from '../api.js';
import { useLoad, Loading, Table, Chart } from '../ui.js';

const breakdown = (name, title, rows) => html`<section aria-label=${title}><h2>${title}</h2>
  <${Table} name=${name} rows=${rows} columns=${[{ label: t('col.name'), value: r => r.name }, { label: t('analytics.tenants'), value: r => r.tenants }]} /></section>`;

export function Estate() {
  const estate = useLoad(() => api('/api/analytics/estate'));
  return html`<h1 tabindex="-1">${t('nav.estate')}</h1>
    <${Loading} state=${estate}>${e => html`
      <p class="kpis"><span><strong>${format.number(e.tenants)}</strong> ${t('analytics.tenants')}</span>
        <span><strong>${format.number(e.activeLast30Days)}</strong> ${t('analytics.active30')}</span></p>
      <${Chart} name="estate-growth" title=${t('analytics.growth')} points=${e.growth.map(g => ({ ...g, date: g.month }))}
        series=${[{ label: t('analytics.liveAtEnd'), value: g => g.liveAtEnd }, { label: t('analytics.requested'), value: g => g.requested },
          { label: t('analytics.provisioned'), value: g => g.provisioned }, { label: t('analytics.decommissioned'), value: g => g.decommissioned }]} />
      <div class="grid">${breakdown('estate-by-state', t('analytics.byState'), e.byState)}${breakdown('estate-by-template', t('analytics.byTemplate'), e.byTemplate)}
        ${breakdown('estate-by-zone', t('analytics.byZone'), e.byZone)}</div>`}<//>`;
}

export function Health({ id }) {
  const health = useLoad(() => api(`/api/tenants/${id}/analytics/health`), [id]);
  const active = useLoad(() => api(`/api/tenants/${id}/analytics/active-users?granularity=month`), [id]);
  const utilisation = useLoad(() => api(`/api/tenants/${id}/analytics/utilisation`), [id]);
  const adoption = useLoad(() => api(`/api/tenants/${id}/analytics/adoption`), [id]);
  return html`<h1 tabindex="-1">${t('nav.health')}</h1>
    <${Loading} state=${health}>${h => html`<p class=${`status ${h.status}`} data-testid="health-status">${t('analytics.status')}: <strong>${h.status}</strong></p>
      <${Table} name="health-findings" rows=${h.findings} empty=${t('analytics.noFindings')} columns=${[
        { label: t('analytics.severity'), value: f => f.severity }, { label: t('analytics.code'), value: f => f.code }, { label: t('analytics.detail'), value: f => f.detail }]} />`}<//>
    <${Loading} state=${active}>${d => html`<${Chart} name="dau-mau" title=${t('analytics.dauMau')}
      points=${d.dauMau.map(p => ({ ...p, date: p.day }))} series=${[{ label: t('analytics.dau'), value: p => p.dailyActiveUsers },
        { label: t('analytics.mau'), value: p => p.monthlyActiveUsers }]} />`}<//>
    <${Loading} state=${utilisation}>${u => html`<h2>${t('analytics.utilisation')}</h2>${u.kinds.map(k => html`<${Chart} name=${`utilisation-${k.kind}`}
      title=${t('analytics.utilisationOf', { kind: k.kind, unit: k.unit })} unit="%" scale=${100}
      points=${k.periods.map(p => ({ ...p, date: p.period }))} series=${[{ label: t('analytics.percentOfLimit'), value: p => p.percent }]} />`)}`}<//>
    <${Loading} state=${adoption}>${a => html`<h2>${t('analytics.adoption')}</h2><${Table} name="adoption" rows=${a.areas}
      columns=${[{ label: t('analytics.feature'), value: r => r.feature }, { label: t('analytics.detail'), value: r => r.description },
        { label: t('analytics.users'), value: r => r.users }, { label: t('analytics.activeUsers'), value: r => r.activeUsers },
        { label: t('analytics.share'), value: r => r.share, render: r => format.number(Math.round(r.share * 100)) + '%' }]} />`}<//>`;
}
