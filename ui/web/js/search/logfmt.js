/**
 * Tags as Jaeger UI writes them: logfmt in the form (`error=true
 * http.status_code=500 msg="a b"`) and a JSON object in the URL and the API
 * (`tags={"error":"true"}`).
 * In: either text. Out: the other, or an error naming the bad token.
 */

/**
 * Parses logfmt into an object; throws on a token without `=`.
 * @param {string} text
 * @returns {Record<string, string>}
 */
export function parseLogfmt(text) {
  /** @type {Record<string, string>} */
  const out = {};
  const re = /\s*([^\s=]+)=("((?:[^"\\]|\\.)*)"|\S*)|\s*(\S+)/g;
  let m;
  while ((m = re.exec(text))) {
    if (m[4] !== undefined) throw new Error(`tag "${m[4]}" needs the form key=value`);
    out[m[1]] = m[3] !== undefined ? m[3].replace(/\\(.)/g, '$1') : m[2];
  }
  return out;
}

/** @param {Record<string, string>} tags */
export function toLogfmt(tags) {
  return Object.entries(tags)
    .map(([k, v]) => (/[\s"=]/.test(v) || v === '' ? `${k}="${v.replace(/["\\]/g, '\\$&')}"` : `${k}=${v}`))
    .join(' ');
}

/**
 * Reads the URL's `tags` parameter (JSON, or logfmt from older links).
 * @param {string | null} text
 * @returns {Record<string, string>}
 */
export function tagsFromUrl(text) {
  if (!text) return {};
  try {
    const value = JSON.parse(text);
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, String(v)]));
    }
  } catch {
    /* logfmt */
  }
  return parseLogfmt(text);
}
