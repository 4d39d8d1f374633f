/**
 * The search form: service, span kind, operation, tags (logfmt), lookback
 * or a custom range, min/max duration and limit. Every field is read from
 * and written to the URL (Jaeger UI's parameter names), so a search is a
 * link. In: the URL parameters and the service list. Out: a form element
 * whose submit navigates to `/search?…`.
 */
import { h } from '../core/dom.js';
import * as api from '../core/api.js';
import { href, navigate } from '../core/route.js';
import { parseDuration } from '../core/format.js';
import { parseLogfmt, toLogfmt, tagsFromUrl } from './logfmt.js';

export const LOOKBACKS = [['5m', '5 minutes'], ['15m', '15 minutes'], ['30m', '30 minutes'], ['1h', '1 hour'],
  ['2h', '2 hours'], ['6h', '6 hours'], ['12h', '12 hours'], ['24h', '24 hours'], ['2d', '2 days'],
  ['7d', '7 days'], ['custom', 'Custom range']];
const KINDS = [['', 'any kind'], ['server', 'server'], ['client', 'client'], ['producer', 'producer'],
  ['consumer', 'consumer'], ['internal', 'internal']];

/** µs → value of a datetime-local input. @param {number} us */
function localInput(us) {
  const d = new Date(us / 1000 - new Date().getTimezoneOffset() * 60_000);
  return d.toISOString().slice(0, 16);
}

/** @param {string} name @param {string} label @param {Node} control @param {string} [hint] */
function field(name, label, control, hint) {
  return h('label', { className: 'field', for: name }, h('span', { className: 'field-label' }, label), control,
    hint ? h('span', { className: 'field-hint' }, hint) : null);
}

/** @param {[string, string][]} options @param {string} value */
function options(options, value) {
  return options.map(([v, label]) => h('option', { value: v, selected: v === value }, label));
}

/**
 * @param {URLSearchParams} params
 * @param {string[]} services
 */
export function searchForm(params, services) {
  const service = h('select', { id: 'sf-service', name: 'service' },
    h('option', { value: '' }, 'All services'), options(services.map((s) => [s, s]), params.get('service') || ''));
  const kind = h('select', { id: 'sf-kind', name: 'spanKind' }, options(/** @type {[string,string][]} */ (KINDS), params.get('spanKind') || ''));
  const operation = h('select', { id: 'sf-operation', name: 'operation' }, h('option', { value: '' }, 'All operations'));
  const loadOperations = async () => {
    const wanted = params.get('operation') || '';
    operation.replaceChildren(h('option', { value: '' }, 'All operations'));
    if (!service.value) return;
    try {
      const names = await api.operations(service.value, kind.value || undefined);
      if (wanted && !names.includes(wanted)) names.unshift(wanted);
      operation.append(...options(names.map((n) => [n, n]), wanted));
    } catch (e) {
      operation.append(h('option', { value: '', disabled: true }, `cannot list operations: ${/** @type {Error} */ (e).message}`));
    }
  };
  service.addEventListener('change', () => { params.delete('operation'); loadOperations(); });
  kind.addEventListener('change', () => loadOperations());
  loadOperations();
  let tagsText = '';
  try { tagsText = toLogfmt(tagsFromUrl(params.get('tags'))); } catch { tagsText = params.get('tags') || ''; }
  const tags = h('input', { id: 'sf-tags', name: 'tags', value: tagsText, placeholder: 'error=true http.status_code=500', autocomplete: 'off' });
  const lookback = h('select', { id: 'sf-lookback', name: 'lookback' }, options(/** @type {[string,string][]} */ (LOOKBACKS), params.get('lookback') || (params.get('start') ? 'custom' : '1h')));
  const now = Date.now() * 1000;
  const start = h('input', { id: 'sf-start', type: 'datetime-local', value: localInput(Number(params.get('start')) || now - 3600e6) });
  const end = h('input', { id: 'sf-end', type: 'datetime-local', value: localInput(Number(params.get('end')) || now) });
  const custom = h('div', { className: 'custom-range', hidden: lookback.value !== 'custom' },
    field('sf-start', 'From', start), field('sf-end', 'To', end));
  lookback.addEventListener('change', () => { custom.hidden = lookback.value !== 'custom'; });
  const minDuration = h('input', { id: 'sf-min', name: 'minDuration', value: params.get('minDuration') || '', placeholder: 'e.g. 100ms', size: 8 });
  const maxDuration = h('input', { id: 'sf-max', name: 'maxDuration', value: params.get('maxDuration') || '', placeholder: 'e.g. 2s', size: 8 });
  const limit = h('input', { id: 'sf-limit', name: 'limit', type: 'number', min: 1, max: 10000, value: params.get('limit') || '20' });
  const problem = h('p', { className: 'form-error', role: 'alert', hidden: true });
  const submit = (/** @type {Event} */ e) => {
    e.preventDefault();
    const errors = [];
    /** @type {Record<string, string>} */
    const q = {};
    if (service.value) q.service = service.value;
    if (kind.value) q.spanKind = kind.value;
    if (operation.value) q.operation = operation.value;
    try {
      const parsed = parseLogfmt(tags.value);
      if (Object.keys(parsed).length) q.tags = JSON.stringify(parsed);
    } catch (err) { errors.push(/** @type {Error} */ (err).message); }
    q.lookback = lookback.value;
    if (lookback.value === 'custom') {
      const a = Date.parse(start.value);
      const b = Date.parse(end.value);
      if (Number.isNaN(a) || Number.isNaN(b) || a >= b) errors.push('the custom range needs a start before its end');
      q.start = String(a * 1000);
      q.end = String(b * 1000);
    }
    for (const [input, name] of /** @type {[HTMLInputElement, string][]} */ ([[minDuration, 'min duration'], [maxDuration, 'max duration']])) {
      if (input.value && parseDuration(input.value) === null) errors.push(`${name} "${input.value}" is not a duration like 250ms, 1.5s or 2m`);
      if (input.value) q[input.name] = input.value.trim();
    }
    q.limit = limit.value || '20';
    problem.hidden = !errors.length;
    problem.textContent = errors.join('; ');
    if (!errors.length) navigate(href('/search', q));
  };
  return h('form', { className: 'search-form', onsubmit: submit, 'aria-label': 'Search traces' },
    field('sf-service', 'Service', service),
    field('sf-kind', 'Span kind', kind),
    field('sf-operation', 'Operation', operation),
    field('sf-tags', 'Tags', tags, 'logfmt: key=value, space separated'),
    field('sf-lookback', 'Lookback', lookback),
    custom,
    h('div', { className: 'field-pair' }, field('sf-min', 'Min duration', minDuration), field('sf-max', 'Max duration', maxDuration)),
    field('sf-limit', 'Limit results', limit),
    problem,
    h('button', { type: 'submit', className: 'button primary', id: 'sf-submit' }, 'Find traces'));
}
