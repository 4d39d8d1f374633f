/**
 * The search results' scatter plot: one dot per trace, start time on x,
 * duration on y, dot size by span count, errors drawn in red.
 * In: trace summaries and `onOpen(id)`. Out: an SVG element (axes and ticks
 * drawn here, no charting library).
 */
import { s } from '../core/dom.js';
import { duration, clock } from '../core/format.js';

const W = 900;
const H = 180;
const PAD = { left: 56, right: 16, top: 14, bottom: 26 };
/** Room kept around the dots so the largest is never cut. */
const INSET = 12;

/**
 * @param {import('./summary.js').Summary[]} rows
 * @param {(id: string) => void} onOpen
 */
export function scatter(rows, onOpen) {
  const t0 = Math.min(...rows.map((r) => r.start));
  const t1 = Math.max(...rows.map((r) => r.start));
  const dMax = Math.max(...rows.map((r) => r.duration), 1);
  const tSpan = t1 - t0 || 1;
  const x = (/** @type {number} */ t) => PAD.left + INSET + ((t - t0) / tSpan) * (W - PAD.left - PAD.right - 2 * INSET);
  const y = (/** @type {number} */ d) => H - PAD.bottom - (d / dMax) * (H - PAD.top - PAD.bottom - INSET);
  const grid = [];
  for (let i = 0; i <= 4; i++) {
    const d = (dMax * i) / 4;
    grid.push(s('line', { x1: PAD.left, x2: W - PAD.right, y1: y(d), y2: y(d), className: 'grid' }),
      s('text', { x: PAD.left - 6, y: y(d) + 4, 'text-anchor': 'end', className: 'axis' }, duration(d)));
  }
  const ticks = rows.length > 1 ? [0, 0.5, 1] : [0.5];
  for (const f of ticks) {
    const t = t0 + f * (t1 - t0);
    grid.push(s('text', { x: rows.length > 1 ? x(t) : W / 2, y: H - 8, 'text-anchor': 'middle', className: 'axis' }, clock(t)));
  }
  const dots = rows.map((r) => {
    const dot = s('circle', {
      cx: rows.length > 1 ? x(r.start) : W / 2, cy: y(r.duration), r: Math.min(3 + Math.sqrt(r.spans), 10),
      className: r.errors ? 'dot dot-error' : 'dot', 'data-trace': r.id,
    }, s('title', {}, `${r.name}\n${duration(r.duration)} · ${r.spans} spans${r.errors ? ` · ${r.errors} errors` : ''}`));
    dot.addEventListener('click', () => onOpen(r.id));
    return dot;
  });
  return s('svg', { viewBox: `0 0 ${W} ${H}`, className: 'scatter', role: 'img', 'aria-label': 'Trace durations over time' },
    grid, dots);
}
