// A drop-in for the 1.0 page's `@services/nature`: apiGetUserIdKey and apiVerifyFace with the seed's contract
// ({errcode, errmsg, userIdKey} and {identifyRet, errcode, errmsg}; pass only when identifyRet and errcode are
// both 0). Against a server in face mode v1 the old page works unchanged. Against a v2 server the credential
// cannot be run by wx.startFacialRecognitionVerify: the server answers a non-zero errcode with
// 请更新小程序后重试, and this module makes sure the page never shows a bare "ok" as an error.
//
//   import { configure, apiGetUserIdKey, apiVerifyFace } from '@services/nature'
//   configure({ wx, baseURL, token: () => app.token, orderId: () => page.data.orderId })
import { call } from '../client.js';
import { networkMessage } from '../messages.js';

const updateMessage = '请更新小程序后重试';
let opts = null;

export function configure(o) {
  opts = o;
}

async function post(path, data) {
  if (!opts) throw new Error('nature: configure({wx, baseURL, token, orderId}) first');
  const url = `${opts.baseURL}/v1/receipts/${encodeURIComponent(opts.orderId())}${path}`;
  const r = await call(opts.wx, 'request', {
    url,
    method: 'POST',
    data,
    header: { 'Content-Type': 'application/json', Authorization: `Bearer ${opts.token()}` },
  });
  if (!r.ok || typeof r.res.data !== 'object' || r.res.data === null) return { errcode: -1, errmsg: networkMessage };
  return r.res.data;
}

// apiGetUserIdKey({source: 1}) → {userIdKey, errcode, errmsg}.
export async function apiGetUserIdKey(data = { source: 1 }) {
  const body = await post('/face/session', { source: 1, ...data });
  if (body.errcode === 0 && !body.userIdKey) {
    // A credential this page cannot use (a v2 verifyId from a server that did not say so).
    return { errcode: -1, errmsg: updateMessage };
  }
  if (body.errcode !== 0) {
    return { ...body, errcode: body.errcode || -1, errmsg: readable(body) };
  }
  return body;
}

// apiVerifyFace({verifyResult, source: 1}) → {identifyRet, errcode, errmsg}.
export async function apiVerifyFace(data) {
  const body = await post('/face/result', { source: 1, ...data });
  if (body.identifyRet === undefined) body.identifyRet = -1;
  if (body.errcode === undefined) body.errcode = -1;
  if (!(body.identifyRet === 0 && body.errcode === 0)) body.errmsg = readable(body);
  return body;
}

function readable(body) {
  const m = body.errmsg || body.message || '';
  return m && m.toLowerCase() !== 'ok' ? m : networkMessage;
}
