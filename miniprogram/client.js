// The 确认收款 page's client: every call the page makes to receiptflow's API and to WeChat, with `wx` injected so
// the same code runs in the mini-program, in node's tests (a fake wx) and in the simulator (wx played by the
// sandbox's phone).
import { faceFailMessage, networkMessage, transferFailMessage } from './messages.js';
import { render } from './states.js';

// promisify turns a wx.* call with success/fail callbacks into a promise that always resolves:
// {ok: true, res} or {ok: false, err}.
export function call(wx, name, args = {}) {
  return new Promise((resolve) => {
    wx[name]({ ...args, success: (res) => resolve({ ok: true, res }), fail: (err) => resolve({ ok: false, err }) });
  });
}

function newKey() {
  const hex = '0123456789abcdef';
  let k = 'k-';
  for (let i = 0; i < 24; i += 1) k += hex[Math.floor(Math.random() * 16)];
  return k;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export class APIError extends Error {
  constructor(status, body) {
    super((body && (body.message || body.errmsg)) || networkMessage);
    this.status = status;
    this.code = body && body.code;
    this.body = body;
  }
}

// createClient: baseURL is the API's address; retries is how often a 502/503/504 or a lost connection is tried
// again (after Retry-After, at most retryCapMs).
export function createClient({ wx, baseURL, retries = 3, retryCapMs = 2000 }) {
  let token = '';

  async function once(method, path, data, key) {
    const header = { 'Content-Type': 'application/json' };
    if (token) header.Authorization = `Bearer ${token}`;
    if (key) header['Idempotency-Key'] = key;
    const r = await call(wx, 'request', { url: baseURL + path, method, data, header });
    if (!r.ok) return { status: 0, data: null, header: {} };
    return { status: r.res.statusCode, data: r.res.data, header: r.res.header || {} };
  }

  // request: one logical call. A POST keeps one Idempotency-Key through its retries, so a retried tap or confirm
  // is the same step to the server. A 401 logs in again once.
  async function request(method, path, data) {
    const key = method === 'POST' ? newKey() : '';
    let relogged = false;
    for (let attempt = 0; ; attempt += 1) {
      const a = await once(method, path, data, key);
      if (a.status === 401 && path !== '/v1/session' && !relogged) {
        relogged = true;
        await login();
        attempt -= 1;
        continue;
      }
      const transient = a.status === 0 || a.status === 502 || a.status === 503 || a.status === 504;
      if (transient && attempt < retries) {
        const after = Number(a.header['Retry-After'] || a.header['retry-after'] || 0) * 1000;
        await sleep(Math.min(after || 200 * 2 ** attempt, retryCapMs));
        continue;
      }
      if (a.status >= 200 && a.status < 300) return a.data;
      throw new APIError(a.status, a.data);
    }
  }

  async function login() {
    const r = await call(wx, 'login');
    if (!r.ok) throw new APIError(0, { message: networkMessage });
    token = '';
    const s = await request('POST', '/v1/session', { code: r.res.code });
    token = s.token;
    return token;
  }

  const receipt = (orderId) => `/v1/receipts/${encodeURIComponent(orderId)}`;

  async function ensureLogin() {
    if (!token) await login();
  }

  // verifyFace runs one face verification: the credential, WeChat's scan, then the server's own check (二次校验).
  // It answers {passed, message, attemptsLeft, state}.
  async function verifyFace(orderId) {
    await ensureLogin();
    const cred = await request('POST', `${receipt(orderId)}/face/session`, {});
    let submit;
    if (cred.mode === 'v1') {
      const scan = await call(wx, 'startFacialRecognitionVerify', { userIdKey: cred.userIdKey, checkAliveType: 2 });
      if (!scan.ok) return { passed: false, message: faceFailMessage('v1', scan.err), attemptsLeft: cred.attemptsLeft };
      submit = { verifyResult: scan.res.verifyResult };
    } else {
      const scan = await call(wx, 'requestFacialVerify', { verifyId: cred.verifyId });
      if (!scan.ok) return { passed: false, message: faceFailMessage('v2', scan.err), attemptsLeft: cred.attemptsLeft };
      submit = { verifyId: cred.verifyId };
    }
    const res = await request('POST', `${receipt(orderId)}/face/result`, submit);
    return { passed: res.passed === true, message: res.passed ? '' : res.errmsg, attemptsLeft: res.attemptsLeft, state: res.state };
  }

  // receive opens WeChat's confirm page with the view's payout.confirm, then tells the server the payee is back.
  // Closing the page keeps the bill waiting: {view, message} says so.
  async function receive(orderId, view) {
    await ensureLogin();
    const c = view && view.payout && view.payout.confirm;
    if (!c) return { view, message: '' };
    const r = await call(wx, 'requestMerchantTransfer', { mchId: c.mchId, appId: c.appId, package: c.package });
    const after = await request('POST', `${receipt(orderId)}/transfer/confirmed`, {});
    return { view: after, message: r.ok ? '' : transferFailMessage(r.err) };
  }

  // open is the tap on 确认收款: it starts the run (or finds it) and answers the view.
  async function open(orderId) {
    await ensureLogin();
    return request('POST', receipt(orderId), {});
  }

  async function view(orderId) {
    await ensureLogin();
    return request('GET', receipt(orderId));
  }

  // confirm is 确认收款 on the 金额明细 sheet: tax withheld, the bill created.
  async function confirm(orderId) {
    await ensureLogin();
    return request('POST', `${receipt(orderId)}/confirm`, {});
  }

  return {
    login,
    get token() {
      return token;
    },
    open,
    view,
    confirm,
    verifyFace,
    receive,
    render,
  };
}
