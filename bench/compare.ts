/**
 * Runs the node-seal peer (SEAL 4.1 in WebAssembly, `../shared/peer/node-seal`) and Veil's engine
 * benchmark in one run, interleaved per ring degree (peer, then Veil, for each logN) so machine
 * drift hits both alike, and prints the ratio table veil/node-seal of median times.
 *
 *   npm run bench:compare                       logN 13,14,15, Veil 1 thread
 *   npm run bench:compare -- --logN=14 --threads=1,2 --save=bench/results/run.jsonl --markdown
 *   npm run bench:compare -- --runs=3       three rounds (peer, Veil) per logN; the table shows the
 *                                           median of the rounds' medians and the range of the ratios
 *
 * The peer directory is read-only; it is copied to bench/.peer and installed there once
 * (node-seal@6.0.3 runs on Node 20). Set VEIL_PEER_DIR to use another copy.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { args } from './measure.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..', '..'); // dist/bench → project root
const A = args();
const LOGNS = A.opt('logN', '13,14,15').split(',').map(Number);
const THREADS = A.opt('threads', '1').split(',').map(Number);
const BUDGET = A.opt('budget', '2500');
const SAVE = A.opt('save', '');
const MARKDOWN = A.flag('markdown');
const LEVELS = A.opt('levels', 'one');
const RUNS = Math.max(1, Number(A.opt('runs', '1')));

function peerDir(): string {
  const env = process.env.VEIL_PEER_DIR;
  if (env) return env;
  const src = resolve(root, '..', 'shared', 'peer', 'node-seal');
  const dst = join(root, 'bench', '.peer');
  if (!existsSync(join(dst, 'node_modules', 'node-seal-v6'))) {
    if (!existsSync(src)) throw new Error(`peer benchmark not found at ${src}; set VEIL_PEER_DIR`);
    mkdirSync(dst, { recursive: true });
    cpSync(src, dst, { recursive: true, filter: (p) => !p.includes('node_modules') && !p.includes(`${'runs'}`) });
    process.stderr.write(`installing the peer in ${dst} ...\n`);
    execFileSync('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: dst, stdio: ['ignore', 'ignore', 'inherit'] });
  }
  return dst;
}

type Row = Record<string, unknown> & { kind: string; op: string; logN: number; median_us?: number };

function runJson(cmd: string, argv: string[], cwd: string): Row[] {
  const r = spawnSync(cmd, argv, { cwd, encoding: 'utf8', maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) throw new Error(`${cmd} ${argv.join(' ')} exited with ${r.status}`);
  return r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Row);
}

const peer = peerDir();
const rows: { impl: string; threads: number; run: number; row: Row }[] = [];
for (const logN of LOGNS) {
  for (let run = 0; run < RUNS; run++) {
    const tag = RUNS > 1 ? ` (round ${run + 1}/${RUNS})` : '';
    process.stderr.write(`== logN ${logN}: node-seal${tag}\n`);
    for (const r of runJson(process.execPath, ['bench.mjs', '--lib=v6', '--json', `--logN=${logN}`, `--budget=${BUDGET}`], peer)) rows.push({ impl: 'node-seal', threads: 1, run, row: r });
    for (const t of THREADS) {
      process.stderr.write(`== logN ${logN}: veil, ${t} thread(s)${tag}\n`);
      const argv = [join(here, 'engine.js'), '--json', `--logN=${logN}`, `--budget=${BUDGET}`, `--threads=${t}`, `--levels=${LEVELS}`];
      for (const r of runJson(process.execPath, argv, root)) rows.push({ impl: 'veil', threads: t, run, row: r });
    }
  }
}

if (SAVE) {
  mkdirSync(dirname(resolve(SAVE)), { recursive: true });
  writeFileSync(SAVE, rows.map((r) => JSON.stringify({ ...r.row, impl: r.impl === 'veil' ? 'veil-fhe' : r.row.impl, threads: r.threads, run: r.run })).join('\n') + '\n');
}

const OPS = ['keygen_sk_pk', 'keygen_relin', 'keygen_galois_1', 'encode', 'decode', 'encrypt_pk', 'decrypt', 'add', 'mul_plain', 'mul', 'relin', 'rescale', 'rotate_1', 'mul_relin_rescale'];
const find = (impl: string, threads: number, op: string, logN: number, kind = 'time') =>
  rows.find((r) => r.impl === impl && r.threads === threads && r.row.kind === kind && r.row.op === op && r.row.logN === logN)?.row;
/** Per-round medians of one op (round order). */
const perRun = (impl: string, threads: number, op: string, logN: number): (number | undefined)[] =>
  Array.from({ length: RUNS }, (_, run) => rows.find((r) => r.impl === impl && r.threads === threads && r.run === run && r.row.kind === 'time' &&
    r.row.op === op && r.row.logN === logN)?.row.median_us);
const median = (xs: number[]): number | undefined => {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  return s.length & 1 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const defined = (xs: (number | undefined)[]): number[] => xs.filter((x): x is number => x !== undefined);
const fmt = (us: number | undefined) => (us === undefined ? '-' : us >= 1000 ? `${(us / 1000).toFixed(2)} ms` : `${us.toFixed(us >= 100 ? 0 : 1)} µs`);

const lines: string[] = [];
const meta = rows.find((r) => r.impl === 'veil' && r.row.kind === 'meta')?.row;
const peerMeta = rows.find((r) => r.impl === 'node-seal' && r.row.kind === 'meta')?.row;
lines.push(`${meta?.cpu ?? '?'} ×${meta?.cores ?? '?'}, Node ${meta?.node ?? '?'}, ${String(meta?.date ?? '').slice(0, 10)}; ` +
  `Veil ${LEVELS === 'two' ? 'two-limb levels' : 'one 30-bit limb per level'}, node-seal ${peerMeta?.impl ?? '?'} (SEAL ${peerMeta?.seal ?? '?'}, wasm, 1 thread); ` +
  `median µs, ratio = Veil / node-seal (< 1: Veil faster)`);
lines.push('');
const head = ['op', 'logN', 'node-seal', ...THREADS.map((t) => `veil ${t}T`), ...THREADS.map((t) => `ratio ${t}T`),
  ...(RUNS > 1 ? THREADS.map((t) => `${t}T range`) : [])];
lines.push(MARKDOWN ? `| ${head.join(' | ')} |` : head.map((h, i) => (i === 0 ? h.padEnd(20) : h.padStart(12))).join(''));
if (MARKDOWN) lines.push(`|${head.map((_, i) => (i < 2 ? '---' : '---:')).join('|')}|`);
for (const op of OPS) {
  for (const logN of LOGNS) {
    const sRuns = perRun('node-seal', 1, op, logN);
    const s = median(defined(sRuns));
    const v = THREADS.map((t) => median(defined(perRun('veil', t, op, logN))));
    const ratios = v.map((x) => (x !== undefined && s ? (x / s).toFixed(2) : '-'));
    // range of the per-round ratios (each round's Veil over the same round's peer)
    const ranges = RUNS > 1 ? THREADS.map((t) => {
      const vr = perRun('veil', t, op, logN);
      const rs = defined(vr.map((x, i) => (x !== undefined && sRuns[i] ? x / sRuns[i]! : undefined)));
      return rs.length ? `${Math.min(...rs).toFixed(2)}–${Math.max(...rs).toFixed(2)}` : '-';
    }) : [];
    const cells = [op, String(logN), fmt(s), ...v.map(fmt), ...ratios, ...ranges];
    lines.push(MARKDOWN ? `| ${cells.join(' | ')} |` : cells.map((c, i) => (i === 0 ? c.padEnd(20) : c.padStart(12))).join(''));
  }
}
lines.push('');
for (const logN of LOGNS) {
  const sp = find('node-seal', 1, 'precision_mul_relin_rescale_rot1', logN, 'precision');
  const vp = find('veil', THREADS[0], 'precision_mul_relin_rescale_rot1', logN, 'precision');
  const nt = find('veil', THREADS[0], 'ntt', logN);
  const pl = find('veil', THREADS[0], 'ntt_plain', logN);
  // add against its loop floor (medians over the rounds)
  const res = find('veil', THREADS[0], 'add', logN)?.residues as number | undefined;
  const ad = median(defined(perRun('veil', THREADS[0], 'add', logN)));
  const ap = median(defined(perRun('veil', THREADS[0], 'add_plain', logN)));
  const sa = median(defined(perRun('node-seal', 1, 'add', logN)));
  const perRes = (us: number | undefined) => (us !== undefined && res ? ((us * 1000) / res).toFixed(2) : '-');
  const hp = rows.find((r) => r.impl === 'veil' && r.threads === THREADS[0] && r.row.kind === 'heap' && r.row.logN === logN)?.row;
  const b2 = (x: unknown) => (typeof x === 'number' ? x.toFixed(2) : '-');
  lines.push(`logN ${logN}: precision mul→relin→rescale→rot1 mean/worst bits: node-seal ${b2(sp?.mean_err_bits)} / ${b2(sp?.max_err_bits)} (scale 2^40), ` +
    `veil ${vp?.mean_err_bits ?? '-'} / ${vp?.max_err_bits ?? '-'} (scale 2^${vp?.log_scale ?? '?'}, logQP ${vp?.logQP ?? '?'}${vp?.secure128 === false ? ', NOT 128-bit secure' : ''}); ` +
    `veil NTT ${nt?.ns_per_butterfly ?? '-'} ns/butterfly (plain-loop limit ${pl?.ns_per_butterfly ?? '-'}); ` +
    `veil add ${fmt(ad)} (${perRes(ad)} ns/residue over ${res ?? '-'} residues), the same loop without the reduction ${fmt(ap)} ` +
    `(${perRes(ap)} ns/residue), node-seal add ${fmt(sa)}; ` +
    `heap growth over ${hp?.calls ?? '-'} mul_relin_rescale ${hp ? `${((hp.heap_growth_bytes as number) / 1024).toFixed(1)} KiB` : '-'}`);
}
process.stdout.write(lines.join('\n') + '\n');
