/**
 * The timeline waterfall: one row per visible span with its place in the
 * span tree (collapse/expand), service colour, error mark, find matches and
 * critical-path segments, over a zoomable time window.
 * In: a `TraceModel`, the critical path, and callbacks. Out: a DOM element
 * whose rows are virtualized: only the rows in view (plus a margin) exist,
 * so 10k+ span traces scroll smoothly. Keyboard: ↑/↓ (or j/k) move the
 * selection, ←/→ collapse/expand, Enter/Space toggles.
 */
import { h, fill } from '../core/dom.js';
import { serviceColor } from '../core/colors.js';
import { duration } from '../core/format.js';

const ROW = 26;
const OVERSCAN = 12;
const MAX_INDENT = 30;

/** @typedef {import('./model.js').Span} Span */

export class Waterfall {
  /**
   * @param {import('./model.js').TraceModel} trace
   * @param {Map<string, [number, number][]>} critical
   * @param {{onSelect: (span: Span | null) => void}} hooks
   */
  constructor(trace, critical, hooks) {
    this.trace = trace;
    this.critical = critical;
    this.hooks = hooks;
    /** @type {Set<Span>} */
    this.collapsed = new Set();
    /** @type {Set<Span>} */
    this.matches = new Set();
    /** @type {Span | null} */
    this.selected = null;
    this.showCritical = true;
    this.w0 = trace.start;
    this.w1 = trace.end > trace.start ? trace.end : trace.start + 1;
    /** @type {Span[]} */
    this.visible = trace.spans;
    this.ticks = h('div', { className: 'wf-ticks' });
    this.spacer = h('div', { className: 'wf-spacer' });
    this.body = h('div', {
      className: 'wf-body', tabindex: 0, role: 'tree', 'aria-label': 'Spans of the trace',
      onscroll: () => this.schedule(), onkeydown: (/** @type {KeyboardEvent} */ e) => this.onKey(e),
    }, this.spacer);
    this.body.addEventListener('click', (e) => this.onClick(e));
    this.el = h('div', { className: 'wf' },
      h('div', { className: 'wf-head' },
        h('div', { className: 'wf-name-col' }, 'Service & operation',
          h('button', { type: 'button', className: 'link-button', onclick: () => this.collapseAll(), title: 'Collapse all' }, 'collapse all'),
          h('button', { type: 'button', className: 'link-button', onclick: () => this.expandAll(), title: 'Expand all' }, 'expand all')),
        this.ticks),
      this.body);
    this.frame = 0;
    new ResizeObserver(() => this.schedule()).observe(this.body);
    this.refresh();
  }

  /** Recomputes the visible rows after a collapse change. */
  refresh() {
    if (!this.collapsed.size) {
      this.visible = this.trace.spans;
    } else {
      /** @type {Span[]} */
      const visible = [];
      let skipDepth = Infinity;
      for (const span of this.trace.spans) {
        if (span.depth > skipDepth) continue;
        skipDepth = this.collapsed.has(span) ? span.depth : Infinity;
        visible.push(span);
      }
      this.visible = visible;
    }
    this.spacer.style.height = `${this.visible.length * ROW}px`;
    this.renderTicks();
    this.render();
  }

  schedule() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.render();
    });
  }

  /** Sets the time window (absolute µs). @param {number} a @param {number} b */
  setWindow(a, b) {
    this.w0 = a;
    this.w1 = Math.max(b, a + 1);
    this.renderTicks();
    this.render();
  }

  renderTicks() {
    const span = this.w1 - this.w0;
    const ticks = [];
    for (let i = 0; i <= 4; i++) {
      ticks.push(h('span', { className: 'wf-tick', style: { left: `${i * 25}%` } },
        duration(this.w0 - this.trace.start + (span * i) / 4)));
    }
    fill(this.ticks, ticks);
  }

  /** Renders the rows in view. */
  render() {
    const top = this.body.scrollTop;
    const height = this.body.clientHeight || 600;
    const first = Math.max(0, Math.floor(top / ROW) - OVERSCAN);
    const last = Math.min(this.visible.length, Math.ceil((top + height) / ROW) + OVERSCAN);
    const rows = [];
    for (let i = first; i < last; i++) rows.push(this.row(this.visible[i], i));
    fill(this.spacer, rows);
  }

  /** @param {Span} span @param {number} i */
  row(span, i) {
    const color = serviceColor(span.service);
    const width = this.w1 - this.w0;
    const left = ((span.start - this.w0) / width) * 100;
    const barWidth = Math.max((span.duration / width) * 100, 0.05);
    const open = !this.collapsed.has(span);
    const classes = ['wf-row'];
    if (span === this.selected) classes.push('selected');
    if (this.matches.has(span)) classes.push('match');
    if (this.matches.size && !this.matches.has(span)) classes.push('dim');
    const indent = Math.min(span.depth, MAX_INDENT) * 14;
    const bar = h('div', { className: 'wf-bar', style: { left: `${left}%`, width: `${barWidth}%`, background: color } });
    if (this.showCritical) {
      for (const [a, b] of this.critical.get(span.id) || []) {
        bar.append(h('div', { className: 'wf-crit', style: {
          left: `${((a - span.start) / (span.duration || 1)) * 100}%`,
          width: `${((b - a) / (span.duration || 1)) * 100}%` } }));
      }
    }
    return h('div', {
      className: classes.join(' '), role: 'treeitem', 'aria-level': span.depth + 1,
      'aria-expanded': span.children.length ? String(open) : undefined, 'aria-selected': String(span === this.selected),
      'data-index': i, style: { top: `${i * ROW}px` },
    },
    h('div', { className: 'wf-name', style: { paddingLeft: `${indent + 4}px` } },
      span.depth > MAX_INDENT ? h('span', { className: 'wf-deep', title: `depth ${span.depth}` }, `${span.depth}›`) : null,
      span.children.length
        ? h('button', { type: 'button', className: 'wf-toggle', 'data-toggle': i, tabindex: -1,
          'aria-label': open ? 'Collapse' : 'Expand', title: `${span.children.length} children` }, open ? '▾' : '▸')
        : h('span', { className: 'wf-toggle-space' }),
      h('span', { className: 'wf-swatch', style: { background: color } }),
      span.error ? h('span', { className: 'wf-error', title: 'Error' }, '!') : null,
      h('span', { className: 'wf-service' }, span.service),
      h('span', { className: 'wf-op' }, span.operation),
      !open ? h('span', { className: 'wf-hidden' }, `+${countDescendants(span)}`) : null),
    h('div', { className: 'wf-bar-area' }, bar,
      // The bar area keeps a right margin, so the label fits after any bar.
      h('span', { className: 'wf-dur', style: { left: `${Math.min(left + barWidth, 100) + 0.5}%` } }, duration(span.duration))));
  }

  /** @param {MouseEvent} e */
  onClick(e) {
    const target = /** @type {HTMLElement} */ (e.target);
    const toggle = target.closest('[data-toggle]');
    if (toggle) {
      this.toggle(this.visible[Number(toggle.getAttribute('data-toggle'))]);
      return;
    }
    const row = target.closest('[data-index]');
    if (row) this.select(this.visible[Number(row.getAttribute('data-index'))]);
  }

  /** @param {KeyboardEvent} e */
  onKey(e) {
    const at = this.selected ? this.visible.indexOf(this.selected) : -1;
    const move = (/** @type {number} */ d) => {
      const next = this.visible[Math.max(0, Math.min(this.visible.length - 1, at + d))];
      if (next) this.select(next, true);
    };
    const span = this.selected;
    switch (e.key) {
      case 'ArrowDown': case 'j': move(1); break;
      case 'ArrowUp': case 'k': move(-1); break;
      case 'PageDown': move(20); break;
      case 'PageUp': move(-20); break;
      case 'ArrowLeft':
        if (span && span.children.length && !this.collapsed.has(span)) this.toggle(span);
        else if (span?.parent) this.select(span.parent, true);
        break;
      case 'ArrowRight': if (span && this.collapsed.has(span)) this.toggle(span); break;
      case 'Enter': case ' ': if (span) this.toggle(span); break;
      case 'Escape': this.select(null); break;
      default: return;
    }
    e.preventDefault();
  }

  /** @param {Span | null} span @param {boolean} [scroll] */
  select(span, scroll = false) {
    this.selected = span;
    if (span && scroll) this.scrollTo(span);
    this.render();
    this.hooks.onSelect(span);
  }

  /** @param {Span} span */
  toggle(span) {
    if (!span.children.length) return;
    if (this.collapsed.has(span)) this.collapsed.delete(span);
    else this.collapsed.add(span);
    this.refresh();
  }

  collapseAll() {
    for (const span of this.trace.spans) if (span.children.length && span.parent) this.collapsed.add(span);
    this.refresh();
  }

  expandAll() {
    this.collapsed.clear();
    this.refresh();
  }

  /** Expands the ancestors of `span` and scrolls it into view. @param {Span} span */
  scrollTo(span) {
    let changed = false;
    for (let p = span.parent; p; p = p.parent) changed = this.collapsed.delete(p) || changed;
    if (changed) this.refresh();
    const i = this.visible.indexOf(span);
    const top = i * ROW;
    const view = this.body.clientHeight || 600;
    if (top < this.body.scrollTop || top + ROW > this.body.scrollTop + view) {
      this.body.scrollTop = Math.max(0, top - view / 3);
    }
    this.render();
  }

  /** @param {Set<Span>} matches */
  setMatches(matches) {
    this.matches = matches;
    this.render();
  }
}

/** @param {Span} span */
function countDescendants(span) {
  let n = 0;
  const stack = [...span.children];
  while (stack.length) {
    const s = /** @type {Span} */ (stack.pop());
    n++;
    stack.push(...s.children);
  }
  return n;
}
