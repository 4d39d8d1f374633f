/**
 * Jaeger UI's URL scheme under Spoor's base path.
 * In: `location` and the base path the server put in
 * `<meta name="spoor-base">`. Out: the route (`search`, `trace`, `compare`,
 * `dependencies`, `monitor`, `notfound`) with its parameters, links built
 * under the base path, and in-app navigation (history API, no reloads).
 */

/** @typedef {{view: 'search' | 'trace' | 'compare' | 'dependencies' | 'monitor' | 'notfound', params: URLSearchParams, id?: string, ids?: string[], path: string}} Route */

/** The base path without a trailing slash ("" at the root). */
export function basePath() {
  const meta = /** @type {HTMLMetaElement | null} */ (document.querySelector('meta[name="spoor-base"]'));
  return (meta?.content || '').replace(/\/+$/, '');
}

/**
 * Parses a path and query string into a route.
 * @param {string} pathname
 * @param {string} search
 * @returns {Route}
 */
export function parseRoute(pathname, search) {
  const base = basePath();
  let path = pathname.startsWith(base) ? pathname.slice(base.length) : pathname;
  path = path.replace(/\/+$/, '') || '/';
  const params = new URLSearchParams(search);
  if (path === '/' || path === '/search') return { view: 'search', params, path };
  if (path === '/dependencies') return { view: 'dependencies', params, path };
  if (path === '/monitor') return { view: 'monitor', params, path };
  if (path === '/trace') return { view: 'compare', params, path, ids: [] };
  const trace = /^\/trace\/([^/]+)$/.exec(path);
  if (trace) {
    const id = decodeURIComponent(trace[1]);
    if (id.includes('...')) {
      const ids = id.split('...').filter(Boolean);
      return { view: 'compare', params, path, ids };
    }
    return { view: 'trace', params, path, id };
  }
  return { view: 'notfound', params, path };
}

/**
 * A link under the base path.
 * @param {string} path starting with `/`
 * @param {Record<string, string | number | string[] | undefined | null> | URLSearchParams} [params]
 */
export function href(path, params) {
  let query = '';
  if (params instanceof URLSearchParams) {
    query = params.toString();
  } else if (params) {
    const q = new URLSearchParams();
    for (const [key, value] of Object.entries(params)) {
      if (value === undefined || value === null || value === '') continue;
      for (const one of Array.isArray(value) ? value : [value]) q.append(key, String(one));
    }
    query = q.toString();
  }
  return `${basePath()}${path}${query ? `?${query}` : ''}`;
}

/**
 * Moves to `url` inside the app; `replace` rewrites the current entry.
 * @param {string} url
 * @param {boolean} [replace]
 */
export function navigate(url, replace = false) {
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  window.dispatchEvent(new Event('spoor:navigate'));
}

/** Whether `text` is a trace id (1 to 32 hex digits). @param {string} text */
export function isTraceId(text) {
  return /^[0-9a-fA-F]{1,32}$/.test(text);
}
