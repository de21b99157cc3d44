/**
 * Browser tests: headless Chromium loads dist/ as plain ES modules (no bundler, no Node built-ins)
 *  - and runs an encrypted multiply → relinearize → rescale → rotate with the platform CSPRNG
 *    (`crypto.getRandomValues`) (index.html);
 *  - and bootstraps a ciphertext at a small ring (bootstrap.html);
 *  - in a cross-origin-isolated page, creates a 2-thread `WorkerPool` over module Web Workers and
 *    checks relinearize, rotate, mulRelinRescale and key generation against one thread (bit for
 *    bit) and against plaintext, and runs coarse tasks on both workers (pool.html).
 * Every response carries COOP `same-origin` and COEP `require-corp`, which make the page
 * cross-origin isolated (SharedArrayBuffer available). index.html computes synchronously once its
 * modules are loaded, and Chromium dumps the DOM when a virtual time budget is spent. Under virtual
 * time, messages from workers to the page are not delivered (seen with Chromium 150), so pool.html
 * runs in real time and holds the dump instead: it contains an image `/hold`, which delays the load
 * event (after which Chromium dumps) until the page requests `/release`. Runs when a Chromium binary is present
 * (Debian `chromium`, or VEIL_CHROMIUM=/path); skipped otherwise, except under CI=true, where a
 * missing browser fails the run.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, normalize } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = new URL('..', import.meta.url).pathname;
const chromium = process.env.VEIL_CHROMIUM ?? ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find((p) => existsSync(p));
const ready = chromium !== undefined && existsSync(join(root, 'dist/src/index.js'));
// In CI (`.ci/run` installs Debian's chromium) a missing browser is a failure, never a skip.
if (!ready && process.env.CI === 'true') {
  throw new Error(`browser tests cannot run: ${chromium === undefined ? 'no Chromium found (apt-get install chromium, or set VEIL_CHROMIUM)' : 'dist/ is not built (npm run build)'}`);
}

/**
 * Serves the repository (COOP/COEP on every response), loads `page` in headless Chromium and returns
 * the JSON in its `#out`; with `virtualTime`, under a virtual time budget, else once the load event
 * has fired (a `/hold` request is answered when the page requests `/release`, or after 150 s).
 */
async function runPage(page: string, virtualTime: boolean): Promise<Record<string, unknown>> {
  const held: http.ServerResponse[] = [];
  const server = http.createServer((req, res) => {
    const p = normalize(decodeURIComponent((req.url ?? '/').split('?')[0]));
    const file = join(root, p === '/' ? 'test/browser/index.html' : p);
    res.setHeader('cross-origin-opener-policy', 'same-origin');
    res.setHeader('cross-origin-embedder-policy', 'require-corp');
    if (p === '/hold') {
      held.push(res);
      setTimeout(() => res.end(), 150_000).unref();
      return;
    }
    if (p === '/release') {
      for (const r of [...held.splice(0), res]) r.end();
      return;
    }
    if (!file.startsWith(root) || !existsSync(file)) {
      res.statusCode = 404;
      res.end();
      return;
    }
    res.setHeader('content-type', file.endsWith('.js') ? 'text/javascript' : file.endsWith('.html') ? 'text/html' : 'application/octet-stream');
    res.end(readFileSync(file));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  try {
    const dom = await new Promise<string>((resolve, reject) => {
      execFile(chromium!, [
        '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', `--user-data-dir=/tmp/veil-chromium-${process.pid}`,
        ...(virtualTime ? ['--virtual-time-budget=120000'] : []), '--dump-dom', `http://127.0.0.1:${port}${page}`,
      ], { encoding: 'utf8', timeout: 180_000, maxBuffer: 1 << 24 }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
    });
    const m = /<pre id="out">([^<]*)<\/pre>/.exec(dom);
    expect(m, dom.slice(0, 500)).not.toBeNull();
    return JSON.parse(m![1].replace(/&quot;/g, '"').replace(/&amp;/g, '&')) as Record<string, unknown>;
  } finally {
    for (const r of held) r.end();
    server.close();
  }
}

describe.runIf(ready)('in a browser (headless Chromium)', () => {
  it('loads the engine as ES modules and computes on ciphertexts', async () => {
    const res = await runPage('/', true);
    expect(res.ok, res.error as string).toBe(true);
    expect(res.meanBits).toBeGreaterThan(14);
  }, 240_000);

  it('bootstraps a ciphertext (N = 2^10, full slots) with the precision it has in Node', async () => {
    const res = await runPage('/test/browser/bootstrap.html', true);
    expect(res.ok, res.error as string).toBe(true);
    expect(res.level).toBe(res.outputLevel);
    expect(res.meanBits).toBeGreaterThan(17);
  }, 240_000);

  it('runs a 2-thread WorkerPool on Web Workers in a cross-origin-isolated page, bit for bit as one thread', async () => {
    const res = await runPage('/test/browser/pool.html', false);
    expect(res.crossOriginIsolated).toBe(true);
    expect(res.ok, res.error as string).toBe(true);
    expect(res.mismatches).toEqual([]);
    expect(res.meanBits).toBeGreaterThan(14);
    expect(res.taskBits).toBeGreaterThan(14);
    expect(res.workers).toBe(2);
  }, 240_000);
});
