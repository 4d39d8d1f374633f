/**
 * Layered layout of a directed graph (the service map).
 * In: node names and edges `{parent, child}`. Out: node positions (layer
 * by longest path from the sources after cycles are broken, order inside a
 * layer by repeated barycenter sweeps) and the overall size. Pure function,
 * no DOM.
 */

/**
 * @typedef {{id: string, layer: number, order: number, x: number, y: number}} LayoutNode
 * @typedef {{parent: string, child: string}} Edge
 */

export const NODE_W = 170;
export const NODE_H = 36;
const COL_GAP = 110;
const ROW_GAP = 28;

/**
 * @param {string[]} ids
 * @param {Edge[]} edges
 * @returns {{nodes: Map<string, LayoutNode>, width: number, height: number}}
 */
export function layout(ids, edges) {
  /** @type {Map<string, string[]>} */
  const out = new Map(ids.map((id) => [id, []]));
  for (const e of edges) if (e.parent !== e.child) out.get(e.parent)?.push(e.child);
  // Break cycles: an edge to a node still on the DFS stack is ignored.
  const state = new Map();
  /** @type {Set<string>} */
  const back = new Set();
  for (const start of ids) {
    if (state.has(start)) continue;
    /** @type {[string, number][]} */
    const stack = [[start, 0]];
    state.set(start, 1);
    while (stack.length) {
      const top = stack[stack.length - 1];
      const next = (out.get(top[0]) || [])[top[1]++];
      if (next === undefined) { state.set(top[0], 2); stack.pop(); continue; }
      if (state.get(next) === 1) back.add(`${top[0]}\u0000${next}`);
      else if (!state.has(next)) { state.set(next, 1); stack.push([next, 0]); }
    }
  }
  const dag = edges.filter((e) => e.parent !== e.child && !back.has(`${e.parent}\u0000${e.child}`));
  // Longest path layering by Kahn's order.
  const indeg = new Map(ids.map((id) => [id, 0]));
  for (const e of dag) indeg.set(e.child, (indeg.get(e.child) || 0) + 1);
  const layer = new Map(ids.map((id) => [id, 0]));
  const queue = ids.filter((id) => !indeg.get(id));
  while (queue.length) {
    const id = /** @type {string} */ (queue.shift());
    for (const e of dag) {
      if (e.parent !== id) continue;
      layer.set(e.child, Math.max(layer.get(e.child) || 0, (layer.get(id) || 0) + 1));
      indeg.set(e.child, (indeg.get(e.child) || 0) - 1);
      if (!indeg.get(e.child)) queue.push(e.child);
    }
  }
  /** @type {string[][]} */
  const layers = [];
  for (const id of [...ids].sort()) (layers[layer.get(id) || 0] ||= []).push(id);
  for (let i = 0; i < layers.length; i++) layers[i] ||= [];
  const position = new Map();
  const renumber = () => layers.forEach((l) => l.forEach((id, i) => position.set(id, i)));
  renumber();
  for (let sweep = 0; sweep < 6; sweep++) {
    const down = sweep % 2 === 0;
    for (let i = down ? 1 : layers.length - 2; down ? i < layers.length : i >= 0; i += down ? 1 : -1) {
      const score = new Map(layers[i].map((id) => {
        const neighbours = dag.filter((e) => (down ? e.child === id : e.parent === id)).map((e) => position.get(down ? e.parent : e.child));
        return [id, neighbours.length ? neighbours.reduce((a, b) => a + b, 0) / neighbours.length : position.get(id)];
      }));
      layers[i].sort((a, b) => score.get(a) - score.get(b));
      renumber();
    }
  }
  const tallest = Math.max(1, ...layers.map((l) => l.length));
  const height = tallest * (NODE_H + ROW_GAP) + ROW_GAP;
  /** @type {Map<string, LayoutNode>} */
  const nodes = new Map();
  layers.forEach((ids, l) => {
    const offset = (height - ids.length * (NODE_H + ROW_GAP)) / 2;
    ids.forEach((id, order) => nodes.set(id, {
      id, layer: l, order, x: 20 + l * (NODE_W + COL_GAP), y: offset + ROW_GAP / 2 + order * (NODE_H + ROW_GAP),
    }));
  });
  return { nodes, width: 40 + layers.length * (NODE_W + COL_GAP) - COL_GAP, height };
}
