//! Deterministic random streams.
//!
//! Every random draw in attnclust comes from a generator fixed by three numbers: the user's
//! `seed`, a `stream` that names what is drawn (a training step, a prompt, a purpose), and the
//! index of the fixed-size `chunk` of work it belongs to. The three are mixed by SplitMix64 into
//! the 256-bit key of a ChaCha8 generator, so chunks can be drawn in any order, on any thread.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// The generator every stream uses: ChaCha with 8 rounds (`rand_chacha`), keyed by [`gen`].
pub type Gen = ChaCha8Rng;

/// Number of samples drawn from one generator by the samplers (a fixed size: results do not
/// depend on the thread count).
pub const SAMPLE_CHUNK: usize = 1024;

/// Named purposes, so that two uses of the same seed never share a stream.
pub mod purpose {
    /// Samples of a mixture ([`crate::data::gmm::Mixture::sample`]).
    pub const SAMPLE: u64 = 0x5341_4d50;
    /// Initial head parameters ([`crate::train::init::init_params`]).
    pub const INIT: u64 = 0x494e_4954;
    /// The fresh samples of each online-SGD step ([`crate::train::two_head`]).
    pub const TRAIN: u64 = 0x5452_4149;
    /// The mixtures and tokens of in-context prompts ([`crate::data::prior::Prior`]).
    pub const PRIOR: u64 = 0x5052_494f;
    /// The k-means++ seeding and restarts ([`crate::baselines::kmeans`]).
    pub const KMEANS: u64 = 0x4b4d_4541;
    /// The prompts of each training step of model C ([`crate::train::attention`]).
    pub const ATTENTION: u64 = 0x4154_544e;
}

#[inline]
fn splitmix(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The generator of chunk `chunk` of stream `stream` under `seed`.
pub fn gen(seed: u64, stream: u64, chunk: u64) -> Gen {
    // A chained hash: each number is absorbed into the state of the previous one.
    let mut s = seed;
    let mut t = stream ^ splitmix(&mut s);
    let mut mix = chunk ^ splitmix(&mut t);
    let mut key = [0u8; 32];
    for word in key.chunks_mut(8) {
        word.copy_from_slice(&splitmix(&mut mix).to_le_bytes());
    }
    ChaCha8Rng::from_seed(key)
}

/// The stream number of item `index` of a `purpose` (one of [`purpose`]).
#[inline]
pub fn stream(purpose: u64, index: u64) -> u64 {
    (purpose << 32) ^ index
}

/// A new seed for item `index` of a `purpose`, for APIs that take a seed (e.g. the prompts of
/// training step `index`).
pub fn derive(seed: u64, purpose: u64, index: u64) -> u64 {
    let mut s = seed;
    let mut t = stream(purpose, index) ^ splitmix(&mut s);
    splitmix(&mut t)
}

/// A standard normal draw: `rand_distr`'s `StandardNormal`, the ziggurat method (Marsaglia and
/// Tsang 2000, in Doornik's ZIGNOR variant) on the generator's 64-bit words.
#[inline]
pub fn normal(g: &mut Gen) -> f64 {
    StandardNormal.sample(g)
}

/// A uniform draw in `[0, 1)`: the top 53 bits of a 64-bit word times `2⁻⁵³` (`rand`'s `f64`).
#[inline]
pub fn uniform(g: &mut Gen) -> f64 {
    use rand::RngExt;
    g.random::<f64>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_and_chunks_differ_and_repeat() {
        let a = normal(&mut gen(1, 2, 3));
        assert_eq!(a, normal(&mut gen(1, 2, 3)));
        assert_ne!(a, normal(&mut gen(1, 2, 4)));
        assert_ne!(a, normal(&mut gen(1, 3, 3)));
        assert_ne!(a, normal(&mut gen(2, 2, 3)));
        // seed and stream must not be interchangeable
        assert_ne!(normal(&mut gen(5, 7, 0)), normal(&mut gen(7, 5, 0)));
    }

    #[test]
    fn normal_moments() {
        let mut g = gen(42, 0, 0);
        let n = 200_000;
        let (mut s, mut s2) = (0.0, 0.0);
        for _ in 0..n {
            let z = normal(&mut g);
            s += z;
            s2 += z * z;
        }
        let m = s / n as f64;
        assert!(m.abs() < 0.01, "mean {m}");
        assert!((s2 / n as f64 - 1.0).abs() < 0.02);
    }
}
