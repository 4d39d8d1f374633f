/**
 * The public query APIs the UI reads: Jaeger HTTP v1 (`/api/...`) and the
 * SPM API (`/api/metrics/...`), under the configured base path.
 * In: paths and query parameters. Out: parsed JSON bodies, or an
 * `ApiError` carrying the server's own message (Jaeger's `errors[].msg`,
 * api_v3's `error.message`, or the body text), never a silent failure.
 */
import { basePath } from './route.js';

export class ApiError extends Error {
  /** @param {string} message @param {number} status */
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

/**
 * Extracts the most useful message from an error body.
 * @param {string} text
 * @param {number} status
 */
export function errorMessage(text, status) {
  try {
    const body = JSON.parse(text);
    if (Array.isArray(body?.errors) && body.errors.length) {
      return body.errors.map((/** @type {any} */ e) => e.msg || String(e.code)).join('; ');
    }
    if (body?.error?.message) return body.error.message;
  } catch {
    /* not JSON: fall through to the text */
  }
  return text.trim() || `HTTP ${status}`;
}

/**
 * GETs `path` (relative to the base path, starting with `api/`) with `params`
 * (arrays become repeated keys; empty values are left out).
 * @param {string} path
 * @param {Record<string, string | number | boolean | (string|number)[] | undefined | null>} [params]
 * @param {AbortSignal} [signal]
 * @returns {Promise<any>}
 */
export async function get(path, params = {}, signal) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === '') continue;
    for (const one of Array.isArray(value) ? value : [value]) query.append(key, String(one));
  }
  const qs = query.toString();
  const url = `${basePath()}/${path}${qs ? `?${qs}` : ''}`;
  let response;
  try {
    response = await fetch(url, { signal, headers: { accept: 'application/json' } });
  } catch (e) {
    if (/** @type {Error} */ (e).name === 'AbortError') throw e;
    throw new ApiError(`cannot reach Spoor's query API: ${/** @type {Error} */ (e).message}`, 0);
  }
  const text = await response.text();
  if (!response.ok) throw new ApiError(errorMessage(text, response.status), response.status);
  try {
    return JSON.parse(text);
  } catch {
    throw new ApiError(`the query API answered ${url} with something that is not JSON`, response.status);
  }
}

/** @returns {Promise<string[]>} */
export async function services() {
  const body = await get('api/services');
  return (body.data || []).slice().sort();
}

/**
 * Operations of a service, optionally of one span kind.
 * @param {string} service
 * @param {string} [spanKind]
 * @returns {Promise<string[]>}
 */
export async function operations(service, spanKind) {
  const body = await get('api/operations', { service, spanKind });
  const names = (body.data || []).map((/** @type {{name: string}} */ o) => o.name);
  return [...new Set(/** @type {string[]} */ (names))].sort();
}

/**
 * One trace by id (adjusted, Jaeger UI model), and the raw response body.
 * @param {string} id
 */
export async function trace(id) {
  const body = await get(`api/traces/${encodeURIComponent(id)}`);
  const first = (body.data || [])[0];
  if (!first) throw new ApiError(`trace ${id} not found`, 404);
  return first;
}
