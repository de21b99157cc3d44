/**
 * @module ckks/serialize
 * Byte formats for parameters, keys, ciphertexts and plaintexts (self-describing and versioned,
 * as SEAL's 16-byte header with magic 0xA15E is).
 *
 * Layout (little-endian), every section 4-byte aligned; format version 2:
 *   0  magic "VEIL" | 4 u16 format version | 6 u8 kind | 7 u8 flags (bit 0: seeded)
 *   8  8 bytes parameter hash | 16 u32 total length | 20 u32 reserved (0)
 *   24 8 bytes key id (`SecretKey.id` of the keys and ciphertexts; zero for parameters/plaintexts)
 *   32 payload … | last 8 bytes: FNV-64 checksum of everything before it
 * Version 1 (24-byte header, no key id) is refused with a `FormatVersionError`.
 * Polynomials: u16 limbs, u16 0, then limbs·N residues as u32. Loading checks the magic, version,
 * kind, length and checksum, then every size, level and residue (< its prime), and that the
 * parameter hash matches the context; anything else is a `SerializationError` (or
 * `ContextMismatchError` for bytes made under other parameters). Seeded objects carry a 32-byte
 * ChaCha20 seed instead of their uniform polynomial (half the bytes), as SEAL's "serializable"
 * keys and symmetric ciphertexts do.
 *
 * The checksum detects accidents (truncation, bit rot), not tampering: it is public, so anyone
 * can recompute it after changing the bytes. Beyond it, loading checks what the structure
 * allows: sizes against the parameters, residues below their primes, scales within the level's
 * modulus, Galois elements valid, distinct and in order, secret keys ternary and consistent over
 * all primes. Authenticate the channel (TLS, a MAC) to protect against a sender that changes bytes.
 */

export {
  FORMAT_VERSION, Kind, type PayloadReader, type PayloadWriter, deserializeEnvelope, inspectBytes, serializeEnvelope,
} from './format.js';
export * from './objects.js';
export * from './keys.js';
