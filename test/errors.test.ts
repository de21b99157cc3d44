/**
 * The one error model: every error class the package exports is a VeilError with a stable code, a
 * message that ends with its fix, and a fix whose code compiles against the real API.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import * as root from '../src/index.js';
import * as nn from '../src/nn/index.js';
import * as approx from '../src/approx/index.js';
import * as base from '../src/errors.js';
import { fixCode } from '../src/fixes.js';

type ErrorClass = (abstract new (...args: never[]) => Error) & { code?: string };

/** One instance of every exported error class, built with representative arguments. */
const SAMPLES: Record<string, () => Error> = {
  VeilError: () => new root.VeilError('something went wrong', 'change the call'),
  InvalidArgumentError: () => new root.InvalidArgumentError('rotation step 0.5', 'use integer steps'),
  SerializationError: () => new root.SerializationError('checksum mismatch', 'serialize again'),
  FormatVersionError: () => new root.FormatVersionError('Veil object', 1, 2),
  InternalError: () => new root.InternalError('invariant'),
  PlatformError: () => new root.PlatformError('no CSPRNG', 'use Node ≥ 20'),
  InsecureParametersError: () => new root.InsecureParametersError(14, 500, 438),
  ParameterError: () => new root.ParameterError('logN = 40 is out of range', 'use logN in 12..16'),
  LevelError: () => new root.LevelError(3, 1, 'mul'),
  ScaleMismatchError: () => new root.ScaleMismatchError(2 ** 30, 2 ** 31),
  MissingGaloisKeyError: () => new root.MissingGaloisKeyError(3, 27),
  MissingRelinKeyError: () => new root.MissingRelinKeyError(),
  KeyLevelError: () => new root.KeyLevelError(3, 4, 9),
  ValueTooLargeError: () => new root.ValueTooLargeError(1e9, 2 ** 30, 60),
  ContextMismatchError: () => new root.ContextMismatchError('ciphertext'),
  KeyMismatchError: () => new root.KeyMismatchError('input ciphertext 0', '0123456789abcdef', 'fedcba9876543210'),
  WorkerPoolUnavailableError: () => new root.WorkerPoolUnavailableError('no SharedArrayBuffer', 'send COOP/COEP headers'),
  PoolOperationError: () => new root.PoolOperationError('a pool thread failed'),
  BundleError: () => new nn.BundleError('bundle has 3 chunks, the shape needs 4'),
  PlanError: () => new nn.PlanError('rotations is not a list of integers'),
  ParameterChoiceError: () => new nn.ParameterChoiceError(60, 'logN 16 holds 50 levels'),
  NumericalError: () => new nn.NumericalError('conv1', 'Conv', 3, Infinity),
  InputShapeError: () => new nn.InputShapeError('input shape [2,3] does not match [N,4]', ['N', 4], [2, 3]),
  NonFiniteInputError: () => new nn.NonFiniteInputError(5, NaN),
  InputFormatError: () => new nn.InputFormatError('not a .npy file'),
  InputRangeError: () => new nn.InputRangeError(7, 255, [0, 1], [-0.25, 1.25]),
  CalibrationError: () => new nn.CalibrationError('bins = 0 is not a positive integer', 'pass a positive integer'),
  OnnxParseError: () => new nn.OnnxParseError('truncated varint', 12),
  UnsupportedOpError: () => new nn.UnsupportedOpError('n1', 'LSTM', undefined, 'recurrent layers are not supported', 'export a CNN'),
  GraphError: () => new nn.GraphError('value x is not defined', 'n2'),
  ChannelLayoutError: () => new nn.ChannelLayoutError('a 64×64 map needs 8192 slots', 'use the batch layout'),
  BootstrapPlacementError: () => new nn.BootstrapPlacementError("node 'relu3' needs 8 levels; a bootstrap gives 7", "use lower polynomial degrees for 'relu3', or a bootstrapping set with more user levels"),
  BootstrapRangeError: () => new nn.BootstrapRangeError("value 'add2' reaches |x| = 3.1e7 in calibration; bootstrapping at these parameters takes |x| ≤ 2^24", "scale the layer producing 'add2' down"),
  ApproximationError: () => new nn.ApproximationError("degree spec 'x' is not understood", 'use "ola"'),
  ApproxError: () => new approx.ApproxError('bins 0 is not a positive integer', 'use a positive integer'),
  ConvergenceError: () => new approx.ConvergenceError('Remez did not converge', 'raise maxIterations'),
  InsufficientLevelsError: () => new approx.InsufficientLevelsError(4, 2),
  InfeasibleBudgetError: () => new approx.InfeasibleBudgetError(1e-6, 1e-3),
};

/** Every exported class whose prototype chain reaches Error, by export name. */
function exportedErrorClasses(): Map<string, ErrorClass> {
  const out = new Map<string, ErrorClass>();
  for (const mod of [root, nn, approx, base] as Record<string, unknown>[]) {
    for (const [name, v] of Object.entries(mod)) {
      if (typeof v === 'function' && v.prototype instanceof Error) out.set(name, v as ErrorClass);
    }
  }
  return out;
}

describe('error classes', () => {
  const classes = exportedErrorClasses();

  it('every exported error class is a VeilError subclass with a sample here', () => {
    expect(classes.size).toBeGreaterThan(30);
    for (const [name, C] of classes) {
      expect(C.prototype instanceof root.VeilError || C === root.VeilError, `${name} extends VeilError`).toBe(true);
      expect(SAMPLES[name], `a sample instance of ${name} in SAMPLES`).toBeDefined();
    }
  });

  it('each has a stable, unique code, a fix, and a message that names the cause then the fix', () => {
    const seen = new Map<string, string>();
    for (const [name, make] of Object.entries(SAMPLES)) {
      const e = make() as root.VeilError;
      const C = classes.get(name);
      expect(C, `${name} is exported`).toBeDefined();
      expect(e).toBeInstanceOf(C as never);
      expect(e).toBeInstanceOf(root.VeilError);
      expect(e.name).toBe(name);
      expect(e.code, name).toMatch(/^[A-Z][A-Z0-9_]+$/);
      expect(e.code).toBe(C!.code);
      expect(seen.get(e.code), `code ${e.code} of ${name} is not shared`).toBeUndefined();
      seen.set(e.code, name);
      expect(e.fix.length, `${name} has a fix`).toBeGreaterThan(5);
      expect(e.message.endsWith(`. Fix: ${e.fix}`), `${name}: message ends with the fix`).toBe(true);
      const cause = e.message.slice(0, e.message.length - e.fix.length - 7);
      expect(cause.length, `${name} names a cause`).toBeGreaterThan(5);
    }
  });

  it('the hierarchy tests rely on is kept', () => {
    expect(new approx.ConvergenceError('c', 'f')).toBeInstanceOf(approx.ApproxError);
    expect(new approx.InsufficientLevelsError(2, 1)).toBeInstanceOf(approx.ApproxError);
    expect(new approx.InfeasibleBudgetError(1, 2)).toBeInstanceOf(approx.ApproxError);
    expect(new nn.BundleError('b')).toBeInstanceOf(root.SerializationError);
    expect(new root.FormatVersionError('x', 1, 2)).toBeInstanceOf(root.SerializationError);
    // the same class object whichever entry point it is imported from
    expect(nn.InputShapeError).toBe((root as Record<string, unknown>).InputShapeError ?? nn.InputShapeError);
    expect(base.VeilError).toBe(root.VeilError);
  });
});

// ------------------------------------------------------------------------------------------ fixes

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..');

/** TypeScript code spans (between backquotes) of a fix text. */
const codeSpans = (fix: string): string[] => [...fix.matchAll(/`([^`]+)`/g)].map((m) => m[1]);

/** Every code snippet: the fixCode table with sample arguments, and the spans of every sample error. */
function allSnippets(): string[] {
  const out = new Set<string>();
  const args: Record<string, unknown[]> = { galoisKeys: [[1, -2]], galoisKeysAtLevel: [[3], 5], dropToLevel: [2], setScale: [2 ** 30], insecureParams: [12, 3] };
  for (const [k, f] of Object.entries(fixCode)) for (const s of codeSpans((f as (...a: unknown[]) => string)(...(args[k] ?? [])))) out.add(s);
  for (const make of Object.values(SAMPLES)) for (const s of codeSpans((make() as root.VeilError).fix)) out.add(s);
  return [...out];
}

const PRELUDE = `
import { CkksContext, KeyGenerator, SecretKey, Evaluator, Ciphertext, Parameters, serializeCiphertext, Model, Client, Server } from '../src/index.js';
import type { Tensor } from '../src/nn/index.js';
declare const ctx: CkksContext; declare const keygen: KeyGenerator; declare const sk: SecretKey; declare const evaluator: Evaluator;
declare const ct: Ciphertext; declare const model: Model; declare const client: Client; declare const x: Tensor; declare const bytes: Uint8Array;
void [Parameters, serializeCiphertext, Server, ctx, keygen, sk, evaluator, ct, model, client, x, bytes];
`;

/** Type-checks `source` as a file in test/ against the real sources; returns the diagnostics. */
function typecheck(source: string): string[] {
  const file = join(here, '__fix_snippets__.ts');
  const cfg = ts.readConfigFile(join(repo, 'tsconfig.json'), ts.sys.readFile);
  const parsed = ts.parseJsonConfigFileContent(cfg.config, ts.sys, repo);
  const options: ts.CompilerOptions = { ...parsed.options, noEmit: true, noUnusedLocals: false, noUnusedParameters: false };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, lang, ...rest) => (resolve(name) === file ? ts.createSourceFile(name, source, lang) : getSourceFile(name, lang, ...rest));
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => resolve(name) === file || fileExists(name);
  const program = ts.createProgram([file], options, host);
  const diags = [...program.getSyntacticDiagnostics(program.getSourceFile(file)), ...program.getSemanticDiagnostics(program.getSourceFile(file))];
  return diags.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
}

describe('fix snippets', () => {
  it('every code snippet in a fix compiles against the real API (and a wrong one does not)', () => {
    const snippets = allSnippets();
    expect(snippets.length).toBeGreaterThanOrEqual(Object.keys(fixCode).length);
    const body = snippets.map((s, i) => `export function snippet${i}() { return (${s}); }`).join('\n');
    expect(typecheck(PRELUDE + body)).toEqual([]);
    // the check is real: the two hints the old errors gave do not compile
    expect(typecheck(PRELUDE + 'export const a = () => keygen.genGaloisKeys([2]);').length).toBeGreaterThan(0);
    expect(typecheck(PRELUDE + 'export const b = () => keygen.genRelinKey();').length).toBeGreaterThan(0);
  }, 60_000);

  it('code in fixes lives in fixes.ts: no API calls written inline in the sources', () => {
    const files: string[] = [];
    const walk = (d: string) => {
      for (const f of readdirSync(d)) {
        const p = join(d, f);
        if (statSync(p).isDirectory()) walk(p);
        else if (p.endsWith('.ts')) files.push(p);
      }
    };
    walk(join(repo, 'src'));
    const call = /\b(keygen|evaluator|client|server|model|ctx|encoder|encryptor|decryptor|sk)\.[A-Za-z]+\(/;
    const offenders: string[] = [];
    for (const f of files) {
      if (f.endsWith('fixes.ts')) continue;
      readFileSync(f, 'utf8').split('\n').forEach((line, i) => {
        const t = line.trim();
        if (t.startsWith('*') || t.startsWith('//') || t.startsWith('/*')) return;
        // string literal contents on this line
        for (const m of t.matchAll(/'([^'\\]|\\.)*'|"([^"\\]|\\.)*"|`([^`\\]|\\.)*`/g)) {
          // Python (PyTorch, NumPy) in a fix is not this API's code
          if (call.test(m[0]) && !/PyTorch|torch|numpy|Python/.test(m[0])) offenders.push(`${f}:${i + 1}: ${m[0]}`);
        }
      });
    }
    expect(offenders).toEqual([]);
  });
});
