// The operator console (served by dev's API at /console/) in headless Chromium: sign in; the review queue approves
// and rejects; a stuck payout says why; a reconciliation finding is resolved once; a filing downloads; a payer is
// created with its secret shown once; a write without the CSRF token, from another origin, or on a signed-out
// session is refused and changes nothing. Screenshots of each page go to docs/console/.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { createClient } from '../index.js';
import { sandboxWx } from '../simulator/wx.js';
import { seed, startDev } from './dev.js';

const docs = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'docs', 'console');
let dev;
let browser;
let page;

before(async () => {
  mkdirSync(docs, { recursive: true });
  dev = await startDev();
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  page = await browser.newPage({ viewport: { width: 1360, height: 860 } });
  page.on('pageerror', (e) => assert.fail(`page error: ${e.message}`));
});
after(async () => {
  if (browser) await browser.close();
  if (dev) await dev.stop();
});

const payee = (p, face = 'pass', transfer = 'accept') => createClient({
  wx: sandboxWx({ base: dev.api, openid: () => p.openid, faceOutcome: () => face, transferAction: () => transfer }), baseURL: dev.api });

// inReview is a new 8,000 元 payee whose face failed three times: its run waits for an operator.
async function inReview() {
  const p = await seed(dev.api, 800000, true);
  const c = payee(p, 'mismatch_face');
  assert.equal((await c.open(p.orderId)).state, 'FACE_REQUIRED');
  for (let i = 0; i < 3; i += 1) await c.verifyFace(p.orderId);
  assert.equal((await c.view(p.orderId)).state, 'MANUAL_REVIEW');
  return p;
}

// open shows a page afresh (the same address again is a reload: a hash the page is on changes nothing).
async function open(name) {
  const url = `${dev.api}/console/#${name}`;
  if (page.url() === url) await page.reload();
  else await page.goto(url);
  await page.waitForSelector(`#page[data-page="${name}"]`);
}

const shot = (name) => page.screenshot({ path: join(docs, `${name}.png`), fullPage: true });

// ops calls an ops route as a script does, with the operator token.
async function ops(method, path) {
  const r = await fetch(`${dev.api}${path}`, { method, headers: { Authorization: `Bearer ${dev.operatorToken}` } });
  return r.json();
}

const opsView = (orderId) => ops('GET', `/v1/ops/receipts/${orderId}`);

async function until(what, fn, seconds = 30) {
  for (let i = 0; i < seconds * 4; i += 1) {
    const v = await fn();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${what}: not within ${seconds} s`);
}

test('sign in with the operator token (a wrong one is refused)', async () => {
  const anon = await fetch(`${dev.api}/v1/ops/reviews`);
  assert.equal(anon.status, 401);
  await page.goto(`${dev.api}/console/`);
  await page.fill('#token', 'not-a-token');
  await page.click('#sign-in-form button');
  await page.waitForSelector('#sign-in-error:not(:empty)');
  assert.match(await page.textContent('#sign-in-error'), /UNAUTHENTICATED/);
  await page.fill('#token', dev.operatorToken);
  await page.click('#sign-in-form button');
  await page.waitForSelector('#app:not([hidden])');
  assert.equal(await page.textContent('#operator'), 'dev-operator');
  const [cookie] = await page.context().cookies();
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, 'Strict');
});

test('the review queue: approving pays the payee to the fen, rejecting ends REJECTED', async () => {
  const approve = await inReview();
  const reject = await inReview();
  await open('reviews');
  const row = (o) => page.locator(`tr[data-order="${o}"]`);
  await row(approve.orderId).waitFor();
  assert.match(await row(approve.orderId).textContent(), /3\/3 次失败/);
  assert.match(await row(approve.orderId).textContent(), /¥8,000\.00/);
  await shot('reviews');
  // A decision needs a note: without one the API says so and the run still waits.
  await row(approve.orderId).getByRole('button', { name: '批准 approve' }).click();
  await page.waitForSelector('#flash.error:not(:empty)');
  assert.equal((await opsView(approve.orderId)).state, 'MANUAL_REVIEW');
  await row(approve.orderId).getByRole('textbox').fill('身份证件已电话核实');
  await row(approve.orderId).getByRole('button', { name: '批准 approve' }).click();
  await page.waitForSelector(`#flash:not(.error):has-text("${approve.orderId}")`);
  await row(approve.orderId).waitFor({ state: 'detached' }); // the queue shown again, without it
  await row(reject.orderId).getByRole('textbox').fill('本人未到场');
  await row(reject.orderId).getByRole('button', { name: '拒绝 reject' }).click();
  await until('rejected', async () => (await opsView(reject.orderId)).state === 'REJECTED');

  // The approved payee confirms and accepts in WeChat: paid, 8,000 元 less (8,000 × 80% − 5,000) × 3% = 42 元.
  const c = payee(approve);
  assert.equal((await c.view(approve.orderId)).state, 'AWAITING_CONFIRMATION');
  const v = await c.confirm(approve.orderId);
  await c.receive(approve.orderId, v);
  const paid = await until('paid', async () => { const x = await c.view(approve.orderId); return x.state === 'PAID' && x; });
  assert.deepEqual([paid.amounts.grossFen, paid.amounts.taxFen, paid.amounts.netFen], [800000, 4200, 795800]);
});

test('a stuck payout shows why', async () => {
  const down = await fetch(`${dev.sandbox}/sandbox/outage`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ endpoint: 'transfer-bills', seconds: 600 }) });
  assert.equal(down.status, 200);
  const p = await seed(dev.api, 150000, false);
  const c = payee(p);
  await c.open(p.orderId);
  await c.confirm(p.orderId);
  await until('retrying', async () => { const v = await c.view(p.orderId); return v.payout && v.payout.retrying; }, 60);
  await until('listed', async () => {
    await open('payouts');
    return (await page.locator(`#stuck tr[data-order="${p.orderId}"]`).count()) === 1;
  }, 30);
  assert.match(await page.locator(`#stuck tr[data-order="${p.orderId}"]`).textContent(), /503|不可用|unavailable|失败|retry/i);
  await shot('payouts');
  await fetch(`${dev.sandbox}/sandbox/outage`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ endpoint: 'transfer-bills', seconds: 0 }) });
});

test('a reconciliation finding is resolved once', async () => {
  const p = await seed(dev.api, 150000, false);
  const c = payee(p);
  const from = new Date(Date.now() - 60000).toISOString();
  await c.open(p.orderId);
  const v = await c.confirm(p.orderId);
  assert.ok(v.payout && v.payout.confirm, JSON.stringify(v));
  await c.receive(p.orderId, v);
  await until('paid', async () => (await c.view(p.orderId)).state === 'PAID', 60);
  // WeChat Pay's record of the bill now says otherwise.
  const t = await fetch(`${dev.sandbox}/sandbox/pay/tamper`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ outBillNo: v.payout.outBillNo, state: 'FAIL' }) });
  assert.equal(t.status, 200);
  await open('reconciliation');
  await page.getByLabel('from', { exact: true }).fill(from);
  await page.getByLabel('to', { exact: true }).fill(new Date(Date.now() + 60000).toISOString());
  await page.getByRole('button', { name: '开始对账 start a window' }).click();
  const row = page.locator(`tr[data-bill="${v.payout.outBillNo}"]`);
  await page.waitForSelector('#flash:has-text("started")');
  await until('finding', async () => { await open('reconciliation'); return (await row.count()) === 1; }, 60);
  await row.getByRole('textbox').fill('微信支付确认已到账，系其记录有误');
  await shot('reconciliation');
  await row.getByRole('button', { name: '处理 resolve' }).click();
  await page.waitForSelector(`tr[data-bill="${v.payout.outBillNo}"]:has-text("dev-operator")`);
  assert.equal(await row.getByRole('button').count(), 0, 'a resolved finding offers no second resolve');
  // A second resolve, as the page would send it (its session, its CSRF token), is refused.
  const { reconciliations } = await ops('GET', '/v1/ops/reconciliations');
  const recon = reconciliations.find((r) => r.findings > 0);
  const again = await page.evaluate(async (path) => {
    const s = await (await fetch('/v1/console/session')).json();
    const r = await fetch(path, { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': s.csrf }, body: JSON.stringify({ resolution: 'again' }) });
    return r.status;
  }, `/v1/ops/reconciliations/${recon.id}/findings/${v.payout.outBillNo}/resolve`);
  assert.equal(again, 409);
});

test('a filing is made and downloads', async () => {
  const now = new Date(Date.now() + 8 * 3600 * 1000); // Beijing
  const last = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 1));
  const period = `${last.getUTCFullYear()}-${String(last.getUTCMonth() + 1).padStart(2, '0')}`;
  await open('exports');
  await page.getByLabel('period').fill(period);
  await page.getByRole('button', { name: '生成扣缴申报 file the month' }).click();
  const link = page.getByRole('link', { name: '下载 download' });
  await until('export', async () => { await open('exports'); return (await link.count()) > 0; }, 60);
  await shot('exports');
  const [download] = await Promise.all([page.waitForEvent('download'), link.first().click()]);
  const body = await (await import('node:fs/promises')).readFile(await download.path(), 'utf8');
  assert.ok(body.length > 0, 'the file is not empty');
});

// savePayer fills the payers page's form for acme-ops and saves it.
async function savePayer() {
  await page.getByLabel('payer id').fill('acme-ops');
  await page.getByLabel('payer name').fill('示例物流有限公司');
  await page.getByLabel('account name').fill('示例物流有限公司');
  await page.getByLabel('account number').fill('6222020200112299887');
  await page.getByRole('button', { name: '创建或更新 create or update' }).click();
}

test('a payer is created and its secret shown once', async () => {
  await open('payers');
  await savePayer();
  await page.waitForSelector('#secret:not([hidden])');
  const secret = (await page.textContent('#secret')).split(': ').pop();
  assert.ok(secret.length >= 32, secret);
  await shot('payers');
  assert.ok(await page.locator('tr[data-payer="acme-ops"]').count() === 1);
  // Saved again (an update): no secret in the answer, none on the page.
  await open('payers');
  await savePayer();
  await page.waitForSelector('#flash:has-text("已保存")');
  assert.equal(await page.isVisible('#secret'), false);
  assert.ok(!(await page.content()).includes(secret), 'the secret is not shown a second time');
});

test('the webhooks and schedules pages', async () => {
  await open('webhooks');
  await page.selectOption('select[aria-label="payer"]', 'demopayer');
  await page.waitForSelector('#webhook tr[data-event]');
  await shot('webhooks');
  await open('schedules');
  await page.waitForSelector('tr[data-schedule="reconcile-daily"]');
  await shot('schedules');
});

test('a write without the CSRF token, from another origin, or after sign-out changes nothing', async () => {
  const [cookie] = await page.context().cookies();
  const jar = `${cookie.name}=${cookie.value}`;
  const s = await (await fetch(`${dev.api}/v1/console/session`, { headers: { Cookie: jar } })).json();
  const put = (headers) => fetch(`${dev.api}/v1/ops/payers/evil-payer`, { method: 'PUT', headers: { 'Content-Type': 'application/json', Cookie: jar, ...headers },
    body: JSON.stringify({ name: '不该存在', account: { name: '不该存在', number: '6222020200112233000' } }) });
  const noToken = await put({});
  assert.equal(noToken.status, 403);
  assert.equal((await noToken.json()).code, 'CSRF_REQUIRED');
  const otherOrigin = await put({ 'X-CSRF-Token': s.csrf, Origin: 'http://evil.example' });
  assert.equal(otherOrigin.status, 403);
  assert.equal((await otherOrigin.json()).code, 'CROSS_ORIGIN');
  // The same from the page itself, but without the token: refused too.
  const fromPage = await page.evaluate(async () => (await fetch('/v1/ops/payers/evil-payer', { method: 'PUT', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ name: '不该存在', account: { name: '不该存在', number: '6222020200112233000' } }) })).status);
  assert.equal(fromPage, 403);

  await page.getByRole('button', { name: '退出 sign out' }).click();
  await page.waitForSelector('#sign-in:not([hidden])');
  const after = await put({ 'X-CSRF-Token': s.csrf });
  assert.equal(after.status, 401);
  const { payers } = await ops('GET', '/v1/ops/payers');
  assert.ok(!payers.some((p) => p.payerId === 'evil-payer'), 'nothing was created');
});
