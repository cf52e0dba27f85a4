import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createClient, render, yuan } from '../index.js';
import { apiGetUserIdKey, apiVerifyFace, configure } from '../legacy/nature.js';
import { fakeWx } from './fake-wx.js';

const base = 'http://api.test';
const session = (method, path) => (path === '/v1/session' ? { status: 200, body: { token: 'tok-1' } } : null);

test('yuan: fen to 元 with two decimals and thousands', () => {
  assert.equal(yuan(0), '0.00');
  assert.equal(yuan(5), '0.05');
  assert.equal(yuan(795800), '7,958.00');
  assert.equal(yuan(123456789), '1,234,567.89');
  assert.equal(yuan(-4200), '-42.00');
});

test('render: every state says what to show and offers one action', () => {
  const amounts = { grossFen: 800000, taxFen: 4200, netFen: 795800 };
  const cases = [
    [{ state: 'AWAITING_CONFIRMATION', amounts }, '金额明细', 'confirm', '确认收款'],
    [{ state: 'FACE_REQUIRED', face: { attemptsLeft: 2 } }, '高危人群扫脸认证', 'face', '开始人脸核验'],
    [{ state: 'MANUAL_REVIEW' }, '人工审核中', 'wait', ''],
    [{ state: 'AWAITING_TRANSFER_CONFIRM', amounts }, '请在微信中确认收款', 'receive', '去微信确认收款'],
    [{ state: 'PAID', amounts }, '已收款', 'none', ''],
    [{ state: 'FAILED', reasons: [{ code: 'TRANSFER_FAIL', message: '超过24小时未确认收款，款项已退回' }] }, '收款失败', 'open', '重新确认收款'],
    [{ state: 'EXPIRED' }, '已超时', 'open', '重新确认收款'],
    [{ state: 'CANCELLED' }, '已取消', 'none', ''],
    [{ state: 'REJECTED', reasons: [{ code: 'FUNDS_NOT_ARRIVED', message: '付款企业的资金尚未到账，请稍后再试' }] }, '暂时无法收款', 'open', '重新核验'],
    [{ state: 'PAYING' }, '正在打款', 'wait', ''],
  ];
  for (const [view, title, action, button] of cases) {
    const r = render(view);
    assert.equal(r.title, title, view.state);
    assert.equal(r.action, action, view.state);
    assert.equal(r.button, button, view.state);
  }
  const paid = render({ state: 'PAID', amounts });
  assert.deepEqual(paid.amounts, { gross: '8,000.00', tax: '42.00', net: '7,958.00' });
  assert.deepEqual(paid.messages, ['¥7,958.00 已转入您的微信零钱']);
  assert.deepEqual(render({ state: 'FAILED', reasons: [{ code: 'TRANSFER_FAIL', message: '您已拒绝收款，款项已退回' }] }).messages, ['您已拒绝收款，款项已退回']);
  assert.deepEqual(render({ state: 'FACE_REQUIRED', face: { attemptsLeft: 2 } }).messages, ['为保障资金安全，请完成本人人脸核验（剩余 2 次）']);
  assert.deepEqual(render({ state: 'CANCELLED' }).messages, ['付款方已取消本笔款项']);
  // A pending view (the run did not answer in time) offers no action, whatever its state, and shows no amount it lacks.
  const pending = render({ state: 'AWAITING_CONFIRMATION', pending: true, amounts: { grossFen: 150000 } });
  assert.equal(pending.action, 'wait');
  assert.equal(pending.button, '');
  assert.deepEqual(pending.amounts, { gross: '1,500.00', tax: '', net: '' });
  assert.deepEqual(pending.messages, ['正在更新，请稍候']);
});

test('a 401 logs in again once and the call goes through', async () => {
  let sessions = 0;
  const wx = fakeWx((method, path, data, header) => {
    if (path === '/v1/session') return { status: 200, body: { token: `tok-${++sessions}` } };
    if (header.Authorization === 'Bearer tok-1') return { status: 401, body: { code: 'UNAUTHENTICATED', message: '请重新登录' } };
    return { status: 200, body: { state: 'AWAITING_CONFIRMATION' } };
  });
  const c = createClient({ wx, baseURL: base });
  const v = await c.view('o1');
  assert.equal(v.state, 'AWAITING_CONFIRMATION');
  assert.equal(sessions, 2);
  assert.equal(c.token, 'tok-2');
});

test('a retried POST keeps its Idempotency-Key; a 4xx is not retried and carries the server message', async () => {
  let taps = 0;
  const wx = fakeWx((method, path) => {
    const s = session(method, path);
    if (s) return s;
    if (path === '/v1/receipts/o1') {
      taps += 1;
      return taps < 3 ? { status: 503, body: { code: 'UNAVAILABLE', message: '服务暂时不可用，请稍后重试' }, header: { 'Retry-After': '0' } } : { status: 200, body: { state: 'CHECKING' } };
    }
    return { status: 409, body: { code: 'WRONG_STATE', message: '当前状态不能确认收款' } };
  });
  const c = createClient({ wx, baseURL: base, retryCapMs: 5 });
  assert.equal((await c.open('o1')).state, 'CHECKING');
  const keys = wx.calls.filter((x) => x.path === '/v1/receipts/o1').map((x) => x.header['Idempotency-Key']);
  assert.equal(keys.length, 3);
  assert.ok(keys[0]);
  assert.equal(new Set(keys).size, 1);
  await assert.rejects(c.confirm('o1'), (e) => e.status === 409 && e.code === 'WRONG_STATE' && e.message === '当前状态不能确认收款');
  assert.equal(wx.calls.filter((x) => x.path === '/v1/receipts/o1/confirm').length, 1);
});

test('a lost connection is retried, then reported in words the payee understands', async () => {
  const wx = fakeWx((method, path) => session(method, path) || { status: 200, body: {} });
  wx.request = ({ fail }) => fail({ errMsg: 'request:fail timeout' });
  const c = createClient({ wx, baseURL: base, retries: 1, retryCapMs: 1 });
  await assert.rejects(c.login(), (e) => e.status === 0 && e.message === '网络不稳定，请稍后重试');
});

test('verifyFace v2: credential, the scan, then the server check with the verifyId', async () => {
  const wx = fakeWx((method, path, data) => {
    const s = session(method, path);
    if (s) return s;
    if (path.endsWith('/face/session')) return { status: 200, body: { errcode: 0, errmsg: 'ok', mode: 'v2', verifyId: 'vid-9', attemptsLeft: 3 } };
    if (path.endsWith('/face/result')) {
      assert.deepEqual(data, { verifyId: 'vid-9' });
      return { status: 200, body: { passed: false, errmsg: '人脸与身份证照片不一致', attemptsLeft: 2, state: 'FACE_REQUIRED' } };
    }
    return { status: 404, body: {} };
  });
  const c = createClient({ wx, baseURL: base });
  const r = await c.verifyFace('o1');
  assert.deepEqual(r, { passed: false, message: '人脸与身份证照片不一致', attemptsLeft: 2, state: 'FACE_REQUIRED' });
  assert.deepEqual(wx.calls.find((x) => x.wx === 'requestFacialVerify'), { wx: 'requestFacialVerify', verifyId: 'vid-9' });
});

test('verifyFace v1: a cancelled scan is not submitted and says so', async () => {
  const wx = fakeWx(
    (method, path) => session(method, path) || (path.endsWith('/face/session') ? { status: 200, body: { errcode: 0, mode: 'v1', userIdKey: 'uk-1', attemptsLeft: 3 } } : { status: 500, body: {} }),
    { face: { ok: false, err: { errCode: 90100, errMsg: 'startFacialRecognitionVerify:fail cancel' } } },
  );
  const c = createClient({ wx, baseURL: base });
  const r = await c.verifyFace('o1');
  assert.equal(r.passed, false);
  assert.equal(r.message, '您已取消人脸核验，可再次点击开始');
  assert.equal(wx.calls.filter((x) => x.path && x.path.endsWith('/face/result')).length, 0);
});

test('receive: the confirm page with payout.confirm, then transfer/confirmed; closing the page keeps the bill', async () => {
  const wx = fakeWx(
    (method, path) => session(method, path) || { status: 200, body: { state: 'AWAITING_TRANSFER_CONFIRM' } },
    { transfer: { ok: false, err: { errMsg: 'requestMerchantTransfer:fail cancel' } } },
  );
  const c = createClient({ wx, baseURL: base });
  const view = { state: 'AWAITING_TRANSFER_CONFIRM', payout: { confirm: { mchId: 'm', appId: 'a', package: 'pkg-1' } } };
  const r = await c.receive('o1', view);
  assert.equal(r.message, '您尚未确认收款，可再次点击确认收款');
  assert.equal(r.view.state, 'AWAITING_TRANSFER_CONFIRM');
  assert.deepEqual(wx.calls.find((x) => x.wx === 'requestMerchantTransfer'), { wx: 'requestMerchantTransfer', package: 'pkg-1' });
  assert.ok(wx.calls.some((x) => x.path === '/v1/receipts/o1/transfer/confirmed'));
});

test('legacy nature.js never hands the page "ok" as an error', async () => {
  let answer;
  const wx = fakeWx(() => answer);
  configure({ wx, baseURL: base, token: () => 't', orderId: () => 'o1' });
  answer = { status: 200, body: { errcode: 0, errmsg: 'ok', mode: 'v2', verifyId: 'vid-1' } };
  assert.deepEqual(await apiGetUserIdKey({ source: 1 }), { errcode: -1, errmsg: '请更新小程序后重试' });
  answer = { status: 426, body: { code: 'CLIENT_OUTDATED', message: '请更新小程序后重试', errcode: -1, errmsg: '请更新小程序后重试' } };
  assert.equal((await apiGetUserIdKey({ source: 1 })).errmsg, '请更新小程序后重试');
  answer = { status: 502, body: { code: 'X', message: 'ok', errcode: 5, errmsg: 'ok' } };
  assert.equal((await apiVerifyFace({ verifyResult: 'r' })).errmsg, '网络不稳定，请稍后重试');
  answer = { status: 200, body: { errcode: 0, errmsg: 'ok', mode: 'v1', userIdKey: 'uk' } };
  assert.equal((await apiGetUserIdKey({ source: 1 })).userIdKey, 'uk');
  assert.equal(wx.calls.at(-1).data.source, 1);
});
