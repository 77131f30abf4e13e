//! One attention head, tiled with an online softmax: the `L × L` score matrix is never stored.
//!
//! For `Q ∈ R^{L×dk}`, `K ∈ R^{L×dk}`, `V ∈ R^{L×dv}`, an optional per-key bias `β ∈ Rᴸ` and a mask,
//!
//! ```text
//! S = λ Q Kᵀ + 1 βᵀ + mask,   P = softmax_rows(S),   O = P V,   lse_i = log Σ_j exp S_ij
//! ```
//!
//! **Forward** (per block of [`BR`] queries): for each block of [`BC`] keys, `S_blk = λ Q_blk K_blkᵀ`
//! (a tile product), then per row the running maximum `m`, its key `a` (the *dominant* key), the
//! running sum of the *other* terms `ℓ' = Σ_{j≠a} e^{S_ij − m}` and the accumulator
//! `U = Σ_{j≠a} e^{S_ij − m} V_j` are updated. When a block holds a new maximum at key `a'`, the old
//! dominant term joins the others before the rescaling: `U' = (U + V_a)·e^{m−m'}`,
//! `ℓ'' = (ℓ' + 1)·e^{m−m'}`. At the end `O_i = (V_a + U)/(1 + ℓ')`, `lse_i = m + log1p(ℓ')` and
//! `rest_i = O_i − V_a = (U − ℓ' V_a)/(1 + ℓ')`: nothing is ever computed as a difference with the
//! dominant term, so `rest` keeps its relative accuracy however saturated the row.
//!
//! **Backward**, given `dO`: with `P_ij = exp(S_ij − m_i) / (1 + ℓ'_i)` recomputed block by block,
//!
//! ```text
//! dV += Pᵀ dO,   dP = dO Vᵀ,   dS = P ⊙ (dP − D 1ᵀ),   dQ += λ dS K,   dK += λ dSᵀ Q,
//! D_i = Σ_j P_ij dP_ij = c_i + e_i,   c_i = ⟨dO_i, V_{a_i}⟩,   e_i = ⟨dO_i, rest_i⟩,
//! dS_ij = P_ij ((dP_ij − c_i) − e_i)  (j ≠ a_i),     dS_{i a_i} = −P_{i a_i} e_i.
//! ```
//!
//! The textbook `D_i = ⟨dO_i, O_i⟩` makes `dP_{ia} − D_i` a difference of two nearly equal numbers
//! when the row saturates (`P_{ia} → 1`): its rounding error `ε·|dP|` is then multiplied by `λ` in
//! `dQ` and `dK` (a gradient wrong by about `λε`, e.g. 4·10⁴ at `λ = 10²⁰` in `f64`). Written as
//! above, every term of `dS` carries its own factor `P_ij` (`j ≠ a`) or `e_i = O(1 − P_{ia})`, so
//! the gradient is accurate to a few ulps of its own size at every `λ`.
//!
//! (the bias is treated as a constant). Every block is computed by one task in a fixed order, so
//! results do not depend on the thread count.
//!
//! **Kernels.** [`Kernel::Tiled`] runs the blocks above by tile products; [`Kernel::Fused`] (`f32`,
//! `dk, dv ≤ 64`, the default there) runs the same online softmax fused with the scores and `P·V`
//! in registers (`crate::kernels::attn`). Whenever the fused kernel takes a head, every score —
//! forward and the backward's recomputation alike — follows its contract
//! `(Σ_f fma(q_if, k_jf)) ⊗ λ ⊕ β_j`, so the backward's `exp(S − m)` sees the forward's very scores.
//! The backward of such a head is fused as well (`crate::kernels::attn_bwd`: the formulas above
//! on tiles of 64 × 64 with `P` and `dS` in registers and `dQ`, `dK`, `dV` by register-blocked
//! products, spread over threads by key and query tiles with the same bits; when `Q`, `K` and `V`
//! are one matrix, as with identity weights, each score tile serves two tiles, with the same bits
//! again); [`Kernel::Tiled`] runs the tile products below.

use super::online::{Out, Rows};
use crate::kernels::attn::{PackBufs, Packed, RowsOut, Scratch, MAX_D};
use crate::kernels::par::Par;
use crate::kernels::real::Real;
use crate::kernels::simd::{self, Isa};
use crate::kernels::tile::{matmul, View};

/// Queries per block.
pub const BR: usize = 64;
/// Keys per block.
pub const BC: usize = 128;

/// Which scores are excluded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Mask {
    /// Every query sees every key (the default).
    #[default]
    None,
    /// Query `i` sees keys `j ≤ i`.
    Causal,
    /// Query `i` sees every key but itself.
    NoSelf,
}

/// One head's inputs, all row-major and contiguous. The kernel is the tiled online softmax of
/// FlashAttention-2 (Dao 2023; Milakov and Gimelshein 2018 for the online normaliser), with the
/// dominant-key bookkeeping of the module documentation. Sizes are the caller's to check: the
/// methods panic on slices shorter than their shapes.
#[derive(Clone, Copy)]
pub struct Head<'a, T> {
    /// Queries `Q`, `l × dk`.
    pub q: &'a [T],
    /// Keys `K`, `l × dk`.
    pub k: &'a [T],
    /// Values `V`, `l × dv`.
    pub v: &'a [T],
    /// Number of tokens `L` (queries and keys).
    pub l: usize,
    /// Width of a query or key.
    pub dk: usize,
    /// Width of a value.
    pub dv: usize,
    /// Inverse temperature `λ` multiplying `QKᵀ` (no `1/√dk` is added).
    pub lambda: T,
    /// Which scores are excluded (set to `−∞`).
    pub mask: Mask,
    /// Added to every score of key `j` (length `l`).
    pub key_bias: Option<&'a [T]>,
}

/// Which forward kernel runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    /// Tiles of [`BR`] × [`BC`] by tile products (any type, any `dk`, `dv`).
    Tiled,
    /// The fused small-`d` forward of `crate::kernels::attn` on the given instruction set
    /// (`f32`, `dk, dv ≤` `MAX_D`).
    Fused(Isa),
}

/// Scratch values of the fused forward of one head on one thread, for `f32` values and
/// `1 ≤ dk, dv ≤` `MAX_D` (else 0): `K` packed (`lp·dk`, `lp` = `l` rounded up to a panel of 64
/// keys), `V` with rows padded to `dvp` (`dv` rounded up to 16; `l·dvp`, only when `dv` is not a
/// multiple of 16), a packed key bias (`lp`), and the work buffers of a block of [`BR`] rows and 16
/// rows of padding (`dk` queries, 64 probabilities, `dvp` accumulators, 16 lane sums, `m` and `a`
/// per row).
pub fn fused_scratch(elem: usize, l: usize, dk: usize, dv: usize) -> f64 {
    if elem != 4 || !(1..=MAX_D).contains(&dk) || !(1..=MAX_D).contains(&dv) {
        return 0.0;
    }
    use crate::kernels::attn::{LANES, PANEL};
    let lp = l.div_ceil(PANEL) as f64 * PANEL as f64;
    let dvp = dv.div_ceil(LANES) * LANES;
    let vp = if dvp == dv { 0.0 } else { (l * dvp) as f64 };
    lp * (dk as f64 + 1.0) + vp + ((BR + 16) * (dk + PANEL + dvp + LANES + 2)) as f64
}

/// The allocations of [`Head::forward_fused_seq`], kept between calls (one per thread).
#[derive(Default)]
pub struct FusedBufs {
    pack: PackBufs,
    scratch: Scratch,
}

/// Largest head (`l·(dk + dv + 1)` values) whose fused-forward buffers a thread keeps for the next
/// head: prompts up to 2048 tokens at `d = 64` (a larger head amortises its own allocations).
const KEEP_BUFS: usize = 1 << 18;

thread_local! {
    /// This thread's fused-forward allocations (packing, block scratch), kept between heads so that
    /// a batch of prompts does not fault fresh pages in for every head.
    static THREAD_BUFS: std::cell::RefCell<FusedBufs> = std::cell::RefCell::new(FusedBufs::default());
}

/// `arg` value of a row that sees no key.
pub const NONE: u32 = u32::MAX;

/// What the backward needs from the forward, per query row `i`: the row maximum `m_i` and
/// `z_i = Σ_j e^{S_ij − m_i} = 1 + ℓ'_i` (so `P_ij = e^{S_ij − m_i} / z_i`, without the rounding of
/// `lse_i = m_i + log z_i`, whose absolute error `ε|m_i|` would become a relative error of `P`); the dominant key
/// `a_i = argmax_j S_ij` (the first one on ties; [`NONE`] for a row that sees no key); and
/// `rest_i = O_i − V_{a_i} = Σ_{j≠a_i} P_ij (V_j − V_{a_i})` (`l × dv`), accumulated without ever
/// subtracting the dominant term, so it is accurate to a few ulps of its own size even when
/// `1 − P_{i a_i}` is below the rounding error.
#[derive(Clone, Debug)]
pub struct Stats<T> {
    /// `m_i`, the row maxima (`l`).
    pub max: Vec<T>,
    /// `z_i = 1 + ℓ'_i`, the row normalisers relative to `e^{m_i}` (`l`).
    pub norm: Vec<T>,
    /// `a_i`, the dominant key of each row (`l`; [`NONE`] for a row that sees no key).
    pub arg: Vec<u32>,
    /// `rest_i = O_i − V_{a_i}` (`l × dv`).
    pub rest: Vec<T>,
}

impl<'a, T: Real> Head<'a, T> {
    /// Whether the fused small-`d` kernel takes this head (`f32`, `1 ≤ dk, dv ≤` `MAX_D`); its
    /// scores then follow the contract of `crate::kernels::attn`, in the forward and in
    /// [`Head::backward`] alike.
    pub fn fused(&self) -> bool {
        T::as_f32(self.q).is_some() && (1..=MAX_D).contains(&self.dk) && (1..=MAX_D).contains(&self.dv)
    }

    /// The kernel [`Head::forward`] uses: fused on the best instruction set when it takes the head.
    pub fn kernel(&self) -> Kernel {
        if self.fused() {
            Kernel::Fused(simd::isa())
        } else {
            Kernel::Tiled
        }
    }

    /// Keys `[0, end)` that query block `[i0, i0 + rows)` may see.
    fn key_end(&self, i0: usize, rows: usize) -> usize {
        match self.mask {
            Mask::Causal => (i0 + rows).min(self.l),
            _ => self.l,
        }
    }

    /// `s := λ Q_blk K_blkᵀ + bias + mask` for queries `[i0, i0+rows)` and keys `[j0, j0+cols)`.
    fn scores(&self, s: &mut [T], i0: usize, rows: usize, j0: usize, cols: usize) {
        let dk = self.dk;
        if let (true, Some(q), Some(k), Some(out)) = (self.fused(), T::as_f32(self.q), T::as_f32(self.k), T::as_f32_mut(s)) {
            // the score contract of the fused forward, bit for bit
            let bias = self.key_bias.map(|b| &T::as_f32(b).expect("f32 bias")[j0..j0 + cols]);
            simd::attn_scores(simd::isa(), &q[i0 * dk..], &k[j0 * dk..], rows, cols, dk, self.lambda.f64() as f32, bias, out);
        } else {
            self.scores_tiled(s, i0, rows, j0, cols);
        }
        self.mask_scores(s, i0, rows, j0, cols);
    }

    /// `s := λ Q_blk K_blkᵀ + bias` by a tile product.
    fn scores_tiled(&self, s: &mut [T], i0: usize, rows: usize, j0: usize, cols: usize) {
        let (dk, l) = (self.dk, self.l);
        matmul(
            &mut s[..rows * cols],
            cols,
            View::rows(&self.q[i0 * dk..l * dk], rows, dk, dk),
            View::transposed(&self.k[j0 * dk..l * dk], dk, cols, dk),
            false,
            self.lambda,
        );
        if let Some(bias) = self.key_bias {
            for r in 0..rows {
                for (v, &b) in s[r * cols..(r + 1) * cols].iter_mut().zip(&bias[j0..j0 + cols]) {
                    *v = *v + b;
                }
            }
        }
    }

    /// Masked scores of the block become `−∞`.
    fn mask_scores(&self, s: &mut [T], i0: usize, rows: usize, j0: usize, cols: usize) {
        let masked = |i: usize, j: usize| match self.mask {
            Mask::None => false,
            Mask::Causal => j > i,
            Mask::NoSelf => j == i,
        };
        if self.mask != Mask::None {
            for r in 0..rows {
                for c in 0..cols {
                    if masked(i0 + r, j0 + c) {
                        s[r * cols + c] = T::neg_infinity();
                    }
                }
            }
        }
    }

    /// Forward for queries `[i0, i0 + rows)` by tile products; writes to `out` (see
    /// [`super::online`]). `s` is a work buffer of at least `rows · min(BC, l)` values.
    pub(crate) fn forward_rows(&self, i0: usize, rows: usize, out: Out<T>, s: &mut [T]) {
        let mut st = Rows::default();
        self.forward_rows_tiled(i0, rows, &mut st, &mut *out.o, s);
        st.finish(rows, self.v, self.dv, out);
    }

    /// The fused forward of queries `[i0, i0 + rows)` ([`crate::kernels::attn`]); `p` is this
    /// head packed.
    fn forward_rows_fused(&self, p: &Packed, isa: Isa, i0: usize, rows: usize, out: Out<T>, scratch: &mut Scratch) {
        let mut st = Rows::default();
        let (mut m, mut others, mut dom) = ([0.0f32; BR], [0.0f32; BR], [NONE; BR]);
        let u = T::as_f32_mut(&mut *out.o).expect("the fused kernel is f32");
        simd::attn_rows(isa, p, i0, rows, RowsOut { m: &mut m, others: &mut others, dom: &mut dom, u }, scratch);
        for r in 0..rows {
            st.m[r] = T::of(f64::from(m[r]));
            st.others[r] = T::of(f64::from(others[r]));
            st.dom[r] = dom[r];
        }
        st.finish(rows, self.v, self.dv, out);
    }

    fn forward_rows_tiled(&self, i0: usize, rows: usize, st: &mut Rows<T>, o: &mut [T], s: &mut [T]) {
        let dv = self.dv;
        let v = self.v;
        o[..rows * dv].iter_mut().for_each(|v| *v = T::zero());
        let end = self.key_end(i0, rows);
        let mut j0 = 0;
        while j0 < end {
            let cols = BC.min(end - j0);
            self.scores(s, i0, rows, j0, cols);
            for r in 0..rows {
                let row = &mut s[r * cols..(r + 1) * cols];
                let (bj, bm) = row.iter().enumerate().fold((0, T::neg_infinity()), |(bj, bm), (j, &x)| if x > bm { (j, x) } else { (bj, bm) });
                if st.offer(r, bm, j0 + bj, &mut o[r * dv..(r + 1) * dv], v, dv) {
                    row[bj] = T::neg_infinity();
                }
                if st.m[r] == T::neg_infinity() {
                    row.iter_mut().for_each(|v| *v = T::zero());
                } else {
                    st.others[r] = st.others[r] + T::exp_sub_sum(row, st.m[r]);
                }
            }
            matmul(
                &mut o[..rows * dv],
                dv,
                View::rows(&s[..rows * cols], rows, cols, cols),
                View::rows(&v[j0 * dv..self.l * dv], cols, dv, dv),
                true,
                T::one(),
            );
            j0 += cols;
        }
    }

    /// Forward for all queries: `o` (`l × dv`) and `lse` (`l`). With `Par::Rayon` the query blocks
    /// run in parallel.
    pub fn forward(&self, o: &mut [T], lse: &mut [T], par: Par) {
        self.forward_kernel(o, lse, par, self.kernel());
    }

    /// [`Head::forward`] on a given kernel (the tests run each one the CPU has).
    ///
    /// # Panics
    /// When `kernel` is fused and does not take the head or the CPU lacks its instruction set.
    pub fn forward_kernel(&self, o: &mut [T], lse: &mut [T], par: Par, kernel: Kernel) {
        let mut arg = vec![NONE; self.l];
        self.forward_into(o, lse, &mut arg, None, None, par, kernel);
    }

    /// Forward for all queries: `o` (`l × dv`) and the [`Stats`] the backward needs.
    pub fn forward_with_stats(&self, o: &mut [T], par: Par) -> Stats<T> {
        self.forward_with_stats_kernel(o, par, self.kernel())
    }

    /// [`Head::forward_with_stats`] on a given kernel. The backward recomputes the scores by the
    /// fused kernel's contract when [`Head::fused`], so a tiled forward's statistics are only for the
    /// backward of heads the fused kernel does not take.
    pub fn forward_with_stats_kernel(&self, o: &mut [T], par: Par, kernel: Kernel) -> Stats<T> {
        let (l, dv) = (self.l, self.dv);
        let mut st = Stats { max: vec![T::zero(); l], norm: vec![T::zero(); l], arg: vec![NONE; l], rest: super::layer::zeros(l * dv) };
        let mut lse = vec![T::zero(); l];
        let mut mz = vec![T::zero(); 2 * l];
        self.forward_into(o, &mut lse, &mut st.arg, Some(&mut st.rest), Some(&mut mz), par, kernel);
        for i in 0..l {
            st.max[i] = mz[2 * i];
            st.norm[i] = mz[2 * i + 1];
        }
        st
    }

    #[allow(clippy::too_many_arguments)]
    fn forward_into(&self, o: &mut [T], lse: &mut [T], arg: &mut [u32], rest: Option<&mut [T]>, mz: Option<&mut [T]>, par: Par, kernel: Kernel) {
        let (l, dv) = (self.l, self.dv);
        assert!(o.len() >= l * dv && lse.len() >= l && arg.len() >= l && l < NONE as usize);
        // K and V packed once per head for the fused kernel
        let packed = match kernel {
            Kernel::Fused(isa) => {
                assert!(self.fused() && isa.available(), "the fused kernel on {isa:?} does not take this head here");
                Some((isa, self.pack(THREAD_BUFS.with(|b| std::mem::take(&mut b.borrow_mut().pack)))))
            }
            Kernel::Tiled => None,
        };
        // a head whose buffers a thread keeps for the next one
        let keep = l * (self.dk + dv + 1) <= KEEP_BUFS;
        let mut rest_blocks: Vec<Option<&mut [T]>> = match rest {
            Some(r) => r[..l * dv].chunks_mut(BR * dv).map(Some).collect(),
            None => (0..l.div_ceil(BR)).map(|_| None).collect(),
        };
        let mut mz_blocks: Vec<Option<&mut [T]>> = match mz {
            Some(r) => r[..2 * l].chunks_mut(2 * BR).map(Some).collect(),
            None => (0..l.div_ceil(BR)).map(|_| None).collect(),
        };
        let mut blocks: Vec<_> = o[..l * dv]
            .chunks_mut(BR * dv)
            .zip(lse[..l].chunks_mut(BR))
            .zip(arg[..l].chunks_mut(BR))
            .zip(rest_blocks.drain(..))
            .zip(mz_blocks.drain(..))
            .collect();
        let par = par.above(l * l * (self.dk + dv), 1 << 18);
        par.chunks_mut(&mut blocks, 1, |bi, item| {
            let ((((ob, lb), ab), rb), zb) = &mut item[0];
            let rows = lb.len();
            let out = Out { o: ob, lse: Some(lb), arg: Some(ab), rest: rb.as_deref_mut(), mz: zb.as_deref_mut() };
            match &packed {
                Some((isa, p)) => {
                    let mut scratch = THREAD_BUFS.with(|b| std::mem::take(&mut b.borrow_mut().scratch));
                    self.forward_rows_fused(p, *isa, bi * BR, rows, out, &mut scratch);
                    if keep {
                        THREAD_BUFS.with(|b| b.borrow_mut().scratch = scratch);
                    }
                }
                // A tile no larger than the prompt: a short prompt's call is not an allocation of BR × BC.
                None => self.forward_rows(bi * BR, rows, out, &mut vec![T::zero(); BR.min(l) * BC.min(l)]),
            }
        });
        if let Some((_, p)) = packed.filter(|_| keep) {
            THREAD_BUFS.with(|b| b.borrow_mut().pack = p.release());
        }
    }

    /// This `f32` head packed for the fused kernel, in the allocations of `bufs`.
    ///
    /// # Panics
    /// When the head is not `f32`.
    fn pack(&self, bufs: PackBufs) -> Packed<'a> {
        let f = |x: &'a [T]| T::as_f32(x).expect("f32");
        let lambda = self.lambda.f64() as f32;
        Packed::reusing(
            bufs,
            f(self.q),
            f(self.k),
            f(self.v),
            self.l,
            self.dk,
            self.dv,
            lambda,
            self.key_bias.map(f),
            self.mask == Mask::Causal,
            self.mask == Mask::NoSelf,
        )
    }

    /// The output `o` (`l × dv`) of the fused forward ([`Head::fused`] heads only) on the calling
    /// thread, without the log-sum-exp or statistics, in the allocations of `bufs`: the same bits as
    /// [`Head::forward`], for loops over many small prompts.
    ///
    /// # Panics
    /// When the fused kernel does not take the head.
    pub fn forward_fused_seq(&self, o: &mut [T], bufs: &mut FusedBufs) {
        let (l, dv) = (self.l, self.dv);
        assert!(self.fused() && o.len() >= l * dv && l < NONE as usize, "forward_fused_seq: a fused head");
        let p = self.pack(std::mem::take(&mut bufs.pack));
        let isa = simd::isa();
        for (bi, ob) in o[..l * dv].chunks_mut(BR * dv).enumerate() {
            let rows = ob.len() / dv;
            self.forward_rows_fused(&p, isa, bi * BR, rows, Out { o: ob, lse: None, arg: None, rest: None, mz: None }, &mut bufs.scratch);
        }
        bufs.pack = p.release();
    }

    /// Backward: adds the gradients to `dq` (`l × dk`), `dk` (`l × dk`) and `dv` (`l × dv`), given
    /// the forward's [`Stats`] and the upstream `d_o` (`l × dv`), on the calling thread.
    pub fn backward(&self, st: &Stats<T>, d_o: &[T], dq: &mut [T], dk_out: &mut [T], dv_out: &mut [T]) {
        self.backward_kernel(st, d_o, dq, dk_out, dv_out, Par::Seq, self.kernel());
    }

    /// [`Head::backward`] with the tiles of a head spread over threads (`par`): the same bits.
    pub fn backward_par(&self, st: &Stats<T>, d_o: &[T], dq: &mut [T], dk_out: &mut [T], dv_out: &mut [T], par: Par) {
        self.backward_kernel(st, d_o, dq, dk_out, dv_out, par, self.kernel());
    }

    /// The inputs of the fused backward ([`crate::kernels::attn_bwd`]) for this `f32` head.
    ///
    /// # Panics
    /// When `T` is not `f32`.
    pub(crate) fn fused_input<'b>(&'b self, st: &'b Stats<T>, d_o: &'b [T]) -> crate::kernels::attn_bwd::Input<'b> {
        let f = |x: &'b [T]| T::as_f32(x).expect("f32");
        crate::kernels::attn_bwd::Input {
            q: f(self.q),
            k: f(self.k),
            v: f(self.v),
            d_o: f(d_o),
            l: self.l,
            dk: self.dk,
            dv: self.dv,
            lambda: self.lambda.f64() as f32,
            bias: self.key_bias.map(f),
            causal: self.mask == Mask::Causal,
            no_self: self.mask == Mask::NoSelf,
            max: f(&st.max),
            norm: f(&st.norm),
            arg: &st.arg,
            rest: f(&st.rest),
        }
    }

    /// [`Head::backward_par`] on a given kernel: [`Kernel::Fused`] is the fused small-`d` backward of
    /// `crate::kernels::attn_bwd` (`f32`, `dk, dv ≤` `MAX_D`); [`Kernel::Tiled`] the tile
    /// products below (one thread, any type and size).
    ///
    /// # Panics
    /// When `kernel` is fused and does not take the head or the CPU lacks its instruction set.
    #[allow(clippy::too_many_arguments)]
    pub fn backward_kernel(&self, st: &Stats<T>, d_o: &[T], dq: &mut [T], dk_out: &mut [T], dv_out: &mut [T], par: Par, kernel: Kernel) {
        if let Kernel::Fused(isa) = kernel {
            assert!(self.fused() && isa.available(), "the fused kernel on {isa:?} does not take this head here");
            let inp = self.fused_input(st, d_o);
            let (dq, dk_out, dv_out) = (T::as_f32_mut(dq).expect("f32"), T::as_f32_mut(dk_out).expect("f32"), T::as_f32_mut(dv_out).expect("f32"));
            crate::kernels::attn_bwd::backward(isa, &inp, par, dq, dk_out, dv_out);
            return;
        }
        let (l, dk, dv) = (self.l, self.dk, self.dv);
        fn row<T>(m: &[T], i: usize, dv: usize) -> &[T] {
            &m[i * dv..(i + 1) * dv]
        }
        // c_i = ⟨dO_i, V_{a_i}⟩ = dP_{i a_i},  e_i = ⟨dO_i, O_i − V_{a_i}⟩ = Σ_{j≠a_i} P_ij (dP_ij − c_i)
        let dot = |a: &[T], b: &[T]| a.iter().zip(b).fold(T::zero(), |s, (&x, &y)| s + x * y);
        let c: Vec<T> = (0..l).map(|i| if st.arg[i] == NONE { T::zero() } else { dot(row(d_o, i, dv), row(self.v, st.arg[i] as usize, dv)) }).collect();
        let e: Vec<T> = (0..l).map(|i| dot(row(d_o, i, dv), row(&st.rest, i, dv))).collect();
        let inv_z: Vec<T> = st.norm.iter().map(|&z| if z > T::zero() { T::one() / z } else { T::zero() }).collect();
        let d_oz: Vec<T> = (0..l * dv).map(|t| d_o[t] * inv_z[t / dv]).collect();
        // Tiles no larger than the prompt.
        let tile = BR.min(l) * BC.min(l);
        let mut p = vec![T::zero(); tile];
        let mut ds = vec![T::zero(); tile];
        let mut j0 = 0;
        while j0 < l {
            // A chunk boundary: a long backward pass stops here when its call is cancelled.
            crate::kernels::cancel::checkpoint();
            let cols = BC.min(l - j0);
            let mut i0 = if self.mask == Mask::Causal { j0 - j0 % BR } else { 0 };
            while i0 < l {
                let rows = BR.min(l - i0);
                self.scores(&mut p, i0, rows, j0, cols);
                for r in 0..rows {
                    let row = &mut p[r * cols..(r + 1) * cols];
                    if st.arg[i0 + r] == NONE {
                        row.iter_mut().for_each(|v| *v = T::zero());
                    } else {
                        T::exp_sub_sum(row, st.max[i0 + r]);
                    }
                }
                // p holds e^{S − m} (P times z_i); 1/z_i goes on dO's rows (dV) and into dS
                let pv = &p[..rows * cols];
                let doi = &d_o[i0 * dv..l * dv];
                // dV_j += Pᵀ dO_i = (e^{S − m})ᵀ (dO_i / z_i)
                matmul(
                    &mut dv_out[j0 * dv..l * dv],
                    dv,
                    View::transposed(pv, cols, rows, cols),
                    View::rows(&d_oz[i0 * dv..l * dv], rows, dv, dv),
                    true,
                    T::one(),
                );
                // dP = dO_i V_jᵀ, then dS = P ⊙ ((dP − c) − e), and exactly −P e at the dominant key
                matmul(&mut ds[..rows * cols], cols, View::rows(doi, rows, dv, dv), View::transposed(&self.v[j0 * dv..l * dv], dv, cols, dv), false, T::one());
                for r in 0..rows {
                    let (ci, ei, inv) = (c[i0 + r], e[i0 + r], inv_z[i0 + r]);
                    for col in 0..cols {
                        let idx = r * cols + col;
                        ds[idx] = (pv[idx] * inv) * ((ds[idx] - ci) - ei);
                    }
                    let a = st.arg[i0 + r] as usize;
                    if a >= j0 && a < j0 + cols {
                        ds[r * cols + a - j0] = -((pv[r * cols + a - j0] * inv) * ei);
                    }
                }
                let dsv = &ds[..rows * cols];
                // dQ_i += λ dS K_j
                matmul(&mut dq[i0 * dk..l * dk], dk, View::rows(dsv, rows, cols, cols), View::rows(&self.k[j0 * dk..l * dk], cols, dk, dk), true, self.lambda);
                // dK_j += λ dSᵀ Q_i
                matmul(
                    &mut dk_out[j0 * dk..l * dk],
                    dk,
                    View::transposed(dsv, cols, rows, cols),
                    View::rows(&self.q[i0 * dk..l * dk], rows, dk, dk),
                    true,
                    self.lambda,
                );
                i0 += rows;
            }
            j0 += cols;
        }
    }
}
