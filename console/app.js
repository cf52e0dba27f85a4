import { APIError, beijing, del, get, post, put, setCSRF, yuan } from './api.js';

const $ = (id) => document.getElementById(id);
let webUI = '';
let newSecret = null; // a payer's secret just made: the payers page shows it once, then forgets it

// el builds an element: el('td', {class: 'fen'}, '1,500.00', child…).
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? '' : v);
  }
  e.append(...children.flat().filter((c) => c !== undefined && c !== null).map((c) => (c instanceof Node ? c : document.createTextNode(String(c)))));
  return e;
}

function table(headers, rows, empty = '（无 none）') {
  if (rows.length === 0) return el('p', { class: 'muted' }, empty);
  return el('table', {}, el('thead', {}, el('tr', {}, headers.map((h) => el('th', {}, h)))), el('tbody', {}, rows));
}

const fen = (v) => el('td', { class: 'fen' }, `¥${yuan(v)}`);

function flash(text, isError = false) {
  const f = $('flash');
  f.textContent = text || '';
  f.classList.toggle('error', isError);
}

// act runs an action, shows the page again and then says how it went; keep sees the answer first.
async function act(fn, done, keep) {
  try {
    const r = await fn();
    if (keep) keep(r);
    await show();
    flash(done); // once the page shows the result: what it says is what was done
    return r;
  } catch (e) {
    flash(e.message, true);
    if (e instanceof APIError && e.status === 401) signedOut();
    return undefined;
  }
}

function runLink(item) {
  if (!webUI || !item.webUiPath) return '';
  return el('a', { href: webUI + item.webUiPath, target: '_blank', rel: 'noopener' }, '在 Web UI 中查看 run');
}

const pages = {
  async reviews() {
    const { reviews } = await get('/v1/ops/reviews');
    return [el('h2', {}, '人工审核 Manual review (MANUAL_REVIEW)'), table(['订单 order', '付款方 payer', '应发 gross', '代扣 tax', '实发 net', '人脸 face', '规则 rules', '等待自 since', '说明 details', '决定 decide'],
      reviews.map((r) => {
        const v = r.view || {};
        const a = v.amounts || {};
        const note = el('input', { type: 'text', placeholder: '备注 note（必填）', 'aria-label': `note for ${r.orderId}` });
        const decide = (approve) => act(() => post(`/v1/ops/receipts/${r.orderId}/review`, { approve, note: note.value }),
          `${r.orderId}: ${approve ? '已批准 approved' : '已拒绝 rejected'}`);
        return el('tr', { dataset: { order: r.orderId } },
          el('td', {}, el('code', {}, r.orderId)), el('td', {}, r.payerId), fen(a.grossFen ?? r.grossFen), fen(a.taxFen), fen(a.netFen),
          el('td', {}, v.face ? `${v.face.attemptsUsed}/${v.face.attemptsAllowed} 次失败 failed (${v.face.lastOutcome || '-'})` : ''),
          el('td', {}, ((v.risk && v.risk.rules) || []).join(', ')), el('td', {}, beijing(r.since)), el('td', {}, el('pre', {}, r.details), runLink(r)),
          el('td', {}, note, ' ', el('button', { class: 'primary', onclick: () => decide(true) }, '批准 approve'), ' ',
            el('button', { class: 'danger', onclick: () => decide(false) }, '拒绝 reject')));
      }), '审核队列为空 (no run waits for a review)')];
  },

  async payouts() {
    const p = await get('/v1/ops/payouts');
    const rows = (list, cancel) => list.map((r) => el('tr', { dataset: { order: r.orderId } },
      el('td', {}, el('code', {}, r.orderId)), el('td', {}, r.payerId), fen(r.grossFen), el('td', {}, r.state), el('td', {}, beijing(r.since)),
      el('td', {}, el('pre', {}, r.details), runLink(r)),
      el('td', {}, cancel ? el('button', { class: 'danger', onclick: () => act(() => post(`/v1/ops/receipts/${r.orderId}/cancel`, { reason: '运营撤销 cancelled by operations' }), `${r.orderId}: 已请求撤销 cancel asked`) }, '撤销 cancel') : '')));
    const head = ['订单 order', '付款方 payer', '应发 gross', '状态 state', '自 since', '原因 why', ''];
    return [el('h2', {}, '转账 Payouts'),
      el('h3', {}, '卡住的转账 Stuck (WeChat Pay keeps refusing: PayoutRetrying)'), el('div', { id: 'stuck' }, table(head, rows(p.stuck, true))),
      el('h3', {}, '等待收款人确认超过一天 Waiting for the payee for more than a day'), table(head, rows(p.waiting, true)),
      el('h3', {}, '今天失败 Failed today (Beijing)'), table(head, rows(p.failed, false))];
  },

  async reconciliation() {
    const { reconciliations } = await get('/v1/ops/reconciliations');
    const out = [el('h2', {}, '对账 Reconciliation with WeChat Pay')];
    const from = el('input', { type: 'text', placeholder: '2026-12-01T00:00:00+08:00', 'aria-label': 'from' });
    const to = el('input', { type: 'text', placeholder: '2026-12-02T00:00:00+08:00', 'aria-label': 'to' });
    out.push(el('form', { class: 'inline', onsubmit: (e) => { e.preventDefault(); act(() => post('/v1/ops/reconciliations', { from: from.value, to: to.value }), '对账已开始 started'); } },
      el('label', {}, '从 from', from), el('label', {}, '到 to', to), el('button', { type: 'submit' }, '开始对账 start a window')));
    out.push(table(['对账 id', '窗口 window', '状态 state', '账单 bills', '差异 findings', '我方已付 our paid', '微信已付 WeChat paid'],
      reconciliations.map((r) => el('tr', {}, el('td', {}, el('code', {}, r.id)), el('td', {}, `${beijing(r.from)} – ${beijing(r.to)}`), el('td', {}, r.state),
        el('td', {}, r.bills), el('td', {}, r.findings), fen(r.ourPaidFen), fen(r.wechatPaidFen)))));
    for (const r of reconciliations.filter((x) => x.findings > 0).slice(0, 5)) {
      const { findings } = await get(`/v1/ops/reconciliations/${r.id}`);
      out.push(el('h3', {}, `差异 Findings of ${r.id}`), table(['转账单 bill', '类别 kind', '我方 ours', '微信 WeChat Pay', '说明 detail', '处理 resolution'],
        findings.map((f) => {
          const why = el('input', { type: 'text', placeholder: '处理说明 resolution', 'aria-label': `resolution for ${f.outBillNo}` });
          return el('tr', { dataset: { bill: f.outBillNo } }, el('td', {}, el('code', {}, f.outBillNo)), el('td', {}, f.kind),
            el('td', {}, `${f.ourState} ¥${yuan(f.ourAmountFen)}`), el('td', {}, `${f.wechatState} ¥${yuan(f.wechatAmountFen)}`), el('td', {}, f.detail || ''),
            el('td', {}, f.resolvedBy ? `${f.resolution}（${f.resolvedBy}, ${beijing(f.resolvedAt)}）`
              : [why, ' ', el('button', { onclick: () => act(() => post(`/v1/ops/reconciliations/${r.id}/findings/${f.outBillNo}/resolve`, { resolution: why.value }), `${f.outBillNo}: 已处理 resolved`) }, '处理 resolve')]));
        })));
    }
    return out;
  },

  async exports() {
    const { exports } = await get('/v1/ops/exports');
    const period = el('input', { type: 'text', placeholder: '2026-11', 'aria-label': 'period' });
    const quarter = el('input', { type: 'text', placeholder: '2026Q3', 'aria-label': 'quarter' });
    return [el('h2', {}, '扣缴申报与涉税信息报送 Filings and reports'),
      el('form', { class: 'inline', onsubmit: (e) => { e.preventDefault(); act(() => post('/v1/ops/filings', { period: period.value }), '申报已开始 filing started'); } },
        el('label', {}, '月份 period', period), el('button', { type: 'submit' }, '生成扣缴申报 file the month')),
      el('form', { class: 'inline', onsubmit: (e) => { e.preventDefault(); act(() => post('/v1/ops/platform-reports', { quarter: quarter.value }), '报送已开始 report started'); } },
        el('label', {}, '季度 quarter', quarter), el('button', { type: 'submit' }, '生成季度报送 report the quarter')),
      table(['文件 file', '类别 kind', '期间 period', '行 rows', '收入 income', '税款 tax', '生成 created', '状态 status', ''],
        exports.map((x) => el('tr', { dataset: { export: x.id } }, el('td', {}, x.fileName), el('td', {}, x.kind), el('td', {}, x.period), el('td', {}, x.rows),
          fen(x.incomeFen), fen(x.taxFen), el('td', {}, `${beijing(x.createdAt)} ${x.createdBy}`),
          el('td', {}, x.supersededAt ? `已被取代 superseded: ${x.supersededReason}` : '有效 current'),
          el('td', {}, el('a', { href: `/v1/ops/exports/${x.id}`, download: x.fileName }, '下载 download')))))];
  },

  async payers() {
    const { payers } = await get('/v1/ops/payers');
    const f = { id: el('input', { type: 'text', 'aria-label': 'payer id' }), name: el('input', { type: 'text', 'aria-label': 'payer name' }),
      accName: el('input', { type: 'text', 'aria-label': 'account name' }), accNo: el('input', { type: 'text', 'aria-label': 'account number' }) };
    const order = el('input', { type: 'text', 'aria-label': 'order id' });
    const amount = el('input', { type: 'text', 'aria-label': 'amount fen' });
    const ref = el('input', { type: 'text', 'aria-label': 'bank reference' });
    const remName = el('input', { type: 'text', 'aria-label': 'remitter name' });
    const remAcc = el('input', { type: 'text', 'aria-label': 'remitter account' });
    const secretBox = el('p', { id: 'secret', class: 'secret', hidden: !newSecret },
      newSecret ? `${newSecret.who} 的新密钥（只显示这一次 shown once）: ${newSecret.secret}` : '');
    newSecret = null;
    const keepSecret = (r) => { if (r && r.secret) newSecret = { who: r.payerId, secret: r.secret }; };
    return [el('h2', {}, '付款方 Payers'), secretBox,
      el('form', { class: 'inline', onsubmit: (e) => {
        e.preventDefault();
        act(() => put(`/v1/ops/payers/${encodeURIComponent(f.id.value)}`, { name: f.name.value, account: { name: f.accName.value, number: f.accNo.value } }),
          `${f.id.value}: 已保存 saved`, keepSecret);
      } }, el('label', {}, '编号 id', f.id), el('label', {}, '名称 name', f.name), el('label', {}, '结算户名 account name', f.accName),
        el('label', {}, '结算账号 account number', f.accNo), el('button', { type: 'submit' }, '创建或更新 create or update')),
      table(['编号 id', '名称 name', '创建 created', ''], payers.map((p) => el('tr', { dataset: { payer: p.payerId } }, el('td', {}, el('code', {}, p.payerId)),
        el('td', {}, p.name), el('td', {}, beijing(p.createdAt)), el('td', {}, el('button', { onclick: () => act(() => post(`/v1/ops/payers/${p.payerId}/secret`),
          `${p.payerId}: 密钥已轮换 secret rotated`, keepSecret) }, '轮换密钥 rotate secret'))))),
      el('h3', {}, '到账登记 Funding received (finance, after the bank statement)'),
      el('form', { class: 'inline', onsubmit: (e) => {
        e.preventDefault();
        act(() => post(`/v1/ops/orders/${encodeURIComponent(order.value)}/funding`, { amountFen: Number(amount.value), reference: ref.value, remitter: { name: remName.value, account: remAcc.value } }), `${order.value}: 已登记 recorded`);
      } }, el('label', {}, '订单 order', order), el('label', {}, '金额（分）amount fen', amount), el('label', {}, '银行流水号 reference', ref),
        el('label', {}, '付款户名 remitter name', remName), el('label', {}, '付款账号 remitter account', remAcc), el('button', { type: 'submit' }, '登记 record'))];
  },

  async webhooks() {
    const { payers } = await get('/v1/ops/payers');
    const pick = el('select', { 'aria-label': 'payer' }, payers.map((p) => el('option', { value: p.payerId }, `${p.payerId} · ${p.name}`)));
    const box = el('div', { id: 'webhook' });
    const load = async () => {
      const id = pick.value;
      if (!id) return;
      box.replaceChildren(el('p', { class: 'muted' }, '…'));
      const parts = [];
      try {
        const ep = await get(`/v1/ops/payers/${id}/webhook`);
        parts.push(el('p', {}, `地址 endpoint: ${ep.url}　事件 events: ${ep.events.join(', ')}`, ep.disabledAt ? el('span', { class: 'error' }, `　已停用 disabled ${beijing(ep.disabledAt)}: ${ep.disabledReason}`) : ''));
      } catch (e) {
        parts.push(el('p', { class: 'muted' }, e.message));
      }
      const { deliveries } = await get(`/v1/ops/payers/${id}/webhook/deliveries`);
      parts.push(table(['事件 event', '类型 type', '订单 order', '状态 state', '尝试 attempts', '最近一次 last attempt', ''],
        deliveries.map((d) => {
          const last = d.log[d.log.length - 1];
          return el('tr', { dataset: { event: d.id } }, el('td', {}, el('code', {}, d.id)), el('td', {}, d.type), el('td', {}, el('code', {}, d.orderId)),
            el('td', {}, d.state), el('td', {}, d.attempts),
            el('td', {}, last ? `${beijing(last.at)} → ${last.status || '无应答 no answer'} (${last.durationMs} ms) ${last.answer.slice(0, 120)}` : ''),
            el('td', {}, el('button', { onclick: () => act(() => post(`/v1/ops/payers/${id}/webhook/deliveries/${d.id}/redeliver`), `${d.id}: 已重新发送 redelivering`) }, '重新发送 redeliver')));
        }), '尚无事件 no events yet'));
      box.replaceChildren(...parts);
    };
    pick.addEventListener('change', load);
    setTimeout(load);
    return [el('h2', {}, '商户通知 Merchant webhooks'), el('label', {}, '付款方 payer ', pick), box];
  },

  async schedules() {
    const { schedules } = await get('/v1/ops/schedules');
    return [el('h2', {}, '定时任务 Schedules'), table(['任务 schedule', '说明 what', 'cron (UTC)', '下次 next', '上次 last', ''],
      schedules.map((s) => el('tr', { dataset: { schedule: s.id } }, el('td', {}, el('code', {}, s.id)), el('td', {}, s.note), el('td', {}, el('code', {}, s.cron)),
        el('td', {}, beijing(s.nextRun)), el('td', {}, s.lastRun ? `${beijing(s.lastRun)} ${s.lastStatus || ''}` : '从未 never'),
        el('td', {}, el('button', { onclick: () => act(() => post(`/v1/ops/schedules/${s.id}/run`), `${s.id}: 已触发 triggered`) }, '立即运行 run now')))))];
  },
};

async function show() {
  const name = pages[location.hash.slice(1)] ? location.hash.slice(1) : 'reviews';
  for (const a of document.querySelectorAll('#tabs a')) a.classList.toggle('active', a.dataset.page === name);
  try {
    const content = await pages[name]();
    $('page').replaceChildren(...content);
    $('page').dataset.page = name;
  } catch (e) {
    if (e instanceof APIError && e.status === 401) return signedOut();
    $('page').replaceChildren(el('p', { class: 'error' }, e.message));
  }
  return undefined;
}

function signedIn(s) {
  setCSRF(s.csrf);
  webUI = s.webUI || '';
  $('operator').textContent = s.operator;
  $('sign-in').hidden = true;
  $('app').hidden = false;
  return show();
}

function signedOut() {
  setCSRF('');
  $('app').hidden = true;
  $('sign-in').hidden = false;
  $('token').focus();
}

$('sign-in-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  $('sign-in-error').textContent = '';
  try {
    const s = await post('/v1/console/session', { token: $('token').value });
    $('token').value = '';
    await signedIn(s);
  } catch (err) {
    $('sign-in-error').textContent = err.message;
  }
});
$('sign-out').addEventListener('click', async () => {
  try {
    await del('/v1/console/session');
  } finally {
    flash('');
    signedOut();
  }
});
window.addEventListener('hashchange', () => { flash(''); show(); });

get('/v1/console/session').then(signedIn, signedOut);
