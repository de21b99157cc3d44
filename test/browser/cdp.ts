/**
 * A minimal Chrome DevTools Protocol client over `--remote-debugging-pipe` (file descriptors 3 and
 * 4, messages are JSON terminated by a NUL byte), for driving the system's Chromium in tests
 * without a WebSocket library or a browser download. Only what the tests use: attach to the first
 * page, navigate, evaluate (awaiting promises), dispatch mouse events, take a screenshot.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';

/** The launch flags that work in this project's containers (no sandbox, no GPU, no network extras). */
export const CHROMIUM_FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--window-size=1280,1100',
];

export class Browser {
  private nextId = 1;
  private pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private buffered = '';
  private session = '';
  private exited: Error | null = null;

  private constructor(private readonly proc: ChildProcess, private readonly profile: string) {
    const out = proc.stdio[4] as Readable;
    out.setEncoding('utf8');
    out.on('data', (chunk: string) => {
      this.buffered += chunk;
      let end: number;
      while ((end = this.buffered.indexOf('\0')) >= 0) {
        const msg = JSON.parse(this.buffered.slice(0, end)) as { id?: number; result?: unknown; error?: { message: string } };
        this.buffered = this.buffered.slice(end + 1);
        const p = msg.id !== undefined ? this.pending.get(msg.id) : undefined;
        if (!p) continue;
        this.pending.delete(msg.id!);
        if (msg.error) p.reject(new Error(`CDP: ${msg.error.message}`));
        else p.resolve(msg.result);
      }
    });
    proc.on('exit', (code, signal) => {
      this.exited = new Error(`chromium exited (code ${code}, signal ${signal})`);
      for (const p of this.pending.values()) p.reject(this.exited);
      this.pending.clear();
    });
  }

  /** Starts Chromium (fresh profile) and attaches to its first page. */
  static async launch(executable: string): Promise<Browser> {
    const profile = mkdtempSync(join(tmpdir(), 'veil-chromium-'));
    const proc = spawn(executable, [...CHROMIUM_FLAGS, `--user-data-dir=${profile}`, '--remote-debugging-pipe', 'about:blank'], {
      stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'],
    });
    let stderr = '';
    proc.stderr!.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    const b = new Browser(proc, profile);
    try {
      const { targetInfos } = (await b.send('Target.getTargets')) as { targetInfos: { targetId: string; type: string }[] };
      let page = targetInfos.find((t) => t.type === 'page');
      if (!page) page = { targetId: ((await b.send('Target.createTarget', { url: 'about:blank' })) as { targetId: string }).targetId, type: 'page' };
      b.session = ((await b.send('Target.attachToTarget', { targetId: page.targetId, flatten: true })) as { sessionId: string }).sessionId;
      await b.send('Runtime.enable', {}, true);
      await b.send('Page.enable', {}, true);
    } catch (e) {
      await b.close();
      throw new Error(`${(e as Error).message}; chromium stderr: ${stderr}`);
    }
    return b;
  }

  /** Sends a CDP command (to the page's session when `onPage`). */
  send(method: string, params: Record<string, unknown> = {}, onPage = false): Promise<unknown> {
    if (this.exited) return Promise.reject(this.exited);
    const id = this.nextId++;
    const msg = JSON.stringify({ id, method, params, ...(onPage ? { sessionId: this.session } : {}) });
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      (this.proc.stdio[3] as Writable).write(`${msg}\0`);
    });
  }

  async navigate(url: string): Promise<void> {
    await this.send('Page.navigate', { url }, true);
  }

  /** Evaluates an expression in the page, awaiting a promise result; returns its JSON value. */
  async evaluate<T>(expression: string): Promise<T> {
    const r = (await this.send('Runtime.evaluate', { expression, awaitPromise: true, returnByValue: true }, true)) as {
      result: { value?: T }; exceptionDetails?: { text: string; exception?: { description?: string } };
    };
    if (r.exceptionDetails) throw new Error(`page: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`);
    return r.result.value as T;
  }

  /** Polls `expression` until it is truthy (or `timeoutMs` passes, which throws with `describe`'s value). */
  async waitFor(expression: string, timeoutMs: number, describe = 'document.body && document.body.dataset.state'): Promise<void> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      if (await this.evaluate<boolean>(`!!(${expression})`).catch(() => false)) return;
      if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${expression} (${String(await this.evaluate(describe).catch((e) => e))})`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** A mouse stroke through `points` (CSS pixels in the viewport), left button held. */
  async drag(points: readonly [number, number][]): Promise<void> {
    const ev = (type: string, [x, y]: [number, number], buttons: number) =>
      this.send('Input.dispatchMouseEvent', { type, x, y, button: 'left', buttons, clickCount: 1 }, true);
    await ev('mouseMoved', points[0], 0);
    await ev('mousePressed', points[0], 1);
    for (const p of points.slice(1)) await ev('mouseMoved', p, 1);
    await ev('mouseReleased', points[points.length - 1], 0);
  }

  /** A PNG screenshot of the page. */
  async screenshot(): Promise<Buffer> {
    const r = (await this.send('Page.captureScreenshot', { format: 'png' }, true)) as { data: string };
    return Buffer.from(r.data, 'base64');
  }

  async close(): Promise<void> {
    if (!this.exited) {
      await this.send('Browser.close').catch(() => undefined);
      await new Promise<void>((resolve) => {
        if (this.exited) return resolve();
        const t = setTimeout(() => {
          this.proc.kill('SIGKILL');
          resolve();
        }, 5000);
        this.proc.once('exit', () => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    rmSync(this.profile, { recursive: true, force: true });
  }
}
