/**
 * Service colours: the same service gets the same colour on every page.
 * In: a service name. Out: a CSS colour from a palette chosen to stay
 * distinguishable in light and dark themes (the error red is not in it).
 */

const PALETTE = [
  '#3b7dd8', '#17a589', '#d68910', '#8e44ad', '#2e86c1', '#28b463', '#ca6f1e',
  '#a569bd', '#1abc9c', '#b7950b', '#5d6d7e', '#e67e22', '#48c9b0', '#7d3c98',
  '#2874a6', '#7dcea0', '#dc7633', '#5499c7', '#af7ac5', '#45b39d',
];

/** @type {Map<string, string>} */
const cache = new Map();

/** FNV-1a hash of a string. @param {string} text */
function hash(text) {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** @param {string} service */
export function serviceColor(service) {
  let color = cache.get(service);
  if (!color) {
    color = PALETTE[hash(service) % PALETTE.length];
    cache.set(service, color);
  }
  return color;
}
