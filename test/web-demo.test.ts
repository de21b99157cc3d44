/**
 * The web demo (examples/web/) in a real browser: the demo server runs in this process, the
 * system's headless Chromium loads the page (driven over the DevTools protocol, test/browser/cdp.ts),
 * the page generates keys with the browser bundle (dist/browser/veil.js), encrypts a held-out
 * fixture digit and then a digit drawn with mouse events on the canvas, the server runs the MNIST
 * CNN on the ciphertexts, and the page decrypts. Each prediction must equal the argmax of the
 * float64 simulation of the same compiled model (`model.simulate`) on the exact pixels the page
 * encrypted, and the decrypted logits must be close to the simulated ones.
 * Runs when Chromium is present (Debian `chromium`, or VEIL_CHROMIUM); under CI=true a missing
 * browser fails. VEIL_SCREENSHOT=path.png saves the page after the last run.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DemoServer, startDemoServer } from '../examples/web/server.js';
import { buildDemoModel, normalise } from '../examples/web/model.js';
import { argmaxRows } from '../src/nn/index.js';
import { Browser } from './browser/cdp.js';

const root = new URL('..', import.meta.url).pathname;
const chromium = process.env.VEIL_CHROMIUM ?? ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find((p) => existsSync(p));
const built = ['dist/browser/veil.js', 'dist/examples/web/infer-worker.js'].every((f) => existsSync(join(root, f)));
if ((chromium === undefined || !built) && process.env.CI === 'true') {
  throw new Error(`web demo test cannot run: ${chromium === undefined ? 'no Chromium found (apt-get install chromium, or set VEIL_CHROMIUM)' : 'not built (npm run build)'}`);
}

interface Run {
  source: 'fixture' | 'drawn';
  picked: { index: number; label: number } | null;
  input: number[];
  logits: number[];
  prediction: number;
  layers: { op: string; node: string; seconds: number }[];
  inputBytes: number;
  outputBytes: number;
  serverSeconds: number;
}

describe.runIf(chromium !== undefined && built)('web demo in headless Chromium', () => {
  let server: DemoServer;
  let browser: Browser;
  const model = buildDemoModel('channel');

  beforeAll(async () => {
    [server, browser] = await Promise.all([startDemoServer({ port: 0, layout: 'channel' }), Browser.launch(chromium!)]);
  }, 120_000);

  afterAll(async () => {
    if (browser && process.env.VEIL_SCREENSHOT) writeFileSync(process.env.VEIL_SCREENSHOT, await browser.screenshot());
    await browser?.close();
    await server?.close();
  });

  /** Checks a finished run against the float64 simulation of the same model on the same pixels. */
  function checkAgainstSimulation(run: Run): void {
    expect(run.input).toHaveLength(784);
    expect(run.input.every((v) => Number.isInteger(v) && v >= 0 && v <= 255)).toBe(true);
    const sim = model.simulate(normalise(Uint8Array.from(run.input)));
    expect(run.prediction).toBe(argmaxRows(sim)[0]);
    // the decrypted logits track the simulation: CKKS error at Δ ≈ 2^30 after 9 levels is far
    // below 1% of the logit range (a wrong key, layout or normalisation gives errors of its size)
    const range = Math.max(...sim.data) - Math.min(...sim.data);
    let err = 0;
    for (let i = 0; i < 10; i++) err = Math.max(err, Math.abs(run.logits[i] - sim.data[i]));
    expect(err).toBeLessThan(0.01 * range);
    expect(run.layers.map((l) => l.op)).toEqual(model.graph.nodes.map((n) => n.op === 'Relu' ? 'Poly' : n.op).slice(0, run.layers.length));
    expect(run.inputBytes).toBeGreaterThan(0);
    expect(run.outputBytes).toBeGreaterThan(0);
  }

  async function classifyAndWait(): Promise<Run> {
    const before = await browser.evaluate<number>('veilDemo.runs.length');
    await browser.evaluate("document.getElementById('classify').click()");
    await browser.waitFor(`veilDemo.runs.length > ${before} || veilDemo.state === 'error'`, 120_000);
    const error = await browser.evaluate<string | undefined>('veilDemo.error');
    expect(error).toBeUndefined();
    return browser.evaluate<Run>('veilDemo.runs.at(-1)');
  }

  it('loads the bundle in a cross-origin-isolated page, makes keys, classifies a fixture digit as the simulation does', async () => {
    expect(server.plan.params).toEqual(model.plan.params);
    await browser.navigate(server.url);
    await browser.waitFor("veilDemo.state === 'ready' || veilDemo.state === 'error'", 120_000);
    expect(await browser.evaluate('veilDemo.error')).toBeUndefined();
    expect(await browser.evaluate('crossOriginIsolated')).toBe(true);
    // the page ran the bundle, not the module tree
    expect(server.requests).toContain('/veil.js');
    expect(server.requests.some((p) => p.startsWith('/dist/'))).toBe(false);
    expect(await browser.evaluate<number>('veilDemo.keyBytes')).toBeGreaterThan(1 << 20);

    await browser.evaluate(`document.querySelector('#digits button[data-label="7"]').click()`);
    const run = await classifyAndWait();
    expect(run.source).toBe('fixture');
    expect(run.picked?.label).toBe(7);
    checkAgainstSimulation(run);
    expect(await browser.evaluate('document.getElementById("prediction").textContent')).toBe(String(run.prediction));
  }, 240_000);

  it('classifies a digit drawn on the canvas with the mouse (centred 28×28, pixel/255) as the simulation does', async () => {
    await browser.evaluate("document.getElementById('clear').click()");
    const box = await browser.evaluate<{ x: number; y: number; w: number }>(
      "(() => { const r = document.getElementById('pad').getBoundingClientRect(); return { x: r.left, y: r.top, w: r.width }; })()",
    );
    // a "7": a top bar, then a diagonal down to the lower left
    const at = (u: number, v: number): [number, number] => [box.x + u * box.w, box.y + v * box.w];
    const pts: [number, number][] = [];
    for (let i = 0; i <= 10; i++) pts.push(at(0.25 + 0.05 * i, 0.2));
    for (let i = 1; i <= 12; i++) pts.push(at(0.75 - 0.025 * i, 0.2 + 0.055 * i));
    await browser.drag(pts);
    const run = await classifyAndWait();
    expect(run.source).toBe('drawn');
    // the drawing became an MNIST-like digit: its centre of mass within a pixel of the centre
    let ink = 0;
    let mx = 0;
    let my = 0;
    run.input.forEach((v, i) => {
      ink += v;
      mx += v * (i % 28);
      my += v * Math.floor(i / 28);
    });
    expect(ink).toBeGreaterThan(255 * 30);
    expect(Math.abs(mx / ink - 13.5)).toBeLessThanOrEqual(1);
    expect(Math.abs(my / ink - 13.5)).toBeLessThanOrEqual(1);
    checkAgainstSimulation(run);
  }, 240_000);
});
