//! Axis ranges, tick positions and tick labels.
//!
//! Everything works in "drawing space": the identity for linear axes and
//! `log10(value)` for log axes, so one linear plotters coordinate serves both.

use super::AxisScale;

/// Tick positions (drawing space) with their labels.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ticks {
    pub major: Vec<f64>,
    pub minor: Vec<f64>,
    pub labels: Vec<String>,
}

/// How labels must fit along an axis.
pub(crate) struct Fit<'a> {
    /// Pixels per drawing-space unit along the axis.
    pub px_per_unit: f64,
    /// Extent of a label along the axis (width for x, height for y), pixels.
    pub extent: &'a dyn Fn(&str) -> f64,
    /// Minimal free gap between neighbouring labels, pixels.
    pub gap: f64,
    /// At most this many labelled ticks.
    pub max_ticks: usize,
    /// Drawing units per output pixel ([`Style::scale`](super::Style::scale)).
    pub scale: f64,
}

impl Fit<'_> {
    fn ok(&self, ticks: &[f64], labels: &[String]) -> bool {
        ticks.len() <= self.max_ticks.max(2)
            && ticks.windows(2).zip(labels.windows(2)).all(|(t, l)| {
                let dist = (t[1] - t[0]).abs() * self.px_per_unit;
                dist >= ((self.extent)(&l[0]) + (self.extent)(&l[1])) / 2.0 + self.gap
            })
    }
}

/// Data range in drawing space, padded by `frac` of the span on each side.
pub(crate) fn padded_range(lo: f64, hi: f64, scale: AxisScale, frac: f64) -> (f64, f64) {
    let span = hi - lo;
    if span > 0.0 && span.is_finite() {
        return (lo - frac * span, hi + frac * span);
    }
    match scale {
        AxisScale::Log10 => (lo - 0.5, hi + 0.5),
        AxisScale::Linear => {
            let d = if lo == 0.0 { 1.0 } else { 0.1 * lo.abs() };
            (lo - d, hi + d)
        }
    }
}

/// Ticks for an axis with the given scale over `[lo, hi]` (drawing space).
pub(crate) fn ticks(scale: AxisScale, lo: f64, hi: f64, fit: &Fit) -> Ticks {
    match scale {
        AxisScale::Linear => stepped_ticks(lo, hi, |v| v, fit),
        AxisScale::Log10 => log_ticks(lo, hi, fit),
    }
}

/// Multiples of `step` inside `[lo, hi]` (None if absurdly many).
fn multiples(lo: f64, hi: f64, step: f64) -> Option<Vec<f64>> {
    let eps = step * 1e-9;
    let k0 = ((lo - eps) / step).ceil();
    let k1 = ((hi + eps) / step).floor();
    if !(k0.is_finite() && k1.is_finite()) || k1 - k0 > 200.0 {
        return None;
    }
    let (k0, k1) = (k0 as i64, k1 as i64);
    Some(
        (k0..=k1)
            .map(|k| {
                let v = k as f64 * step;
                if v.abs() < step * 1e-9 {
                    0.0
                } else {
                    v
                }
            })
            .collect(),
    )
}

/// Round step sizes (1, 2, 2.5, 5 × 10^k) in increasing order, starting at the
/// largest one not above `start`.
fn nice_steps(start: f64) -> impl Iterator<Item = f64> {
    const MANT: [f64; 4] = [1.0, 2.0, 2.5, 5.0];
    let mut e = start.log10().floor() as i32;
    let mut i = 0usize;
    std::iter::from_fn(move || {
        let v = MANT[i] * 10f64.powi(e);
        i += 1;
        if i == MANT.len() {
            i = 0;
            e += 1;
        }
        Some(v)
    })
}

/// The round step (1, 2, 2.5, 5 × 10^k) nearest (in ratio) to `target`.
pub(crate) fn nearest_nice_step(target: f64) -> f64 {
    let off = |s: f64| (s / target).ln().abs();
    let steps = nice_steps(target / 10.0).take(12);
    steps
        .min_by(|a, b| off(*a).total_cmp(&off(*b)))
        .unwrap_or(f64::NAN)
}

/// Round values spaced linearly (steps 1, 2, 2.5, 5 × 10^k, at most 10
/// ticks) in `[vlo, vhi]`, the finest whose labels fit; `to_axis` maps a value
/// into drawing space (values it cannot map, ≤ 0 under log10, are left out).
fn stepped_ticks(vlo: f64, vhi: f64, to_axis: fn(f64) -> f64, fit: &Fit) -> Ticks {
    let mut best = Ticks::default();
    for step in nice_steps((vhi - vlo) / 40.0).take(24) {
        let Some(vals) = multiples(vlo, vhi, step) else {
            continue;
        };
        let vals: Vec<f64> = vals
            .into_iter()
            .filter(|&v| to_axis(v).is_finite())
            .collect();
        if vals.len() > 10 {
            continue;
        }
        let labels = format_linear(&vals, step);
        let major = vals.iter().map(|&v| to_axis(v)).collect();
        let t = Ticks {
            major,
            minor: vec![],
            labels,
        };
        if t.major.len() < 2 {
            if best.major.is_empty() {
                best = t;
            }
            break;
        }
        if fit.ok(&t.major, &t.labels) {
            return t;
        }
        best = t;
    }
    best
}

/// Smallest number of decimals that represents `v` exactly (up to 12).
fn decimals_needed(v: f64) -> usize {
    let v = v.abs();
    if v == 0.0 {
        return 0;
    }
    for d in 0..=12 {
        let s = v * 10f64.powi(d as i32);
        if (s - s.round()).abs() <= 1e-6 * s.max(1.0) {
            return d;
        }
    }
    12
}

fn clean_zero(s: String) -> String {
    if s.starts_with('-') && s[1..].chars().all(|c| c == '0' || c == '.') {
        s[1..].to_string()
    } else {
        s
    }
}

/// Labels for linearly spaced ticks with spacing `step`.
pub(crate) fn format_linear(ticks: &[f64], step: f64) -> Vec<String> {
    let maxabs = ticks.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if maxabs >= 1e5 || (maxabs > 0.0 && maxabs < 1e-3) {
        let e = maxabs.log10().floor() as i32;
        let scale = 10f64.powi(e);
        let d = decimals_needed(step / scale);
        ticks
            .iter()
            .map(|&v| {
                if v == 0.0 {
                    "0".to_string()
                } else {
                    clean_zero(format!("{:.*}e{}", d, v / scale, e))
                }
            })
            .collect()
    } else {
        let d = decimals_needed(step);
        ticks
            .iter()
            .map(|&v| clean_zero(format!("{:.*}", d, v)))
            .collect()
    }
}

/// Labels for log-axis ticks given in drawing space (`log10` of the value).
/// Powers of ten read `1e-3`; other values `2e-3`. If every tick lies in
/// [0.01, 1000) plain decimals are used instead (`0.02`, `5`, `100`).
pub(crate) fn format_log(ticks: &[f64]) -> Vec<String> {
    let parts: Vec<(f64, i32)> = ticks
        .iter()
        .map(|&t| {
            let mut e = (t + 1e-9).floor() as i32;
            let mut m = 10f64.powf(t - e as f64);
            if m >= 9.9995 {
                m /= 10.0;
                e += 1;
            }
            (m, e)
        })
        .collect();
    let sci = parts.iter().any(|&(_, e)| !(-2..=2).contains(&e));
    parts
        .iter()
        .map(|&(m, e)| {
            let m_str = {
                let r = (m * 100.0).round() / 100.0;
                let d = decimals_needed(r).min(2);
                format!("{:.*}", d, r)
            };
            if sci {
                format!("{m_str}e{e}")
            } else {
                let v = m * 10f64.powi(e);
                let d = decimals_needed((v * 1e6).round() / 1e6);
                format!("{:.*}", d, v)
            }
        })
        .collect()
}

fn log_ticks(lo: f64, hi: f64, fit: &Fit) -> Ticks {
    let decades = |every: i64| -> Vec<f64> {
        let e0 = (lo - 1e-9).ceil() as i64;
        let e1 = (hi + 1e-9).floor() as i64;
        (e0..=e1)
            .filter(|e| e.rem_euclid(every) == 0)
            .map(|e| e as f64)
            .collect()
    };
    let mantissas = |ms: &[f64]| -> Vec<f64> {
        let e0 = lo.floor() as i64 - 1;
        let e1 = hi.ceil() as i64;
        let mut v = Vec::new();
        for e in e0..=e1 {
            for &m in ms {
                let t = e as f64 + m.log10();
                if t >= lo - 1e-9 && t <= hi + 1e-9 {
                    v.push(t);
                }
            }
        }
        v
    };
    let make = |major: Vec<f64>, minor: Vec<f64>| {
        let labels = format_log(&major);
        Ticks {
            major,
            minor,
            labels,
        }
    };
    let all_minor = mantissas(&[2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]);
    let d1 = decades(1);

    if d1.len() >= 3 {
        let mut last = None;
        for every in [1i64, 2, 3, 4, 5, 10, 20, 25, 50, 100] {
            let major = decades(every);
            if major.len() < 2 {
                break;
            }
            let minor = if every == 1 {
                if fit.px_per_unit >= 30.0 * fit.scale {
                    all_minor.clone()
                } else {
                    vec![]
                }
            } else {
                d1.iter().copied().filter(|e| !major.contains(e)).collect()
            };
            let t = make(major, minor);
            if fit.ok(&t.major, &t.labels) {
                return t;
            }
            last = Some(t);
        }
        if let Some(t) = last {
            return t;
        }
    }

    // Fewer than three decades: try 1-2-5 first, then plain decades.
    let m125 = make(
        mantissas(&[1.0, 2.0, 5.0]),
        mantissas(&[3.0, 4.0, 6.0, 7.0, 8.0, 9.0]),
    );
    let fits = |t: &Ticks, n: usize| t.major.len() >= n && fit.ok(&t.major, &t.labels);
    if fits(&m125, 3) {
        return m125;
    }
    if d1.len() >= 2 {
        return make(d1, all_minor);
    }
    // Within about a decade: 1-2-5, 1…9, or round values spaced linearly.
    let m19 = make(
        mantissas(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]),
        vec![],
    );
    let lin = stepped_ticks(10f64.powf(lo), 10f64.powf(hi), f64::log10, fit);
    for n in [3, 2] {
        for t in [&m125, &m19, &lin] {
            if fits(t, n) {
                return t.clone();
            }
        }
    }
    lin
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fit(px: f64) -> Fit<'static> {
        Fit {
            px_per_unit: px,
            extent: &|s: &str| 9.0 * s.len() as f64,
            gap: 10.0,
            max_ticks: 8,
            scale: 1.0,
        }
    }

    #[test]
    fn linear_labels_are_clean() {
        let linear_ticks = |lo, hi, fit: &Fit| ticks(AxisScale::Linear, lo, hi, fit);
        let t = linear_ticks(0.0, 1.0, &fit(500.0));
        assert!(t.major.len() >= 3, "{t:?}");
        assert!(t.labels.iter().all(|l| l.len() <= 4), "{t:?}");
        let t = linear_ticks(-0.3, 0.3, &fit(500.0));
        assert!(t.labels.contains(&"0".to_string()) || t.labels.contains(&"0.0".to_string()));
        let t = linear_ticks(1e6, 5e6, &fit(500.0));
        assert!(t.labels.iter().all(|l| l.contains('e')), "{t:?}");
    }

    #[test]
    fn log_labels_use_e_notation() {
        let t = log_ticks(-6.2, 0.3, &fit(80.0));
        assert!(t.labels.contains(&"1e-3".to_string()), "{t:?}");
        let t = log_ticks(-1.3, 1.2, &fit(200.0));
        assert!(t.labels.contains(&"0.1".to_string()), "{t:?}");
        assert!(t.labels.contains(&"10".to_string()), "{t:?}");
        let t = log_ticks(0.1, 0.5, &fit(1000.0));
        assert!(t.major.len() >= 2, "{t:?}");
        // 0.31 .. 0.52: round linear values rather than just 0.4 and 0.5
        let t = log_ticks(0.31f64.log10(), 0.52f64.log10(), &fit(1500.0));
        assert!(t.major.len() >= 3, "{t:?}");
    }
}
