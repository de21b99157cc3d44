/**
 * @module cli/args
 * The `veil` command line, parsed and validated before any work: every option's value, every file
 * that must exist (model, input, calibration, labels, degree file) and the output's directory, so
 * a mistake costs no compilation or key generation. Errors are typed (`CliError`, a `VeilError`
 * with `code` and `fix`), exit code 1.
 */
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { VeilError } from '../ckks/errors.js';
import { BOOTSTRAP_PRESETS } from '../bootstrap/params.js';

/** A bad command line or a missing file: names the cause and the fix. */
export class CliError extends VeilError {
  override readonly code: string;
  constructor(code: 'VEIL_CLI_USAGE' | 'VEIL_CLI_FILE' | 'VEIL_CLI_OPTION' | 'VEIL_CLI_INPUT' | 'VEIL_CLI_MEMORY', message: string, fix: string) {
    super(message, fix);
    this.code = code;
  }
}

export const LAYOUT_CHOICES = ['auto', 'batch', 'channel', 'packed'] as const;
export type LayoutChoice = (typeof LAYOUT_CHOICES)[number];

/** Options taking a value, and flags. */
const VALUED = new Set(['calibration', 'shape', 'calibration-shape', 'layout', 'degrees', 'input', 'out', 'labels', 'threads', 'min-log-scale', 'cluster', 'bootstrap']);
const FLAGS = new Set(['json', 'simulate', 'plain']);
const FOR: Record<string, 'inspect' | 'infer' | 'both'> = {
  calibration: 'both', shape: 'both', 'calibration-shape': 'infer', layout: 'both', degrees: 'both', input: 'infer', out: 'infer', labels: 'both',
  threads: 'both', 'min-log-scale': 'both', cluster: 'both', json: 'inspect', simulate: 'infer', plain: 'infer',
  bootstrap: 'both',
};

/** A parsed, validated command. */
export interface Command {
  cmd: 'inspect' | 'infer';
  model: string;
  input?: string;
  out?: string;
  shape?: number[];
  calibration?: string;
  calibrationShape?: number[];
  labels?: string;
  layout: LayoutChoice;
  degrees?: string;
  threads: number;
  /** Whether --threads was given (otherwise compilation and simulation use every core). */
  threadsGiven: boolean;
  minLogScale?: number;
  cluster?: number;
  json: boolean;
  simulate: boolean;
  plain: boolean;
  /**
   * Bootstrapping preset (with `--layout packed` or `channel`): inspect reports where bootstraps go
   * when the network is deeper than its user levels; infer runs them.
   */
  bootstrap?: string;
}

export type Parsed = { kind: 'help' } | { kind: 'version' } | { kind: 'run'; command: Command };

const usage = (message: string, fix = 'run veil --help for the usage') => new CliError('VEIL_CLI_USAGE', message, fix);

function parseShape(name: string, s: string): number[] {
  const dims = s.split(',').map((x) => Number(x.trim()));
  if (dims.length < 2 || dims.some((d) => !Number.isInteger(d) || d <= 0)) {
    throw new CliError('VEIL_CLI_OPTION', `--${name} ${s} is not a shape`, `give positive integers separated by commas, like --${name} 64,1,28,28`);
  }
  return dims;
}

function intOption(name: string, s: string, min: number, max: number, what: string): number {
  const v = Number(s);
  if (!Number.isInteger(v) || v < min || v > max) throw new CliError('VEIL_CLI_OPTION', `--${name} ${s} is not ${what}`, `give an integer from ${min} to ${max}, e.g. --${name} ${min}`);
  return v;
}

/** Checks that `path` is a readable file; the message names the option it came from. */
export function checkReadable(path: string, what: string): void {
  if (!existsSync(path)) {
    throw new CliError('VEIL_CLI_FILE', `${what} ${path} does not exist (looked in ${resolve(path)})`, 'check the path; relative paths start from the current directory');
  }
  const st = statSync(path);
  if (!st.isFile()) throw new CliError('VEIL_CLI_FILE', `${what} ${path} is not a file`, 'give the path of a file, not a directory');
  try {
    accessSync(path, constants.R_OK);
  } catch {
    throw new CliError('VEIL_CLI_FILE', `${what} ${path} cannot be read (permission denied)`, `make it readable (chmod +r ${path})`);
  }
}

/** Parses and validates argv (without `node veil`). Touches the file system only to check files. */
export function parseCommandLine(argv: readonly string[], maxThreads = 256): Parsed {
  const [cmd, ...rest] = argv;
  if (cmd === undefined) throw usage('no command given', 'run veil inspect MODEL.onnx or veil infer MODEL.onnx …; veil --help shows the usage');
  if (cmd === '--help' || cmd === '-h' || cmd === 'help') return { kind: 'help' };
  if (cmd === '--version' || cmd === '-v' || cmd === 'version') return { kind: 'version' };
  if (rest.includes('--help') || rest.includes('-h')) return { kind: 'help' };
  if (cmd !== 'inspect' && cmd !== 'infer') throw usage(`unknown command '${cmd}'`, 'use veil inspect or veil infer (veil --help shows the usage)');
  const [model, ...opts] = rest;
  if (model === undefined || model.startsWith('--')) throw usage(`${cmd} needs a model file`, `run veil ${cmd} MODEL.onnx …`);
  const o = new Map<string, string | true>();
  for (let i = 0; i < opts.length; i++) {
    const a = opts[i];
    if (!a.startsWith('--')) throw usage(`unexpected argument '${a}'`, 'options start with -- (veil --help lists them)');
    const eq = a.indexOf('=');
    const key = eq > 0 ? a.slice(2, eq) : a.slice(2);
    if (!VALUED.has(key) && !FLAGS.has(key)) throw usage(`unknown option --${key}`);
    if (FOR[key] !== 'both' && FOR[key] !== cmd) throw usage(`--${key} is an option of veil ${FOR[key]}, not of veil ${cmd}`);
    if (FLAGS.has(key)) {
      if (eq > 0) throw usage(`--${key} takes no value`);
      o.set(key, true);
    } else if (eq > 0) o.set(key, a.slice(eq + 1));
    else if (i + 1 < opts.length && !opts[i + 1].startsWith('--')) o.set(key, opts[++i]);
    else throw usage(`--${key} needs a value`);
  }
  const s = (k: string) => o.get(k) as string | undefined;
  const layout = s('layout') ?? 'auto';
  if (!(LAYOUT_CHOICES as readonly string[]).includes(layout)) {
    throw new CliError('VEIL_CLI_OPTION', `unknown layout '${layout}'`, `use --layout ${LAYOUT_CHOICES.join(', --layout ')}`);
  }
  const c: Command = {
    cmd, model, layout: layout as LayoutChoice, threads: 1, threadsGiven: s('threads') !== undefined, json: o.has('json'), simulate: o.has('simulate'), plain: o.has('plain'),
  };
  if (s('shape') !== undefined) c.shape = parseShape('shape', s('shape')!);
  if (s('calibration-shape') !== undefined) c.calibrationShape = parseShape('calibration-shape', s('calibration-shape')!);
  if (s('threads') !== undefined) c.threads = intOption('threads', s('threads')!, 1, maxThreads, 'a thread count');
  if (s('cluster') !== undefined) c.cluster = intOption('cluster', s('cluster')!, 2, 65536, 'a number of weight values per layer');
  if (s('min-log-scale') !== undefined) {
    const v = Number(s('min-log-scale'));
    if (!Number.isFinite(v) || v < 10 || v > 60) throw new CliError('VEIL_CLI_OPTION', `--min-log-scale ${s('min-log-scale')} is out of range`, 'give log2 of the smallest scale, from 10 to 60 (e.g. 25)');
    c.minLogScale = v;
  }
  if (s('bootstrap') !== undefined) {
    const b = s('bootstrap')!;
    if (!Object.hasOwn(BOOTSTRAP_PRESETS, b)) throw new CliError('VEIL_CLI_OPTION', `unknown bootstrapping preset '${b}'`, `use --bootstrap ${Object.keys(BOOTSTRAP_PRESETS).join(', --bootstrap ')}`);
    if (c.layout !== 'packed' && c.layout !== 'channel') throw usage('--bootstrap places bootstraps in the packed or the channel layout', 'add --layout packed (or --layout channel)');
    if (c.plain || c.simulate) throw usage(`--bootstrap runs encrypted inference; --${c.plain ? 'plain' : 'simulate'} does not encrypt`, `leave out --${c.plain ? 'plain' : 'simulate'} (or --bootstrap)`);
    c.bootstrap = b;
  }
  if (c.simulate && c.plain) throw usage('--simulate and --plain exclude each other', 'give one: --plain (float64 model) or --simulate (float64 model with the polynomials)');
  checkReadable(model, 'model file');
  for (const [k, what] of [['calibration', 'calibration file'], ['labels', 'labels file'], ['input', 'input file']] as const) {
    if (s(k) !== undefined) {
      checkReadable(s(k)!, `${what} (--${k})`);
      (c as unknown as Record<string, string>)[k] = s(k)!;
    }
  }
  const deg = s('degrees');
  if (deg !== undefined) {
    if (deg.toLowerCase().endsWith('.json')) checkReadable(deg, 'degree file (--degrees)');
    c.degrees = deg;
  }
  if (cmd === 'infer') {
    if (!c.input) throw usage('infer needs --input FILE', 'add --input digits.f32 --shape N,1,28,28 (or a .npy/.json file)');
    if (!s('out')) throw usage('infer needs --out RESULT.json', 'add --out result.json');
    c.out = s('out')!;
    const dir = dirname(resolve(c.out));
    if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new CliError('VEIL_CLI_FILE', `the directory of --out ${c.out} does not exist`, `create it (mkdir -p ${dir}) or write elsewhere`);
    try {
      accessSync(dir, constants.W_OK);
    } catch {
      throw new CliError('VEIL_CLI_FILE', `the directory of --out ${c.out} is not writable`, 'write the result elsewhere');
    }
    const raw = (p: string) => !/\.(npy|json)$/i.test(p);
    if (raw(c.input) && !c.shape) throw new CliError('VEIL_CLI_OPTION', `${c.input} is raw float32 and needs a shape`, 'pass --shape N,C,H,W (e.g. --shape 64,1,28,28)');
    if (c.calibration && raw(c.calibration) && !(c.calibrationShape ?? c.shape)) {
      throw new CliError('VEIL_CLI_OPTION', `${c.calibration} is raw float32 and needs a shape`, 'pass --calibration-shape N,C,H,W');
    }
  } else if (c.calibration && !/\.(npy|json)$/i.test(c.calibration) && !c.shape) {
    throw new CliError('VEIL_CLI_OPTION', `${c.calibration} is raw float32 and needs a shape`, 'pass --shape N,C,H,W');
  }
  return { kind: 'run', command: c };
}
