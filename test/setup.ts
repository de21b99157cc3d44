/**
 * Suite-wide setup. Before every test the worker yields briefly, so that vitest's pending
 * progress report (an RPC to the main process) is answered before a long synchronous test body
 * runs: on a loaded machine a test that blocks the worker for over a minute otherwise makes vitest
 * report "Timeout calling onTaskUpdate" although every test passed.
 */
import { beforeEach } from 'vitest';

beforeEach(async () => {
  await new Promise((resolve) => setTimeout(resolve, 50));
});
