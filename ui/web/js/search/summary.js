/**
 * Trace summaries for lists and comparisons.
 * In: raw traces of `/api/traces`. Out: per trace its id, name, start,
 * duration, span and error counts and services with span counts.
 */
import { buildTrace, traceName } from '../trace/model.js';

/**
 * @typedef {{id: string, name: string, start: number, duration: number, spans: number, errors: number,
 *   services: [string, number][], model: import('../trace/model.js').TraceModel}} Summary
 */

/** @param {import('../trace/model.js').RawTrace} raw @returns {Summary} */
export function summarize(raw) {
  const model = buildTrace(raw);
  return {
    id: model.id, name: traceName(model), start: model.start, duration: model.duration,
    spans: model.spans.length, errors: model.errors,
    services: [...model.services.entries()].sort((a, b) => b[1] - a[1]),
    model,
  };
}
