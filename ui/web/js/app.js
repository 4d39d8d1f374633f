/**
 * The app shell: header (navigation, trace id lookup, theme), the router
 * that picks a view for the URL, and in-app link handling.
 * In: the page's URL. Out: the rendered view in `<main>`; the view's element gets
 * `data-ready=<view>` once it has finished loading (the browser tests wait
 * for it). `?uiEmbed=v0` (Kiali's embedding) hides the header.
 */
import { h, fill, notice } from './core/dom.js';
import { parseRoute, href, navigate, isTraceId, basePath } from './core/route.js';
import { initTheme, themeToggle } from './core/theme.js';
import { searchView } from './views/search.js';
import { traceView } from './views/trace.js';
import { compareView } from './views/compare.js';
import { dependenciesView } from './views/dependencies.js';
import { monitorView } from './views/monitor.js';

const VIEWS = { search: searchView, trace: traceView, compare: compareView, dependencies: dependenciesView, monitor: monitorView };
const TITLES = { search: 'Search', trace: 'Trace', compare: 'Compare', dependencies: 'Service map', monitor: 'Monitor', notfound: 'Not found' };

/** The trace id lookup box: one id opens the trace, two compare them. */
function lookup() {
  const input = h('input', { type: 'search', placeholder: 'Trace ID…', 'aria-label': 'Look up a trace by id (two ids to compare)', className: 'mono', id: 'lookup' });
  const problem = h('span', { className: 'lookup-error', role: 'alert' });
  const submit = (/** @type {Event} */ e) => {
    e.preventDefault();
    const ids = input.value.trim().split(/[\s,]+|\.\.\./).filter(Boolean);
    const bad = ids.find((id) => !isTraceId(id));
    if (!ids.length || bad || ids.length > 2) {
      problem.textContent = bad ? `"${bad}" is not a trace id (1–32 hex digits)` : 'enter one trace id, or two to compare';
      return;
    }
    problem.textContent = '';
    input.value = '';
    navigate(href(`/trace/${ids.join('...')}`));
  };
  return h('form', { className: 'lookup', onsubmit: submit, role: 'search' }, input, problem);
}

const nav = h('nav', { className: 'nav', 'aria-label': 'Pages' },
  h('a', { href: href('/search'), 'data-nav': '', 'data-view': 'search' }, 'Search'),
  h('a', { href: href('/trace'), 'data-nav': '', 'data-view': 'compare' }, 'Compare'),
  h('a', { href: href('/dependencies'), 'data-nav': '', 'data-view': 'dependencies' }, 'Service map'),
  h('a', { href: href('/monitor'), 'data-nav': '', 'data-view': 'monitor' }, 'Monitor'));
const header = h('header', { className: 'top' },
  h('a', { className: 'brand', href: href('/search'), 'data-nav': '' }, h('span', { className: 'brand-mark' }, '◆'), 'Spoor'),
  nav, h('span', { className: 'spacer' }), lookup(), themeToggle());
const main = h('main', { id: 'main', tabindex: -1 });

let generation = 0;

async function render() {
  const route = parseRoute(location.pathname, location.search);
  const embedded = route.params.get('uiEmbed') === 'v0';
  header.hidden = embedded;
  document.title = `${TITLES[route.view]} · Spoor`;
  for (const a of nav.querySelectorAll('a')) {
    const view = a.getAttribute('data-view');
    if (view === route.view || (view === 'search' && route.view === 'trace')) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const mine = ++generation;
  const target = h('div', { className: 'view' });
  fill(main, target);
  if (route.view === 'notfound') {
    fill(target, notice('empty', 'No such page', `${route.path} is not a page of Spoor's UI. Try Search, Service map or Monitor.`));
    target.dataset.ready = 'notfound';
    return;
  }
  try {
    await VIEWS[route.view](target, route);
  } catch (e) {
    if (mine === generation) fill(target, notice('error', 'Something went wrong', String(/** @type {Error} */ (e).stack || e)));
  }
}

document.addEventListener('click', (e) => {
  const a = /** @type {HTMLElement} */ (e.target).closest('a');
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || !url.pathname.startsWith(`${basePath()}/`) || a.hasAttribute('download')) return;
  if (url.pathname.startsWith(`${basePath()}/api/`)) return;
  e.preventDefault();
  navigate(url.pathname + url.search);
  main.focus({ preventScroll: true });
});
window.addEventListener('popstate', render);
window.addEventListener('spoor:navigate', () => { window.scrollTo(0, 0); render(); });

initTheme();
document.body.append(h('a', { className: 'skip', href: '#main' }, 'Skip to content'), header, main);
render();
