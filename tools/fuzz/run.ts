/**
 * The fuzz campaign: `npm run fuzz -- --count N [--seed S] [--target NAME] [--timeout MS] [--jobs J]`
 * runs N mutated inputs spread over the targets (or N on one target) in worker threads, bounds every
 * case by the timeout (a case without a result in time is a hang: the worker is stopped and restarted
 * at the next case), and prints per target the cases, typed errors, accepted objects, untyped
 * errors, wrong objects and timeouts. Exits with 1 on any untyped error, wrong object or timeout.
 * `--case I` (with --target and --seed) replays one case in this thread and prints it in full.
 */
import { Worker } from 'node:worker_threads';
import { CaseStream } from './cases.js';
import { buildInput, foreignPool, makeTargets, runCase, type Target } from './targets.js';
import type { WorkMessage, WorkRequest } from './worker.js';

interface Options {
  count: number;
  seed: number;
  target?: string;
  timeout: number;
  jobs: number;
  replay?: number;
}

function usage(msg: string): never {
  process.stderr.write(`fuzz: ${msg}\nusage: npm run fuzz -- --count N [--seed S] [--target NAME] [--timeout MS] [--jobs J] [--case I]\n`);
  process.exit(2);
}

function parse(argv: string[]): Options {
  const o: Options = { count: 1000, seed: 1, timeout: 10_000, jobs: 1 };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = argv[++i];
    if (v === undefined) usage(`${k} needs a value`);
    const n = Number(v);
    switch (k) {
      case '--count': if (!Number.isSafeInteger(n) || n < 1) usage(`--count ${v}`); o.count = n; break;
      case '--seed': if (!Number.isSafeInteger(n)) usage(`--seed ${v}`); o.seed = n; break;
      case '--target': o.target = v; break;
      case '--timeout': if (!(n > 0)) usage(`--timeout ${v}`); o.timeout = n; break;
      case '--jobs': if (!Number.isSafeInteger(n) || n < 1 || n > 16) usage(`--jobs ${v}`); o.jobs = n; break;
      case '--case': if (!Number.isSafeInteger(n) || n < 0) usage(`--case ${v}`); o.replay = n; break;
      default: usage(`unknown option ${k}`);
    }
  }
  return o;
}

/** Counts of one target. */
interface Tally {
  target: string;
  cases: number;
  typed: number;
  accepted: number;
  untyped: number;
  wrong: number;
  timeouts: number;
  maxMs: number;
  problems: string[];
}

/** Runs cases [0, count) of one target in a worker, restarting it after a hang or a crash. */
async function runTarget(name: string, count: number, o: Options): Promise<Tally> {
  const tally: Tally = { target: name, cases: 0, typed: 0, accepted: 0, untyped: 0, wrong: 0, timeouts: 0, maxMs: 0, problems: [] };
  let next = 0;
  const note = (kind: string, i: number, detail: string) => {
    if (tally.problems.length < 5) tally.problems.push(`${kind} at case ${i} (replay: npm run fuzz -- --target ${name} --seed ${o.seed} --case ${i})\n    ${detail.replace(/\n/g, '\n    ')}`);
  };
  while (next < count) {
    const w = new Worker(new URL('./worker.js', import.meta.url));
    const ended = await new Promise<'done' | 'hang' | 'crash'>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      // building the targets (models, keys) is not a case: a generous bound for start-up
      const arm = (ms: number) => {
        clearTimeout(timer);
        timer = setTimeout(() => resolve('hang'), ms);
      };
      arm(Math.max(60_000, o.timeout));
      w.on('message', (m: WorkMessage) => {
        if (m.t === 'ready') {
          w.postMessage({ target: name, seed: o.seed, from: next, to: count } satisfies WorkRequest);
          arm(o.timeout);
        } else if (m.t === 'case') {
          tally.cases++;
          tally[m.outcome as 'typed' | 'accepted' | 'untyped' | 'wrong']++;
          tally.maxMs = Math.max(tally.maxMs, m.ms);
          if (m.outcome === 'untyped' || m.outcome === 'wrong') note(m.outcome, m.i, m.detail ?? '');
          next = m.i + 1;
          arm(o.timeout);
        } else {
          clearTimeout(timer);
          resolve('done');
        }
      });
      w.on('error', (e) => {
        clearTimeout(timer);
        note('crash', next, e instanceof Error ? `${e.name}: ${e.message}` : String(e));
        resolve('crash');
      });
      w.on('exit', () => {
        clearTimeout(timer);
        resolve('crash');
      });
    });
    await w.terminate();
    if (ended === 'done') break;
    // the case in flight hung or crashed its worker: count it and go on after it
    tally.cases++;
    if (ended === 'hang') {
      tally.timeouts++;
      note('timeout', next, `no result within ${o.timeout} ms`);
    } else {
      tally.untyped++;
    }
    next++;
  }
  return tally;
}

function replay(o: Options): void {
  const targets = makeTargets();
  const t = targets.find((x) => x.name === o.target);
  if (!t) usage(`--case needs --target, one of ${targets.map((x) => x.name).join(', ')}`);
  const m = new CaseStream(t.kind, t.name, o.seed).get(o.replay!);
  const foreign = foreignPool(targets);
  process.stdout.write(`target ${t.name}, seed ${o.seed}, case ${o.replay}\nmutation ${JSON.stringify(m)}\ninput ${buildInput(t, m, foreign).length} bytes\n`);
  const r = runCase(t, m, foreign);
  process.stdout.write(`${r.outcome} in ${r.ms.toFixed(1)} ms${r.detail ? `\n${r.detail}` : ''}\n`);
  process.exitCode = r.outcome === 'typed' || r.outcome === 'accepted' ? 0 : 1;
}

async function main(): Promise<void> {
  const o = parse(process.argv.slice(2));
  if (o.replay !== undefined) return replay(o);
  const names = makeTargets().map((t: Target) => t.name);
  if (o.target && !names.includes(o.target)) usage(`unknown target ${o.target}; targets: ${names.join(', ')}`);
  const chosen = o.target ? [o.target] : names;
  // N cases in all, spread evenly (the first targets take the remainder)
  const per = chosen.map((_, i) => Math.floor(o.count / chosen.length) + (i < o.count % chosen.length ? 1 : 0));
  process.stderr.write(`fuzz: ${o.count} cases over ${chosen.length} target(s), seed ${o.seed}, ${o.timeout} ms per case, ${o.jobs} job(s)\n`);
  const t0 = performance.now();
  const tallies: Tally[] = new Array(chosen.length);
  let cursor = 0;
  await Promise.all(Array.from({ length: Math.min(o.jobs, chosen.length) }, async () => {
    while (cursor < chosen.length) {
      const k = cursor++;
      tallies[k] = await runTarget(chosen[k], per[k], o);
      const t = tallies[k];
      process.stderr.write(`fuzz: ${t.target} done (${t.cases} cases, ${t.untyped + t.wrong + t.timeouts} problems)\n`);
    }
  }));
  const head = ['target', 'cases', 'typed errors', 'accepted', 'untyped errors', 'wrong objects', 'timeouts', 'max ms'];
  const rows = tallies.map((t) => [t.target, t.cases, t.typed, t.accepted, t.untyped, t.wrong, t.timeouts, t.maxMs.toFixed(0)].map(String));
  const sum = (k: keyof Tally) => tallies.reduce((s, t) => s + (t[k] as number), 0);
  rows.push(['total', sum('cases'), sum('typed'), sum('accepted'), sum('untyped'), sum('wrong'), sum('timeouts'), Math.max(...tallies.map((t) => t.maxMs)).toFixed(0)].map(String));
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => `| ${r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`;
  process.stdout.write(`${line(head)}\n|${widths.map((w, i) => (i === 0 ? `${'-'.repeat(w + 2)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|\n${rows.map(line).join('\n')}\n`);
  process.stdout.write(`seed ${o.seed}, ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  for (const t of tallies) for (const p of t.problems) process.stdout.write(`${t.target}: ${p}\n`);
  process.exitCode = sum('untyped') + sum('wrong') + sum('timeouts') > 0 ? 1 : 0;
}

await main();
