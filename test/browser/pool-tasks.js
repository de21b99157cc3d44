// Coarse tasks for pool.html, imported in every pool worker (WorkerPool.create { modules }).
import { registerTask } from '/dist/src/ckks/pool/protocol.js';

registerTask('sum', (env, descs) => {
  let acc = env.fromShared(descs[0]);
  for (let i = 1; i < descs.length; i++) acc = env.evaluator.add(acc, env.fromShared(descs[i]));
  return env.toShared(acc);
});
registerTask('whoami', (env) => env.worker);
