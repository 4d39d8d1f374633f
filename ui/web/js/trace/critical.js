/**
 * The critical path of a trace: the chain of work that determined its end.
 * In: a `TraceModel`. Out: a map from span id to the time segments
 * `[start, end]` (µs) of that span on the critical path. Walking back from a
 * span's end, the child that finished last before the cursor is on the path;
 * the parent owns the gaps between such children; a child overlapping the
 * one after it is skipped. Iterative, so very deep
 * traces do not overflow the stack.
 */

/**
 * @param {import('./model.js').TraceModel} trace
 * @returns {Map<string, [number, number][]>}
 */
export function criticalPath(trace) {
  /** @type {Map<string, [number, number][]>} */
  const segments = new Map();
  const add = (/** @type {string} */ id, /** @type {number} */ a, /** @type {number} */ b) => {
    if (b <= a) return;
    let list = segments.get(id);
    if (!list) segments.set(id, (list = []));
    list.push([a, b]);
  };
  const root = trace.roots.reduce((best, r) => (!best || r.end > best.end ? r : best), /** @type {any} */ (null));
  if (!root) return segments;
  /** @type {[import('./model.js').Span, number][]} */
  const stack = [[root, root.end]];
  while (stack.length) {
    const [span, until] = /** @type {[import('./model.js').Span, number]} */ (stack.pop());
    let cursor = Math.min(until, span.end);
    const children = span.children
      .filter((c) => c.start < cursor && c.end > span.start)
      .sort((a, b) => b.end - a.end);
    let first = true;
    for (const child of children) {
      // After the first pick, a child still running at the cursor overlaps
      // a later one and is not what the parent waited for (Jaeger's rule);
      // the first may overflow its parent's end and is cut there.
      if (child.start >= cursor || (!first && child.end > cursor)) continue;
      first = false;
      const childEnd = Math.min(child.end, cursor);
      add(span.id, childEnd, cursor);
      stack.push([child, childEnd]);
      cursor = Math.max(child.start, span.start);
      if (cursor <= span.start) break;
    }
    add(span.id, span.start, cursor);
  }
  return segments;
}
