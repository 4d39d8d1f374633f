/**
 * The service map (`/dependencies`): the dependency graph of
 * `/api/dependencies` (with `errors=true` for error counts) drawn as a
 * layered graph — call counts and error rates on the edges, a time window,
 * and focus on one service (`?service=`; click a node). A table lists the
 * same edges for keyboard and screen-reader users.
 * In: the route and the container. Out: the page.
 */
import { h, s, fill, notice } from '../core/dom.js';
import * as api from '../core/api.js';
import { serviceColor } from '../core/colors.js';
import { number, percent } from '../core/format.js';
import { href, navigate } from '../core/route.js';
import { layout, NODE_W, NODE_H } from '../graph/layout.js';
import { focusLinks } from '../graph/focus.js';

const WINDOWS = [['1h', 3600e3], ['6h', 6 * 3600e3], ['24h', 86400e3], ['2d', 2 * 86400e3], ['7d', 7 * 86400e3]];

/** @typedef {{parent: string, child: string, callCount: number, errorCount?: number}} Link */

/** @param {Link} l */
const errorRate = (l) => (l.callCount ? (l.errorCount || 0) / l.callCount : 0);

/**
 * @param {Link[]} links
 * @param {string} focus
 * @param {(service: string) => void} onFocus
 */
function graph(links, focus, onFocus) {
  const ids = [...new Set(links.flatMap((l) => [l.parent, l.child]))];
  const { nodes, width, height } = layout(ids, links);
  const maxCalls = Math.max(1, ...links.map((l) => l.callCount));
  const edges = links.map((l) => {
    const a = /** @type {import('../graph/layout.js').LayoutNode} */ (nodes.get(l.parent));
    const b = /** @type {import('../graph/layout.js').LayoutNode} */ (nodes.get(l.child));
    const rate = errorRate(l);
    const cls = `edge${rate > 0.05 ? ' edge-error' : rate > 0 ? ' edge-warn' : ''}`;
    const widthPx = 1 + 3 * Math.log10(1 + (9 * l.callCount) / maxCalls);
    let d;
    let lx;
    let ly;
    if (l.parent === l.child) {
      d = `M${a.x + NODE_W - 30},${a.y} c0,-30 40,-30 30,0`;
      lx = a.x + NODE_W - 10; ly = a.y - 26;
    } else if (b.layer > a.layer) {
      const x1 = a.x + NODE_W; const y1 = a.y + NODE_H / 2; const x2 = b.x; const y2 = b.y + NODE_H / 2;
      const mx = (x1 + x2) / 2;
      d = `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2 - 4},${y2}`;
      lx = mx; ly = (y1 + y2) / 2 - 4;
    } else {
      const x1 = a.x + NODE_W / 2; const y1 = a.y + NODE_H; const x2 = b.x + NODE_W / 2; const y2 = b.y + NODE_H;
      d = `M${x1},${y1} C${x1},${y1 + 60} ${x2},${y2 + 60} ${x2},${y2 + 4}`;
      lx = (x1 + x2) / 2; ly = Math.max(y1, y2) + 48;
    }
    return s('g', { className: cls },
      s('path', { d, 'stroke-width': widthPx, 'marker-end': 'url(#arrow)' }, s('title', {}, `${l.parent} → ${l.child}`)),
      s('text', { x: lx, y: ly, 'text-anchor': 'middle', className: 'edge-label' },
        `${number(l.callCount)}${l.errorCount ? ` · ${percent(rate)} err` : ''}`));
  });
  const boxes = [...nodes.values()].map((n) => {
    const g = s('g', { className: `node${n.id === focus ? ' node-focus' : ''}`, transform: `translate(${n.x},${n.y})`, 'data-service': n.id },
      s('rect', { width: NODE_W, height: NODE_H, rx: 6 }),
      s('rect', { width: 6, height: NODE_H, rx: 3, fill: serviceColor(n.id), className: 'node-color' }),
      s('text', { x: 14, y: NODE_H / 2 + 4 }, n.id.length > 22 ? `${n.id.slice(0, 21)}…` : n.id),
      s('title', {}, `${n.id} (click to focus)`));
    g.addEventListener('click', () => onFocus(n.id));
    return g;
  });
  return s('svg', { className: 'depgraph', viewBox: `0 -40 ${width} ${height + 120}`, width, height: height + 120, role: 'img', 'aria-label': 'Service dependency graph' },
    s('defs', {}, s('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 9, markerHeight: 9, markerUnits: 'userSpaceOnUse', orient: 'auto-start-reverse' },
      s('path', { d: 'M0,0 L10,5 L0,10 z', className: 'arrow' }))),
    edges, boxes);
}

/**
 * @param {HTMLElement} root
 * @param {import('../core/route.js').Route} route
 */
export async function dependenciesView(root, route) {
  const focus = route.params.get('service') || '';
  const windowKey = route.params.get('lookback') || '24h';
  const lookback = (WINDOWS.find(([k]) => k === windowKey) || WINDOWS[2])[1];
  const go = (/** @type {Record<string, string>} */ p) => navigate(href('/dependencies', { lookback: windowKey, service: focus, ...p }));
  const content = h('div', { className: 'deps-content' }, notice('loading', 'Loading dependencies…'));
  const focusSelect = h('select', { 'aria-label': 'Focus on service', onchange: () => go({ service: focusSelect.value }) },
    h('option', { value: '' }, 'All services'));
  fill(root, h('section', { className: 'page deps-view' },
    h('div', { className: 'page-head' }, h('h1', {}, 'Service map'), h('span', { className: 'spacer' }),
      h('label', { className: 'inline' }, 'Focus ', focusSelect),
      h('label', { className: 'inline' }, 'Window ', h('select', { 'aria-label': 'Time window', onchange: (/** @type {Event} */ e) => go({ lookback: /** @type {HTMLSelectElement} */ (e.target).value }) },
        WINDOWS.map(([k]) => h('option', { value: k, selected: k === windowKey }, `last ${k}`))))),
    content));
  /** @type {Link[]} */
  let links;
  try {
    const body = await api.get('api/dependencies', { endTs: Date.now(), lookback, errors: 'true' });
    links = body.data || [];
  } catch (e) {
    fill(content, notice('error', 'Cannot load the service map', /** @type {Error} */ (e).message));
    return;
  }
  const services = [...new Set(links.flatMap((l) => [l.parent, l.child]))].sort();
  focusSelect.append(...services.map((sv) => h('option', { value: sv, selected: sv === focus }, sv)));
  const shown = focus ? focusLinks(links, focus) : links;
  if (!shown.length) {
    fill(content, notice('empty', 'No dependencies in this window',
      'Links appear when a span of one service calls another service. Try a longer window, or send traces that cross services.'));
  } else {
    const table = h('table', { className: 'results deps-table' },
      h('thead', {}, h('tr', {}, ['Caller', 'Callee', 'Calls', 'Errors', 'Error rate'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, shown.slice().sort((a, b) => b.callCount - a.callCount).map((l) => h('tr', {},
        h('td', {}, h('a', { href: href('/dependencies', { lookback: windowKey, service: l.parent }), 'data-nav': '' }, l.parent)),
        h('td', {}, h('a', { href: href('/dependencies', { lookback: windowKey, service: l.child }), 'data-nav': '' }, l.child)),
        h('td', { className: 'num' }, String(l.callCount)),
        h('td', { className: 'num' }, String(l.errorCount || 0)),
        h('td', { className: 'num' }, percent(errorRate(l)))))));
    fill(content,
      h('div', { className: 'card graph-card' }, graph(shown, focus, (sv) => go({ service: sv === focus ? '' : sv }))),
      focus ? h('p', {}, `Showing the call paths through ${focus}. `, h('a', { href: href('/search', { service: focus, lookback: '1h' }), 'data-nav': '' }, `Search ${focus}'s traces`)) : null,
      table);
  }
  root.dataset.ready = 'dependencies';
}
