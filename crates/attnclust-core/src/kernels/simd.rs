//! The one run-time choice of instruction set ([`has_avx2`], [`has_avx512`], [`Isa`], [`isa`]):
//! `data::normals`, `data::lanes`, the small-`d` attention ([`attn_rows`], [`attn_scores`]; see
//! `crate::kernels::attn`) and the hand-written AVX2/FMA `f32` hot loops here branch on it (only
//! the FMA-peak probe in `kernels::calibrate` and `kernels::exp` ask the CPU themselves). The loops
//! here, each with a portable fallback: inner products, `y += αx`, `‖x‖²` and `Θx` row by row or
//! eight rows at a time (sixteen on AVX-512F), `S = CᵀX` (and on AVX-512F over a few rows, for the
//! fused two-head kernel), and `exp` on four and eight `f64` lanes. On aarch64 the inner product and `y += αx`
//! use NEON (part of the aarch64 baseline, so there is nothing to detect). Each is tested against
//! its scalar version (on aarch64 under `qemu-aarch64`, see scripts/arm64.sh).

use std::sync::OnceLock;

/// Whether the CPU has AVX2 and FMA (checked once).
pub fn has_avx2() -> bool {
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    })
}

/// An instruction set for the kernels that come in several (the small-`d` attention of
/// `crate::kernels::attn`): the best the CPU has is chosen once by [`isa`]; tests pass each one
/// they can run explicitly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    /// Plain Rust (`mul_add` for each fused multiply-add).
    Portable,
    /// AVX2 and FMA.
    Avx2,
    /// AVX-512F.
    Avx512,
}

impl Isa {
    /// Whether this CPU can run `self`.
    pub fn available(self) -> bool {
        match self {
            Isa::Portable => true,
            Isa::Avx2 => has_avx2(),
            Isa::Avx512 => has_avx512(),
        }
    }
}

/// Whether the CPU has AVX-512F (and AVX2/FMA; checked once).
pub fn has_avx512() -> bool {
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            has_avx2() && std::is_x86_feature_detected!("avx512f")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    })
}

/// The instruction set the small-`d` attention runs on: AVX-512F, else AVX2/FMA, else portable.
pub fn isa() -> Isa {
    if has_avx512() {
        Isa::Avx512
    } else if has_avx2() {
        Isa::Avx2
    } else {
        Isa::Portable
    }
}

/// The fused small-`d` attention forward of query rows `[i0, i0 + rows)`
/// (`crate::kernels::attn::rows`) on `isa`, in the work buffers `scratch`.
///
/// # Panics
/// When this CPU cannot run `isa`.
pub fn attn_rows(
    isa: Isa,
    p: &crate::kernels::attn::Packed,
    i0: usize,
    rows: usize,
    out: crate::kernels::attn::RowsOut,
    scratch: &mut crate::kernels::attn::Scratch,
) {
    use crate::kernels::attn;
    assert!(isa.available(), "{isa:?} is not available on this CPU");
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU has AVX-512F (checked above).
        Isa::Avx512 => unsafe { attn::rows_avx512(p, i0, rows, out, scratch) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU has AVX2 and FMA (checked above).
        Isa::Avx2 => unsafe { attn::rows_avx2(p, i0, rows, out, scratch) },
        _ => attn::rows_portable(p, i0, rows, out, scratch),
    }
}

/// Symmetric identity attention of one prompt (`crate::kernels::attn_sym::rows`) on `isa`:
/// `x` and `o` are `l × d`; prior checks (`crate::kernels::attn_sym::fits`) assumed. A long prompt
/// (`l > attn_sym::MAX_L`) runs its fixed slices (`attn_sym::slice`) spread by `par`, then adds them
/// in slice order (`attn_sym::finish`): the same bits on any thread count.
///
/// # Panics
/// When this CPU cannot run `isa`.
#[allow(clippy::too_many_arguments)]
pub fn attn_sym(
    isa: Isa,
    x: &[f32],
    o: &mut [f32],
    l: usize,
    d: usize,
    lambda: f32,
    dot: bool,
    no_self: bool,
    par: crate::Par,
    bufs: &mut crate::kernels::attn_sym::SymBufs,
) {
    use crate::kernels::attn_sym;
    assert!(isa.available(), "{isa:?} is not available on this CPU");
    if l > attn_sym::MAX_L {
        let slices = &mut bufs.long;
        slices.resize_with(attn_sym::SLICES, Default::default);
        par.chunks_mut(slices, 1, |s, b| match isa {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: the CPU has AVX-512F (checked above).
            Isa::Avx512 => unsafe { attn_sym::slice_avx512(x, l, d, lambda, dot, s, &mut b[0]) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: the CPU has AVX2 and FMA (checked above).
            Isa::Avx2 => unsafe { attn_sym::slice_avx2(x, l, d, lambda, dot, s, &mut b[0]) },
            _ => attn_sym::slice_portable(x, l, d, lambda, dot, s, &mut b[0]),
        });
        match isa {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: the CPU has AVX-512F (checked above).
            Isa::Avx512 => unsafe { attn_sym::finish_avx512(o, l, d, no_self, slices) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: the CPU has AVX2 and FMA (checked above).
            Isa::Avx2 => unsafe { attn_sym::finish_avx2(o, l, d, no_self, slices) },
            _ => attn_sym::finish_portable(o, l, d, no_self, slices),
        }
        return;
    }
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU has AVX-512F (checked above).
        Isa::Avx512 => unsafe { attn_sym::rows_avx512(x, o, l, d, lambda, dot, no_self, bufs) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU has AVX2 and FMA (checked above).
        Isa::Avx2 => unsafe { attn_sym::rows_avx2(x, o, l, d, lambda, dot, no_self, bufs) },
        _ => attn_sym::rows_portable(x, o, l, d, lambda, dot, no_self, bufs),
    }
}

/// Identity attention of one short prompt (`crate::kernels::attn_short::prompt`) on `isa`: `x`
/// and `o` are `l × d`, `crate::kernels::attn_short::takes(l, d)`. Returns `false` when a row's
/// softmax sum is not `≥ 1` (a score overflowed; the caller attends the prompt another way).
///
/// # Panics
/// When this CPU cannot run `isa`.
#[allow(clippy::too_many_arguments)]
pub fn attn_short(
    isa: Isa,
    x: &[f32],
    o: &mut [f32],
    l: usize,
    d: usize,
    lambda: f32,
    dot: bool,
    no_self: bool,
    bufs: &mut crate::kernels::attn_short::ShortBufs,
) -> bool {
    use crate::kernels::attn_short;
    assert!(isa.available(), "{isa:?} is not available on this CPU");
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU has AVX-512F (checked above).
        Isa::Avx512 => unsafe { attn_short::prompt_avx512(x, o, l, d, lambda, dot, no_self, bufs) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU has AVX2 and FMA (checked above).
        Isa::Avx2 => unsafe { attn_short::prompt_avx2(x, o, l, d, lambda, dot, no_self, bufs) },
        _ => attn_short::prompt_portable(x, o, l, d, lambda, dot, no_self, bufs),
    }
}

/// The contract scores of `crate::kernels::attn` (`s = (Σ_f fma) ⊗ λ ⊕ β`, the same bits on every
/// `isa`) of `rows` queries against `cols` keys, into `s` (`rows × cols`).
///
/// # Panics
/// When this CPU cannot run `isa`.
#[allow(clippy::too_many_arguments)]
pub fn attn_scores(isa: Isa, q: &[f32], k: &[f32], rows: usize, cols: usize, dk: usize, lambda: f32, bias: Option<&[f32]>, s: &mut [f32]) {
    use crate::kernels::attn;
    assert!(isa.available(), "{isa:?} is not available on this CPU");
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU has AVX-512F (checked above).
        Isa::Avx512 => unsafe { attn::scores_avx512(q, k, rows, cols, dk, lambda, bias, s) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU has AVX2 and FMA (checked above).
        Isa::Avx2 => unsafe { attn::scores_avx2(q, k, rows, cols, dk, lambda, bias, s) },
        _ => attn::scores_portable(q, k, rows, cols, dk, lambda, bias, s),
    }
}

/// Key tile `jt` of the fused small-`d` attention backward (`crate::kernels::attn_bwd`) on `isa`.
///
/// # Panics
/// When this CPU cannot run `isa`.
pub fn attn_bwd_kv(isa: Isa, p: &crate::kernels::attn_bwd::Prep, jt: usize, acc: crate::kernels::attn_bwd::Acc) {
    use crate::kernels::attn_bwd as b;
    assert!(isa.available(), "{isa:?} is not available on this CPU");
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU has AVX-512F (checked above).
        Isa::Avx512 => unsafe { b::kv_block_avx512(p, jt, acc) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU has AVX2 and FMA (checked above).
        Isa::Avx2 => unsafe { b::kv_block_avx2(p, jt, acc) },
        _ => b::kv_block_portable(p, jt, acc),
    }
}

/// Row `lo` of the symmetric form of the fused small-`d` attention backward
/// (`crate::kernels::attn_bwd`, `Q = K = V`) on `isa`.
///
/// # Panics
/// When this CPU cannot run `isa`, or `p` is not in the symmetric form.
pub fn attn_bwd_sym(isa: Isa, p: &crate::kernels::attn_bwd::Prep, lo: usize, acc: crate::kernels::attn_bwd::SymAcc) {
    use crate::kernels::attn_bwd as b;
    assert!(isa.available(), "{isa:?} is not available on this CPU");
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU has AVX-512F (checked above).
        Isa::Avx512 => unsafe { b::sym_row_avx512(p, lo, acc) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU has AVX2 and FMA (checked above).
        Isa::Avx2 => unsafe { b::sym_row_avx2(p, lo, acc) },
        _ => b::sym_row_portable(p, lo, acc),
    }
}

/// `C = Aᵀ B` in `f32` on `isa` (`A`: `k × m`, `B`: `k × n`, `C`: `m × n`, row-major and dense;
/// `n` a multiple of 16): the weight gradients of model C, by the products of the fused attention
/// backward (`crate::kernels::attn_bwd`). Each element is one chain of `fma`s over `k` in order,
/// the same on every `isa`.
///
/// # Panics
/// When this CPU cannot run `isa`, `n` is not a multiple of 16, or a slice is shorter than its shape.
pub fn at_b(isa: Isa, c: &mut [f32], a: &[f32], b: &[f32], k: usize, m: usize, n: usize) {
    use crate::kernels::attn_bwd as ab;
    assert!(isa.available(), "{isa:?} is not available on this CPU");
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU has AVX-512F (checked above).
        Isa::Avx512 => unsafe { ab::at_b_avx512(c, a, b, k, m, n) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU has AVX2 and FMA (checked above).
        Isa::Avx2 => unsafe { ab::at_b_avx2(c, a, b, k, m, n) },
        _ => ab::at_b_portable(c, a, b, k, m, n),
    }
}

/// Query tile `it` of the fused small-`d` attention backward (`crate::kernels::attn_bwd`) on `isa`.
///
/// # Panics
/// When this CPU cannot run `isa`.
pub fn attn_bwd_q(isa: Isa, p: &crate::kernels::attn_bwd::Prep, it: usize, dq: &mut [f32]) {
    use crate::kernels::attn_bwd as b;
    assert!(isa.available(), "{isa:?} is not available on this CPU");
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU has AVX-512F (checked above).
        Isa::Avx512 => unsafe { b::q_block_avx512(p, it, dq) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU has AVX2 and FMA (checked above).
        Isa::Avx2 => unsafe { b::q_block_avx2(p, it, dq) },
        _ => b::q_block_portable(p, it, dq),
    }
}

/// Whether every value of `v` is finite, on AVX2 (`None` without it: the caller checks value by
/// value): the largest `bits & 0x7fff_ffff` is below `0x7f80_0000` (the per-prompt input and
/// output checks of `crate::models::identity`).
pub fn all_finite_f32(v: &[f32]) -> Option<bool> {
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: AVX2 is present.
        return Some(unsafe { all_finite_avx2(v) });
    }
    let _ = v;
    None
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn all_finite_avx2(v: &[f32]) -> bool {
    use std::arch::x86_64::*;
    let n = v.len() / 32 * 32;
    let p = v.as_ptr();
    let abs = _mm256_set1_epi32(0x7fff_ffff);
    let mut m = [_mm256_setzero_si256(); 4];
    let mut i = 0;
    while i < n {
        for (k, mk) in m.iter_mut().enumerate() {
            // SAFETY: i + 32 ≤ n ≤ v.len().
            let x = _mm256_castps_si256(_mm256_loadu_ps(p.add(i + 8 * k)));
            *mk = _mm256_max_epu32(*mk, _mm256_and_si256(x, abs));
        }
        i += 32;
    }
    let top = _mm256_max_epu32(_mm256_max_epu32(m[0], m[1]), _mm256_max_epu32(m[2], m[3]));
    let lim = _mm256_set1_epi32(0x7f7f_ffff);
    _mm256_movemask_epi8(_mm256_cmpeq_epi32(_mm256_max_epu32(top, lim), lim)) == -1 && v[n..].iter().all(|t| t.is_finite())
}

/// `max_i ‖x_i‖²` of the `d`-wide rows of `x` in `f64` on AVX2, the same bits as the plain rule
/// of `crate::models::identity` (each row's squares in 8 interleaved partial sums `s_k`, product
/// and sum each rounded, reduced `((s_0 + s_4) + (s_1 + s_5)) + ((s_2 + s_6) + (s_3 + s_7))`, then
/// the squares of the last `d mod 8` values added in order; rows of finite values); `None` without
/// AVX2.
pub fn max_sq_norm_f32(x: &[f32], d: usize) -> Option<f64> {
    #[cfg(target_arch = "x86_64")]
    if has_avx2() && d > 0 {
        // SAFETY: AVX2 is present.
        return Some(unsafe { max_sq_norm_avx2(x, d) });
    }
    let _ = (x, d);
    None
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn max_sq_norm_avx2(x: &[f32], d: usize) -> f64 {
    use std::arch::x86_64::*;
    let c8 = d / 8;
    let mut best = 0.0f64;
    for r in x.chunks_exact(d) {
        let p = r.as_ptr();
        // lanes k of (a, b): s_k, s_{k+4}
        let (mut a, mut b) = (_mm256_setzero_pd(), _mm256_setzero_pd());
        for c in 0..c8 {
            // SAFETY: 8c + 8 ≤ d = r.len().
            let v = _mm256_loadu_ps(p.add(8 * c));
            let (lo, hi) = (_mm256_cvtps_pd(_mm256_castps256_ps128(v)), _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(v)));
            a = _mm256_add_pd(a, _mm256_mul_pd(lo, lo));
            b = _mm256_add_pd(b, _mm256_mul_pd(hi, hi));
        }
        // (s_k + s_{k+4}), then the pairs (0, 1) and (2, 3), then their sum
        let t = _mm256_hadd_pd(_mm256_add_pd(a, b), _mm256_setzero_pd());
        let mut sum = _mm256_cvtsd_f64(t) + _mm_cvtsd_f64(_mm256_extractf128_pd::<1>(t));
        let mut tail = 0.0f64;
        for &v in &r[8 * c8..] {
            tail += f64::from(v) * f64::from(v);
        }
        sum += tail;
        best = best.max(sum);
    }
    best
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let n = a.len().min(b.len());
    let n16 = n / 16 * 16;
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let (mut s0, mut s1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
    let mut i = 0;
    while i < n16 {
        // SAFETY: i + 16 ≤ n ≤ both lengths.
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i + 8)), _mm256_loadu_ps(pb.add(i + 8)), s1);
        i += 16;
    }
    let s = _mm256_add_ps(s0, s1);
    let mut lanes = [0.0f32; 8];
    _mm256_storeu_ps(lanes.as_mut_ptr(), s);
    let mut total = ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5])) + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]));
    for j in n16..n {
        total += a[j] * b[j];
    }
    total
}

#[cfg(target_arch = "aarch64")]
fn dot_neon(a: &[f32], b: &[f32]) -> f32 {
    use std::arch::aarch64::*;
    let n = a.len().min(b.len());
    let n8 = n / 8 * 8;
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    // SAFETY: NEON is in the aarch64 baseline; every load reads [i, i + 4) with i + 8 ≤ n ≤ both lengths.
    let mut total = unsafe {
        let (mut s0, mut s1) = (vdupq_n_f32(0.0), vdupq_n_f32(0.0));
        let mut i = 0;
        while i < n8 {
            s0 = vfmaq_f32(s0, vld1q_f32(pa.add(i)), vld1q_f32(pb.add(i)));
            s1 = vfmaq_f32(s1, vld1q_f32(pa.add(i + 4)), vld1q_f32(pb.add(i + 4)));
            i += 8;
        }
        vaddvq_f32(vaddq_f32(s0, s1))
    };
    for j in n8..n {
        total += a[j] * b[j];
    }
    total
}

/// `⟨a, b⟩` in `f32`.
#[inline]
pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: AVX2 and FMA are present.
        return unsafe { dot_avx2(a, b) };
    }
    #[cfg(target_arch = "aarch64")]
    {
        dot_neon(a, b)
    }
    #[cfg(not(target_arch = "aarch64"))]
    {
        crate::kernels::real::dot(a, b)
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn axpy_avx2(alpha: f32, x: &[f32], y: &mut [f32]) {
    use std::arch::x86_64::*;
    let n = x.len().min(y.len());
    let n8 = n / 8 * 8;
    let av = _mm256_set1_ps(alpha);
    let (px, py) = (x.as_ptr(), y.as_mut_ptr());
    let mut i = 0;
    while i < n8 {
        // SAFETY: i + 8 ≤ n ≤ both lengths; `y` is borrowed exclusively.
        _mm256_storeu_ps(py.add(i), _mm256_fmadd_ps(av, _mm256_loadu_ps(px.add(i)), _mm256_loadu_ps(py.add(i))));
        i += 8;
    }
    for j in n8..n {
        y[j] += alpha * x[j];
    }
}

#[cfg(target_arch = "aarch64")]
fn axpy_neon(alpha: f32, x: &[f32], y: &mut [f32]) {
    use std::arch::aarch64::*;
    let n = x.len().min(y.len());
    let n4 = n / 4 * 4;
    let (px, py) = (x.as_ptr(), y.as_mut_ptr());
    // SAFETY: NEON is in the aarch64 baseline; i + 4 ≤ n ≤ both lengths; `y` is borrowed exclusively.
    unsafe {
        let av = vdupq_n_f32(alpha);
        let mut i = 0;
        while i < n4 {
            vst1q_f32(py.add(i), vfmaq_f32(vld1q_f32(py.add(i)), av, vld1q_f32(px.add(i))));
            i += 4;
        }
    }
    for j in n4..n {
        y[j] += alpha * x[j];
    }
}

/// `y := y + αx` in `f32`.
#[inline]
pub fn axpy_f32(alpha: f32, x: &[f32], y: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: AVX2 and FMA are present.
        unsafe { axpy_avx2(alpha, x, y) };
        return;
    }
    #[cfg(target_arch = "aarch64")]
    axpy_neon(alpha, x, y);
    #[cfg(not(target_arch = "aarch64"))]
    axpy_scalar(alpha, x, y);
}

/// The scalar reference of [`axpy_f32`].
pub fn axpy_scalar(alpha: f32, x: &[f32], y: &mut [f32]) {
    for (yi, &xi) in y.iter_mut().zip(x) {
        *yi += alpha * xi;
    }
}

/// `out[0] = ⟨x, x⟩`, `out[1 + h] = ⟨x, θ_h⟩` for the `H = out.len() − 1` rows of `thetas`
/// (`H × d`), in one pass over `x` (portable).
pub fn norm_and_dots_portable(x: &[f32], thetas: &[f32], out: &mut [f32]) {
    let d = x.len();
    out[0] = crate::kernels::real::dot(x, x);
    for h in 0..out.len() - 1 {
        out[1 + h] = crate::kernels::real::dot(x, &thetas[h * d..(h + 1) * d]);
    }
}

/// # Safety
/// The CPU must support AVX2 and FMA; `H ≤ 4`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn norm_and_dots_avx2(x: &[f32], thetas: &[f32], out: &mut [f32]) {
    use std::arch::x86_64::*;
    let d = x.len();
    let h = out.len() - 1;
    let d8 = d / 8 * 8;
    let mut acc = [_mm256_setzero_ps(); 5];
    let px = x.as_ptr();
    let pt = thetas.as_ptr();
    let mut i = 0;
    while i < d8 {
        // SAFETY: i + 8 ≤ d; row g of `thetas` spans [g·d, (g + 1)·d) ⊂ thetas (checked by the caller).
        let xv = _mm256_loadu_ps(px.add(i));
        acc[0] = _mm256_fmadd_ps(xv, xv, acc[0]);
        for g in 0..h {
            acc[1 + g] = _mm256_fmadd_ps(xv, _mm256_loadu_ps(pt.add(g * d + i)), acc[1 + g]);
        }
        i += 8;
    }
    for (k, a) in acc.iter().enumerate().take(h + 1) {
        let mut lanes = [0.0f32; 8];
        _mm256_storeu_ps(lanes.as_mut_ptr(), *a);
        let mut s = ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5])) + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]));
        let other = if k == 0 { x } else { &thetas[(k - 1) * d..k * d] };
        for j in d8..d {
            s += x[j] * other[j];
        }
        out[k] = s;
    }
}

/// `‖x‖²` and `⟨x, θ_h⟩` for every row of `thetas`, in one pass over `x` for `H ≤ 4`.
pub fn norm_and_dots_f32(x: &[f32], thetas: &[f32], out: &mut [f32]) {
    let h = out.len() - 1;
    assert!(thetas.len() >= h * x.len());
    #[cfg(target_arch = "x86_64")]
    if h <= 4 && has_avx2() {
        // SAFETY: AVX2 and FMA are present; H ≤ 4 and `thetas` holds H rows of length d.
        unsafe { norm_and_dots_avx2(x, thetas, out) };
        return;
    }
    norm_and_dots_portable(x, thetas, out)
}

/// `nn[i] = ‖x_i‖²` and `pp[g·n + i] = ⟨x_i, θ_g⟩` (in `f64`) for the `n` rows of `xs` (`n × d`) and
/// the `H = pp.len() / n` rows of `thetas`, the same values as [`norm_and_dots_f32`] row by row, bit
/// for bit: with AVX2, eight rows at a time whose partial sums are reduced together (the same
/// additions in the same order as the one-row reduction, only batched across rows); with AVX-512F
/// and `d` a multiple of 8, sixteen rows at a time, two per 16-lane vector (the same bits again).
pub fn norms_and_dots_rows_f32(xs: &[f32], d: usize, thetas: &[f32], nn: &mut [f64], pp: &mut [f64]) {
    let n = nn.len();
    let h = pp.len().checked_div(n).unwrap_or(0);
    assert!(d >= 1 && xs.len() >= n * d && pp.len() == h * n && thetas.len() >= h * d);
    #[cfg(target_arch = "x86_64")]
    if has_avx512() && d.is_multiple_of(8) && (1..=4).contains(&h) {
        // SAFETY: AVX-512F (with AVX2 and FMA) is present; the lengths were checked above.
        match h {
            1 => return unsafe { norms_and_dots_rows_avx512::<1>(xs, d, thetas, nn, pp) },
            2 => return unsafe { norms_and_dots_rows_avx512::<2>(xs, d, thetas, nn, pp) },
            3 => return unsafe { norms_and_dots_rows_avx512::<3>(xs, d, thetas, nn, pp) },
            _ => return unsafe { norms_and_dots_rows_avx512::<4>(xs, d, thetas, nn, pp) },
        }
    }
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: AVX2 and FMA are present; the lengths were checked above.
        match h {
            1 => return unsafe { norms_and_dots_rows_avx2::<1>(xs, d, thetas, nn, pp) },
            2 => return unsafe { norms_and_dots_rows_avx2::<2>(xs, d, thetas, nn, pp) },
            3 => return unsafe { norms_and_dots_rows_avx2::<3>(xs, d, thetas, nn, pp) },
            4 => return unsafe { norms_and_dots_rows_avx2::<4>(xs, d, thetas, nn, pp) },
            _ => {}
        }
    }
    let mut out = vec![0.0f32; h + 1];
    for i in 0..n {
        norm_and_dots_f32(&xs[i * d..(i + 1) * d], thetas, &mut out);
        nn[i] = f64::from(out[0]);
        for g in 0..h {
            pp[g * n + i] = f64::from(out[1 + g]);
        }
    }
}

/// The sums of eight vectors `v[t]`, each reduced as `((l0 + l4) + (l1 + l5)) + ((l2 + l6) + (l3 + l7))`
/// (the order of [`norm_and_dots_avx2`]), in lanes ordered as rows `[0, 2, 4, 6, 1, 3, 5, 7]`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn reduce8(v: &[std::arch::x86_64::__m256; 8]) -> std::arch::x86_64::__m256 {
    use std::arch::x86_64::*;
    // [a.lo + a.hi, b.lo + b.hi]: lanes (l0 + l4, l1 + l5, l2 + l6, l3 + l7) of a, then of b
    let fold = |a: __m256, b: __m256| _mm256_add_ps(_mm256_permute2f128_ps::<0x20>(a, b), _mm256_permute2f128_ps::<0x31>(a, b));
    let (w01, w23, w45, w67) = (fold(v[0], v[1]), fold(v[2], v[3]), fold(v[4], v[5]), fold(v[6], v[7]));
    _mm256_hadd_ps(_mm256_hadd_ps(w01, w23), _mm256_hadd_ps(w45, w67))
}

/// # Safety
/// The CPU must support AVX2 and FMA; the lengths are as checked by [`norms_and_dots_rows_f32`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn norms_and_dots_rows_avx2<const H: usize>(xs: &[f32], d: usize, thetas: &[f32], nn: &mut [f64], pp: &mut [f64]) {
    use std::arch::x86_64::*;
    const ROW_OF_LANE: [usize; 8] = [0, 2, 4, 6, 1, 3, 5, 7];
    let n = nn.len();
    let d8 = d / 8 * 8;
    let (px, pt) = (xs.as_ptr(), thetas.as_ptr());
    let full = n / 8 * 8;
    let mut b = 0;
    while b < full {
        // acc[k][t]: the partial sums of quantity k (0: ‖x‖², 1 + g: ⟨x, θ_g⟩) of row b + t
        let mut acc = [[_mm256_setzero_ps(); 8]; 5];
        for t in 0..8 {
            let row = px.add((b + t) * d);
            let mut a = [_mm256_setzero_ps(); 5];
            let mut i = 0;
            while i < d8 {
                // SAFETY: i + 8 ≤ d; row b + t < n lies in `xs`, row g < H of `thetas` in `thetas`.
                let xv = _mm256_loadu_ps(row.add(i));
                a[0] = _mm256_fmadd_ps(xv, xv, a[0]);
                for g in 0..H {
                    a[1 + g] = _mm256_fmadd_ps(xv, _mm256_loadu_ps(pt.add(g * d + i)), a[1 + g]);
                }
                i += 8;
            }
            for k in 0..=H {
                acc[k][t] = a[k];
            }
        }
        for k in 0..=H {
            let sums = reduce8(&acc[k]);
            if d8 == d {
                // no tail: put the lanes in row order, widen, store eight rows at once
                let rows = _mm256_permutevar8x32_ps(sums, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
                // SAFETY: rows b … b + 7 < n; row k − 1 of `pp` spans [(k − 1)·n, k·n).
                let dst = if k == 0 { nn.as_mut_ptr().add(b) } else { pp.as_mut_ptr().add((k - 1) * n + b) };
                _mm256_storeu_pd(dst, _mm256_cvtps_pd(_mm256_castps256_ps128(rows)));
                _mm256_storeu_pd(dst.add(4), _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(rows)));
                continue;
            }
            let mut lanes = [0.0f32; 8];
            _mm256_storeu_ps(lanes.as_mut_ptr(), sums);
            for (lane, &t) in ROW_OF_LANE.iter().enumerate() {
                let x = &xs[(b + t) * d..(b + t + 1) * d];
                let other = if k == 0 { x } else { &thetas[(k - 1) * d..k * d] };
                let mut s = lanes[lane];
                for j in d8..d {
                    s += x[j] * other[j];
                }
                if k == 0 {
                    nn[b + t] = f64::from(s);
                } else {
                    pp[(k - 1) * n + b + t] = f64::from(s);
                }
            }
        }
        b += 8;
    }
    let mut out = [0.0f32; 5];
    for i in full..n {
        norm_and_dots_avx2(&xs[i * d..(i + 1) * d], thetas, &mut out[..H + 1]);
        nn[i] = f64::from(out[0]);
        for g in 0..H {
            pp[g * n + i] = f64::from(out[1 + g]);
        }
    }
}

/// [`norms_and_dots_rows_avx2`] sixteen rows at a time ([`rows16_avx512`]), for `d` a multiple of
/// 8; the last `n mod 16` rows go to [`norms_and_dots_rows_avx2`] (each row's values depend on
/// that row only): the same bits.
///
/// # Safety
/// The CPU must support AVX-512F, AVX2 and FMA; `d % 8 == 0`, `H ≤ 4`, the lengths as checked by
/// [`norms_and_dots_rows_f32`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn norms_and_dots_rows_avx512<const H: usize>(xs: &[f32], d: usize, thetas: &[f32], nn: &mut [f64], pp: &mut [f64]) {
    debug_assert!(d.is_multiple_of(8) && H <= 4);
    let n = nn.len();
    let full = n / 16 * 16;
    let mut b = 0;
    while b < full {
        // SAFETY: rows b … b + 15 < n lie in `xs`; entries b … b + 15 of `nn` and of each row of `pp` exist.
        rows16_avx512::<H>(xs.as_ptr().add(b * d), d, thetas.as_ptr(), nn.as_mut_ptr().add(b), pp.as_mut_ptr().add(b), n);
        b += 16;
    }
    if full < n {
        let mut tn = [0.0f64; 16];
        let mut tp = [0.0f64; 64];
        let m = n - full;
        norms_and_dots_rows_avx2::<H>(&xs[full * d..n * d], d, thetas, &mut tn[..m], &mut tp[..H * m]);
        nn[full..].copy_from_slice(&tn[..m]);
        for g in 0..H {
            pp[g * n + full..(g + 1) * n].copy_from_slice(&tp[g * m..(g + 1) * m]);
        }
    }
}

/// `‖x‖²` and `⟨x, θ_g⟩` (`g < H`) of the sixteen rows at `px` (`16 × d`, `d` a multiple of 8),
/// widened to `f64`, into `nn[t]` and `pp[g·stride + t]` (`t < 16`): each 16-lane vector holds the
/// eight partial-sum lanes of two rows (row `2p` low, `2p + 1` high), so every lane runs the same
/// chain of fused multiply-adds over the row's 8-wide chunks in the same order as
/// [`norms_and_dots_rows_avx2`], and the reduction adds the same pairs as [`reduce8`]: the same
/// bits as row by row.
///
/// # Safety
/// The CPU must support AVX-512F, AVX2 and FMA; `d % 8 == 0`, `H ≤ 4`; `px` points to `16 · d`
/// values, `pt` to `H · d`, `nn` to 16 and `pp` to `(H − 1) · stride + 16`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
#[inline]
pub(crate) unsafe fn rows16_avx512<const H: usize>(px: *const f32, d: usize, pt: *const f32, nn: *mut f64, pp: *mut f64, stride: usize) {
    use std::arch::x86_64::*;
    // [a.q0 + a.q1, a.q2 + a.q3, b.q0 + b.q1, b.q2 + b.q3] in 128-bit quarters: per row, the lanes
    // (l0 + l4, l1 + l5, l2 + l6, l3 + l7) of rows 2p, 2p + 1 of a, then of b
    let fold = |a: __m512, b: __m512| _mm512_add_ps(_mm512_shuffle_f32x4::<0x88>(a, b), _mm512_shuffle_f32x4::<0xDD>(a, b));
    // `_mm256_hadd_ps` in each 128-bit quarter: [a0 + a1, a2 + a3, b0 + b1, b2 + b3]
    let hadd = |a: __m512, b: __m512| _mm512_add_ps(_mm512_shuffle_ps::<0x88>(a, b), _mm512_shuffle_ps::<0xDD>(a, b));
    // after the reduction, lane 4L + k holds row 4k + L: back to row order
    let order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    // acc[k][p]: the partial sums of quantity k (0: ‖x‖², 1 + g: ⟨x, θ_g⟩) of rows 2p, 2p + 1
    let mut acc = [[_mm512_setzero_ps(); 8]; 5];
    for p in 0..8 {
        let (lo, hi) = (px.add(2 * p * d), px.add((2 * p + 1) * d));
        let mut a = [_mm512_setzero_ps(); 5];
        let mut i = 0;
        while i < d {
            // SAFETY: i + 8 ≤ d; rows 2p, 2p + 1 < 16 lie at `px`, row g < H of θ at `pt`.
            let xv = _mm512_castpd_ps(_mm512_insertf64x4::<1>(
                _mm512_castpd256_pd512(_mm256_castps_pd(_mm256_loadu_ps(lo.add(i)))),
                _mm256_castps_pd(_mm256_loadu_ps(hi.add(i))),
            ));
            a[0] = _mm512_fmadd_ps(xv, xv, a[0]);
            for g in 0..H {
                let tv = _mm512_castpd_ps(_mm512_broadcast_f64x4(_mm256_loadu_pd(pt.add(g * d + i).cast())));
                a[1 + g] = _mm512_fmadd_ps(xv, tv, a[1 + g]);
            }
            i += 8;
        }
        for k in 0..=H {
            acc[k][p] = a[k];
        }
    }
    for k in 0..=H {
        let v = &acc[k];
        let (w0, w1, w2, w3) = (fold(v[0], v[1]), fold(v[2], v[3]), fold(v[4], v[5]), fold(v[6], v[7]));
        let sums = hadd(hadd(w0, w1), hadd(w2, w3));
        let rows = _mm512_permutexvar_ps(order, sums);
        // SAFETY: 16 values at `nn`, and at `pp + (k − 1)·stride` for k ≥ 1.
        let dst = if k == 0 { nn } else { pp.add((k - 1) * stride) };
        _mm512_storeu_pd(dst, _mm512_cvtps_pd(_mm512_castps512_ps256(rows)));
        _mm512_storeu_pd(dst.add(8), _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(rows)))));
    }
}

/// `exp x` on four `f64` lanes for `x ≤ 0` (what a max-subtracted softmax needs): `x = k ln 2 + r`,
/// `|r| ≤ ln 2 / 2` (Cody–Waite, `ln 2` split in two), `e^r` by its Taylor series to `r¹³`
/// (truncation below 2⁻⁵⁸ relative), times `2^k` built in the exponent bits. Within 2 ulp of
/// `f64::exp`; `exp 0 = 1` exactly; below −708 (where `2^k` would be subnormal) the result is 0
/// (the true value is below 3.1e-308); NaN stays NaN.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
pub unsafe fn exp_nonpositive_f64x4(x: std::arch::x86_64::__m256d) -> std::arch::x86_64::__m256d {
    use std::arch::x86_64::*;
    let set = _mm256_set1_pd;
    // 1.5·2⁵²: adding it rounds to an integer held in the low mantissa bits
    let magic = set(6_755_399_441_055_744.0);
    let t = _mm256_fmadd_pd(x, set(std::f64::consts::LOG2_E), magic);
    let k = _mm256_sub_pd(t, magic);
    let r = _mm256_fnmadd_pd(k, set(LN2_HI), x);
    let r = _mm256_fnmadd_pd(k, set(LN2_LO), r);
    let mut p = set(EXP_TAYLOR[13]);
    for c in EXP_TAYLOR[..13].iter().rev() {
        p = _mm256_fmadd_pd(p, r, set(*c));
    }
    let ki = _mm256_sub_epi64(_mm256_castpd_si256(t), _mm256_castpd_si256(magic));
    let scale = _mm256_castsi256_pd(_mm256_slli_epi64::<52>(_mm256_add_epi64(ki, _mm256_set1_epi64x(1023))));
    let y = _mm256_mul_pd(p, scale);
    _mm256_andnot_pd(_mm256_cmp_pd::<_CMP_LT_OQ>(x, set(-708.0)), y)
}

/// [`exp_nonpositive_f64x4`] on eight `f64` lanes (AVX-512F): the same operations lane by lane,
/// so the same bits.
///
/// # Safety
/// The CPU must support AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
#[inline]
pub unsafe fn exp_nonpositive_f64x8(x: std::arch::x86_64::__m512d) -> std::arch::x86_64::__m512d {
    use std::arch::x86_64::*;
    let set = _mm512_set1_pd;
    let magic = set(6_755_399_441_055_744.0);
    let t = _mm512_fmadd_pd(x, set(std::f64::consts::LOG2_E), magic);
    let k = _mm512_sub_pd(t, magic);
    let r = _mm512_fnmadd_pd(k, set(LN2_HI), x);
    let r = _mm512_fnmadd_pd(k, set(LN2_LO), r);
    let mut p = set(EXP_TAYLOR[13]);
    for c in EXP_TAYLOR[..13].iter().rev() {
        p = _mm512_fmadd_pd(p, r, set(*c));
    }
    let ki = _mm512_sub_epi64(_mm512_castpd_si512(t), _mm512_castpd_si512(magic));
    let scale = _mm512_castsi512_pd(_mm512_slli_epi64::<52>(_mm512_add_epi64(ki, _mm512_set1_epi64(1023))));
    let y = _mm512_mul_pd(p, scale);
    // zero where x < −708; NaN lanes compare false and keep y (NaN), as the four-lane version
    _mm512_maskz_mov_pd(!_mm512_cmp_pd_mask::<_CMP_LT_OQ>(x, set(-708.0)), y)
}

/// The scalar twin of [`exp_nonpositive_f64x4`] (the same operations lane by lane), for tests and
/// for the portable path.
pub fn exp_nonpositive_f64(x: f64) -> f64 {
    let magic = 6_755_399_441_055_744.0;
    let t = x.mul_add(std::f64::consts::LOG2_E, magic);
    let k = t - magic;
    let r = (-k).mul_add(LN2_HI, x);
    let r = (-k).mul_add(LN2_LO, r);
    let mut p = EXP_TAYLOR[13];
    for c in EXP_TAYLOR[..13].iter().rev() {
        p = p.mul_add(r, *c);
    }
    let ki = (t.to_bits() as i64).wrapping_sub(magic.to_bits() as i64);
    let y = p * f64::from_bits((ki.wrapping_add(1023) as u64) << 52);
    if x < -708.0 {
        0.0
    } else {
        y
    }
}

/// `ln 2` in two parts: the high one has trailing zero bits, so `k · LN2_HI` is exact for `|k| < 2¹¹`.
const LN2_HI: f64 = 0.693_147_180_369_123_8;
const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
/// `1 / j!` for `j = 0 … 13`.
const EXP_TAYLOR: [f64; 14] = [
    1.0,
    1.0,
    0.5,
    1.0 / 6.0,
    1.0 / 24.0,
    1.0 / 120.0,
    1.0 / 720.0,
    1.0 / 5040.0,
    1.0 / 40320.0,
    1.0 / 362_880.0,
    1.0 / 3_628_800.0,
    1.0 / 39_916_800.0,
    1.0 / 479_001_600.0,
    1.0 / 6_227_020_800.0,
];

/// `s[g·d + j] = Σ_i c[g·n + i] · x[i·d + j]` (`S = CᵀX` with `C` stored per head: `H × n`, `X`
/// `n × d`, `S` `H × d`, overwritten), plain loops: the reference of [`ctx_f32`].
pub fn ctx_portable(c: &[f32], h: usize, xs: &[f32], d: usize, s: &mut [f32]) {
    s[..h * d].iter_mut().for_each(|v| *v = 0.0);
    ctx_portable_add(c, h, xs, d, s)
}

/// [`ctx_portable`] adding to the sums in `s`.
fn ctx_portable_add(c: &[f32], h: usize, xs: &[f32], d: usize, s: &mut [f32]) {
    let n = c.len().checked_div(h).unwrap_or(0);
    for g in 0..h {
        for i in 0..n {
            let cg = c[g * n + i];
            for j in 0..d {
                s[g * d + j] += cg * xs[i * d + j];
            }
        }
    }
}

/// `S = CᵀX` as [`ctx_portable`] (`f32`, summed in `f32` over the rows in order); with AVX2 for
/// `H ≤ 4`, a register-blocked loop: per panel of up to 32 columns, the `H` row sums stay in
/// registers while the rows stream past, each row's coefficients broadcast.
pub fn ctx_f32(c: &[f32], h: usize, xs: &[f32], d: usize, s: &mut [f32]) {
    s[..h * d].iter_mut().for_each(|v| *v = 0.0);
    ctx_add_f32(c, h, xs, d, s)
}

/// `S += CᵀX` ([`ctx_f32`] that continues the sums already in `s`): each sum goes on over the rows
/// in order, so `S` over rows `0 … n` equals, bit for bit, [`ctx_f32`] over a first block of rows
/// followed by `ctx_add_f32` over the rest (how the two-head chunk kernel runs it, a block of
/// tokens at a time while the block is in cache).
pub fn ctx_add_f32(c: &[f32], h: usize, xs: &[f32], d: usize, s: &mut [f32]) {
    ctx_add_prefetching_f32(c, h, xs, d, s, &[])
}

/// [`ctx_add_f32`] that also asks the cache for the rows of `next` (`m × d`, typically the block
/// of rows that follows `xs`) while it streams over the rows of `xs`: row `i` of `next` is
/// prefetched with row `i` of `xs`, so memory fetches the next block during this block's
/// arithmetic. The same result; a hint only (no effect on the portable path).
pub fn ctx_add_prefetching_f32(c: &[f32], h: usize, xs: &[f32], d: usize, s: &mut [f32], next: &[f32]) {
    let n = c.len().checked_div(h).unwrap_or(0);
    assert!(c.len() == h * n && xs.len() >= n * d && s.len() >= h * d);
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: AVX2 and FMA are present; the lengths were checked above.
        match h {
            1 => return unsafe { ctx_avx2::<1>(c, n, xs, d, s, next) },
            2 => return unsafe { ctx_avx2::<2>(c, n, xs, d, s, next) },
            3 => return unsafe { ctx_avx2::<3>(c, n, xs, d, s, next) },
            4 => return unsafe { ctx_avx2::<4>(c, n, xs, d, s, next) },
            _ => {}
        }
    }
    let _ = next;
    ctx_portable_add(c, h, xs, d, s)
}

/// `S += CᵀX` (see [`ctx_add_f32`]).
///
/// # Safety
/// The CPU must support AVX2 and FMA; `c` holds `H · n`, `xs` `n · d` and `s` `H · d` values.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn ctx_avx2<const H: usize>(c: &[f32], n: usize, xs: &[f32], d: usize, s: &mut [f32], next: &[f32]) {
    // panels of W vectors of 8 columns: H · W ≤ 12 accumulators (of the 16 registers)
    let d8 = d / 8 * 8;
    let wmax = if H == 4 { 3 } else { 4 };
    let mut j0 = 0;
    while j0 < d8 {
        let w = ((d8 - j0) / 8).min(wmax);
        match w {
            4 => ctx_panel::<H, 4>(c, n, xs, d, j0, s, next),
            3 => ctx_panel::<H, 3>(c, n, xs, d, j0, s, next),
            2 => ctx_panel::<H, 2>(c, n, xs, d, j0, s, next),
            _ => ctx_panel::<H, 1>(c, n, xs, d, j0, s, next),
        }
        j0 += 8 * w;
    }
    for g in 0..H {
        for j in d8..d {
            let mut t = s[g * d + j];
            for i in 0..n {
                t += c[g * n + i] * xs[i * d + j];
            }
            s[g * d + j] = t;
        }
    }
}

/// Columns `j0 … j0 + 8W` of `S` (see [`ctx_avx2`]).
///
/// # Safety
/// As [`ctx_avx2`], and `j0 + 8W ≤ d`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn ctx_panel<const H: usize, const W: usize>(c: &[f32], n: usize, xs: &[f32], d: usize, j0: usize, s: &mut [f32], next: &[f32]) {
    use std::arch::x86_64::*;
    let (pc, px) = (c.as_ptr(), xs.as_ptr());
    let ahead = next.len() / d;
    let mut acc = [[_mm256_setzero_ps(); W]; H];
    for (g, a) in acc.iter_mut().enumerate() {
        for (p, v) in a.iter_mut().enumerate() {
            // SAFETY: row g < H of `s` holds d ≥ j0 + 8W values.
            *v = _mm256_loadu_ps(s.as_ptr().add(g * d + j0 + 8 * p));
        }
    }
    for i in 0..n {
        // SAFETY: i < n, so c[g·n + i] (g < H) and row i of `xs`, columns j0 … j0 + 8W ≤ d, are in bounds.
        let row = px.add(i * d + j0);
        if i < ahead {
            // the panel’s columns of row i of `next` into L2 (not L1, which holds this block), one
            // hint per 64-byte line (16 values)
            for k in (0..8 * W).step_by(16) {
                // SAFETY: i < ahead, so row i of `next` lies in `next`, and j0 + k < j0 + 8W ≤ d.
                _mm_prefetch::<_MM_HINT_T1>(next.as_ptr().add(i * d + j0 + k) as *const i8);
            }
        }
        let mut xv = [_mm256_setzero_ps(); W];
        for (p, v) in xv.iter_mut().enumerate() {
            *v = _mm256_loadu_ps(row.add(8 * p));
        }
        for (g, a) in acc.iter_mut().enumerate() {
            let cg = _mm256_set1_ps(*pc.add(g * n + i));
            for p in 0..W {
                a[p] = _mm256_fmadd_ps(cg, xv[p], a[p]);
            }
        }
    }
    for (g, a) in acc.iter().enumerate() {
        for (p, v) in a.iter().enumerate() {
            // SAFETY: row g < H of `s` holds d ≥ j0 + 8W values.
            _mm256_storeu_ps(s.as_mut_ptr().add(g * d + j0 + 8 * p), *v);
        }
    }
}

/// `S += CᵀX` over the `rows` rows at `px` (`rows × d`) on AVX-512F, for a kernel that has the
/// coefficients of a few rows at hand: `c[g·cs + i]` is the coefficient of head `g` and row `i`,
/// `s` (`H × d`) holds the running sums. Each sum goes on over the rows in order, by fused
/// multiply-adds for the columns below `d − d mod 8` and by a multiply then an add for the last
/// `d mod 8`, as [`ctx_avx2`]: the same bits.
///
/// # Safety
/// The CPU must support AVX-512F, AVX2 and FMA; `H ≤ 4`; `c` points to `(H − 1)·cs + rows`
/// values, `px` to `rows · d`, `s` to `H · d` (not overlapping the others).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
#[inline]
pub(crate) unsafe fn ctx_rows_avx512<const H: usize>(c: *const f32, cs: usize, rows: usize, px: *const f32, d: usize, s: *mut f32) {
    let d8 = d / 8 * 8;
    // panels of up to four vectors of 16 columns (the last may hold 8): H · 4 ≤ 16 accumulators
    let mut j0 = 0;
    while j0 < d8 {
        let w = (d8 - j0).div_ceil(16).min(4);
        match w {
            4 => ctx_panel_avx512::<H, 4>(c, cs, rows, px, d, d8, j0, s),
            3 => ctx_panel_avx512::<H, 3>(c, cs, rows, px, d, d8, j0, s),
            2 => ctx_panel_avx512::<H, 2>(c, cs, rows, px, d, d8, j0, s),
            _ => ctx_panel_avx512::<H, 1>(c, cs, rows, px, d, d8, j0, s),
        }
        j0 += 16 * w;
    }
    for g in 0..H {
        for j in d8..d {
            // SAFETY: g < H, j < d, i < rows: within the extents above.
            let mut t = *s.add(g * d + j);
            for i in 0..rows {
                t += *c.add(g * cs + i) * *px.add(i * d + j);
            }
            *s.add(g * d + j) = t;
        }
    }
}

/// Columns `j0 … min(j0 + 16W, d8)` of [`ctx_rows_avx512`] (`d8 − j0` a multiple of 8, more than
/// `16(W − 1)`), the `H · W` sums in registers while the rows stream past.
///
/// # Safety
/// As [`ctx_rows_avx512`], and `d8 ≤ d`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
#[inline]
#[allow(clippy::too_many_arguments)]
unsafe fn ctx_panel_avx512<const H: usize, const W: usize>(c: *const f32, cs: usize, rows: usize, px: *const f32, d: usize, d8: usize, j0: usize, s: *mut f32) {
    use std::arch::x86_64::*;
    // the last vector of the panel may cover 8 columns only
    let mut mask = [0xFFFF as __mmask16; W];
    for (p, m) in mask.iter_mut().enumerate() {
        if d8 - (j0 + 16 * p) < 16 {
            *m = 0x00FF;
        }
    }
    let mut acc = [[_mm512_setzero_ps(); W]; H];
    for (g, a) in acc.iter_mut().enumerate() {
        for (p, v) in a.iter_mut().enumerate() {
            // SAFETY: the unmasked columns j0 + 16p + l < d8 ≤ d of row g < H of `s`.
            *v = _mm512_maskz_loadu_ps(mask[p], s.add(g * d + j0 + 16 * p));
        }
    }
    for i in 0..rows {
        let row = px.add(i * d + j0);
        let mut xv = [_mm512_setzero_ps(); W];
        for (p, v) in xv.iter_mut().enumerate() {
            // SAFETY: row i < rows, unmasked columns < d8 ≤ d.
            *v = _mm512_maskz_loadu_ps(mask[p], row.add(16 * p));
        }
        for (g, a) in acc.iter_mut().enumerate() {
            // SAFETY: g < H, i < rows.
            let cg = _mm512_set1_ps(*c.add(g * cs + i));
            for p in 0..W {
                a[p] = _mm512_fmadd_ps(cg, xv[p], a[p]);
            }
        }
    }
    for (g, a) in acc.iter().enumerate() {
        for (p, v) in a.iter().enumerate() {
            // SAFETY: as the loads.
            _mm512_mask_storeu_ps(s.add(g * d + j0 + 16 * p), mask[p], *v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctx_matches_the_plain_loops() {
        for h in 0..=5 {
            for d in [1, 7, 8, 9, 16, 17, 24, 33, 40, 64, 65, 100] {
                for n in [0, 1, 3, 8, 257] {
                    let c: Vec<f32> = (0..h * n).map(|i| ((i * 31 % 13) as f32 / 6.5 - 1.0) * 0.8).collect();
                    let xs: Vec<f32> = (0..n * d).map(|i| ((i * 7919 % 997) as f32 / 498.5 - 1.0) * 3.0).collect();
                    let (mut s1, mut s2) = (vec![f32::NAN; h * d], vec![f32::NAN; h * d]);
                    ctx_f32(&c, h, &xs, d, &mut s1);
                    ctx_portable(&c, h, &xs, d, &mut s2);
                    // in two blocks of rows, continuing the sums: the same bits as in one
                    for split in [0, n / 2, n.saturating_sub(1)] {
                        let per_head = |lo: usize, hi: usize| (0..h).flat_map(|g| c[g * n + lo..g * n + hi].to_vec()).collect::<Vec<f32>>();
                        let mut s3 = vec![f32::NAN; h * d];
                        ctx_f32(&per_head(0, split), h, &xs[..split * d], d, &mut s3);
                        ctx_add_f32(&per_head(split, n), h, &xs[split * d..], d, &mut s3);
                        assert!(s3.iter().zip(&s1).all(|(a, b)| a.to_bits() == b.to_bits()), "h={h} d={d} n={n} split {split}");
                    }
                    for g in 0..h {
                        for j in 0..d {
                            let exact: f64 = (0..n).map(|i| f64::from(c[g * n + i]) * f64::from(xs[i * d + j])).sum();
                            let mag: f64 = (0..n).map(|i| (f64::from(c[g * n + i]) * f64::from(xs[i * d + j])).abs()).sum();
                            let tol = 1e-6 * (1.0 + mag);
                            assert!((f64::from(s1[g * d + j]) - exact).abs() <= tol, "h={h} d={d} n={n} ({g}, {j}): {} vs {exact}", s1[g * d + j]);
                            assert!((f64::from(s2[g * d + j]) - exact).abs() <= tol);
                        }
                    }
                }
            }
        }
    }

    /// The AVX-512 `S += CᵀX` over a few rows: the same bits as the AVX2 one ([`ctx_add_f32`]),
    /// close to the plain loops, continuing sums already in `S`.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn ctx_rows_avx512_matches_avx2_and_the_plain_loops() {
        if !has_avx512() {
            return;
        }
        for h in 1..=4 {
            for d in [1, 2, 7, 8, 15, 16, 17, 24, 40, 63, 64, 65, 100, 136] {
                for n in [0, 1, 5, 15, 16, 17, 33] {
                    let c: Vec<f32> = (0..h * n).map(|i| ((i * 31 % 13) as f32 / 6.5 - 1.0) * 0.8).collect();
                    let xs: Vec<f32> = (0..n * d).map(|i| ((i * 7919 % 997) as f32 / 498.5 - 1.0) * 3.0).collect();
                    let s0: Vec<f32> = (0..h * d).map(|i| (i % 7) as f32 * 0.25 - 0.5).collect();
                    let (mut fast, mut avx2, mut plain) = (s0.clone(), s0.clone(), s0.clone());
                    // SAFETY: AVX-512F is present; c holds H rows of n, xs n × d, fast H × d values.
                    unsafe {
                        match h {
                            1 => ctx_rows_avx512::<1>(c.as_ptr(), n, n, xs.as_ptr(), d, fast.as_mut_ptr()),
                            2 => ctx_rows_avx512::<2>(c.as_ptr(), n, n, xs.as_ptr(), d, fast.as_mut_ptr()),
                            3 => ctx_rows_avx512::<3>(c.as_ptr(), n, n, xs.as_ptr(), d, fast.as_mut_ptr()),
                            _ => ctx_rows_avx512::<4>(c.as_ptr(), n, n, xs.as_ptr(), d, fast.as_mut_ptr()),
                        }
                    }
                    ctx_add_f32(&c, h, &xs, d, &mut avx2);
                    ctx_portable_add(&c, h, &xs, d, &mut plain);
                    let at = format!("h={h} d={d} n={n}");
                    assert!(fast.iter().zip(&avx2).all(|(a, b)| a.to_bits() == b.to_bits()), "{at}: {fast:?} vs {avx2:?}");
                    let scale = plain.iter().fold(1.0f32, |m, v| m.max(v.abs())) * (n as f32 + 1.0);
                    assert!(fast.iter().zip(&plain).all(|(a, b)| (a - b).abs() <= 1e-6 * scale), "{at}: {fast:?} vs {plain:?}");
                }
            }
        }
    }

    #[test]
    fn rows_at_once_equal_row_by_row_bit_for_bit() {
        for d in [1, 2, 7, 8, 9, 15, 16, 17, 63, 64, 65] {
            for n in [0, 1, 7, 8, 9, 15, 16, 17, 31, 33, 100] {
                let xs: Vec<f32> = (0..n * d).map(|i| ((i * 7919 % 997) as f32 / 498.5 - 1.0) * 3.0).collect();
                for h in 1..=5 {
                    let th: Vec<f32> = (0..h * d).map(|i| ((i * 31 % 13) as f32 / 6.5 - 1.0) * 0.8).collect();
                    let (mut nn, mut pp) = (vec![0.0; n], vec![0.0; h * n]);
                    norms_and_dots_rows_f32(&xs, d, &th, &mut nn, &mut pp);
                    let mut out = vec![0.0f32; h + 1];
                    for i in 0..n {
                        norm_and_dots_f32(&xs[i * d..(i + 1) * d], &th, &mut out);
                        assert_eq!(nn[i].to_bits(), f64::from(out[0]).to_bits(), "d={d} n={n} h={h} row {i}");
                        for g in 0..h {
                            assert_eq!(pp[g * n + i].to_bits(), f64::from(out[1 + g]).to_bits(), "d={d} n={n} h={h} row {i} head {g}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn exp_within_two_ulp_of_libm() {
        let mut xs: Vec<f64> = (0..200_000).map(|i| -(i as f64) * 0.003_540_1).collect(); // 0 … −708
        xs.extend([0.0, -0.0, -1e-300, -5e-324, -0.346_573_590_279_972_6, -0.346_573_590_279_972_7, -707.9, -708.0, -708.1, -745.2, -1e300, f64::NEG_INFINITY]);
        for &x in &xs {
            let y = exp_nonpositive_f64(x);
            if x < -708.0 {
                assert_eq!(y, 0.0, "{x}");
            } else {
                let e = x.exp();
                assert!((y - e).abs() <= 2.0 * f64::EPSILON * e, "exp({x}) = {y}, libm {e}");
            }
        }
        assert_eq!(exp_nonpositive_f64(0.0), 1.0);
        assert!(exp_nonpositive_f64(f64::NAN).is_nan());
        #[cfg(target_arch = "x86_64")]
        if has_avx2() {
            use std::arch::x86_64::*;
            xs.push(f64::NAN);
            for q in xs.chunks(4) {
                let mut v = [0.0f64; 4];
                v[..q.len()].copy_from_slice(q);
                let mut out = [0.0f64; 4];
                // SAFETY: AVX2 and FMA are present; both arrays hold four values.
                unsafe { _mm256_storeu_pd(out.as_mut_ptr(), exp_nonpositive_f64x4(_mm256_loadu_pd(v.as_ptr()))) };
                for l in 0..4 {
                    let s = exp_nonpositive_f64(v[l]);
                    assert!(out[l].to_bits() == s.to_bits() || (s.is_nan() && out[l].is_nan()), "lane {l}: {} vs {s}", out[l]);
                }
            }
        }
        #[cfg(target_arch = "x86_64")]
        if has_avx512() {
            use std::arch::x86_64::*;
            for q in xs.chunks(8) {
                let mut v = [0.0f64; 8];
                v[..q.len()].copy_from_slice(q);
                let mut out = [0.0f64; 8];
                // SAFETY: AVX-512F is present; both arrays hold eight values.
                unsafe { _mm512_storeu_pd(out.as_mut_ptr(), exp_nonpositive_f64x8(_mm512_loadu_pd(v.as_ptr()))) };
                for l in 0..8 {
                    let s = exp_nonpositive_f64(v[l]);
                    assert!(out[l].to_bits() == s.to_bits() || (s.is_nan() && out[l].is_nan()), "x8 lane {l}: {} vs {s}", out[l]);
                }
            }
        }
    }

    #[test]
    fn match_scalar_over_lengths() {
        for n in [0, 1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 1000] {
            let a: Vec<f32> = (0..n).map(|i| (i as f32 * 0.7).sin()).collect();
            let b: Vec<f32> = (0..n).map(|i| (i as f32 * 0.3).cos()).collect();
            let exact: f64 = a.iter().zip(&b).map(|(x, y)| *x as f64 * *y as f64).sum();
            assert!((dot_f32(&a, &b) as f64 - exact).abs() < 1e-4 * (1.0 + exact.abs()));
            assert!((crate::kernels::real::dot(&a, &b) as f64 - exact).abs() < 1e-4 * (1.0 + exact.abs()));
            let th: Vec<f32> = (0..3 * n).map(|i| (i as f32 * 0.11).cos()).collect();
            for h in 1..=3 {
                let (mut o1, mut o2) = (vec![0.0f32; h + 1], vec![0.0f32; h + 1]);
                norm_and_dots_f32(&a, &th, &mut o1);
                norm_and_dots_portable(&a, &th, &mut o2);
                assert!(o1.iter().zip(&o2).all(|(p, q)| (p - q).abs() <= 1e-4 * (1.0 + q.abs())));
            }
            let mut y1 = b.clone();
            axpy_f32(0.5, &a, &mut y1);
            assert!(y1.iter().zip(a.iter().zip(&b)).all(|(r, (x, y))| (r - (y + 0.5 * x)).abs() < 1e-6));
            let mut y2 = b.clone();
            axpy_scalar(0.5, &a, &mut y2);
            assert!(y1.iter().zip(&y2).all(|(p, q)| (p - q).abs() <= 1e-6 * (1.0 + q.abs())));
        }
    }

    /// The dispatched kernels (AVX2 on x86_64, NEON on aarch64) against the scalar ones, on
    /// lengths around every unrolling boundary and on slices that start unaligned.
    #[test]
    fn fast_paths_match_scalar_unaligned() {
        let a: Vec<f32> = (0..300).map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0).collect();
        let b: Vec<f32> = (0..300).map(|i| ((i * 53 % 97) as f32 - 48.0) / 9.0).collect();
        for off in 0..4 {
            for n in (0..40).chain([63, 64, 65, 127, 128, 129, 255]) {
                let (x, y) = (&a[off..off + n], &b[off + 1..off + 1 + n]);
                let (fast, scalar) = (dot_f32(x, y), crate::kernels::real::dot(x, y));
                let scale: f32 = x.iter().zip(y).map(|(p, q)| (p * q).abs()).sum();
                assert!((fast - scalar).abs() <= 1e-5 * (1.0 + scale), "dot n={n} off={off}: {fast} vs {scalar}");
                let (mut y1, mut y2) = (y.to_vec(), y.to_vec());
                axpy_f32(-1.25, x, &mut y1);
                axpy_scalar(-1.25, x, &mut y2);
                for (p, q) in y1.iter().zip(&y2) {
                    // FMA rounds once, the scalar loop twice.
                    assert!((p - q).abs() <= 1e-6 * (1.0 + q.abs()), "axpy n={n} off={off}: {p} vs {q}");
                }
            }
        }
    }
}
