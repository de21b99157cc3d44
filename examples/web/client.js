// The web demo's browser side: the client of private inference. It loads Veil's browser bundle,
// fetches the server's public plan, generates the keys (the secret key never leaves this page),
// sends the evaluation keys, then for each digit: normalises it as the model expects
// (float32(u8) / 255, [1, 1, 28, 28]), encrypts, sends the bytes, follows the server's per-layer
// progress (server-sent events), fetches the encrypted logits and decrypts them.
// State for tests and curious users: window.veilDemo, and document.body.dataset.state
// ('loading' → 'keys' → 'ready' → 'running' → 'done' | 'error').
import { Client } from '/veil.js';

const $ = (id) => document.getElementById(id);
const demo = (window.veilDemo = { state: 'loading', keyBytes: 0, runs: [] });
const setState = (s, text) => {
  demo.state = s;
  document.body.dataset.state = s;
  if (text) $('status').textContent = text;
};
const mib = (n) => `${(n / 2 ** 20).toFixed(2)} MiB`;
const secs = (s) => `${s.toFixed(2)} s`;
const frame = () => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));

async function http(path, init) {
  const r = await fetch(path, init);
  if (!r.ok) throw new Error(`${init?.method ?? 'GET'} ${path}: ${r.status} ${await r.text()}`);
  return r;
}

// ---- drawing pad (280 × 280, white on black like MNIST) and the 28 × 28 input ----
const pad = $('pad');
const pctx = pad.getContext('2d', { willReadFrequently: true });
let input = null; // Uint8Array(784), 0–255: what will be encrypted
let drawn = false;

function clearPad() {
  pctx.fillStyle = '#000';
  pctx.fillRect(0, 0, pad.width, pad.height);
  input = null;
  drawn = false;
  showSmall(new Uint8Array(784));
  updateButtons();
}

function showSmall(u8) {
  const s = $('small').getContext('2d');
  const img = s.createImageData(28, 28);
  for (let i = 0; i < 784; i++) img.data.set([u8[i], u8[i], u8[i], 255], 4 * i);
  const tmp = new OffscreenCanvas(28, 28);
  tmp.getContext('2d').putImageData(img, 0, 0);
  s.imageSmoothingEnabled = false;
  s.drawImage(tmp, 0, 0, 56, 56);
}

// MNIST digits are centred by their centre of mass in a 28 × 28 box, the digit fitted in 20 × 20:
// crop the drawing to its bounding box, scale it to fit 20 × 20, then shift the mass to the centre.
function padToInput() {
  const { data, width, height } = pctx.getImageData(0, 0, pad.width, pad.height);
  let x0 = width, y0 = height, x1 = -1, y1 = -1;
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) {
    if (data[4 * (y * width + x)] > 20) { x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
  }
  if (x1 < 0) return null;
  const w = x1 - x0 + 1, h = y1 - y0 + 1, k = 20 / Math.max(w, h);
  const fit = new OffscreenCanvas(28, 28);
  const f = fit.getContext('2d', { willReadFrequently: true });
  f.fillStyle = '#000';
  f.fillRect(0, 0, 28, 28);
  f.imageSmoothingEnabled = true;
  f.imageSmoothingQuality = 'high';
  f.drawImage(pad, x0, y0, w, h, (28 - w * k) / 2, (28 - h * k) / 2, w * k, h * k);
  const px = f.getImageData(0, 0, 28, 28).data;
  let m = 0, mx = 0, my = 0;
  for (let i = 0; i < 784; i++) { const v = px[4 * i]; m += v; mx += v * (i % 28); my += v * Math.floor(i / 28); }
  const dx = Math.round(13.5 - mx / m), dy = Math.round(13.5 - my / m);
  const out = new Uint8Array(784);
  for (let y = 0; y < 28; y++) for (let x = 0; x < 28; x++) {
    const sx = x - dx, sy = y - dy;
    if (sx >= 0 && sx < 28 && sy >= 0 && sy < 28) out[y * 28 + x] = px[4 * (sy * 28 + sx)];
  }
  return out;
}

let last = null;
function strokeTo(e) {
  const r = pad.getBoundingClientRect();
  const p = { x: ((e.clientX - r.left) * pad.width) / r.width, y: ((e.clientY - r.top) * pad.height) / r.height };
  pctx.strokeStyle = '#fff';
  pctx.lineWidth = 22;
  pctx.lineCap = 'round';
  pctx.lineJoin = 'round';
  pctx.beginPath();
  pctx.moveTo((last ?? p).x, (last ?? p).y);
  pctx.lineTo(p.x, p.y);
  pctx.stroke();
  last = p;
}
pad.addEventListener('pointerdown', (e) => { pad.setPointerCapture(e.pointerId); last = null; strokeTo(e); });
pad.addEventListener('pointermove', (e) => { if (e.buttons & 1) strokeTo(e); });
pad.addEventListener('pointerup', () => {
  last = null;
  drawn = true;
  input = padToInput();
  if (input) showSmall(input);
  for (const b of $('digits').children) b.classList.remove('sel');
  updateButtons();
});
$('clear').addEventListener('click', clearPad);

// ---- fixture digits ----
async function loadDigits() {
  const digits = await (await http('/digits')).json();
  for (const d of digits) {
    const u8 = Uint8Array.from(atob(d.pixels), (c) => c.charCodeAt(0));
    const b = document.createElement('button');
    b.title = `test digit #${d.index} (label ${d.label})`;
    b.dataset.label = String(d.label);
    const c = document.createElement('canvas');
    c.width = c.height = 28;
    c.style.width = c.style.height = '40px';
    const img = c.getContext('2d').createImageData(28, 28);
    for (let i = 0; i < 784; i++) img.data.set([u8[i], u8[i], u8[i], 255], 4 * i);
    c.getContext('2d').putImageData(img, 0, 0);
    b.append(c);
    b.addEventListener('click', () => {
      input = u8;
      drawn = false;
      pctx.imageSmoothingEnabled = false;
      pctx.drawImage(c, 0, 0, pad.width, pad.height);
      showSmall(u8);
      for (const o of $('digits').children) o.classList.toggle('sel', o === b);
      demo.picked = { index: d.index, label: d.label };
      updateButtons();
    });
    $('digits').append(b);
  }
}

// ---- keys and inference ----
let client = null;
let session = null;

function updateButtons() {
  $('classify').disabled = !(client && session && input && demo.state !== 'running');
}

function fact(name, value) {
  const tr = document.createElement('tr');
  tr.innerHTML = `<td></td><td class="num"></td>`;
  tr.children[0].textContent = name;
  tr.children[1].textContent = value;
  $('facts').tBodies[0].append(tr);
}

async function setup() {
  const plan = await (await http('/plan')).json();
  demo.plan = plan;
  const p = plan.params;
  $('params').textContent = `Model ${plan.name}, ${plan.layout} layout, depth ${plan.depth}; CKKS N = 2^${p.logN}, ${p.q.length} + ${p.p.length} primes${p.insecure ? ' (INSECURE test parameters)' : ''}; ${plan.rotations.length} rotation keys.`;
  await loadDigits();
  setState('keys', 'generating keys in this page (a few seconds; the page is busy meanwhile)…');
  await frame();
  let t = performance.now();
  client = new Client(plan);
  const keys = client.evaluationKeys();
  demo.keygenSeconds = (performance.now() - t) / 1000;
  demo.keyBytes = keys.length;
  setState('keys', `sending the evaluation keys (${mib(keys.length)})…`);
  t = performance.now();
  session = (await (await http('/sessions', { method: 'POST', body: keys })).json()).session;
  demo.keyUploadSeconds = (performance.now() - t) / 1000;
  fact('key generation', secs(demo.keygenSeconds));
  fact('evaluation keys sent', mib(keys.length));
  setState('ready', 'ready: draw a digit or pick one, then Encrypt and classify');
  updateButtons();
}

function followJob(job, total) {
  return new Promise((resolve, reject) => {
    const es = new EventSource(`/jobs/${job}/events`);
    es.addEventListener('progress', (e) => {
      const p = JSON.parse(e.data);
      $('bar').max = p.total;
      $('bar').value = p.index;
      setState('running', `server: ${p.op} ${p.node} done (${p.index}/${p.total}, ${secs(p.seconds)})`);
    });
    es.addEventListener('done', (e) => { es.close(); resolve(JSON.parse(e.data)); });
    es.addEventListener('failed', (e) => { es.close(); reject(new Error(JSON.parse(e.data).message)); });
    es.onerror = () => { es.close(); reject(new Error('lost the progress stream')); };
    void total;
  });
}

async function classify() {
  const run = { source: drawn ? 'drawn' : 'fixture', picked: drawn ? null : demo.picked ?? null };
  setState('running', 'encrypting…');
  updateButtons();
  $('bar').value = 0;
  $('layers').tBodies[0].replaceChildren();
  $('prediction').textContent = '…';
  $('scores').replaceChildren();
  await frame();
  // the fixtures' normalisation: float32(u8) / 255, NCHW [1, 1, 28, 28]
  const x = new Float64Array(784);
  for (let i = 0; i < 784; i++) x[i] = Math.fround(input[i] / 255);
  run.input = Array.from(input);
  let t = performance.now();
  const enc = client.encrypt({ shape: [1, 1, 28, 28], data: x });
  run.encryptSeconds = (performance.now() - t) / 1000;
  run.inputBytes = enc.length;
  setState('running', `sending the encrypted digit (${mib(enc.length)})…`);
  t = performance.now();
  const { job } = await (await http(`/sessions/${session}/infer`, { method: 'POST', body: enc })).json();
  const done = await followJob(job);
  run.serverSeconds = done.seconds;
  run.layers = done.layers;
  const out = new Uint8Array(await (await http(`/jobs/${job}/result`)).arrayBuffer());
  run.roundTripSeconds = (performance.now() - t) / 1000;
  run.outputBytes = out.length;
  t = performance.now();
  const y = client.decrypt(out);
  run.decryptSeconds = (performance.now() - t) / 1000;
  run.logits = Array.from(y.data);
  run.prediction = run.logits.indexOf(Math.max(...run.logits));
  demo.runs.push(run);
  show(run);
  setState('done', `done: the server answered in ${secs(run.serverSeconds)}`);
  updateButtons();
}

function show(run) {
  $('prediction').textContent = String(run.prediction);
  const max = Math.max(...run.logits);
  const exp = run.logits.map((v) => Math.exp(v - max));
  const sum = exp.reduce((a, b) => a + b, 0);
  const rows = exp.map((e, d) => `<tr><td>${d}</td><td><span class="bar" style="width:${(120 * e) / sum}px"></span></td><td class="num">${((100 * e) / sum).toFixed(1)}%</td></tr>`);
  $('scores').innerHTML = `<table>${rows.join('')}</table>`;
  const tb = $('layers').tBodies[0];
  for (const l of run.layers) {
    const tr = document.createElement('tr');
    tr.innerHTML = '<td></td><td></td><td class="num"></td>';
    tr.children[0].textContent = l.op;
    tr.children[1].textContent = l.node;
    tr.children[2].textContent = secs(l.seconds);
    tb.append(tr);
  }
  $('facts').tBodies[0].replaceChildren();
  fact('key generation', secs(demo.keygenSeconds));
  fact('evaluation keys sent', mib(demo.keyBytes));
  fact('encryption', secs(run.encryptSeconds));
  fact('encrypted digit sent', mib(run.inputBytes));
  fact('server (all layers)', secs(run.serverSeconds));
  fact('encrypted logits received', mib(run.outputBytes));
  fact('decryption', secs(run.decryptSeconds));
}

$('classify').addEventListener('click', () => {
  classify().catch((e) => {
    demo.error = String(e && e.stack || e);
    setState('error', `error: ${e.message ?? e}`);
    updateButtons();
  });
});

clearPad();
setup().catch((e) => {
  demo.error = String(e && e.stack || e);
  setState('error', `error: ${e.message ?? e}`);
});
