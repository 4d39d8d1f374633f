/**
 * Harness of the browser tests: starts the real `spoor` binary (path in
 * `SPOOR_BIN`) on free loopback ports with a fresh data directory,
 * launches Debian's headless Chromium through playwright-core with a fresh
 * user-data directory, and records a screenshot of every step, kept in the
 * test's output folder (`target/ui-tests/<test>/`) when the test fails (or
 * always with `SPOOR_UI_SCREENSHOTS=1`). A missing binary or browser is a
 * failure, never a skip.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CHROMIUM = process.env.SPOOR_CHROMIUM || '/usr/bin/chromium';
const ADDR_FLAGS = ['--otlp-grpc-addr', '--otlp-http-addr', '--zipkin-addr', '--query-http-addr', '--query-grpc-addr',
  '--admin-addr', '--sampling-http-addr', '--sampling-grpc-addr', '--jaeger-grpc-addr', '--jaeger-thrift-http-addr',
  '--agent-compact-addr', '--agent-binary-addr'];

/**
 * Starts Spoor; `basePath` sets `query.http.base_path`.
 * @param {{basePath?: string}} [options]
 */
export async function startSpoor(options = {}) {
  const bin = process.env.SPOOR_BIN;
  if (!bin || !existsSync(bin)) throw new Error(`SPOOR_BIN must name the built spoor binary (got ${bin})`);
  const dir = mkdtempSync(join(tmpdir(), 'spoor-ui-'));
  const args = ['--data-dir', join(dir, 'data')];
  for (const flag of ADDR_FLAGS) args.push(flag, '127.0.0.1:0');
  if (options.basePath) {
    writeFileSync(join(dir, 'spoor.yaml'), `query:\n  http:\n    base_path: ${options.basePath}\n`);
    args.push('--config', join(dir, 'spoor.yaml'));
  }
  // Spoor rejects unknown SPOOR_* variables, so the harness's own are not passed on.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SPOOR_')));
  const child = spawn(bin, args, { env: { ...env, SPOOR_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'inherit'] });
  const addrs = await new Promise((resolveAddrs, reject) => {
    const timer = setTimeout(() => reject(new Error('spoor did not report its listeners within 60s')), 60_000);
    child.once('exit', (code) => reject(new Error(`spoor exited with ${code} before listening`)));
    createInterface({ input: /** @type {import('node:stream').Readable} */ (child.stdout) }).on('line', (line) => {
      const rest = line.startsWith('spoor: listening on ') ? line.slice('spoor: listening on '.length) : null;
      if (rest === null) return;
      clearTimeout(timer);
      resolveAddrs(Object.fromEntries(rest.split(/\s+/).map((kv) => kv.split('='))));
    });
  });
  const base = (options.basePath || '').replace(/\/+$/, '');
  return {
    origin: `http://${addrs.query_http}`,
    ui: `http://${addrs.query_http}${base}`,
    otlp: `http://${addrs.otlp_http}/v1/traces`,
    admin: `http://${addrs.admin}`,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Headless Chromium with a fresh profile; fails when the browser is missing.
 * @returns {Promise<import('playwright-core').BrowserContext>}
 */
export async function launchBrowser() {
  if (!existsSync(CHROMIUM)) throw new Error(`no browser at ${CHROMIUM}: run scripts/install-ui-tools.sh`);
  const profile = mkdtempSync(join(tmpdir(), 'spoor-ui-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, viewport: { width: 1400, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  context.on('close', () => {
    try {
      rmSync(profile, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
    } catch {
      /* the browser may still be writing its profile; it is in the temp dir */
    }
  });
  return context;
}

/**
 * Runs named steps on a page, screenshotting each; on failure the shots and
 * the page's console errors are kept under `target/ui-tests/<name>/`.
 * @param {string} name
 * @param {import('playwright-core').Page} page
 */
export function stepper(name, page) {
  const out = join(ROOT, 'target', 'ui-tests', name.replace(/[^a-z0-9-]+/gi, '_'));
  rmSync(out, { recursive: true, force: true });
  /** @type {{file: string, png: Buffer}[]} */
  const shots = [];
  /** @type {string[]} */
  const logs = [];
  // A failed request the page handles (a 404 it shows as an error state)
  // is logged by Chromium too; only the page's own errors count.
  page.on('console', (m) => { if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) logs.push(m.text()); });
  page.on('pageerror', (e) => logs.push(String(e)));
  let n = 0;
  const keep = () => {
    mkdirSync(out, { recursive: true });
    for (const s of shots) writeFileSync(join(out, s.file), s.png);
    writeFileSync(join(out, 'console.txt'), logs.join('\n'));
  };
  return {
    /** @param {string} label @param {() => Promise<void>} fn */
    async step(label, fn) {
      const file = `${String(++n).padStart(2, '0')}-${label.replace(/[^a-z0-9-]+/gi, '_')}.png`;
      try {
        await fn();
      } catch (e) {
        shots.push({ file: `FAILED-${file}`, png: await page.screenshot({ fullPage: true }).catch(() => Buffer.alloc(0)) });
        keep();
        throw new Error(`step "${label}" failed (screenshots in ${out}): ${/** @type {Error} */ (e).message}`);
      }
      shots.push({ file, png: await page.screenshot() });
      if (process.env.SPOOR_UI_SCREENSHOTS === '1') keep();
    },
    /** The page's uncaught errors so far. */
    errors: () => logs.slice(),
  };
}

/**
 * Polls `fn` until it returns a truthy value (for data the analytics make
 * visible a moment after ingest).
 * @template T
 * @param {() => Promise<T>} fn
 * @param {string} what
 */
export async function eventually(fn, what, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn().catch(() => null);
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
