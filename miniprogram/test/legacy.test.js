// The 1.0 page's calling sequence, run with legacy/nature.js against the real API (dev): in face mode v1 it
// passes as it always did; against a v2 server the payee reads 请更新小程序后重试, never "ok".
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { call, createClient } from '../index.js';
import { apiGetUserIdKey, apiVerifyFace, configure } from '../legacy/nature.js';
import { sandboxWx } from '../simulator/wx.js';
import { seed, startDev } from './dev.js';

// legacyPage is the 1.0 page's face step as written: it shows errmsg whenever a call does not pass.
async function legacyPage(wx) {
  const support = await call(wx, 'checkIsSupportFacialRecognition', { checkAliveType: 2 });
  if (!support.ok) return { shown: '设备不支持人脸核验' };
  const key = await apiGetUserIdKey({ source: 1 });
  if (key.errcode !== 0) return { shown: key.errmsg };
  const scan = await call(wx, 'startFacialRecognitionVerify', { userIdKey: key.userIdKey, checkAliveType: 2 });
  if (!scan.ok) return { shown: scan.err.errMsg };
  const res = await apiVerifyFace({ verifyResult: scan.res.verifyResult, source: 1 });
  if (res.identifyRet === 0 && res.errcode === 0) return { passed: true };
  return { shown: res.errmsg };
}

async function payeeAt(dev, outcome) {
  const p = await seed(dev.api, 800000, true);
  const wx = sandboxWx({ base: dev.api, openid: () => p.openid, faceOutcome: () => outcome, transferAction: () => 'accept' });
  wx.checkIsSupportFacialRecognition = ({ success }) => success({ errMsg: 'checkIsSupportFacialRecognition:ok' });
  const client = createClient({ wx, baseURL: dev.api });
  const v = await client.open(p.orderId);
  assert.equal(v.state, 'FACE_REQUIRED');
  configure({ wx, baseURL: dev.api, token: () => client.token, orderId: () => p.orderId });
  return { p, wx, client };
}

for (const mode of ['v1', 'v2']) {
  describe(`the 1.0 page on a ${mode} server`, () => {
    let dev;
    before(async () => {
      dev = await startDev({ RECEIPTFLOW_FACE_MODE: mode });
    });
    after(() => dev && dev.stop());

    if (mode === 'v1') {
      test('a pass passes, and the run waits for the confirm', async () => {
        const { p, wx, client } = await payeeAt(dev, 'pass');
        assert.deepEqual(await legacyPage(wx), { passed: true });
        assert.equal((await client.view(p.orderId)).state, 'AWAITING_CONFIRMATION');
      });
      test('a mismatch shows why, in words', async () => {
        const { wx } = await payeeAt(dev, 'mismatch_face');
        const r = await legacyPage(wx);
        assert.ok(r.shown && r.shown !== 'ok' && /[\u4e00-\u9fa5]/.test(r.shown), JSON.stringify(r));
      });
    } else {
      test('the payee is told to update the mini-program', async () => {
        const { p, wx, client } = await payeeAt(dev, 'pass');
        assert.deepEqual(await legacyPage(wx), { shown: '请更新小程序后重试' });
        // Nothing was used up: the kit passes right after.
        const res = await client.verifyFace(p.orderId);
        assert.equal(res.passed, true);
      });
    }
  });
}
