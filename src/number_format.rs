//! Numbers in text: the claims' statistics and evidence lines
//! ([`fmt_evidence`]) and the figures' legends, labels and notes
//! ([`fmt_label`]). Both give four significant digits in fixed notation for
//! moderate magnitudes and scientific notation otherwise; they differ in where
//! fixed notation ends and in the digits of the scientific form, and both
//! formats appear in committed outputs, so both are kept.

/// Four significant digits in fixed notation for 1e-3 ≤ |x| < `fixed_below`,
/// otherwise scientific notation with `sci_decimals` decimals; 0, ±∞ and NaN
/// as Rust prints them.
fn four_significant(x: f64, fixed_below: f64, sci_decimals: usize) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let a = x.abs();
    if (1e-3..fixed_below).contains(&a) {
        let digits = (3 - a.log10().floor() as i32).max(0) as usize;
        format!("{x:.digits$}")
    } else {
        format!("{x:.sci_decimals$e}")
    }
}

/// A value in a claims row (statistic, threshold, evidence): four significant
/// digits, fixed notation for 1e-3 ≤ |x| < 1e5, else three decimals in
/// scientific notation; −0 prints as `-0`.
///
/// # Examples
/// ```
/// use latedecay::number_format::fmt_evidence;
/// assert_eq!(fmt_evidence(2.44949), "2.449");
/// assert_eq!(fmt_evidence(12345.6), "12346");
/// assert_eq!(fmt_evidence(7.7e-4), "7.700e-4");
/// assert_eq!(fmt_evidence(-0.0), "-0");
/// ```
pub fn fmt_evidence(x: f64) -> String {
    four_significant(x, 1e5, 3)
}

/// A number in a figure's legend, label or note: four significant digits,
/// fixed notation for 1e-3 ≤ |v| < 1e4, else two decimals in scientific
/// notation (`1.23e-4`); ±0 prints as `0`.
///
/// # Examples
/// ```
/// use latedecay::number_format::fmt_label;
/// assert_eq!(fmt_label(0.0456), "0.04560");
/// assert_eq!(fmt_label(12345.6), "1.23e4");
/// assert_eq!(fmt_label(-0.0), "0");
/// ```
pub fn fmt_label(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else {
        four_significant(v, 1e4, 2)
    }
}
