/**
 * End-to-end tests of Spoor's web UI at the root base path, in headless
 * Chromium against the real binary with real OTLP traffic: search by URL
 * and by form → results → trace → span detail → find → collapse; compare;
 * service map; monitor; a Kiali-style deep link; empty and error states.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startSpoor, launchBrowser, stepper, eventually } from './support.mjs';
import { sendShop } from './traffic.mjs';

/** @type {Awaited<ReturnType<typeof startSpoor>>} */
let spoor;
/** @type {import('playwright-core').BrowserContext} */
let browser;
/** @type {string[]} */
let ids;

before(async () => {
  spoor = await startSpoor();
  browser = await launchBrowser();
  ids = await sendShop(spoor.otlp, 8);
});

after(async () => {
  await browser?.close();
  await spoor?.stop();
});

/** @param {import('playwright-core').Page} page @param {string} view */
const ready = (page, view) => page.waitForSelector(`.view[data-ready="${view}"]`, { timeout: 15_000 });

test('search by URL and form, open a trace, span detail, find, collapse', async () => {
  const page = await browser.newPage();
  const { step, errors } = stepper('search-trace', page);
  await step('search by URL', async () => {
    await page.goto(`${spoor.ui}/search?service=frontend&lookback=1h&limit=20`);
    await ready(page, 'search');
    assert.equal(await page.locator('table.results tbody tr').count(), 8);
    assert.equal(await page.locator('.scatter circle').count(), 8);
    assert.equal(await page.locator('.scatter circle.dot-error').count(), 2);
    assert.equal(await page.inputValue('#sf-service'), 'frontend');
  });
  await step('search by form', async () => {
    await page.goto(`${spoor.ui}/search`);
    await ready(page, 'search');
    await page.locator('.notice-empty', { hasText: 'Find traces' }).waitFor();
    await page.selectOption('#sf-service', 'payments');
    await page.locator('#sf-operation option', { hasText: 'charge' }).waitFor({ state: 'attached' });
    await page.selectOption('#sf-operation', 'charge');
    await page.fill('#sf-tags', 'error=true');
    await page.fill('#sf-min', 'bogus');
    await page.click('#sf-submit');
    await page.locator('.form-error', { hasText: 'min duration "bogus"' }).waitFor();
    await page.fill('#sf-min', '');
    await page.click('#sf-submit');
    await ready(page, 'search');
    const url = new URL(page.url());
    assert.equal(url.searchParams.get('service'), 'payments');
    assert.equal(url.searchParams.get('operation'), 'charge');
    assert.deepEqual(JSON.parse(url.searchParams.get('tags') || ''), { error: 'true' });
    assert.equal(await page.locator('table.results tbody tr').count(), 2);
  });
  await step('open the trace', async () => {
    await page.locator('a.trace-link').first().click();
    await ready(page, 'trace');
    assert.match(page.url(), /\/trace\/[0-9a-f]{32}$/);
    assert.equal(await page.locator('.trace-title h1').textContent(), 'frontend: GET /checkout');
    assert.equal(await page.locator('.wf-row').count(), 8);
    assert.match(await page.locator('.facts-row').innerText(), /Services\s*4[\s\S]*Depth\s*5[\s\S]*Spans\s*8[\s\S]*Errors\s*3/i);
    assert.ok(await page.locator('.wf-crit').count() >= 3, 'the critical path is drawn');
  });
  await step('span detail', async () => {
    await page.locator('.wf-row', { hasText: 'charge' }).click();
    const detail = page.locator('.detail');
    await detail.waitFor();
    assert.equal(await detail.locator('h2').textContent(), 'charge');
    const text = await detail.innerText();
    for (const expected of ['payment.provider', 'acme', 'exception', 'card declined', 'Resource', 'Scope', 'spoor-ui-tests', 'Links and references']) {
      assert.ok(text.includes(expected), `detail shows ${expected}`);
    }
    await detail.locator('summary', { hasText: 'Resource' }).click();
    assert.ok((await detail.innerText()).includes('payments-1'), 'resource attributes');
    await page.click('button[aria-label="Close span detail"]');
    await detail.waitFor({ state: 'detached' });
  });
  await step('find in trace', async () => {
    await page.keyboard.press('/');
    await page.keyboard.type('sku-42');
    await page.locator('.find-count', { hasText: '1 match' }).waitFor();
    assert.equal(await page.locator('.wf-row.match').count(), 1);
    assert.equal(new URL(page.url()).searchParams.get('uiFind'), 'sku-42');
    await page.keyboard.press('Enter');
    assert.equal(await page.locator('.detail h2').textContent(), 'reserve');
    await page.keyboard.press('Escape');
    assert.equal(await page.locator('.wf-row.match').count(), 0);
  });
  await step('collapse and expand', async () => {
    await page.locator('.wf-row').first().locator('.wf-toggle').click();
    assert.equal(await page.locator('.wf-row').count(), 1);
    assert.equal(await page.locator('.wf-hidden').textContent(), '+7');
    await page.locator('.wf-row').first().locator('.wf-toggle').click();
    assert.equal(await page.locator('.wf-row').count(), 8);
    await page.locator('.wf-body').focus();
    await page.locator('.wf-row').first().click();
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('ArrowLeft');
    assert.equal(await page.locator('.wf-row').count(), 4, 'the selected POST /orders subtree collapsed');
    await page.keyboard.press('ArrowRight');
    assert.equal(await page.locator('.wf-row').count(), 8);
    await page.click('text=collapse all');
    assert.equal(await page.locator('.wf-row').count(), 3);
  });
  await step('download JSON', async () => {
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('text=Download JSON')]);
    assert.match(download.suggestedFilename(), /^trace-[0-9a-f]{32}\.json$/);
  });
  assert.deepEqual(errors(), []);
});

test('Kiali-style deep link, lookup box and compare', async () => {
  const page = await browser.newPage();
  const { step, errors } = stepper('deep-link-compare', page);
  const last = ids[ids.length - 1];
  await step('deep link with uiFind', async () => {
    await page.goto(`${spoor.ui}/trace/${last}?uiFind=charge`);
    await ready(page, 'trace');
    assert.equal(await page.inputValue('.find-input'), 'charge');
    const detail = await page.locator('.detail').innerText();
    assert.ok(detail.includes(`trace ${ids[0]}`), 'the span link names the linked trace');
    await page.reload();
    await ready(page, 'trace');
    assert.equal(await page.locator('.wf-row.match').count(), 1);
  });
  await step('embedded (uiEmbed=v0)', async () => {
    await page.goto(`${spoor.ui}/trace/${last}?uiEmbed=v0`);
    await ready(page, 'trace');
    assert.equal(await page.locator('header.top').isVisible(), false);
  });
  await step('lookup box', async () => {
    await page.goto(`${spoor.ui}/search`);
    await ready(page, 'search');
    await page.fill('#lookup', 'not-an-id');
    await page.press('#lookup', 'Enter');
    await page.locator('.lookup-error', { hasText: 'not a trace id' }).waitFor();
    await page.fill('#lookup', ids[2]);
    await page.press('#lookup', 'Enter');
    await ready(page, 'trace');
    assert.ok(page.url().endsWith(`/trace/${ids[2]}`));
  });
  await step('unknown trace shows the API error', async () => {
    await page.goto(`${spoor.ui}/trace/0123456789abcdef0123456789abcdef`);
    await page.locator('.notice-error', { hasText: 'Cannot show trace' }).waitFor();
    assert.match(await page.locator('.notice-error').innerText(), /not found/i);
  });
  await step('compare from the search results', async () => {
    await page.goto(`${spoor.ui}/search?service=frontend&lookback=1h`);
    await ready(page, 'search');
    const boxes = page.locator('table.results tbody input[type=checkbox]');
    await boxes.nth(0).check();
    await boxes.nth(1).check();
    await page.click('#compare-picked');
    await ready(page, 'compare');
    assert.match(page.url(), /\/trace\/[0-9a-f]{32}\.\.\.[0-9a-f]{32}$/);
    assert.equal(await page.locator('.compare-table tbody tr').count(), 8);
  });
  await step('compare by URL', async () => {
    await page.goto(`${spoor.ui}/trace/${ids[0]}...${ids[1]}`);
    await ready(page, 'compare');
    assert.equal(await page.locator('.compare-card').count(), 2);
    assert.ok(await page.locator('tr.cmp-changed').count() > 0, 'durations differ');
  });
  assert.deepEqual(errors(), []);
});

test('service map and monitor', async () => {
  await eventually(async () => {
    const body = await (await fetch(`${spoor.ui}/api/dependencies?errors=true`)).json();
    return body.data.some((/** @type {any} */ l) => l.parent === 'frontend' && l.child === 'payments' && l.errorCount > 0);
  }, 'dependency links with errors');
  await eventually(async () => {
    const body = await (await fetch(`${spoor.ui}/api/metrics/calls?service=frontend&lookback=600000&step=60000`)).json();
    return body.metrics[0]?.metricPoints.some((/** @type {any} */ p) => Number(p.gaugeValue.doubleValue) > 0);
  }, 'call-rate metrics');
  const page = await browser.newPage();
  const { step, errors } = stepper('map-monitor', page);
  await step('service map', async () => {
    await page.goto(`${spoor.ui}/dependencies`);
    await ready(page, 'dependencies');
    assert.ok(await page.locator('.depgraph .node').count() >= 4);
    assert.ok(await page.locator('.depgraph .edge-error').count() >= 1, 'failing edges are marked');
    const row = page.locator('.deps-table tr', { hasText: 'payments' }).first();
    assert.match(await row.innerText(), /frontend\s+payments\s+8\s+2\s+25%/);
  });
  await step('focus a service', async () => {
    await page.locator('.depgraph .node[data-service="stock"]').click();
    await ready(page, 'dependencies');
    assert.equal(new URL(page.url()).searchParams.get('service'), 'stock');
    assert.equal(await page.locator('.depgraph .node[data-service="payments"]').count(), 0);
    assert.equal(await page.locator('.depgraph .node').count(), 3);
  });
  await step('monitor', async () => {
    await page.click('nav >> text=Monitor');
    await ready(page, 'monitor');
    await page.selectOption('#mon-service', 'frontend');
    await ready(page, 'monitor');
    assert.equal(await page.locator('.chart').count(), 3);
    assert.ok(await page.locator('.chart path.line').count() >= 3);
    assert.ok(await page.locator('.ops-table tr', { hasText: 'GET /checkout' }).count() === 1);
  });
  await step('failing traces of an operation', async () => {
    await page.locator('.ops-table tr', { hasText: 'GET /checkout' }).locator('text=failing').click();
    await ready(page, 'search');
    assert.equal(await page.locator('table.results tbody tr').count(), 2);
  });
  await step('dark theme', async () => {
    await page.click('button[aria-label="Switch light/dark theme"]');
    assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'dark');
  });
  assert.deepEqual(errors(), []);
});
