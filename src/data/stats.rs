//! Error statistics of an output against its f64 reference, and the rows they
//! are computed on:
//!
//! * `rel_err = ‖O − O_ref‖_F / ‖O_ref‖_F`
//! * `max_abs_err = max_ij |O_ij − O_ref,ij|`
//! * `max_abs_diff`: a GPU kernel against its f32 CPU twin.
//!
//! Rows are independent in attention, so for large n the errors are
//! computed exactly on an evenly spaced sample of rows ([`sample_rows`]).

use ndarray::{ArrayView2, Axis};

/// Rows compared when n is larger than this (all rows otherwise).
pub const MAX_CHECKED_ROWS: usize = 256;

/// The rows the error figures compare: all of them up to
/// [`MAX_CHECKED_ROWS`], otherwise that many evenly spaced rows including the
/// first and the last.
pub fn sample_rows(n: usize) -> Vec<usize> {
    if n <= MAX_CHECKED_ROWS {
        return (0..n).collect();
    }
    let m = MAX_CHECKED_ROWS;
    (0..m).map(|t| t * (n - 1) / (m - 1)).collect()
}

/// Error figures of `out` (f32) against `exact` (f64), same shape.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Errors {
    /// ‖out − exact‖_F / ‖exact‖_F (the absolute norm if ‖exact‖ = 0).
    pub rel_err: f64,
    /// max |out − exact|.
    pub max_abs_err: f64,
}

/// Compares an f32 output with the f64 reference.
///
/// # Panics
/// If the shapes differ.
pub fn errors(out: ArrayView2<'_, f32>, exact: ArrayView2<'_, f64>) -> Errors {
    assert_eq!(out.dim(), exact.dim(), "shapes differ");
    let mut diff2 = 0.0f64;
    let mut ref2 = 0.0f64;
    let mut max_abs = 0.0f64;
    for (&o, &e) in out.iter().zip(exact.iter()) {
        let d = o as f64 - e;
        diff2 += d * d;
        ref2 += e * e;
        max_abs = max_abs.max(d.abs());
    }
    // NaN must not vanish into max(): propagate it so callers can refuse it.
    if diff2.is_nan() {
        max_abs = f64::NAN;
    }
    let rel_err = if ref2 > 0.0 {
        (diff2 / ref2).sqrt()
    } else {
        diff2.sqrt()
    };
    Errors {
        rel_err,
        max_abs_err: max_abs,
    }
}

/// max |a − b| between two f32 arrays of one shape (NaN if either has NaN).
pub fn max_abs_diff(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> f64 {
    assert_eq!(a.dim(), b.dim(), "shapes differ");
    let mut m = 0.0f64;
    for (&x, &y) in a.iter().zip(b.iter()) {
        let d = (x as f64 - y as f64).abs();
        if d.is_nan() {
            return f64::NAN;
        }
        m = m.max(d);
    }
    m
}

/// Selects rows of a matrix (a copy), in the order given.
pub fn select_rows(a: ArrayView2<'_, f32>, rows: &[usize]) -> ndarray::Array2<f32> {
    a.select(Axis(0), rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;
    #[test]
    fn sample_rows_cover_the_ends_evenly() {
        assert_eq!(sample_rows(3), vec![0, 1, 2]);
        let s = sample_rows(16384);
        assert_eq!(s.len(), MAX_CHECKED_ROWS);
        assert_eq!((s[0], *s.last().unwrap()), (0, 16383));
        assert!(s.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn errors_are_relative_frobenius_and_max_abs() {
        let out = array![[1.0f32, 2.0], [3.0, 4.0]];
        let exact = array![[1.0f64, 2.0], [3.0, 5.0]];
        let e = errors(out.view(), exact.view());
        assert!((e.rel_err - 1.0 / (1.0f64 + 4.0 + 9.0 + 25.0).sqrt()).abs() < 1e-12);
        assert_eq!(e.max_abs_err, 1.0);
        let nan = array![[f32::NAN, 2.0], [3.0, 4.0]];
        assert!(errors(nan.view(), exact.view()).max_abs_err.is_nan());
        assert!(max_abs_diff(nan.view(), out.view()).is_nan());
    }
}
