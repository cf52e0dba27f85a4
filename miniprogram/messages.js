// What the payee reads when a wx.* call fails on the phone. The server words its own answers (face/result's
// errmsg, the view's reasons); these cover what never reaches it.

// wx.startFacialRecognitionVerify (1.0) errCodes.
const faceV1 = {
  90100: '您已取消人脸核验，可再次点击开始',
  90101: '当前设备无法完成人脸核验，请更换设备后重试',
  90002: '人脸核验未通过，请在光线充足处正对手机重试',
  10001: '人脸核验参数错误，请退出后重试',
};

// wx.requestFacialVerify (2.0) errCodes.
const faceV2 = {
  10041: '人脸核验凭证已失效，请重新开始',
  '-1': '请使用本人微信完成人脸核验',
};

export function faceFailMessage(mode, err) {
  const code = err && err.errCode;
  const table = mode === 'v1' ? faceV1 : faceV2;
  if (code !== undefined && table[code]) return table[code];
  if (err && /cancel/.test(err.errMsg || '')) return '您已取消人脸核验，可再次点击开始';
  return '人脸核验未完成，请稍后重试';
}

// wx.requestMerchantTransfer: closing WeChat's confirm page leaves the bill waiting.
export function transferFailMessage(err) {
  if (err && /cancel/.test(err.errMsg || '')) return '您尚未确认收款，可再次点击确认收款';
  return '暂时无法打开微信收款页面，请稍后重试';
}

export const networkMessage = '网络不稳定，请稍后重试';
