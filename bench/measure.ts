/**
 * Timing helper shared by the benchmarks: the same method as the node-seal peer (bench.mjs), so
 * ratios compare like with like. Warm-up until ≥ 3 calls and ≥ 20% of the budget, then tinybench
 * `runSync` with a sample count of budget / warm-up median (clamped); per-iteration setup runs in
 * hooks outside the timed region. Reports median and min in µs, and the CPU used by other
 * processes during the measurement (a contention check on a shared machine).
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { Bench, hrtimeNow } from 'tinybench';

/** One op to time: fn is timed; beforeEach/afterEach are not. */
export interface Spec {
  fn: () => void;
  beforeEach?: () => void;
  afterEach?: () => void;
}

/** Result of one measurement. */
export interface Timing {
  median_us: number;
  min_us: number;
  mad_us: number;
  samples: number;
  other_load: number | null;
}

const SAMPLE_BOUNDS: Record<number, [number, number]> = { 12: [30, 3000], 13: [20, 2000], 14: [12, 1000], 15: [7, 500], 16: [5, 200] };

/** CPU counters: wall clock, busy CPU seconds of the machine, CPU seconds of this process (all threads). */
export interface Snap { t: number; busy: number; own: number }
export function cpuSnap(): Snap {
  let busy = NaN;
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    busy = (total - f[3] - f[4]) / 100;
  } catch {
    /* not Linux */
  }
  const u = process.cpuUsage();
  return { t: performance.now() / 1e3, busy, own: (u.user + u.system) / 1e6 };
}
const NCPU = os.cpus().length;
/** Share of the machine used by other processes between two snapshots (null if unknown). */
export function otherLoad(a: Snap, b: Snap): number | null {
  const wall = b.t - a.t;
  if (!(wall > 0.05) || Number.isNaN(a.busy)) return null;
  return Math.max(0, Math.min(1, (b.busy - a.busy - (b.own - a.own)) / (wall * NCPU)));
}

/** Times `spec` at ring degree 2^logN within about `budgetMs` of timed work. */
export function measure(logN: number, spec: Spec, budgetMs: number): Timing {
  const [nMin, nMax] = SAMPLE_BOUNDS[logN] ?? [5, 1000];
  const warm: number[] = [];
  const s0 = cpuSnap();
  const t0 = performance.now();
  while (warm.length < 3 || (performance.now() - t0 < budgetMs * 0.2 && warm.length < 25)) {
    spec.beforeEach?.();
    const s = performance.now();
    spec.fn();
    warm.push(performance.now() - s);
    spec.afterEach?.();
  }
  warm.sort((a, b) => a - b);
  const est = warm[warm.length >> 1];
  const n = Math.max(nMin, Math.min(nMax, Math.round(budgetMs / Math.max(est, 1e-3))));
  const bench = new Bench({ now: hrtimeNow, time: 0, iterations: n, warmup: false, throws: true });
  bench.add('op', spec.fn, {
    beforeEach: spec.beforeEach ? () => spec.beforeEach!() : undefined,
    afterEach: spec.afterEach ? () => spec.afterEach!() : undefined,
  });
  bench.runSync();
  const r = bench.tasks[0].result as unknown as { latency: { p50: number; min: number; mad: number; samplesCount: number } };
  const lat = r.latency;
  return {
    median_us: lat.p50 * 1e3, min_us: lat.min * 1e3, mad_us: lat.mad * 1e3, samples: lat.samplesCount,
    other_load: otherLoad(s0, cpuSnap()),
  };
}

/** Formats microseconds like the peer does. */
export function fmtUs(us: number): string {
  return us >= 100 ? us.toFixed(0) : us >= 10 ? us.toFixed(1) : us.toFixed(2);
}

/** Parses --name=value and --flag arguments. */
export function args(argv: string[] = process.argv.slice(2)) {
  return {
    flag: (name: string) => argv.includes(`--${name}`),
    opt: (name: string, dflt: string) => {
      const a = argv.find((x) => x.startsWith(`--${name}=`));
      return a ? a.slice(name.length + 3) : dflt;
    },
  };
}
