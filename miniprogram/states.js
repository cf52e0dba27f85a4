// What the 确认收款 page renders for a receipt view: one place that knows every state, so the page stays a
// template. Amounts arrive in fen and are shown in 元 with two decimals.

export function yuan(fen) {
  const sign = fen < 0 ? '-' : '';
  const abs = Math.abs(fen);
  const whole = String(Math.floor(abs / 100)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${sign}${whole}.${String(abs % 100).padStart(2, '0')}`;
}

const titles = {
  CHECKING: '正在核验',
  REJECTED: '暂时无法收款',
  FACE_REQUIRED: '高危人群扫脸认证',
  MANUAL_REVIEW: '人工审核中',
  AWAITING_CONFIRMATION: '金额明细',
  PAYING: '正在打款',
  AWAITING_TRANSFER_CONFIRM: '请在微信中确认收款',
  PAID: '已收款',
  FAILED: '收款失败',
  EXPIRED: '已超时',
  CANCELLED: '已取消',
};

// render says what to show and which one action the page offers:
// open (tap 确认收款 again), face, confirm, receive (WeChat's confirm page), wait (poll), or none.
export function render(view) {
  const state = view.state;
  const out = {
    state,
    title: titles[state] || state,
    messages: (view.reasons || []).map((r) => r.message),
    amounts: null,
    action: 'none',
    button: '',
  };
  if (view.amounts) {
    const a = view.amounts;
    out.amounts = { gross: yuan(a.grossFen), tax: a.taxFen == null ? '' : yuan(a.taxFen), net: a.netFen == null ? '' : yuan(a.netFen) };
  }
  if (view.pending) {
    // The run did not answer in time (the server says what it knows): show the state, offer nothing, ask again.
    out.action = 'wait';
    out.messages.push('正在更新，请稍候');
    return out;
  }
  switch (state) {
    case 'CHECKING':
    case 'PAYING':
      out.action = 'wait';
      break;
    case 'FACE_REQUIRED': {
      const f = view.face || {};
      out.action = 'face';
      out.button = '开始人脸核验';
      out.messages.push(`为保障资金安全，请完成本人人脸核验（剩余 ${f.attemptsLeft ?? '-'} 次）`);
      break;
    }
    case 'MANUAL_REVIEW':
      out.action = 'wait';
      // The run says why it is in review; a view without a reason still tells the payee to wait.
      if (out.messages.length === 0) out.messages.push('人脸核验未通过，已转人工审核，请耐心等待审核结果');
      break;
    case 'AWAITING_CONFIRMATION':
      out.action = 'confirm';
      out.button = '确认收款';
      break;
    case 'AWAITING_TRANSFER_CONFIRM':
      out.action = 'receive';
      out.button = '去微信确认收款';
      break;
    case 'PAID':
      out.messages.push(`¥${out.amounts ? out.amounts.net : ''} 已转入您的微信零钱`);
      break;
    case 'FAILED':
    case 'EXPIRED':
      out.action = 'open';
      out.button = '重新确认收款';
      break;
    case 'CANCELLED':
      if (out.messages.length === 0) out.messages.push('付款方已取消本笔款项');
      break;
    case 'REJECTED':
      out.action = 'open';
      out.button = '重新核验';
      break;
  }
  return out;
}
