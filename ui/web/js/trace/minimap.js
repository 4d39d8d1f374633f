/**
 * The minimap: the whole trace drawn small (one line per span, in tree
 * order, coloured by service) with the current time window marked. Dragging
 * across it zooms the waterfall to that window; double-click or "Reset
 * zoom" shows the whole trace again. ←/→ pan and +/− zoom when focused.
 * In: a `TraceModel` and `onWindow(start, end)` (absolute µs). Out: a DOM
 * element drawn on a canvas (cheap for 10k+ spans).
 */
import { h } from '../core/dom.js';
import { serviceColor } from '../core/colors.js';

const HEIGHT = 64;

export class Minimap {
  /**
   * @param {import('./model.js').TraceModel} trace
   * @param {(start: number, end: number) => void} onWindow
   */
  constructor(trace, onWindow) {
    this.trace = trace;
    this.onWindow = onWindow;
    this.a = 0;
    this.b = 1;
    this.canvas = h('canvas', { className: 'mm-canvas', height: HEIGHT });
    this.shade = h('div', { className: 'mm-window' });
    this.drag = h('div', { className: 'mm-drag' });
    this.area = h('div', {
      className: 'mm-area', tabindex: 0, role: 'slider', 'aria-label': 'Time window (drag to zoom)',
      'aria-valuemin': 0, 'aria-valuemax': 100,
      onkeydown: (/** @type {KeyboardEvent} */ e) => this.onKey(e),
      ondblclick: () => this.set(0, 1),
    }, this.canvas, this.shade, this.drag);
    this.area.addEventListener('pointerdown', (e) => this.onDown(e));
    this.el = h('div', { className: 'minimap' }, this.area,
      h('button', { type: 'button', className: 'link-button mm-reset', onclick: () => this.set(0, 1) }, 'Reset zoom'));
    new ResizeObserver(() => this.draw()).observe(this.area);
    this.place();
  }

  draw() {
    const width = this.area.clientWidth;
    if (!width) return;
    const ratio = window.devicePixelRatio || 1;
    this.canvas.width = Math.round(width * ratio);
    this.canvas.height = Math.round(HEIGHT * ratio);
    this.canvas.style.width = `${width}px`;
    this.canvas.style.height = `${HEIGHT}px`;
    const ctx = this.canvas.getContext('2d');
    if (!ctx) return;
    ctx.scale(ratio, ratio);
    const { spans, start, duration } = this.trace;
    const total = duration || 1;
    const rowHeight = Math.max(HEIGHT / Math.max(spans.length, 1), 0.5);
    for (const span of spans) {
      ctx.fillStyle = span.error ? '#d9363e' : serviceColor(span.service);
      const x = ((span.start - start) / total) * width;
      const w = Math.max((span.duration / total) * width, 1);
      const y = (span.index / Math.max(spans.length, 1)) * HEIGHT;
      ctx.fillRect(x, y, w, Math.max(rowHeight - (rowHeight > 3 ? 1 : 0), 0.5));
    }
  }

  /** Sets the window as fractions of the trace. @param {number} a @param {number} b */
  set(a, b) {
    this.a = Math.max(0, Math.min(a, b));
    this.b = Math.min(1, Math.max(a, b));
    if (this.b - this.a < 0.001) this.b = Math.min(1, this.a + 0.001);
    this.place();
    const { start, duration } = this.trace;
    this.onWindow(start + this.a * duration, start + this.b * duration);
  }

  place() {
    this.shade.style.left = `${this.a * 100}%`;
    this.shade.style.width = `${(this.b - this.a) * 100}%`;
    this.area.setAttribute('aria-valuenow', String(Math.round(this.a * 100)));
    this.area.setAttribute('aria-valuetext', `${Math.round(this.a * 100)}% to ${Math.round(this.b * 100)}%`);
  }

  /** @param {PointerEvent} e */
  onDown(e) {
    const rect = this.area.getBoundingClientRect();
    const at = (/** @type {number} */ x) => Math.max(0, Math.min(1, (x - rect.left) / rect.width));
    const from = at(e.clientX);
    this.area.setPointerCapture(e.pointerId);
    const move = (/** @type {PointerEvent} */ ev) => {
      const to = at(ev.clientX);
      this.drag.style.display = 'block';
      this.drag.style.left = `${Math.min(from, to) * 100}%`;
      this.drag.style.width = `${Math.abs(to - from) * 100}%`;
    };
    const up = (/** @type {PointerEvent} */ ev) => {
      this.area.removeEventListener('pointermove', move);
      this.area.removeEventListener('pointerup', up);
      this.drag.style.display = 'none';
      const to = at(ev.clientX);
      if (Math.abs(to - from) > 0.005) this.set(from, to);
    };
    this.area.addEventListener('pointermove', move);
    this.area.addEventListener('pointerup', up);
  }

  /** @param {KeyboardEvent} e */
  onKey(e) {
    const width = this.b - this.a;
    const step = width / 4;
    if (e.key === 'ArrowLeft') this.set(Math.max(0, this.a - step), Math.max(width, this.b - step));
    else if (e.key === 'ArrowRight') this.set(Math.min(1 - width, this.a + step), Math.min(1, this.b + step));
    else if (e.key === '+' || e.key === '=') this.set(this.a + width / 4, this.b - width / 4);
    else if (e.key === '-') this.set(this.a - width / 2, this.b + width / 2);
    else if (e.key === '0') this.set(0, 1);
    else return;
    e.preventDefault();
  }
}
