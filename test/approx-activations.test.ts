import { describe, expect, it } from 'vitest';
import { ACTIVATIONS, erf, erfc, gelu, getActivation, relu, silu, square } from '../src/approx/activations.js';
import { ApproxError } from '../src/approx/errors.js';

// Reference values (20-digit tables of erf / erfc; Abramowitz & Stegun 7.1, DLMF 7).
const ERF: [number, number][] = [
  [0.1, 0.1124629160182848922],
  [0.5, 0.5204998778130465377],
  [1, 0.8427007929497148693],
  [1.5, 0.9661051464753107271],
  [2, 0.9953222650189527342],
  [2.5, 0.9995930479825550411],
  [3, 0.9999779095030014146],
];
const ERFC: [number, number][] = [
  [1, 0.15729920705028513066],
  [2, 0.004677734981047265838],
  [3, 2.209049699858544137e-5],
  [5, 1.537459794428034850e-12],
  [10, 2.088487583762544757e-45],
];

/** Independent erf by composite Simpson on 2/√π e^{−t²} (20000 panels). */
function erfSimpson(x: number): number {
  const n = 20000;
  const h = x / n;
  let s = 1 + Math.exp(-x * x);
  for (let i = 1; i < n; i++) s += (i % 2 === 1 ? 4 : 2) * Math.exp(-((i * h) ** 2));
  return ((s * h) / 3) * (2 / Math.sqrt(Math.PI));
}

describe('erf / erfc', () => {
  it('match reference values to ~1e-15', () => {
    for (const [x, v] of ERF) {
      expect(Math.abs(erf(x) - v)).toBeLessThan(1.5e-15);
      expect(erf(-x)).toBe(-erf(x));
    }
    for (const [x, v] of ERFC) expect(Math.abs(erfc(x) - v) / v).toBeLessThan(3e-15);
  });

  it('agree with Simpson integration across [0, 5]', () => {
    for (let x = 0.05; x <= 5; x += 0.173) expect(Math.abs(erf(x) - erfSimpson(x))).toBeLessThan(1e-13);
  });

  it('erf + erfc = 1, limits and NaN', () => {
    for (let x = -4; x <= 4; x += 0.37) expect(erf(x) + erfc(x)).toBeCloseTo(1, 15);
    expect(erf(0)).toBe(0);
    expect(erf(7)).toBe(1);
    expect(erf(-40)).toBe(-1);
    expect(Number.isNaN(erf(NaN))).toBe(true);
  });
});

describe('activations', () => {
  it('GELU = x·Φ(x), SiLU = x·σ(x), ReLU, square', () => {
    // Φ(1) = 0.841344746068542948…, Φ(−1) = 0.158655253931457051…
    expect(gelu(1)).toBeCloseTo(0.841344746068543, 15);
    expect(gelu(-1)).toBeCloseTo(-0.158655253931457, 15);
    expect(gelu(0)).toBe(0);
    // Φ(−10) = 7.6198530241605260e-24
    expect(Math.abs(gelu(-10) / (-10 * 7.619853024160526e-24) - 1)).toBeLessThan(1e-13);
    expect(Math.abs(gelu(-2) - -2 * 0.022750131948179207)).toBeLessThan(1e-16);
    expect(silu(2)).toBeCloseTo(2 / (1 + Math.exp(-2)), 15);
    expect(silu(-800)).toBeCloseTo(0, 300);
    expect(relu(-3)).toBe(0);
    expect(relu(2.5)).toBe(2.5);
    expect(square(-3)).toBe(9);
  });

  it('names resolve; unknown names throw', () => {
    expect(getActivation('gelu').fn(1)).toBe(gelu(1));
    expect(getActivation(Math.tanh).name).toBe('tanh');
    expect(Object.keys(ACTIVATIONS)).toEqual(['relu', 'gelu', 'silu', 'square']);
    expect(() => getActivation('tanh' as never)).toThrow(ApproxError);
  });
});
