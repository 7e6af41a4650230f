//! Distances to the test-loss minimizer set of the diagonal network.
//!
//! For `Diagonal` (θ = (u, v), β = u ⊙ v) the population loss R(β) is minimized
//! exactly on M* = {θ : u ⊙ v = β*} (Λ ≻ 0). M* is a *product* of planar sets,
//! one per coordinate pair (u_j, v_j):
//!
//! * β*_j = 0: the union of the two axes {u_j = 0} ∪ {v_j = 0}; the distance
//!   of (u, v) to it is min(|u|, |v|);
//! * β*_j = b ≠ 0: the hyperbola {u v = b} with two branches
//!   (s₁ √|b| eᵗ, s₂ √|b| e⁻ᵗ), t ∈ ℝ, s₁ s₂ = sign b.
//!
//! Hence dist(θ, M*)² = Σ_j dist((u_j, v_j), {u v = β*_j})², computed
//! coordinate by coordinate (`proofs/claims.md`, "distance to the minimizer set").

/// Euclidean distance of the point (u, v) to the planar set {(x, y) : x y = b}.
///
/// For b = 0 this is min(|u|, |v|). For b ≠ 0 the squared distance to a branch,
/// h(t) = (s₁√|b| eᵗ − u)² + (s₂√|b| e⁻ᵗ − v)², is minimized over t: the
/// stationary points solve the quartic √|b| w⁴ − s₁u w³ + s₂v w − √|b| = 0 in
/// w = eᵗ > 0; they are bracketed on a fine grid in t and polished by
/// bisection of h′ to machine precision, and the smallest h over the stationary
/// points of both branches is returned.
///
/// # Examples
///
/// ```
/// use latedecay::claims::geometry::distance_to_hyperbola;
/// // The origin is at distance √(2b) from x y = b (nearest point (√b, √b)).
/// assert!((distance_to_hyperbola(0.0, 0.0, 2.0) - 2.0).abs() < 1e-12);
/// // A point on the set has distance 0.
/// assert!(distance_to_hyperbola(2.0, 0.5, 1.0) < 1e-12);
/// // b = 0: distance to the axes.
/// assert_eq!(distance_to_hyperbola(0.3, -2.0, 0.0), 0.3);
/// ```
pub fn distance_to_hyperbola(u: f64, v: f64, b: f64) -> f64 {
    if b == 0.0 {
        return u.abs().min(v.abs());
    }
    let r = b.abs().sqrt();
    let mut best = f64::INFINITY;
    let signs: [(f64, f64); 2] = if b > 0.0 {
        [(1.0, 1.0), (-1.0, -1.0)]
    } else {
        [(1.0, -1.0), (-1.0, 1.0)]
    };
    for (s1, s2) in signs {
        let h = |t: f64| {
            let dx = s1 * r * t.exp() - u;
            let dy = s2 * r * (-t).exp() - v;
            dx * dx + dy * dy
        };
        // h'(t)/2 = s1 r eᵗ (s1 r eᵗ − u) − s2 r e⁻ᵗ (s2 r e⁻ᵗ − v)
        let dh = |t: f64| {
            let (et, emt) = (t.exp(), (-t).exp());
            s1 * r * et * (s1 * r * et - u) - s2 * r * emt * (s2 * r * emt - v)
        };
        // The nearest point has |x|, |y| ≤ |(u, v)| + √(2|b|) + 1, which bounds t.
        let reach = (u.hypot(v) + (2.0 * b.abs()).sqrt() + 1.0) / r;
        let t_max = reach.ln().max(1.0) + 1.0;
        const GRID: usize = 4000;
        let step = 2.0 * t_max / GRID as f64;
        let mut prev_t = -t_max;
        let mut prev_d = dh(prev_t);
        for i in 1..=GRID {
            let t = -t_max + step * i as f64;
            let d = dh(t);
            if prev_d == 0.0 {
                best = best.min(h(prev_t));
            } else if prev_d < 0.0 && d >= 0.0 {
                // a local minimum of h in [prev_t, t]: bisect h'
                let (mut lo, mut hi) = (prev_t, t);
                for _ in 0..200 {
                    let mid = 0.5 * (lo + hi);
                    if mid <= lo || mid >= hi {
                        break;
                    }
                    if dh(mid) < 0.0 {
                        lo = mid;
                    } else {
                        hi = mid;
                    }
                }
                best = best.min(h(lo)).min(h(hi));
            }
            prev_t = t;
            prev_d = d;
        }
        // Endpoints (h is coercive, so minima are interior; kept as a safeguard).
        best = best.min(h(-t_max)).min(h(t_max));
    }
    best.sqrt()
}

/// Distance of a diagonal-network parameter θ = (u, v) to the set
/// {θ : u ⊙ v = β*}, computed exactly coordinate by coordinate.
///
/// # Examples
///
/// ```
/// use latedecay::claims::geometry::distance_to_product_set;
/// // θ = (u, v) = ((1, 0.5), (1, 0.5)), β* = (1, 0): coordinate 1 is on its
/// // hyperbola, coordinate 2 is 0.5 away from the axes.
/// let d = distance_to_product_set(&[1.0, 0.5, 1.0, 0.5], &[1.0, 0.0]);
/// assert!((d - 0.5).abs() < 1e-12);
/// ```
pub fn distance_to_product_set(theta: &[f64], beta_star: &[f64]) -> f64 {
    let d = beta_star.len();
    assert_eq!(theta.len(), 2 * d, "θ must hold u then v (length 2d)");
    (0..d)
        .map(|j| distance_to_hyperbola(theta[j], theta[j + d], beta_star[j]).powi(2))
        .sum::<f64>()
        .sqrt()
}

/// ‖β(θ) − β*‖ for the diagonal network (the distance in β-space, reported
/// next to the θ-space distance).
pub fn beta_distance(theta: &[f64], beta_star: &[f64]) -> f64 {
    let d = beta_star.len();
    (0..d)
        .map(|j| (theta[j] * theta[j + d] - beta_star[j]).powi(2))
        .sum::<f64>()
        .sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Brute force: minimize over a very fine parametrization of both branches.
    fn brute(u: f64, v: f64, b: f64) -> f64 {
        let r = b.abs().sqrt();
        let mut best = f64::INFINITY;
        for k in -200_000..=200_000 {
            let t = k as f64 * 1e-4;
            for (s1, s2) in [(1.0, b.signum()), (-1.0, -b.signum())] {
                let dx = s1 * r * t.exp() - u;
                let dy = s2 * r * (-t).exp() - v;
                best = best.min(dx * dx + dy * dy);
            }
        }
        best.sqrt()
    }

    #[test]
    fn matches_brute_force() {
        for &(u, v, b) in &[
            (0.3, 1.7, 1.0),
            (-0.4, 0.2, 1.0),
            (2.0, 2.0, 1.0),
            (1.5, -0.3, -0.7),
            (0.0, 0.0, -2.0),
            (3.0, 0.1, 0.5),
            (-1.0, -1.0, 0.2),
        ] {
            let got = distance_to_hyperbola(u, v, b);
            let want = brute(u, v, b);
            assert!((got - want).abs() < 1e-6, "({u},{v},{b}): {got} vs {want}");
        }
    }

    #[test]
    fn point_inside_convex_region_uses_nearest_branch_point() {
        // (2, 2) with b = 1: nearest point is (1, 1) at distance √2.
        let got = distance_to_hyperbola(2.0, 2.0, 1.0);
        assert!((got - 2f64.sqrt()).abs() < 1e-12, "{got}");
    }
}
