/**
 * ResNet-20 at CIFAR-10 scale, end to end in the packed layout (one image per ciphertext,
 * multiplexed channels, every linear layer one baby-step/giant-step diagonal transform), with the
 * client and the server in separate processes as in a deployment:
 *  - client (a forked child): secret key, evaluation keys streamed to a file one key at a time
 *    (each Galois key capped at the level its rotations run at), the encrypted image, decryption;
 *  - server (one forked child per thread count, so each peak RSS is its own): compiles the model,
 *    loads the keys from the file one chunk at a time, evaluates, and runs the float64 slot
 *    simulation of the same image.
 * Fixture: fixtures/resnet20_quad.onnx (quadratic activations), calibrated on
 * fixtures/cifar_inputs4.f32; image --image (default 0) of those four.
 *
 *   npm run bench:resnet -- [--json] [--threads=2,1] [--image=0] [--dir=/tmp]
 * JSON lines: {"kind":"resnet-keys",…} (client: keygen, wire bytes, key count), then per thread
 * count {"kind":"resnet",…} (server wall time, load and inference, peak RSS, key bytes in memory,
 * max |encrypted − simulated| logit, per logit the predicted σ and 6σ bound of `predictPackedError`
 * and whether the logit is within it, PyTorch agreement) and {"kind":"resnet-layers",…}
 * (seconds per layer, slots used per layer).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { closeSync, fstatSync, openSync, readFileSync, readSync, rmSync, writeSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Model, Server, importOnnx, predictPackedError, readRawFloat32, type ModelPlan, type BundleSource } from '../src/nn/index.js';
import { simulatePacked } from '../src/nn/packed/index.js';
import { args, cpuSnap, otherLoad } from './measure.js';

const A = args();
const FIX = new URL('../../fixtures/', import.meta.url);
const fixture = (n: string) => new Uint8Array(readFileSync(new URL(n, FIX)));
const role = A.opt('role', 'main');
const dir = A.opt('dir', os.tmpdir());
const imageIndex = Number(A.opt('image', '0'));
const json = A.flag('json');

type Msg = Record<string, unknown> & { t: string };
const send = (m: Msg) => process.send!(m);
const rss = () => process.resourceUsage().maxRSS * 1024; // bytes (maxRSS is in KiB)

/**
 * The model and its inputs: ResNet-20 (the four CIFAR-shaped fixture inputs, all four calibrate),
 * or, to check this script quickly (`--smoke`), mnist_square on 64 digits at an insecure N = 2^12.
 */
const smoke = A.flag('smoke');
const SPEC = smoke
  ? { onnx: 'mnist_square.onnx', inputs: 'digits64.f32', shape: [64, 1, 28, 28], logits: 'mnist_square.logits.json', opts: { insecureLogN: 12 } }
  : { onnx: 'resnet20_quad.onnx', inputs: 'cifar_inputs4.f32', shape: [4, 3, 32, 32], logits: 'resnet20_quad.logits.json', opts: {} };

function images() {
  return readRawFloat32(fixture(SPEC.inputs), SPEC.shape);
}

function one(i: number) {
  const all = images();
  const n = SPEC.shape.slice(1).reduce((a, b) => a * b, 1);
  return { shape: [1, ...SPEC.shape.slice(1)], data: all.data.slice(i * n, (i + 1) * n) };
}

/** A file as a random-access bundle source: the server reads one key at a time. */
function fileSource(path: string): BundleSource & { close(): void } {
  const fd = openSync(path, 'r');
  return {
    byteLength: fstatSync(fd).size,
    read(offset: number, length: number) {
      const b = new Uint8Array(length);
      let got = 0;
      while (got < length) {
        const n = readSync(fd, b, got, length - got, offset + got);
        if (n <= 0) throw new Error(`short read of ${path} at ${offset + got}`);
        got += n;
      }
      return b;
    },
    close: () => closeSync(fd),
  };
}

// ----------------------------------------------------------------------------- client process

function clientRole(): void {
  let client: Client | undefined;
  process.on('message', (m: Msg) => {
    if (m.t === 'keys') {
      const plan = m.plan as ModelPlan;
      let t = performance.now();
      client = new Client(plan);
      const fd = openSync(m.keysFile as string, 'w');
      let parts = 0;
      const bytes = client.writeEvaluationKeys((p) => {
        writeSync(fd, p);
        parts++;
      });
      closeSync(fd);
      const keygen_s = (performance.now() - t) / 1e3;
      t = performance.now();
      const input = client.encrypt(one(imageIndex));
      const encrypt_s = (performance.now() - t) / 1e3;
      const fdi = openSync(m.inputFile as string, 'w');
      writeSync(fdi, input);
      closeSync(fdi);
      send({ t: 'keys', keygen_s, encrypt_s, key_bytes_wire: bytes, galois_keys: (parts - 2) / 2 - 2, input_bytes: input.length, client_max_rss: rss() });
    } else if (m.t === 'decrypt') {
      const t = performance.now();
      const out = client!.decrypt(new Uint8Array(readFileSync(m.outFile as string)));
      send({ t: 'logits', logits: Array.from(out.data), decrypt_s: (performance.now() - t) / 1e3 });
    } else if (m.t === 'exit') process.exit(0);
  });
  send({ t: 'ready' });
}

// ----------------------------------------------------------------------------- server process

async function serverRole(): Promise<void> {
  const threads = Number(A.opt('threads', '1'));
  let t = performance.now();
  const model = Model.compile(importOnnx(fixture(SPEC.onnx)), images(), { layout: 'packed', ...SPEC.opts });
  const compile_s = (performance.now() - t) / 1e3;
  send({ t: 'plan', plan: model.plan, compile_s });
  const go = await new Promise<Msg>((res) => process.once('message', res));
  const src = fileSource(go.keysFile as string);
  const s0 = cpuSnap();
  t = performance.now();
  const server = await Server.create(model, src, { threads });
  const load_s = (performance.now() - t) / 1e3;
  src.close();
  const keys = (server as unknown as { keys: { relin: { key: { byteLength: number } }; galois?: { byteLength: number; keys: Map<number, { maxLevel: number }> } } }).keys;
  const keyBytes = keys.relin.key.byteLength + (keys.galois?.byteLength ?? 0);
  const caps = keys.galois ? [...keys.galois.keys.values()].map((k) => k.maxLevel) : [];
  const input = new Uint8Array(readFileSync(go.inputFile as string));
  t = performance.now();
  const out = server.infer(input);
  const infer_s = (performance.now() - t) / 1e3;
  const s1 = cpuSnap();
  const fd = openSync(go.outFile as string, 'w');
  writeSync(fd, out);
  closeSync(fd);
  const serverRss = rss();
  await server.close();
  // float64 slot simulation of the same image (exactly the slot operations of the encrypted run)
  const pp = model.packedPlan!;
  const sim = simulatePacked(model.graph, pp, one(imageIndex).data);
  const P = model.params;
  // predicted deviation from that simulation, slopes and magnitudes from the same image (≈ 2 s)
  const err = predictPackedError(model.graph, pp, P, { samples: [one(imageIndex).data] });
  // slot use per layer: the values a transform writes / the slots of a ciphertext
  const layers = server.timings.map((n) => {
    const l = pp.layouts.get(model.graph.nodes.find((x) => x.name === n.node)?.output ?? '');
    const st = pp.steps.get(n.node);
    return {
      node: n.node, op: n.op, level: n.level, seconds: +n.seconds.toFixed(3),
      ...(st?.kind === 'transform' ? { diagonals: st.diagonals, babies: st.split.babies.length, giants: st.split.giants.length } : {}),
      ...(l ? { slot_use: +(l.pos.length / P.slots).toFixed(4), period: l.period } : {}),
    };
  });
  let maxAbs = 0;
  for (const v of sim.maxAbs.values()) maxAbs = Math.max(maxAbs, v);
  send({
    t: 'result', threads, compile_s, load_s, infer_s, server_s: load_s + infer_s, server_max_rss: serverRss,
    key_bytes_memory: keyBytes, galois_keys: caps.length, key_levels: caps, cpu_s: s1.own - s0.own, other_load: otherLoad(s0, s1),
    simulated: Array.from(sim.output), predicted_sigma: Array.from(err.perOutput), predicted_bound: Array.from(err.bound), bound_sigmas: err.sigmas, max_abs_slot: maxAbs, params: { logN: P.logN, levels: P.levels, K: P.p.length, alpha: P.digitLimbs, dnum: P.dnum, logScale: Math.log2(P.scales[P.levels]), logQP: P.logQP },
    depth: pp.levels.depth, layers,
  });
  process.exit(0);
}

// ----------------------------------------------------------------------------- orchestration

function child(argv: string[]): ChildProcess {
  return fork(fileURLToPath(import.meta.url), argv, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}

function next(c: ChildProcess, t: string): Promise<Msg> {
  return new Promise((res, rej) => {
    const onMsg = (m: Msg) => {
      if (m.t === t) {
        c.off('message', onMsg);
        c.off('exit', onExit);
        res(m);
      }
    };
    const onExit = (code: number | null, sig: string | null) => rej(new Error(`child exited (code ${code}, signal ${sig}) while waiting for '${t}'`));
    c.on('message', onMsg);
    c.once('exit', onExit);
  });
}

async function main(): Promise<void> {
  const threadList = A.opt('threads', '2,1').split(',').map(Number);
  const keysFile = join(dir, `veil-resnet-keys-${process.pid}.bin`);
  const inputFile = join(dir, `veil-resnet-input-${process.pid}.bin`);
  const outFile = join(dir, `veil-resnet-output-${process.pid}.bin`);
  const print = (o: Record<string, unknown>) => (json ? console.log(JSON.stringify(o)) : console.log(o));
  const pytorch = (JSON.parse(readFileSync(new URL(SPEC.logits, FIX), 'utf8')) as { logits: number[][] }).logits[imageIndex];
  const extra = smoke ? ['--smoke'] : [];
  const client = child(['--role=client', `--image=${imageIndex}`, ...extra]);
  await next(client, 'ready');
  let keysMade = false;
  try {
    for (const threads of threadList) {
      const server = child(['--role=server', `--threads=${threads}`, `--image=${imageIndex}`, ...extra]);
      const started = performance.now();
      const done = next(server, 'result');
      done.catch(() => {});
      const { plan, compile_s } = await next(server, 'plan');
      if (!keysMade) {
        client.send({ t: 'keys', plan, keysFile, inputFile });
        const k = await next(client, 'keys');
        keysMade = true;
        print({ kind: 'resnet-keys', ...k, t: undefined, compile_s, loadavg: os.loadavg() });
      }
      server.send({ t: 'go', keysFile, inputFile, outFile });
      let r: Msg;
      // a server run longer than --timeout-min (default 40) is stopped and recorded as such
      const limit = Number(A.opt('timeout-min', '40')) * 60e3;
      const timer = setTimeout(() => server.kill('SIGKILL'), limit);
      try {
        r = await done;
      } catch (e) {
        const wall = (performance.now() - started) / 1e3;
        print({ kind: 'resnet', threads, error: wall * 1e3 >= limit ? `stopped after the ${limit / 60e3}-minute limit` : (e as Error).message, wall_s: wall, loadavg: os.loadavg() });
        continue;
      } finally {
        clearTimeout(timer);
      }
      client.send({ t: 'decrypt', outFile });
      const { logits, decrypt_s } = await next(client, 'logits');
      const enc = logits as number[];
      const sim = r.simulated as number[];
      const sigma = r.predicted_sigma as number[];
      const bound = r.predicted_bound as number[];
      let maxDiff = 0;
      let maxPt = 0;
      const perLogit = enc.map((v, i) => {
        const e = Math.abs(v - sim[i]);
        maxDiff = Math.max(maxDiff, e);
        maxPt = Math.max(maxPt, Math.abs(v - pytorch[i]));
        return { err_vs_sim: e, sigma: sigma[i], bound: bound[i], within: e <= bound[i], err_over_sigma: +(e / sigma[i]).toFixed(2) };
      });
      const argmax = (v: number[]) => v.indexOf(Math.max(...v));
      const { layers, simulated: _s, predicted_sigma: _ps, predicted_bound: _pb, t: _t, ...rest } = r;
      print({
        kind: 'resnet', ...rest, decrypt_s, max_abs_err_vs_sim: maxDiff, error_bound: Math.max(...bound), predicted_max_sigma: Math.max(...sigma),
        within_bound: perLogit.every((l) => l.within), per_logit: perLogit,
        bound_source: `predictPackedError (src/nn/packed/error.ts): ${r.bound_sigmas}σ per logit, slopes from this image`,
        max_abs_err_vs_pytorch: maxPt, argmax_agrees: argmax(enc) === argmax(sim) && argmax(enc) === argmax(pytorch),
        logits: enc, loadavg: os.loadavg(),
      });
      print({ kind: 'resnet-layers', threads, layers });
    }
  } catch (e) {
    print({ kind: 'resnet', error: (e as Error).message, loadavg: os.loadavg() });
    process.exitCode = 1;
  } finally {
    if (client.connected) client.send({ t: 'exit' });
    for (const f of [keysFile, inputFile, outFile]) rmSync(f, { force: true });
  }
}

if (role === 'client') clientRole();
else if (role === 'server') void serverRole();
else void main();
