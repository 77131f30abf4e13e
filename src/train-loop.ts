/**
 * What the two trainers (`TwoHeadLayer.train`, `AttentionLayer.train`) share: the optimiser options
 * (one spec, checked and defaulted the same way, that the addon hands to the core's `train::optim`)
 * and the chunked loop of native calls (chunks of steps, history recording, cancellation,
 * progress). Each trainer supplies its native step call; divergence is detected by the core.
 *
 * @internal
 */
import { abortError, call, callAsync } from './errors';
import { cancellable, MAX_CALL_STEPS } from './cancel';
import { choices, native, type Native } from './native';
import * as v from './validate';

/** A number or undefined (its range is the core's rule). */
function num(name: string, x: unknown): number | undefined {
  return x === undefined ? undefined : v.numeric(name, x);
}

/**
 * The native optimiser spec of the options `optimizer` (an `OptimizerSpec`, default `dflt`),
 * `schedule` (a `ScheduleSpec`, default `'constant'`; a cosine `total` defaults to `steps`) and
 * `lr`. Unset settings take the core's defaults (momentum β 0.9; Adam β₁ 0.9, β₂ 0.999, ε 1e-8).
 * The values (`lr > 0`, `β ∈ [0, 1)`, `ε > 0`, `floor ∈ [0, 1]`, `total ≥ 1`, `τ > 0`) are the
 * core's rules: the spec is checked by the addon here (a RangeError naming the JS option), so a run
 * of 0 steps refuses the same options as a longer one.
 */
export function optimSpec(optimizer: unknown, schedule: unknown, steps: number, lr: number, dflt: Native.OptimizerKind): Native.OptimSpec {
  const kinds = choices('OptimizerKind');
  const o: Native.OptimSpec = { optimizer: dflt, schedule: 'constant', lr };
  if (typeof optimizer === 'string' || optimizer === undefined) {
    o.optimizer = v.oneOf('optimizer', optimizer, kinds, dflt);
  } else {
    const { kind, o: spec } = v.tagged('optimizer', optimizer, { sgd: [], momentum: ['beta'], adam: ['beta1', 'beta2', 'eps'] } satisfies Record<Native.OptimizerKind, readonly string[]>);
    o.optimizer = kind;
    o.beta = num('optimizer.beta', spec.beta);
    o.beta1 = num('optimizer.beta1', spec.beta1);
    o.beta2 = num('optimizer.beta2', spec.beta2);
    o.eps = num('optimizer.eps', spec.eps);
  }
  if (schedule === undefined || schedule === 'constant') return checked(o);
  const { kind, o: spec } = v.tagged('schedule', schedule, { cosine: ['total', 'floor'], 'inverse-time': ['tau'] } satisfies Record<Exclude<Native.ScheduleKind, 'constant'>, readonly string[]>);
  o.schedule = kind;
  if (kind === 'cosine') {
    // (an integer: the addon takes a whole number of steps; `total ≥ 1` is the core's rule)
    o.scheduleTotal = spec.total === undefined ? Math.max(1, steps) : v.integer('schedule.total', spec.total, 0, Number.MAX_SAFE_INTEGER);
    o.scheduleFloor = spec.floor === undefined ? 0 : v.numeric('schedule.floor', spec.floor);
  } else {
    o.scheduleTau = v.numeric('schedule.tau', spec.tau);
  }
  return checked(o);
}

/** `o`, after the addon checked its values (the core's rules, errors naming the JS options). */
function checked(o: Native.OptimSpec): Native.OptimSpec {
  call(() => native.checkOptim(o));
  return o;
}

/** What one native call of `count` training steps from step `t` returns: each step's loss, and the state reached. */
export interface StepsResult {
  /** Loss (risk) before each completed step: fewer than `count` when the call was cancelled. */
  losses: Float64Array;
  /** Keeps the parameters and optimiser state the call reached. */
  commit(): void;
}

/**
 * Runs `steps` training steps as native calls of at most `MAX_CALL_STEPS` steps that end on the
 * record points (every `recordEvery` steps): `run(t, count, token)` runs steps `t … t + count − 1`
 * under the cancellation token. At each record point `record(step, loss)` is called with the loss
 * before that step, while the trainer still holds that step's parameters (before `commit`). When
 * `signal` fires, the running call stops at its next step (or chunk of work), the steps it
 * completed are kept and the loop rejects with the signal's AbortError. Divergence is the core's
 * error (a RangeError from the call). The trajectory does not depend on the chunking.
 */
export async function trainInChunks(
  steps: number,
  recordEvery: number,
  signal: AbortSignal | undefined,
  run: (t: number, count: number, token: Native.CancelToken | undefined) => Promise<StepsResult>,
  record: (step: number, loss: number) => void,
): Promise<void> {
  let t = 0;
  while (t < steps) {
    const nextRecord = (Math.floor(t / recordEvery) + 1) * recordEvery;
    const count = Math.min(MAX_CALL_STEPS, nextRecord - t, steps - t);
    const r = await cancellable(signal, (token) => callAsync(() => run(t, count, token)));
    // A cancelled call returns the steps it completed (maybe none): the trainer keeps them.
    const done = r.losses.length;
    if (done > 0) {
      if (t % recordEvery === 0) record(t, r.losses[0] as number);
      r.commit();
      t += done;
    }
    if (done < count) throw abortError(signal);
  }
}
