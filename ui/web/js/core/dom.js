/**
 * Tiny DOM helpers: element creation with attributes and children, SVG
 * elements, and emptying a node. In: tag names, attribute objects, children.
 * Out: live DOM nodes. Every view builds its markup through these, so no
 * HTML string is ever parsed (no injection from span data).
 */

/** @typedef {Node | string | number | null | undefined | false} Child */

/**
 * Sets attributes, properties (`on*` listeners, `className`, `dataset`) on `el`.
 * @param {Element} el
 * @param {Record<string, any>} attrs
 */
function apply(el, attrs) {
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === 'className') {
      el.setAttribute('class', String(value));
    } else if (key === 'style' && typeof value === 'object') {
      Object.assign(/** @type {HTMLElement} */ (el).style, value);
    } else if (key === 'value' || key === 'checked' || key === 'selected') {
      /** @type {any} */ (el)[key] = value;
    } else {
      el.setAttribute(key, value === true ? '' : String(value));
    }
  }
}

/**
 * @param {Element} el
 * @param {Child[]} children
 */
function append(el, children) {
  for (const child of children.flat(4)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(typeof child === 'object' ? child : String(child));
  }
}

/**
 * Creates an HTML element.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, any>} [attrs]
 * @param {...(Child | Child[])} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  apply(el, attrs);
  append(el, /** @type {Child[]} */ (children));
  return el;
}

/**
 * Creates an SVG element.
 * @param {string} tag
 * @param {Record<string, any>} [attrs]
 * @param {...(Child | Child[])} children
 * @returns {SVGElement}
 */
export function s(tag, attrs = {}, ...children) {
  const el = /** @type {SVGElement} */ (document.createElementNS('http://www.w3.org/2000/svg', tag));
  apply(el, attrs);
  append(el, /** @type {Child[]} */ (children));
  return el;
}

/**
 * Replaces the children of `el`.
 * @param {Element} el
 * @param {...(Child | Child[])} children
 */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, /** @type {Child[]} */ (children));
}

/**
 * A message block for empty and error states.
 * @param {'empty' | 'error' | 'loading'} kind
 * @param {string} title
 * @param {string} [detail]
 */
export function notice(kind, title, detail) {
  return h('div', { className: `notice notice-${kind}`, role: kind === 'error' ? 'alert' : 'status' },
    h('strong', {}, title), detail ? h('p', {}, detail) : null);
}
