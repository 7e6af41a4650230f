//! Tests of `latedecay::stats` against published reference values (R output
//! reproduced in R's own documentation / classic textbook data sets) and
//! independent recomputation with scipy 1.17.1 (the exact calls are quoted
//! next to each value), plus property tests and negative/positive controls.

use latedecay::stats::*;
use proptest::prelude::*;

use crate::common;

const ALTS: [Alternative; 3] = [
    Alternative::Less,
    Alternative::Greater,
    Alternative::TwoSided,
];

// ---------------------------------------------------------------------------
// reference data sets
// ---------------------------------------------------------------------------

/// R's `sleep` data set (Cushny & Peebles via Student 1908), `extra` for
/// group 1 and group 2; the same 10 patients in the same order.
const SLEEP_G1: [f64; 10] = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0];
const SLEEP_G2: [f64; 10] = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4];

/// Hollander & Wolfe (1973), p. 29: depression scale before (x) and after (y);
/// the example of R's `?wilcox.test`.
const HW_X: [f64; 9] = [1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30];
#[allow(clippy::approx_constant)] // 3.14 is a measurement, not pi
const HW_Y: [f64; 9] = [0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29];

/// Hollander & Wolfe (1973), p. 187; the example of R's `?cor.test`.
const HW_COR_X: [f64; 9] = [44.4, 45.9, 41.9, 53.3, 44.7, 44.1, 50.7, 45.2, 60.1];
const HW_COR_Y: [f64; 9] = [2.6, 3.1, 2.5, 5.0, 3.6, 4.0, 5.2, 2.8, 3.8];

/// R's `cars` data set (Ezekiel 1930): speed (mph) and stopping distance (ft).
const CARS_SPEED: [f64; 50] = [
    4., 4., 7., 7., 8., 9., 10., 10., 10., 11., 11., 12., 12., 12., 12., 13., 13., 13., 13., 14.,
    14., 14., 14., 15., 15., 15., 16., 16., 17., 17., 17., 18., 18., 18., 18., 19., 19., 19., 20.,
    20., 20., 20., 20., 22., 23., 24., 24., 24., 24., 25.,
];
const CARS_DIST: [f64; 50] = [
    2., 10., 4., 22., 16., 10., 18., 26., 34., 17., 28., 14., 20., 24., 28., 26., 34., 34., 46.,
    26., 36., 60., 80., 20., 26., 54., 32., 40., 32., 40., 50., 42., 56., 76., 84., 36., 46., 68.,
    32., 48., 52., 56., 64., 66., 54., 70., 92., 93., 120., 85.,
];

// ---------------------------------------------------------------------------
// t tests
// ---------------------------------------------------------------------------

#[test]
fn paired_t_sleep_matches_r() {
    // R: with(sleep, t.test(extra[group == 1], extra[group == 2], paired = TRUE))
    //    t = -4.0621, df = 9, p-value = 0.002833; mean difference -1.58
    // scipy: ttest_rel(g1, g2) -> statistic -4.062127683382037, pvalue 0.002832890197384273
    let r = paired_t_test(&SLEEP_G1, &SLEEP_G2, Alternative::TwoSided).unwrap();
    assert_close!(r.statistic, -4.062127683382037, abs = 1e-9);
    assert_close!(r.p_value, 0.002832890197384273, abs = 1e-9);
    assert_eq!(r.df, Some(9.0));
    assert_eq!(r.n, 10);
    assert_close!(r.estimate, -1.58, abs = 1e-12);
    // scipy: ttest_rel(g1, g2, alternative='less').pvalue = 0.0014164450986921364
    let r = paired_t_test(&SLEEP_G1, &SLEEP_G2, Alternative::Less).unwrap();
    assert_close!(r.p_value, 0.0014164450986921364, abs = 1e-9);
    // scipy: ttest_rel(g1, g2, alternative='greater').pvalue = 0.9985835549013079
    let r = paired_t_test(&SLEEP_G1, &SLEEP_G2, Alternative::Greater).unwrap();
    assert_close!(r.p_value, 0.9985835549013079, abs = 1e-9);
}

#[test]
fn welch_t_sleep_matches_r() {
    // R: t.test(extra ~ group, data = sleep)  ->  t = -1.8608, df = 17.776, p-value = 0.07939
    // scipy: ttest_ind(g1, g2, equal_var=False) -> -1.8608134674868526, df 17.776473516178488,
    //        pvalue 0.0793941401873583
    let r = welch_t_test(&SLEEP_G1, &SLEEP_G2, Alternative::TwoSided).unwrap();
    assert_close!(r.statistic, -1.8608134674868526, abs = 1e-9);
    assert_close!(r.df.unwrap(), 17.776473516178488, abs = 1e-9);
    assert_close!(r.p_value, 0.0793941401873583, abs = 1e-9);
    assert_eq!(r.n, 20);
    // scipy: ttest_ind(g1, g2, equal_var=False, alternative='less').pvalue = 0.03969707009367915
    let r = welch_t_test(&SLEEP_G1, &SLEEP_G2, Alternative::Less).unwrap();
    assert_close!(r.p_value, 0.03969707009367915, abs = 1e-9);
}

#[test]
fn one_sample_t_matches_r_and_scipy() {
    // R: t.test(extra[group == 1])  ->  t = 1.3257, df = 9, p-value = 0.2176
    // scipy: ttest_1samp(g1, 0) -> 1.3257101407138212, pvalue 0.21759778006844888
    let r = one_sample_t_test(&SLEEP_G1, 0.0, Alternative::TwoSided).unwrap();
    assert_close!(r.statistic, 1.3257101407138212, abs = 1e-9);
    assert_close!(r.p_value, 0.21759778006844888, abs = 1e-9);
    assert_close!(r.estimate, 0.75, abs = 1e-12);
    // scipy: ttest_1samp(g2, 1.0, alternative='greater') -> 2.1005528498187123, p 0.032529942834047795
    let r = one_sample_t_test(&SLEEP_G2, 1.0, Alternative::Greater).unwrap();
    assert_close!(r.statistic, 2.1005528498187123, abs = 1e-9);
    assert_close!(r.p_value, 0.032529942834047795, abs = 1e-9);
}

#[test]
fn tost_matches_scipy_and_fails_to_claim_equivalence_for_sleep() {
    // d = a - b; scipy: max(ttest_1samp(d, -0.5, alternative='greater').pvalue,
    //                       ttest_1samp(d,  0.5, alternative='less').pvalue) = 2.483880638344964e-05
    let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
    let b = [1.1, 1.9, 3.05, 3.9, 5.1, 5.95];
    let r = equivalence_tost_paired(&a, &b, 0.5).unwrap();
    assert_close!(r.p_value, 2.483880638344964e-05, abs = 1e-12);
    // sleep: mean difference -1.58 lies outside +-0.5, so no equivalence.
    let r = equivalence_tost_paired(&SLEEP_G1, &SLEEP_G2, 0.5).unwrap();
    assert!(r.p_value > 0.5, "{r:?}");
    // p = max of the two one-sided paired t tests shifted by the margin.
    let shifted_up: Vec<f64> = SLEEP_G2.iter().map(|v| v - 2.0).collect();
    let shifted_dn: Vec<f64> = SLEEP_G2.iter().map(|v| v + 2.0).collect();
    let p_lo = paired_t_test(&SLEEP_G1, &shifted_up, Alternative::Greater)
        .unwrap()
        .p_value;
    let p_hi = paired_t_test(&SLEEP_G1, &shifted_dn, Alternative::Less)
        .unwrap()
        .p_value;
    let r = equivalence_tost_paired(&SLEEP_G1, &SLEEP_G2, 2.0).unwrap();
    assert_close!(r.p_value, p_lo.max(p_hi), abs = 1e-12);
}

// ---------------------------------------------------------------------------
// Wilcoxon signed-rank
// ---------------------------------------------------------------------------

#[test]
fn wilcoxon_depression_matches_r_doc() {
    // R ?wilcox.test: wilcox.test(x, y, paired = TRUE, alternative = "greater")
    //   V = 40, p-value = 0.01953
    // scipy: wilcoxon(x, y, alternative='greater', method='exact') -> 40.0, 0.01953125
    let r = wilcoxon_signed_rank(&HW_X, &HW_Y, Alternative::Greater).unwrap();
    assert_eq!(r.statistic, 40.0);
    assert_eq!(r.n, 9);
    assert_close!(r.p_value, 0.01953125, abs = 1e-12);
    assert!(r.method.contains("exact"));
    // scipy: wilcoxon(x, y, alternative='two-sided', method='exact').pvalue = 0.0390625
    let r = wilcoxon_signed_rank(&HW_X, &HW_Y, Alternative::TwoSided).unwrap();
    assert_close!(r.p_value, 0.0390625, abs = 1e-12);
    // scipy: wilcoxon(x, y, alternative='less', method='exact').pvalue = 0.986328125
    let r = wilcoxon_signed_rank(&HW_X, &HW_Y, Alternative::Less).unwrap();
    assert_close!(r.p_value, 0.986328125, abs = 1e-12);
    // R ?wilcox.test also: wilcox.test(y - x, alternative = "less") gives the same p-value.
    let r = wilcoxon_signed_rank(&HW_Y, &HW_X, Alternative::Less).unwrap();
    assert_close!(r.p_value, 0.01953125, abs = 1e-12);
    assert_eq!(r.statistic, 5.0);
}

#[test]
fn wilcoxon_ties_and_zeros_use_corrected_normal_approximation() {
    // d = a - b = [1, 0, 2, -1, 2, -0.5, 2, -1, 2, 1, 3, -1]: one zero, ties.
    // scipy: wilcoxon(a, b, alternative=alt, method='asymptotic', correction=True,
    //                 zero_method='wilcox')
    //   two-sided 0.0784001157355714, less 0.9678651338153392, greater 0.0392000578677857 (r+ = 53)
    let a: Vec<f64> = (1..=12).map(f64::from).collect();
    let b = [0.0, 2.0, 1.0, 5.0, 3.0, 6.5, 5.0, 9.0, 7.0, 9.0, 8.0, 13.0];
    let want = [0.9678651338153392, 0.0392000578677857, 0.0784001157355714];
    for (alt, w) in ALTS.into_iter().zip(want) {
        let r = wilcoxon_signed_rank(&a, &b, alt).unwrap();
        assert_eq!(r.n, 11, "zero difference must be dropped");
        assert_eq!(r.statistic, 53.0);
        assert!(r.method.contains("normal"));
        assert_close!(r.p_value, w, abs = 1e-9);
    }
}

#[test]
fn wilcoxon_zeros_without_ties_use_exact_distribution_of_reduced_n() {
    // d = [0.5, 0, 1.1, 0.7, 0, 2.2, 5.9]: two zeros dropped, n = 5, all positive.
    // scipy: wilcoxon(a, b, alternative='greater', method='exact', zero_method='wilcox')
    //   -> statistic 15, pvalue 0.03125 (= 1/2^5); two-sided 0.0625
    let a = [1.5, 2.0, 3.1, 4.7, 5.0, 6.2, 7.9];
    let b = [1.0, 2.0, 2.0, 4.0, 5.0, 4.0, 2.0];
    let r = wilcoxon_signed_rank(&a, &b, Alternative::Greater).unwrap();
    assert_eq!((r.n, r.statistic), (5, 15.0));
    assert_close!(r.p_value, 0.03125, abs = 1e-12);
    let r = wilcoxon_signed_rank(&a, &b, Alternative::TwoSided).unwrap();
    assert_close!(r.p_value, 0.0625, abs = 1e-12);
}

#[test]
fn wilcoxon_large_n_uses_normal_approximation() {
    // numpy.random.default_rng(1): a = round(normal(0.3, 1, 60), 6), b = round(normal(0, 1, 60), 6)
    // scipy: wilcoxon(a, b, alternative=alt, method='asymptotic', correction=True)
    //   r+ = 1147; less 0.9565122783473069, greater 0.044170828590134464,
    //   two-sided 0.08834165718026893
    let a = [
        0.645584, 1.121618, 0.630437, -1.003157, 1.205356, 0.746375, -0.236953, 0.881118, 0.664572,
        0.594132, 0.328422, 0.846713, -0.436454, 0.13709, -0.182119, 0.898846, 0.339722, 0.007543,
        -0.481908, 0.042808, 0.308142, 0.024397, 1.594064, 1.306724, -2.411162, -1.589013,
        0.125228, -0.12219, 0.513643, 0.517322, 2.417839, -0.812021, -0.077605, 2.342772, 0.946703,
        0.963063, -0.214006, -1.348075, 0.467465, 0.409014, -0.927352, -0.383227, 0.227956,
        -0.644752, 0.20173, 0.395483, 0.335586, -0.206292, 0.893748, 1.191167, 0.620848, -0.51823,
        1.031652, -0.20144, 1.179161, -0.771787, 1.214467, 0.279937, -0.948749, -0.013899,
    ];
    let b = [
        0.054102, 0.272791, -0.982188, -1.107373, 0.199585, -0.46675, 0.235506, 0.75952, -1.648787,
        0.254388, 1.224647, -0.297527, -0.810815, 0.752244, 0.253447, 0.895883, -0.345216,
        -1.481818, -0.110011, -0.445828, 0.775324, 0.193633, -1.630849, -1.195163, 0.883789,
        0.679765, -0.640243, -0.001049, 0.445574, 0.468404, 0.876242, 0.256486, -0.094828,
        -0.258848, 1.055743, -2.250854, -0.138655, 0.033, -1.425349, 0.332814, -0.651281, 0.862445,
        -0.125592, 0.669153, 1.218844, 0.38293, -0.875721, -1.514319, 1.753384, -0.111292,
        -0.688565, 0.144257, -0.191411, 0.852142, 0.033928, 0.01375, -0.71458, 0.469568, -1.033867,
        0.665889,
    ];
    let want = [
        0.9565122783473069,
        0.044170828590134464,
        0.08834165718026893,
    ];
    for (alt, w) in ALTS.into_iter().zip(want) {
        let r = wilcoxon_signed_rank(&a, &b, alt).unwrap();
        assert_eq!((r.n, r.statistic), (60, 1147.0));
        assert!(r.method.contains("normal"));
        assert_close!(r.p_value, w, abs = 1e-9);
    }
}

#[test]
fn signed_rank_pmf_small_cases_and_r_psignrank() {
    // n = 4: subset sums of {1,2,3,4}; counts 1 1 1 2 2 2 2 2 1 1 1 over 16.
    let pmf = signed_rank_null_pmf(4);
    let counts: Vec<f64> = pmf.iter().map(|p| p * 16.0).collect();
    assert_eq!(counts, vec![1., 1., 1., 2., 2., 2., 2., 2., 1., 1., 1.]);
    // R: psignrank(10, 10) = 0.04199219 (= 43/1024)
    assert_close!(
        signed_rank_exact_p(10.0, 10, Alternative::Less).unwrap(),
        43.0 / 1024.0,
        abs = 1e-15
    );
}

#[test]
fn signed_rank_exact_distribution_sums_to_one_and_is_symmetric() {
    for n in 0..=WILCOXON_EXACT_MAX_N {
        let pmf = signed_rank_null_pmf(n);
        assert_eq!(pmf.len(), n * (n + 1) / 2 + 1);
        assert_close!(pmf.iter().sum::<f64>(), 1.0, abs = 1e-12);
        for (lo, hi) in pmf.iter().zip(pmf.iter().rev()) {
            assert_close!(*lo, *hi, abs = 1e-15);
        }
    }
}

#[test]
fn signed_rank_exact_agrees_with_normal_approximation_at_n_50() {
    let n = 50;
    let max = n * (n + 1) / 2;
    let mut worst: f64 = 0.0;
    for v in 0..=max {
        for alt in ALTS {
            let exact = signed_rank_exact_p(v as f64, n, alt).unwrap();
            let normal = signed_rank_normal_p(v as f64, n, 0.0, alt).unwrap();
            worst = worst.max((exact - normal).abs());
        }
    }
    assert!(worst < 0.01, "max |exact - normal| = {worst}");
}

// ---------------------------------------------------------------------------
// Spearman
// ---------------------------------------------------------------------------

#[test]
fn spearman_exact_matches_r_doc() {
    // R ?cor.test: cor.test(x, y, method = "spearman", alternative = "greater")
    //   S = 48, p-value = 0.0484, rho = 0.6
    // Independently: full enumeration of the 9! permutations in Python gives
    //   P(S <= 48) = 0.04839891975308642; scipy.stats.permutation_test(...,
    //   permutation_type='pairings', n_resamples=inf) gives the same for 'greater',
    //   0.09679783950617284 for 'two-sided' and 0.9571373456790123 for 'less'.
    let want = [0.9571373456790123, 0.04839891975308642, 0.09679783950617284];
    for (alt, w) in ALTS.into_iter().zip(want) {
        let c = spearman(&HW_COR_X, &HW_COR_Y, alt).unwrap();
        assert_close!(c.rho, 0.6, abs = 1e-12);
        assert_eq!(c.n, 9);
        assert!(c.method.contains("exact"));
        assert_close!(c.p_value, w, abs = 1e-12);
    }
}

#[test]
fn spearman_t_approximation_matches_scipy() {
    // No ties, n = 12. scipy: spearmanr(x, y, alternative=alt)
    //   rho = 0.2657342657342658; less 0.7980834558426442, greater 0.2019165441573558,
    //   two-sided 0.4038330883147116
    let x = [
        3.2, 1.5, 4.8, 2.2, 5.9, 6.1, 7.7, 8.0, 9.3, 10.4, 11.1, 12.6,
    ];
    let y = [10., 3., 7., 1., 12., 5., 2., 8., 9., 4., 11., 6.];
    let want = [0.7980834558426442, 0.2019165441573558, 0.4038330883147116];
    for (alt, w) in ALTS.into_iter().zip(want) {
        let c = spearman(&x, &y, alt).unwrap();
        assert_close!(c.rho, 0.2657342657342658, abs = 1e-12);
        assert!(c.method.contains("t approximation"));
        assert_close!(c.p_value, w, abs = 1e-9);
    }
    // Ties in y, n = 12. scipy: rho = 0.9632238939652261, two-sided 4.980487485963565e-07,
    //   greater 2.4902437429817823e-07
    let x: Vec<f64> = (1..=12).map(f64::from).collect();
    let y = [2., 1., 4., 3., 6., 5., 8., 8., 10., 9., 12., 11.];
    let c = spearman(&x, &y, Alternative::TwoSided).unwrap();
    assert_close!(c.rho, 0.9632238939652261, abs = 1e-12);
    assert_close!(c.p_value, 4.980487485963565e-07, abs = 1e-12);
    let c = spearman(&x, &y, Alternative::Greater).unwrap();
    assert_close!(c.p_value, 2.4902437429817823e-07, abs = 1e-12);
    // Ties with small n fall back to the t approximation.
    // scipy: spearmanr([1,2,2,3,4,5,6], [1,3,2,4,4,7,6]) -> 0.9454545454545454, p 0.001295806943734299
    let c = spearman(
        &[1., 2., 2., 3., 4., 5., 6.],
        &[1., 3., 2., 4., 4., 7., 6.],
        Alternative::TwoSided,
    )
    .unwrap();
    assert_close!(c.rho, 0.9454545454545454, abs = 1e-12);
    assert_close!(c.p_value, 0.001295806943734299, abs = 1e-9);
    assert!(c.method.contains("t approximation"));
}

#[test]
fn spearman_perfect_association() {
    let x: Vec<f64> = (0..20).map(f64::from).collect();
    let y: Vec<f64> = x.iter().map(|v| v * v * v).collect();
    let c = spearman(&x, &y, Alternative::Greater).unwrap();
    assert_eq!(c.rho, 1.0);
    assert_eq!(c.p_value, 0.0);
    // exact branch: n = 5, only the identity permutation reaches S = 0 -> 1/120
    let c = spearman(&x[..5], &y[..5], Alternative::Greater).unwrap();
    assert_close!(c.p_value, 1.0 / 120.0, abs = 1e-15);
}

// ---------------------------------------------------------------------------
// linear regression
// ---------------------------------------------------------------------------

#[test]
fn linear_fit_cars_matches_r() {
    // R: summary(lm(dist ~ speed, data = cars))
    //   (Intercept) -17.5791  6.7584;  speed 3.9324  0.4155;  Residual SE 15.38 on 48 df;
    //   Multiple R-squared: 0.6511
    // R: confint(lm(dist ~ speed, data = cars))
    //   (Intercept) -31.167850 -3.990340;  speed 3.096964 4.767853
    // scipy: linregress(speed, dist) -> slope 3.9324087591240864, intercept -17.579094890510937,
    //   stderr 0.41551277665712255, intercept_stderr 6.758440169379241, r^2 0.6510793807582504;
    //   +- t.ppf(0.975, 48) * se -> (3.096964328140321, 4.767853190107852),
    //   (-31.16784960238864, -3.990340178633236)
    let f = linear_fit(&CARS_SPEED, &CARS_DIST, 0.95).unwrap();
    assert_eq!(f.n, 50);
    assert_close!(f.slope, 3.9324087591240864, abs = 1e-10);
    assert_close!(f.intercept, -17.579094890510937, abs = 1e-9);
    assert_close!(f.slope_se, 0.41551277665712255, abs = 1e-10);
    assert_close!(f.intercept_se, 6.758440169379241, abs = 1e-9);
    assert_close!(f.r_squared, 0.6510793807582504, abs = 1e-10);
    assert_close!(f.residual_se, 15.379586748819905, abs = 1e-9);
    assert_close!(f.slope_ci.0, 3.096964328140321, abs = 1e-7);
    assert_close!(f.slope_ci.1, 4.767853190107852, abs = 1e-7);
    assert_close!(f.intercept_ci.0, -31.16784960238864, abs = 1e-6);
    assert_close!(f.intercept_ci.1, -3.990340178633236, abs = 1e-6);
    // 90%: scipy t.ppf(0.95, 48) -> slope (3.235500676315952, 4.629316841932221),
    //   intercept (-28.914514270652475, -6.2436755103694)
    let f = linear_fit(&CARS_SPEED, &CARS_DIST, 0.90).unwrap();
    assert_close!(f.slope_ci.0, 3.235500676315952, abs = 1e-7);
    assert_close!(f.slope_ci.1, 4.629316841932221, abs = 1e-7);
    assert_close!(f.intercept_ci.0, -28.914514270652475, abs = 1e-6);
    assert_close!(f.intercept_ci.1, -6.2436755103694, abs = 1e-6);
}

#[test]
fn linear_fit_exact_line() {
    let x = [1.0, 2.0, 3.0, 4.0, 5.0];
    let y: Vec<f64> = x.iter().map(|v| 2.5 * v - 1.0).collect();
    let f = linear_fit(&x, &y, 0.95).unwrap();
    assert_close!(f.slope, 2.5, abs = 1e-12);
    assert_close!(f.intercept, -1.0, abs = 1e-12);
    assert_close!(f.r_squared, 1.0, abs = 1e-12);
    assert!(f.slope_se < 1e-12);
    // constant y: slope 0, exact fit
    let f = linear_fit(&x, &[3.0; 5], 0.95).unwrap();
    assert_eq!((f.slope, f.intercept, f.r_squared), (0.0, 3.0, 1.0));
}

// ---------------------------------------------------------------------------
// descriptive, bootstrap, Holm
// ---------------------------------------------------------------------------

#[test]
fn descriptive_statistics() {
    // R: var(c(2, 4, 4, 4, 5, 5, 7, 9)) = 4.571429 (= 32/7)
    assert_close!(
        sample_variance(&[2., 4., 4., 4., 5., 5., 7., 9.]).unwrap(),
        32.0 / 7.0,
        abs = 1e-12
    );
    assert_close!(mean(&SLEEP_G1).unwrap(), 0.75, abs = 1e-12);
    // R: median(sleep$extra[1:10]) = 0.35
    assert_close!(median(&SLEEP_G1).unwrap(), 0.35, abs = 1e-12);
    // R: rank(c(3, 1, 4, 1, 5, 9, 2, 6, 5)) = 4.0 1.5 5.0 1.5 6.5 9.0 3.0 8.0 6.5
    assert_eq!(
        ranks_average(&[3., 1., 4., 1., 5., 9., 2., 6., 5.]).unwrap(),
        vec![4.0, 1.5, 5.0, 1.5, 6.5, 9.0, 3.0, 8.0, 6.5]
    );
    // Variance is computed with a two-pass algorithm: large offsets are harmless.
    let shifted: Vec<f64> = [1.0, 2.0, 3.0].iter().map(|v| v + 1e9).collect();
    assert_close!(sample_variance(&shifted).unwrap(), 1.0, abs = 1e-6);
}

#[test]
fn bootstrap_median_ci_is_deterministic_and_sensible() {
    let x: Vec<f64> = (0..41).map(|i| f64::from(i) * 0.5).collect(); // median 10
    let ci1 = bootstrap_median_ci(&x, 0.95, 4000, 12345).unwrap();
    let ci2 = bootstrap_median_ci(&x, 0.95, 4000, 12345).unwrap();
    assert_eq!(ci1, ci2);
    assert!(ci1.0 < 10.0 && 10.0 < ci1.1, "{ci1:?}");
    // Normal-theory width of the median of a uniform sample is about
    // 2 * 1.96 * sqrt(pi/2) * sd / sqrt(n) ~ 7.2 here; the bootstrap should be of that order.
    let width = ci1.1 - ci1.0;
    assert!(width > 3.0 && width < 12.0, "width {width}");
    // A narrower confidence level gives a narrower interval.
    let ci50 = bootstrap_median_ci(&x, 0.5, 4000, 12345).unwrap();
    assert!(ci50.1 - ci50.0 < width);
    // A different seed changes the draws but not the picture.
    let ci3 = bootstrap_median_ci(&x, 0.95, 4000, 999).unwrap();
    assert!((ci3.0 - ci1.0).abs() < 2.0 && (ci3.1 - ci1.1).abs() < 2.0);
    // constant data: degenerate interval
    assert_eq!(
        bootstrap_median_ci(&[2.0; 7], 0.9, 100, 1).unwrap(),
        (2.0, 2.0)
    );
}

#[test]
fn holm_matches_r_p_adjust() {
    // R: p.adjust(c(0.01, 0.04, 0.03, 0.005), method = "holm") -> 0.03 0.06 0.06 0.02
    let adj = holm(&[0.01, 0.04, 0.03, 0.005]).unwrap();
    for (a, e) in adj.iter().zip([0.03, 0.06, 0.06, 0.02]) {
        assert_close!(*a, e, abs = 1e-12);
    }
    // By hand (sorted p times m, m-1, ...; running max; cap 1):
    // p.adjust(c(0.01, 0.02, 0.03, 0.04, 0.05), "holm") -> 0.05 0.08 0.09 0.09 0.09
    let adj = holm(&[0.01, 0.02, 0.03, 0.04, 0.05]).unwrap();
    for (a, e) in adj.iter().zip([0.05, 0.08, 0.09, 0.09, 0.09]) {
        assert_close!(*a, e, abs = 1e-12);
    }
    // capping at 1
    assert_eq!(holm(&[0.5, 0.6, 0.9]).unwrap(), vec![1.0, 1.0, 1.0]);
    assert!(holm(&[]).unwrap().is_empty());
    assert_eq!(
        holm_reject(&[0.01, 0.04, 0.03, 0.005], 0.05).unwrap(),
        vec![true, false, false, true]
    );
}

// ---------------------------------------------------------------------------
// errors
// ---------------------------------------------------------------------------

#[test]
fn errors_are_typed_and_name_the_offending_value() {
    let e = paired_t_test(&[1.0, 2.0], &[1.0], Alternative::TwoSided).unwrap_err();
    assert_eq!(e, StatsError::LengthMismatch { left: 2, right: 1 });
    assert!(e.to_string().contains('2') && e.to_string().contains('1'));

    let e = paired_t_test(&[1.0], &[2.0], Alternative::TwoSided).unwrap_err();
    assert!(matches!(
        e,
        StatsError::TooFewSamples {
            needed: 2,
            got: 1,
            ..
        }
    ));

    let e = welch_t_test(&[1.0, f64::NAN, 3.0], &[1.0, 2.0], Alternative::Less).unwrap_err();
    assert!(matches!(
        e,
        StatsError::NonFinite {
            name: "a",
            index: 1,
            ..
        }
    ));
    assert!(e.to_string().contains("a[1] = NaN"), "{e}");

    let e = one_sample_t_test(&[1.0, 2.0, f64::INFINITY], 0.0, Alternative::Less).unwrap_err();
    assert!(e.to_string().contains("inf"), "{e}");

    let e = paired_t_test(&[2.0, 3.0, 4.0], &[1.0, 2.0, 3.0], Alternative::TwoSided).unwrap_err();
    assert!(matches!(e, StatsError::ZeroVariance { value, .. } if value == 1.0));
    assert!(e.to_string().contains("every value equals 1"), "{e}");

    let e = welch_t_test(&[1.0, 1.0], &[2.0, 2.0, 2.0], Alternative::TwoSided).unwrap_err();
    assert!(matches!(e, StatsError::ZeroVariance { .. }));

    let e = wilcoxon_signed_rank(&[1.0, 2.0], &[1.0, 2.0], Alternative::TwoSided).unwrap_err();
    assert!(matches!(e, StatsError::TooFewSamples { got: 0, .. }));

    let e = spearman(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0], Alternative::TwoSided).unwrap_err();
    assert!(matches!(e, StatsError::ZeroVariance { .. }));

    let e = linear_fit(&[2.0; 4], &[1.0, 2.0, 3.0, 4.0], 0.95).unwrap_err();
    assert!(matches!(e, StatsError::ZeroVariance { value, .. } if value == 2.0));

    let e = linear_fit(&CARS_SPEED, &CARS_DIST, 1.5).unwrap_err();
    assert!(e.to_string().contains("confidence = 1.5"), "{e}");

    let e = bootstrap_median_ci(&[1.0, 2.0], 0.95, 0, 1).unwrap_err();
    assert!(matches!(
        e,
        StatsError::InvalidParameter {
            name: "n_resamples",
            ..
        }
    ));

    let e = holm(&[0.1, 1.2]).unwrap_err();
    assert!(e.to_string().contains("1.2"), "{e}");
    assert!(holm_reject(&[0.1], 0.0).is_err());

    let e = equivalence_tost_paired(&SLEEP_G1, &SLEEP_G2, -1.0).unwrap_err();
    assert!(e.to_string().contains("margin = -1"), "{e}");

    assert!(median(&[]).is_err());
    assert!(sample_variance(&[1.0]).is_err());
    assert!(ranks_average(&[f64::NAN]).is_err());
}

// ---------------------------------------------------------------------------
// negative / positive controls with a fixed-seed generator local to the tests
// ---------------------------------------------------------------------------

/// SplitMix64 + Box–Muller, deliberately independent of the module's own RNG.
struct Gen(u64);

impl Gen {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn uniform(&mut self) -> f64 {
        // in (0, 1]
        ((self.next_u64() >> 11) as f64 + 1.0) / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        let (u1, u2) = (self.uniform(), self.uniform());
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
    fn normals(&mut self, n: usize, shift: f64) -> Vec<f64> {
        (0..n).map(|_| self.normal() + shift).collect()
    }
}

#[test]
fn negative_control_no_effect_is_not_rejected() {
    let mut g = Gen(20240611);
    let a = g.normals(30, 0.0);
    let b = g.normals(30, 0.0);
    for r in [
        paired_t_test(&a, &b, Alternative::TwoSided).unwrap(),
        welch_t_test(&a, &b, Alternative::TwoSided).unwrap(),
        wilcoxon_signed_rank(&a, &b, Alternative::TwoSided).unwrap(),
    ] {
        assert!(!r.rejects(0.05), "false positive: {r:?}");
    }
    let c = spearman(&a, &b, Alternative::TwoSided).unwrap();
    assert!(c.p_value >= 0.05, "{c:?}");
}

#[test]
fn negative_control_type_one_error_is_calibrated() {
    // 2000 null replicates (n = 20 pairs): rejection rates at alpha = 0.05 must be
    // within ~3 binomial standard errors (0.0049) of 0.05. Exact Wilcoxon is
    // discrete and therefore at most nominal.
    let mut g = Gen(7);
    let reps = 2000;
    let (mut t_rej, mut w_rej, mut welch_rej, mut s_rej) = (0, 0, 0, 0);
    for _ in 0..reps {
        let a = g.normals(20, 0.0);
        let b = g.normals(20, 0.0);
        t_rej += paired_t_test(&a, &b, Alternative::TwoSided)
            .unwrap()
            .rejects(0.05) as usize;
        w_rej += wilcoxon_signed_rank(&a, &b, Alternative::Greater)
            .unwrap()
            .rejects(0.05) as usize;
        welch_rej += welch_t_test(&a, &b, Alternative::Less)
            .unwrap()
            .rejects(0.05) as usize;
        s_rej += (spearman(&a, &b, Alternative::TwoSided).unwrap().p_value < 0.05) as usize;
    }
    let rate = |k: usize| k as f64 / reps as f64;
    for (name, k) in [
        ("paired t", t_rej),
        ("Welch", welch_rej),
        ("Spearman", s_rej),
    ] {
        assert!(
            (0.035..=0.065).contains(&rate(k)),
            "{name}: rate {}",
            rate(k)
        );
    }
    assert!(
        (0.030..=0.060).contains(&rate(w_rej)),
        "Wilcoxon: rate {}",
        rate(w_rej)
    );
}

#[test]
fn positive_control_real_effect_is_detected() {
    let mut g = Gen(99);
    let b = g.normals(30, 0.0);
    let a: Vec<f64> = b.iter().map(|v| v + 1.0 + 0.5 * g.normal()).collect();
    assert!(paired_t_test(&a, &b, Alternative::Greater).unwrap().p_value < 1e-6);
    assert!(
        wilcoxon_signed_rank(&a, &b, Alternative::Greater)
            .unwrap()
            .p_value
            < 1e-4
    );
    assert!(paired_t_test(&a, &b, Alternative::Less).unwrap().p_value > 0.99);
    let c = spearman(&a, &b, Alternative::Greater).unwrap();
    assert!(c.rho > 0.8 && c.p_value < 1e-6, "{c:?}");
}

// ---------------------------------------------------------------------------
// property tests
// ---------------------------------------------------------------------------

fn sample(min: usize, max: usize) -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(-100.0..100.0f64, min..=max)
}

fn pairs(min: usize, max: usize) -> impl Strategy<Value = (Vec<f64>, Vec<f64>)> {
    (min..=max).prop_flat_map(|n| {
        (
            prop::collection::vec(-100.0..100.0f64, n),
            prop::collection::vec(-100.0..100.0f64, n),
        )
    })
}

/// Integer-valued pairs: produce ties and zero differences.
fn int_pairs(min: usize, max: usize) -> impl Strategy<Value = (Vec<f64>, Vec<f64>)> {
    (min..=max).prop_flat_map(|n| {
        (
            prop::collection::vec((-6i32..=6).prop_map(f64::from), n),
            prop::collection::vec((-6i32..=6).prop_map(f64::from), n),
        )
    })
}

fn in_unit(p: f64) -> bool {
    (0.0..=1.0).contains(&p)
}

proptest! {
    #![proptest_config(common::prop_config(128))]

    #[test]
    fn p_values_lie_in_unit_interval((a, b) in pairs(3, 60)) {
        for alt in ALTS {
            prop_assert!(in_unit(paired_t_test(&a, &b, alt).unwrap().p_value));
            prop_assert!(in_unit(welch_t_test(&a, &b, alt).unwrap().p_value));
            prop_assert!(in_unit(one_sample_t_test(&a, 1.0, alt).unwrap().p_value));
            prop_assert!(in_unit(wilcoxon_signed_rank(&a, &b, alt).unwrap().p_value));
            let c = spearman(&a, &b, alt).unwrap();
            prop_assert!(in_unit(c.p_value) && (-1.0..=1.0).contains(&c.rho));
        }
        prop_assert!(in_unit(equivalence_tost_paired(&a, &b, 5.0).unwrap().p_value));
    }

    #[test]
    fn p_values_with_ties_lie_in_unit_interval((a, b) in int_pairs(3, 70)) {
        for alt in ALTS {
            if let Ok(r) = wilcoxon_signed_rank(&a, &b, alt) {
                prop_assert!(in_unit(r.p_value));
            }
            if let Ok(c) = spearman(&a, &b, alt) {
                prop_assert!(in_unit(c.p_value));
            }
        }
    }

    #[test]
    fn swapping_samples_mirrors_one_sided_p_values((a, b) in pairs(3, 60)) {
        for alt in ALTS {
            let m = alt.mirrored();
            let p1 = paired_t_test(&a, &b, alt).unwrap().p_value;
            let p2 = paired_t_test(&b, &a, m).unwrap().p_value;
            prop_assert!(common::close(p1, p2, 1e-12), "paired t {alt:?}: {p1} vs {p2}");
            let p1 = welch_t_test(&a, &b, alt).unwrap().p_value;
            let p2 = welch_t_test(&b, &a, m).unwrap().p_value;
            prop_assert!(common::close(p1, p2, 1e-12), "Welch {alt:?}: {p1} vs {p2}");
            let p1 = wilcoxon_signed_rank(&a, &b, alt).unwrap().p_value;
            let p2 = wilcoxon_signed_rank(&b, &a, m).unwrap().p_value;
            prop_assert!(common::close(p1, p2, 1e-12), "Wilcoxon {alt:?}: {p1} vs {p2}");
        }
    }

    #[test]
    fn swapping_mirrors_wilcoxon_with_ties_and_spearman_sign_flip((a, b) in int_pairs(3, 70)) {
        for alt in ALTS {
            if let Ok(r) = wilcoxon_signed_rank(&a, &b, alt) {
                let s = wilcoxon_signed_rank(&b, &a, alt.mirrored()).unwrap();
                prop_assert!(common::close(r.p_value, s.p_value, 1e-12));
            }
            let neg_b: Vec<f64> = b.iter().map(|v| -v).collect();
            if let Ok(c) = spearman(&a, &b, alt) {
                let d = spearman(&a, &neg_b, alt.mirrored()).unwrap();
                prop_assert!(common::close(c.rho, -d.rho, 1e-12));
                prop_assert!(common::close(c.p_value, d.p_value, 1e-12));
            }
        }
    }

    #[test]
    fn t_test_tails_are_consistent((a, b) in pairs(3, 40)) {
        let less = paired_t_test(&a, &b, Alternative::Less).unwrap().p_value;
        let greater = paired_t_test(&a, &b, Alternative::Greater).unwrap().p_value;
        let two = paired_t_test(&a, &b, Alternative::TwoSided).unwrap().p_value;
        prop_assert!(common::close(less + greater, 1.0, 1e-9));
        prop_assert!(common::close(two, (2.0 * less.min(greater)).min(1.0), 1e-12));
    }

    #[test]
    fn spearman_is_invariant_under_monotone_transforms((a, b) in pairs(3, 30)) {
        let ta: Vec<f64> = a.iter().map(|v| (v / 50.0).exp()).collect();
        let tb: Vec<f64> = b.iter().map(|v| v * v * v + v).collect();
        for alt in ALTS {
            let c1 = spearman(&a, &b, alt).unwrap();
            let c2 = spearman(&ta, &tb, alt).unwrap();
            prop_assert!(common::close(c1.rho, c2.rho, 1e-12));
            prop_assert!(common::close(c1.p_value, c2.p_value, 1e-12));
        }
    }

    #[test]
    fn ranks_sum_to_triangular_number(x in prop::collection::vec((-5i32..5).prop_map(f64::from), 0..50)) {
        let r = ranks_average(&x).unwrap();
        let n = x.len() as f64;
        prop_assert!(common::close(r.iter().sum::<f64>(), n * (n + 1.0) / 2.0, 1e-9));
    }

    #[test]
    fn holm_adjusted_dominates_raw_and_preserves_order(p in prop::collection::vec(0.0..=1.0f64, 0..30)) {
        let adj = holm(&p).unwrap();
        prop_assert_eq!(adj.len(), p.len());
        for i in 0..p.len() {
            prop_assert!(adj[i] >= p[i] && adj[i] <= 1.0);
            for j in 0..p.len() {
                if p[i] <= p[j] {
                    prop_assert!(adj[i] <= adj[j]);
                }
            }
        }
        // holm_reject agrees with the step-down definition
        let alpha = 0.05;
        let mut sorted: Vec<usize> = (0..p.len()).collect();
        sorted.sort_by(|&i, &j| p[i].total_cmp(&p[j]));
        let m = p.len();
        let k = sorted.iter().enumerate()
            .take_while(|(j, &i)| p[i] <= alpha / (m - j) as f64)
            .count();
        let expected_rejected: Vec<bool> = {
            let mut e = vec![false; m];
            for &i in &sorted[..k] { e[i] = true; }
            e
        };
        prop_assert_eq!(holm_reject(&p, alpha).unwrap(), expected_rejected);
    }

    #[test]
    fn bootstrap_interval_is_ordered_and_within_range(x in sample(1, 40), seed in any::<u64>()) {
        let (lo, hi) = bootstrap_median_ci(&x, 0.9, 200, seed).unwrap();
        let min = x.iter().copied().fold(f64::INFINITY, f64::min);
        let max = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        prop_assert!(min <= lo && lo <= hi && hi <= max);
        prop_assert_eq!((lo, hi), bootstrap_median_ci(&x, 0.9, 200, seed).unwrap());
    }

    #[test]
    fn linear_fit_recovers_noiseless_lines(
        x in sample(3, 30), slope in -10.0..10.0f64, intercept in -10.0..10.0f64
    ) {
        let spread = x.iter().copied().fold(f64::NEG_INFINITY, f64::max)
            - x.iter().copied().fold(f64::INFINITY, f64::min);
        prop_assume!(spread > 1e-3);
        let y: Vec<f64> = x.iter().map(|v| intercept + slope * v).collect();
        let f = linear_fit(&x, &y, 0.95).unwrap();
        prop_assert!(common::close(f.slope, slope, 1e-8));
        prop_assert!(common::close(f.intercept, intercept, 1e-6));
        prop_assert!(f.slope_ci.0 <= f.slope && f.slope <= f.slope_ci.1);
    }
}

// ---------------------------------------------------------------------------
// Edge cases (issue 12, item 6). Reference values: scipy 1.17.1 where scipy
// is right, exact rational arithmetic (Python `fractions` + mpmath) where
// scipy itself loses the digits (it warns "catastrophic cancellation").
// ---------------------------------------------------------------------------

#[test]
fn constant_sample_whose_mean_does_not_round_back_has_zero_variance() {
    // mean([0.1; 3]) in f64 is 0.10000000000000002 ≠ 0.1; today's two-pass
    // variance then gave t = 1.019e16, p = 9.6e-33 (scipy 1.17: the same, with
    // a precision-loss warning; R: "data are essentially constant").
    let x = [0.1; 3];
    assert!(matches!(
        one_sample_t_test(&x, 0.0, Alternative::TwoSided),
        Err(StatsError::ZeroVariance { .. })
    ));
    assert!(matches!(
        paired_t_test(&x, &[0.0; 3], Alternative::TwoSided),
        Err(StatsError::ZeroVariance { .. })
    ));
    assert!(matches!(
        equivalence_tost_paired(&x, &[0.0; 3], 0.5),
        Err(StatsError::ZeroVariance { .. })
    ));
    assert!(matches!(
        welch_t_test(&x, &[0.3; 4], Alternative::TwoSided),
        Err(StatsError::ZeroVariance { .. })
    ));
}

#[test]
fn linear_fit_with_constant_x_is_zero_variance() {
    // scipy.stats.linregress([0.1]*3, [1, 2, 3]): ValueError "Cannot calculate a
    // linear regression if all x values are identical"; today: a slope CI of
    // ±7.5e17.
    assert!(matches!(
        linear_fit(&[0.1; 3], &[1.0, 2.0, 3.0], 0.95),
        Err(StatsError::ZeroVariance { .. })
    ));
}

#[test]
fn welch_means_are_computed_in_shifted_coordinates() {
    // Two samples on a common offset of 1e15 (every value exact in f64).
    // Exact rational arithmetic: t = -1.4084056792618557, df = 7.9657479261439657,
    // estimate = -0.275, two-sided p = 0.19682376442398428 (scipy.stats.t.sf at
    // that t and df). Today (and scipy's ttest_ind, which warns): t = -0.5976,
    // estimate = -0.125, p = 0.5667.
    let base = 1e15;
    let a = [0.125, 0.5, 0.875, 0.25, 0.625].map(|v| base + v);
    let b = [0.375, 0.75, 1.0, 0.5, 1.125].map(|v| base + v);
    let r = welch_t_test(&a, &b, Alternative::TwoSided).unwrap();
    assert_close!(r.estimate, -0.275, abs = 1e-15);
    assert_close!(r.statistic, -1.4084056792618557, abs = 1e-13);
    assert_close!(r.df.unwrap(), 7.965747926143966, abs = 1e-12);
    assert_close!(r.p_value, 0.19682376442398428, abs = 1e-10);
}

#[test]
fn holm_rejects_a_p_value_equal_to_its_threshold() {
    // p = fl(0.05 / 11) is the Holm threshold of the smallest of 11 p-values;
    // 11 · p rounds to 0.05000000000000001 > 0.05, so today it was not
    // rejected (while for m = 7 it was). statsmodels' multipletests(...,
    // method="holm") compares with α/k and rejects it.
    let alpha = 0.05;
    let mut p = vec![0.9; 11];
    p[4] = alpha / 11.0;
    let rej = holm_reject(&p, alpha).unwrap();
    assert!(rej[4], "{rej:?}");
    assert_eq!(rej.iter().filter(|&&r| r).count(), 1);
    // Second step: thresholds α/11, α/10 exactly.
    p[7] = alpha / 10.0;
    let rej = holm_reject(&p, alpha).unwrap();
    assert!(rej[4] && rej[7], "{rej:?}");
}

#[test]
fn signed_rank_helpers_reject_nan() {
    // Today: signed_rank_exact_p(NaN, ..) returned a probability (NaN.ceil()
    // became index 0, so P(V ≥ NaN) = 1) and signed_rank_normal_p returned NaN.
    assert!(matches!(
        signed_rank_exact_p(f64::NAN, 9, Alternative::Greater),
        Err(StatsError::NonFinite { .. })
    ));
    assert!(matches!(
        signed_rank_normal_p(f64::NAN, 9, 0.0, Alternative::Less),
        Err(StatsError::NonFinite { .. })
    ));
    assert!(matches!(
        signed_rank_normal_p(40.0, 9, f64::NAN, Alternative::TwoSided),
        Err(StatsError::NonFinite { .. })
    ));
}
