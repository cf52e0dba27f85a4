// The operator's view in the Temporal Web UI (served by dev), in headless Chromium: a payout that WeChat Pay keeps
// refusing shows up under the stuck-payouts query, and its run says why it waits in its current details.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { createClient } from '../index.js';
import { sandboxWx } from '../simulator/wx.js';
import { seed, startDev } from './dev.js';

const shots = join(dirname(fileURLToPath(import.meta.url)), 'screenshots');
let dev;
let browser;

const freePort = () => new Promise((resolve) => {
  const srv = createServer().listen(0, '127.0.0.1', () => {
    const { port } = srv.address();
    srv.close(() => resolve(port));
  });
});

before(async () => {
  mkdirSync(shots, { recursive: true });
  dev = await startDev({ RECEIPTFLOW_UI_PORT: String(await freePort()) });
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});
after(async () => {
  if (browser) await browser.close();
  if (dev) await dev.stop();
});

test('the stuck-payouts query lists a retrying payout, and its run tells why', async () => {
  const down = await fetch(`${dev.sandbox}/sandbox/outage`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ endpoint: 'transfer-bills', seconds: 600 }) });
  assert.equal(down.status, 200);
  const p = await seed(dev.api, 150000, false);
  const client = createClient({ wx: sandboxWx({ base: dev.api, openid: () => p.openid }), baseURL: dev.api });
  assert.equal((await client.open(p.orderId)).state, 'AWAITING_CONFIRMATION');
  await client.confirm(p.orderId);
  let v;
  for (let i = 0; i < 120; i += 1) {
    v = await client.view(p.orderId);
    if (v.payout && v.payout.retrying && v.payout.tries >= 2) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  assert.ok(v.payout && v.payout.retrying, JSON.stringify(v));

  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const query = encodeURIComponent('PayoutRetrying = true');
  const id = `receipt/${p.orderId}`;
  // The UI is behind the operators' sign-in: a signed-out browser lands on it and comes back where it meant to go.
  await page.goto(`${dev.ui}/namespaces/default/workflows?query=${query}`);
  assert.match(page.url(), /\/_receiptflow\/sign-in\?next=/);
  await page.getByLabel('运营令牌').fill('wrong-token');
  await page.getByRole('button', { name: '登录' }).click();
  await page.getByRole('alert').filter({ hasText: 'UNAUTHENTICATED' }).waitFor();
  await page.screenshot({ path: join(shots, 'operator-ui-sign-in.png') });
  await page.getByLabel('运营令牌').fill(dev.operatorToken);
  await page.getByRole('button', { name: '登录' }).click();
  await page.waitForURL(/\/namespaces\/default\/workflows/);
  const link = page.getByRole('link', { name: id });
  await link.first().waitFor({ timeout: 30000 });
  await page.screenshot({ path: join(shots, 'operator-ui-stuck-payouts.png') });
  await link.first().click();
  // The run's own words: Summary, Details and Current Details are under User Metadata.
  await page.getByRole('tab', { name: 'User Metadata' }).or(page.getByRole('link', { name: 'User Metadata' })).first().click();
  const pattern = /payout retrying 付款重试中: wechatpay: HTTP 503\s*, attempt (\d+) \(bill (\S+)\)/;
  // The panels render markdown in sandboxed frames: read the words as the operator sees them.
  let found = null;
  for (let i = 0; i < 60 && !found; i += 1) {
    for (const frame of page.frames()) {
      const text = await frame.innerText('body').catch(() => '');
      found = found || text.match(pattern);
    }
    if (!found) await page.waitForTimeout(500);
  }
  assert.ok(found, 'no current details of a retrying payout on the run page');
  const [, attempt, bill] = found;
  assert.equal(bill, `${p.orderId}T1`);
  assert.ok(Number(attempt) >= 2, attempt);
  await page.screenshot({ path: join(shots, 'operator-ui-current-details.png') });
});
