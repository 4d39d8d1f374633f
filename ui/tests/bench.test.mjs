/**
 * Benchmark (prints, never asserts a time): how long a 10 000-span trace
 * takes to render in headless Chromium, from navigation to the waterfall
 * being ready, and the in-page part (model, critical path and first rows).
 * Also checks the rows stay virtualized (few DOM rows) and the last span
 * can be scrolled to.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startSpoor, launchBrowser, stepper } from './support.mjs';
import { bigTrace, send, hex } from './traffic.mjs';

const SPANS = 10_000;
/** @type {Awaited<ReturnType<typeof startSpoor>>} */
let spoor;
/** @type {import('playwright-core').BrowserContext} */
let browser;

before(async () => {
  spoor = await startSpoor();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await spoor?.stop();
});

test(`a ${SPANS}-span trace renders virtualized`, async () => {
  const id = hex(16);
  await send(spoor.otlp, id, bigTrace(Date.now() - 60_000, SPANS));
  const page = await browser.newPage();
  const { step } = stepper('big-trace', page);
  /** @type {number[]} */
  const totals = [];
  /** @type {number[]} */
  const inPage = [];
  await step('render', async () => {
    for (let run = 0; run < 3; run++) {
      const began = Date.now();
      await page.goto(`${spoor.ui}/trace/${id}`);
      await page.waitForSelector('.view[data-ready="trace"]', { timeout: 60_000 });
      totals.push(Date.now() - began);
      inPage.push(Number(await page.locator('.view').getAttribute('data-render-ms')));
    }
    const rows = await page.locator('.wf-row').count();
    assert.ok(rows > 10 && rows < 200, `only the rows in view exist (${rows})`);
    assert.equal(await page.locator('.facts-row .fact', { hasText: 'Spans' }).locator('.fact-value').textContent(), String(SPANS));
  });
  await step('scroll to the end', async () => {
    await page.locator('.wf-body').evaluate((el) => { el.scrollTop = el.scrollHeight; });
    await page.waitForFunction(() => [...document.querySelectorAll('.wf-row')].some((r) => r.getAttribute('data-index') === '9999'));
  });
  const median = (/** @type {number[]} */ xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  console.log(`BENCH ui_trace_render spans=${SPANS} navigation_to_ready_ms(median of 3)=${median(totals)} ` +
    `in_page_render_ms=${median(inPage)} runs=${JSON.stringify(totals)}`);
});
