//! Randomness: one ChaCha8 stream per (seed, purpose), minibatch sampling and
//! label noise. Every random number is drawn in f64, so runs at any precision
//! with the same seed see the same noise path, and results never depend on the
//! number of threads (each run owns its stream).

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
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
                *x = self.rng.sample(StandardNormal);
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
