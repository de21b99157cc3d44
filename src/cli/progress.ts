/**
 * @module cli/progress
 * A progress reporter for long commands: `update(stage, done, total)` from any step (compilation,
 * encryption, inference) prints `[veil] stage: 40% (4/10), 12 s elapsed, about 18 s left` on
 * stderr, at most once per `interval` seconds per stage, always at a stage's first update and at
 * its end. The estimate of the time left is the stage's own rate so far:
 * elapsed × (total − done) / done. No Node imports: usable wherever a `write` sink exists.
 */

/** Where the reporter writes (default: process.stderr). */
export interface ProgressSink {
  write(text: string): unknown;
}

/** Options of {@link ProgressReporter}. */
export interface ProgressOptions {
  sink?: ProgressSink;
  /** Seconds between two lines of the same stage (default 2). */
  interval?: number;
  /** Clock in milliseconds (tests use a fake one). */
  now?: () => number;
  /** Line prefix (default `[veil] `). */
  prefix?: string;
}

/** Formats seconds for people: `850 ms`, `12.3 s`, `4 min 05 s`, `1 h 02 min`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${String(Math.round(seconds % 60)).padStart(2, '0')} s`;
  return `${Math.floor(seconds / 3600)} h ${String(Math.round((seconds % 3600) / 60)).padStart(2, '0')} min`;
}

/** Prints progress with an estimate of the time left (see the module comment). */
export class ProgressReporter {
  private readonly sink: ProgressSink;
  private readonly interval: number;
  private readonly now: () => number;
  private readonly prefix: string;
  private stage = '';
  private stageStart = 0;
  private lastPrint = -Infinity;

  constructor(opts: ProgressOptions = {}) {
    const stderr = (globalThis as { process?: { stderr?: ProgressSink } }).process?.stderr;
    this.sink = opts.sink ?? stderr ?? { write: () => undefined };
    this.interval = (opts.interval ?? 2) * 1000;
    this.now = opts.now ?? (() => performance.now());
    this.prefix = opts.prefix ?? '[veil] ';
  }

  /** A free-form line. */
  log(message: string): void {
    this.sink.write(`${this.prefix}${message}\n`);
  }

  /**
   * Progress of `stage`: `done` of `total` units (any unit: images, layers, predicted seconds).
   * A new stage name restarts the clock of the estimate; `detail` (e.g. the current layer) is
   * printed after the stage and does not restart it.
   */
  update(stage: string, done: number, total: number, detail?: string): void {
    const t = this.now();
    if (stage !== this.stage) {
      this.stage = stage;
      this.stageStart = t;
      this.lastPrint = -Infinity;
    }
    const finished = done >= total;
    if (!finished && t - this.lastPrint < this.interval && done > 0) return;
    this.lastPrint = t;
    this.sink.write(`${this.prefix}${this.line(detail ? `${stage} [${detail}]` : stage, done, total, (t - this.stageStart) / 1000)}\n`);
  }

  /** The text of one update (without prefix). */
  line(stage: string, done: number, total: number, elapsed: number): string {
    const frac = total > 0 ? Math.min(1, Math.max(0, done / total)) : 1;
    // counts are shown when they are counts (integers), not for fractional units such as predicted seconds
    let s = `${stage}: ${Math.floor(frac * 100)}%${Number.isInteger(done) && Number.isInteger(total) ? ` (${done}/${total})` : ''}`;
    if (elapsed > 0) s += `, ${formatDuration(elapsed)} elapsed`;
    if (frac >= 1) return s + ', done';
    if (done > 0 && elapsed > 0) s += `, about ${formatDuration((elapsed * (total - done)) / done)} left`;
    return s;
  }
}
