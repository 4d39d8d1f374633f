/**
 * The search results list: a sortable table (trace name, services with span
 * counts, spans, errors, duration, start) with a checkbox per trace to pick
 * two for comparison. In: trace summaries. Out: a DOM element; rows link to
 * `/trace/{id}`.
 */
import { h, fill } from '../core/dom.js';
import { serviceColor } from '../core/colors.js';
import { duration, dateTime, ago } from '../core/format.js';
import { href, navigate } from '../core/route.js';

/** @typedef {import('./summary.js').Summary} Summary */
/** @type {[keyof Summary, string, number][]} */
const COLUMNS = [['name', 'Trace', 1], ['services', 'Services', 0], ['spans', 'Spans', -1],
  ['errors', 'Errors', -1], ['duration', 'Duration', -1], ['start', 'Start', -1]];

/** @param {Summary} a @param {Summary} b @param {keyof Summary} key */
function compare(a, b, key) {
  const va = key === 'services' ? a.services.length : a[key];
  const vb = key === 'services' ? b.services.length : b[key];
  return va < vb ? -1 : va > vb ? 1 : 0;
}

/** @param {Summary[]} rows @param {URLSearchParams} params */
export function resultsTable(rows, params) {
  /** @type {keyof Summary} */
  let key = 'start';
  let dir = -1;
  /** @type {Set<string>} */
  const picked = new Set();
  const compareButton = h('button', { type: 'button', className: 'button', disabled: true, id: 'compare-picked',
    onclick: () => navigate(href(`/trace/${[...picked].join('...')}`)) }, 'Compare selected');
  const sortSelect = h('select', { 'aria-label': 'Sort results', onchange: () => {
    const [k, d] = sortSelect.value.split(':');
    key = /** @type {keyof Summary} */ (k); dir = Number(d); draw();
  } }, [['start:-1', 'Most recent'], ['duration:-1', 'Longest first'], ['duration:1', 'Shortest first'],
    ['spans:-1', 'Most spans'], ['spans:1', 'Fewest spans'], ['errors:-1', 'Most errors']]
    .map(([v, l]) => h('option', { value: v }, l)));
  const table = h('table', { className: 'results' });
  const uiFind = params.get('uiFind');
  const draw = () => {
    const sorted = rows.slice().sort((a, b) => dir * compare(a, b, key));
    sortSelect.value = `${key}:${dir}`;
    const head = h('tr', {}, h('th', { scope: 'col', className: 'pick' }, h('span', { className: 'sr-only' }, 'Compare')),
      COLUMNS.map(([k, label, first]) => h('th', { scope: 'col', 'aria-sort': k === key ? (dir > 0 ? 'ascending' : 'descending') : 'none' },
        h('button', { type: 'button', className: 'sort', onclick: () => {
          if (key === k) dir = -dir; else { key = k; dir = first || 1; }
          draw();
        } }, label, k === key ? (dir > 0 ? ' ▲' : ' ▼') : ''))));
    const maxDuration = Math.max(...rows.map((r) => r.duration), 1);
    const body = sorted.map((r) => h('tr', { className: r.errors ? 'has-error' : '' },
      h('td', { className: 'pick' }, h('input', { type: 'checkbox', 'aria-label': `Select ${r.id} for comparison`, checked: picked.has(r.id),
        onchange: (/** @type {Event} */ e) => {
          const box = /** @type {HTMLInputElement} */ (e.target);
          if (box.checked) picked.add(r.id); else picked.delete(r.id);
          compareButton.disabled = picked.size !== 2;
        } })),
      h('td', {}, h('a', { href: href(`/trace/${r.id}`, uiFind ? { uiFind } : undefined), 'data-nav': '', className: 'trace-link' }, r.name),
        h('div', { className: 'muted mono' }, r.id.slice(0, 16))),
      h('td', {}, h('div', { className: 'chips' }, r.services.slice(0, 8).map(([name, count]) =>
        h('span', { className: 'chip small', style: { borderColor: serviceColor(name) } }, name, h('span', { className: 'count' }, String(count)))),
      r.services.length > 8 ? h('span', { className: 'muted' }, `+${r.services.length - 8}`) : null)),
      h('td', { className: 'num' }, String(r.spans)),
      h('td', { className: 'num' }, r.errors ? h('span', { className: 'badge badge-error' }, String(r.errors)) : '0'),
      h('td', { className: 'num' }, duration(r.duration),
        h('div', { className: 'dur-bar' }, h('div', { style: { width: `${(r.duration / maxDuration) * 100}%` } }))),
      h('td', {}, ago(r.start), h('div', { className: 'muted' }, dateTime(r.start)))));
    fill(table, h('thead', {}, head), h('tbody', {}, body));
  };
  draw();
  return h('div', { className: 'results-wrap' },
    h('div', { className: 'results-bar' }, h('strong', {}, `${rows.length} trace${rows.length === 1 ? '' : 's'}`),
      h('span', { className: 'spacer' }), sortSelect, compareButton),
    table);
}
