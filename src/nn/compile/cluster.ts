/**
 * @module nn/compile/cluster
 * Parameter clustering (PAPER, digest §2.6 `conv_cluster.py`): 1-D k-means with k-means++
 * initialisation over each Conv/Dense layer's weights, every weight snapped to its centroid. A
 * linear layer then has at most k distinct weights per output, so the encrypted multiply-add sums
 * the inputs that share a weight first and multiplies once per distinct weight (`lincomb.ts`).
 * Biases are not clustered (they are added once). Deterministic for a given seed.
 */
import { InvalidArgumentError } from '../../errors.js';
import type { IrGraph, IrNode } from '../graph.js';

/** Result of clustering one array. */
export interface KMeans1D {
  centroids: Float64Array;
  /** Cluster index of each value. */
  assign: Int32Array;
  iterations: number;
}

/** 1-D k-means (Lloyd), k-means++ seeding from a mulberry32 stream; stops when centroids move < tol. */
export function kmeans1d(values: ArrayLike<number>, k: number, seed = 1, maxIter = 1000, tol = 1e-4): KMeans1D {
  const n = values.length;
  if (!Number.isInteger(k) || k < 1) throw new InvalidArgumentError(`k = ${k} is not a positive integer`, 'use a positive number of clusters (--cluster K with K ≥ 2 in the CLI)');
  const distinct = [...new Set(Array.from(values))];
  if (distinct.length <= k) {
    const centroids = Float64Array.from(distinct);
    const idx = new Map(distinct.map((v, i) => [v, i]));
    return { centroids, assign: Int32Array.from(Array.from(values, (v) => idx.get(v)!)), iterations: 0 };
  }
  let s = seed >>> 0;
  const rand = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const c = new Float64Array(k);
  c[0] = values[Math.floor(rand() * n)];
  const d2 = new Float64Array(n).fill(Infinity);
  for (let j = 1; j < k; j++) {
    let total = 0;
    for (let i = 0; i < n; i++) {
      const d = (values[i] - c[j - 1]) ** 2;
      if (d < d2[i]) d2[i] = d;
      total += d2[i];
    }
    let r = rand() * total;
    let pick = n - 1;
    for (let i = 0; i < n; i++) {
      r -= d2[i];
      if (r <= 0) {
        pick = i;
        break;
      }
    }
    c[j] = values[pick];
  }
  const assign = new Int32Array(n);
  let it = 0;
  for (; it < maxIter; it++) {
    c.sort();
    for (let i = 0; i < n; i++) {
      // centroids sorted: binary search for the nearest
      let lo = 0;
      let hi = k - 1;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (values[i] > (c[mid] + c[mid + 1]) / 2) lo = mid + 1;
        else hi = mid;
      }
      assign[i] = lo;
    }
    const sum = new Float64Array(k);
    const cnt = new Float64Array(k);
    for (let i = 0; i < n; i++) {
      sum[assign[i]] += values[i];
      cnt[assign[i]]++;
    }
    let shift = 0;
    for (let j = 0; j < k; j++) {
      if (cnt[j] === 0) continue;
      const v = sum[j] / cnt[j];
      shift = Math.max(shift, Math.abs(v - c[j]));
      c[j] = v;
    }
    if (shift < tol) break;
  }
  return { centroids: c, assign, iterations: it + 1 };
}

/** Snaps every Conv/Dense weight to its layer's k-means centroid; returns a new graph and a log. */
export function clusterWeights(g: IrGraph, k: number, seed = 1): { graph: IrGraph; log: string[] } {
  const log: string[] = [];
  const nodes: IrNode[] = g.nodes.map((n) => {
    if (n.op !== 'Conv' && n.op !== 'Dense') return n;
    const km = kmeans1d(n.weight.data, k, seed);
    const data = Float64Array.from(km.assign, (a) => km.centroids[a]);
    let err = 0;
    for (let i = 0; i < data.length; i++) err = Math.max(err, Math.abs(data[i] - n.weight.data[i]));
    log.push(`${n.name}: ${n.weight.data.length} weights → ${km.centroids.length} values (max change ${err.toExponential(2)})`);
    return { ...n, weight: { shape: [...n.weight.shape], data } };
  });
  return { graph: { ...g, nodes }, log };
}
