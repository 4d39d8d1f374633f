/**
 * Focus on one service in the dependency graph.
 * In: links `{parent, child}` and a service. Out: the links on any call
 * path through that service (its transitive callers and callees).
 */

/**
 * @template {{parent: string, child: string}} L
 * @param {L[]} links
 * @param {string} service
 * @returns {L[]}
 */
export function focusLinks(links, service) {
  /** @param {'parent' | 'child'} from @param {'parent' | 'child'} to */
  const reach = (from, to) => {
    const seen = new Set([service]);
    const queue = [service];
    while (queue.length) {
      const at = queue.shift();
      for (const l of links) if (l[from] === at && !seen.has(l[to])) { seen.add(l[to]); queue.push(l[to]); }
    }
    return seen;
  };
  const down = reach('parent', 'child');
  const up = reach('child', 'parent');
  return links.filter((l) => (down.has(l.parent) && down.has(l.child)) || (up.has(l.parent) && up.has(l.child)));
}
