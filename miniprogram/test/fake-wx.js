// A fake wx for unit tests: wx.request goes to routes(method, path, body, header) → {status, body, header};
// the phone's calls answer what the test sets.
export function fakeWx(routes, phone = {}) {
  const calls = [];
  return {
    calls,
    request({ url, method, data, header, success }) {
      const path = new URL(url).pathname;
      calls.push({ method, path, data, header: { ...header } });
      Promise.resolve(routes(method, path, data, header)).then((a) =>
        success({ statusCode: a.status, data: a.body, header: a.header || {} }),
      );
    },
    login({ success }) {
      calls.push({ wx: 'login' });
      success({ code: `code-${calls.length}`, errMsg: 'login:ok' });
    },
    requestFacialVerify({ verifyId, success, fail }) {
      calls.push({ wx: 'requestFacialVerify', verifyId });
      (phone.face || { ok: true }).ok ? success({ errMsg: 'requestFacialVerify:ok' }) : fail(phone.face.err);
    },
    startFacialRecognitionVerify({ userIdKey, success, fail }) {
      calls.push({ wx: 'startFacialRecognitionVerify', userIdKey });
      (phone.face || { ok: true }).ok ? success({ errMsg: 'startFacialRecognitionVerify:ok', verifyResult: 'vr-1' }) : fail(phone.face.err);
    },
    requestMerchantTransfer(args) {
      calls.push({ wx: 'requestMerchantTransfer', package: args.package });
      (phone.transfer || { ok: true }).ok ? args.success({ errMsg: 'requestMerchantTransfer:ok' }) : args.fail(phone.transfer.err);
    },
  };
}
