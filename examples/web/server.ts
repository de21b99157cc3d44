/**
 * The web demo's server: Node's own `http`, no framework. The browser is the client: it fetches
 * the public plan, generates its keys, sends the evaluation keys and then encrypted digits, follows
 * the server's per-layer progress as server-sent events, fetches the encrypted logits and decrypts
 * them. The server never sees a secret key or a pixel.
 *
 *   npm run demo:web [-- --port 8080] [-- --layout channel|batch]
 *
 * Routes (every response carries COOP same-origin + COEP require-corp, so the page is
 * cross-origin isolated and may use SharedArrayBuffer, e.g. a WorkerPool):
 *   GET  /                     the page (examples/web/index.html), /client.js, /veil.js (the bundle)
 *   GET  /plan                 the model's public plan (JSON: parameters, layout, shapes; no weights)
 *   GET  /digits               ten held-out fixture digits (one per class) as raw bytes, for the picker
 *   POST /sessions             body: evaluation keys → { session }
 *   POST /sessions/:id/infer   body: an encrypted input bundle → { job }
 *   GET  /jobs/:id/events      server-sent events: `progress` per layer, then `done` or `failed`
 *   GET  /jobs/:id/result      the encrypted output bundle
 * The model runs in a worker thread (infer-worker.ts) so this thread can stream progress.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Layout } from '../../src/nn/compile/compile.js';
import type { ModelPlan } from '../../src/nn/model/model.js';
import { fixtureDigits, repoRoot } from './model.js';

/** Options of {@link startDemoServer}. */
export interface DemoServerOptions {
  /** TCP port (0 picks a free one). Default 8080. */
  port?: number;
  /** Interface to listen on. Default 127.0.0.1 (loopback only). */
  host?: string;
  /** Encrypted layout the model is compiled for. Default 'channel' (one image per run). */
  layout?: Layout;
  /** Largest request body accepted, bytes. Default 512 MiB (evaluation keys are tens of MiB). */
  maxBody?: number;
  /** Sessions kept at once (each holds its evaluation keys); the oldest is dropped past it. Default 4. */
  maxSessions?: number;
}

/** A running demo server. */
export interface DemoServer {
  url: string;
  plan: ModelPlan;
  /** Seconds the worker spent compiling the model. */
  compileSeconds: number;
  /** Paths requested so far (the test checks the page loaded the bundle). */
  requests: string[];
  close(): Promise<void>;
}

interface Job {
  events: string[];
  listeners: Set<http.ServerResponse>;
  result?: Uint8Array;
  finished: boolean;
}

const STATIC: Record<string, { file: string; type: string }> = {
  '/': { file: 'examples/web/index.html', type: 'text/html; charset=utf-8' },
  '/client.js': { file: 'examples/web/client.js', type: 'text/javascript; charset=utf-8' },
  '/veil.js': { file: 'dist/browser/veil.js', type: 'text/javascript; charset=utf-8' },
  '/veil.js.map': { file: 'dist/browser/veil.js.map', type: 'application/json' },
  '/pool-worker.js': { file: 'dist/browser/pool-worker.js', type: 'text/javascript; charset=utf-8' },
  '/pool-worker.js.map': { file: 'dist/browser/pool-worker.js.map', type: 'application/json' },
};

/** The compiled worker (also when this file runs from sources, e.g. under vitest). */
function workerUrl(): URL {
  const here = new URL(import.meta.url);
  if (here.pathname.endsWith('.ts')) return new URL('dist/examples/web/infer-worker.js', repoRoot);
  return new URL('./infer-worker.js', here);
}

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

async function readBody(req: http.IncomingMessage, max: number): Promise<Uint8Array> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of req) {
    n += (c as Buffer).length;
    if (n > max) throw new HttpError(413, `request body over ${max} bytes`);
    parts.push(c as Buffer);
  }
  // a copy of its own (a small Buffer.concat result may be a view into Node's shared pool)
  return new Uint8Array(Buffer.concat(parts));
}

/** Starts the demo server; resolves once the model is compiled and the port is open. */
export async function startDemoServer(opts: DemoServerOptions = {}): Promise<DemoServer> {
  const layout = opts.layout ?? 'channel';
  const maxBody = opts.maxBody ?? 512 * 2 ** 20;
  const maxSessions = opts.maxSessions ?? 4;
  for (const s of ['examples/web/index.html', 'dist/browser/veil.js']) {
    if (!existsSync(new URL(s, repoRoot))) throw new Error(`${s} is missing. Fix: run npm run build in ${fileURLToPath(repoRoot)}`);
  }
  const worker = new Worker(workerUrl(), { workerData: { layout } });
  const ready = await new Promise<{ plan: ModelPlan; compileSeconds: number }>((resolve, reject) => {
    worker.once('error', reject);
    worker.once('message', (m: { t: string; plan: ModelPlan; compileSeconds: number }) => resolve(m));
  });

  const sessions: string[] = [];
  const pendingKeys = new Map<string, { resolve: () => void; reject: (e: Error) => void }>();
  const jobs = new Map<string, Job>();
  const requests: string[] = [];

  const emit = (job: Job, event: string, data: unknown) => {
    const text = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
    job.events.push(text);
    for (const r of job.listeners) r.write(text);
    if (event === 'done' || event === 'failed') {
      job.finished = true;
      for (const r of job.listeners) r.end();
      job.listeners.clear();
    }
  };

  worker.on('message', (m: { t: string; session?: string; job?: string; message?: string; bytes?: Uint8Array } & Record<string, unknown>) => {
    if (m.t === 'keys-ok' || m.t === 'keys-error') {
      const p = pendingKeys.get(m.session!);
      pendingKeys.delete(m.session!);
      if (m.t === 'keys-ok') p?.resolve();
      else p?.reject(new HttpError(400, m.message!));
      return;
    }
    const job = jobs.get(m.job!);
    if (!job) return;
    if (m.t === 'progress') emit(job, 'progress', { op: m.op, node: m.node, index: m.index, total: m.total, seconds: m.seconds });
    else if (m.t === 'done') {
      job.result = m.bytes!;
      emit(job, 'done', { layers: m.layers, seconds: m.seconds, outputBytes: m.bytes!.length });
    } else if (m.t === 'failed') emit(job, 'failed', { message: m.message });
  });
  worker.on('error', (e) => {
    for (const job of jobs.values()) if (!job.finished) emit(job, 'failed', { message: `the inference worker failed: ${e.message}` });
  });

  const digits = (() => {
    // the first digit of each class from index 1000 on (the model was calibrated on digits 0–63)
    const { pixels, labels } = fixtureDigits(1000, 100);
    const out: { index: number; label: number; pixels: string }[] = [];
    for (let d = 0; d < 10; d++) {
      const i = labels.indexOf(d);
      out.push({ index: 1000 + i, label: d, pixels: Buffer.from(pixels.subarray(i * 784, (i + 1) * 784)).toString('base64') });
    }
    return JSON.stringify(out);
  })();

  const json = (res: http.ServerResponse, v: unknown) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(v));
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0];
    requests.push(path);
    const st = STATIC[path];
    if ((req.method === 'GET' || req.method === 'HEAD') && st) {
      res.setHeader('content-type', st.type);
      res.setHeader('cache-control', 'no-store');
      res.end(readFileSync(new URL(st.file, repoRoot)));
      return;
    }
    if (req.method === 'GET' && path === '/plan') return json(res, ready.plan);
    if (req.method === 'GET' && path === '/digits') {
      res.setHeader('content-type', 'application/json');
      res.end(digits);
      return;
    }
    if (req.method === 'POST' && path === '/sessions') {
      const bytes = await readBody(req, maxBody);
      const session = randomUUID();
      const ok = new Promise<void>((resolve, reject) => pendingKeys.set(session, { resolve, reject }));
      worker.postMessage({ t: 'keys', session, bytes });
      await ok;
      sessions.push(session);
      while (sessions.length > maxSessions) worker.postMessage({ t: 'drop', session: sessions.shift() });
      return json(res, { session });
    }
    let m = /^\/sessions\/([\w-]+)\/infer$/.exec(path);
    if (req.method === 'POST' && m) {
      if (!sessions.includes(m[1])) throw new HttpError(404, 'unknown session: reload the page to send new keys');
      const bytes = await readBody(req, maxBody);
      const job = randomUUID();
      jobs.set(job, { events: [], listeners: new Set(), finished: false });
      while (jobs.size > 64) jobs.delete(jobs.keys().next().value!);
      worker.postMessage({ t: 'infer', job, session: m[1], bytes });
      return json(res, { job, inputBytes: bytes.length });
    }
    m = /^\/jobs\/([\w-]+)\/(events|result)$/.exec(path);
    if (req.method === 'GET' && m) {
      const job = jobs.get(m[1]);
      if (!job) throw new HttpError(404, 'unknown job');
      if (m[2] === 'result') {
        if (!job.result) throw new HttpError(409, 'the job has no result (yet)');
        res.setHeader('content-type', 'application/octet-stream');
        res.end(job.result);
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
      for (const e of job.events) res.write(e);
      if (job.finished) res.end();
      else {
        job.listeners.add(res);
        req.on('close', () => job.listeners.delete(res));
      }
      return;
    }
    throw new HttpError(404, `no route ${req.method} ${path}`);
  };

  const server = http.createServer((req, res) => {
    // cross-origin isolation on every response (the page may then use SharedArrayBuffer)
    res.setHeader('cross-origin-opener-policy', 'same-origin');
    res.setHeader('cross-origin-embedder-policy', 'require-corp');
    res.setHeader('cross-origin-resource-policy', 'same-origin');
    handle(req, res).catch((e: unknown) => {
      if (res.headersSent) return res.end();
      res.statusCode = e instanceof HttpError ? e.status : 500;
      res.setHeader('content-type', 'text/plain; charset=utf-8');
      res.end(e instanceof Error ? e.message : String(e));
    });
  });
  await new Promise<void>((resolve) => server.listen(opts.port ?? 8080, opts.host ?? '127.0.0.1', resolve));
  const addr = server.address() as AddressInfo;
  return {
    url: `http://${addr.address}:${addr.port}/`,
    plan: ready.plan,
    compileSeconds: ready.compileSeconds,
    requests,
    async close() {
      for (const job of jobs.values()) for (const r of job.listeners) r.end();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await worker.terminate();
    },
  };
}

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const layout = (argValue('layout') ?? 'channel') as Layout;
  if (layout !== 'channel' && layout !== 'batch') {
    process.stderr.write(`--layout ${layout}: use channel (one digit per run, seconds) or batch (all slots per run, minutes)\n`);
    process.exit(1);
  }
  const port = Number(argValue('port') ?? 8080);
  process.stderr.write(`compiling the MNIST model for the ${layout} layout...\n`);
  startDemoServer({ port, layout }).then(
    (s) => {
      process.stdout.write(`Veil web demo: open ${s.url} (model compiled in ${s.compileSeconds.toFixed(1)} s; Ctrl-C stops)\n`);
    },
    (e: unknown) => {
      process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(1);
    },
  );
}
