/**
 * @module nn/model/bundle
 * A container for what crosses between client and server: a JSON header and binary chunks
 * (serialized keys and ciphertexts from `ckks/serialize/`, which carry their own checksums).
 * Format version 2, little-endian:
 *   0 magic "VLBN" | 4 u16 version | 6 u16 flags (0) | 8 u32 header length | 12 header JSON (UTF-8)
 *   then per chunk: u32 length, bytes (chunk order = header.chunks order)
 *   last 8 bytes: FNV-64 of the header bytes and, per chunk, its length and its last 8 bytes.
 * Each chunk's last 8 bytes are its own checksum over all its bytes (checked when the chunk is
 * loaded), so the bundle checksum covers every byte and the chunk order in O(header + chunks)
 * time. Version 1 (no checksum) is refused with a `FormatVersionError`.
 *
 * Large bundles (evaluation keys at N = 2^16: one chunk per Galois key, gigabytes in all) need
 * never be one buffer: `BundleWriter` writes a bundle part by part as its chunks are made (and
 * `packBundleParts` gives the parts of made chunks), and `openBundle` reads a bundle through a
 * random-access `BundleSource` (a file), one chunk at a time, checking the same checksum.
 * Evaluation keys: chunks parameters, relinearization key, then either one Galois-key object with
 * every key, or (header `galois: 'per-key'`) one per key in increasing Galois element; with header
 * `bootstrap: true` (a bootstrapped model, `bootstrap.ts`) the per-key chunks cover the
 * bootstrap's rotations and conjugation too, and the encapsulation keys follow as the last chunk.
 *
 * Loading checks the magic, version, flags, lengths, the checksum, and that the header is a JSON
 * object with a `chunks` count; what the header says (kind, layout, shape, count, key id) is checked
 * against the model's plan by `model.ts`. The checksum is public: it catches accidents, not
 * tampering (authenticate the channel for that).
 */
import { FormatVersionError, SerializationError, brief } from '../../errors.js';
import { fnv64 } from '../../ckks/params.js';

const MAGIC = 0x4e424c56; // "VLBN"
/** Current bundle format version. */
export const BUNDLE_VERSION = 2;
const TRAILER = 8;
/** Largest JSON header accepted (bytes): headers are a few hundred bytes. */
const MAX_HEADER = 1 << 20;

/** Malformed bundle bytes, or a bundle that does not match what the receiver expects. */
export class BundleError extends SerializationError {
  static override readonly code: string = 'BUNDLE';

  constructor(message: string, fix = 'pass the bytes produced by the matching Veil client or server call, unmodified (and from the same Veil version)') {
    super(message, fix);
  }
}

/**
 * The bundle checksum: FNV-64 of the header bytes, then per chunk its length (u32) and its last 8
 * bytes (the chunk's own checksum). Exported for tools that re-seal bundles (the fuzzer). @internal
 */
export function bundleChecksum(headerBytes: Uint8Array, chunks: readonly Uint8Array[]): Uint8Array {
  const buf = new Uint8Array(headerBytes.length + 12 * chunks.length);
  buf.set(headerBytes);
  const dv = new DataView(buf.buffer);
  let p = headerBytes.length;
  for (const c of chunks) {
    dv.setUint32(p, c.length, true);
    buf.set(c.subarray(Math.max(0, c.length - 8)), p + 4);
    p += 12;
  }
  const h = fnv64(buf);
  const out = new Uint8Array(8);
  for (let i = 0; i < 8; i++) out[i] = parseInt(h.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Packs a header and chunks (Veil objects, whose own checksums cover their bytes). */
export function packBundle(header: Record<string, unknown>, chunks: readonly Uint8Array[]): Uint8Array {
  const parts = packBundleParts(header, chunks);
  let total = 0;
  for (const x of parts) total += x.length;
  const out = new Uint8Array(total);
  let p = 0;
  for (const x of parts) {
    out.set(x, p);
    p += x.length;
  }
  return out;
}

/**
 * The bytes of `packBundle` as parts whose concatenation is the bundle: the prefix, then per chunk
 * its 4-byte length and the chunk itself (not copied), then the checksum. Write them one after the
 * other (a file, a socket) to send a large bundle without building it in one buffer.
 */
export function packBundleParts(header: Record<string, unknown>, chunks: readonly Uint8Array[]): Uint8Array[] {
  const h = new TextEncoder().encode(JSON.stringify({ ...header, chunks: chunks.length }));
  const head = new Uint8Array(12 + h.length);
  const dv = new DataView(head.buffer);
  dv.setUint32(0, MAGIC, true);
  dv.setUint16(4, BUNDLE_VERSION, true);
  dv.setUint32(8, h.length, true);
  head.set(h, 12);
  const parts: Uint8Array[] = [head];
  for (const c of chunks) {
    const len = new Uint8Array(4);
    new DataView(len.buffer).setUint32(0, c.length, true);
    parts.push(len, c);
  }
  parts.push(bundleChecksum(h, chunks));
  return parts;
}

/**
 * Writes a bundle of `count` chunks part by part to `sink` as the chunks are made (the same bytes
 * as `packBundle`), holding only each chunk's length and last 8 bytes for the checksum: a client
 * can stream gigabytes of keys to a file one key at a time.
 */
export class BundleWriter {
  private readonly h: Uint8Array;
  private readonly lens: number[] = [];
  private readonly tails: Uint8Array[] = [];
  /** Bytes written so far. */
  bytes = 0;

  constructor(header: Record<string, unknown>, readonly count: number, private readonly sink: (part: Uint8Array) => void) {
    this.h = new TextEncoder().encode(JSON.stringify({ ...header, chunks: count }));
    const head = new Uint8Array(12 + this.h.length);
    const dv = new DataView(head.buffer);
    dv.setUint32(0, MAGIC, true);
    dv.setUint16(4, BUNDLE_VERSION, true);
    dv.setUint32(8, this.h.length, true);
    head.set(this.h, 12);
    this.emit(head);
  }

  private emit(b: Uint8Array): void {
    this.sink(b);
    this.bytes += b.length;
  }

  /** Appends the next chunk. */
  add(chunk: Uint8Array): void {
    if (this.lens.length >= this.count) throw new BundleError(`more than the announced ${this.count} chunks`, 'announce the right chunk count');
    const len = new Uint8Array(4);
    new DataView(len.buffer).setUint32(0, chunk.length, true);
    this.emit(len);
    this.emit(chunk);
    this.lens.push(chunk.length);
    this.tails.push(chunk.slice(Math.max(0, chunk.length - 8)));
  }

  /** Writes the checksum; returns the bundle's length. */
  finish(): number {
    if (this.lens.length !== this.count) throw new BundleError(`${this.lens.length} chunks written, ${this.count} announced`, 'add every announced chunk before finishing');
    this.emit(checksumOf(this.h, this.lens, this.tails));
    return this.bytes;
  }
}

/** Random-access bytes of a bundle (e.g. a file): its length and a reader of any range. */
export interface BundleSource {
  readonly byteLength: number;
  /** The bytes [offset, offset + length) (a copy or a view; read once per chunk). */
  read(offset: number, length: number): Uint8Array;
}

/** An opened bundle: the header, and its chunks read on demand. */
export interface OpenedBundle {
  header: Record<string, unknown> & { chunks: number };
  /** Chunk i's bytes (a view of a Uint8Array source; read from a `BundleSource` at each call). */
  chunk(i: number): Uint8Array;
  /** Chunk i's length in bytes. */
  chunkLength(i: number): number;
}

/**
 * Opens a bundle held in memory or behind a `BundleSource`, checking the same things as
 * `unpackBundle` (magic, version, flags, lengths, checksum) before any chunk is handed out; a
 * source is read by its header, chunk lengths and chunk trailers only.
 *
 * @throws BundleError for malformed bytes; FormatVersionError for another bundle version
 */
export function openBundle(source: Uint8Array | BundleSource): OpenedBundle {
  const isBytes = source instanceof Uint8Array;
  if (!isBytes && (typeof source !== 'object' || source === null || typeof (source as BundleSource).read !== 'function' || !Number.isSafeInteger((source as BundleSource).byteLength))) {
    throw new BundleError(`expected the bundle's bytes (a Uint8Array) or a bundle source, got ${brief(source)}`);
  }
  const size = source.byteLength;
  const read = isBytes ? (o: number, n: number) => source.subarray(o, o + n) : (o: number, n: number) => {
    const b = source.read(o, n);
    if (!(b instanceof Uint8Array) || b.length !== n) throw new BundleError(`the bundle source returned ${brief(b)} for ${n} bytes at ${o}`);
    return b;
  };
  const u32 = (o: number) => { const b = read(o, 4); return new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true); };
  if (size < 6) throw new BundleError(`${size} bytes are too short for a Veil bundle`);
  const pre = read(0, Math.min(12, size));
  const dv = new DataView(pre.buffer, pre.byteOffset, pre.byteLength);
  if (dv.getUint32(0, true) !== MAGIC) throw new BundleError('not a Veil bundle (bad magic)');
  const version = dv.getUint16(4, true);
  if (version !== BUNDLE_VERSION) throw new FormatVersionError('Veil bundle', version, BUNDLE_VERSION);
  if (size < 12 + TRAILER) throw new BundleError(`${size} bytes are too short for a Veil bundle`);
  if (dv.getUint16(6, true) !== 0) throw new BundleError(`unknown bundle flags ${dv.getUint16(6, true)}`);
  const end = size - TRAILER;
  const hl = dv.getUint32(8, true);
  if (hl > MAX_HEADER || 12 + hl > end) throw new BundleError(`header length ${hl} does not fit in ${size} bytes`);
  const hb = read(12, hl);
  const header = parseHeader(hb, end - 12 - hl);
  const n = header.chunks;
  const offs: number[] = [];
  const lens: number[] = [];
  const tails: Uint8Array[] = [];
  let p = 12 + hl;
  for (let i = 0; i < n; i++) {
    if (p + 4 > end) throw new BundleError(`truncated before chunk ${i}`);
    const len = u32(p);
    if (p + 4 + len > end) throw new BundleError(`chunk ${i} (${len} bytes) is truncated`);
    offs.push(p + 4);
    lens.push(len);
    // the checksum reads each chunk's length and last 8 bytes (a stand-in of that size)
    const t = Math.min(8, len);
    const tail = new Uint8Array(len < 8 ? len : 8);
    tail.set(read(p + 4 + len - t, t));
    tails.push(tail);
    p += 4 + len;
  }
  if (p !== end) throw new BundleError(`${end - p} unexpected bytes after the last chunk`);
  const sum = checksumOf(hb, lens, tails);
  const stored = read(end, TRAILER);
  for (let i = 0; i < 8; i++) if (sum[i] !== stored[i]) throw new BundleError('bundle checksum mismatch (bytes changed, reordered or truncated)');
  return {
    header,
    chunkLength: (i) => lens[i],
    chunk: (i) => {
      if (!Number.isInteger(i) || i < 0 || i >= n) throw new BundleError(`no chunk ${brief(i)} in a bundle of ${n}`);
      return read(offs[i], lens[i]);
    },
  };
}

/** `bundleChecksum` from the chunks' lengths and last (up to) 8 bytes. */
function checksumOf(headerBytes: Uint8Array, lens: readonly number[], tails: readonly Uint8Array[]): Uint8Array {
  const buf = new Uint8Array(headerBytes.length + 12 * lens.length);
  buf.set(headerBytes);
  const dv = new DataView(buf.buffer);
  let p = headerBytes.length;
  for (let i = 0; i < lens.length; i++) {
    dv.setUint32(p, lens[i], true);
    buf.set(tails[i], p + 4);
    p += 12;
  }
  const h = fnv64(buf);
  const out = new Uint8Array(8);
  for (let i = 0; i < 8; i++) out[i] = parseInt(h.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/**
 * Unpacks a bundle; chunks are views into `bytes`.
 *
 * @throws BundleError for malformed bytes; FormatVersionError for another bundle version
 */
export function unpackBundle(bytes: Uint8Array): { header: Record<string, unknown> & { chunks: number }; chunks: Uint8Array[] } {
  if (!(bytes instanceof Uint8Array)) throw new BundleError(`expected the bundle's bytes (a Uint8Array), got ${brief(bytes)}`);
  if (bytes.length < 6) throw new BundleError(`${bytes.length} bytes are too short for a Veil bundle`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dv.getUint32(0, true) !== MAGIC) throw new BundleError('not a Veil bundle (bad magic)');
  const version = dv.getUint16(4, true);
  if (version !== BUNDLE_VERSION) throw new FormatVersionError('Veil bundle', version, BUNDLE_VERSION);
  if (bytes.length < 12 + TRAILER) throw new BundleError(`${bytes.length} bytes are too short for a Veil bundle`);
  if (dv.getUint16(6, true) !== 0) throw new BundleError(`unknown bundle flags ${dv.getUint16(6, true)}`);
  const end = bytes.length - TRAILER;
  const hl = dv.getUint32(8, true);
  if (hl > MAX_HEADER || 12 + hl > end) throw new BundleError(`header length ${hl} does not fit in ${bytes.length} bytes`);
  const hb = bytes.subarray(12, 12 + hl);
  const header = parseHeader(hb, end - 12 - hl);
  const n = header.chunks;
  const chunks: Uint8Array[] = [];
  let p = 12 + hl;
  for (let i = 0; i < n; i++) {
    if (p + 4 > end) throw new BundleError(`truncated before chunk ${i}`);
    const len = dv.getUint32(p, true);
    if (p + 4 + len > end) throw new BundleError(`chunk ${i} (${len} bytes) is truncated`);
    chunks.push(bytes.subarray(p + 4, p + 4 + len));
    p += 4 + len;
  }
  if (p !== end) throw new BundleError(`${end - p} unexpected bytes after the last chunk`);
  const sum = bundleChecksum(hb, chunks);
  for (let i = 0; i < 8; i++) if (sum[i] !== bytes[end + i]) throw new BundleError('bundle checksum mismatch (bytes changed, reordered or truncated)');
  return { header, chunks };
}

/**
 * The JSON header of a bundle, checked: an object whose chunk count fits in `room` bytes (every
 * chunk takes at least its 4-byte length, so a larger count is refused before any loop).
 * @throws BundleError when the header is not a JSON object or its count does not fit.
 */
function parseHeader(hb: Uint8Array, room: number): Record<string, unknown> & { chunks: number } {
  let header: Record<string, unknown> & { chunks: number };
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(hb));
  } catch {
    throw new BundleError('header is not valid JSON');
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw new BundleError(`header ${brief(header)} is not a JSON object`);
  const n = header.chunks;
  if (!Number.isSafeInteger(n) || n < 0 || n > room / 4) throw new BundleError(`header chunk count ${brief(n)} does not fit in the bytes`);
  return header;
}
