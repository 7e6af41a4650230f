//! Randomness: one ChaCha8 stream per (seed, purpose), minibatch sampling and
//! label noise. Every random number is drawn in f64, so runs at any precision
//! with the same seed see the same noise path, and results never depend on the
//! number of threads (each run owns its stream). Normal draws go through
//! [`standard_normal`], rand_distr's ziggurat with its common case written
//! here so that it inlines into vector loops (same bits; see its doc).

use rand::distr::Open01;
use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Purposes of random streams derived from one seed.
pub mod stream {
    /// Minibatch indices and label noise of SGD.
    pub const SGD: u64 = 1;
    /// Random initialization.
    pub const INIT: u64 = 2;
    /// Brownian increments of SDE solvers.
    pub const BROWNIAN: u64 = 3;
    /// Isotropic parameter noise of SGD (noise.kind = "isotropic").
    pub const PARAM_NOISE: u64 = 4;
    /// Resampling indices of the percentile bootstrap (`stats::bootstrap_median_ci`).
    pub const BOOTSTRAP: u64 = 5;
    /// Inputs and label noise of the synthetic teacher–student task
    /// (`data::teacher`).
    pub const TEACHER: u64 = 6;
}

/// A ChaCha8 generator for `seed`, on the independent stream `purpose`.
///
/// # Examples
/// ```
/// use latedecay::noise::{rng_for, stream};
/// use rand::RngExt;
/// let a: u64 = rng_for(7, stream::SGD).random();
/// let b: u64 = rng_for(7, stream::SGD).random();
/// assert_eq!(a, b);
/// ```
pub fn rng_for(seed: u64, purpose: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(purpose);
    rng
}

mod ziggurat_tables;
use ziggurat_tables::{ZIG_NORM_F, ZIG_NORM_R, ZIG_NORM_X};

/// A standard normal draw: rand_distr 0.6's `StandardNormal` (256-layer
/// ziggurat), the same words of the stream and the same bits
/// (`standard_normal_is_rand_distrs` checks 10⁷ draws, tail and rejections
/// included), with its first test — taken by ≈ 99% of draws — written here
/// so that it inlines into the SGD fast path's `#[target_feature]` loop.
/// Why by hand: rand_distr's sampler is not inlined there, and each call
/// spilled the loop's live vector registers (the step's coefficient
/// among them) around a `vzeroupper`, on the step's critical path; inlined,
/// the benchmark step runs 11% faster (README, Benchmarks). The rare paths
/// (the base layer's tail, the wedge rejections) stay out of line.
///
/// # Examples
/// ```
/// use latedecay::noise::{rng_for, standard_normal, stream};
/// use rand::RngExt;
/// let (mut a, mut b) = (rng_for(3, stream::SGD), rng_for(3, stream::SGD));
/// let z: f64 = a.sample(rand_distr::StandardNormal);
/// assert_eq!(standard_normal(&mut b).to_bits(), z.to_bits());
/// ```
#[inline(always)]
pub fn standard_normal<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    let (i, u, x) = ziggurat_layer(rng.next_u64());
    if x.abs() < ZIG_NORM_X[i + 1] {
        return x;
    }
    standard_normal_rare(rng, i, u, x)
}

/// Layer i (the low 8 bits), u ∈ [−1, 1) (the high 52 bits, as rand_distr's
/// `into_float_with_exponent(1) − 3`) and x = u·x_i of one ziggurat word.
#[inline(always)]
fn ziggurat_layer(bits: u64) -> (usize, f64, f64) {
    let i = (bits & 0xff) as usize;
    let u = f64::from_bits((bits >> 12) | (1024 << 52)) - 3.0;
    (i, u, u * ZIG_NORM_X[i])
}

/// The rest of rand_distr's ziggurat loop after a failed first test.
#[cold]
#[inline(never)]
fn standard_normal_rare<R: Rng + ?Sized>(rng: &mut R, mut i: usize, mut u: f64, mut x: f64) -> f64 {
    loop {
        if i == 0 {
            // The tail beyond r (rand_distr's `zero_case`).
            let (mut tx, mut ty) = (1.0f64, 0.0f64);
            while -2.0 * ty < tx * tx {
                let x_: f64 = rng.sample(Open01);
                let y_: f64 = rng.sample(Open01);
                tx = x_.ln() / ZIG_NORM_R;
                ty = y_.ln();
            }
            return if u < 0.0 {
                tx - ZIG_NORM_R
            } else {
                ZIG_NORM_R - tx
            };
        }
        let f = rng.random::<f64>();
        if ZIG_NORM_F[i + 1] + (ZIG_NORM_F[i] - ZIG_NORM_F[i + 1]) * f < (-x * x / 2.0).exp() {
            return x;
        }
        (i, u, x) = ziggurat_layer(rng.next_u64());
        if x.abs() < ZIG_NORM_X[i + 1] {
            return x;
        }
    }
}

/// How minibatch indices are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Sampling {
    /// B indices uniform on {0..n−1}, with replacement, independently each step.
    #[default]
    WithReplacement,
    /// Reshuffle once per epoch and take consecutive batches (without replacement).
    Shuffle,
}

/// Source of minibatch indices and label noise for one SGD run.
#[derive(Debug, Clone)]
pub struct BatchNoise {
    rng: ChaCha8Rng,
    sampling: Sampling,
    n: u32,
    label_noise: bool,
    permutation: Vec<u32>,
    position: usize,
}

impl BatchNoise {
    /// New source for n samples; `label_noise` = whether to draw ξ.
    pub fn new(seed: u64, n: usize, sampling: Sampling, label_noise: bool) -> Self {
        let n32 = u32::try_from(n).expect("more than 2^32 samples");
        Self {
            rng: rng_for(seed, stream::SGD),
            sampling,
            n: n32,
            label_noise,
            permutation: (0..n32).collect(),
            position: n,
        }
    }

    /// Fill `indices` with the next batch and `xi` (same length) with standard
    /// normal label noise (left untouched when label noise is off).
    #[inline(always)]
    pub fn next_batch(&mut self, indices: &mut [usize], xi: &mut [f64]) {
        match self.sampling {
            Sampling::WithReplacement => {
                for i in indices.iter_mut() {
                    *i = self.rng.random_range(0..self.n) as usize;
                }
            }
            Sampling::Shuffle => {
                for i in indices.iter_mut() {
                    if self.position >= self.permutation.len() {
                        self.reshuffle();
                    }
                    *i = self.permutation[self.position] as usize;
                    self.position += 1;
                }
            }
        }
        if self.label_noise {
            for x in xi.iter_mut() {
                *x = standard_normal(&mut self.rng);
            }
        }
    }

    fn reshuffle(&mut self) {
        // Fisher–Yates with u32 draws (platform-independent).
        for i in (1..self.permutation.len()).rev() {
            let j = self.rng.random_range(0..=(i as u32)) as usize;
            self.permutation.swap(i, j);
        }
        self.position = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_distr::StandardNormal;

    /// The same bits and the same stream position as rand_distr's sampler,
    /// draw by draw; the rare paths are exercised (a draw that consumed more
    /// than one word went through the tail or a wedge rejection).
    #[test]
    fn standard_normal_is_rand_distrs() {
        let (mut rare, mut tail) = (0u64, 0u64);
        for seed in 0..20u64 {
            let mut a = rng_for(seed, stream::SGD);
            let mut b = rng_for(seed, stream::SGD);
            for k in 0..500_000 {
                let before = b.get_word_pos();
                let want: f64 = a.sample(StandardNormal);
                let got = standard_normal(&mut b);
                assert_eq!(got.to_bits(), want.to_bits(), "seed {seed}, draw {k}");
                assert_eq!(a.get_word_pos(), b.get_word_pos(), "seed {seed}, draw {k}");
                rare += u64::from(b.get_word_pos() - before > 2);
                tail += u64::from(got.abs() > ZIG_NORM_R);
            }
        }
        // ≈ 1.2% of draws are rare, ≈ 2.6·10⁻⁴ fall in the tail (of 10⁷).
        assert!(rare > 50_000, "{rare} rare draws");
        assert!(tail > 1_000, "{tail} tail draws");
    }
}
