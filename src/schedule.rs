//! Learning-rate schedules η_k.
//!
//! The object of study is the decay step T of [`Schedule::StepDecay`]: η₁ for
//! k < T, then η₂. Times used by the continuous limits: t = Σ η_k (SDE time) and
//! τ = Σ η_k² (slow-flow time), see [`Schedule::sde_time`], [`Schedule::flow_time`].

use crate::field_error::FieldError;
use serde::{Deserialize, Serialize};

/// Invalid schedule parameter (names the field and value).
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("invalid schedule: {0}")]
pub struct ScheduleError(pub FieldError);

/// A learning-rate schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Schedule {
    /// η_k = lr.
    Constant { lr: f64 },
    /// η₁ = `lr` for k < `decay_step`, then `lr_after`.
    StepDecay {
        lr: f64,
        lr_after: f64,
        decay_step: u64,
    },
    /// η_k = `lr` · Π_{m ≤ k} `factor` over the milestones passed.
    MultiStep {
        lr: f64,
        milestones: Vec<u64>,
        factor: f64,
    },
    /// Cosine from `lr` to `lr_min` over `total_steps`, then `lr_min`.
    Cosine {
        lr: f64,
        lr_min: f64,
        total_steps: u64,
    },
    /// Linear warm-up from `lr_start` over `warmup_steps`, then `after`
    /// (whose step counter starts at the end of the warm-up).
    Warmup {
        warmup_steps: u64,
        lr_start: f64,
        after: Box<Schedule>,
    },
}

fn check_lr(field: &'static str, lr: f64) -> Result<(), ScheduleError> {
    if lr.is_finite() && lr > 0.0 {
        Ok(())
    } else {
        Err(ScheduleError(FieldError::new(
            field,
            lr,
            "learning rates must be finite and > 0",
        )))
    }
}

impl Schedule {
    /// Step decay η₁ → η₂ at `decay_step`, checked.
    ///
    /// # Examples
    /// ```
    /// use latedecay::schedule::Schedule;
    /// let s = Schedule::step_decay(0.004, 0.0004, 1000).unwrap();
    /// assert_eq!(s.lr(999), 0.004);
    /// assert_eq!(s.lr(1000), 0.0004);
    /// ```
    pub fn step_decay(lr: f64, lr_after: f64, decay_step: u64) -> Result<Self, ScheduleError> {
        let s = Schedule::StepDecay {
            lr,
            lr_after,
            decay_step,
        };
        s.validate()?;
        Ok(s)
    }

    /// Constant schedule, checked.
    pub fn constant(lr: f64) -> Result<Self, ScheduleError> {
        let s = Schedule::Constant { lr };
        s.validate()?;
        Ok(s)
    }

    /// Check every field.
    pub fn validate(&self) -> Result<(), ScheduleError> {
        match self {
            Schedule::Constant { lr } => check_lr("lr", *lr),
            Schedule::StepDecay { lr, lr_after, .. } => {
                check_lr("lr", *lr)?;
                check_lr("lr_after", *lr_after)
            }
            Schedule::MultiStep {
                lr,
                milestones,
                factor,
            } => {
                check_lr("lr", *lr)?;
                FieldError::check_positive("factor", *factor).map_err(ScheduleError)?;
                if milestones.windows(2).any(|w| w[0] >= w[1]) {
                    return Err(ScheduleError(FieldError::new(
                        "milestones",
                        format!("{milestones:?}"),
                        "must be strictly increasing",
                    )));
                }
                Ok(())
            }
            Schedule::Cosine {
                lr,
                lr_min,
                total_steps,
            } => {
                check_lr("lr", *lr)?;
                if !(lr_min.is_finite() && *lr_min >= 0.0 && lr_min <= lr) {
                    return Err(ScheduleError(FieldError::new(
                        "lr_min",
                        lr_min,
                        "must be finite, ≥ 0 and ≤ lr",
                    )));
                }
                if *total_steps == 0 {
                    return Err(ScheduleError(FieldError::new(
                        "total_steps",
                        "0",
                        "must be > 0",
                    )));
                }
                Ok(())
            }
            Schedule::Warmup {
                lr_start, after, ..
            } => {
                FieldError::check_non_negative("lr_start", *lr_start).map_err(ScheduleError)?;
                after.validate()
            }
        }
    }

    /// Learning rate η_k at step k (k = 0, 1, …).
    #[inline]
    pub fn lr(&self, step: u64) -> f64 {
        match self {
            Schedule::Constant { lr } => *lr,
            Schedule::StepDecay {
                lr,
                lr_after,
                decay_step,
            } => {
                if step < *decay_step {
                    *lr
                } else {
                    *lr_after
                }
            }
            Schedule::MultiStep {
                lr,
                milestones,
                factor,
            } => {
                let passed = milestones.iter().filter(|&&m| step >= m).count();
                lr * factor.powi(passed as i32)
            }
            Schedule::Cosine {
                lr,
                lr_min,
                total_steps,
            } => {
                if step >= *total_steps {
                    *lr_min
                } else {
                    let frac = step as f64 / *total_steps as f64;
                    lr_min + 0.5 * (lr - lr_min) * (1.0 + (std::f64::consts::PI * frac).cos())
                }
            }
            Schedule::Warmup {
                warmup_steps,
                lr_start,
                after,
            } => {
                if step < *warmup_steps {
                    let target = after.lr(0);
                    lr_start + (target - lr_start) * step as f64 / *warmup_steps as f64
                } else {
                    after.lr(step - warmup_steps)
                }
            }
        }
    }

    /// Where η is constant from `step` on: `Some(next)` with η_k = η_step for
    /// step ≤ k < next (`u64::MAX`: for ever), `None` if the schedule may
    /// change at the next step (cosine, warm-up). Lets SGD's fast path take
    /// η out of its step loop; the value is always [`Schedule::lr`]'s.
    pub fn constant_until(&self, step: u64) -> Option<u64> {
        match self {
            Schedule::Constant { .. } => Some(u64::MAX),
            Schedule::StepDecay { decay_step, .. } => Some(if step < *decay_step {
                *decay_step
            } else {
                u64::MAX
            }),
            Schedule::MultiStep { milestones, .. } => Some(
                milestones
                    .iter()
                    .copied()
                    .filter(|&m| m > step)
                    .min()
                    .unwrap_or(u64::MAX),
            ),
            Schedule::Cosine { .. } | Schedule::Warmup { .. } => None,
        }
    }

    /// Largest learning rate over the first `steps` steps.
    pub fn max_lr(&self, steps: u64) -> f64 {
        match self {
            Schedule::Constant { lr } => *lr,
            Schedule::StepDecay { lr, lr_after, .. } => lr.max(*lr_after),
            _ => (0..steps.min(1_000_000))
                .map(|k| self.lr(k))
                .fold(0.0, f64::max),
        }
    }

    /// SDE time after `steps` steps: t = Σ_{k<steps} η_k.
    pub fn sde_time(&self, steps: u64) -> f64 {
        self.sum_powers(steps, 1)
    }

    /// Slow-flow time after `steps` steps: τ = Σ_{k<steps} η_k².
    pub fn flow_time(&self, steps: u64) -> f64 {
        self.sum_powers(steps, 2)
    }

    fn sum_powers(&self, steps: u64, power: i32) -> f64 {
        match self {
            Schedule::Constant { lr } => steps as f64 * lr.powi(power),
            Schedule::StepDecay {
                lr,
                lr_after,
                decay_step,
            } => {
                let before = steps.min(*decay_step) as f64;
                let after = steps.saturating_sub(*decay_step) as f64;
                before * lr.powi(power) + after * lr_after.powi(power)
            }
            _ => {
                // Kahan summation keeps the sum exact to f64 roundoff over long runs.
                let (mut sum, mut comp) = (0.0f64, 0.0f64);
                for k in 0..steps {
                    let term = self.lr(k).powi(power) - comp;
                    let next = sum + term;
                    comp = (next - sum) - term;
                    sum = next;
                }
                sum
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_have_expected_values() {
        let m = Schedule::MultiStep {
            lr: 1.0,
            milestones: vec![10, 20],
            factor: 0.1,
        };
        assert_eq!(m.lr(9), 1.0);
        assert!((m.lr(10) - 0.1).abs() < 1e-15);
        assert!((m.lr(25) - 0.01).abs() < 1e-15);
        let c = Schedule::Cosine {
            lr: 1.0,
            lr_min: 0.0,
            total_steps: 100,
        };
        assert_eq!(c.lr(0), 1.0);
        assert!((c.lr(50) - 0.5).abs() < 1e-12);
        assert_eq!(c.lr(100), 0.0);
        let w = Schedule::Warmup {
            warmup_steps: 10,
            lr_start: 0.0,
            after: Box::new(Schedule::Constant { lr: 1.0 }),
        };
        assert_eq!(w.lr(0), 0.0);
        assert!((w.lr(5) - 0.5).abs() < 1e-15);
        assert_eq!(w.lr(10), 1.0);
    }

    #[test]
    fn constant_until_marks_where_lr_may_change() {
        let piecewise = [
            Schedule::Constant { lr: 0.3 },
            Schedule::step_decay(0.1, 0.01, 7).unwrap(),
            Schedule::MultiStep {
                lr: 1.0,
                milestones: vec![20, 10],
                factor: 0.5,
            },
        ];
        for s in &piecewise {
            for k in 0..30u64 {
                let next = s.constant_until(k).expect("piecewise constant");
                assert!(next > k);
                for j in k..next.min(40) {
                    assert_eq!(s.lr(j).to_bits(), s.lr(k).to_bits(), "{s:?} {k} {j}");
                }
                if next < 40 {
                    assert_ne!(s.lr(next), s.lr(k), "{s:?}: η changes at {next}");
                }
            }
        }
        let c = Schedule::Cosine {
            lr: 1.0,
            lr_min: 0.0,
            total_steps: 100,
        };
        assert_eq!(c.constant_until(3), None);
    }

    #[test]
    fn times_match_direct_sums() {
        let s = Schedule::step_decay(0.1, 0.01, 7).unwrap();
        let direct: f64 = (0..20).map(|k| s.lr(k)).sum();
        assert!((s.sde_time(20) - direct).abs() < 1e-14);
        let direct2: f64 = (0..20).map(|k| s.lr(k).powi(2)).sum();
        assert!((s.flow_time(20) - direct2).abs() < 1e-15);
    }

    #[test]
    fn invalid_fields_are_named() {
        let e = Schedule::step_decay(0.1, -1.0, 5).unwrap_err();
        assert_eq!(e.0.field, "lr_after");
        assert!(e.to_string().contains("-1"));
    }
}
