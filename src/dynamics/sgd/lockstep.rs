//! Seeds in lockstep: S runs of the same problem and method (Diagonal, f64,
//! B = 1, label or no noise), each with its own ChaCha8 stream, advanced
//! together with the seeds in the vector lanes (structure of arrays,
//! coordinate-major: `u[j·P + s]`). Each seed samples its own row, so the
//! loads of x are gathers (`Lanes::gather`).
//!
//! Per seed, every operation is the single run's in its order — lane `l` of
//! the 8 accumulators sums the elements 8m + l, reduced as
//! ((a0+a4)+(a1+a5))+((a2+a6)+(a3+a7)), the tail in index order and added
//! last — so each seed's iterate, records and stop reason are bit-identical
//! to [`super::run_sgd_recording`] on that seed alone (`tests/sgd_lockstep.rs`).
//! A seed whose residual becomes non-finite keeps its iterate of that step
//! and leaves the pack; the others go on.

use super::{
    divergence_hint, fast::Feed, run_sgd_recording, Divergence, NoiseModel, Probe, Sgd, SgdRun,
    SgdState, StopReason,
};
use crate::model::{Diagonal, Problem};
use crate::scalar::Real;
use crate::simd::{self, Lanes, Level, LANES};

/// Run `steps` steps of every state (all at the same step) recording at
/// `record_steps` through `probe` (called seed by seed, in order): the same
/// result per seed as [`run_sgd_recording`] on that seed alone, without
/// progress calls. Falls back to exactly that per-seed loop when the method
/// is not B = 1 with label or no noise, when the states are at different
/// steps, or on the scalar (reference) level.
pub fn run_sgd_lockstep<P: Probe<f64>>(
    problem: &Problem<f64, Diagonal>,
    method: &Sgd,
    states: &mut [SgdState<f64>],
    steps: u64,
    record_steps: &[u64],
    probe: &mut P,
) -> Vec<SgdRun<f64>> {
    let same_step = states.windows(2).all(|w| w[0].step == w[1].step);
    if method.batch_size != 1
        || !matches!(method.noise, NoiseModel::Label | NoiseModel::None)
        || !same_step
        || simd::active() == Level::Scalar
    {
        return states
            .iter_mut()
            .map(|s| run_sgd_recording(problem, method, s, steps, record_steps, probe, |_| {}))
            .collect();
    }
    let d = problem.data.d();
    let x = problem.data.x.as_slice();
    let y = &problem.data.y[..];
    let sigma = method.batch_label_sigma();
    let schedule = &method.schedule;
    let count = states.len();
    let mut records: Vec<Vec<super::Record>> = vec![Vec::new(); count];
    let mut stops: Vec<Option<StopReason>> = vec![None; count];
    let mut active: Vec<usize> = (0..count).collect();
    let Some(first) = states.first() else {
        return Vec::new();
    };
    let mut k = first.step;
    let end = k + steps;
    let mut next_record = record_steps.partition_point(|&s| s < k);
    let diverged = |quantity: &str, state: &SgdState<f64>, step: u64, lr: f64| {
        StopReason::Diverged(Divergence {
            step,
            lr,
            quantity: quantity.into(),
            value: "non-finite".into(),
            hint: divergence_hint(problem, method, &state.initial_theta, lr),
        })
    };
    loop {
        let lr = schedule.lr(k);
        if next_record < record_steps.len() && record_steps[next_record] == k {
            next_record += 1;
            active.retain(|&s| {
                let st = &states[s];
                records[s].push(probe.measure(st.times.at(k, lr), &st.theta));
                let finite = st.theta.iter().all(|t| t.is_finite());
                if !finite {
                    stops[s] = Some(diverged("iterate", st, k, lr));
                }
                finite
            });
        }
        if k == end || active.is_empty() {
            break;
        }
        let mut seg_end = end;
        if let Some(&r) = record_steps.get(next_record) {
            if r > k {
                seg_end = seg_end.min(r);
            }
        }
        let constant_lr = schedule.constant_until(k).map(|change| {
            seg_end = seg_end.min(change);
            lr
        });
        let mut pack = Pack::new(states, &active, d);
        let (done, lost) = pack.run(states, x, y, sigma, schedule, constant_lr, k, seg_end - k);
        pack.unpack(states, &lost);
        k += done;
        for &lane in &lost {
            let s = active[lane];
            let at = k - 1;
            states[s].step = at;
            stops[s] = Some(diverged("residual", &states[s], at, schedule.lr(at)));
        }
        let lost_seeds: Vec<usize> = lost.iter().map(|&l| active[l]).collect();
        active.retain(|s| !lost_seeds.contains(s));
        for &s in &active {
            states[s].step = k;
        }
    }
    states
        .iter()
        .zip(records)
        .zip(stops)
        .map(|((st, records), stop)| SgdRun {
            theta: st.theta.clone(),
            records,
            stop: stop.unwrap_or(StopReason::Completed),
            steps: st.step,
        })
        .collect()
}

/// The active seeds' u and v, coordinate-major, `p` lanes per coordinate
/// (the seeds padded to a multiple of 8 with inert lanes: row 0, no noise,
/// u = v = 0, never written back).
struct Pack {
    seeds: Vec<usize>,
    d: usize,
    p: usize,
    u: Vec<f64>,
    v: Vec<f64>,
}

impl Pack {
    fn new(states: &[SgdState<f64>], seeds: &[usize], d: usize) -> Self {
        let p = seeds.len().div_ceil(LANES) * LANES;
        let (mut u, mut v) = (vec![0.0; d * p], vec![0.0; d * p]);
        for (lane, &s) in seeds.iter().enumerate() {
            let (su, sv) = states[s].theta.split_at(d);
            for j in 0..d {
                u[j * p + lane] = su[j];
                v[j * p + lane] = sv[j];
            }
        }
        Self {
            seeds: seeds.to_vec(),
            d,
            p,
            u,
            v,
        }
    }

    /// Write the iterates back (the lanes in `keep_old` were written when
    /// their residual became non-finite; their last step was not taken).
    fn unpack(&self, states: &mut [SgdState<f64>], keep_old: &[usize]) {
        let (d, p) = (self.d, self.p);
        for (lane, &s) in self.seeds.iter().enumerate() {
            if keep_old.contains(&lane) {
                continue;
            }
            let (su, sv) = states[s].theta.split_at_mut(d);
            for j in 0..d {
                su[j] = self.u[j * p + lane];
                sv[j] = self.v[j * p + lane];
            }
        }
    }

    /// Up to `steps` steps from step `k`; returns the steps taken and the
    /// lanes whose residual became non-finite at the last of them (their
    /// iterate before that step is written to their state at once).
    #[allow(clippy::too_many_arguments)]
    fn run(
        &mut self,
        states: &mut [SgdState<f64>],
        x: &[f64],
        y: &[f64],
        sigma: f64,
        schedule: &crate::schedule::Schedule,
        constant_lr: Option<f64>,
        k: u64,
        steps: u64,
    ) -> (u64, Vec<usize>) {
        let mut st = Step {
            off: vec![0usize; self.p],
            yv: vec![0.0; self.p],
            noise: vec![0.0; self.p],
            coef: vec![0.0; self.p],
        };
        let mut lost = Vec::new();
        for s in 0..steps {
            let step = k + s;
            // Each seed draws from its own stream, as alone.
            let mut lr = 0.0;
            for (lane, &seed) in self.seeds.iter().enumerate() {
                let state = &mut states[seed];
                let mut feed = Feed {
                    noise: &mut state.noise,
                    schedule,
                    times: state.times,
                    step,
                    constant_lr,
                };
                let (mut row, mut xi) = ([0usize; 1], [0.0f64; 1]);
                lr = feed.draw(&mut row, &mut xi);
                st.off[lane] = row[0] * self.d;
                st.yv[lane] = y[row[0]];
                st.noise[lane] = xi[0];
            }
            // SAFETY: the pack and scratch hold p lanes per coordinate, the
            // offsets address rows of X.
            unsafe { self.forward(x, sigma, &mut st) };
            for (lane, c) in st.coef.iter_mut().enumerate().take(self.seeds.len()) {
                if c.is_finite() {
                    *c *= lr;
                } else {
                    lost.push(lane);
                    *c = 0.0;
                }
            }
            // A diverged seed keeps the iterate this step starts from.
            for &lane in &lost {
                let (d, p) = (self.d, self.p);
                let (su, sv) = states[self.seeds[lane]].theta.split_at_mut(d);
                for j in 0..d {
                    su[j] = self.u[j * p + lane];
                    sv[j] = self.v[j * p + lane];
                }
            }
            unsafe { self.update(x, &st) };
            for (lane, &seed) in self.seeds.iter().enumerate() {
                if !lost.contains(&lane) {
                    states[seed].times.advance(lr);
                }
            }
            if !lost.is_empty() {
                return (s + 1, lost);
            }
        }
        (steps, lost)
    }

    /// coef[lane] = residual of each lane (before the η scaling).
    unsafe fn forward(&self, x: &[f64], sigma: f64, st: &mut Step) {
        match simd::active() {
            #[cfg(target_arch = "x86_64")]
            Level::Avx512 => forward_avx512(self, x, sigma, st),
            #[cfg(target_arch = "x86_64")]
            Level::Avx2 => forward_avx2(self, x, sigma, st),
            _ => forward_body::<f64>(self, x, sigma, st),
        }
    }

    unsafe fn update(&mut self, x: &[f64], st: &Step) {
        match simd::active() {
            #[cfg(target_arch = "x86_64")]
            Level::Avx512 => update_avx512(self, x, st),
            #[cfg(target_arch = "x86_64")]
            Level::Avx2 => update_avx2(self, x, st),
            _ => update_body::<f64>(self, x, st),
        }
    }
}

/// The per-step lane data.
struct Step {
    off: Vec<usize>,
    yv: Vec<f64>,
    noise: Vec<f64>,
    coef: Vec<f64>,
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn forward_avx512(pk: &Pack, x: &[f64], sigma: f64, st: &mut Step) {
    forward_body::<std::arch::x86_64::__m512d>(pk, x, sigma, st)
}
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn forward_avx2(pk: &Pack, x: &[f64], sigma: f64, st: &mut Step) {
    forward_body::<std::arch::x86_64::__m256d>(pk, x, sigma, st)
}
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn update_avx512(pk: &mut Pack, x: &[f64], st: &Step) {
    update_body::<std::arch::x86_64::__m512d>(pk, x, st)
}
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn update_avx2(pk: &mut Pack, x: &[f64], st: &Step) {
    update_body::<std::arch::x86_64::__m256d>(pk, x, st)
}

/// Per lane: r = ((u ⊙ v) · x_row in the 8-lane order) − y_row − σξ.
#[inline(always)]
unsafe fn forward_body<T: Lanes>(pk: &Pack, x: &[f64], sigma: f64, st: &mut Step) {
    let (d, p) = (pk.d, pk.p);
    let m = d / LANES * LANES;
    let (u, v, xp) = (pk.u.as_ptr(), pk.v.as_ptr(), x.as_ptr());
    let sg = T::splat(sigma);
    let mut b = 0;
    while b < p {
        let off = st.off.as_ptr().add(b);
        let mut acc = [T::splat(0.0); LANES];
        for j in 0..m {
            let o = j * p + b;
            let uv = T::load(u.add(o)).mul(T::load(v.add(o)));
            let a = &mut acc[j % LANES];
            *a = a.add(uv.mul(T::gather(xp.add(j), off)));
        }
        let mut tail = T::splat(0.0);
        for j in m..d {
            let o = j * p + b;
            let uv = T::load(u.add(o)).mul(T::load(v.add(o)));
            tail = tail.add(uv.mul(T::gather(xp.add(j), off)));
        }
        let [a0, a1, a2, a3, a4, a5, a6, a7] = acc;
        let head = a0.add(a4).add(a1.add(a5)).add(a2.add(a6).add(a3.add(a7)));
        let mut r = head.add(tail).sub(T::load(st.yv.as_ptr().add(b)));
        if sigma > 0.0 {
            r = r.sub(T::load(st.noise.as_ptr().add(b)).mul(sg));
        }
        r.store(st.coef.as_mut_ptr().add(b));
        b += T::W;
    }
}

/// Per lane: w = coef · x_row; u −= w ⊙ v, v −= w ⊙ u (old u, v).
#[inline(always)]
unsafe fn update_body<T: Lanes>(pk: &mut Pack, x: &[f64], st: &Step) {
    let (d, p) = (pk.d, pk.p);
    let (u, v, xp) = (pk.u.as_mut_ptr(), pk.v.as_mut_ptr(), x.as_ptr());
    let mut b = 0;
    while b < p {
        let off = st.off.as_ptr().add(b);
        let c = T::load(st.coef.as_ptr().add(b));
        for j in 0..d {
            let o = j * p + b;
            let w = c.mul(T::gather(xp.add(j), off));
            let (uo, vo) = (T::load(u.add(o)), T::load(v.add(o)));
            uo.sub(w.mul(vo)).store(u.add(o));
            vo.sub(w.mul(uo)).store(v.add(o));
        }
        b += T::W;
    }
}
