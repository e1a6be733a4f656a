// Drive the Temporal Web UI in headless Chromium (Debian's /usr/bin/chromium) with playwright-core:
// filter the workflows by a query, check the expected orders are listed, open some of them and check
// their summaries (decoded by brokerflow's codec server), and save screenshots.
//
//   node check.mjs --ui http://localhost:8233 --query 'OrderStatus="FILLED" AND Symbol="AAPL"' \
//       --expect order-a,order-b --screenshot ../../.brokerflow/ui-check.png \
//       [--codec http://localhost:8899]   (the token comes from BROKERFLOW_CODEC_TOKEN, never from argv)
//
// Exit code 0 when every check passed, 1 otherwise (each failure is printed).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';

const { values: opts } = parseArgs({
  options: {
    ui: { type: 'string', default: 'http://localhost:8233' },
    namespace: { type: 'string', default: 'default' },
    query: { type: 'string', default: 'OrderStatus="FILLED" AND Symbol="AAPL"' },
    expect: { type: 'string', default: '' },
    symbol: { type: 'string', default: 'AAPL' },
    status: { type: 'string', default: 'FILLED' },
    codec: { type: 'string', default: '' },
    details: { type: 'string', default: '2' },
    screenshot: { type: 'string', default: '.brokerflow/ui-check.png' },
    chromium: { type: 'string', default: '/usr/bin/chromium' },
  },
});

const CHROMIUM_FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
const expected = opts.expect.split(',').map((s) => s.trim()).filter(Boolean);
const failures = [];
const check = (ok, message) => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${message}`);
  if (!ok) failures.push(message);
};

async function withCodec(context) {
  // What the dev server's --ui-codec-endpoint does, plus the bearer token an auth proxy would add.
  const token = process.env.BROKERFLOW_CODEC_TOKEN || '';
  await context.route('**/api/v1/settings*', async (route) => {
    const response = await route.fetch();
    const json = await response.json();
    json.Codec = { ...(json.Codec || {}), Endpoint: opts.codec };
    await route.fulfill({ response, json });
  });
  await context.route(`${opts.codec}/**`, async (route) => {
    const headers = { ...route.request().headers(), authorization: `Bearer ${token}` };
    await route.continue({ headers });
  });
}

async function filterByQuery(page) {
  const list = `${opts.ui}/namespaces/${opts.namespace}/workflows`;
  await page.goto(list, { waitUntil: 'networkidle' });
  // Type the query into the UI's manual query box (the </> toggle); fall back to the URL parameter.
  try {
    await page.getByTestId('toggle-manual-query').click({ timeout: 10000 });
    const box = page.getByTestId('workflow-manual-search-input');
    await box.fill(opts.query, { timeout: 5000 });
    await box.press('Enter');
    await page.waitForURL(/[?&]query=/, { timeout: 10000 });
    await page.waitForLoadState('networkidle');
    console.log('filtered by typing the query into the Web UI');
  } catch (error) {
    console.log(`typing the query failed (${error.message.split('\n')[0]}); using the ?query= URL parameter`);
    await page.goto(`${list}?query=${encodeURIComponent(opts.query)}`, { waitUntil: 'networkidle' });
  }
  const decoded = decodeURIComponent(new URL(page.url()).searchParams.get('query') || '');
  check(decoded.replace(/\s+/g, ' ') === opts.query.replace(/\s+/g, ' '), `the list is filtered by ${opts.query}`);
}

async function listedIds(page) {
  await page.locator('a[href*="/workflows/order-"]').first().waitFor({ timeout: 30000 });
  const hrefs = await page.locator('a[href*="/workflows/order-"]').evaluateAll(
    (links) => links.map((a) => decodeURIComponent(a.getAttribute('href').split('/workflows/')[1].split('/')[0])),
  );
  return [...new Set(hrefs)];
}

async function allText(page) {
  // The UI renders summaries and details (markdown) in sandboxed iframes: read every frame.
  const texts = await Promise.all(page.frames().map((frame) => frame.locator('body').innerText().catch(() => '')));
  return texts.join('\n');
}

async function checkSummary(page, workflowId, shot) {
  await page.goto(`${opts.ui}/namespaces/${opts.namespace}/workflows/${encodeURIComponent(workflowId)}`,
    { waitUntil: 'networkidle' });
  await page.getByText('User Metadata', { exact: true }).click();
  // The summary the starter sets: "<SIDE> <qty> <SYMBOL> <type ...> <TIF> via <connection>/<account>".
  const pattern = new RegExp(`^\\s*((?:BUY|SELL) [0-9.]+ ${opts.symbol} .* via \\S+)\\s*$`, 'm');
  let text = '';
  for (let i = 0; i < 40 && !text; i += 1) {
    text = ((await allText(page)).match(pattern) || [])[1] || '';
    if (!text) await page.waitForTimeout(500);
  }
  if (!text) {
    check(false, `${workflowId}: no decoded summary "(BUY|SELL) <qty> ${opts.symbol} ... via ..." under User Metadata`);
    await page.screenshot({ path: shot, fullPage: true });
    return;
  }
  check(true, `${workflowId}: summary "${text}"`);
  // Current details come from the running worker's query (or the result once closed): give them time.
  const status = new RegExp(`\\b${opts.status}\\s+(BUY|SELL)\\b`);
  let shown = false;
  for (let i = 0; i < 40 && !shown; i += 1) {
    shown = status.test(await allText(page));
    if (!shown) await page.waitForTimeout(500);
  }
  check(shown, `${workflowId}: current details show ${opts.status}`);
  await page.screenshot({ path: shot, fullPage: true });
}

async function main() {
  fs.mkdirSync(path.dirname(path.resolve(opts.screenshot)), { recursive: true });
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'brokerflow-ui-check-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: opts.chromium, headless: true, args: CHROMIUM_FLAGS, viewport: { width: 1600, height: 1000 },
  });
  try {
    if (opts.codec) await withCodec(context);
    const page = context.pages()[0] || (await context.newPage());
    await filterByQuery(page);
    const ids = await listedIds(page);
    console.log(`listed: ${ids.join(', ')}`);
    check(ids.length > 0, 'the filtered list shows orders');
    for (const id of expected) check(ids.includes(id), `${id} is listed`);
    const heading = (await page.getByText(/\d+\s+Workflows?/).first().innerText()).replace(/\s+/g, ' ');
    check(Number.parseInt(heading, 10) === ids.length || ids.length >= 20, `count "${heading}" matches the rows`);
    await page.screenshot({ path: opts.screenshot, fullPage: false });
    console.log(`screenshot: ${opts.screenshot}`);
    const detailIds = (expected.length ? expected : ids).slice(0, Number.parseInt(opts.details, 10));
    for (const [index, id] of detailIds.entries()) {
      await checkSummary(page, id, opts.screenshot.replace(/\.png$/, `-order-${index + 1}.png`));
    }
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
  if (failures.length) {
    console.error(`${failures.length} check(s) failed`);
    process.exit(1);
  }
  console.log('the Web UI shows the orders with their summaries');
}

await main();
