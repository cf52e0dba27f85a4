// Starts `receiptflow dev` (built from this checkout) on free ports and a fresh data directory, for the tests
// that need the real API: the legacy page's sequence and the browser tests.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
let binary = '';

function build() {
  if (!binary) {
    binary = join(mkdtempSync(join(tmpdir(), 'receiptflow-bin-')), 'receiptflow');
    execFileSync('go', ['build', '-o', binary, './cmd/receiptflow'], { cwd: root, stdio: 'inherit' });
  }
  return binary;
}

// startDev resolves to {api, sandbox, operatorToken, stop()} once dev printed its summary.
export async function startDev(env = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'receiptflow-dev-'));
  const child = spawn(build(), ['dev'], {
    env: {
      ...process.env,
      RECEIPTFLOW_DATA_DIR: dir,
      RECEIPTFLOW_HTTP_PORT: '0',
      RECEIPTFLOW_UI_PORT: '0',
      RECEIPTFLOW_SANDBOX_PORT: '0',
      RECEIPTFLOW_TEMPORAL_ADDRESS: '127.0.0.1:0',
      RECEIPTFLOW_LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => { err += d; });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`dev did not start in 120 s:\n${out}\n${err}`)), 120000);
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('Walkthrough')) {
        clearTimeout(timer);
        resolve();
      }
    });
    exited.then((code) => reject(new Error(`dev exited with ${code}:\n${out}\n${err}`)));
  });
  const field = (re) => (out.match(re) || [])[1];
  return {
    api: field(/^\s*API\s+(http\S+)/m),
    sandbox: field(/^\s*WeChat sandbox\s+(http\S+)/m),
    ui: field(/^\s*Temporal Web UI\s+(http\S+)/m),
    operatorToken: field(/operator token\s+(\S+)/),
    async stop() {
      child.kill('SIGINT');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// seed onboards a new payee of the demo payer with one funded order (dev's simulator route).
export async function seed(api, grossFen, face) {
  const r = await fetch(`${api}/simulator/seed`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ grossFen, face }) });
  if (r.status !== 201) throw new Error(`seed: ${r.status} ${await r.text()}`);
  return r.json();
}
