import { describe, expect, it } from 'vitest';
import {
  compositeMax,
  compositeRelu,
  compositeSign,
  componentToPower,
  type CompositePoly,
  maxFromSign,
  reluFromSign,
} from '../src/approx/composite.js';
import { compositeCost } from '../src/approx/eval/cost.js';
import {
  ALPHA7_P1,
  ALPHA7_P2,
  ALPHA_DEGREES,
  alphaComposite,
  ckkF,
  compositeMinimaxSign,
  G1,
  G2,
  G3,
  reluError,
  signError,
  SMARTPAF_FORMS,
  smartpafForm,
} from '../src/approx/sign.js';
import {
  SMARTPAF_TABLE10_F2G3,
  SMARTPAF_TABLE11_F2G2,
  SMARTPAF_TABLE6_F1G2,
  SMARTPAF_TABLE9_F1F1G1G1,
  type SmartPafTable,
  smartpafLayer,
} from '../src/approx/smartpaf-tables.js';

/** Independent f_n: the defining sum evaluated directly. */
function fDirect(n: number, x: number): number {
  let s = 0;
  for (let i = 0; i <= n; i++) {
    let c = 1; // C(2i, i)
    for (let k = 1; k <= i; k++) c = (c * (i + k)) / k;
    s += (c / 4 ** i) * x * (1 - x * x) ** i;
  }
  return s;
}

const odd = (c: readonly number[]) => (x: number): number => c.reduce((s, a, j) => s + a * x ** (2 * j + 1), 0);

describe('Cheon–Kim–Kim f_n and g_n', () => {
  it('f1 = (3x − x³)/2 and f2 = (15x − 10x³ + 3x⁵)/8', () => {
    expect(Array.from(ckkF(1))).toEqual([0, 1.5, 0, -0.5]);
    expect(Array.from(ckkF(2))).toEqual([0, 15 / 8, 0, -10 / 8, 0, 3 / 8]);
  });

  it('ckkF(n) equals the defining sum for n ≤ 6 and fixes ±1', () => {
    for (let n = 0; n <= 6; n++) {
      const p = ckkF(n);
      for (let x = -1; x <= 1; x += 0.05) {
        const v = p.reduce((s, a, i) => s + a * x ** i, 0);
        expect(v).toBeCloseTo(fDirect(n, x), 12);
      }
      expect(p.reduce((s, a) => s + a, 0)).toBeCloseTo(1, 12);
    }
  });

  it('g1, g2, g3 have the SmartPAF coefficients (integers / 2^10)', () => {
    expect(G1).toEqual([2.076171875, -1.3271484375]);
    expect(G2).toEqual([3.255859375, -5.96484375, 3.70703125]);
    expect(G3).toEqual([4.4814453125, -16.1884765625, 25.013671875, -12.55859375]);
  });
});

describe('α = 7 composite (Lee et al. / approxCNN)', () => {
  const pub = alphaComposite(7);
  const p71 = odd(ALPHA7_P1);
  const p72 = odd(ALPHA7_P2);

  it('the published composite is p7,2 ∘ p7,1 (p7,1 applied first)', () => {
    for (const x of [-0.9, -0.2, 0.05, 0.5, 1]) expect(compositeSign(pub.composite, x)).toBeCloseTo(p72(p71(x)), 13);
  });

  it('precision: ReLU error ≈ 2^−7.04 on [−1, 1]; sign error 0.01399 on [−1, −11/128] ∪ [11/128, 1]', () => {
    // Measured independently on a 2·10⁶-point grid: ReLU error 0.0075799 (= 2^−7.0436, at x ≈ 0.0326),
    // sign error 0.0139910 on |x| ≥ 11/128. On |x| ≥ 2^−7 the sign error is 0.8635 (at x = 2^−7,
    // p ≈ 0.137): α = 7 bounds the ReLU error by 2^−α, not the sign error on [2^−α, 1].
    let reluMax = 0;
    let signMax = 0;
    let signAt2m7 = 0;
    for (let i = 0; i <= 400000; i++) {
      const x = i / 400000;
      const s = p72(p71(x));
      reluMax = Math.max(reluMax, Math.abs((x * (1 + s)) / 2 - x));
      if (x >= 11 / 128) signMax = Math.max(signMax, Math.abs(1 - s));
      if (x >= 2 ** -7) signAt2m7 = Math.max(signAt2m7, Math.abs(1 - s));
    }
    expect(reluMax).toBeLessThan(2 ** -7);
    expect(reluMax).toBeGreaterThan(2 ** -7.05);
    expect(signMax).toBeGreaterThan(0.01398);
    expect(signMax).toBeLessThan(0.014);
    expect(signAt2m7).toBeGreaterThan(0.86);
    expect(signAt2m7).toBeLessThan(0.865);
    // the library's own measurements agree with the independent grid
    expect(pub.reluError).toBeCloseTo(reluMax, 6);
    expect(signError(pub.composite, 11 / 128)).toBeCloseTo(signMax, 6);
    expect(pub.epsilon).toBe(11 / 128);
  });

  it('composite Remez with ε = 11/128 reproduces the published p7,1 and p7,2', () => {
    const r = compositeMinimaxSign(11 / 128, [7, 7]);
    const s1 = componentToPower(r.composite.components[0]!);
    const s2 = componentToPower(r.composite.components[1]!);
    for (let j = 0; j < 4; j++) {
      expect(Math.abs(s1[2 * j + 1]! - ALPHA7_P1[j]!)).toBeLessThan(1e-11 * Math.abs(ALPHA7_P1[j]!));
      expect(Math.abs(s2[2 * j + 1]! - ALPHA7_P2[j]!)).toBeLessThan(1e-6 * Math.abs(ALPHA7_P2[j]!));
    }
    expect(r.stageErrors[0]!).toBeCloseTo(0.394006222, 8);
    expect(r.stageErrors[1]!).toBeCloseTo(0.013991, 5);
    expect(alphaComposite(7, { source: 'computed' }).epsilon).toBeCloseTo(11 / 128, 12);
  });
});

describe('α = 8…14 composites computed by Remez', () => {
  it('use the approxCNN degree lists and reach ReLU error ≤ 2^−α', () => {
    for (let a = 8; a <= 14; a++) {
      const r = alphaComposite(a);
      expect(r.degrees).toEqual(ALPHA_DEGREES[a]);
      expect(r.reluError).toBeLessThanOrEqual(2 ** -a);
      expect(r.reluError).toBeGreaterThan(2 ** (-a - 0.5));
      // independent check of the ReLU error on a grid (plaintext evaluation only)
      let m = 0;
      for (let i = 0; i <= 20000; i++) {
        const x = -1 + i / 10000;
        m = Math.max(m, Math.abs(compositeRelu(r.composite, x) - Math.max(0, x)));
      }
      expect(m).toBeLessThanOrEqual(r.reluError * (1 + 1e-9));
    }
    // approxCNN/MPCNN α = 13 {15, 15, 27}: depth 4 + 4 + 5 = 13, +1 for x·(…) (digest §1.3)
    expect(compositeCost(alphaComposite(13).composite, { inputFolded: true, relu: true }).depth).toBe(14);
  });
});

describe('SmartPAF forms', () => {
  it('apply f first: f1²∘g1²(x) = g1(g1(f1(f1(x))))', () => {
    const f1 = (x: number): number => (3 * x - x ** 3) / 2;
    const f2 = (x: number): number => (15 * x - 10 * x ** 3 + 3 * x ** 5) / 8;
    const g1 = odd(G1);
    const g2 = odd(G2);
    const g3 = odd(G3);
    const refs: Record<string, (x: number) => number> = {
      'f1^2∘g1^2': (x) => g1(g1(f1(f1(x)))),
      'f2∘g3': (x) => g3(f2(x)),
      'f2∘g2': (x) => g2(f2(x)),
      'f1∘g2': (x) => g2(f1(x)),
    };
    for (const [form, ref] of Object.entries(refs)) {
      const cp = smartpafForm(form as never, 3);
      for (const x of [-2.5, -0.4, 0.1, 1.7, 3]) expect(compositeSign(cp, x)).toBeCloseTo(ref(x / 3), 13);
    }
  });

  it('multiplicative depths match SmartPAF Table 2 (8, 6, 6, 6, 5)', () => {
    const depths = SMARTPAF_FORMS.map((f) => compositeCost(smartpafForm(f), { inputFolded: true }).depth);
    expect(depths).toEqual([8, 6, 6, 6, 5]);
  });

  it('per-layer tables load as 17 rows of the right width', () => {
    const widths: [readonly (readonly number[])[], number][] = [
      [SMARTPAF_TABLE9_F1F1G1G1, 8],
      [SMARTPAF_TABLE6_F1G2, 5],
      [SMARTPAF_TABLE10_F2G3, 7],
      [SMARTPAF_TABLE11_F2G2, 6],
    ];
    for (const [t, w] of widths) {
      expect(t.length).toBe(17);
      for (const row of t) expect(row.length).toBe(w);
    }
    const l0 = smartpafLayer('table9', 0);
    // row 0: f1 = 2.736806631x − 3.864239931x³ first, …, last g1 = 2.189934731x − 1.481475353x³
    const h = (c1: number, c3: number) => (x: number) => c1 * x + c3 * x ** 3;
    const ref = (x: number): number =>
      h(2.189934731, -1.481475353)(h(2.239115477, -2.424801588)(h(2.115309238, -2.268822908)(h(2.736806631, -3.864239931)(x))));
    for (const x of [-0.3, 0.05, 0.2, 0.6]) expect(compositeSign(l0, x)).toBeCloseTo(ref(x), 13);
  });

  it('every tuned row is a sane ReLU approximation on a concentrated input distribution', () => {
    // Tuned PAFs target the profiled inputs x/s, concentrated near 0 (s = max|x|). On N(0, 0.1²)
    // every row must beat "ReLU ≈ 0" by ≥ 8× and be no worse than its untuned starting form.
    const sigma = 0.1;
    const mse = (cp: CompositePoly): number => {
      let s = 0;
      let w = 0;
      for (let i = -4000; i <= 4000; i++) {
        const x = i / 4000;
        const wt = Math.exp(-(x * x) / (2 * sigma * sigma));
        const e = compositeRelu(cp, x) - Math.max(0, x);
        s += wt * e * e;
        w += wt;
      }
      return s / w;
    };
    const zero = mse({ inputScale: 1, components: [{ basis: 'power', coeffs: new Float64Array([0, 0]) }] });
    const tables: [SmartPafTable, Parameters<typeof smartpafForm>[0]][] = [
      ['table9', 'f1^2∘g1^2'],
      ['table6', 'f1∘g2'],
      ['table10', 'f2∘g3'],
      ['table11', 'f2∘g2'],
    ];
    for (const [t, form] of tables) {
      const init = mse(smartpafForm(form));
      for (let l = 0; l < 17; l++) {
        const m = mse(smartpafLayer(t, l));
        expect(m).toBeLessThan(zero / 8);
        // (1e-4 slack: Table 10 prints the initial d7 of layer 6 to 6 digits)
        expect(m).toBeLessThanOrEqual(init * (1 + 1e-4));
      }
    }
  });
});

describe('ReLU and max from a sign approximation', () => {
  it('are exact with the exact sign', () => {
    const r = reluFromSign(Math.sign);
    const m = maxFromSign(Math.sign);
    for (const x of [-3, -0.5, 0, 0.25, 7]) expect(r(x) === Math.max(0, x)).toBe(true);
    for (const [a, b] of [
      [1, 2],
      [-3, -4],
      [0.5, 0.5],
    ]) expect(m(a!, b!) === Math.max(a!, b!)).toBe(true);
  });

  it('inherit the composite’s ReLU error bound (max error = ReLU error at a − b)', () => {
    const cp = alphaComposite(7).composite; // inputs scaled to [−1, 1]
    const bound = reluError(cp);
    for (let i = 0; i < 200; i++) {
      const a = Math.sin(i) * 0.5;
      const b = Math.cos(i * 1.3) * 0.5;
      expect(Math.abs(compositeMax(cp, a, b) - Math.max(a, b))).toBeLessThanOrEqual(bound * (1 + 1e-9));
    }
  });
});
