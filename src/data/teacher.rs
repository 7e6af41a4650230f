//! The synthetic teacher–student task for the [`Mlp`]: Gaussian inputs, a
//! small tanh teacher network of the same form, noisy training labels and a
//! large held-out sample (`proofs/models.md`, "Mlp"). Its random numbers come
//! from their own stream, [`stream::TEACHER`].

use rand_chacha::ChaCha8Rng;

use super::{DataError, Dataset};
use crate::field_error::FieldError;
use crate::linalg::Mat;
use crate::model::{Mlp, Model};
use crate::noise::{rng_for, stream};

/// Settings of the synthetic teacher–student task.
#[derive(Debug, Clone, PartialEq)]
pub struct TeacherConfig {
    /// Training samples n.
    pub n: usize,
    /// Input dimension d.
    pub d: usize,
    /// Hidden units of the teacher network.
    pub teacher_width: usize,
    /// Held-out samples used for the test loss.
    pub n_test: usize,
    /// Noise σ_ε added to the training labels (0 = noiseless).
    pub target_noise_sigma: f64,
    /// Seed of inputs, teacher weights and label noise.
    pub seed: u64,
}

impl Default for TeacherConfig {
    fn default() -> Self {
        Self {
            n: 20,
            d: 10,
            teacher_width: 2,
            n_test: 4000,
            target_noise_sigma: 0.0,
            seed: 20_240_602,
        }
    }
}

/// A teacher network, training data from it and a held-out test sample.
#[derive(Debug, Clone)]
pub struct TeacherTask {
    /// The teacher architecture (width `teacher_width`).
    pub teacher: Mlp,
    /// The teacher parameters.
    pub teacher_theta: Vec<f64>,
    /// Training data (β* unknown: the task is not linear).
    pub train: Dataset<f64>,
    /// Held-out inputs (`n_test` × d).
    pub test_x: Mat<f64>,
    /// Held-out noiseless teacher outputs.
    pub test_y: Vec<f64>,
}

impl TeacherTask {
    /// Draw the task: x ~ N(0, I_d); teacher rows w_k = e_k·2 (k-th unit
    /// vector scaled by 2, so the target uses only the first `teacher_width`
    /// inputs — a sparse nonlinear target), a_k = ±√width alternating, so that
    /// f*(x) = Σ_k ±tanh(2 x_k).
    pub fn new(cfg: &TeacherConfig) -> Result<Self, DataError> {
        let bad = |field: &'static str, value: String, reason: &str| {
            DataError::InvalidField(FieldError::new(field, value, reason))
        };
        if cfg.n == 0 {
            return Err(bad("n", "0".into(), "need at least one sample"));
        }
        if cfg.d == 0 {
            return Err(bad("d", "0".into(), "need at least one input"));
        }
        if cfg.teacher_width == 0 || cfg.teacher_width > cfg.d {
            return Err(bad(
                "teacher_width",
                cfg.teacher_width.to_string(),
                &format!("must be in 1..=d = {}", cfg.d),
            ));
        }
        if cfg.n_test == 0 {
            return Err(bad("n_test", "0".into(), "need a held-out sample"));
        }
        FieldError::check_non_negative("target_noise_sigma", cfg.target_noise_sigma)
            .map_err(DataError::InvalidField)?;
        let (d, mt) = (cfg.d, cfg.teacher_width);
        let teacher = Mlp::new(d, mt);
        let mut teacher_theta = vec![0.0; mt * d + mt];
        for k in 0..mt {
            teacher_theta[k * d + k] = 2.0;
            teacher_theta[mt * d + k] = if k % 2 == 0 { 1.0 } else { -1.0 } * (mt as f64).sqrt();
        }
        // Inputs, held-out inputs and label noise, in this order, from the
        // task's own stream (not SGD's: a run on this task with the same seed
        // must not reuse its data's random numbers).
        let mut rng: ChaCha8Rng = rng_for(cfg.seed, stream::TEACHER);
        let mut draw = |rows: usize| {
            let v: Vec<f64> = (0..rows * d)
                .map(|_| crate::noise::standard_normal(&mut rng))
                .collect();
            Mat::from_f64(rows, d, &v, ())
        };
        let x = draw(cfg.n);
        let test_x = draw(cfg.n_test);
        let label = |x: &Mat<f64>| -> Vec<f64> {
            let mut ws = Model::<f64>::workspace(&teacher, ());
            (0..x.rows())
                .map(|i| {
                    let mut f = 0.0;
                    teacher.predict_into(&teacher_theta, x.row(i), &mut f, &mut ws);
                    f
                })
                .collect()
        };
        let mut y = label(&x);
        let test_y = label(&test_x);
        for yi in y.iter_mut() {
            let z: f64 = crate::noise::standard_normal(&mut rng);
            *yi += cfg.target_noise_sigma * z;
        }
        let train = Dataset::from_parts(x, y, None, vec![1.0; d], cfg.target_noise_sigma, false)?;
        Ok(Self {
            teacher,
            teacher_theta,
            train,
            test_x,
            test_y,
        })
    }

    /// Test loss of the zero predictor, ½·mean(y_test²) (the scale of the task).
    pub fn null_test_loss(&self) -> f64 {
        0.5 * self.test_y.iter().map(|y| y * y).sum::<f64>() / self.test_y.len() as f64
    }
}
