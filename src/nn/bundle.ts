/**
 * @module nn/bundle
 * A container for what crosses between client and server: a JSON header and named binary chunks
 * (serialized keys and ciphertexts from `ckks/serialize.ts`, which validate themselves).
 *   0 magic "VLBN" | 4 u16 version | 6 u16 0 | 8 u32 header length | 12 header JSON (UTF-8)
 *   then per chunk: u32 length, bytes (chunk order = header.chunks order).
 * Loading checks the magic, version, lengths and that the header is JSON with a `chunks` list.
 */

const MAGIC = 0x4e424c56; // "VLBN"
const VERSION = 1;

/** Malformed bundle bytes. */
export class BundleError extends Error {
  constructor(message: string) {
    super(`${message}. Fix: pass bytes produced by the matching Veil client/server call, unmodified`);
    this.name = 'BundleError';
  }
}

/** Packs a header and chunks. */
export function packBundle(header: Record<string, unknown>, chunks: readonly Uint8Array[]): Uint8Array {
  const h = new TextEncoder().encode(JSON.stringify({ ...header, chunks: chunks.length }));
  let total = 12 + h.length;
  for (const c of chunks) total += 4 + c.length;
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, MAGIC, true);
  dv.setUint16(4, VERSION, true);
  dv.setUint32(8, h.length, true);
  out.set(h, 12);
  let p = 12 + h.length;
  for (const c of chunks) {
    dv.setUint32(p, c.length, true);
    out.set(c, p + 4);
    p += 4 + c.length;
  }
  return out;
}

/** Unpacks a bundle; chunks are views into `bytes`. */
export function unpackBundle(bytes: Uint8Array): { header: Record<string, unknown> & { chunks: number }; chunks: Uint8Array[] } {
  if (!(bytes instanceof Uint8Array) || bytes.length < 12) throw new BundleError('too short for a Veil bundle');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dv.getUint32(0, true) !== MAGIC) throw new BundleError('not a Veil bundle (bad magic)');
  if (dv.getUint16(4, true) !== VERSION) throw new BundleError(`bundle version ${dv.getUint16(4, true)}, expected ${VERSION}`);
  const hl = dv.getUint32(8, true);
  if (12 + hl > bytes.length) throw new BundleError('truncated header');
  let header: Record<string, unknown> & { chunks: number };
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(12, 12 + hl)));
  } catch {
    throw new BundleError('header is not valid JSON');
  }
  if (typeof header !== 'object' || header === null || !Number.isInteger(header.chunks) || header.chunks < 0) throw new BundleError('header has no chunk count');
  const chunks: Uint8Array[] = [];
  let p = 12 + hl;
  for (let i = 0; i < header.chunks; i++) {
    if (p + 4 > bytes.length) throw new BundleError(`truncated before chunk ${i}`);
    const len = dv.getUint32(p, true);
    if (p + 4 + len > bytes.length) throw new BundleError(`chunk ${i} is truncated`);
    chunks.push(bytes.subarray(p + 4, p + 4 + len));
    p += 4 + len;
  }
  if (p !== bytes.length) throw new BundleError(`${bytes.length - p} trailing bytes`);
  return { header, chunks };
}
