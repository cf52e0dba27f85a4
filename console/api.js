// The console's calls: every one an /v1/ops route on this server. The session is an HttpOnly cookie the page never
// sees; a write carries the session's CSRF token, which only this page was given.
let csrf = '';

export function setCSRF(token) {
  csrf = token || '';
}

export class APIError extends Error {
  constructor(status, body) {
    super(`${body.message || 'error'} (${body.code || status})`);
    this.status = status;
    this.code = body.code;
  }
}

export async function call(method, path, body) {
  const headers = {};
  if (method !== 'GET') headers['X-CSRF-Token'] = csrf;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(path, { method, headers, credentials: 'same-origin', body: body === undefined ? undefined : JSON.stringify(body) });
  if (r.status === 204) return null;
  const type = r.headers.get('Content-Type') || '';
  const data = type.includes('application/json') ? await r.json() : await r.text();
  if (!r.ok) throw new APIError(r.status, typeof data === 'object' ? data : { message: data });
  return data;
}

export const get = (path) => call('GET', path);
export const post = (path, body) => call('POST', path, body);
export const put = (path, body) => call('PUT', path, body);
export const del = (path) => call('DELETE', path);

// yuan formats integer fen as 元 exactly (no floating point): 150000 → "1,500.00", -4200 → "-42.00".
export function yuan(fen) {
  const n = BigInt(fen ?? 0);
  const neg = n < 0n;
  const abs = neg ? -n : n;
  const whole = (abs / 100n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  const cents = (abs % 100n).toString().padStart(2, '0');
  return `${neg ? '-' : ''}${whole}.${cents}`;
}

// beijing shows a time in Beijing (the books' zone), to the second.
export function beijing(t) {
  if (!t || t.startsWith('0001-')) return '';
  return new Date(t).toLocaleString('zh-CN', { timeZone: 'Asia/Shanghai', hour12: false });
}
