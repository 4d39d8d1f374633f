/**
 * Line charts for the Monitor page: a titled multi-series chart with axes
 * and legend, and a small sparkline. Gaps (NaN) break the line.
 * In: series of `[timeMs, value]` points, a value formatter. Out: SVG.
 */
import { h, s } from '../core/dom.js';

/** @typedef {{name: string, color: string, points: [number, number][]}} Series */

const W = 420;
const H = 170;
const PAD = { left: 52, right: 10, top: 10, bottom: 24 };

/** @param {number} ms */
function hhmm(ms) {
  const d = new Date(ms);
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
}

/**
 * SVG path of the points; NaN starts a new segment.
 * @param {[number, number][]} points
 * @param {(t: number) => number} x
 * @param {(v: number) => number} y
 */
function path(points, x, y) {
  let d = '';
  let pen = false;
  for (const [t, v] of points) {
    if (!Number.isFinite(v)) { pen = false; continue; }
    d += `${pen ? 'L' : 'M'}${x(t).toFixed(1)},${y(v).toFixed(1)}`;
    pen = true;
  }
  return d;
}

/**
 * @param {string} title
 * @param {Series[]} series
 * @param {(v: number) => string} format
 */
export function lineChart(title, series, format) {
  const all = series.flatMap((sr) => sr.points);
  const values = all.map(([, v]) => v).filter(Number.isFinite);
  const legend = h('div', { className: 'legend' }, series.map((sr) =>
    h('span', {}, h('span', { className: 'legend-key', style: { background: sr.color } }), sr.name)));
  if (!values.length) {
    return h('figure', { className: 'card chart' }, h('figcaption', {}, title), legend,
      h('div', { className: 'chart-empty' }, 'No data in this time range'));
  }
  const t0 = Math.min(...all.map(([t]) => t));
  const t1 = Math.max(...all.map(([t]) => t));
  const vMax = Math.max(...values) || 1;
  const x = (/** @type {number} */ t) => PAD.left + ((t - t0) / (t1 - t0 || 1)) * (W - PAD.left - PAD.right);
  const y = (/** @type {number} */ v) => H - PAD.bottom - (v / vMax) * (H - PAD.top - PAD.bottom);
  const grid = [];
  for (let i = 0; i <= 3; i++) {
    const v = (vMax * i) / 3;
    grid.push(s('line', { x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v), className: 'grid' }),
      s('text', { x: PAD.left - 5, y: y(v) + 4, 'text-anchor': 'end', className: 'axis' }, format(v)));
  }
  for (const f of [0, 0.5, 1]) {
    const t = t0 + f * (t1 - t0);
    grid.push(s('text', { x: x(t), y: H - 6, 'text-anchor': f === 0 ? 'start' : f === 1 ? 'end' : 'middle', className: 'axis' }, hhmm(t)));
  }
  const lines = series.map((sr) => s('path', { d: path(sr.points, x, y), stroke: sr.color, className: 'line' }));
  return h('figure', { className: 'card chart' }, h('figcaption', {}, title), legend,
    s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': title }, grid, lines));
}

/**
 * @param {[number, number][]} points
 * @param {string} color
 */
export function sparkline(points, color) {
  const values = points.map(([, v]) => v).filter(Number.isFinite);
  const w = 90;
  const hgt = 22;
  if (!values.length) return s('svg', { width: w, height: hgt, className: 'spark' });
  const t0 = points[0][0];
  const t1 = points[points.length - 1][0];
  const max = Math.max(...values) || 1;
  const x = (/** @type {number} */ t) => ((t - t0) / (t1 - t0 || 1)) * (w - 2) + 1;
  const y = (/** @type {number} */ v) => hgt - 2 - (v / max) * (hgt - 4);
  return s('svg', { width: w, height: hgt, viewBox: `0 0 ${w} ${hgt}`, className: 'spark', 'aria-hidden': 'true' },
    s('path', { d: path(points, x, y), stroke: color, className: 'line' }));
}
