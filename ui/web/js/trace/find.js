/**
 * Find in trace: which spans match a search text.
 * In: a `TraceModel` and the text (several words must all match; each word
 * is matched case-insensitively against span id, service, operation, and
 * tag, process tag and log field keys and values; `key=value` matches a tag
 * exactly). Out: the matching spans in display order.
 */

/** @param {import('./model.js').Tag[]} tags */
function tagText(tags) {
  return tags.map((t) => `${t.key}=${t.value}`).join('\n').toLowerCase();
}

/**
 * @param {import('./model.js').Span} span
 * @param {string[]} words lower-case
 */
function matches(span, words) {
  const text = [
    span.id, span.service, span.operation, tagText(span.tags), tagText(span.process.tags),
    ...span.logs.map((l) => tagText(l.fields)),
  ].join('\n').toLowerCase();
  return words.every((w) => {
    if (w.includes('=')) return text.split('\n').some((line) => line === w);
    return text.includes(w);
  });
}

/**
 * @param {import('./model.js').TraceModel} trace
 * @param {string} query
 * @returns {import('./model.js').Span[]}
 */
export function findSpans(trace, query) {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  if (!words.length) return [];
  return trace.spans.filter((span) => matches(span, words));
}
