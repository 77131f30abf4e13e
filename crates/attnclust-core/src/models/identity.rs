//! Model B: identity attention, `Y = softmax_rows(S) X` with `W_Q = W_K = W_V = I`.
//!
//! For a prompt `X ∈ R^{L×d}` the scores are
//!
//! ```text
//! S_ij = λ⟨x_i, x_j⟩                (Scores::Dot)
//! S_ij = −λ‖x_i − x_j‖²/2           (Scores::Distance)
//! ```
//!
//! and, with `exclude_self`, `S_ii = −∞`. Distance scores are computed in one of two forms, by the
//! prompt's *spread* `λ·max_i‖x_i‖²`:
//!
//! - the **key-bias form** `λ⟨x_i, x_j⟩ − λ‖x_j‖²/2` on the online-softmax kernels (the dropped
//!   `−λ‖x_i‖²/2` is constant along row `i` and cancels in the softmax). It rounds to an error of
//!   about `λ·‖x‖²·ε` in the exponent (ε the unit roundoff), where the scores themselves may be far
//!   smaller, so it is used only up to a spread of [`DISTANCE_F32_SPREAD`] in `f32` and
//!   [`DISTANCE_F64_SPREAD`] in `f64`; an `f32` prompt past its bound is attended in `f64` (widened
//!   exactly, rounded back);
//! - the **difference form** `−λ/2·Σ_f (x_if − x_jf)²` (`crate::kernels::attn_diff`), in `f64`
//!   past [`DISTANCE_F64_SPREAD`]: each exponent is exact to a few ulps of the scores themselves at
//!   every finite `λ`, so a saturated row (`λ → ∞`) is its nearest neighbour (the mean of exactly
//!   equidistant ones; with `exclude_self`, the nearest *other* token).
//!
//! `depth = m` applies the layer `m` times; with `residual` each application is
//! `X ← X + Attn(X)` (the transformer residual), without it `X ← Attn(X)` (one mean-shift step when
//! the scores are distances).
//!
//! Which kernel attends a prompt (one prompt, one thread; the rules are measured, see each `pays`):
//!
//! - `f32`, `L ≤ 128`, `d ≤ 64` (except `d ≤ 4` past 64 tokens, `crate::kernels::attn_short::pays`):
//!   the short-prompt kernel of `crate::kernels::attn_short` (the whole problem in L1, each row's
//!   exact maximum), for dot scores at any `λ` and distance scores up to [`DISTANCE_F32_SPREAD`];
//!   a prompt whose scores overflow `f32` goes on to the online kernel below;
//! - `f32`, small `d`, spread `λ·max‖x_i‖²` bounded, where it is faster
//!   (`crate::kernels::attn_sym::pays`, `fits`): the symmetric kernel of `crate::kernels::attn_sym`
//!   (each pair of tokens scored once for both its rows); a prompt it declines that the short
//!   kernel takes goes to that one;
//! - else the online-softmax kernels of model C ([`crate::models::attention::flash`]: in `f32`
//!   with `d ≤ 64` the fused small-`d` kernel of `crate::kernels::attn`, else the tiled one; the
//!   `L × L` matrix is never stored), or distance scores past the spread bounds by their
//!   difference form (above).

use crate::error::{all_finite, ensure, finite_result, finite_tensor, values, Error, Result};
use crate::kernels::attn_diff::{self, DiffBufs};
use crate::kernels::attn_short::{self, ShortBufs};
use crate::kernels::attn_sym::{self, SymBufs};
use crate::kernels::par::Par;
use crate::kernels::real::{dot, Real};
use crate::kernels::simd;
use crate::models::attention::flash::{self, FusedBufs, Head, Mask};
use crate::models::two_head::{check_lambda, Scores};

/// Settings of identity attention (SPEC §3; the JavaScript defaults are `λ = 1/√d`, dot scores,
/// no self-exclusion, depth 1, no residual).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Options {
    /// Inverse temperature `λ > 0` (reciprocal squared data units).
    pub lambda: f64,
    /// Dot scores `λ⟨x_i, x_j⟩` or distance scores `−λ‖x_i − x_j‖²/2`.
    pub scores: Scores,
    /// Mask the diagonal (`S_ii = −∞`): a token does not attend to itself. Needs `L ≥ 2`.
    pub exclude_self: bool,
    /// Applications of the layer, `1 ≤ depth ≤` [`MAX_DEPTH`].
    pub depth: usize,
    /// `X ← X + Attn(X)` at each application instead of `X ← Attn(X)`.
    pub residual: bool,
}

/// Largest `depth` accepted.
pub const MAX_DEPTH: usize = 4096;

/// One application of the layer (no residual) to prompt `x` (`L × d`), written into `y`: the tiled kernel of
/// [`crate::models::attention::flash`] with `Q = K = V = X`, the distance term as a per-key bias and
/// `excludeSelf` as the no-self mask; distance scores past the spread bounds of the module
/// documentation by their difference form instead.
pub fn apply_prompt<T: Real>(x: &[T], y: &mut [T], d: usize, opts: &Options, par: Par) {
    apply_prompt_in(x, y, d, opts, par, &mut Bufs::default());
}

/// Work buffers of [`apply_prompt_in`], kept between the prompts of one thread.
#[derive(Default)]
struct Bufs<T> {
    bias: Vec<T>,
    fused: FusedBufs,
    sym: SymBufs,
    short: ShortBufs,
    diff: DiffBufs<T>,
    /// The `f64` prompt, output and buffers of an `f32` prompt attended in `f64`.
    wide: Option<Box<Wide>>,
}

/// Largest prompt (`L·d` values) whose work buffers a thread keeps for its next call (or prompt): a
/// tiny call in a loop (W8, `[16, 2]`) otherwise spent about a tenth of its time allocating and
/// freeing them, and a batch of `1024 × 64` prompts (W1) a few percent allocating and
/// page-faulting fresh buffers for each prompt. A thread keeps at most a few MB.
const KEEP_BUFS_VALUES: usize = 1 << 16;

thread_local! {
    /// The work buffers this thread kept from its last small call, one per float type.
    static KEPT: std::cell::RefCell<Vec<Box<dyn std::any::Any>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` with work buffers: for prompts of at most [`KEEP_BUFS_VALUES`] values those this
/// thread kept from an earlier call (taken out while `f` runs, so a nested call gets its own), put
/// back afterwards; fresh ones (dropped afterwards) for larger prompts.
fn with_bufs<T: Real, R>(size: usize, f: impl FnOnce(&mut Bufs<T>) -> R) -> R {
    if size > KEEP_BUFS_VALUES {
        return f(&mut Bufs::default());
    }
    let kept = KEPT.with(|k| {
        let mut k = k.borrow_mut();
        let i = k.iter().position(|b| b.is::<Bufs<T>>())?;
        k.swap_remove(i).downcast::<Bufs<T>>().ok()
    });
    let mut bufs = kept.unwrap_or_default();
    let r = f(&mut bufs);
    KEPT.with(|k| k.borrow_mut().push(bufs));
    r
}

/// See [`Bufs::wide`].
#[derive(Default)]
struct Wide {
    x: Vec<f64>,
    y: Vec<f64>,
    bufs: Bufs<f64>,
}

/// Above this spread `λ·max‖x_i‖²` an `f32` prompt with distance scores is attended in `f64` (by the
/// rule of [`DISTANCE_F64_SPREAD`]): the kernels' scores `λ⟨x_i, x_j⟩ − λ‖x_j‖²/2` carry a rounding
/// error of about `λ·max‖x‖²·2⁻²⁴` in the exponent, which stays below `1.5·10⁻⁵` up to this spread.
/// Measured as for [`DISTANCE_F64_SPREAD`], the `f32` bias form is within `1.3·10⁻⁷` at spread
/// `10²`, then `3·10⁻⁷` at `10³`, `5·10⁻⁶` at `10⁴`, `4·10⁻⁴` at `10⁶` and `2·10⁻²` from `10¹⁰`.
/// Prompts below it, and dot scores (whose rounding is that of the inputs themselves), stay in
/// `f32`.
pub const DISTANCE_F32_SPREAD: f64 = 256.0;

/// Above this spread `λ·max‖x_i‖²` distance scores in `f64` (an `f64` prompt, or an `f32` one past
/// [`DISTANCE_F32_SPREAD`]) are formed from the differences `x_i − x_j`
/// (`crate::kernels::attn_diff`) instead of the key-bias form, whose rounding error of about
/// `λ·max‖x‖²·2⁻⁵³` in the exponent grows without bound: measured on 65 tokens in `[−1, 1]³`
/// with `exclude_self` (`examples/distance_spread.rs`, max relative error of the output), the bias
/// form is within `4·10⁻¹⁶` at spread `10³` (as the difference form), then `6·10⁻¹⁵` at `10⁴`,
/// `5·10⁻¹³` at `10⁶`, `2·10⁻⁷` at `10¹²`, and from `10¹⁷` on it attends the wrong neighbours
/// (`10⁻²`). The difference form is exact to a few ulps of the scores at every `λ` (within
/// `10⁻¹⁵` of the reference at every spread measured) and costs about the same as the bias form
/// for `d ≤ 3`, up to ×2.5 at `d = 64`.
pub const DISTANCE_F64_SPREAD: f64 = 1024.0;

/// `max_i ‖x_i‖²` of the `d`-wide rows of `x`, in `f64` (each row's squares in 8 interleaved
/// partial sums: a serial sum took about 5 % of an `L = 1024, d = 64` prompt on the symmetric kernel).
fn max_sq_norm<T: Real>(x: &[T], d: usize) -> f64 {
    // (the same bits on AVX2, several times faster)
    T::as_f32(x).and_then(|xf| simd::max_sq_norm_f32(xf, d)).unwrap_or_else(|| max_sq_norm_plain(x, d))
}

/// [`max_sq_norm`] value by value.
fn max_sq_norm_plain<T: Real>(x: &[T], d: usize) -> f64 {
    x.chunks_exact(d)
        .map(|r| {
            let mut s = [0.0f64; 8];
            let mut c = r.chunks_exact(8);
            for q in &mut c {
                for (a, &v) in s.iter_mut().zip(q) {
                    *a += v.f64() * v.f64();
                }
            }
            let tail: f64 = c.remainder().iter().map(|&v| v.f64() * v.f64()).sum();
            ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7])) + tail
        })
        .fold(0.0, f64::max)
}

/// Whether every value of `v` is finite (`f32` on AVX2 by [`simd::all_finite_f32`]).
fn finite<T: Real>(v: &[T]) -> bool {
    T::as_f32(v).and_then(simd::all_finite_f32).unwrap_or_else(|| all_finite(v))
}

/// Which kernel attends a prompt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Path {
    /// The symmetric kernel of `crate::kernels::attn_sym` (`f32`, when it takes the prompt).
    Symmetric,
    /// The short-prompt kernel of `crate::kernels::attn_short` (`f32`, `L ≤ 128`, `d ≤ 64`; distance
    /// scores up to [`DISTANCE_F32_SPREAD`]).
    Short,
    /// The online-softmax kernels of [`crate::models::attention::flash`], with distance scores in
    /// the key-bias form, in the prompt's own type whatever the spread.
    Online,
    /// Distance scores from the differences `x_i − x_j` (`crate::kernels::attn_diff`), in `f64` (an
    /// `f32` prompt widened, the output rounded back); dot scores take [`Path::Online`].
    Difference,
}

/// [`apply_prompt`] in the allocations of `bufs`. A head the fused kernel takes, run on one thread,
/// goes through [`Head::forward_fused_seq`] (the same bits as [`Head::forward`], without its
/// log-sum-exp and per-call allocations).
fn apply_prompt_in<T: Real>(x: &[T], y: &mut [T], d: usize, opts: &Options, par: Par, bufs: &mut Bufs<T>) {
    let l = x.len() / d;
    let mut max_sq = None;
    // (max‖x_i‖² only where it is needed: the symmetric kernel's check, distance scores in f32)
    if let (Some(xf), Some(yf)) = (T::as_f32(x), T::as_f32_mut(y)) {
        let dot = opts.scores == Scores::Dot;
        let short = attn_short::pays(l, d);
        if attn_sym::pays(l, d) && !short {
            let m = max_sq_norm(xf, d);
            if attn_sym::fits(l, d, opts.lambda, m) {
                simd::attn_sym(simd::isa(), xf, yf, l, d, opts.lambda as f32, dot, opts.exclude_self, par, &mut bufs.sym);
                return;
            }
            max_sq = Some(m);
        }
        // the short kernel where it pays, and for any prompt it takes that the symmetric one declined
        if short || attn_short::takes(l, d) {
            // dot scores at any λ; distance scores in the key-bias form up to the f32 spread bound
            let fits = dot || opts.lambda * *max_sq.get_or_insert_with(|| max_sq_norm(xf, d)) <= DISTANCE_F32_SPREAD;
            // (a score that overflowed: the online kernel's dominant-key form keeps its row)
            if fits && simd::attn_short(simd::isa(), xf, yf, l, d, opts.lambda as f32, dot, opts.exclude_self, &mut bufs.short) {
                return;
            }
        }
    }
    apply_online(x, y, d, opts, par, bufs, max_sq);
}

/// One prompt on a given kernel and instruction set, on the calling thread (the tests run each;
/// [`apply_prompt`] chooses).
///
/// # Panics
/// When `path` is symmetric or short and the kernel does not take the prompt.
pub fn apply_prompt_path<T: Real>(x: &[T], y: &mut [T], d: usize, opts: &Options, path: Path, isa: simd::Isa) {
    apply_prompt_path_in(x, y, d, opts, path, isa, &mut PathBufs::default());
}

/// Work buffers of [`apply_prompt_path_in`], kept between prompts (as the batch paths keep theirs).
#[derive(Default)]
pub struct PathBufs<T>(Bufs<T>);

/// [`apply_prompt_path`] in the allocations of `bufs` (benchmarks: no allocation per prompt).
///
/// # Panics
/// When `path` is symmetric or short and the kernel does not take the prompt.
pub fn apply_prompt_path_in<T: Real>(x: &[T], y: &mut [T], d: usize, opts: &Options, path: Path, isa: simd::Isa, bufs: &mut PathBufs<T>) {
    let bufs = &mut bufs.0;
    match path {
        Path::Symmetric => {
            let l = x.len() / d;
            let (xf, yf) = (T::as_f32(x).expect("f32"), T::as_f32_mut(y).expect("f32"));
            assert!(attn_sym::fits(l, d, opts.lambda, max_sq_norm(xf, d)), "the symmetric kernel does not take this prompt");
            simd::attn_sym(isa, xf, yf, l, d, opts.lambda as f32, opts.scores == Scores::Dot, opts.exclude_self, Par::Seq, &mut bufs.sym);
        }
        Path::Short => {
            let l = x.len() / d;
            let (xf, yf) = (T::as_f32(x).expect("f32"), T::as_f32_mut(y).expect("f32"));
            let dot = opts.scores == Scores::Dot;
            assert!(attn_short::takes(l, d) && (dot || opts.lambda * max_sq_norm(xf, d) <= DISTANCE_F32_SPREAD), "the short kernel does not take this prompt");
            let done = simd::attn_short(isa, xf, yf, l, d, opts.lambda as f32, dot, opts.exclude_self, &mut bufs.short);
            assert!(done, "the short kernel declined this prompt (a score overflowed)");
        }
        Path::Online => apply_bias(x, y, d, opts, Par::Seq, bufs),
        Path::Difference if opts.scores == Scores::Dot => apply_bias(x, y, d, opts, Par::Seq, bufs),
        Path::Difference => apply_wide(x, y, d, opts, Par::Seq, bufs, f64::INFINITY),
    }
}

/// The online-softmax path of [`apply_prompt_in`], or the difference form at high spread;
/// `max_sq` is [`max_sq_norm`] of `x` when the caller has it (computed here otherwise, only for
/// distance scores). The rule for distance scores, by the spread `s = λ·max‖x_i‖²`:
///
/// - `f32`, `s ≤` [`DISTANCE_F32_SPREAD`]: the key-bias form in `f32`;
/// - `f64`, `s ≤` [`DISTANCE_F64_SPREAD`]: the key-bias form in `f64`;
/// - `f32` above its bound: widened to `f64` (exactly), the `f64` rule, rounded back;
/// - `f64` above its bound: the difference form (`crate::kernels::attn_diff`), exact to a few ulps
///   of the scores at every `λ`.
fn apply_online<T: Real>(x: &[T], y: &mut [T], d: usize, opts: &Options, par: Par, bufs: &mut Bufs<T>, max_sq: Option<f64>) {
    if opts.scores == Scores::Distance {
        let spread = opts.lambda * max_sq.unwrap_or_else(|| max_sq_norm(x, d));
        let bound = if T::as_f32(x).is_some() { DISTANCE_F32_SPREAD } else { DISTANCE_F64_SPREAD };
        if spread > bound {
            apply_wide(x, y, d, opts, par, bufs, spread);
            return;
        }
    }
    apply_bias(x, y, d, opts, par, bufs);
}

/// Distance scores past the bound of `T` at spread `spread`: an `f32` prompt is attended in `f64`
/// (by the bias form up to [`DISTANCE_F64_SPREAD`], else by differences), an `f64` one by
/// differences.
fn apply_wide<T: Real>(x: &[T], y: &mut [T], d: usize, opts: &Options, par: Par, bufs: &mut Bufs<T>, spread: f64) {
    if T::as_f32(x).is_none() {
        attn_diff::attend(x, y, d, opts.lambda, opts.exclude_self, par, &mut bufs.diff);
        return;
    }
    let Wide { x: wx, y: wy, bufs: wb } = &mut **bufs.wide.get_or_insert_with(Default::default);
    wx.clear();
    wx.extend(x.iter().map(|v| v.f64()));
    wy.clear();
    wy.resize(x.len(), 0.0);
    if spread > DISTANCE_F64_SPREAD {
        attn_diff::attend(wx, wy, d, opts.lambda, opts.exclude_self, par, &mut wb.diff);
    } else {
        apply_bias(wx, wy, d, opts, par, wb);
    }
    y.iter_mut().zip(wy.iter()).for_each(|(o, &v)| *o = T::of(v));
}

/// The online-softmax kernels in `T`, distance scores as the key bias `−λ‖x_j‖²/2`.
fn apply_bias<T: Real>(x: &[T], y: &mut [T], d: usize, opts: &Options, par: Par, bufs: &mut Bufs<T>) {
    let l = x.len() / d;
    let lambda = T::of(opts.lambda);
    let half = T::of(0.5);
    let distance = opts.scores == Scores::Distance;
    if distance {
        bufs.bias.clear();
        bufs.bias.extend(x.chunks(d).map(|r| -(lambda * half * dot(r, r))));
    }
    let bias = if distance { Some(&bufs.bias[..]) } else { None };
    let head = Head { q: x, k: x, v: x, l, dk: d, dv: d, lambda, mask: if opts.exclude_self { Mask::NoSelf } else { Mask::None }, key_bias: bias };
    if head.fused() && (par == Par::Seq || l <= flash::BR) {
        head.forward_fused_seq(y, &mut bufs.fused);
    } else {
        let mut lse = vec![T::zero(); l];
        head.forward(y, &mut lse, par);
    }
}

/// Checks the options against a prompt length `l`.
///
/// # Errors
/// [`crate::ErrorKind::Range`] when `lambda` is not positive and finite, `depth` is outside
/// `[1, MAX_DEPTH]`, or `exclude_self` is set with `l < 2`.
pub fn check(opts: &Options, l: usize) -> Result<()> {
    check_lambda(opts.lambda)?;
    ensure(opts.depth >= 1 && opts.depth <= MAX_DEPTH, || Error::range("depth", format!("an integer in [1, {MAX_DEPTH}]"), opts.depth))?;
    ensure(!opts.exclude_self || l >= 2, || {
        Error::range("exclude_self", "false for prompts of one token (each token would attend to nothing)", format!("true with prompts of length {l}"))
    })?;
    Ok(())
}

/// Applies the layer `depth` times to each of the `b` prompts of `x` (`b × l × d`, row-major),
/// returning `Y` of the same shape (identity attention of arXiv 2505.13112, SPEC §3). Each prompt
/// is attended independently on one of the kernels of the module documentation (in `f32`, a short
/// prompt on the short-prompt kernel, whose `L × L` problem fits in L1; else the symmetric kernel
/// or the tiled online-softmax kernel, FlashAttention-2, Dao 2023, which never stores the `L × L`
/// scores); the result is the same for any `par` and thread count.
///
/// Distance scores take the key-bias form up to a spread `λ·max_i‖x_i‖²` (per prompt) of
/// [`DISTANCE_F32_SPREAD`] in `f32` and [`DISTANCE_F64_SPREAD`] in `f64`, and past it the
/// difference form in `f64` (an `f32` prompt widened, rounded back), exact to a few ulps of the
/// scores at every `λ` (module documentation): at saturated `λ` with `exclude_self` each token
/// becomes its nearest other token.
///
/// # Errors
/// [`crate::ErrorKind::Type`] when `x.len() ≠ b·l·d`; [`crate::ErrorKind::Range`] when `d = 0`, a value of
/// `x` is not finite, or the options fail [`check`]; a range error about `x` marked
/// [`crate::Numeric::Overflow`] when the output is not finite.
pub fn identity_attention<T: Real>(x: &[T], b: usize, l: usize, d: usize, opts: &Options, par: Par) -> Result<Vec<T>> {
    let mut y = vec![T::zero(); x.len()];
    identity_attention_into(x, &mut y, b, l, d, opts, par)?;
    Ok(y)
}

/// [`identity_attention`] written into `y` (as many values as `x`; the same values), for a
/// caller that owns the result array.
///
/// # Errors
/// As [`identity_attention`]; [`crate::ErrorKind::Type`] when `y.len() ≠ x.len()`. On an error
/// `y` holds partial results.
pub fn identity_attention_into<T: Real>(x: &[T], y: &mut [T], b: usize, l: usize, d: usize, opts: &Options, par: Par) -> Result<()> {
    ensure(d >= 1, || Error::range("x", "tokens of at least one coordinate", "0 coordinates"))?;
    if x.len() != b * l * d {
        return Err(Error::type_("x", format!("B × L × d = {b} × {l} × {d} values"), values(x.len())));
    }
    if y.len() != x.len() {
        return Err(Error::type_("y", format!("{} values (as `x`)", x.len()), values(y.len())));
    }
    let shape: &[usize] = if b == 1 { &[l, d] } else { &[b, l, d] };
    if let Err(e) = check(opts, l) {
        // (a value of x that is not finite is reported first)
        finite_tensor("x", x, shape)?;
        return Err(e);
    }
    let size = l * d;
    if size == 0 {
        return Ok(());
    }
    // Parallel over prompts when there are enough, else over query blocks within each prompt
    // (or the fixed slices of a long prompt on the symmetric kernel); either way every output row
    // is computed the same way. A task takes several short prompts (about 2^20 flop) so that its
    // buffers and its hand-off are shared by them.
    let threads = rayon::current_num_threads();
    let (outer, inner) = if par == Par::Rayon && b >= 2 * threads { (Par::Rayon, Par::Seq) } else { (Par::Seq, par) };
    let group = ((1usize << 20) / (4 * l * l * d)).clamp(1, (b / (4 * threads)).max(1));
    // The finite checks run per prompt while it is in cache (two passes over a large batch cost
    // about half as much as attending short prompts): `x` on the first application (a prompt that
    // is not finite is not attended), the output after a single application without residual;
    // a failure is reported by the whole-tensor checks, which name the first bad value.
    let bad = std::sync::atomic::AtomicBool::new(false);
    let out_checked = opts.depth == 1 && !opts.residual;
    // application `app` (from 0) of the layer to `src`, into `dst`
    let apply = |app: usize, src: &[T], dst: &mut [T]| -> Result<()> {
        outer.chunks_mut(dst, size * group, |c, out| {
            with_bufs::<T, _>(size, |bufs| {
                for (p, y) in out.chunks_mut(size).enumerate() {
                    let p = c * group + p;
                    let xp = &src[p * size..(p + 1) * size];
                    if app == 0 && !finite(xp) {
                        bad.store(true, std::sync::atomic::Ordering::Relaxed);
                        continue;
                    }
                    apply_prompt_in(xp, y, d, opts, inner, bufs);
                    if out_checked && !finite(y) {
                        bad.store(true, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            })
        });
        if app == 0 && bad.load(std::sync::atomic::Ordering::Relaxed) {
            finite_tensor("x", x, shape)?;
        }
        if opts.residual {
            dst.iter_mut().zip(src).for_each(|(n, &c)| *n = *n + c);
        }
        Ok(())
    };
    // Application i (1-based, of m) writes into `y` when m − i is even, else into `t`, so that the
    // last one writes into `y`; the first reads `x` itself, later ones the previous output.
    let m = opts.depth;
    let mut t = if m > 1 { vec![T::zero(); x.len()] } else { Vec::new() };
    for i in 1..=m {
        match (i, (m - i).is_multiple_of(2)) {
            (1, true) => apply(0, x, y)?,
            (1, false) => apply(0, x, &mut t)?,
            (_, true) => apply(i - 1, &t, y)?,
            (_, false) => apply(i - 1, y, &mut t)?,
        }
    }
    // (a residual stack doubles the scale per application: it can leave the range of `T`)
    if !out_checked || bad.load(std::sync::atomic::Ordering::Relaxed) {
        finite_result("x", "the output", y)?;
    }
    Ok(())
}

/// Peak bytes of [`identity_attention`] on `b` prompts of `l × d` tokens of `elem` bytes each
/// (4 for `f32`, 8 for `f64`) on `threads` threads: the output and a second buffer (used when `depth > 1`), and per
/// thread one score tile of [`crate::models::attention::flash::BR`] × `BC` values (or, on the fused
/// `f32` path, its scratch: [`crate::models::attention::flash::fused_scratch`]; on the symmetric
/// one `crate::kernels::attn_sym::scratch`), plus for a short `f32` prompt the buffers of the
/// short-prompt kernel (`crate::kernels::attn_short::scratch`, kept besides the others), the distance bias, the log-sum-exp of a prompt (`2l`)
/// and the `f64` buffers of the difference form (`crate::kernels::attn_diff::scratch`: `l·d + l`;
/// distance scores past [`DISTANCE_F64_SPREAD`]). In `f64`, so that no shape overflows it.
pub fn peak_bytes(b: usize, l: usize, d: usize, elem: usize, threads: usize) -> f64 {
    use crate::models::attention::flash::{fused_scratch, BC, BR};
    let n = b as f64 * l as f64 * d as f64;
    let short = if elem == 4 && attn_short::takes(l, d) { attn_short::scratch(l, d) } else { 0.0 };
    let scratch = fused_scratch(elem, l, d, d).max((BR * BC) as f64).max(if elem == 4 { attn_sym::scratch(l, d) } else { 0.0 }) + short;
    // the difference form's transposed prompt and row of distances, in f64
    let diff = 8.0 * attn_diff::scratch(l, d);
    // an f32 prompt attended in f64 (distance scores, see DISTANCE_F32_SPREAD): its copy, output,
    // bias, log-sum-exp and tile, per thread
    let (lf, df) = (l as f64, d as f64);
    let wide = if elem == 4 { 8.0 * (2.0 * lf * df + 2.0 * lf + (BR * BC) as f64) } else { 0.0 };
    elem as f64 * (2.0 * n + threads as f64 * (scratch + 2.0 * lf)) + threads as f64 * (wide + diff)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `depth = m` (with and without residual, odd and even `m`, f32 and f64) is `m` applications
    /// of `depth = 1`, bit for bit, whichever buffer each writes into; `_into` fills the caller's
    /// array with the same values and refuses one of another length.
    #[test]
    fn depth_is_repeated_application_and_into_matches() {
        fn run<T: Real>(x: &[T], b: usize, l: usize, d: usize) {
            for residual in [false, true] {
                for m in 1..=4 {
                    let o = Options { lambda: 0.4, scores: Scores::Dot, exclude_self: false, depth: m, residual };
                    let one = Options { depth: 1, ..o };
                    let mut want = x.to_vec();
                    for _ in 0..m {
                        want = identity_attention(&want, b, l, d, &one, Par::Rayon).unwrap();
                    }
                    let got = identity_attention(x, b, l, d, &o, Par::Rayon).unwrap();
                    assert!(got.iter().zip(&want).all(|(a, b)| a.f64().to_bits() == b.f64().to_bits()), "m={m} residual={residual}");
                    let mut y = vec![T::zero(); x.len()];
                    identity_attention_into(x, &mut y, b, l, d, &o, Par::Rayon).unwrap();
                    assert!(y.iter().zip(&want).all(|(a, b)| a.f64().to_bits() == b.f64().to_bits()));
                }
            }
            let o = Options { lambda: 0.4, scores: Scores::Dot, exclude_self: false, depth: 1, residual: false };
            let mut short = vec![T::zero(); x.len() - 1];
            assert_eq!(identity_attention_into(x, &mut short, b, l, d, &o, Par::Rayon).unwrap_err().kind, crate::ErrorKind::Type);
        }
        let (b, l, d) = (3, 17, 5);
        let x: Vec<f64> = (0..b * l * d).map(|i| ((i * 37 % 101) as f64 / 50.0 - 1.0) * 0.8).collect();
        run(&x, b, l, d);
        run(&x.iter().map(|&v| v as f32).collect::<Vec<_>>(), b, l, d);
    }

    /// Plain reference: the full `L × L` score matrix, softmax written out, in f64; distance scores
    /// as `−λ/2·(δ_ij − min_j δ_ij)`, `δ_ij = ‖x_i − x_j‖²` (exact on data whose `δ` are exact).
    fn reference(x: &[f64], l: usize, d: usize, o: &Options) -> Vec<f64> {
        let mut cur = x.to_vec();
        for _ in 0..o.depth {
            let mut s = vec![0.0; l * l];
            for i in 0..l {
                for j in 0..l {
                    let xi = &cur[i * d..(i + 1) * d];
                    let xj = &cur[j * d..(j + 1) * d];
                    // distance: ‖x_i − x_j‖² here, −λ/2 times its excess over the row minimum below
                    s[i * l + j] = match o.scores {
                        Scores::Dot => o.lambda * xi.iter().zip(xj).map(|(a, b)| a * b).sum::<f64>(),
                        Scores::Distance => xi.iter().zip(xj).map(|(a, b)| (a - b) * (a - b)).sum::<f64>(),
                    };
                    if o.exclude_self && i == j {
                        s[i * l + j] = if o.scores == Scores::Dot { f64::NEG_INFINITY } else { f64::INFINITY };
                    }
                }
                if o.scores == Scores::Distance {
                    // the row maximum subtracted exactly: −λ/2·(δ_ij − min_j δ_ij)
                    let row = &mut s[i * l..(i + 1) * l];
                    let min = row.iter().cloned().fold(f64::INFINITY, f64::min);
                    row.iter_mut().for_each(|v| *v = if *v == min { 0.0 } else { -0.5 * o.lambda * (*v - min) });
                }
            }
            let mut y = vec![0.0; l * d];
            for i in 0..l {
                let row = &s[i * l..(i + 1) * l];
                let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let z: f64 = row.iter().map(|v| (v - m).exp()).sum();
                for j in 0..l {
                    let w = (row[j] - m).exp() / z;
                    for k in 0..d {
                        y[i * d + k] += w * cur[j * d + k];
                    }
                }
            }
            if o.residual {
                y.iter_mut().zip(&cur).for_each(|(a, b)| *a += b);
            }
            cur = y;
        }
        cur
    }

    #[test]
    fn matches_reference_over_shapes() {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        for (b, l, d) in [(1, 0, 3), (1, 1, 1), (2, 3, 2), (1, 17, 7), (3, 33, 8), (2, 65, 9), (1, 40, 16), (1, 300, 5)] {
            let x: Vec<f64> = (0..b * l * d).map(|i| ((i * 37 % 101) as f64 / 50.0 - 1.0) * 1.3).collect();
            for scores in [Scores::Dot, Scores::Distance] {
                for (exclude_self, depth, residual) in [(false, 1, false), (true, 1, false), (false, 3, true), (false, 2, false)] {
                    if exclude_self && l < 2 {
                        continue;
                    }
                    let o = Options { lambda: 0.7, scores, exclude_self, depth, residual };
                    let y = identity_attention(&x, b, l, d, &o, Par::Seq).unwrap();
                    let y2 = pool.install(|| identity_attention(&x, b, l, d, &o, Par::Rayon).unwrap());
                    assert_eq!(y, y2, "thread count changed the result");
                    for p in 0..b {
                        let r = reference(&x[p * l * d..(p + 1) * l * d], l, d, &o);
                        for (a, e) in y[p * l * d..(p + 1) * l * d].iter().zip(&r) {
                            assert!((a - e).abs() <= 1e-12 * (1.0 + e.abs()) * depth as f64 * 4.0, "{a} vs {e}");
                        }
                    }
                    let xf: Vec<f32> = x.iter().map(|&v| v as f32).collect();
                    let yf = identity_attention(&xf, b, l, d, &o, Par::Rayon).unwrap();
                    for (a, e) in yf.iter().zip(&y) {
                        assert!((*a as f64 - e).abs() <= 1e-4 * (1.0 + e.abs()) * depth as f64, "f32 {a} vs {e}");
                    }
                }
            }
        }
    }

    #[test]
    fn fast_norm_and_finite_checks_match_the_plain_ones() {
        // max‖x_i‖²: the same bits as value by value, every width (8-value runs and tails)
        for d in (1..=20).chain([31, 32, 33, 64]) {
            for l in [1, 2, 7, 30] {
                let x: Vec<f32> = (0..l * d).map(|i: usize| ((i.wrapping_mul(2654435761) % 2001) as f32 - 1000.0) * 1.37e-3).collect();
                assert_eq!(max_sq_norm(&x, d).to_bits(), max_sq_norm_plain(&x, d).to_bits(), "d={d} l={l}");
            }
        }
        // finite checks: one bad value anywhere, or none
        for n in [0usize, 1, 7, 31, 32, 33, 100] {
            let x: Vec<f32> = (0..n).map(|i| i as f32 * 0.5 - 3.0).collect();
            assert!(finite(&x) && all_finite(&x), "n={n}");
            for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -f32::NAN] {
                for at in [0, n / 2, n.saturating_sub(1)].into_iter().filter(|&a| a < n) {
                    let mut y = x.clone();
                    y[at] = bad;
                    assert!(!finite(&y) && !all_finite(&y), "n={n} {bad} at {at}");
                }
            }
        }
        assert!(finite(&[f32::MAX, f32::MIN, f32::MIN_POSITIVE, -0.0, 1e-45]));
    }

    #[test]
    fn many_short_prompts_in_shared_buffers() {
        // enough prompts that a task takes several (its buffers reused from prompt to prompt):
        // each prompt as if attended alone, whatever the thread count, and near the reference
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        for (b, l, d) in [(200, 1, 3), (100, 16, 16), (70, 17, 2), (40, 64, 64), (24, 65, 5), (9, 130, 16), (50, 40, 2), (6, 300, 4)] {
            let x: Vec<f32> = (0..b * l * d).map(|i| ((i * 37 % 101) as f32 / 50.0 - 1.0) * 1.3).collect();
            for scores in [Scores::Dot, Scores::Distance] {
                for (exclude_self, depth, residual) in [(false, 1, false), (true, 2, false), (false, 2, true)] {
                    if exclude_self && l < 2 {
                        continue;
                    }
                    let o = Options { lambda: 0.7, scores, exclude_self, depth, residual };
                    let y = identity_attention(&x, b, l, d, &o, Par::Seq).unwrap();
                    let y2 = pool.install(|| identity_attention(&x, b, l, d, &o, Par::Rayon).unwrap());
                    assert_eq!(y, y2, "thread count changed the result");
                    for p in [0, b / 2, b - 1] {
                        let alone = identity_attention(&x[p * l * d..(p + 1) * l * d], 1, l, d, &o, Par::Seq).unwrap();
                        assert_eq!(&y[p * l * d..(p + 1) * l * d], &alone[..], "prompt {p} of {b} (l={l} d={d})");
                        let x64: Vec<f64> = x[p * l * d..(p + 1) * l * d].iter().map(|&v| f64::from(v)).collect();
                        for (a, e) in alone.iter().zip(reference(&x64, l, d, &o)) {
                            assert!((f64::from(*a) - e).abs() <= 1e-4 * (1.0 + e.abs()) * depth as f64, "f32 {a} vs {e}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn symmetric_kernel_matches_reference_on_every_isa() {
        let isas: Vec<simd::Isa> = [simd::Isa::Portable, simd::Isa::Avx2, simd::Isa::Avx512].into_iter().filter(|i| i.available()).collect();
        for l in [1, 2, 3, 15, 16, 17, 31, 33, 63, 64, 65, 127, 128, 129, 130, 255, 257, 300] {
            for d in [1, 2, 3, 4, 8, 9, 15, 16, 17, 32, 33, 64] {
                let x: Vec<f32> = (0..l * d).map(|i: usize| (i.wrapping_mul(2654435761) % 1000) as f32 / 500.0 - 1.0).collect();
                let x64: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
                let max_sq = x64.chunks(d).map(|r| r.iter().map(|v| v * v).sum::<f64>()).fold(0.0, f64::max);
                // a moderate λ, and one at the largest spread the kernel takes
                for lambda in [0.7, attn_sym::MAX_SPREAD / max_sq.max(1e-3) * 0.999] {
                    if !attn_sym::fits(l, d, lambda, max_sq) {
                        continue;
                    }
                    for scores in [Scores::Dot, Scores::Distance] {
                        for exclude_self in [false, true] {
                            if exclude_self && l < 2 {
                                continue;
                            }
                            let o = Options { lambda, scores, exclude_self, depth: 1, residual: false };
                            let want = reference(&x64, l, d, &o);
                            let mut first: Option<Vec<u32>> = None;
                            for &isa in &isas {
                                let what = format!("{isa:?} l={l} d={d} λ={lambda} {scores:?} exclude_self={exclude_self}");
                                let mut y = vec![f32::NAN; l * d];
                                apply_prompt_path(&x, &mut y, d, &o, Path::Symmetric, isa);
                                for (a, e) in y.iter().zip(&want) {
                                    assert!((f64::from(*a) - e).abs() <= 2e-5 * (1.0 + e.abs()), "{what}: {a} vs {e}");
                                }
                                // the same bits on every instruction set
                                let bits: Vec<u32> = y.iter().map(|v| v.to_bits()).collect();
                                assert_eq!(&bits, first.get_or_insert_with(|| bits.clone()), "{what}: differs from the first isa");
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn short_kernel_matches_reference_on_every_isa() {
        // every shape the short kernel takes around the lane and block edges, dot scores at λ from
        // 1e-3 to 1e20 (saturated: each row its largest score), distance scores up to the f32
        // spread bound, with and without the self term: against the f64 reference, and the same
        // bits on every instruction set
        // (multiples of 1/16 in [−1, 1]: every ⟨x_i, x_j⟩ is exact in f32, so that the saturated rows
        // pick the reference's largest scores, not near-ties swapped by rounding)
        let isas: Vec<simd::Isa> = [simd::Isa::Portable, simd::Isa::Avx2, simd::Isa::Avx512].into_iter().filter(|i| i.available()).collect();
        for l in [1, 2, 3, 15, 16, 17, 31, 33, 47, 63, 64, 65, 100, 127, 128] {
            for d in [1, 2, 3, 4, 7, 8, 9, 15, 16, 17, 31, 32, 33, 48, 63, 64] {
                let x: Vec<f32> = (0..l * d).map(|i: usize| ((i.wrapping_mul(2654435761) % 33) as f32 - 16.0) / 16.0).collect();
                let x64: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
                let max_sq = max_sq_norm(&x, d).max(1e-3);
                for scores in [Scores::Dot, Scores::Distance] {
                    let lambdas: Vec<f64> = match scores {
                        Scores::Dot => vec![1e-3, 0.7, 30.0 / max_sq, 1e4, 1e20],
                        Scores::Distance => vec![1e-3, 0.7, DISTANCE_F32_SPREAD / max_sq],
                    };
                    for lambda in lambdas {
                        for exclude_self in [false, true] {
                            if exclude_self && l < 2 {
                                continue;
                            }
                            let o = Options { lambda, scores, exclude_self, depth: 1, residual: false };
                            let want = reference(&x64, l, d, &o);
                            // f32 scores round λ⟨x_i, x_j⟩ to a few ulps of λ‖x‖²: the weights to ~1e-7·spread
                            let spread = lambda * max_sq;
                            let tol = 2e-5 + 1e-6 * spread;
                            let mut first: Option<Vec<u32>> = None;
                            for &isa in &isas {
                                let what = format!("{isa:?} l={l} d={d} λ={lambda} {scores:?} exclude_self={exclude_self}");
                                let mut y = vec![f32::NAN; l * d];
                                apply_prompt_path(&x, &mut y, d, &o, Path::Short, isa);
                                if spread >= 1e6 {
                                    // saturated: the row's largest score alone (ties of this data are distinct)
                                    for (a, e) in y.iter().zip(&want) {
                                        assert!((f64::from(*a) - e).abs() <= 1e-6 * (1.0 + e.abs()), "{what}: {a} vs {e}");
                                    }
                                } else {
                                    for (a, e) in y.iter().zip(&want) {
                                        assert!((f64::from(*a) - e).abs() <= tol * (1.0 + e.abs()), "{what}: {a} vs {e}");
                                    }
                                }
                                let bits: Vec<u32> = y.iter().map(|v| v.to_bits()).collect();
                                assert_eq!(&bits, first.get_or_insert_with(|| bits.clone()), "{what}: differs from the first isa");
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn short_prompts_are_dispatched_to_the_short_kernel_on_any_thread_count() {
        // several prompts per task, 1 and 2 threads: the same bits, those of the short path itself
        // (dot scores at any λ, distance scores within the spread bound), and the online path past it
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        for (b, l, d) in [(40, 16, 4), (33, 17, 16), (20, 64, 64), (12, 33, 9), (9, 128, 8)] {
            if !attn_short::pays(l, d) {
                continue;
            }
            let x: Vec<f32> = (0..b * l * d).map(|i: usize| (i.wrapping_mul(2654435761) % 1000) as f32 / 500.0 - 1.0).collect();
            for (scores, lambda) in [(Scores::Dot, 0.3), (Scores::Dot, 1e20), (Scores::Distance, 0.3), (Scores::Distance, 1e6)] {
                for exclude_self in [false, true] {
                    let o = Options { lambda, scores, exclude_self, depth: 1, residual: false };
                    let y1 = identity_attention(&x, b, l, d, &o, Par::Seq).unwrap();
                    let y2 = pool.install(|| identity_attention(&x, b, l, d, &o, Par::Rayon).unwrap());
                    assert_eq!(y1, y2, "l={l} d={d} {scores:?} λ={lambda}: same bits on 1 and 2 threads");
                    for p in [0, b - 1] {
                        let xp = &x[p * l * d..(p + 1) * l * d];
                        let path = if scores == Scores::Dot || lambda * max_sq_norm(xp, d) <= DISTANCE_F32_SPREAD { Path::Short } else { Path::Difference };
                        let mut ys = vec![0.0f32; l * d];
                        apply_prompt_path(xp, &mut ys, d, &o, path, simd::isa());
                        assert_eq!(&y1[p * l * d..(p + 1) * l * d], &ys[..], "l={l} d={d} {scores:?} λ={lambda}: the {path:?} path");
                    }
                }
            }
        }
    }

    #[test]
    fn short_kernel_hands_overflowed_scores_to_the_online_kernel() {
        // λ⟨x_i, x_j⟩ beyond the f32 range: +∞ scores, the online kernel's dominant key keeps the rows
        let x = vec![1e20f32, 0.0, 0.0, 1e20, -1e20, 1.0];
        let o = Options { lambda: 1.0, scores: Scores::Dot, exclude_self: false, depth: 1, residual: false };
        let y = identity_attention(&x, 1, 3, 2, &o, Par::Seq).unwrap();
        let mut yo = vec![0.0f32; 6];
        apply_prompt_path(&x, &mut yo, 2, &o, Path::Online, simd::isa());
        assert_eq!(y, yo);
    }

    #[test]
    fn symmetric_kernel_gives_the_same_bits_on_any_thread_count() {
        // prompts the dispatch gives the symmetric kernel (narrow and wide), several per batch
        for (l, d) in [(128, 2), (256, 8), (257, 16), (1024, 33)] {
            assert!(attn_sym::pays(l, d) && !attn_short::pays(l, d), "l={l} d={d}");
            let b = 3;
            let x: Vec<f32> = (0..b * l * d).map(|i: usize| (i.wrapping_mul(2654435761) % 1000) as f32 / 500.0 - 1.0).collect();
            let lambda = 0.5 * attn_sym::MAX_SPREAD / max_sq_norm(&x, d);
            for exclude_self in [false, true] {
                let o = Options { lambda, scores: Scores::Dot, exclude_self, depth: 1, residual: false };
                let y1 = identity_attention(&x, b, l, d, &o, Par::Seq).unwrap();
                let y2 = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap().install(|| identity_attention(&x, b, l, d, &o, Par::Rayon).unwrap());
                assert_eq!(y1, y2, "l={l} d={d} {exclude_self}: same bits on 1 and 2 threads");
                // and those of the symmetric path itself
                let mut ys = vec![0.0f32; l * d];
                apply_prompt_path(&x[l * d..2 * l * d], &mut ys, d, &o, Path::Symmetric, simd::isa());
                assert_eq!(&y1[l * d..2 * l * d], &ys[..], "l={l} d={d} {exclude_self}: the symmetric path");
            }
        }
    }

    #[test]
    fn symmetric_kernel_on_long_prompts() {
        // prompts past attn_sym::MAX_L (the long schedule: fixed slices of row blocks, summed in
        // slice order), ending inside a block and a group, at a moderate λ and at the largest
        // spread: the reference, the same bits on every instruction set and on 1 and 2 threads
        let isas: Vec<simd::Isa> = [simd::Isa::Portable, simd::Isa::Avx2, simd::Isa::Avx512].into_iter().filter(|i| i.available()).collect();
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        for (l, d) in [(1025, 64), (1217, 9), (1300, 17), (1153, 33)] {
            assert!(l > attn_sym::MAX_L && attn_sym::pays(l, d), "l={l} d={d}");
            let x: Vec<f32> = (0..l * d).map(|i: usize| (i.wrapping_mul(2654435761) % 1000) as f32 / 500.0 - 1.0).collect();
            let x64: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
            let max_sq = max_sq_norm(&x, d);
            for (scores, exclude_self, lambda) in [
                (Scores::Dot, false, attn_sym::MAX_SPREAD / max_sq * 0.999),
                (Scores::Distance, true, 0.7),
                (Scores::Dot, true, 0.3),
                (Scores::Distance, false, attn_sym::MAX_SPREAD / max_sq * 0.999),
            ] {
                assert!(attn_sym::fits(l, d, lambda, max_sq));
                let o = Options { lambda, scores, exclude_self, depth: 1, residual: false };
                let what = format!("l={l} d={d} λ={lambda} {scores:?} exclude_self={exclude_self}");
                let y1 = identity_attention(&x, 1, l, d, &o, Par::Seq).unwrap();
                let y2 = pool.install(|| identity_attention(&x, 1, l, d, &o, Par::Rayon).unwrap());
                assert_eq!(y1, y2, "{what}: same bits on 1 and 2 threads");
                for (a, e) in y1.iter().zip(reference(&x64, l, d, &o)) {
                    assert!((f64::from(*a) - e).abs() <= 2e-5 * (1.0 + e.abs()), "{what}: {a} vs {e}");
                }
                for &isa in &isas {
                    let mut y = vec![f32::NAN; l * d];
                    apply_prompt_path(&x, &mut y, d, &o, Path::Symmetric, isa);
                    assert_eq!(y, y1, "{what}: {isa:?} differs");
                }
            }
        }
    }

    #[test]
    fn f32_distance_scores_are_accurate_at_every_spread() {
        // distance scores in f32 at spreads λ·max‖x‖² on both sides of DISTANCE_F32_SPREAD, with and
        // without the self term, several prompts on 1 and 2 threads: against the f64 reference
        for (l, d) in [(65, 3), (130, 16)] {
            let b = 3;
            let x: Vec<f32> = (0..b * l * d).map(|i| ((i * 37 % 101) as f32 / 50.0 - 1.0) * 1.5).collect();
            let x64: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
            let max_sq = max_sq_norm(&x, d);
            for spread in [100.0, 250.0, 300.0, 1e4, 1e8] {
                let lambda = spread / max_sq;
                for exclude_self in [false, true] {
                    let o = Options { lambda, scores: Scores::Distance, exclude_self, depth: 1, residual: false };
                    let y1 = identity_attention(&x, b, l, d, &o, Par::Seq).unwrap();
                    let y2 =
                        rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap().install(|| identity_attention(&x, b, l, d, &o, Par::Rayon).unwrap());
                    assert_eq!(y1, y2, "same bits on 1 and 2 threads");
                    for p in 0..b {
                        let want = reference(&x64[p * l * d..(p + 1) * l * d], l, d, &o);
                        for (a, e) in y1[p * l * d..(p + 1) * l * d].iter().zip(&want) {
                            assert!((f64::from(*a) - e).abs() <= 1e-4 * (1.0 + e.abs()), "l={l} d={d} spread={spread} {exclude_self}: {a} vs {e}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn saturated_prompts_take_an_exact_kernel() {
        // λ‖x‖² beyond the spread: the short kernel runs (dot scores, distance scores up to
        // DISTANCE_F32_SPREAD), else the difference form, and is exact
        let (l, d) = (40, 2);
        let x: Vec<f32> = (0..l * d).map(|i| (i * 37 % 101) as f32 / 50.0 - 1.0).collect();
        let x64: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
        for lambda in [40.0, 1e6, 1e20] {
            for scores in [Scores::Dot, Scores::Distance] {
                for exclude_self in [false, true] {
                    let o = Options { lambda, scores, exclude_self, depth: 1, residual: false };
                    let y = identity_attention(&x, 1, l, d, &o, Par::Seq).unwrap();
                    // the short kernel in f32, or for distance scores past DISTANCE_F32_SPREAD (here
                    // also past DISTANCE_F64_SPREAD) the difference form in f64
                    let spread = lambda * max_sq_norm(&x, d);
                    let path = if scores == Scores::Dot || spread <= DISTANCE_F32_SPREAD {
                        Path::Short
                    } else if spread > DISTANCE_F64_SPREAD {
                        Path::Difference
                    } else {
                        Path::Online
                    };
                    let mut yo = vec![0.0f32; l * d];
                    apply_prompt_path(&x, &mut yo, d, &o, path, simd::isa());
                    assert_eq!(y, yo, "λ={lambda} {scores:?}: the {path:?} path");
                    // at λ = 1e20 with exclude_self each token is its nearest other token, or the
                    // mean of the equidistant ones of this grid data (the reference's answer too)
                    for (a, e) in y.iter().zip(reference(&x64, l, d, &o)) {
                        assert!((f64::from(*a) - e).abs() <= 1e-4 * (1.0 + e.abs()), "λ={lambda} {scores:?} {exclude_self}: {a} vs {e}");
                    }
                    if scores == Scores::Distance && exclude_self && lambda >= 1e20 {
                        for (a, e) in y.iter().zip(nearest_other(&x64, l, d)) {
                            assert!((f64::from(*a) - e).abs() <= 1e-6 * (1.0 + e.abs()), "λ={lambda}: {a} vs the nearest other token(s) {e}");
                        }
                    }
                }
            }
        }
    }

    /// The nearest other token of each token of `x` (`l × d`), or the mean of the equidistant ones.
    fn nearest_other(x: &[f64], l: usize, d: usize) -> Vec<f64> {
        let sq = |i: usize, j: usize| (0..d).map(|f| (x[i * d + f] - x[j * d + f]).powi(2)).sum::<f64>();
        let mut y = vec![0.0; l * d];
        for i in 0..l {
            let best = (0..l).filter(|&j| j != i).map(|j| sq(i, j)).fold(f64::INFINITY, f64::min);
            let near: Vec<usize> = (0..l).filter(|&j| j != i && sq(i, j) == best).collect();
            for f in 0..d {
                y[i * d + f] = near.iter().map(|&j| x[j * d + f]).sum::<f64>() / near.len() as f64;
            }
        }
        y
    }

    #[test]
    fn distance_scores_are_exact_at_every_spread() {
        // spreads λ·max‖x‖² = 1e0 … 1e20 in f32 and f64, on 1 and 2 threads, with and without the
        // self term, tokens in [−1, 1]^d and the same shifted by 30 (‖x‖ large, distances not):
        // against the reference, and at saturated spreads with exclude_self the nearest other token
        // exactly. The tokens are multiples of 2⁻¹⁰, so that every ‖x_i − x_j‖² is exact in f64:
        // the exact exponents −λ/2·(δ_ij − min δ) are then rounded once, in the reference and
        // in the difference form alike, and a few ulps of an exponent below 745 is 1e-13.
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        let b = 2;
        for l in [1, 2, 17, 65] {
            for d in [1, 2, 3, 17] {
                for shift in [0.0f32, 30.0] {
                    let x: Vec<f32> = (0..b * l * d).map(|i: usize| ((i.wrapping_mul(2654435761) % 2049) as f32 - 1024.0) / 1024.0 + shift).collect();
                    let x64: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
                    let max_sq = max_sq_norm(&x, d);
                    for e in 0..=20 {
                        let lambda = 10f64.powi(e) / max_sq;
                        for exclude_self in [false, true] {
                            if exclude_self && l < 2 {
                                continue;
                            }
                            let what = format!("l={l} d={d} shift={shift} spread=1e{e} exclude_self={exclude_self}");
                            let o = Options { lambda, scores: Scores::Distance, exclude_self, depth: 1, residual: false };
                            let y64 = identity_attention(&x64, b, l, d, &o, Par::Seq).unwrap();
                            let y32 = identity_attention(&x, b, l, d, &o, Par::Seq).unwrap();
                            assert_eq!(y64, pool.install(|| identity_attention(&x64, b, l, d, &o, Par::Rayon).unwrap()), "{what}: f64 threads");
                            assert_eq!(y32, pool.install(|| identity_attention(&x, b, l, d, &o, Par::Rayon).unwrap()), "{what}: f32 threads");
                            for p in 0..b {
                                let xp = &x64[p * l * d..(p + 1) * l * d];
                                let want = reference(xp, l, d, &o);
                                let near = if exclude_self && e >= 16 { Some(nearest_other(xp, l, d)) } else { None };
                                for (t, e) in want.iter().enumerate() {
                                    let (a64, a32) = (y64[p * l * d + t], f64::from(y32[p * l * d + t]));
                                    assert!((a64 - e).abs() <= 1e-13 * (1.0 + e.abs()), "{what}: f64 {a64} vs {e}");
                                    assert!((a32 - e).abs() <= 1e-6 * (1.0 + e.abs()), "{what}: f32 {a32} vs {e}");
                                    if let Some(n) = &near {
                                        assert_eq!((a64, a32), (n[t], n[t]), "{what}: the nearest other token");
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn per_prompt_finite_checks_report_the_first_bad_value() {
        // the checks run per prompt inside the batch loop: a value of x that is not finite is still
        // reported by its index (the first one), before bad options, on 1 and 2 threads
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        let (b, l, d) = (9, 16, 3);
        let o = Options { lambda: 0.5, scores: Scores::Dot, exclude_self: false, depth: 1, residual: false };
        let mut x: Vec<f32> = (0..b * l * d).map(|i| (i % 7) as f32 * 0.1).collect();
        x[5 * l * d + 2 * d + 1] = f32::NAN;
        x[7 * l * d] = f32::INFINITY;
        for par in [Par::Seq, Par::Rayon] {
            let e = pool.install(|| identity_attention(&x, b, l, d, &o, par)).unwrap_err();
            assert_eq!(e.arg, "x[5][2][1]", "{e}");
            // a bad value is reported before bad options
            let e = pool.install(|| identity_attention(&x, b, l, d, &Options { lambda: -1.0, ..o }, par)).unwrap_err();
            assert_eq!(e.arg, "x[5][2][1]", "{e}");
        }
    }

    #[test]
    fn large_lambda_and_bad_options() {
        let x = vec![1e3f64, 0.0, 0.0, 1e3, -1e3, 1.0];
        let o = Options { lambda: 1e6, scores: Scores::Dot, exclude_self: false, depth: 1, residual: false };
        assert!(identity_attention(&x, 1, 3, 2, &o, Par::Seq).unwrap().iter().all(|v| v.is_finite()));
        assert!(identity_attention(&x, 1, 3, 2, &Options { lambda: -1.0, ..o }, Par::Seq).is_err());
        assert!(identity_attention(&x, 1, 3, 2, &Options { depth: 0, ..o }, Par::Seq).is_err());
        assert!(identity_attention(&x[..2], 1, 1, 2, &Options { exclude_self: true, ..o }, Par::Seq).is_err());
        assert!(identity_attention(&x, 1, 2, 2, &o, Par::Seq).is_err());
    }
}
