//! The standard normal distribution: density and cumulative distribution.
//!
//! `N(x) = erfc(-x/√2)/2` with `erfc` from rust-lang's `libm` (FreeBSD
//! msun's `s_erf.c`, under one ulp on the whole line; its tail is computed
//! as `exp(-z²-0.5625)·R(1/z²)/z` with `z²` split exactly, so it keeps full
//! relative accuracy down to the subnormals). Two roundings would still
//! cost accuracy far in the lower tail, and both are corrected here:
//!
//! * the argument `x/√2`: an error `δ` in it becomes a relative error of
//!   about `2zδ` in `erfc(z)` (`≈ 1e-14` at `x = -10`, `≈ 1e-13` at `x = -37`).
//!   The product is split exactly with a fused multiply-add, `1/√2` is
//!   carried as two doubles, and the erfc is corrected to first order;
//! * the square in the density `exp(-x²/2)`: the rounding of `x²` is
//!   amplified by `x²/2`; the square is split exactly with a fused
//!   multiply-add and the low part applied to first order.
//!
//! The result: `N(x)` and `φ(x)` within a few units of 1e-16, relative, for
//! every `x` down to `-37.5` (where `N` becomes subnormal), as the tests
//! check against 50-digit reference values. Why not `statrs`: its normal CDF
//! is accurate too (Boost's erfc), but the crate brings `nalgebra` and
//! `rand` by default; why not W. J. Cody's rational approximation written
//! out here: `libm` is the same kind of minimax rational approximation,
//! maintained and tested by the Rust project, and already in the lock file.

use std::f64::consts::FRAC_1_SQRT_2;

/// `1/√2 − FRAC_1_SQRT_2`: the low part of `1/√2` (50-digit arithmetic).
const FRAC_1_SQRT_2_LO: f64 = -4.833646656726457e-17;
/// `1/√π`.
const FRAC_1_SQRT_PI: f64 = 0.5641895835477563;
/// `1/√(2π)`.
const FRAC_1_SQRT_2PI: f64 = 0.3989422804014327;
/// Past this distance from 0 the density and the tail are 0 in `f64`
/// (`φ(38.6) < 5e-324`), and the exact splits would meet infinities.
const TAIL_CUTOFF: f64 = 39.0;

/// The upper tail `Q(u) = 1 − N(u) = erfc(u/√2)/2` for `u ≥ 0`.
fn upper_tail(u: f64) -> f64 {
    if u > TAIL_CUTOFF {
        return 0.0;
    }
    let z = u * FRAC_1_SQRT_2;
    // u/√2 = z + err exactly (up to the 1e-33 relative error of the constant pair)
    let err = u.mul_add(FRAC_1_SQRT_2, -z) + u * FRAC_1_SQRT_2_LO;
    // erfc'(z) = -2·exp(-z²)/√π; the correction is relative 2·z·err ≤ 1e-14
    0.5 * libm::erfc(z) - err * FRAC_1_SQRT_PI * (-z * z).exp()
}

/// The standard normal cumulative distribution function `N(x)`.
///
/// Accurate to a few units of 1e-16, relative, for every `x` (down to
/// `N(x)` subnormal, below `x ≈ -37.5`). `N(-∞) = 0`, `N(∞) = 1`; NaN gives
/// NaN (no input of this crate's validated functions produces one).
///
/// ```
/// use wasmtrade_pricing::norm_cdf;
/// assert_eq!(norm_cdf(0.0), 0.5);
/// let rel = (norm_cdf(-10.0) - 7.619853024160525e-24).abs() / 7.619853024160525e-24;
/// assert!(rel < 1e-15);
/// ```
pub fn norm_cdf(x: f64) -> f64 {
    if x.is_nan() {
        x
    } else if x < 0.0 {
        upper_tail(-x)
    } else {
        1.0 - upper_tail(x)
    }
}

/// The standard normal density `φ(x) = exp(−x²/2)/√(2π)`.
///
/// Accurate to a few units of 1e-16, relative, for every `x` where it is a
/// normal number; 0 for `|x| > 39` and for infinite `x`.
///
/// ```
/// use wasmtrade_pricing::norm_pdf;
/// assert!((norm_pdf(0.0) - 0.3989422804014327).abs() < 1e-16);
/// assert_eq!(norm_pdf(f64::NEG_INFINITY), 0.0);
/// ```
pub fn norm_pdf(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    if x.abs() > TAIL_CUTOFF {
        return 0.0;
    }
    let hi = x * x;
    let lo = x.mul_add(x, -hi);
    // exp(-(hi+lo)/2) = exp(-hi/2)·(1 - lo/2 + O(lo²)), |lo| ≤ ulp(hi)/2
    FRAC_1_SQRT_2PI * (-0.5 * hi).exp() * (1.0 - 0.5 * lo)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(x, N(x))` from mpmath with 60 digits (`mp.ncdf`).
    const CDF: &[(f64, f64)] = &[
        (-37.5, 4.605353009581955e-308),
        (-30.0, 4.906713927148187e-198),
        (-20.0, 2.7536241186062337e-89),
        (-12.5, 3.732564298877713e-36),
        (-10.0, 7.619853024160525e-24),
        (-8.0, 6.220960574271784e-16),
        (-6.0, 9.86587645037698e-10),
        (-5.6, 1.071759025831093e-08),
        (-5.0, 2.866515718791939e-07),
        (-3.0, 0.0013498980316300946),
        (-2.0, 0.02275013194817921),
        (-1.5, 0.06680720126885807),
        (-1.0, 0.15865525393145705),
        (-0.5, 0.3085375387259869),
        (-0.001, 0.49960105778608893),
        (0.0, 0.5),
        (0.001, 0.500398942213911),
        (0.5, 0.6914624612740131),
        (1.0, 0.8413447460685429),
        (2.0, 0.9772498680518208),
        (3.0, 0.9986501019683699),
        (5.0, 0.9999997133484281),
        (8.0, 0.9999999999999993),
    ];

    /// `(x, φ(x))` from mpmath with 60 digits (`mp.npdf`).
    const PDF: &[(f64, f64)] = &[
        (-30.0, 1.4736461348785476e-196),
        (-10.0, 7.694598626706419e-23),
        (-1.0, 0.24197072451914334),
        (0.0, 0.3989422804014327),
        (2.5, 0.017528300493568537),
        (7.0, 9.134720408364594e-12),
    ];

    #[test]
    fn cdf_matches_50_digit_values_to_1e_15_relative() {
        for &(x, want) in CDF {
            let got = norm_cdf(x);
            let rel = ((got - want) / want).abs();
            assert!(
                rel < 1e-15,
                "N({x}) = {got:e}, want {want:e}: relative error {rel:e}"
            );
        }
    }

    #[test]
    fn pdf_matches_50_digit_values_to_1e_15_relative() {
        for &(x, want) in PDF {
            let got = norm_pdf(x);
            let rel = ((got - want) / want).abs();
            assert!(
                rel < 1e-15,
                "φ({x}) = {got:e}, want {want:e}: relative error {rel:e}"
            );
        }
    }

    #[test]
    fn limits_and_symmetry() {
        assert_eq!(norm_cdf(f64::NEG_INFINITY), 0.0);
        assert_eq!(norm_cdf(f64::INFINITY), 1.0);
        assert_eq!(norm_cdf(-40.0), 0.0);
        assert_eq!(norm_pdf(f64::INFINITY), 0.0);
        assert!(norm_cdf(f64::NAN).is_nan());
        for i in 0..=400 {
            let x = f64::from(i) * 0.02;
            let sum = norm_cdf(x) + norm_cdf(-x);
            assert!(
                (sum - 1.0).abs() <= 2.0 * f64::EPSILON,
                "N({x}) + N(-{x}) = {sum}"
            );
            assert_eq!(norm_pdf(x), norm_pdf(-x));
        }
    }

    #[test]
    fn cdf_is_monotone() {
        let mut prev = 0.0;
        for i in -4000..=4000 {
            let x = f64::from(i) * 0.01;
            let p = norm_cdf(x);
            assert!(p >= prev, "N not monotone at {x}");
            prev = p;
        }
    }
}
