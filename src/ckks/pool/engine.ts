/**
 * @module ckks/pool/engine
 * The thread-independent half of the worker pool: the staging layout of a pooled evaluator, the
 * registrations that make shared buffers known to helpers, and `runCommand`, which a helper calls
 * to run its part of a fine-grained operation (the main thread runs the same programs directly).
 */
import { InternalError } from '../../errors.js';
import type { CkksContext } from '../context.js';
import { DownMode, KeySwitcher, type KeySwitchBuffers, type PackedKey } from '../keyswitch/switcher.js';
import { type KeyKind, publicKeyProgram, secretKeyProgram, switchingKeyProgram } from '../keygen-phases.js';
import { type Team, keySwitchProgram, mulRelinRescaleProgram, rescaleProgram, rotateHoistedProgram } from '../phases.js';
import { C_ARGS, Op } from './protocol.js';
import { Encoder } from '../encoder.js';
import { type DhScratch, type DhSource, type DhStep, doubleHoistedProgram } from '../linear/hoisted.js';

/** Polynomial slots of an evaluator's staging buffer (each nQ·N int32). */
export const enum Stage {
  In0 = 0,
  In1 = 1,
  In2 = 2,
  In3 = 3,
  Out0 = 4,
  Out1 = 5,
  Out2 = 6,
  D0 = 7,
  D1 = 8,
  D2 = 9,
  Count = 10,
}

/** Messages that register shared buffers with a helper (posted on its sync port). */
export type Registration =
  | { t: 'ev'; id: number; ks: KeySwitchBuffers; io: Int32Array }
  | { t: 'hoist'; id: number; buf: Int32Array }
  | { t: 'key'; id: number; b: Int32Array; a: Int32Array; dnum: number; limbs?: number }
  | { t: 'kg'; id: number; small: Int32Array; E: Int32Array }
  | { t: 'sk'; id: number; sQ: Int32Array; sP: Int32Array }
  | { t: 'out'; id: number; arrays: Int32Array[] }
  | { t: 'dh'; id: number; limbs: number; scale: number; chunk: number; babies: number; keyIds: number[]; gs: number[]; terms: Int32Array; sources: DhSource[]; scratch: DhScratch }
  | { t: 'free'; ids: number[] };

interface EvState {
  ks: KeySwitcher;
  io: Int32Array;
  hoist?: Int32Array;
}

/** A view of staging slot k. */
export function stage(io: Int32Array, k: number, nQN: number): Int32Array {
  return io.subarray(k * nQN, (k + 1) * nQN);
}

/** Per-thread registry of shared objects, and the command dispatcher. */
export class EngineState {
  readonly ctx: CkksContext;
  private readonly evs = new Map<number, EvState>();
  private readonly keys = new Map<number, PackedKey>();
  private readonly kgs = new Map<number, { small: Int32Array; E: Int32Array }>();
  private readonly sks = new Map<number, { sQ: Int32Array; sP: Int32Array }>();
  private readonly outs = new Map<number, Int32Array[]>();
  private readonly hoistViews = new Map<number, Int32Array>();
  private readonly dhs = new Map<number, Extract<Registration, { t: 'dh' }>>();
  private encoder?: Encoder;

  constructor(ctx: CkksContext) {
    this.ctx = ctx;
  }

  register(m: Registration): void {
    switch (m.t) {
      case 'ev':
        this.evs.set(m.id, { ks: new KeySwitcher(this.ctx, m.ks), io: m.io });
        break;
      case 'hoist':
        this.hoistViews.set(m.id, m.buf);
        break;
      case 'key':
        this.keys.set(m.id, { b: m.b, a: m.a, dnum: m.dnum, limbs: m.limbs });
        break;
      case 'kg':
        this.kgs.set(m.id, { small: m.small, E: m.E });
        break;
      case 'sk':
        this.sks.set(m.id, { sQ: m.sQ, sP: m.sP });
        break;
      case 'out':
        this.outs.set(m.id, m.arrays);
        break;
      case 'dh':
        this.dhs.set(m.id, m);
        break;
      case 'free':
        for (const id of m.ids) {
          this.evs.delete(id);
          this.keys.delete(id);
          this.kgs.delete(id);
          this.sks.delete(id);
          this.outs.delete(id);
          this.hoistViews.delete(id);
          this.dhs.delete(id);
        }
        break;
    }
  }

  private get<T>(map: Map<number, T>, id: number, what: string): T {
    const v = map.get(id);
    if (v === undefined) throw new InternalError(`pool: unknown ${what} ${id} (registration missing)`);
    return v;
  }

  /** Runs this thread's share of the command in ctrl (op at C_OP, arguments from C_ARGS) with `team`. */
  runCommand(op: Op, ctrl: Int32Array, team: Team): void {
    const A = (i: number) => ctrl[C_ARGS + i];
    const ctx = this.ctx;
    const N = ctx.N;
    const nQN = ctx.ringQ.size * N;
    switch (op) {
      case Op.KeySwitch: {
        const ev = this.get(this.evs, A(0), 'evaluator');
        const key = this.get(this.keys, A(1), 'key');
        const limbs = A(2);
        const mode = A(3) as DownMode;
        const g = A(4);
        const io = ev.io;
        const rotate = mode === DownMode.Rotate;
        const c = stage(io, rotate ? Stage.In1 : Stage.In2, nQN);
        keySwitchProgram(ev.ks, key, limbs, mode, c, stage(io, Stage.In0, nQN), rotate ? undefined : stage(io, Stage.In1, nQN),
          stage(io, Stage.Out0, nQN), stage(io, Stage.Out1, nQN), rotate ? ctx.galoisIndex(g) : undefined, team);
        return;
      }
      case Op.MulRelinRescale: {
        const ev = this.get(this.evs, A(0), 'evaluator');
        const key = this.get(this.keys, A(1), 'key');
        const io = ev.io;
        const s = (k: number) => stage(io, k, nQN);
        mulRelinRescaleProgram(ctx, ev.ks, key, A(2), s(Stage.In0), s(Stage.In1), s(Stage.In2), s(Stage.In3),
          s(Stage.D0), s(Stage.D1), s(Stage.D2), s(Stage.Out0), s(Stage.Out1), team);
        return;
      }
      case Op.Rescale: {
        const ev = this.get(this.evs, A(0), 'evaluator');
        const polys = A(2);
        const io = ev.io;
        const ins: Int32Array[] = [];
        const outs: Int32Array[] = [];
        for (let k = 0; k < polys; k++) {
          ins.push(stage(io, Stage.In0 + k, nQN));
          outs.push(stage(io, Stage.Out0 + k, nQN));
        }
        rescaleProgram(ctx, A(1), ins, outs, io.subarray(Stage.D0 * nQN, (Stage.D0 + 3) * nQN), team);
        return;
      }
      case Op.RotateHoisted: {
        const ev = this.get(this.evs, A(0), 'evaluator');
        const limbs = A(1);
        const count = A(2);
        const buf = this.get(this.hoistViews, A(0), 'hoisting buffer');
        const keys: PackedKey[] = [];
        const idx: Int32Array[] = [];
        const outs: [Int32Array, Int32Array][] = [];
        for (let r = 0; r < count; r++) {
          keys.push(this.get(this.keys, A(3 + r), 'key'));
          idx.push(ctx.galoisIndex(A(3 + count + r)));
          outs.push([stage(buf, 2 * r, nQN), stage(buf, 2 * r + 1, nQN)]);
        }
        rotateHoistedProgram(ev.ks, keys, idx, limbs, stage(ev.io, Stage.In0, nQN), stage(ev.io, Stage.In1, nQN), outs, team);
        return;
      }
      case Op.DoubleHoisted: {
        const ev = this.get(this.evs, A(0), 'evaluator');
        const m = this.get(this.dhs, A(1), 'transform');
        const steps: DhStep[] = m.gs.map((g, i) => (g === 1 ? { key: null, index: null } : { key: this.get(this.keys, m.keyIds[i], 'key'), index: ctx.galoisIndex(g) }));
        const job = { limbs: m.limbs, scale: m.scale, babies: steps.slice(0, m.babies), giants: steps.slice(m.babies), terms: m.terms, sources: m.sources, chunk: m.chunk };
        const enc = m.sources.some((s) => s.kind === 'values') ? (this.encoder ??= new Encoder(ctx)) : null;
        doubleHoistedProgram(ev.ks, enc, job, stage(ev.io, Stage.In0, nQN), stage(ev.io, Stage.In1, nQN), m.scratch,
          stage(ev.io, Stage.Out0, nQN), stage(ev.io, Stage.Out1, nQN), team);
        return;
      }
      case Op.SecretKey: {
        const kg = this.get(this.kgs, A(0), 'key generator');
        const [sQ, sP] = this.get(this.outs, A(1), 'output');
        secretKeyProgram(ctx, kg.small, sQ, sP, team);
        return;
      }
      case Op.PublicKey: {
        const kg = this.get(this.kgs, A(0), 'key generator');
        const sk = this.get(this.sks, A(1), 'secret key');
        const [bQ, bP, aQ, aP] = this.get(this.outs, A(2), 'output');
        publicKeyProgram(ctx, seedFrom(ctrl, C_ARGS + 8), kg.small, sk.sQ, sk.sP, bQ, bP, aQ, aP, team);
        return;
      }
      case Op.SwitchingKey: {
        const kg = this.get(this.kgs, A(0), 'key generator');
        const sk = this.get(this.sks, A(1), 'secret key');
        const [b, a] = this.get(this.outs, A(2), 'output');
        switchingKeyProgram(ctx, A(3) as KeyKind, A(4), seedFrom(ctrl, C_ARGS + 8), kg.E, A(5), sk.sQ, sk.sP, b, a, team, A(6));
        return;
      }
      default:
        throw new InternalError(`pool: unknown operation ${op}`);
    }
  }
}

/** Writes a 32-byte seed as 8 int32 at ctrl[at..]. */
export function seedTo(ctrl: Int32Array, at: number, seed: Uint8Array): void {
  const dv = new DataView(seed.buffer, seed.byteOffset, 32);
  for (let i = 0; i < 8; i++) ctrl[at + i] = dv.getInt32(4 * i, true);
}

/** Reads a 32-byte seed from 8 int32 at ctrl[at..]. */
export function seedFrom(ctrl: Int32Array, at: number): Uint8Array {
  const s = new Uint8Array(32);
  const dv = new DataView(s.buffer);
  for (let i = 0; i < 8; i++) dv.setInt32(4 * i, ctrl[at + i], true);
  return s;
}
