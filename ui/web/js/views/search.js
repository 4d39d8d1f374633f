/**
 * The search page (`/search?service=…`): the form beside the results
 * (scatter plot and sortable list). A search runs when the URL holds one
 * (`service`, `lookback`, `start`, `tags`, `operation` or `traceID`), so
 * links and reloads show the same results.
 * In: the route and the container. Out: the rendered page.
 */
import { h, fill, notice } from '../core/dom.js';
import * as api from '../core/api.js';
import { href, navigate } from '../core/route.js';
import { searchForm } from '../search/form.js';
import { scatter } from '../search/scatter.js';
import { resultsTable } from '../search/results.js';
import { summarize } from '../search/summary.js';

const UNITS = /** @type {Record<string, number>} */ ({ m: 60e6, h: 3600e6, d: 86400e6, s: 1e6 });

/**
 * The `/api/traces` parameters of a search URL.
 * @param {URLSearchParams} params
 */
export function apiQuery(params) {
  const ids = params.getAll('traceID');
  if (ids.length) return { traceID: ids };
  const now = Date.now() * 1000;
  let start = Number(params.get('start')) || 0;
  let end = Number(params.get('end')) || 0;
  const lookback = /^(\d+)([smhd])$/.exec(params.get('lookback') || '');
  if (lookback && params.get('lookback') !== 'custom') {
    end = now;
    start = now - Number(lookback[1]) * UNITS[lookback[2]];
  }
  if (!end) end = now;
  if (!start) start = end - 3600e6;
  return {
    service: params.get('service') || undefined,
    operation: params.get('operation') || undefined,
    tags: params.get('tags') || undefined,
    minDuration: params.get('minDuration') || undefined,
    maxDuration: params.get('maxDuration') || undefined,
    limit: params.get('limit') || '20',
    start: Math.floor(start),
    end: Math.ceil(end),
  };
}

/** @param {URLSearchParams} params */
function hasSearch(params) {
  return ['service', 'lookback', 'start', 'tags', 'operation', 'traceID', 'minDuration'].some((k) => params.has(k));
}

/**
 * @param {HTMLElement} root
 * @param {import('../core/route.js').Route} route
 */
export async function searchView(root, route) {
  const results = h('div', { className: 'search-results', 'aria-live': 'polite' });
  const side = h('div', { className: 'search-side' }, notice('loading', 'Loading services…'));
  fill(root, h('section', { className: 'search-view' }, side, results));
  let list = [];
  try {
    list = await api.services();
    fill(side, h('h1', { className: 'side-title' }, 'Search'), searchForm(route.params, list));
  } catch (e) {
    fill(side, notice('error', 'Cannot list services', /** @type {Error} */ (e).message));
  }
  if (!hasSearch(route.params)) {
    fill(results, list.length
      ? notice('empty', 'Find traces', `Pick a service (or search all ${list.length} services) and press "Find traces". Trace ids can be opened from the box at the top.`)
      : notice('empty', 'No services yet', 'Spoor has not received any spans. Send traces over OTLP, Jaeger or Zipkin and they show up here.'));
    root.dataset.ready = 'search';
    return;
  }
  fill(results, notice('loading', 'Searching…'));
  try {
    const body = await api.get('api/traces', apiQuery(route.params));
    const rows = (body.data || []).map(summarize);
    if (!rows.length) {
      fill(results, notice('empty', 'No traces found', 'Nothing matches in this time range. Try a longer lookback, fewer tags or another service.'));
    } else {
      const open = (/** @type {string} */ id) => navigate(href(`/trace/${id}`));
      fill(results, h('div', { className: 'card' }, scatter(rows, open)), resultsTable(rows, route.params));
    }
  } catch (e) {
    fill(results, notice('error', 'The search failed', /** @type {Error} */ (e).message));
  }
  root.dataset.ready = 'search';
}
