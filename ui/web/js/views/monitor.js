/**
 * The Monitor page (`/monitor?service=…`): RED metrics of one service from
 * Spoor's SPM API — request rate, error rate and latency p50/p95/p99 over
 * time — and a per-operation table with sparklines and impact (share of
 * the service's time: p95 latency × rate), with links to the operation's
 * slowest and failing traces.
 * In: the route (`service`, `lookback` in ms, `spanKind`) and the
 * container. Out: the page.
 */
import { h, fill, notice } from '../core/dom.js';
import * as api from '../core/api.js';
import { href, navigate } from '../core/route.js';
import { number, percent } from '../core/format.js';
import { lineChart, sparkline } from '../charts/line.js';

const TIMEFRAMES = [[15 * 60e3, 'last 15 minutes'], [3600e3, 'last hour'], [2 * 3600e3, 'last 2 hours'],
  [6 * 3600e3, 'last 6 hours'], [12 * 3600e3, 'last 12 hours'], [86400e3, 'last 24 hours'], [2 * 86400e3, 'last 2 days']];
const KINDS = ['server', 'client', 'producer', 'consumer', 'internal'];

/**
 * Series of a `MetricFamily`, keyed by operation ('' when not grouped).
 * @param {any} family
 * @returns {Map<string, [number, number][]>}
 */
export function seriesOf(family) {
  const out = new Map();
  for (const metric of family?.metrics || []) {
    const op = (metric.labels || []).find((/** @type {any} */ l) => l.name === 'operation')?.value || '';
    out.set(op, (metric.metricPoints || []).map((/** @type {any} */ p) =>
      [Date.parse(p.timestamp), Number(p.gaugeValue?.doubleValue)]));
  }
  return out;
}

/** The last finite value of a series. @param {[number, number][] | undefined} points */
function last(points) {
  for (let i = (points || []).length - 1; i >= 0; i--) {
    const v = /** @type {[number, number][]} */ (points)[i][1];
    if (Number.isFinite(v)) return v;
  }
  return NaN;
}

/** Milliseconds, formatted. @param {number} ms */
const ms = (ms) => (ms >= 1000 ? `${number(ms / 1000)}s` : `${number(ms)}ms`);

/**
 * @param {HTMLElement} root
 * @param {import('../core/route.js').Route} route
 */
export async function monitorView(root, route) {
  const p = route.params;
  const lookback = Number(p.get('lookback')) || 3600e3;
  const kind = p.get('spanKind') || 'server';
  const go = (/** @type {Record<string, string>} */ q) => navigate(href('/monitor', {
    service: p.get('service') || '', lookback: String(lookback), spanKind: kind, ...q }));
  const body = h('div', {}, notice('loading', 'Loading services…'));
  const serviceSelect = h('select', { 'aria-label': 'Service', id: 'mon-service', onchange: () => go({ service: serviceSelect.value }) });
  fill(root, h('section', { className: 'page monitor-view' },
    h('div', { className: 'page-head' }, h('h1', {}, 'Monitor'), h('span', { className: 'spacer' }),
      h('label', { className: 'inline' }, 'Service ', serviceSelect),
      h('label', { className: 'inline' }, 'Span kind ', h('select', { 'aria-label': 'Span kind', onchange: (/** @type {Event} */ e) => go({ spanKind: /** @type {HTMLSelectElement} */ (e.target).value }) },
        KINDS.map((k) => h('option', { value: k, selected: k === kind }, k)))),
      h('label', { className: 'inline' }, 'Time ', h('select', { 'aria-label': 'Time frame', onchange: (/** @type {Event} */ e) => go({ lookback: /** @type {HTMLSelectElement} */ (e.target).value }) },
        TIMEFRAMES.map(([v, l]) => h('option', { value: v, selected: v === lookback }, l))))),
    body));
  let services;
  try {
    services = await api.services();
  } catch (e) {
    fill(body, notice('error', 'Cannot list services', /** @type {Error} */ (e).message));
    return;
  }
  if (!services.length) {
    fill(body, notice('empty', 'No services yet', 'Metrics appear once Spoor receives spans.'));
    root.dataset.ready = 'monitor';
    return;
  }
  const service = p.get('service') && services.includes(/** @type {string} */ (p.get('service'))) ? /** @type {string} */ (p.get('service')) : services[0];
  serviceSelect.append(...services.map((sv) => h('option', { value: sv, selected: sv === service }, sv)));
  fill(body, notice('loading', `Loading metrics of ${service}…`));
  const step = Math.max(1000, Math.round(lookback / 60 / 1000) * 1000);
  const common = { service, endTs: Date.now(), lookback, step, ratePer: Math.min(600e3, Math.max(step * 2, 60e3)), spanKind: kind };
  const fetchAll = (/** @type {boolean} */ grouped) => Promise.all([
    ...[0.5, 0.95, 0.99].map((quantile) => api.get('api/metrics/latencies', { ...common, quantile, groupByOperation: grouped })),
    api.get('api/metrics/calls', { ...common, groupByOperation: grouped }),
    api.get('api/metrics/errors', { ...common, groupByOperation: grouped }),
  ]).then((families) => families.map(seriesOf));
  let svc;
  let ops;
  try {
    [svc, ops] = await Promise.all([fetchAll(false), fetchAll(true)]);
  } catch (e) {
    fill(body, notice('error', 'Cannot load metrics', /** @type {Error} */ (e).message));
    return;
  }
  const [p50, p95, p99, calls, errors] = svc.map((m) => m.get('') || []);
  const charts = h('div', { className: 'charts' },
    lineChart('Latency (ms)', [
      { name: 'p99', color: '#8e44ad', points: p99 }, { name: 'p95', color: '#3b7dd8', points: p95 },
      { name: 'p50', color: '#17a589', points: p50 }], ms),
    lineChart('Request rate (req/s)', [{ name: 'req/s', color: '#3b7dd8', points: calls }], number),
    lineChart('Error rate', [{ name: 'errors', color: '#d9363e', points: errors }], percent));
  const names = [...ops[3].keys()].sort();
  const rows = names.map((op) => {
    const rate = last(ops[3].get(op));
    const latency = last(ops[1].get(op));
    return { op, rate, latency, p50: last(ops[0].get(op)), errorRate: last(ops[4].get(op)), impact: (Number.isFinite(latency) ? latency : 0) * (Number.isFinite(rate) ? rate : 0) };
  });
  const maxImpact = Math.max(1e-9, ...rows.map((r) => r.impact));
  rows.sort((a, b) => b.impact - a.impact);
  const table = rows.length ? h('table', { className: 'results ops-table' },
    h('thead', {}, h('tr', {}, ['Operation', 'p95 latency', '', 'Request rate', '', 'Error rate', '', 'Impact', 'Traces'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, rows.map((r) => h('tr', {},
      h('td', {}, r.op),
      h('td', { className: 'num' }, Number.isFinite(r.latency) ? ms(r.latency) : '–'), h('td', {}, sparkline(ops[1].get(r.op) || [], '#3b7dd8')),
      h('td', { className: 'num' }, `${number(r.rate)}/s`), h('td', {}, sparkline(ops[3].get(r.op) || [], '#17a589')),
      h('td', { className: 'num' }, percent(r.errorRate)), h('td', {}, sparkline(ops[4].get(r.op) || [], '#d9363e')),
      h('td', {}, h('div', { className: 'impact', title: `${percent(r.impact / maxImpact)} of the largest` }, h('div', { style: { width: `${(r.impact / maxImpact) * 100}%` } }))),
      h('td', { className: 'links' },
        h('a', { href: href('/search', { service, operation: r.op, lookback: '1h', minDuration: Number.isFinite(r.latency) ? `${Math.floor(r.latency)}ms` : undefined, limit: 20 }), 'data-nav': '' }, 'slowest'), ' · ',
        h('a', { href: href('/search', { service, operation: r.op, lookback: '1h', tags: JSON.stringify({ error: 'true' }), limit: 20 }), 'data-nav': '' }, 'failing'))))))
    : notice('empty', `No ${kind} operations of ${service} in this time range`, 'Try another span kind or a longer time frame.');
  fill(body, charts, h('h2', {}, `Operations of ${service}`), table);
  root.dataset.ready = 'monitor';
}
