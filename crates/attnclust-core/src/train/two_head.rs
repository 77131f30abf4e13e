//! Training loops for model A.
//!
//! - **Online SGD** (the population risk): step `t` draws `batch` fresh samples from the mixture and
//!   follows their mean gradient, an unbiased estimate of `∇R(Θ)`. Sampling is fused with the
//!   gradient: chunk `c` of step `t` draws its [`SAMPLE_CHUNK`] samples one at a time from
//!   `gen(seed, stream(TRAIN, t), c)`, scores, reconstructs and accumulates, so the batch is never
//!   stored. Chunk sums are added in chunk order: the trajectory does not depend on the threads.
//! - **Full batch**: every step follows the exact gradient of the empirical risk on a fixed sample.
//!
//! Both run a range of steps `start .. start + count` and can be resumed: the state is the
//! parameters, the optimiser buffer and the step number. The risk recorded for step `t` is that of
//! the parameters before its update (on the step's batch, or on the whole fixed sample).

use crate::data::gmm::{DrawScratch, Mixture};
use crate::data::rng::{self, purpose, SAMPLE_CHUNK};
use crate::error::{ensure, values, Error, Numeric, Result};
use crate::kernels::par::Par;
use crate::kernels::real::Real;
use crate::models::two_head::chunk::{chunk_gradient_into, chunk_sums_into, gram_into, ChunkScratch, ChunkSums};
use crate::models::two_head::{combine, Layer, Scores};
use crate::train::optim::{run_steps, Optim};

/// Settings of a model-A training run (SPEC §2): the layer, the optimiser and its schedule, the
/// batch and the seed. Checked by [`Setup::check`] at the start of every call.
#[derive(Clone, Debug, PartialEq)]
pub struct Setup {
    /// Number of heads `H ≥ 1`.
    pub heads: usize,
    /// Dimension `d ≥ 1` of a token.
    pub dim: usize,
    /// Inverse temperature `λ > 0` (reciprocal squared data units).
    pub lambda: f64,
    /// How a head scores a token.
    pub scores: Scores,
    /// Update rule, schedule and base rate (shared with model C's trainer).
    pub optim: Optim,
    /// Samples per step (online) — ignored by full-batch training.
    pub batch: usize,
    /// Seed of the online samples (step `t` draws from stream `(TRAIN, t)`).
    pub seed: u64,
}

/// Largest batch accepted per step.
pub const MAX_BATCH: usize = 1 << 26;

impl Setup {
    /// Checks the settings.
    ///
    /// # Errors
    /// [`crate::ErrorKind::Range`] when `lambda` or `lr` is not positive and finite, `batch` is outside
    /// `[1, MAX_BATCH]`, or the optimiser or schedule fails its own check.
    pub fn check(&self) -> Result<()> {
        crate::models::two_head::check_lambda(self.lambda)?;
        self.optim.check()?;
        ensure(self.batch >= 1 && self.batch <= MAX_BATCH, || Error::range("batch", format!("an integer in [1, {MAX_BATCH}]"), self.batch))
    }
}

/// The run's settings, and parameters and optimiser state of the sizes they imply.
pub(crate) fn check_state<T: Real>(setup: &Setup, params: &[T], state: &[f64]) -> Result<()> {
    setup.check()?;
    let p = setup.heads * setup.dim;
    if params.len() != p || state.len() != 2 * p {
        return Err(Error::type_(
            "params",
            format!("H × d = {} (and the optimiser state {})", values(p), values(2 * p)),
            format!("{} and {}", values(params.len()), values(state.len())),
        ));
    }
    Ok(())
}

/// Work (`batch · d · H`) of an online step below which it stays on one thread.
pub(crate) const ONLINE_PAR_WORK: usize = 1 << 15;

/// Whether an online step of `batch` samples in dimension `d` with `h` heads is worth splitting
/// over threads: it needs at least two chunks of [`SAMPLE_CHUNK`] samples (a chunk is the unit of
/// work) and `batch · d · h ≥` [`ONLINE_PAR_WORK`] (below, a fork and join of the pool, a few µs,
/// costs more than it saves). Either way the result is the same, bit for bit.
pub(crate) fn online_par_worthwhile(batch: usize, d: usize, h: usize) -> bool {
    batch > SAMPLE_CHUNK && batch.saturating_mul(d).saturating_mul(h) >= ONLINE_PAR_WORK
}

/// Work space of sequential online steps, reused from step to step (no allocation per step once
/// it has grown, for `H ≤ 4`).
pub(crate) struct OnlineScratch<T> {
    draw: DrawScratch<T>,
    xs: Vec<T>,
    labels: Vec<u32>,
    chunk: ChunkScratch<T>,
    sums: ChunkSums<T>,
    gram: Vec<f64>,
    chunk_grad: Vec<f64>,
    offsets: Vec<T>,
    /// The mean gradient of the last step, `H × d`.
    pub grad: Vec<f64>,
}

impl<T: Real> OnlineScratch<T> {
    /// Work space for `h` heads in dimension `d`.
    pub fn new(h: usize, d: usize) -> Self {
        OnlineScratch {
            draw: DrawScratch::default(),
            xs: Vec::new(),
            labels: Vec::new(),
            chunk: ChunkScratch::default(),
            sums: ChunkSums::new(h, d),
            gram: Vec::new(),
            chunk_grad: vec![0.0; h * d],
            offsets: Vec::new(),
            grad: vec![0.0; h * d],
        }
    }
}

/// [`online_gradient`] on the calling thread with its work space passed in: the same chunks,
/// the same arithmetic in the same order, so the same bits. Returns the mean risk and leaves the
/// mean gradient in `ws.grad`.
pub(crate) fn online_gradient_seq<T: Real>(mix: &Mixture, layer: &Layer<T>, batch: usize, seed: u64, t: u64, ws: &mut OnlineScratch<T>) -> f64 {
    let (d, h) = (mix.dim, layer.heads);
    gram_into(layer, &mut ws.gram);
    ws.grad.clear();
    ws.grad.resize(h * d, 0.0);
    ws.chunk_grad.resize(h * d, 0.0);
    let mut loss = 0.0;
    for c in 0..batch.div_ceil(SAMPLE_CHUNK) {
        let count = SAMPLE_CHUNK.min(batch - c * SAMPLE_CHUNK);
        ws.xs.resize(count * d, T::zero());
        ws.labels.resize(count, 0);
        mix.draw_chunk_fast_with(&mut ws.xs, &mut ws.labels, seed, rng::stream(purpose::TRAIN, t), c as u64, &mut ws.draw);
        chunk_sums_into(layer, &ws.gram, &ws.xs, &mut ws.sums, &mut ws.chunk);
        loss += chunk_gradient_into(layer, &ws.sums, &mut ws.chunk_grad);
        ws.grad.iter_mut().zip(&ws.chunk_grad).for_each(|(a, b)| *a += b);
    }
    // as `combine`
    let inv = 1.0 / batch as f64;
    ws.grad.iter_mut().for_each(|v| *v *= inv);
    loss * inv
}

/// Mean risk and gradient (`H × d`, `f64`) on `batch` fresh samples of step `t`, fused with the
/// sampling (see the module documentation): an unbiased estimate of the population risk and
/// gradient. The same bits for any `par` and thread count. Inputs are assumed checked.
pub fn online_gradient<T: Real>(mix: &Mixture, layer: &Layer<T>, batch: usize, seed: u64, t: u64, par: Par) -> (f64, Vec<f64>) {
    let d = mix.dim;
    let chunks = batch.div_ceil(SAMPLE_CHUNK);
    let par = par.above(batch * d * layer.heads, 1 << 15);
    let gram = crate::models::two_head::chunk::gram(layer);
    let parts = par.map(chunks, |c| {
        // One chunk of samples at a time: drawn into a buffer, then reduced by the chunk kernel.
        let count = SAMPLE_CHUNK.min(batch - c * SAMPLE_CHUNK);
        let mut xs = vec![T::zero(); count * d];
        let mut labels = vec![0u32; count];
        mix.draw_chunk_fast(&mut xs, &mut labels, seed, rng::stream(purpose::TRAIN, t), c as u64);
        crate::models::two_head::chunk::chunk_gradient(layer, &crate::models::two_head::chunk::chunk_sums(layer, &gram, &xs))
    });
    combine(parts, layer.heads * d, batch)
}

/// Runs online SGD steps `start .. start + count`; returns each step's batch risk. A run cancelled
/// ([`crate::kernels::cancel`]) stops early and returns the risks of the steps it completed.
/// `params` (`H × d`) and `state` (`2·H·d`, the optimiser's `m` and `v`) are updated in place.
///
/// # Errors
/// Those of [`Setup::check`]; [`crate::ErrorKind::Type`] when `params` or `state` has the wrong length;
/// [`crate::ErrorKind::Range`] when the mixture's dimension is not `setup.dim`, a parameter is not finite,
/// or the risk or gradient stops being finite (divergence, or values too large for `T`).
pub fn online<T: Real>(mix: &Mixture, setup: &Setup, params: &mut [T], state: &mut [f64], start: u64, count: u64, par: Par) -> Result<Vec<f64>> {
    check_state(setup, params, state)?;
    ensure(mix.dim == setup.dim, || Error::type_("mixture", format!("of the layer's dimension {}", setup.dim), format!("dimension {}", mix.dim)))?;
    let par = if online_par_worthwhile(setup.batch, setup.dim, setup.heads) { par } else { Par::Seq };
    let mut ws = OnlineScratch::new(setup.heads, setup.dim);
    // A cancelled run stops at a step's start, or at a chunk boundary of a parallel step.
    run_steps(&setup.optim, params, state, start, count, |params, t, grad| {
        let layer = Layer::with_buffer(params, setup.heads, setup.dim, setup.lambda, setup.scores, std::mem::take(&mut ws.offsets))?;
        let risk = match par {
            Par::Seq => online_gradient_seq(mix, &layer, setup.batch, setup.seed, t, &mut ws),
            Par::Rayon => {
                let (risk, grad) = online_gradient(mix, &layer, setup.batch, setup.seed, t, par);
                ws.grad.copy_from_slice(&grad);
                risk
            }
        };
        ws.offsets = layer.into_buffer();
        if !risk.is_finite() || ws.grad.iter().any(|g| !g.is_finite()) {
            return Err(diverged::<T>(t, setup.optim.lr));
        }
        grad.copy_from_slice(&ws.grad);
        Ok(risk)
    })
}

/// Runs full-batch gradient steps `start .. start + count` on the fixed sample `x` (`n × d`);
/// returns the empirical risk before each step (only the completed steps', when cancelled).
///
/// # Errors
/// As [`online`], with `x` (named `source`) checked by
/// [`crate::models::two_head::check_tokens`].
pub fn full_batch<T: Real>(x: &[T], setup: &Setup, params: &mut [T], state: &mut [f64], start: u64, count: u64, par: Par) -> Result<Vec<f64>> {
    check_state(setup, params, state)?;
    // The sample is checked once; a non-finite risk later can only come from the parameters.
    crate::models::two_head::check_tokens(x, setup.dim, "x")?;
    run_steps(&setup.optim, params, state, start, count, |params, t, grad| {
        let layer = Layer::new(params, setup.heads, setup.dim, setup.lambda, setup.scores)?;
        let (risk, g) = layer.risk_grad(x, par).map_err(|_| diverged::<T>(t, setup.optim.lr))?;
        grad.copy_from_slice(&g);
        Ok(risk)
    })
}

/// The error for a risk or gradient that is no longer finite at step `t`. At step 0 the parameters
/// are the caller's (finite, checked): the values overflowed, nothing diverged.
fn diverged<T: Real>(t: u64, lr: f64) -> Error {
    if t == 0 {
        let ty = if std::mem::size_of::<T>() == 4 { "f32 (or use dtype 'f64')" } else { "f64" };
        return Error::range(
            "x",
            "small enough (with the parameters and `lambda`) that the risk and its gradient do not overflow at the initial parameters (rescale them)",
            format!("values too large for {ty}"),
        )
        .because(Numeric::Overflow);
    }
    Error::range("lr", "low enough for training to stay finite", format!("{lr} (diverged at step {t}: the risk or its gradient is no longer finite; lower it)"))
}

/// Bytes of a layer's `heads × dim` parameters in values of `elem` bytes with, for training, their
/// gradient and optimiser state (the four `f64` values per parameter that [`peak_bytes`] counts).
pub fn params_peak_bytes(heads: usize, dim: usize, elem: usize) -> f64 {
    heads as f64 * dim as f64 * (elem + 4 * 8) as f64
}

/// Peak bytes of a call of [`online`] (`n` = the batch, drawn per chunk by each of `threads`
/// threads) or [`full_batch`] (`n` = the sample, held whole) with `heads` heads in dimension `dim`
/// and values of `elem` bytes: the samples, the per-chunk partial gradients of a step, and the
/// parameters' gradient and optimiser state in `f64`. In `f64`.
pub fn peak_bytes(online: bool, n: usize, heads: usize, dim: usize, elem: usize, threads: usize) -> f64 {
    use crate::models::two_head::{pass_peak_bytes, REDUCE_CHUNK};
    let [nf, d, e] = [n, dim, elem].map(|v| v as f64);
    let samples = if online { threads as f64 * REDUCE_CHUNK as f64 * d * e } else { nf * d * e };
    samples + pass_peak_bytes(n, heads, dim, elem, 0, true) + params_peak_bytes(heads, dim, 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::metrics::{alignment, centroid_error};
    use crate::train::init::{init_params, Init};

    fn mixture(d: usize, norm: f64, sigma: f64) -> Mixture {
        let mut m = vec![0.0; 2 * d];
        m[0] = norm;
        m[d + 1.min(d - 1)] = norm;
        Mixture::isotropic(m, 2, d, &[sigma], None).unwrap()
    }

    fn setup(d: usize) -> Setup {
        Setup { heads: 2, dim: d, lambda: 1.0, scores: Scores::Dot, optim: Optim::sgd(0.05), batch: 2500, seed: 3 }
    }

    #[test]
    fn online_sgd_finds_the_centroids_and_is_thread_independent() {
        let d = 8;
        let mix = mixture(d, 2.0, 0.5);
        let s = setup(d);
        let p0: Vec<f64> = init_params(&Init::Random { scale: 0.01, seed: 1 }, 2, d, None).unwrap();
        let (mut p1, mut st1) = (p0.clone(), vec![0.0; 4 * d]);
        let r1 = online(&mix, &s, &mut p1, &mut st1, 0, 300, Par::Seq).unwrap();
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        let (mut p2, mut st2) = (p0.clone(), vec![0.0; 4 * d]);
        // two resumed halves on two threads = one run on one thread
        let mut r2 = pool.install(|| online(&mix, &s, &mut p2, &mut st2, 0, 120, Par::Rayon)).unwrap();
        r2.extend(pool.install(|| online(&mix, &s, &mut p2, &mut st2, 120, 180, Par::Rayon)).unwrap());
        assert_eq!(p1, p2);
        assert_eq!(r1, r2);
        let means: Vec<f64> = mix.means.clone();
        assert!(alignment(&p1, &means, d).unwrap() > 0.99, "{p1:?}");
        assert!(centroid_error(&p1, &means, d).unwrap() < 0.1);
        assert!(r1[r1.len() - 1] < r1[0]);
    }

    fn seq_equals_chunked<T: Real>(ws: &mut OnlineScratch<T>) {
        for (d, h, batch) in [(1, 1, 1), (3, 2, 7), (16, 2, 256), (8, 3, 1023), (5, 4, 1025), (17, 5, 2100), (2, 2, 4097), (64, 2, 9)] {
            let mix = mixture(d, 2.0, 0.5);
            let params: Vec<T> = (0..h * d).map(|i| T::of(((i * 7 % 11) as f64 - 5.0) * 0.13)).collect();
            for scores in [Scores::Dot, Scores::Distance] {
                let layer = Layer::new(&params, h, d, 0.7, scores).unwrap();
                for t in [0, 5] {
                    let (r, g) = online_gradient(&mix, &layer, batch, 11, t, Par::Seq);
                    let r2 = online_gradient_seq(&mix, &layer, batch, 11, t, ws);
                    assert_eq!(r.to_bits(), r2.to_bits(), "{} d={d} h={h} batch={batch}", T::NAME);
                    assert_eq!(g, ws.grad, "{} d={d} h={h} batch={batch}", T::NAME);
                }
            }
        }
    }

    #[test]
    fn sequential_step_reusing_its_scratch_equals_the_chunked_step() {
        // one scratch across shapes: it must resize, never carry anything over
        seq_equals_chunked::<f32>(&mut OnlineScratch::new(2, 16));
        seq_equals_chunked::<f64>(&mut OnlineScratch::new(1, 1));
    }

    #[test]
    fn small_steps_stay_on_one_thread() {
        assert!(!online_par_worthwhile(256, 16, 2));
        assert!(!online_par_worthwhile(SAMPLE_CHUNK, 1024, 4));
        assert!(!online_par_worthwhile(4096, 1, 1));
        assert!(online_par_worthwhile(2 * SAMPLE_CHUNK, 16, 2));
        assert!(online_par_worthwhile(usize::MAX, usize::MAX, 2));
    }

    #[test]
    fn full_batch_decreases_risk_and_divergence_is_an_error() {
        let d = 3;
        let mix = mixture(d, 2.0, 0.5);
        let (x, _) = mix.sample::<f32>(2000, 1, 0, Par::Rayon);
        let mut s = setup(d);
        s.optim.optimizer = crate::train::optim::Optimizer::Adam { beta1: 0.9, beta2: 0.999, eps: 1e-8 };
        let mut p: Vec<f32> = init_params(&Init::Data { seed: 2 }, 2, d, Some(&x)).unwrap();
        let mut st = vec![0.0; 4 * d];
        let r = full_batch(&x, &s, &mut p, &mut st, 0, 200, Par::Rayon).unwrap();
        assert!(r[199] < r[0]);
        let mut s2 = setup(d);
        s2.optim.lr = 1e30;
        let mut p: Vec<f64> = vec![1.0; 2 * d];
        let mut st = vec![0.0; 4 * d];
        let xd: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        let e = full_batch(&xd, &s2, &mut p, &mut st, 0, 50, Par::Seq).unwrap_err();
        assert_eq!(e.arg, "lr");
        assert!(e.message().contains("diverged at step"), "{e}");
    }

    #[test]
    fn huge_lambda_trains_where_the_gradient_is_exact() {
        // issue 10: λ = 1e300 on tokens of norm ≈ 22 was refused up front, though the kernels are
        // exact there (the softmax saturates).
        let d = 4;
        let mix = mixture(d, 20.0, 1.0);
        let (x, _) = mix.sample::<f64>(500, 5, 0, Par::Seq);
        let mut s = setup(d);
        s.lambda = 1e300;
        for init in [Init::Data { seed: 1 }, Init::Random { scale: 0.1, seed: 1 }] {
            let mut p: Vec<f64> = init_params(&init, 2, d, Some(&x)).unwrap();
            let layer = Layer::new(&p, 2, d, 1e300, Scores::Dot).unwrap();
            let (risk0, grad0) = layer.risk_grad(&x, Par::Seq).unwrap();
            drop(layer);
            let mut st = vec![0.0; 4 * d];
            let r = full_batch(&x, &s, &mut p, &mut st, 0, 20, Par::Seq).unwrap();
            assert_eq!(r[0], risk0);
            assert!(grad0.iter().all(|g| g.is_finite()));
            assert!(r.iter().all(|v| v.is_finite()) && p.iter().all(|v| v.is_finite()));
            let mut p2: Vec<f64> = init_params(&init, 2, d, Some(&x)).unwrap();
            s.batch = 200;
            online(&mix, &s, &mut p2, &mut vec![0.0; 4 * d], 0, 5, Par::Seq).unwrap();
        }
    }

    #[test]
    fn errors_name_the_sample() {
        // The core names the sample `x`; the binding reports it as `train`'s `source`.
        let d = 2;
        let s = setup(d);
        let mut p = vec![0.1f64; 2 * d];
        let e = full_batch(&[0.0, f64::NAN], &s, &mut p, &mut vec![0.0; 4 * d], 0, 1, Par::Seq).unwrap_err();
        assert_eq!((e.kind, e.arg.as_str()), (ErrorKind::Range, "x[0][1]"), "{e}");
        // an overflow at the caller's parameters is not a divergence
        let mut big = setup(d);
        big.lambda = 1e300;
        let mut p = vec![1e200f64, 0.0, 0.0, 1e200];
        let e = full_batch(&[1e200, 1e200, -1e200, 1e200], &big, &mut p, &mut vec![0.0; 4 * d], 0, 1, Par::Seq).unwrap_err();
        assert_eq!((e.kind, e.arg.as_str()), (ErrorKind::Range, "x"), "{e}");
        assert!(e.message().contains("overflow") && !e.message().contains("diverged"), "{e}");
    }
}
