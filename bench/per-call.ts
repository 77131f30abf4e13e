/**
 * Per-call cost of the tiny synchronous calls (issue 9, item 4), against a plain-JavaScript loop
 * doing the same arithmetic. A script, not a test: `node dist/bench/per-call.js [calls]`.
 *
 * For each call it prints the time per call, the best of 20 batches over `calls` calls in all
 * (default 20 000, after 2 000 warm-up calls), and for identity attention the time of the addon call alone (no TypeScript
 * checks) and of the plain loop, so that the fixed cost of a call can be read off; for the metrics, the addon calls alone
 * and an empty addon call taking the same arguments (the floor of any sync call).
 */
import * as api from '../src/index';
import { native } from '../src/native';

/** The best mean over 20 batches of `n / 20` calls (the least disturbed by other load), in µs. */
function time(name: string, f: () => unknown, n: number): number {
  for (let i = 0; i < Math.min(2000, n); i++) f();
  const per = Math.max(1, Math.floor(n / 20));
  let us = Infinity;
  for (let r = 0; r < 20; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < per; i++) f();
    us = Math.min(us, Number(process.hrtime.bigint() - t0) / 1e3 / per);
  }
  console.log(`${name.padEnd(48)} ${us.toFixed(2).padStart(8)} µs/call`);
  return us;
}

/** Identity attention on one `[l, d]` prompt (row-major), max-subtracted softmax, plain JS. */
function plainIdentity(x: Float64Array, l: number, d: number, lambda: number): Float64Array {
  const y = new Float64Array(l * d);
  const s = new Float64Array(l);
  for (let i = 0; i < l; i++) {
    let m = -Infinity;
    for (let j = 0; j < l; j++) {
      let dot = 0;
      for (let k = 0; k < d; k++) dot += (x[i * d + k] as number) * (x[j * d + k] as number);
      s[j] = lambda * dot;
      if ((s[j] as number) > m) m = s[j] as number;
    }
    let z = 0;
    for (let j = 0; j < l; j++) {
      s[j] = Math.exp((s[j] as number) - m);
      z += s[j] as number;
    }
    for (let j = 0; j < l; j++) for (let k = 0; k < d; k++) y[i * d + k] = (y[i * d + k] as number) + ((s[j] as number) / z) * (x[j * d + k] as number);
  }
  return y;
}

const n = Number(process.argv[2] ?? 20000);
const rows = Array.from({ length: 16 }, (_, i) => [Math.sin(i), Math.cos(i)]);
const t = { shape: [16, 2], data: Float64Array.from(rows.flat()) };
console.log(`threads: ${api.getThreads()}, ${n} calls each`);
time('identityAttentionSync [16, 2] (Tensor)', () => api.identityAttentionSync(t, { lambda: 0.3 }), n);
time('identityAttentionSync [16, 2] (nested arrays)', () => api.identityAttentionSync(rows, { lambda: 0.3 }), n);
time('  the addon call alone', () => native.identityAttentionSync(t.data, 1, 16, 2, 0.3, 'dot', false, 1, false), n);
time('  plain JavaScript loop', () => plainIdentity(t.data, 16, 2, 0.3), n);
time('  an empty addon call (getThreads)', () => native.getThreads(), n);
const labels = new Uint32Array(16);
time('  the addon call alone: ARI of 16', () => native.adjustedRandIndex(labels, labels), n);
const p2 = new Float64Array([1, 0, 0, 1]);
// params then means, packed (as `alignment` passes them)
const packed = new Float64Array([1, 0, 0, 1, 1, 0, 0, 1]);
time('  the addon call alone: alignment 2×2', () => native.alignment(packed, 2, 2, 2), n);
// The floor of a sync call: the arguments of `alignment` converted, nothing computed.
time('  an empty addon call with those arguments', () => native.emptyCallForBench(p2, p2, 2), n);
const gmm = api.GaussianMixture.isotropic({ means: [[1, 0], [-1, 0]], sigma: 0.5 });
time('GaussianMixture.sample(16)', () => gmm.sample(16, { seed: 1 }), n);
const layer = new api.TwoHeadLayer({ dim: 2, lambda: 1 });
const x = gmm.sample(64, { seed: 2 }).x;
time('TwoHeadLayer.forward [64, 2]', () => layer.forward(x), n);
time('TwoHeadLayer.gradient [64, 2]', () => layer.gradient(x), n);
