/**
 * @module nn/batch/tasks
 * Worker side of the parallel batch layout: imported in every `WorkerPool` worker, it registers
 * `veil.nn.batch.outputs`, which computes output elements [start, end) of one node from input
 * ciphertexts in shared memory and returns its results as shared descriptors (no copies cross
 * threads). The worker's evaluator holds the relinearization key given to `pool.setKeys`.
 */
import type { TaskEnv, registerTask as RegisterTask } from '../../ckks/index.js';
import { BATCH_OUTPUTS_TASK, type BatchOutputsTask, BatchRunner } from './runner.js';

/** Called by the pool worker with its `registerTask`. */
export function register(registerTask: typeof RegisterTask): void {
  registerTask(BATCH_OUTPUTS_TASK, (env: TaskEnv, payload: unknown) => {
    const t = payload as BatchOutputsTask;
    const ins = t.inputs.map((descs, i) => ({ shape: t.inShapes[i], cts: descs.map((d) => (d ? env.fromShared(d) : null)), count: t.count }));
    const runner = new BatchRunner(null, env.evaluator, env.encoder);
    return runner.outputs(t.node, ins, t.start, t.end).map((ct) => env.toShared(ct));
  });
}
