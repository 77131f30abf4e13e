//! Eight xoshiro128++ generators side by side: the word source of bulk sampling.
//!
//! Lane `l` is an ordinary xoshiro128++ (Blackman and Vigna) whose 128-bit state is seeded by
//! SplitMix64 from `(key, l)`; a fill writes the lanes' outputs interleaved (`w[8i + l]` is lane
//! `l`'s `i`-th output). The AVX2 version advances the eight states in one register each and gives
//! exactly the words of the scalar version. Streams are keyed by `rng::derive`, so chunks are
//! independent and thread-independent.

#[cfg(target_arch = "x86_64")]
use crate::kernels::simd::has_avx2;

/// Eight xoshiro128++ states, lane-major: `s[k][l]` is word `k` of lane `l`.
pub struct Lanes {
    s: [[u32; 8]; 4],
}

impl Lanes {
    /// Lanes seeded from `key` by SplitMix64 (a zero state is impossible in practice and avoided).
    pub fn new(key: u64) -> Self {
        let mut x = key;
        let mut next = || {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        let mut s = [[0u32; 8]; 4];
        for l in 0..8 {
            let (a, b) = (next(), next());
            s[0][l] = a as u32;
            s[1][l] = (a >> 32) as u32;
            s[2][l] = b as u32;
            s[3][l] = (b >> 32) as u32 | 1;
        }
        Lanes { s }
    }

    /// The state of lane `l` as the 16 little-endian bytes xoshiro128++ is seeded with.
    #[cfg(test)]
    pub fn lane_seed(&self, l: usize) -> [u8; 16] {
        let mut b = [0u8; 16];
        for k in 0..4 {
            b[4 * k..4 * k + 4].copy_from_slice(&self.s[k][l].to_le_bytes());
        }
        b
    }

    /// Lane `l`'s output, then one step of its state.
    #[inline(always)]
    fn next(&mut self, l: usize) -> u32 {
        let s = &mut self.s;
        let out = s[0][l].wrapping_add(s[3][l]).rotate_left(7).wrapping_add(s[0][l]);
        let t = s[1][l] << 9;
        s[2][l] ^= s[0][l];
        s[3][l] ^= s[1][l];
        s[1][l] ^= s[2][l];
        s[0][l] ^= s[3][l];
        s[2][l] ^= t;
        s[3][l] = s[3][l].rotate_left(11);
        out
    }

    fn fill_portable(&mut self, out: &mut [u32]) {
        for block in out.chunks_mut(8) {
            for l in 0..8 {
                // Lanes past the end of a short last block still advance, as in the AVX2 version.
                let w = self.next(l);
                if let Some(slot) = block.get_mut(l) {
                    *slot = w;
                }
            }
        }
    }

    /// # Safety
    /// The CPU must support AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn fill_avx2(&mut self, out: &mut [u32]) {
        use std::arch::x86_64::*;
        let ld = |k: usize| _mm256_loadu_si256(self.s[k].as_ptr() as *const __m256i);
        let (mut s0, mut s1, mut s2, mut s3) = (ld(0), ld(1), ld(2), ld(3));
        let rotl = |x: __m256i, r: i32| -> __m256i {
            // SAFETY (of the intrinsics): only called inside this AVX2 function.
            _mm256_or_si256(_mm256_sll_epi32(x, _mm_cvtsi32_si128(r)), _mm256_srl_epi32(x, _mm_cvtsi32_si128(32 - r)))
        };
        let (n, full) = (out.len(), out.len() / 8 * 8);
        let mut i = 0;
        while i < n {
            let w = _mm256_add_epi32(rotl(_mm256_add_epi32(s0, s3), 7), s0);
            if i < full {
                // SAFETY: i + 8 ≤ full ≤ out.len().
                _mm256_storeu_si256(out.as_mut_ptr().add(i) as *mut __m256i, w);
            } else {
                let mut tmp = [0u32; 8];
                _mm256_storeu_si256(tmp.as_mut_ptr() as *mut __m256i, w);
                out[i..].copy_from_slice(&tmp[..n - i]);
            }
            let t = _mm256_slli_epi32::<9>(s1);
            s2 = _mm256_xor_si256(s2, s0);
            s3 = _mm256_xor_si256(s3, s1);
            s1 = _mm256_xor_si256(s1, s2);
            s0 = _mm256_xor_si256(s0, s3);
            s2 = _mm256_xor_si256(s2, t);
            s3 = rotl(s3, 11);
            i += 8;
        }
        for (k, v) in [s0, s1, s2, s3].into_iter().enumerate() {
            _mm256_storeu_si256(self.s[k].as_mut_ptr() as *mut __m256i, v);
        }
    }

    /// Fills `out` with the lanes' next words, interleaved.
    pub fn fill(&mut self, out: &mut [u32]) {
        #[cfg(target_arch = "x86_64")]
        if has_avx2() {
            // SAFETY: AVX2 is present.
            unsafe { self.fill_avx2(out) };
            return;
        }
        self.fill_portable(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_xoshiro::rand_core::{Rng, SeedableRng};
    use rand_xoshiro::Xoshiro128PlusPlus;

    #[test]
    fn each_lane_is_xoshiro128plusplus() {
        let mut lanes = Lanes::new(12345);
        let mut refs: Vec<Xoshiro128PlusPlus> = (0..8).map(|l| Xoshiro128PlusPlus::from_seed(lanes.lane_seed(l))).collect();
        let mut w = vec![0u32; 8 * 100];
        lanes.fill(&mut w);
        for i in 0..100 {
            for l in 0..8 {
                assert_eq!(w[8 * i + l], refs[l].next_u32(), "lane {l}, word {i}");
            }
        }
    }

    #[test]
    fn avx2_equals_portable_for_any_length() {
        for n in [0, 1, 7, 8, 9, 63, 64, 65, 1000] {
            let (mut a, mut b) = (Lanes::new(n as u64), Lanes::new(n as u64));
            let (mut wa, mut wb) = (vec![0u32; n], vec![0u32; n]);
            a.fill(&mut wa);
            b.fill_portable(&mut wb);
            assert_eq!(wa, wb);
            // and the states continue identically
            let (mut xa, mut xb) = (vec![0u32; 16], vec![0u32; 16]);
            a.fill(&mut xa);
            b.fill_portable(&mut xb);
            assert_eq!(xa, xb);
        }
    }
}
