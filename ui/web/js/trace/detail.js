/**
 * Span detail: everything known about one span, in sections — summary,
 * attributes, resource (process tags), scope, events (logs, with their time
 * in the trace), links/references and warnings.
 * In: a `Span`, its `TraceModel`, and `onJump(span)` for references within
 * the trace. Out: a DOM element.
 */
import { h } from '../core/dom.js';
import { serviceColor } from '../core/colors.js';
import { duration, dateTime } from '../core/format.js';
import { href } from '../core/route.js';

const SCOPE_KEYS = ['otel.scope.name', 'otel.scope.version', 'otel.library.name', 'otel.library.version'];

/** @param {any} value */
function show(value) {
  if (typeof value === 'string') {
    if ((value.startsWith('{') || value.startsWith('[')) && value.length > 2) {
      try {
        return h('pre', { className: 'kv-json' }, JSON.stringify(JSON.parse(value), null, 2));
      } catch {
        /* plain string */
      }
    }
    return value;
  }
  return JSON.stringify(value);
}

/** @param {import('./model.js').Tag[]} tags */
function table(tags) {
  if (!tags.length) return h('p', { className: 'muted' }, 'None.');
  return h('table', { className: 'kv' }, h('tbody', {}, tags.map((t) =>
    h('tr', {}, h('th', { scope: 'row' }, t.key), h('td', { className: `kv-${t.type || 'string'}` }, show(t.value))))));
}

/** @param {string} title @param {number | null} count @param {Node} body @param {boolean} [open] */
function section(title, count, body, open = true) {
  return h('details', { className: 'detail-section', open },
    h('summary', {}, title, count === null ? null : h('span', { className: 'count' }, String(count))), body);
}

/**
 * @param {import('./model.js').Span} span
 * @param {import('./model.js').TraceModel} trace
 * @param {(span: import('./model.js').Span) => void} onJump
 * @param {() => void} onClose
 */
export function spanDetail(span, trace, onJump, onClose) {
  const attributes = span.tags.filter((t) => !SCOPE_KEYS.includes(t.key));
  const scope = span.tags.filter((t) => SCOPE_KEYS.includes(t.key));
  const events = span.logs.map((log) => h('div', { className: 'event' },
    h('div', { className: 'event-time' }, `+${duration(log.timestamp - trace.start)}`,
      h('span', { className: 'muted' }, ` (${duration(log.timestamp - span.start)} into the span)`)),
    table(log.fields)));
  const refs = span.refs.map((ref) => {
    const inTrace = trace.byId.get(ref.spanID);
    const label = `${ref.refType === 'FOLLOWS_FROM' ? 'follows from / link' : 'child of'}`;
    return h('li', {}, h('span', { className: 'ref-type' }, label), ' ',
      inTrace
        ? h('button', { type: 'button', className: 'link-button', onclick: () => onJump(inTrace) },
          `${inTrace.service}: ${inTrace.operation}`)
        : h('a', { href: href(`/trace/${ref.traceID}`), 'data-nav': '' }, `trace ${ref.traceID}`),
      h('code', { className: 'muted' }, ` span ${ref.spanID}`));
  });
  return h('aside', { className: 'detail', 'aria-label': 'Span detail' },
    h('header', { className: 'detail-head' },
      h('span', { className: 'wf-swatch', style: { background: serviceColor(span.service) } }),
      h('div', {},
        h('h2', {}, span.operation),
        h('div', { className: 'muted' }, span.service, span.kind ? ` · ${span.kind}` : '',
          span.error ? h('span', { className: 'badge badge-error' }, 'error') : null)),
      h('button', { type: 'button', className: 'icon-button', 'aria-label': 'Close span detail', onclick: onClose }, '×')),
    h('dl', { className: 'facts' },
      h('dt', {}, 'Duration'), h('dd', {}, duration(span.duration)),
      h('dt', {}, 'Start'), h('dd', {}, `+${duration(span.start - trace.start)}`, h('span', { className: 'muted' }, ` ${dateTime(span.start)}`)),
      h('dt', {}, 'Span ID'), h('dd', {}, h('code', {}, span.id)),
      h('dt', {}, 'Children'), h('dd', {}, String(span.children.length))),
    span.warnings.length ? section('Warnings', span.warnings.length,
      h('ul', { className: 'warnings' }, span.warnings.map((w) => h('li', {}, w)))) : null,
    section('Attributes', attributes.length, table(attributes)),
    section('Resource', span.process.tags.length, h('div', {},
      h('p', {}, h('strong', {}, 'service.name '), span.service), table(span.process.tags)), false),
    section('Scope', scope.length, table(scope), scope.length > 0),
    section('Events', span.logs.length, events.length ? h('div', {}, events) : h('p', { className: 'muted' }, 'None.'), events.length > 0),
    section('Links and references', span.refs.length,
      refs.length ? h('ul', { className: 'refs' }, refs) : h('p', { className: 'muted' }, 'None (a root span).'), refs.length > 0));
}
