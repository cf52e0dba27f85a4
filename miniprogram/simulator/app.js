import { createClient } from './kit/index.js';
import { expireBill, sandboxWx } from './wx.js';

const $ = (id) => document.getElementById(id);
let payee = null; // {openid, orderId}
let client = null;
let view = null;
let poll = null;

const wx = sandboxWx({
  openid: () => payee.openid,
  faceOutcome: () => $('face-outcome').value,
  transferAction: () => $('transfer-action').value,
});

function choose(openid, orderId) {
  payee = { openid, orderId };
  client = createClient({ wx, baseURL: location.origin });
  $('who').textContent = `${openid} · order ${orderId}`;
  $('hooks').replaceChildren();
  showHooks();
  notice('');
  show({ state: 'START' });
}

// showHooks lists the webhooks the merchant's receiver got for the chosen order, oldest first, every second.
let hooksPoll = null;
async function showHooks() {
  clearTimeout(hooksPoll);
  if (!payee) return;
  try {
    const r = await fetch('/simulator/merchant/hooks');
    const { received } = await r.json();
    const mine = received.filter((h) => h.body && h.body.data && h.body.data.orderId === payee.orderId).reverse();
    $('hooks').replaceChildren(...mine.map((h) => {
      const li = document.createElement('li');
      li.textContent = `${new Date(h.at).toLocaleTimeString('zh-CN', { hour12: false })} ${h.type} ${h.verified ? '✓ verified' : '✗ not verified'}`;
      li.title = h.webhookId;
      Object.assign(li.dataset, { type: h.type, verified: String(h.verified) });
      return li;
    }));
  } catch {
    // the next poll tries again
  }
  hooksPoll = setTimeout(showHooks, 1000);
}

function notice(text) {
  $('notice').textContent = text || '';
}

// show renders a view with the kit's own state helper; before the first tap the page offers the tap.
function show(v) {
  view = v;
  const r = v.state === 'START'
    ? { state: '-', title: '确认收款', messages: [], amounts: null, action: 'open', button: '确认收款' }
    : client.render(v);
  $('sheet').dataset.state = r.state;
  $('state').textContent = r.state;
  $('title').textContent = r.title;
  $('amounts').hidden = !r.amounts;
  if (r.amounts) {
    $('gross').textContent = r.amounts.gross;
    // Nothing withheld reads ¥0.00, not "-¥0.00".
    $('tax').textContent = r.amounts.tax === '0.00' ? '¥0.00' : `-¥${r.amounts.tax}`;
    $('net').textContent = r.amounts.net;
  }
  $('messages').replaceChildren(...r.messages.map((m) => Object.assign(document.createElement('li'), { textContent: m })));
  const button = $('action');
  button.hidden = !r.button;
  button.textContent = r.button;
  button.dataset.action = r.action;
  button.disabled = false;
  clearTimeout(poll);
  if (r.action === 'wait') poll = setTimeout(refresh, 500);
}

async function refresh() {
  try {
    show(await client.view(payee.orderId));
  } catch (e) {
    notice(e.message);
    poll = setTimeout(refresh, 1000);
  }
}

async function act() {
  const button = $('action');
  button.disabled = true;
  notice('');
  try {
    switch (button.dataset.action) {
      case 'open':
        show(await client.open(payee.orderId));
        break;
      case 'face': {
        const res = await client.verifyFace(payee.orderId);
        await refresh();
        // The sheet may already say it (the third failure's manual review): say it once.
        if (!res.passed && !$('messages').textContent.includes(res.message)) notice(res.message);
        break;
      }
      case 'confirm':
        show(await client.confirm(payee.orderId));
        break;
      case 'receive': {
        const res = await client.receive(payee.orderId, view);
        notice(res.message);
        show(res.view);
        break;
      }
      default:
        await refresh();
    }
  } catch (e) {
    notice(e.message);
    button.disabled = false;
  }
}

$('action').addEventListener('click', act);
$('use-demo').addEventListener('click', () => {
  const [openid, orderId] = $('demo').value.split('|');
  choose(openid, orderId);
});
// From 2,000 元 the large-payment rule asks for face verification whatever the box says: show it.
const largePaymentFen = 200000;
$('new-amount').addEventListener('input', () => {
  const large = Math.round(Number($('new-amount').value) * 100) >= largePaymentFen;
  $('new-face').disabled = large;
  if (large) $('new-face').checked = true;
});
$('create').addEventListener('click', async () => {
  const grossFen = Math.round(Number($('new-amount').value) * 100);
  const r = await fetch('/simulator/seed', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ grossFen, face: $('new-face').checked }) });
  const body = await r.json();
  if (!r.ok) {
    notice(body.message);
    return;
  }
  choose(body.openid, body.orderId);
});
$('expire').addEventListener('click', async () => {
  if (view && view.payout) {
    await expireBill(view.payout.outBillNo);
    setTimeout(refresh, 300);
  }
});
