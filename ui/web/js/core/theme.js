/**
 * Light and dark themes. In: the saved choice (localStorage) or the system
 * preference. Out: `data-theme` on `<html>` (the CSS variables follow it)
 * and a toggle button for the header.
 */
import { h } from './dom.js';

const KEY = 'spoor.theme';

/** @returns {'light' | 'dark'} */
function current() {
  const saved = localStorage.getItem(KEY);
  if (saved === 'light' || saved === 'dark') return saved;
  return matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

/** Applies the saved or system theme. */
export function initTheme() {
  document.documentElement.dataset.theme = current();
}

/** A button that switches between light and dark. */
export function themeToggle() {
  const button = h('button', {
    type: 'button', className: 'icon-button', title: 'Switch light/dark theme', 'aria-label': 'Switch light/dark theme',
    onclick: () => {
      const next = current() === 'dark' ? 'light' : 'dark';
      localStorage.setItem(KEY, next);
      document.documentElement.dataset.theme = next;
      button.textContent = next === 'dark' ? '☀' : '☾';
    },
  }, current() === 'dark' ? '☀' : '☾');
  return button;
}
