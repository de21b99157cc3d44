/**
 * @module cli/train
 * `veil train`: approximation-aware fine-tuning of a trained ReLU model (src/train/recipes):
 *   veil train MODEL.onnx --data X --labels Y --recipe paper|smartpaf|beaa [--degree N] [--epochs N]
 *              [--threads N] [--validation N | --val-data X --val-labels Y] [--form F] [--seed N]
 *              [--clip B|auto[:M]] [--zeta Z] [--lr X] [--step-epochs N] [--static-epochs N] [--out MODEL.poly.onnx] [--report REPORT.json]
 * X: raw float32 (.f32/.bin/.raw), raw uint8 pixels (.u8, scaled by 1/255 as the fixtures), or .npy;
 * the per-sample shape is the model's input. Without --val-data the last --validation samples
 * (default one eighth) are held out for validation and never trained on. A progress bar (epoch,
 * loss, accuracy, time left) goes to stderr; the output model is written with standard ONNX ops
 * and read back to check its validation accuracy with Veil's float64 executor.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { sizeOf } from '../nn/graph.js';
import { readNpy } from '../nn/io.js';
import { importOnnx } from '../nn/onnx/index.js';
import { writeOnnx } from '../nn/onnx/writer.js';
import { argmaxRows, runReference } from '../nn/reference.js';
import { type PafForm, PAF_FORMS, pafDegree, splitDataset, trainBeaa, trainPaper, trainSmartPaf } from '../train/recipes/index.js';
import type { RecipeResult } from '../train/recipes/index.js';
import type { Dataset } from '../train/step.js';
import type { TrainProgress } from '../train/trainer.js';
import { CliError, checkReadable } from './args.js';
import { formatDuration } from './progress.js';

export const TRAIN_USAGE = `  veil train   MODEL.onnx --data X --labels Y --recipe paper|smartpaf|beaa [--degree N] [--epochs N]
               [--threads N] [--validation N | --val-data X --val-labels Y] [--form F] [--seed N]
               [--clip B|auto[:M]] [--zeta Z] [--lr X] [--step-epochs N] [--static-epochs N] [--out MODEL.poly.onnx] [--report REPORT.json]
`;

const HELP = `veil train: approximation-aware fine-tuning of a trained ReLU model

usage:
${TRAIN_USAGE}
  --recipe paper     quadratic per layer (PAPER): clamp to [-2, 2] and penalty while training, SGD
           smartpaf  composite sign polynomials (SmartPAF): coefficient tuning, one activation at a
                     time, alternate training, dynamic then static scale (--form or --degree)
           beaa      quadratic per element (BEAA) trained with distillation from the ReLU model
  --data X           training images: .f32 (raw float32), .u8 (raw bytes, divided by 255) or .npy
  --labels Y         one uint8 per image
  --validation N     hold out the last N samples for validation (default: one eighth)
  --degree N         polynomial degree (paper, beaa: default 2; smartpaf: the lowest form of at least N)
  --form F           smartpaf form: ${PAF_FORMS.join(', ')}
  --clip B|auto[:M]  paper: clamp and fit interval [-B, B] (default 2, PAPER's); auto: per layer,
                     B = M·max |x| of that activation's inputs on the training data (M default 1),
                     PAPER's quadratic rescaled to it (for a ReLU model whose inputs exceed [-2, 2])
  --zeta Z           paper: weight of the out-of-interval penalty (default 0.001, PAPER's)
  --lr X             base learning rate (default: the recipe's)
  --step-epochs N    smartpaf: epochs after each replacement (default 2); beaa: after each partial
                     replacement stage (default 2). --epochs is the final phase (all replaced)
  --static-epochs N  smartpaf: the last N final epochs train at the static scale (SS) that is
                     deployed, not the batch's max |x| (default 0, SmartPAF's)
  --threads N        worker threads (default 1)
  --out FILE         output model (default: MODEL.poly.onnx)
  --report FILE      JSON report: accuracies, history, choices
`;

interface TrainCommand {
  model: string;
  data: string;
  labels: string;
  recipe: 'paper' | 'smartpaf' | 'beaa';
  degree?: number;
  epochs?: number;
  threads: number;
  validation?: number;
  valData?: string;
  valLabels?: string;
  form?: PafForm;
  seed: number;
  out: string;
  report?: string;
  clip?: number | 'auto';
  clipMargin?: number;
  zeta?: number;
  lr?: number;
  stepEpochs?: number;
  staticEpochs?: number;
}

const VALUED = new Set(['data', 'labels', 'recipe', 'degree', 'epochs', 'threads', 'validation', 'val-data', 'val-labels', 'form', 'seed', 'out', 'report', 'clip', 'zeta', 'lr', 'step-epochs', 'static-epochs']);

function int(name: string, v: string, min: number, max: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new CliError('VEIL_CLI_OPTION', `--${name} ${v} is not an integer from ${min} to ${max}`, `give e.g. --${name} ${min}`);
  return n;
}

/** Parses and validates `veil train` arguments (everything after `train`). */
export function parseTrainArgs(argv: string[]): TrainCommand | 'help' {
  if (argv.includes('--help') || argv.includes('-h')) return 'help';
  const opts = new Map<string, string>();
  const pos: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) {
      pos.push(a);
      continue;
    }
    const k = a.slice(2);
    if (!VALUED.has(k)) throw new CliError('VEIL_CLI_USAGE', `unknown option ${a} for veil train`, 'run veil train --help for the options');
    const v = argv[++i];
    if (v === undefined || v.startsWith('--')) throw new CliError('VEIL_CLI_USAGE', `${a} needs a value`, `write ${a} VALUE`);
    opts.set(k, v);
  }
  if (pos.length !== 1) throw new CliError('VEIL_CLI_USAGE', `veil train takes one model file, got ${pos.length}`, 'write veil train MODEL.onnx --data X --labels Y --recipe paper');
  const need = (k: string) => {
    const v = opts.get(k);
    if (v === undefined) throw new CliError('VEIL_CLI_USAGE', `veil train needs --${k}`, 'run veil train --help for the options');
    return v;
  };
  const recipe = need('recipe');
  if (recipe !== 'paper' && recipe !== 'smartpaf' && recipe !== 'beaa') throw new CliError('VEIL_CLI_OPTION', `--recipe ${recipe} is not a recipe`, 'use --recipe paper, smartpaf or beaa');
  const form = opts.get('form');
  if (form !== undefined && !(PAF_FORMS as readonly string[]).includes(form)) throw new CliError('VEIL_CLI_OPTION', `--form ${form} is not a SmartPAF form`, `use one of ${PAF_FORMS.join(', ')}`);
  if (form !== undefined && recipe !== 'smartpaf') throw new CliError('VEIL_CLI_USAGE', '--form applies to --recipe smartpaf only', 'drop --form or use --recipe smartpaf');
  if ((opts.has('val-data') ? 1 : 0) + (opts.has('val-labels') ? 1 : 0) === 1) throw new CliError('VEIL_CLI_USAGE', '--val-data and --val-labels go together', 'give both, or use --validation N');
  if (opts.has('val-data') && opts.has('validation')) throw new CliError('VEIL_CLI_USAGE', '--validation and --val-data exclude each other', 'give one of them');
  const model = pos[0];
  const cmd: TrainCommand = {
    model, data: need('data'), labels: need('labels'), recipe, threads: opts.has('threads') ? int('threads', opts.get('threads')!, 1, 64) : 1,
    seed: opts.has('seed') ? int('seed', opts.get('seed')!, 0, 2 ** 31 - 1) : 1, out: opts.get('out') ?? model.replace(/\.onnx$/i, '') + '.poly.onnx',
    ...(opts.has('degree') ? { degree: int('degree', opts.get('degree')!, 1, 127) } : {}),
    ...(opts.has('epochs') ? { epochs: int('epochs', opts.get('epochs')!, 0, 10000) } : {}),
    ...(opts.has('validation') ? { validation: int('validation', opts.get('validation')!, 1, 2 ** 31 - 1) } : {}),
    ...(opts.has('val-data') ? { valData: opts.get('val-data')!, valLabels: opts.get('val-labels')! } : {}),
    ...(form ? { form: form as PafForm } : {}),
    ...(opts.has('report') ? { report: opts.get('report')! } : {}),
  };
  const clip = opts.get('clip');
  if (clip !== undefined) {
    if (recipe !== 'paper') throw new CliError('VEIL_CLI_USAGE', '--clip applies to --recipe paper only', 'drop --clip or use --recipe paper');
    const auto = /^auto(?::(.*))?$/.exec(clip);
    const b = Number(auto ? (auto[1] ?? '1') : clip);
    if (!(Number.isFinite(b) && b > 0 && b <= 1e4)) throw new CliError('VEIL_CLI_OPTION', `--clip ${clip} is neither a positive number nor auto[:M] with M > 0`, 'use e.g. --clip 2, --clip auto or --clip auto:0.5');
    if (auto) {
      cmd.clip = 'auto';
      cmd.clipMargin = b;
    } else cmd.clip = b;
  }
  const zeta = opts.get('zeta');
  if (zeta !== undefined) {
    if (recipe !== 'paper') throw new CliError('VEIL_CLI_USAGE', '--zeta applies to --recipe paper only', 'drop --zeta or use --recipe paper');
    const z = Number(zeta);
    if (!(Number.isFinite(z) && z >= 0 && z <= 1e3)) throw new CliError('VEIL_CLI_OPTION', `--zeta ${zeta} is not a penalty weight in [0, 1000]`, 'use e.g. --zeta 0.001');
    cmd.zeta = z;
  }
  const lr = opts.get('lr');
  if (lr !== undefined) {
    const v = Number(lr);
    if (!(Number.isFinite(v) && v > 0 && v <= 10)) throw new CliError('VEIL_CLI_OPTION', `--lr ${lr} is not a learning rate in (0, 10]`, 'use e.g. --lr 0.001');
    cmd.lr = v;
  }
  if (opts.has('step-epochs')) {
    if (recipe === 'paper') throw new CliError('VEIL_CLI_USAGE', '--step-epochs applies to --recipe smartpaf and beaa', 'drop --step-epochs (paper has one phase: --epochs)');
    cmd.stepEpochs = int('step-epochs', opts.get('step-epochs')!, 0, 1000);
  }
  if (opts.has('static-epochs')) {
    if (recipe !== 'smartpaf') throw new CliError('VEIL_CLI_USAGE', '--static-epochs applies to --recipe smartpaf only', 'drop --static-epochs or use --recipe smartpaf');
    cmd.staticEpochs = int('static-epochs', opts.get('static-epochs')!, 0, 10000);
  }
  if (recipe === 'paper' && cmd.degree !== undefined && cmd.degree > 4) throw new CliError('VEIL_CLI_OPTION', `--degree ${cmd.degree} is too high for PAPER's fixed-point fit`, 'use --degree 2 (PAPER) to 4');
  for (const [f, what] of [[cmd.model, 'model'], [cmd.data, '--data'], [cmd.labels, '--labels'], [cmd.valData, '--val-data'], [cmd.valLabels, '--val-labels']] as const) {
    if (f !== undefined) checkReadable(f, what);
  }
  return cmd;
}

/** Reads images for a model input shape: .f32/.bin/.raw float32, .u8 bytes/255, .npy. */
function readImages(path: string, shape: number[]): { x: Float32Array; count: number } {
  const bytes = new Uint8Array(readFileSync(path));
  const D = sizeOf(shape);
  const lower = path.toLowerCase();
  let x: Float32Array;
  if (lower.endsWith('.npy')) x = Float32Array.from(readNpy(bytes).data);
  else if (lower.endsWith('.u8')) x = Float32Array.from(bytes, (v) => v / 255);
  else {
    if (bytes.length % 4 !== 0) throw new CliError('VEIL_CLI_INPUT', `${path} has ${bytes.length} bytes, not a float32 file`, 'write raw little-endian float32, or pass .u8 / .npy');
    x = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
  }
  if (x.length % D !== 0 || x.length === 0) throw new CliError('VEIL_CLI_INPUT', `${path} holds ${x.length} values, not a whole number of [${shape}] samples`, `give N×${D} values for the model input [${shape}]`);
  for (let i = 0; i < x.length; i++) if (!Number.isFinite(x[i])) throw new CliError('VEIL_CLI_INPUT', `${path}: value ${i} is ${x[i]}`, 'remove NaN/Inf from the data');
  return { x, count: x.length / D };
}

function readLabelFile(path: string, count: number, classes: number): Uint8Array {
  const bytes = new Uint8Array(readFileSync(path));
  const y = path.toLowerCase().endsWith('.json') ? Uint8Array.from(JSON.parse(new TextDecoder().decode(bytes)) as number[]) : bytes;
  if (y.length !== count) throw new CliError('VEIL_CLI_INPUT', `${path} has ${y.length} labels for ${count} images`, 'give one label per image, in the same order');
  for (let i = 0; i < y.length; i++) if (y[i] >= classes) throw new CliError('VEIL_CLI_INPUT', `${path}: label ${y[i]} (image ${i}) but the model has ${classes} outputs`, 'use labels 0…' + (classes - 1));
  return y;
}

/** Progress bar on stderr: one line redrawn on a terminal, a line every few seconds otherwise. */
class TrainBar {
  private last = 0;
  private readonly tty = Boolean((process.stderr as { isTTY?: boolean }).isTTY);
  update(p: TrainProgress): void {
    const now = performance.now();
    const end = p.batch === p.batches;
    if (!end && now - this.last < (this.tty ? 200 : 5000)) return;
    this.last = now;
    const frac = ((p.epoch - 1) * p.batches + p.batch) / (p.epochs * p.batches);
    const w = 20;
    const bar = '█'.repeat(Math.round(frac * w)).padEnd(w, '░');
    const line = `[veil] ${p.phase}: epoch ${p.epoch}/${p.epochs} ${bar} ${(100 * frac).toFixed(0).padStart(3)}% loss ${p.loss.toFixed(4)} acc ${(100 * p.accuracy).toFixed(2)}%` +
      `${p.validation !== undefined ? ` val ${(100 * p.validation).toFixed(2)}%` : ''} ${formatDuration(p.seconds)} elapsed, ~${formatDuration(p.eta)} left`;
    process.stderr.write(this.tty ? `\r${line}\x1b[K${end && p.epoch === p.epochs ? '\n' : ''}` : `${line}\n`);
  }
}

/** Runs `veil train`; returns the exit code. */
export async function runTrain(argv: string[]): Promise<number> {
  const cmd = parseTrainArgs(argv);
  if (cmd === 'help') {
    process.stdout.write(HELP);
    return 0;
  }
  const graph = importOnnx(new Uint8Array(readFileSync(cmd.model)));
  const acts = graph.nodes.filter((n) => n.op === 'Relu' || n.op === 'Gelu').length;
  if (acts === 0) throw new CliError('VEIL_CLI_INPUT', `${cmd.model} has no ReLU or GELU activation to replace`, 'train a model with ReLU activations (its polynomials are what veil train makes)');
  const K = sizeOf(graph.output.shape);
  const img = readImages(cmd.data, graph.input.shape);
  const all: Dataset = { x: img.x, labels: readLabelFile(cmd.labels, img.count, K), shape: graph.input.shape, count: img.count };
  let train: Dataset;
  let validation: Dataset;
  if (cmd.valData) {
    const v = readImages(cmd.valData, graph.input.shape);
    train = all;
    validation = { x: v.x, labels: readLabelFile(cmd.valLabels!, v.count, K), shape: graph.input.shape, count: v.count };
  } else {
    const n = cmd.validation ?? Math.max(1, Math.round(all.count / 8));
    if (n >= all.count) throw new CliError('VEIL_CLI_OPTION', `--validation ${n} leaves no training data (${all.count} samples)`, `give a number below ${all.count}`);
    ({ train, validation } = splitDataset(all, n));
  }
  const bar = new TrainBar();
  const log = (l: string) => process.stderr.write(`[veil] ${l}\n`);
  log(`${cmd.recipe}: ${train.count} training and ${validation.count} validation samples, ${cmd.threads} thread(s)`);
  const common = { threads: cmd.threads, seed: cmd.seed, onProgress: (p: TrainProgress) => bar.update(p), log, ...(cmd.epochs !== undefined ? { epochs: cmd.epochs } : {}), ...(cmd.lr !== undefined ? { lr: cmd.lr } : {}) };
  let r: RecipeResult;
  if (cmd.recipe === 'paper') r = await trainPaper(graph, train, validation, { ...common, ...(cmd.degree ? { degree: cmd.degree } : {}), ...(cmd.clip !== undefined ? { clip: cmd.clip } : {}),
      ...(cmd.clipMargin !== undefined ? { clipMargin: cmd.clipMargin } : {}), ...(cmd.zeta !== undefined ? { zeta: cmd.zeta } : {}) });
  else if (cmd.recipe === 'beaa') {
    if (cmd.degree !== undefined && cmd.degree !== 2) throw new CliError('VEIL_CLI_OPTION', `BEAA trains quadratics, --degree ${cmd.degree} was given`, 'drop --degree or use --degree 2');
    r = await trainBeaa(graph, train, validation, { ...common, ...(cmd.stepEpochs !== undefined ? { stageEpochs: cmd.stepEpochs } : {}) });
  } else {
    let form = cmd.form;
    if (!form && cmd.degree !== undefined) {
      form = PAF_FORMS.find((f) => 1 + pafDegree(f) >= cmd.degree!);
      if (!form) throw new CliError('VEIL_CLI_OPTION', `no SmartPAF form reaches degree ${cmd.degree}`, `use --degree ${1 + pafDegree('f1^2∘g1^2')} or lower`);
    }
    r = await trainSmartPaf(graph, train, validation, { ...common, ...(form ? { form } : {}), ...(cmd.stepEpochs !== undefined ? { stepEpochs: cmd.stepEpochs } : {}),
      ...(cmd.staticEpochs !== undefined ? { staticEpochs: cmd.staticEpochs } : {}) });
  }
  const bytes = writeOnnx(r.graph, { docString: `veil train --recipe ${cmd.recipe}: ${JSON.stringify(r.details)}` });
  writeFileSync(cmd.out, bytes);
  // the written file, read back, evaluated by the float64 reference executor
  const back = importOnnx(bytes);
  const logits = runReference(back, { shape: [validation.count, ...graph.input.shape], data: Float64Array.from(validation.x) }, { checkFinite: false });
  const pred = argmaxRows(logits);
  let ok = 0;
  for (let i = 0; i < pred.length; i++) if (pred[i] === validation.labels[i]) ok++;
  const written = ok / validation.count;
  const summary = {
    recipe: r.recipe, model: cmd.model, out: cmd.out, degree: r.degree, baseline_validation: r.baseline, validation: r.validation, written_validation: written,
    seconds: +r.seconds.toFixed(1), details: r.details, history: r.history,
  };
  if (cmd.report) writeFileSync(cmd.report, JSON.stringify(summary, null, 1));
  process.stdout.write(
    `${cmd.out}: ${cmd.recipe}, degree ${r.degree}; validation ${(100 * written).toFixed(2)} % (ReLU model ${(100 * r.baseline).toFixed(2)} %), trained in ${formatDuration(r.seconds)}\n`,
  );
  return 0;
}

