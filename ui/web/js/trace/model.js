/**
 * A Jaeger UI-model trace turned into a span tree.
 * In: one trace of `/api/traces/{id}` (spans with `references`, `processes`).
 * Out: `TraceModel` — spans in depth-first order with parent, children,
 * depth, service, error flag and kind; the trace's start, end, services
 * (with span counts), depth, error count and every warning. A span whose
 * parent is missing becomes a root; reference cycles cannot loop.
 */

/**
 * @typedef {{key: string, type?: string, value: any}} Tag
 * @typedef {{timestamp: number, fields: Tag[]}} Log
 * @typedef {{refType: string, traceID: string, spanID: string}} Ref
 * @typedef {{serviceName: string, tags: Tag[]}} Process
 * @typedef {{traceID: string, spanID: string, operationName: string, references: Ref[], startTime: number,
 *   duration: number, tags: Tag[], logs: Log[], processID: string, warnings: string[] | null, flags?: number}} RawSpan
 * @typedef {{traceID: string, spans: RawSpan[], processes: Record<string, Process>, warnings: string[] | null}} RawTrace
 * @typedef {{id: string, operation: string, service: string, start: number, duration: number, end: number,
 *   depth: number, parent: Span | null, children: Span[], tags: Tag[], logs: Log[], process: Process,
 *   refs: Ref[], warnings: string[], error: boolean, kind: string, index: number, raw: RawSpan}} Span
 * @typedef {{id: string, spans: Span[], byId: Map<string, Span>, roots: Span[], start: number, end: number,
 *   duration: number, services: Map<string, number>, depth: number, errors: number, warnings: string[],
 *   raw: RawTrace}} TraceModel
 */

/** @param {Tag[]} tags @param {string} key */
export function tagValue(tags, key) {
  const tag = tags.find((t) => t.key === key);
  return tag ? tag.value : undefined;
}

/** Whether a span is marked as failed (`error=true` or OTel status ERROR). @param {Tag[]} tags */
export function isError(tags) {
  const error = tagValue(tags, 'error');
  return error === true || error === 'true' || tagValue(tags, 'otel.status_code') === 'ERROR';
}

/**
 * @param {RawTrace} raw
 * @returns {TraceModel}
 */
export function buildTrace(raw) {
  /** @type {Map<string, Span>} */
  const byId = new Map();
  const unknown = { serviceName: 'unknown', tags: [] };
  for (const s of raw.spans) {
    if (byId.has(s.spanID)) continue;
    const process = raw.processes?.[s.processID] || unknown;
    byId.set(s.spanID, {
      id: s.spanID, operation: s.operationName, service: process.serviceName,
      start: s.startTime, duration: s.duration, end: s.startTime + s.duration, depth: 0,
      parent: null, children: [], tags: s.tags || [], logs: s.logs || [], process,
      refs: s.references || [], warnings: s.warnings || [], error: isError(s.tags || []),
      kind: String(tagValue(s.tags || [], 'span.kind') || ''), index: 0, raw: s,
    });
  }
  /** @type {Span[]} */
  const roots = [];
  for (const span of byId.values()) {
    const ref = span.refs.find((r) => r.traceID === raw.traceID || r.refType === 'CHILD_OF') || span.refs[0];
    const parent = ref && ref.spanID !== span.id ? byId.get(ref.spanID) : undefined;
    if (parent) {
      span.parent = parent;
      parent.children.push(span);
    } else {
      roots.push(span);
    }
  }
  const byStart = (/** @type {Span} */ a, /** @type {Span} */ b) => a.start - b.start || a.end - b.end;
  roots.sort(byStart);
  /** @type {Span[]} */
  const spans = [];
  const seen = new Set();
  let depth = 0;
  // Iterative depth-first walk: 10k-deep chains must not overflow the stack.
  /** @type {[Span, number][]} */
  const stack = roots.slice().reverse().map((r) => /** @type {[Span, number]} */ ([r, 0]));
  while (stack.length) {
    const [span, d] = /** @type {[Span, number]} */ (stack.pop());
    if (seen.has(span)) continue;
    seen.add(span);
    span.depth = d;
    span.index = spans.length;
    depth = Math.max(depth, d + 1);
    spans.push(span);
    span.children.sort(byStart);
    for (let i = span.children.length - 1; i >= 0; i--) stack.push([span.children[i], d + 1]);
  }
  // Spans caught in a reference cycle were never reached from a root.
  for (const span of byId.values()) {
    if (!seen.has(span)) {
      if (span.parent) span.parent.children = span.parent.children.filter((c) => c !== span);
      span.parent = null;
      span.index = spans.length;
      roots.push(span);
      spans.push(span);
      seen.add(span);
    }
  }
  let start = Infinity;
  let end = -Infinity;
  let errors = 0;
  /** @type {Map<string, number>} */
  const services = new Map();
  const warnings = [...(raw.warnings || [])];
  for (const span of spans) {
    start = Math.min(start, span.start);
    end = Math.max(end, span.end);
    if (span.error) errors++;
    services.set(span.service, (services.get(span.service) || 0) + 1);
    for (const w of span.warnings) warnings.push(`${span.service} ${span.operation}: ${w}`);
  }
  if (!spans.length) start = end = 0;
  return {
    id: raw.traceID, spans, byId, roots, start, end, duration: end - start, services, depth, errors, warnings, raw,
  };
}

/**
 * The trace's name: its first root's service and operation.
 * @param {TraceModel} trace
 */
export function traceName(trace) {
  const root = trace.roots[0];
  return root ? `${root.service}: ${root.operation}` : '(empty trace)';
}
