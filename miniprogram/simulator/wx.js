// A wx for the browser: wx.request is fetch; the phone's own calls (login, the face scan, WeChat Pay's confirm
// page) are played by the sandbox's phone endpoints, with the outcome the simulator's controls choose.
// base is dev's address: '' on the simulator page (same origin), the API's URL in node's tests.
async function post(base, path, body) {
  const r = await fetch(`${base}/simulator/phone${path}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  return r.json();
}

const settle = (res, success, fail) => (/:ok$/.test(res.errMsg || '') ? success(res) : fail(res));

export function sandboxWx({ base = '', openid, faceOutcome, transferAction }) {
  return {
    request({ url, method, data, header, success, fail }) {
      const init = { method, headers: header };
      if (method !== 'GET' && data !== undefined) init.body = JSON.stringify(data);
      fetch(url, init)
        .then(async (r) => {
          const text = await r.text();
          let body = text;
          try { body = JSON.parse(text); } catch { /* not JSON: handed over as text */ }
          success({ statusCode: r.status, data: body, header: Object.fromEntries(r.headers.entries()) });
        })
        .catch((err) => fail({ errMsg: `request:fail ${err.message}` }));
    },
    login({ success, fail }) {
      post(base, '/sandbox/wx/login', { openid: openid() }).then((r) => (r.code ? success({ code: r.code, errMsg: 'login:ok' }) : fail(r)), fail);
    },
    requestFacialVerify({ verifyId, success, fail }) {
      post(base, '/sandbox/face/v2/verify', { verifyId, outcome: faceOutcome() }).then((r) => settle(r, success, fail), fail);
    },
    startFacialRecognitionVerify({ userIdKey, success, fail }) {
      post(base, '/sandbox/face/v1/scan', { userIdKey, openid: openid(), outcome: faceOutcome() }).then((r) => settle(r, success, fail), fail);
    },
    requestMerchantTransfer({ mchId, appId, package: pkg, success, fail }) {
      const action = transferAction();
      const reason = action === 'fail' ? 'ACCOUNT_FROZEN' : '';
      post(base, '/sandbox/pay/confirm', { mchId, appId, package: pkg, action, reason, callback: 'normal' }).then((r) => settle(r, success, fail), fail);
    },
  };
}

// expireBill plays 24 hours without the payee's confirm.
export function expireBill(outBillNo, base = '') {
  return post(base, '/sandbox/pay/expire', { outBillNo, callback: 'normal' });
}
