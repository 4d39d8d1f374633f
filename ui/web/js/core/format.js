/**
 * Number, duration and time formatting shared by every view.
 * In: microseconds (Jaeger's unit), milliseconds, plain numbers. Out: short
 * human-readable strings ("1.25s", "830µs", "12:03:04.512", "3 min ago").
 */

/**
 * A duration in microseconds, with a unit that keeps 3 significant digits.
 * @param {number} us
 */
export function duration(us) {
  if (!Number.isFinite(us)) return '–';
  const abs = Math.abs(us);
  if (abs < 1) return '0µs';
  if (abs < 1000) return `${round(us)}µs`;
  if (abs < 1e6) return `${round(us / 1000)}ms`;
  if (abs < 60e6) return `${round(us / 1e6)}s`;
  if (abs < 3600e6) return `${Math.floor(us / 60e6)}m ${Math.round((us % 60e6) / 1e6)}s`;
  return `${Math.floor(us / 3600e6)}h ${Math.round((us % 3600e6) / 60e6)}m`;
}

/** @param {number} n */
function round(n) {
  if (Math.abs(n) >= 100) return String(Math.round(n));
  if (Math.abs(n) >= 10) return String(Math.round(n * 10) / 10);
  return String(Math.round(n * 100) / 100);
}

/** A number with at most 3 significant digits and k/M suffixes. @param {number} n */
export function number(n) {
  if (!Number.isFinite(n)) return '–';
  if (Math.abs(n) >= 1e6) return `${round(n / 1e6)}M`;
  if (Math.abs(n) >= 1e4) return `${round(n / 1e3)}k`;
  return round(n);
}

/** A fraction 0..1 as a percentage. @param {number} f */
export function percent(f) {
  if (!Number.isFinite(f)) return '–';
  return `${round(f * 100)}%`;
}

/** @param {number} n */
const pad = (n, w = 2) => String(n).padStart(w, '0');

/** Local wall-clock time of a µs timestamp, with milliseconds. @param {number} us */
export function clock(us) {
  const d = new Date(us / 1000);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** Local date and time of a µs timestamp. @param {number} us */
export function dateTime(us) {
  const d = new Date(us / 1000);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${clock(us)}`;
}

/** "3 min ago" for a µs timestamp. @param {number} us @param {number} [now] ms */
export function ago(us, now = Date.now()) {
  const s = Math.round((now - us / 1000) / 1000);
  if (s < 5) return 'just now';
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

/**
 * Parses "250ms", "1.5s", "2m", "100us"/"100µs" into microseconds; `null`
 * when the text is not such a duration.
 * @param {string} text
 */
export function parseDuration(text) {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(us|µs|ms|s|m|h)\s*$/.exec(text);
  if (!m) return null;
  const unit = { us: 1, µs: 1, ms: 1e3, s: 1e6, m: 60e6, h: 3600e6 }[/** @type {'us'} */ (m[2])];
  return Number(m[1]) * unit;
}
