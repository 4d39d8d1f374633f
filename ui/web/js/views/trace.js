/**
 * The trace page (`/trace/{id}`, `?uiFind=`): header, find bar, minimap,
 * waterfall and span detail, wired together.
 * In: the route (trace id, `uiFind`) and the container. Out: the rendered
 * page; the find text is kept in the URL. Keyboard: `/` focuses find,
 * Enter/Shift+Enter step through matches, Esc clears it.
 */
import { h, fill, notice } from '../core/dom.js';
import * as api from '../core/api.js';
import { buildTrace } from '../trace/model.js';
import { criticalPath } from '../trace/critical.js';
import { findSpans } from '../trace/find.js';
import { traceHeader } from '../trace/header.js';
import { Waterfall } from '../trace/waterfall.js';
import { Minimap } from '../trace/minimap.js';
import { spanDetail } from '../trace/detail.js';

/**
 * @param {HTMLElement} root
 * @param {import('../core/route.js').Route} route
 */
export async function traceView(root, route) {
  const id = route.id || '';
  fill(root, notice('loading', `Loading trace ${id}…`));
  let raw;
  try {
    raw = await api.trace(id);
  } catch (e) {
    fill(root, notice('error', `Cannot show trace ${id}`, /** @type {Error} */ (e).message));
    return;
  }
  const began = performance.now();
  const trace = buildTrace(raw);
  const critical = criticalPath(trace);
  const detail = h('div', { className: 'detail-pane', hidden: true });
  const waterfall = new Waterfall(trace, critical, {
    onSelect: (span) => {
      detail.hidden = !span;
      if (span) fill(detail, spanDetail(span, trace, (s) => waterfall.select(s, true), () => waterfall.select(null)));
      else detail.replaceChildren();
    },
  });
  const minimap = new Minimap(trace, (a, b) => waterfall.setWindow(a, b));
  const counter = h('span', { className: 'find-count', 'aria-live': 'polite' });
  /** @type {import('../trace/model.js').Span[]} */
  let matches = [];
  let at = -1;
  const step = (/** @type {number} */ d) => {
    if (!matches.length) return;
    at = (at + d + matches.length) % matches.length;
    counter.textContent = `${at + 1} of ${matches.length}`;
    waterfall.select(matches[at], true);
  };
  const find = h('input', {
    type: 'search', className: 'find-input', placeholder: 'Find in trace…  ( / )', 'aria-label': 'Find in trace',
    value: route.params.get('uiFind') || '',
    oninput: () => runFind(),
    onkeydown: (/** @type {KeyboardEvent} */ e) => {
      if (e.key === 'Enter') { e.preventDefault(); step(e.shiftKey ? -1 : 1); }
      if (e.key === 'Escape') { find.value = ''; runFind(); }
    },
  });
  const runFind = () => {
    matches = findSpans(trace, find.value);
    at = -1;
    counter.textContent = find.value ? `${matches.length} match${matches.length === 1 ? '' : 'es'}` : '';
    waterfall.setMatches(new Set(matches));
    const url = new URL(location.href);
    if (find.value) url.searchParams.set('uiFind', find.value);
    else url.searchParams.delete('uiFind');
    history.replaceState(null, '', url);
  };
  const criticalToggle = h('input', {
    type: 'checkbox', checked: true,
    onchange: () => { waterfall.showCritical = criticalToggle.checked; waterfall.render(); },
  });
  fill(root, h('section', { className: 'trace-view' },
    traceHeader(trace),
    h('div', { className: 'toolbar' },
      find, counter,
      h('button', { type: 'button', className: 'button', onclick: () => step(-1), 'aria-label': 'Previous match' }, '↑'),
      h('button', { type: 'button', className: 'button', onclick: () => step(1), 'aria-label': 'Next match' }, '↓'),
      h('label', { className: 'check' }, criticalToggle, h('span', { className: 'crit-key' }), 'Critical path'),
      h('span', { className: 'muted keys' }, '↑↓ select · ←→ collapse/expand · drag the minimap to zoom')),
    minimap.el,
    h('div', { className: 'trace-main' }, waterfall.el, detail)));
  if (find.value) {
    runFind();
    if (matches.length) step(1);
  }
  /** @param {KeyboardEvent} e */
  const slash = (e) => {
    if (!root.isConnected || !find.isConnected) {
      document.removeEventListener('keydown', slash);
      return;
    }
    const target = /** @type {HTMLElement} */ (e.target);
    if (e.key === '/' && !/INPUT|TEXTAREA|SELECT/.test(target.tagName)) {
      e.preventDefault();
      find.focus();
    }
  };
  document.addEventListener('keydown', slash);
  requestAnimationFrame(() => {
    root.dataset.renderMs = String(Math.round(performance.now() - began));
    root.dataset.ready = 'trace';
  });
}
