/**
 * Browser smoke test: headless Chromium loads dist/ as plain ES modules (no bundler, no Node
 * built-ins) and runs an encrypted multiply → relinearize → rescale → rotate with the platform
 * CSPRNG (`crypto.getRandomValues`). Runs when a Chromium binary is present (Debian `chromium`,
 * or VEIL_CHROMIUM=/path); skipped otherwise.
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

describe.runIf(ready)('in a browser (headless Chromium)', () => {
  it('loads the engine as ES modules and computes on ciphertexts', async () => {
    const server = http.createServer((req, res) => {
      const p = normalize(decodeURIComponent((req.url ?? '/').split('?')[0]));
      const file = join(root, p === '/' ? 'test/browser/index.html' : p);
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
          '--virtual-time-budget=120000', '--dump-dom', `http://127.0.0.1:${port}/`,
        ], { encoding: 'utf8', timeout: 180_000, maxBuffer: 1 << 24 }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
      });
      const m = /<pre id="out">([^<]*)<\/pre>/.exec(dom);
      expect(m, dom.slice(0, 500)).not.toBeNull();
      const res = JSON.parse(m![1].replace(/&quot;/g, '"').replace(/&amp;/g, '&')) as { ok: boolean; meanBits?: number; error?: string; userAgent?: string };
      expect(res.ok, res.error).toBe(true);
      expect(res.meanBits).toBeGreaterThan(14);
    } finally {
      server.close();
    }
  }, 240_000);
});
