// Shared pieces: a loader hook, the refusal and error panel, lists with filters and CSV export, keyboard navigation,
// and a line chart whose data is downloadable. Pages compose these.
import { useEffect, useRef, useState, useCallback } from 'preact/hooks';
import { html } from './html.js';
import { t, format } from './i18n.js';
import { toCsv, download } from './csv.js';

/** Loads with the API; {data, error, loading, reload}. Changing deps reloads. */
export function useLoad(load, deps = []) {
  const [state, setState] = useState({ loading: true });
  const seq = useRef(0);
  const run = useCallback(() => {
    const mine = ++seq.current;
    setState(s => ({ ...s, loading: true }));
    load().then(data => mine === seq.current && setState({ data, loading: false }),
      error => mine === seq.current && setState({ error, loading: false }));
  }, deps);
  useEffect(run, [run]);
  return { ...state, reload: run };
}

/** What the API said, in words: a refusal (403/404) says only that, never what might be behind it. */
export function Problem({ error }) {
  if (!error) return null;
  const status = error.status;
  const title = status === 403 || status === 404 ? t('refused.title') : status === 401 ? t('signedOut.title') : t('error.title');
  const detail = status === 403 || status === 404 ? t('refused.detail') : error.message;
  return html`<div class="problem" role="alert" data-status=${status ?? ''}><strong>${title}</strong> <span>${detail}</span>
    ${error.problem?.type && status !== 403 && status !== 404 ? html`<code>${error.problem.type}</code>` : null}</div>`;
}

export function Loading({ state, children }) {
  if (state.error) return html`<${Problem} error=${state.error} />`;
  if (state.loading && state.data === undefined) return html`<p class="muted" aria-live="polite">${t('loading')}</p>`;
  return children(state.data);
}

/**
 * A list: columns {key, label, value(row), csv?(row), render?(row)}, a filter box (and optional filters over the rows),
 * keyboard navigation (arrow keys move between rows, Enter opens), and CSV of exactly the rows shown.
 */
export function Table({ name, columns, rows, onOpen, filters = [], empty, caption }) {
  const [query, setQuery] = useState('');
  const [chosen, setChosen] = useState({});
  const body = useRef(null);
  const shown = rows.filter(row =>
    filters.every(f => !chosen[f.key] || String(f.value(row)) === chosen[f.key]) &&
    (!query || columns.some(c => String(c.value(row) ?? '').toLowerCase().includes(query.toLowerCase()))));
  const move = (event, index) => {
    const go = i => body.current?.querySelectorAll('tr')[i]?.focus();
    if (event.key === 'ArrowDown') { event.preventDefault(); go(index + 1); }
    else if (event.key === 'ArrowUp') { event.preventDefault(); go(index - 1); }
    else if (event.key === 'Enter' && onOpen) onOpen(shown[index]);
  };
  const id = `list-${name}`;
  return html`<div class="list">
    <div class="toolbar" role="search">
      <label>${t('list.filter')} <input type="search" value=${query} onInput=${e => setQuery(e.target.value)} aria-controls=${id} /></label>
      ${filters.map(f => html`<label>${f.label} <select value=${chosen[f.key] ?? ''} onChange=${e => setChosen({ ...chosen, [f.key]: e.target.value })}>
        <option value="">${t('list.any')}</option>
        ${[...new Set(rows.map(r => String(f.value(r))))].sort().map(v => html`<option value=${v}>${v}</option>`)}
      </select></label>`)}
      <button type="button" onClick=${() => download(`${name}.csv`, toCsv(columns, shown))}>${t('list.csv')}</button>
      <span class="muted" aria-live="polite">${t('list.count', { shown: shown.length, total: rows.length })}</span>
    </div>
    ${rows.truncated ? html`<p class="problem" role="status">${t('list.truncated', { count: rows.length })}</p>` : null}
    <div class="scroll"><table id=${id}>
      ${caption ? html`<caption>${caption}</caption>` : null}
      <thead><tr>${columns.map(c => html`<th scope="col">${c.label}</th>`)}</tr></thead>
      <tbody ref=${body}>
        ${shown.length === 0 ? html`<tr><td colspan=${columns.length} class="muted">${empty ?? t('list.empty')}</td></tr>` : null}
        ${shown.map((row, i) => html`<tr tabindex="0" onKeyDown=${e => move(e, i)} onDblClick=${() => onOpen?.(row)} class=${onOpen ? 'openable' : ''}>
          ${columns.map(c => html`<td data-label=${c.label}>${c.render ? c.render(row) : c.value(row)}</td>`)}</tr>`)}
      </tbody>
    </table></div>
  </div>`;
}

/** A line chart (SVG) of one or more series over dates, with a table of its data for screen readers and its CSV. */
export function Chart({ name, title, points, series, unit, scale = 1 }) {
  const width = 640, height = 220, pad = 36;
  // The axis reaches the data's highest point, or the given scale (100 for a share of a limit) if that is higher.
  const max = Math.max(scale, ...points.flatMap(p => series.map(s => Number(s.value(p)) || 0)));
  const x = i => pad + (points.length <= 1 ? 0 : (i * (width - 2 * pad)) / (points.length - 1));
  const y = v => height - pad - (v / max) * (height - 2 * pad);
  const columns = [{ label: t('chart.date'), value: p => p.date ?? p.day ?? p.at }, ...series.map(s => ({ label: s.label, value: s.value }))];
  return html`<figure class="chart">
    <figcaption><strong>${title}</strong> <button type="button" onClick=${() => download(`${name}.csv`, toCsv(columns, points))}>${t('chart.csv', { title })}</button></figcaption>
    <svg viewBox="0 0 ${width} ${height}" role="img" aria-label=${title}>
      <line x1=${pad} y1=${height - pad} x2=${width - pad} y2=${height - pad} class="axis" />
      <line x1=${pad} y1=${pad} x2=${pad} y2=${height - pad} class="axis" />
      <text x="4" y=${pad} class="tick">${format.number(max)}</text><text x="4" y=${height - pad} class="tick">0</text>
      ${points.length ? html`<text x=${pad} y=${height - 8} class="tick">${columns[0].value(points[0])}</text>
        <text x=${width - pad} y=${height - 8} class="tick" text-anchor="end">${columns[0].value(points[points.length - 1])}</text>` : null}
      ${series.map((s, k) => html`<polyline class=${`series s${k}`} fill="none"
        points=${points.map((p, i) => `${x(i)},${y(Number(s.value(p)) || 0)}`).join(' ')} />`)}
    </svg>
    <p class="legend">${series.map((s, k) => html`<span class=${`key s${k}`}>${s.label}</span>`)} ${unit ? html`<span class="muted">${unit}</span>` : null}</p>
    <details><summary>${t('chart.data')}</summary>
      <table><thead><tr>${columns.map(c => html`<th scope="col">${c.label}</th>`)}</tr></thead>
      <tbody>${points.map(p => html`<tr>${columns.map(c => html`<td>${c.value(p)}</td>`)}</tr>`)}</tbody></table></details>
  </figure>`;
}

/** A small form that calls the API and shows its answer or its refusal. */
export function Action({ label, run, children, onDone, danger, confirm }) {
  const [state, setState] = useState({});
  const submit = async event => {
    event.preventDefault();
    if (confirm && !window.confirm(confirm)) return;
    setState({ busy: true });
    try {
      const result = await run(new FormData(event.target));
      setState({ done: true, result });
      onDone?.(result);
    } catch (error) { setState({ error }); }
  };
  return html`<form class="action" onSubmit=${submit}>
    ${children}
    <button type="submit" class=${danger ? 'danger' : ''} disabled=${state.busy}>${label}</button>
    ${state.error ? html`<${Problem} error=${state.error} />` : null}
    ${state.done ? html`<span class="ok" role="status">${t('action.done')}</span>` : null}
  </form>`;
}

export const Field = ({ label, name, value, type = 'text', required, placeholder, list }) =>
  html`<label class="field">${label} <input name=${name} type=${type} defaultValue=${value} required=${required} placeholder=${placeholder} list=${list} /></label>`;

export const link = (href, text) => html`<a href=${href}>${text}</a>`;
export const short = id => (id ? String(id).slice(0, 8) : '');
