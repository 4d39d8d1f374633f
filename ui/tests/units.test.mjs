/**
 * Unit tests of the UI's pure modules (no DOM): the span tree, critical
 * path, find, graph layout and focus, logfmt tags, formatting and routes'
 * search parameters. Run by node directly from `web/js`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildTrace } from '../web/js/trace/model.js';
import { criticalPath } from '../web/js/trace/critical.js';
import { findSpans } from '../web/js/trace/find.js';
import { layout } from '../web/js/graph/layout.js';
import { focusLinks } from '../web/js/graph/focus.js';
import { parseLogfmt, toLogfmt, tagsFromUrl } from '../web/js/search/logfmt.js';
import { duration, parseDuration } from '../web/js/core/format.js';

/** A Jaeger UI-model span. */
function span(id, parent, start, dur, service = 'p1', tags = []) {
  return { traceID: 't', spanID: id, operationName: `op-${id}`, startTime: start, duration: dur, tags, logs: [],
    processID: service, warnings: null, references: parent ? [{ refType: 'CHILD_OF', traceID: 't', spanID: parent }] : [] };
}
const processes = { p1: { serviceName: 'front', tags: [] }, p2: { serviceName: 'back', tags: [{ key: 'host', value: 'h1' }] } };

test('the span tree orders children by start and survives missing parents and cycles', () => {
  const trace = buildTrace({ traceID: 't', processes, warnings: null, spans: [
    span('c', 'a', 30, 10, 'p2'), span('a', null, 0, 100), span('b', 'a', 10, 10, 'p2', [{ key: 'error', value: true }]),
    span('orphan', 'gone', 50, 5), span('x', 'y', 1, 1), span('y', 'x', 2, 1),
  ] });
  assert.deepEqual(trace.spans.map((s) => s.id), ['a', 'b', 'c', 'orphan', 'x', 'y']);
  assert.deepEqual(trace.spans.map((s) => s.depth), [0, 1, 1, 0, 0, 0]);
  assert.equal(trace.errors, 1);
  assert.equal(trace.depth, 2);
  assert.equal(trace.duration, 100);
  assert.deepEqual([...trace.services], [['front', 4], ['back', 2]]);
});

test('a 10k-deep chain builds without recursion', () => {
  const spans = [];
  for (let i = 0; i < 10_000; i++) spans.push(span(String(i), i ? String(i - 1) : null, i, 10_000 - i));
  const trace = buildTrace({ traceID: 't', processes, warnings: null, spans });
  assert.equal(trace.depth, 10_000);
  assert.equal(criticalPath(trace).size, 10_000);
});

test('the critical path follows the last-finishing children', () => {
  // a: 0..100; b: 10..40; c: 30..90 (overlaps b, ends last); d: 0..5 before b.
  const trace = buildTrace({ traceID: 't', processes, warnings: null, spans: [
    span('a', null, 0, 100), span('b', 'a', 10, 30), span('c', 'a', 30, 60), span('d', 'a', 0, 5),
  ] });
  const path = criticalPath(trace);
  assert.deepEqual(path.get('c'), [[30, 90]]);
  assert.deepEqual(path.get('d'), [[0, 5]]);
  assert.equal(path.get('b'), undefined, 'b overlaps c, which finished later');
  assert.deepEqual(path.get('a'), [[90, 100], [5, 30]]);
});

test('find matches words and exact key=value', () => {
  const trace = buildTrace({ traceID: 't', processes, warnings: null, spans: [
    span('a', null, 0, 100, 'p1', [{ key: 'http.status_code', value: 500 }]), span('b', 'a', 1, 1, 'p2'),
  ] });
  assert.deepEqual(findSpans(trace, 'back').map((s) => s.id), ['b']);
  assert.deepEqual(findSpans(trace, 'http.status_code=500').map((s) => s.id), ['a']);
  assert.deepEqual(findSpans(trace, 'http.status_code=50').map((s) => s.id), []);
  assert.deepEqual(findSpans(trace, 'host=h1 op-b').map((s) => s.id), ['b']);
  assert.deepEqual(findSpans(trace, '  '), []);
});

test('the graph layout layers callers before callees, even with cycles', () => {
  const edges = [{ parent: 'web', child: 'api' }, { parent: 'api', child: 'db' }, { parent: 'db', child: 'api' }, { parent: 'web', child: 'web' }];
  const { nodes } = layout(['api', 'db', 'web'], edges);
  assert.equal(nodes.get('web')?.layer, 0);
  assert.equal(nodes.get('api')?.layer, 1);
  assert.equal(nodes.get('db')?.layer, 2);
  const focused = focusLinks([{ parent: 'a', child: 'b' }, { parent: 'b', child: 'c' }, { parent: 'x', child: 'c' }, { parent: 'q', child: 'r' }], 'b');
  assert.deepEqual(focused.map((l) => `${l.parent}>${l.child}`), ['a>b', 'b>c']);
});

test('logfmt tags round-trip and bad tokens are named', () => {
  assert.deepEqual(parseLogfmt('error=true msg="a b" x='), { error: 'true', msg: 'a b', x: '' });
  assert.equal(toLogfmt({ error: 'true', msg: 'a b' }), 'error=true msg="a b"');
  assert.throws(() => parseLogfmt('error=true oops'), /tag "oops" needs the form key=value/);
  assert.deepEqual(tagsFromUrl('{"error":true}'), { error: 'true' });
  assert.deepEqual(tagsFromUrl('a=1'), { a: '1' });
});

test('durations format and parse', () => {
  assert.equal(duration(830), '830µs');
  assert.equal(duration(1250), '1.25ms');
  assert.equal(duration(1_500_000), '1.5s');
  assert.equal(duration(61e6), '1m 1s');
  assert.equal(parseDuration('1.5s'), 1.5e6);
  assert.equal(parseDuration('100us'), 100);
  assert.equal(parseDuration('fast'), null);
});
