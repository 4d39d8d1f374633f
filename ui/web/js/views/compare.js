/**
 * Trace comparison (`/trace/{a}...{b}`, Jaeger UI's URL): both traces'
 * headline numbers and every (service, operation) with its span count and
 * total and mean duration in each, marked as only in A, only in B, or
 * changed; `/trace` alone (or one id) asks for the ids. In: the route and
 * the container. Out: the page.
 */
import { h, fill, notice } from '../core/dom.js';
import * as api from '../core/api.js';
import { serviceColor } from '../core/colors.js';
import { duration } from '../core/format.js';
import { href, navigate, isTraceId } from '../core/route.js';
import { buildTrace, traceName } from '../trace/model.js';

/**
 * Per (service, operation): count and total duration.
 * @param {import('../trace/model.js').TraceModel} trace
 */
export function operationStats(trace) {
  /** @type {Map<string, {service: string, operation: string, count: number, total: number, errors: number}>} */
  const stats = new Map();
  for (const span of trace.spans) {
    const key = `${span.service}\u0000${span.operation}`;
    let entry = stats.get(key);
    if (!entry) stats.set(key, (entry = { service: span.service, operation: span.operation, count: 0, total: 0, errors: 0 }));
    entry.count++;
    entry.total += span.duration;
    if (span.error) entry.errors++;
  }
  return stats;
}

/** @param {string} label @param {import('../trace/model.js').TraceModel} t */
function card(label, t) {
  return h('div', { className: `card compare-card compare-${label.toLowerCase()}` },
    h('div', { className: 'compare-label' }, label),
    h('a', { href: href(`/trace/${t.id}`), 'data-nav': '', className: 'trace-link' }, traceName(t)),
    h('div', { className: 'muted mono' }, t.id),
    h('div', {}, `${duration(t.duration)} · ${t.spans.length} spans · ${t.services.size} services · ${t.errors} errors`));
}

/** A form asking for the two trace ids (the first prefilled). @param {string} first */
function askIds(first) {
  const a = h('input', { value: first, placeholder: 'trace id A', 'aria-label': 'Trace A', className: 'mono', id: 'cmp-a' });
  const b = h('input', { placeholder: 'trace id B', 'aria-label': 'Trace B', className: 'mono', id: 'cmp-b' });
  const problem = h('span', { className: 'form-error', role: 'alert' });
  return h('form', { className: 'inline-form', onsubmit: (/** @type {Event} */ e) => {
    e.preventDefault();
    const ids = [a.value.trim(), b.value.trim()];
    const bad = ids.find((id) => !isTraceId(id));
    if (bad !== undefined) problem.textContent = `"${bad}" is not a trace id (1–32 hex digits)`;
    else navigate(href(`/trace/${ids[0]}...${ids[1]}`));
  } }, a, h('span', {}, 'with'), b, h('button', { type: 'submit', className: 'button primary' }, 'Compare'), problem);
}

/**
 * @param {HTMLElement} root
 * @param {import('../core/route.js').Route} route
 */
export async function compareView(root, route) {
  const ids = route.ids || [];
  if (ids.length < 2) {
    fill(root, h('section', { className: 'page' }, h('h1', {}, 'Compare traces'),
      h('p', { className: 'muted' }, 'Pick two traces in the search results, or enter their ids.'), askIds(ids[0] || '')));
    root.dataset.ready = 'compare';
    return;
  }
  fill(root, notice('loading', `Loading ${ids[0]} and ${ids[1]}…`));
  let a, b;
  try {
    [a, b] = (await Promise.all(ids.slice(0, 2).map((id) => api.trace(id)))).map(buildTrace);
  } catch (e) {
    fill(root, notice('error', 'Cannot compare these traces', /** @type {Error} */ (e).message));
    return;
  }
  const sa = operationStats(a);
  const sb = operationStats(b);
  const keys = [...new Set([...sa.keys(), ...sb.keys()])].sort();
  const rows = keys.map((key) => {
    const x = sa.get(key);
    const y = sb.get(key);
    const { service, operation } = /** @type {{service: string, operation: string}} */ (x || y);
    const state = !x ? 'only-b' : !y ? 'only-a' : x.count !== y.count || Math.abs(x.total - y.total) > 0.1 * Math.max(x.total, y.total) ? 'changed' : 'same';
    const delta = (x?.total || 0) - (y?.total || 0);
    return h('tr', { className: `cmp-${state}` },
      h('td', {}, h('span', { className: 'wf-swatch', style: { background: serviceColor(service) } }), service),
      h('td', {}, operation),
      h('td', { className: 'num' }, x ? String(x.count) : '–'),
      h('td', { className: 'num' }, y ? String(y.count) : '–'),
      h('td', { className: 'num' }, x ? duration(x.total) : '–'),
      h('td', { className: 'num' }, y ? duration(y.total) : '–'),
      h('td', { className: 'num' }, x && y ? `${delta > 0 ? '+' : ''}${duration(delta)}` : ''),
      h('td', { className: 'num' }, x ? duration(x.total / x.count) : '–'),
      h('td', { className: 'num' }, y ? duration(y.total / y.count) : '–'),
      h('td', {}, { 'only-a': 'only in A', 'only-b': 'only in B', changed: 'changed', same: '' }[state]));
  });
  const onlyA = keys.filter((k) => !sb.has(k)).length;
  const onlyB = keys.filter((k) => !sa.has(k)).length;
  fill(root, h('section', { className: 'page compare-view' },
    h('h1', {}, 'Compare traces'),
    h('div', { className: 'compare-cards' }, card('A', a), card('B', b)),
    h('p', {}, `${keys.length} operations: ${onlyA} only in A, ${onlyB} only in B. Duration delta is A − B.`),
    h('table', { className: 'results compare-table' },
      h('thead', {}, h('tr', {}, ['Service', 'Operation', 'Spans A', 'Spans B', 'Total A', 'Total B', 'Δ total', 'Mean A', 'Mean B', ''].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, rows))));
  root.dataset.ready = 'compare';
}
