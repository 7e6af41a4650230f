//! Axis ranges, tick positions and tick labels, in "drawing space": the
//! identity on linear axes and `log10(value)` on log axes, so one linear
//! plotters coordinate serves both. Hand-written because plotters chooses
//! ticks by count, not by whether their labels fit, and has no 1-2-5 or
//! every-k-decades log ticks.

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
    fn ok(&self, t: &Ticks) -> bool {
        let apart = |(v, l): (&[f64], &[String])| {
            let dist = (v[1] - v[0]).abs() * self.px_per_unit;
            dist >= ((self.extent)(&l[0]) + (self.extent)(&l[1])) / 2.0 + self.gap
        };
        t.major.len() <= self.max_ticks.max(2)
            && t.major.windows(2).zip(t.labels.windows(2)).all(apart)
    }
}

/// Data range in drawing space, padded by `frac` of the span on each side.
pub(crate) fn padded_range(lo: f64, hi: f64, scale: AxisScale, frac: f64) -> (f64, f64) {
    let span = hi - lo;
    let d = match scale {
        _ if span > 0.0 && span.is_finite() => frac * span,
        AxisScale::Log10 => 0.5,
        AxisScale::Linear if lo == 0.0 => 1.0,
        AxisScale::Linear => 0.1 * lo.abs(),
    };
    (lo - d, hi + d)
}

/// Ticks for an axis with the given scale over `[lo, hi]` (drawing space).
pub(crate) fn ticks(scale: AxisScale, lo: f64, hi: f64, fit: &Fit) -> Ticks {
    match scale {
        AxisScale::Linear => stepped_ticks(lo, hi, |v| v, fit),
        AxisScale::Log10 => log_ticks(lo, hi, fit),
    }
}

/// Round step sizes (1, 2, 2.5, 5 × 10^k) in increasing order, starting at the
/// largest one not above `start`.
fn nice_steps(start: f64) -> impl Iterator<Item = f64> {
    let e0 = start.log10().floor() as i32;
    (0..).map(move |i: i32| [1.0, 2.0, 2.5, 5.0][i as usize % 4] * 10f64.powi(e0 + i / 4))
}

/// The round step (1, 2, 2.5, 5 × 10^k) nearest (in ratio) to `target`.
pub(crate) fn nearest_nice_step(target: f64) -> f64 {
    let off = |s: f64| (s / target).ln().abs();
    let steps = nice_steps(target / 10.0).take(12);
    let nearest = steps.min_by(|a, b| off(*a).total_cmp(&off(*b)));
    nearest.unwrap_or(f64::NAN)
}

/// Round values spaced linearly (steps 1, 2, 2.5, 5 × 10^k, at most 10
/// ticks) in `[vlo, vhi]`, the finest whose labels fit; `to_axis` maps a value
/// into drawing space (values it cannot map, ≤ 0 under log10, are left out).
fn stepped_ticks(vlo: f64, vhi: f64, to_axis: fn(f64) -> f64, fit: &Fit) -> Ticks {
    let mut best = Ticks::default();
    for step in nice_steps((vhi - vlo) / 40.0).take(24) {
        let eps = step * 1e-9;
        let (k0, k1) = (((vlo - eps) / step).ceil(), ((vhi + eps) / step).floor());
        if !(k0.is_finite() && k1.is_finite()) || k1 - k0 > 200.0 {
            continue;
        }
        let vals = (k0 as i64..=k1 as i64).map(|k| k as f64 * step);
        let vals: Vec<f64> = vals.filter(|&v| to_axis(v).is_finite()).collect();
        if vals.len() > 10 {
            continue;
        }
        let t = Ticks {
            labels: format_linear(&vals, step),
            major: vals.into_iter().map(to_axis).collect(),
            minor: vec![],
        };
        if t.major.len() < 2 {
            return if best.major.is_empty() { t } else { best };
        }
        if fit.ok(&t) {
            return t;
        }
        best = t;
    }
    best
}

/// Smallest number of decimals that represents `v` exactly (up to 12).
fn decimals_needed(v: f64) -> usize {
    let exact = |d: &usize| {
        let s = v.abs() * 10f64.powi(*d as i32);
        (s - s.round()).abs() <= 1e-6 * s.max(1.0)
    };
    (0..=12).find(exact).unwrap_or(12)
}

/// `s` without the sign of a negative zero (`-0.00` → `0.00`).
fn clean_zero(s: String) -> String {
    match s.strip_prefix('-') {
        Some(t) if t.chars().all(|c| c == '0' || c == '.') => t.to_string(),
        _ => s,
    }
}

/// Labels for linearly spaced ticks with spacing `step`: decimals, or
/// `2.5e-4` style when the values are large or small.
pub(crate) fn format_linear(ticks: &[f64], step: f64) -> Vec<String> {
    let maxabs = ticks.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let sci = maxabs >= 1e5 || (maxabs > 0.0 && maxabs < 1e-3);
    let e = if sci {
        maxabs.log10().floor() as i32
    } else {
        0
    };
    let d = decimals_needed(step / 10f64.powi(e));
    let label = |&v: &f64| match v {
        _ if !sci => clean_zero(format!("{v:.d$}")),
        0.0 => "0".to_string(),
        _ => clean_zero(format!("{:.d$}e{e}", v / 10f64.powi(e))),
    };
    ticks.iter().map(label).collect()
}

/// Labels for log-axis ticks given in drawing space (`log10` of the value).
/// Powers of ten read `1e-3`; other values `2e-3`. If every tick lies in
/// [0.01, 1000) plain decimals are used instead (`0.02`, `5`, `100`).
pub(crate) fn format_log(ticks: &[f64]) -> Vec<String> {
    let part = |&t: &f64| {
        let e = (t + 1e-9).floor() as i32;
        let m = 10f64.powf(t - e as f64);
        if m >= 9.9995 {
            (m / 10.0, e + 1)
        } else {
            (m, e)
        }
    };
    let parts: Vec<(f64, i32)> = ticks.iter().map(part).collect();
    let sci = parts.iter().any(|&(_, e)| !(-2..=2).contains(&e));
    let label = |&(m, e): &(f64, i32)| {
        if sci {
            let r = (m * 100.0).round() / 100.0;
            format!("{r:.d$}e{e}", d = decimals_needed(r).min(2))
        } else {
            let v = m * 10f64.powi(e);
            format!("{v:.d$}", d = decimals_needed((v * 1e6).round() / 1e6))
        }
    };
    parts.iter().map(label).collect()
}

fn log_ticks(lo: f64, hi: f64, fit: &Fit) -> Ticks {
    let (e0, e1) = ((lo - 1e-9).ceil() as i64, (hi + 1e-9).floor() as i64);
    let decades = |every: i64| -> Vec<f64> {
        let es = (e0..=e1).filter(|e| e.rem_euclid(every) == 0);
        es.map(|e| e as f64).collect()
    };
    // log10(m × 10^e) inside the range, for the mantissas m.
    let mantissas = |ms: &[f64]| -> Vec<f64> {
        let es = lo.floor() as i64 - 1..=hi.ceil() as i64;
        let ts = es.flat_map(|e| ms.iter().map(move |m| e as f64 + m.log10()));
        ts.filter(|t| *t >= lo - 1e-9 && *t <= hi + 1e-9).collect()
    };
    let make = |major: Vec<f64>, minor| Ticks {
        labels: format_log(&major),
        major,
        minor,
    };
    let all_minor = mantissas(&[2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]);
    let d1 = decades(1);
    if d1.len() >= 3 {
        // Every k-th decade labelled, the finest that fits; the other decades
        // (or, labelling all, the mantissas if there is room) as minor ticks.
        let mut last = None;
        for every in [1i64, 2, 3, 4, 5, 10, 20, 25, 50, 100] {
            let major = decades(every);
            if major.len() < 2 {
                break;
            }
            let minor = match every {
                1 if fit.px_per_unit >= 30.0 * fit.scale => all_minor.clone(),
                1 => vec![],
                _ => d1.iter().copied().filter(|e| !major.contains(e)).collect(),
            };
            let t = make(major, minor);
            if fit.ok(&t) {
                return t;
            }
            last = Some(t);
        }
        if let Some(t) = last {
            return t;
        }
    }
    // Fewer than three decades: try 1-2-5 first, then plain decades.
    let others = mantissas(&[3.0, 4.0, 6.0, 7.0, 8.0, 9.0]);
    let m125 = make(mantissas(&[1.0, 2.0, 5.0]), others);
    let fits = |t: &Ticks, n: usize| t.major.len() >= n && fit.ok(t);
    if fits(&m125, 3) {
        return m125;
    }
    if d1.len() >= 2 {
        return make(d1, all_minor);
    }
    // Within about a decade: 1-2-5, 1…9, or round values spaced linearly.
    let digits = mantissas(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]);
    let m19 = make(digits, vec![]);
    let lin = stepped_ticks(10f64.powf(lo), 10f64.powf(hi), f64::log10, fit);
    for n in [3, 2] {
        if let Some(t) = [&m125, &m19, &lin].into_iter().find(|t| fits(t, n)) {
            return t.clone();
        }
    }
    lin
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_clean_and_fit() {
        let fit = |px| Fit {
            px_per_unit: px,
            extent: &|s: &str| 9.0 * s.len() as f64,
            gap: 10.0,
            max_ticks: 8,
            scale: 1.0,
        };
        let labels = |scale, lo: f64, hi: f64, px| ticks(scale, lo, hi, &fit(px)).labels;
        let (lin, log) = (AxisScale::Linear, AxisScale::Log10);
        let (lo, hi) = (0.31f64.log10(), 0.52f64.log10());
        // (ticks, labels they must contain, at least this many ticks)
        let cases: [(Vec<String>, &[&str], usize); 7] = [
            (labels(lin, 0.0, 1.0, 500.0), &["0.0", "0.2", "1.0"], 3),
            (labels(lin, -0.3, 0.3, 500.0), &["0.0"], 3),
            (labels(lin, 1e6, 5e6, 500.0), &["2e6"], 3),
            (labels(log, -6.2, 0.3, 80.0), &["1e-3"], 3),
            (labels(log, -1.3, 1.2, 200.0), &["0.1", "10"], 3),
            (labels(log, 0.1, 0.5, 1000.0), &[], 2),
            // 0.31 .. 0.52: round linear values rather than just 0.4 and 0.5
            (labels(log, lo, hi, 1500.0), &[], 3),
        ];
        for (got, want, n) in cases {
            let negative_zero = |l: &String| l.starts_with('-') && l[1..].parse() == Ok(0.0);
            let clean = got.iter().all(|l| l.len() <= 5 && !negative_zero(l));
            let has = want.iter().all(|w| got.contains(&w.to_string()));
            assert!(got.len() >= n && has && clean, "{got:?}");
        }
    }
}
