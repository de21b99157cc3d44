/**
 * @module errors
 * The one error model of Veil. Every error the library throws on purpose is a {@link VeilError}:
 *  - `code`: a stable machine-readable string (one per class, e.g. `'INPUT_SHAPE'`), for programs;
 *  - `message`: the cause, then ". Fix: " and the fix, for people;
 *  - `fix`: what to change, alone. Code in a fix is written between backquotes and comes from
 *    `fixes.ts`, whose snippets the test suite compiles against the real API.
 * This module imports nothing, so every layer (ring, ckks, approx, nn) can import it without
 * cycles. Engine classes live in `ckks/errors.ts`, the others next to the code that throws them.
 */

/** Options of a {@link VeilError}: the underlying error when one is wrapped. */
export interface VeilErrorOptions {
  cause?: unknown;
}

/**
 * Base class of every error Veil throws on purpose. `code` is stable across versions; `fix` says
 * what to change.
 *
 * @example
 * ```ts
 * try { client.encrypt(x); } catch (e) { if (e instanceof VeilError) console.error(e.code, e.fix); }
 * ```
 */
export class VeilError extends Error {
  /** The class's stable code; each subclass sets its own. */
  static readonly code: string = 'VEIL';
  /** Stable machine-readable code of this error's class (e.g. `'INPUT_SHAPE'`). */
  readonly code: string;
  /** What to change to avoid the error. */
  readonly fix: string;

  constructor(message: string, fix: string, options: VeilErrorOptions = {}) {
    super(`${message.replace(/[.\s]+$/, '')}. Fix: ${fix}`, 'cause' in options ? { cause: options.cause } : undefined);
    this.name = new.target.name;
    this.code = (new.target as typeof VeilError).code;
    this.fix = fix;
  }
}

/** A function argument is out of its domain (wrong length, NaN, wrong type). */
export class InvalidArgumentError extends VeilError {
  static override readonly code: string = 'INVALID_ARGUMENT';
}

/**
 * Bytes could not be loaded: bad magic, version, size, residue range, parameter hash, or a
 * structure that does not match what the receiver expects.
 */
export class SerializationError extends VeilError {
  static override readonly code: string = 'SERIALIZATION';
}

/** Bytes (or a JSON document) of a format version this library does not read. */
export class FormatVersionError extends SerializationError {
  static override readonly code: string = 'FORMAT_VERSION';

  constructor(
    /** The format (e.g. `'Veil object'`, `'Veil bundle'`, `'model plan'`). */
    readonly format: string,
    /** The version found in the bytes. */
    readonly found: string | number,
    /** The version this library reads. */
    readonly supported: string | number,
  ) {
    super(
      `${format} format version ${found}; this version of Veil reads version ${supported}`,
      `produce the ${format} again with this version of Veil (versions are not compatible), or use the Veil version that wrote it`,
    );
  }
}

/**
 * A library invariant failed: a bug in Veil, not in the caller's input. Never expected; the
 * message names the invariant.
 */
export class InternalError extends VeilError {
  static override readonly code: string = 'INTERNAL';

  constructor(message: string, options: VeilErrorOptions = {}) {
    super(`internal error: ${message}`, 'report it with the input that triggers it (this is a bug in Veil)', options);
  }
}

/**
 * A short printable form of any value, for messages about malformed input: bounded work (a few
 * elements, two levels deep) and never throws, even on cyclic, huge or hostile objects. @internal
 */
export function brief(v: unknown, max = 60): string {
  const t = describe(v, 2);
  return t.length > max ? `${t.slice(0, max)}…` : t;
}

function describe(v: unknown, depth: number): string {
  try {
    if (v === null || v === undefined || typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
    if (typeof v === 'string') return JSON.stringify(v.length > 80 ? `${v.slice(0, 80)}…` : v);
    if (typeof v === 'symbol' || typeof v === 'function') return typeof v;
    if (ArrayBuffer.isView(v)) return `${v.constructor.name}(${(v as unknown as ArrayLike<unknown>).length ?? v.byteLength})`;
    if (Array.isArray(v)) {
      if (depth === 0) return `[…${v.length}]`;
      const items = v.slice(0, 8).map((x) => describe(x, depth - 1));
      return `[${items.join(',')}${v.length > 8 ? `,…(${v.length})` : ''}]`;
    }
    const name = Object.getPrototypeOf(v)?.constructor?.name;
    if (name && name !== 'Object') return name;
    if (depth === 0) return '{…}';
    const keys = Object.keys(v as object).slice(0, 8);
    return `{${keys.map((k) => `${JSON.stringify(k)}:${describe((v as Record<string, unknown>)[k], depth - 1)}`).join(',')}${keys.length === 8 ? ',…' : ''}}`;
  } catch {
    return 'a value';
  }
}

/** The JavaScript runtime lacks something Veil needs (a CSPRNG, worker threads, shared memory). */
export class PlatformError extends VeilError {
  static override readonly code: string = 'PLATFORM';
}
