/**
 * Test traffic for the browser tests: realistic OTLP/JSON traces (several
 * services, client/server pairs, an error with an exception event, a span
 * link, scope and resource attributes) and a 10k-span trace, posted to
 * Spoor's OTLP/HTTP receiver. In: the receiver URL and a clock. Out: the
 * trace ids sent.
 */
import { randomBytes } from 'node:crypto';

const hex = (/** @type {number} */ n) => randomBytes(n).toString('hex');
const str = (/** @type {string} */ key, /** @type {string} */ value) => ({ key, value: { stringValue: value } });
const int = (/** @type {string} */ key, /** @type {number} */ value) => ({ key, value: { intValue: String(value) } });

/**
 * Times are µs since the epoch.
 * @typedef {{service: string, name: string, kind: number, start: number, duration: number,
 *   error?: boolean, attrs?: object[], events?: object[], links?: object[], children?: Node[]}} Node
 */

/**
 * Flattens a span tree into OTLP resourceSpans grouped by service.
 * @param {string} traceId
 * @param {Node} root
 */
export function otlp(traceId, root) {
  /** @type {Map<string, object[]>} */
  const byService = new Map();
  const walk = (/** @type {Node} */ node, /** @type {string | undefined} */ parent) => {
    const spanId = hex(8);
    const span = {
      traceId, spanId, parentSpanId: parent, name: node.name, kind: node.kind,
      startTimeUnixNano: String(BigInt(Math.round(node.start)) * 1000n),
      endTimeUnixNano: String(BigInt(Math.round(node.start + node.duration)) * 1000n),
      attributes: node.attrs || [], events: node.events || [], links: node.links || [],
      status: node.error ? { code: 2, message: 'payment declined' } : { code: 1 },
    };
    if (!byService.has(node.service)) byService.set(node.service, []);
    /** @type {object[]} */ (byService.get(node.service)).push(span);
    for (const child of node.children || []) walk(child, spanId);
  };
  walk(root, undefined);
  return {
    resourceSpans: [...byService.entries()].map(([service, spans]) => ({
      resource: { attributes: [str('service.name', service), str('host.name', `${service}-1`), str('k8s.namespace.name', 'shop')] },
      scopeSpans: [{ scope: { name: 'spoor-ui-tests', version: '1.0.0' }, spans }],
    })),
  };
}

/**
 * A checkout trace starting at `start` (ms); `fail` makes the payment fail.
 * @param {number} start ms since epoch
 * @param {number} scale stretches the durations
 * @param {boolean} fail
 * @param {string} [linkTo] a trace id to link the payment span to
 */
export function checkout(start, scale, fail, linkTo) {
  const t = start * 1000;
  const d = (/** @type {number} */ us) => us * scale;
  return /** @type {Node} */ ({
    service: 'frontend', name: 'GET /checkout', kind: 2, start: t, duration: d(90_000),
    attrs: [str('http.method', 'GET'), int('http.status_code', fail ? 500 : 200), str('http.route', '/checkout')],
    error: fail,
    children: [
      { service: 'frontend', name: 'POST /orders', kind: 3, start: t + d(2_000), duration: d(50_000), attrs: [str('peer.service', 'orders')],
        children: [{ service: 'orders', name: 'POST /orders', kind: 2, start: t + d(3_000), duration: d(47_000),
          children: [
            { service: 'orders', name: 'SELECT orders', kind: 3, start: t + d(5_000), duration: d(12_000),
              attrs: [str('db.system', 'postgresql'), str('db.statement', 'SELECT * FROM orders WHERE id = $1'), str('peer.service', 'postgres')] },
            { service: 'orders', name: 'reserve stock', kind: 3, start: t + d(18_000), duration: d(26_000),
              children: [{ service: 'stock', name: 'reserve', kind: 2, start: t + d(19_000), duration: d(24_000),
                events: [{ timeUnixNano: String(BigInt(Math.round(t + d(20_000))) * 1000n), name: 'cache miss', attributes: [str('cache.key', 'sku-42')] }] }] },
          ] }] },
      { service: 'frontend', name: 'POST /pay', kind: 3, start: t + d(55_000), duration: d(30_000), error: fail,
        children: [{ service: 'payments', name: 'charge', kind: 2, start: t + d(56_000), duration: d(28_000), error: fail,
          attrs: [str('payment.provider', 'acme'), int('amount.cents', 4200)],
          links: linkTo ? [{ traceId: linkTo, spanId: hex(8) }] : [],
          events: fail ? [{ timeUnixNano: String(BigInt(Math.round(t + d(80_000))) * 1000n), name: 'exception',
            attributes: [str('exception.type', 'DeclinedError'), str('exception.message', 'card declined')] }] : [] }] },
    ],
  });
}

/**
 * A trace of `count` spans: a root with chains and fan-out across 12 services.
 * @param {number} start ms
 * @param {number} count
 */
export function bigTrace(start, count) {
  const t = start * 1000;
  /** @type {Node} */
  const root = { service: 'gateway', name: 'GET /batch', kind: 2, start: t, duration: 5_000_000, children: [] };
  /** @type {Node[]} */
  const all = [root];
  for (let i = 1; i < count; i++) {
    const parent = all[Math.floor(Math.sqrt(i) * 3) % all.length];
    const offset = parent.start + ((i * 7919) % 1000) / 1000 * parent.duration * 0.5;
    const node = { service: `svc-${i % 12}`, name: `op-${i % 40}`, kind: i % 2 ? 3 : 2, start: offset,
      duration: Math.max(10, (parent.start + parent.duration - offset) * 0.6), error: i % 997 === 0,
      attrs: [int('item', i)], children: [] };
    /** @type {Node[]} */ (parent.children).push(node);
    all.push(node);
  }
  return root;
}

/**
 * Posts one trace over OTLP/HTTP JSON; throws unless Spoor accepted it.
 * @param {string} url the receiver's `/v1/traces`
 * @param {string} traceId
 * @param {Node} root
 */
export async function send(url, traceId, root) {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(otlp(traceId, root)) });
  if (!response.ok) throw new Error(`OTLP export refused: ${response.status} ${await response.text()}`);
}

/**
 * Sends the shop traffic: `n` checkouts over the last minutes, every third
 * failing, the last one linking to the first. Returns their ids, oldest first.
 * @param {string} url
 * @param {number} n
 */
export async function sendShop(url, n) {
  const ids = [];
  const now = Date.now();
  for (let i = 0; i < n; i++) {
    const id = hex(16);
    await send(url, id, checkout(now - (n - i) * 20_000, 1 + (i % 4) * 0.7, i % 3 === 2, i === n - 1 ? ids[0] : undefined));
    ids.push(id);
  }
  return ids;
}

export { hex };
