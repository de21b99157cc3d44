/**
 * @module nn/forward/jobs
 *
 * The compile-time work as a generator of jobs, so one algorithm serves the synchronous API (the
 * calling thread runs every chunk) and the asynchronous one (a pool of worker threads,
 * `pool.ts`). A step yields a {@link Job}, a list of chunk tasks; the driver runs them and
 * resumes the step with their results in task order. A job may stop early: its `consume` sees the
 * results in task order and returns false to stop (the degree sweep stops a failing point as soon
 * as its disagreements exceed what the target allows). What a job returns depends only on the
 * tasks and `consume`, never on how many threads ran them, so the results do not depend on the
 * thread count.
 */

import { type ForwardResult, type ForwardTask, ForwardExecutor } from './forward.js';

/**
 * Progress callback: `done` of `total` units of `stage` (chunks of images, layers, or points of
 * the degree search). Called at least once per finished unit.
 */
export type ProgressCallback = (stage: string, done: number, total: number) => void;

/** A batch of chunk tasks (see the module comment). */
export interface Job {
  /** Progress stage name, e.g. `calibration`. */
  stage: string;
  tasks: ForwardTask[];
  /**
   * Sees result i (in task order) and returns false to stop: later tasks are not started (or their
   * results are dropped), and the job returns the results up to and including i.
   */
  consume?: (i: number, r: ForwardResult) => boolean | void;
  /**
   * Progress units before this job in its stage, units in the whole stage, and units per task
   * (default 0, tasks.length, 1).
   */
  progress?: { before: number; total: number; scale?: number };
}

/** A compile-time computation: yields jobs, gets their results, returns `T`. */
export type Steps<T> = Generator<Job, T, ForwardResult[]>;

/** Reports progress for a job's consumed results. */
export function reportJob(job: Job, consumed: number, onProgress?: ProgressCallback): void {
  if (!onProgress) return;
  const before = job.progress?.before ?? 0;
  const total = job.progress?.total ?? job.tasks.length;
  const done = before + consumed * (job.progress?.scale ?? 1);
  onProgress(job.stage, Math.min(total, Number.isInteger(done) ? done : Math.round(done * 1000) / 1000), total);
}

/**
 * Runs steps on the calling thread.
 *
 * @param steps - the generator
 * @param executor - keeps the chunks' slots between jobs (a fresh one by default)
 */
export function runStepsSync<T>(steps: Steps<T>, onProgress?: ProgressCallback, executor = new ForwardExecutor()): T {
  try {
    let next = steps.next([]);
    while (!next.done) {
      const job = next.value;
      reportJob(job, 0, onProgress);
      const results: ForwardResult[] = [];
      for (let i = 0; i < job.tasks.length; i++) {
        const r = executor.run(job.tasks[i]!);
        results.push(r);
        reportJob(job, i + 1, onProgress);
        if (job.consume?.(i, r) === false) break;
      }
      next = steps.next(results);
    }
    return next.value;
  } finally {
    executor.reset();
  }
}
