/**
 * The trace header: name (root service and operation), id, start,
 * duration, services with span counts, depth, span, error and warning
 * counts, the adjusters' warnings, and the JSON download.
 * In: a `TraceModel`. Out: a DOM element.
 */
import { h } from '../core/dom.js';
import { serviceColor } from '../core/colors.js';
import { duration, dateTime } from '../core/format.js';
import { traceName } from './model.js';

/** Offers the trace as a JSON file (the `/api/traces/{id}` shape). @param {import('./model.js').TraceModel} trace */
export function download(trace) {
  const blob = new Blob([JSON.stringify({ data: [trace.raw] }, null, 2)], { type: 'application/json' });
  const a = h('a', { href: URL.createObjectURL(blob), download: `trace-${trace.id}.json` });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

/** @param {string} label @param {any} value */
function fact(label, value) {
  return h('div', { className: 'fact' }, h('span', { className: 'fact-label' }, label), h('span', { className: 'fact-value' }, value));
}

/** @param {import('./model.js').TraceModel} trace */
export function traceHeader(trace) {
  const services = [...trace.services.entries()].sort((a, b) => b[1] - a[1]);
  return h('header', { className: 'trace-head' },
    h('div', { className: 'trace-title' },
      h('h1', {}, traceName(trace)),
      h('code', { className: 'trace-id', title: 'Trace ID' }, trace.id),
      h('button', { type: 'button', className: 'button', onclick: () => download(trace), title: 'Download the trace as JSON' }, 'Download JSON')),
    h('div', { className: 'facts-row' },
      fact('Start', dateTime(trace.start)),
      fact('Duration', duration(trace.duration)),
      fact('Services', String(trace.services.size)),
      fact('Depth', String(trace.depth)),
      fact('Spans', String(trace.spans.length)),
      fact('Errors', trace.errors ? h('span', { className: 'error-text' }, String(trace.errors)) : '0'),
      fact('Warnings', String(trace.warnings.length))),
    h('div', { className: 'chips' }, services.map(([name, count]) =>
      h('span', { className: 'chip', style: { borderColor: serviceColor(name) } },
        h('span', { className: 'wf-swatch', style: { background: serviceColor(name) } }), name, h('span', { className: 'count' }, String(count))))),
    trace.warnings.length
      ? h('details', { className: 'trace-warnings' }, h('summary', {}, `${trace.warnings.length} warning${trace.warnings.length > 1 ? 's' : ''}`),
        h('ul', {}, trace.warnings.slice(0, 200).map((w) => h('li', {}, w))))
      : null);
}
