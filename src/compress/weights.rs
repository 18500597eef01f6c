//! Seeded weight matrices for the quantization lab, bit-identical on every
//! platform (drawn from [`GaussianStream`], arithmetic in f64, one rounding
//! to f32):
//!
//! * `gaussian` — N(0, σ²) with σ = 0.02, BERT's initializer range (Devlin
//!   et al., 2019; `initializer_range` in its config);
//! * `heavy-tailed` — what trained transformer weights and activations look
//!   like to a quantizer: a Student-t body with ν = 4 degrees of freedom
//!   (rescaled to σ = 0.02), whose tails are far heavier than a Gaussian's,
//!   and a few outlier input channels — one column in 128, at least one —
//!   scaled by 20. Dettmers et al., "LLM.int8(): 8-bit Matrix Multiplication
//!   for Transformers at Scale" (NeurIPS 2022, §4) report such outlier
//!   features: magnitudes up to 20× the rest, concentrated in a handful of
//!   hidden dimensions that every token shares; Bondarenko et al.,
//!   "Understanding and Overcoming the Challenges of Efficient Transformer
//!   Quantization" (EMNLP 2021) find them in BERT's FFN outputs and residual
//!   stream, and Kovaleva et al., "BERT Busters: Outlier Dimensions that
//!   Disrupt Transformers" (ACL Findings 2021), in the LayerNorm weights
//!   that scale those dimensions. An outlier *column* is the hard case for
//!   per-channel (per output row) scales: every row holds one outlier, so
//!   every row's scale is stretched by it — only groups that separate the
//!   outlier help;
//! * the user's `.npy` (2-D float32 / float64; see [`crate::inputs::parse_npy`]).

use ndarray::Array2;

use crate::inputs::{GaussianStream, derive_seed};

/// Standard deviation of the seeded weights.
pub const SIGMA: f64 = 0.02;
/// Degrees of freedom of the heavy-tailed body.
pub const T_DOF: u32 = 4;
/// One outlier column per this many columns (at least one).
pub const OUTLIER_EVERY: usize = 128;
/// How much larger the outlier columns are.
pub const OUTLIER_SCALE: f64 = 20.0;

/// A seeded weight generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generator {
    /// N(0, 0.02²).
    Gaussian,
    /// Student-t (ν = 4) with outlier columns.
    HeavyTailed,
}

impl Generator {
    /// Both, in control order.
    pub const ALL: [Generator; 2] = [Generator::Gaussian, Generator::HeavyTailed];

    /// URL / CLI name.
    pub fn key(self) -> &'static str {
        match self {
            Generator::Gaussian => "gaussian",
            Generator::HeavyTailed => "heavy-tailed",
        }
    }

    /// The generator named `key`.
    pub fn from_key(key: &str) -> Option<Generator> {
        Generator::ALL.into_iter().find(|g| g.key() == key)
    }

    /// One line for the page.
    pub fn describe(self) -> &'static str {
        match self {
            Generator::Gaussian => "Gaussian N(0, 0.02²), BERT's initialisation",
            Generator::HeavyTailed => {
                "Student-t (ν = 4) with outlier columns 20× larger, as in trained transformers (Dettmers et al. 2022; Bondarenko et al. 2021)"
            }
        }
    }

    /// A rows × cols matrix for `seed`.
    pub fn generate(self, rows: usize, cols: usize, seed: u64) -> Array2<f32> {
        match self {
            Generator::Gaussian => gaussian(rows, cols, seed),
            Generator::HeavyTailed => heavy_tailed(rows, cols, seed),
        }
    }
}

/// N(0, σ²) weights.
pub fn gaussian(rows: usize, cols: usize, seed: u64) -> Array2<f32> {
    GaussianStream::new(derive_seed(seed, "weights.gaussian", 0)).matrix(rows, cols, SIGMA)
}

/// The columns that carry outliers for `cols` and `seed`, increasing.
pub fn outlier_columns(cols: usize, seed: u64) -> Vec<usize> {
    let count = (cols / OUTLIER_EVERY).max(1).min(cols);
    let mut g = GaussianStream::new(derive_seed(seed, "weights.outliers", 0));
    let mut picked: Vec<usize> = Vec::with_capacity(count);
    while picked.len() < count {
        let c = ((g.uniform() * cols as f64) as usize).min(cols - 1);
        if !picked.contains(&c) {
            picked.push(c);
        }
    }
    picked.sort_unstable();
    picked
}

/// Student-t (ν = 4) weights rescaled to σ, with outlier columns.
pub fn heavy_tailed(rows: usize, cols: usize, seed: u64) -> Array2<f32> {
    let mut g = GaussianStream::new(derive_seed(seed, "weights.heavy-tailed", 0));
    let nu = T_DOF as f64;
    // Var(t_ν) = ν / (ν − 2): rescale the body to σ.
    let unit = SIGMA * ((nu - 2.0) / nu).sqrt();
    let outliers = if cols == 0 {
        Vec::new()
    } else {
        outlier_columns(cols, seed)
    };
    let mut x = Array2::from_shape_simple_fn((rows, cols), || {
        let z = g.sample();
        let chi2: f64 = (0..T_DOF).map(|_| g.sample().powi(2)).sum();
        (z / (chi2 / nu).sqrt() * unit) as f32
    });
    for &j in &outliers {
        x.column_mut(j)
            .mapv_inplace(|v| (v as f64 * OUTLIER_SCALE) as f32);
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kurtosis(x: &Array2<f32>) -> f64 {
        let n = x.len() as f64;
        let mean = x.iter().map(|&v| v as f64).sum::<f64>() / n;
        let m2 = x.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
        let m4 = x.iter().map(|&v| (v as f64 - mean).powi(4)).sum::<f64>() / n;
        m4 / (m2 * m2)
    }

    #[test]
    fn generators_are_seeded_and_shaped() {
        for g in Generator::ALL {
            let a = g.generate(5, 300, 7);
            assert_eq!(a.dim(), (5, 300));
            assert_eq!(a, g.generate(5, 300, 7));
            assert_ne!(a, g.generate(5, 300, 8));
            assert!(a.iter().all(|x| x.is_finite()));
        }
    }

    #[test]
    fn gaussian_has_the_stated_spread_and_light_tails() {
        let x = gaussian(64, 256, 1);
        let sd = (x.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / x.len() as f64).sqrt();
        assert!((sd / SIGMA - 1.0).abs() < 0.03, "sd {sd}");
        assert!(
            (kurtosis(&x) - 3.0).abs() < 0.3,
            "kurtosis {}",
            kurtosis(&x)
        );
    }

    #[test]
    fn heavy_tailed_has_outlier_columns_and_heavy_tails() {
        let (rows, cols) = (64, 512);
        let x = heavy_tailed(rows, cols, 1);
        let outliers = outlier_columns(cols, 1);
        assert_eq!(outliers.len(), 4);
        let col_rms = |j: usize| {
            (x.column(j).iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / rows as f64).sqrt()
        };
        let typical: f64 = (0..cols)
            .filter(|j| !outliers.contains(j))
            .map(col_rms)
            .sum::<f64>()
            / (cols - outliers.len()) as f64;
        for &j in &outliers {
            assert!(
                col_rms(j) > 8.0 * typical,
                "column {j}: {} vs {typical}",
                col_rms(j)
            );
        }
        // Without the outlier columns the body alone is heavy-tailed
        // (t₄'s kurtosis is infinite; a sample's is well above 3).
        let kept: Vec<usize> = (0..cols).filter(|j| !outliers.contains(j)).collect();
        let body = x.select(ndarray::Axis(1), &kept);
        assert!(kurtosis(&body) > 4.5, "kurtosis {}", kurtosis(&body));
    }
}
