/**
 * The web UI under base path `/jaeger`, in headless Chromium against the
 * real binary: `/` redirects to the base path, every Jaeger UI URL (search,
 * trace, compare, dependencies, monitor) loads and reloads as a deep link,
 * in-app navigation stays under the base path, and the page carries Kiali's
 * `const JAEGER_VERSION` marker with the admin `/version` data.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startSpoor, launchBrowser, stepper } from './support.mjs';
import { sendShop } from './traffic.mjs';

/** @type {Awaited<ReturnType<typeof startSpoor>>} */
let spoor;
/** @type {import('playwright-core').BrowserContext} */
let browser;
/** @type {string[]} */
let ids;

before(async () => {
  spoor = await startSpoor({ basePath: '/jaeger' });
  browser = await launchBrowser();
  ids = await sendShop(spoor.otlp, 3);
});

after(async () => {
  await browser?.close();
  await spoor?.stop();
});

/** @param {import('playwright-core').Page} page @param {string} view */
const ready = (page, view) => page.waitForSelector(`.view[data-ready="${view}"]`, { timeout: 15_000 });

test('the root redirects and the page carries the version marker', async () => {
  const root = await fetch(`${spoor.origin}/`, { redirect: 'manual' });
  assert.equal(root.status, 308);
  assert.equal(root.headers.get('location'), '/jaeger/');
  const html = await (await fetch(`${spoor.origin}/jaeger/trace/${ids[0]}`)).text();
  const marker = /const JAEGER_VERSION = (\{.*?\});/.exec(html);
  assert.ok(marker, 'Kiali reads `const JAEGER_VERSION = {...}`');
  const version = JSON.parse(marker[1]);
  const admin = await (await fetch(`${spoor.admin}/version`)).json();
  assert.equal(version.gitVersion.replace(/^v/, ''), admin.gitVersion.replace(/^v/, ''));
  assert.match(version.gitVersion, /^v/);
  assert.equal(version.gitCommit, admin.gitCommit);
  assert.equal((await fetch(`${spoor.origin}/jaeger/static/js/nothing.js`)).status, 404);
  assert.equal((await fetch(`${spoor.origin}/search`)).status, 404);
});

test('deep links and navigation under /jaeger', async () => {
  const page = await browser.newPage();
  const { step, errors } = stepper('base-path', page);
  await step('root redirects to the search page', async () => {
    await page.goto(`${spoor.origin}/`);
    await ready(page, 'search');
    assert.equal(new URL(page.url()).pathname, '/jaeger/');
  });
  await step('search deep link and reload', async () => {
    await page.goto(`${spoor.ui}/search?service=frontend&lookback=1h&limit=20`);
    await ready(page, 'search');
    assert.equal(await page.locator('table.results tbody tr').count(), 3);
    await page.reload();
    await ready(page, 'search');
    assert.equal(await page.locator('table.results tbody tr').count(), 3);
  });
  await step('trace link stays under the base path', async () => {
    await page.locator('a.trace-link').first().click();
    await ready(page, 'trace');
    assert.match(new URL(page.url()).pathname, /^\/jaeger\/trace\/[0-9a-f]{32}$/);
    await page.reload();
    await ready(page, 'trace');
    await page.goBack();
    await ready(page, 'search');
  });
  await step('compare, dependencies and monitor deep links', async () => {
    await page.goto(`${spoor.ui}/trace/${ids[0]}...${ids[1]}`);
    await ready(page, 'compare');
    await page.goto(`${spoor.ui}/dependencies`);
    await ready(page, 'dependencies');
    await page.goto(`${spoor.ui}/monitor?service=frontend`);
    await ready(page, 'monitor');
    await page.click('nav >> text=Search');
    await ready(page, 'search');
    assert.equal(new URL(page.url()).pathname, '/jaeger/search');
  });
  await step('unknown page', async () => {
    await page.goto(`${spoor.ui}/nowhere`);
    await ready(page, 'notfound');
  });
  assert.deepEqual(errors(), []);
});
