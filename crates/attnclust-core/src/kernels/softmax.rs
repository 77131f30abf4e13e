//! The max-subtracted softmax: `softmax(s)_i = exp(s_i − m) / Σ_j exp(s_j − m)`, `m = max_j s_j`.
//!
//! Subtracting the maximum makes every exponent ≤ 0, so no score, however large `λ` makes it,
//! overflows; the largest term is exactly 1, so the sum is ≥ 1 and never underflows to 0.
//! Entries equal to `-∞` (masked) get weight 0.

use crate::kernels::real::Real;

/// Replaces `s` by `softmax(s)` in place. An empty slice is left as it is; a slice whose
/// entries are all `-∞` is set to 0 everywhere (nothing to attend to).
pub fn softmax_in_place<T: Real>(s: &mut [T]) {
    let m = s.iter().copied().fold(T::neg_infinity(), T::max);
    if m == T::neg_infinity() {
        s.iter_mut().for_each(|v| *v = T::zero());
        return;
    }
    let mut sum = T::zero();
    for v in s.iter_mut() {
        *v = (*v - m).exp();
        sum = sum + *v;
    }
    let inv = T::one() / sum;
    s.iter_mut().for_each(|v| *v = *v * inv);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_to_one_and_survives_huge_scores() {
        let mut s = vec![1e30f64, -1e30, 0.0, 1e30];
        softmax_in_place(&mut s);
        assert_eq!(s, vec![0.5, 0.0, 0.0, 0.5]);
        let mut s = vec![1.0f32, 2.0, 3.0];
        softmax_in_place(&mut s);
        assert!((s.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        let mut e: Vec<f64> = vec![];
        softmax_in_place(&mut e);
        let mut m = vec![f64::NEG_INFINITY; 3];
        softmax_in_place(&mut m);
        assert_eq!(m, vec![0.0; 3]);
    }
}
