/**
 * W6 (SPEC §9), the obvious user code: 64 independent `TwoHeadLayer.train` runs under
 * `Promise.all`, d = 16, H = 2, 'dot', batch 256, 1000 steps, λ = 1, lr 0.05, `recordEvery: 1000`.
 *
 *     node dist/bench/many-runs.js [--runs 64] [--steps 1000] [--batch 256] [--dim 16]
 *                                  [--dtype f32|f64] [--threads n] [--repeat 3]
 *
 * Prints samples/s (runs · steps · batch / wall time) per repetition and the best. The libuv pool
 * size (`UV_THREADPOOL_SIZE`, default 4) is read from the environment, as Node does.
 */
import { GaussianMixture, TwoHeadLayer, setThreads, getThreads } from '../src/index';
import type { Dtype } from '../src/index';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? (process.argv[i + 1] as string) : def;
}

async function main(): Promise<void> {
  const runs = Number(arg('--runs', '64'));
  const steps = Number(arg('--steps', '1000'));
  const batch = Number(arg('--batch', '256'));
  const dim = Number(arg('--dim', '16'));
  const dtype = arg('--dtype', 'f32') as Dtype;
  const repeat = Number(arg('--repeat', '3'));
  if (process.argv.includes('--threads')) setThreads(Number(arg('--threads', '2')));
  const means = [Array.from({ length: dim }, (_, j) => (j === 0 ? 3 : 0)), Array.from({ length: dim }, (_, j) => (j === 1 ? 3 : 0))];
  const gmm = GaussianMixture.isotropic({ means, sigma: 1 });
  const rates: number[] = [];
  for (let r = 0; r < repeat; r++) {
    const layers = Array.from({ length: runs }, (_, i) => new TwoHeadLayer({ dim, heads: 2, lambda: 1, dtype, init: { kind: 'random', scale: 0.01, seed: i } }));
    const [t0, c0] = [performance.now(), process.cpuUsage()];
    await Promise.all(layers.map((l, i) => l.train(gmm, { steps, batch, lr: 0.05, seed: i, recordEvery: 1000 })));
    const s = (performance.now() - t0) / 1e3;
    const c = process.cpuUsage(c0);
    const cpu = (c.user + c.system) / 1e6;
    rates.push((runs * steps * batch) / s);
    // On a shared machine the wall time depends on the other load; the process CPU time does not.
    console.log(
      `W6 ${runs} runs × ${steps} steps × batch ${batch}, d = ${dim}, ${dtype}: ${s.toFixed(3)} s wall, ${(rates[r]! / 1e6).toFixed(2)} M samples/s; ` +
        `${cpu.toFixed(3)} s CPU = ${((cpu * 1e9) / (runs * steps * batch)).toFixed(1)} ns CPU per sample`,
    );
  }
  console.log(`best ${(Math.max(...rates) / 1e6).toFixed(2)} M samples/s (threads ${getThreads()}, UV_THREADPOOL_SIZE ${process.env.UV_THREADPOOL_SIZE ?? '4 (default)'})`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
