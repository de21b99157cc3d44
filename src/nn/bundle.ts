/**
 * @module nn/bundle
 * A container for what crosses between client and server: a JSON header and binary chunks
 * (serialized keys and ciphertexts from `ckks/serialize.ts`, which carry their own checksums).
 * Format version 2, little-endian:
 *   0 magic "VLBN" | 4 u16 version | 6 u16 flags (0) | 8 u32 header length | 12 header JSON (UTF-8)
 *   then per chunk: u32 length, bytes (chunk order = header.chunks order)
 *   last 8 bytes: FNV-64 of the header bytes and, per chunk, its length and its last 8 bytes.
 * Each chunk's last 8 bytes are its own checksum over all its bytes (checked when the chunk is
 * loaded), so the bundle checksum covers every byte and the chunk order in O(header + chunks)
 * time. Version 1 (no checksum) is refused with a `FormatVersionError`.
 *
 * Loading checks the magic, version, flags, lengths, the checksum, and that the header is a JSON
 * object with a `chunks` count; what the header says (kind, layout, shape, count, key id) is checked
 * against the model's plan by `model.ts`. The checksum is public: it catches accidents, not
 * tampering (authenticate the channel for that).
 */
import { FormatVersionError, SerializationError, brief } from '../errors.js';
import { fnv64 } from '../ckks/params.js';

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
  const h = new TextEncoder().encode(JSON.stringify({ ...header, chunks: chunks.length }));
  let total = 12 + h.length + TRAILER;
  for (const c of chunks) total += 4 + c.length;
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, MAGIC, true);
  dv.setUint16(4, BUNDLE_VERSION, true);
  dv.setUint32(8, h.length, true);
  out.set(h, 12);
  let p = 12 + h.length;
  for (const c of chunks) {
    dv.setUint32(p, c.length, true);
    out.set(c, p + 4);
    p += 4 + c.length;
  }
  out.set(bundleChecksum(h, chunks), p);
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
  let header: Record<string, unknown> & { chunks: number };
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(hb));
  } catch {
    throw new BundleError('header is not valid JSON');
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw new BundleError(`header ${brief(header)} is not a JSON object`);
  const n = header.chunks;
  // every chunk takes at least its 4-byte length: a count above that is refused before any loop
  if (!Number.isSafeInteger(n) || n < 0 || n > (end - 12 - hl) / 4) throw new BundleError(`header chunk count ${brief(n)} does not fit in the bytes`);
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
