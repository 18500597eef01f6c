//! Linformer (Wang et al. 2020, "Linformer: Self-Attention with Linear
//! Complexity"; survey §"Low-Rank Factorization", Eq. 22): project the n keys
//! and values to k rows with E, F ∈ ℝ^{k×n},
//!
//! O = softmax(Q(EK)ᵀ/√d)·(FV),  O(nk) time and memory,
//!
//! with E and F drawn N(0, 1/k) from the seed (`--share-ef` makes F = E, the
//! paper's shared projection). Projecting along the sequence mixes past and
//! future positions, so Linformer cannot be causal. Its implied attention
//! matrix is softmax(Q(EK)ᵀ/√d)·F: an n×k map back-projected to n×n, which
//! need not be a distribution (entries can be negative).

use std::ops::Range;

use ndarray::{Array1, Array2, ArrayView2, ArrayViewMut2};

use super::{
    AttentionMethod, Budget, Config, Cost, LocalFuture, MethodError, MethodInfo, ParamSpec,
    RowKernel, RowPattern, Shape, WeightSink,
};
use crate::gpu::linalg::Builder;
use crate::gpu::tiled_attention::{row_major, timed};
use crate::gpu::{GpuContext, GpuError, GpuOutput, GpuRunOptions};
use crate::inputs::{GaussianStream, Inputs, derive_seed};
use crate::measure::{AttentionMap, FactorMap};

const PROJ_DIM: ParamSpec = ParamSpec::int(
    "proj-dim",
    "Projection k",
    "keys and values are projected to k rows",
    1,
    4096,
    32,
);
const SHARE_EF: ParamSpec = ParamSpec::flag(
    "share-ef",
    "Share E = F",
    "one projection for keys and values",
);

static INFO: MethodInfo = MethodInfo {
    key: "linformer",
    label: "Linformer",
    family: "Low-rank",
    paper: "Wang, Li, Khabsa, Fang & Ma 2020, Linformer: Self-Attention with Linear Complexity",
    equation: "O = softmax(Q(EK)ᵀ/√d)·(FV),  E, F ∈ ℝ^{k×n}",
    params: &[PROJ_DIM, SHARE_EF],
    causal_unsupported: Some(
        "E and F mix all n positions into each projected row, so a query would see future keys",
    ),
    budget: Some(Budget {
        key: "proj-dim",
        slope: None,
        law: "error falls as k grows",
    }),
};

/// Registry entry (`--method linformer`).
pub struct Linformer;

/// E and F (k × n), N(0, 1/k), from the seed; F = E when shared.
pub fn projections(n: usize, k: usize, seed: u64, share: bool) -> (Array2<f32>, Array2<f32>) {
    let draw = |index: u64| {
        let mut g = GaussianStream::new(derive_seed(seed, "linformer", index));
        let sd = 1.0 / (k as f64).sqrt();
        Array2::from_shape_simple_fn((k, n), || (g.sample() * sd) as f32)
    };
    let e = draw(0);
    let f = if share { e.clone() } else { draw(1) };
    (e, f)
}

fn knobs(config: &Config<'_>) -> (usize, bool) {
    (
        config.param(&PROJ_DIM) as usize,
        config.param(&SHARE_EF) != 0,
    )
}

/// The f32 CPU twin.
pub struct LinformerTwin<'a> {
    q: ArrayView2<'a, f32>,
    ek: Array2<f32>,
    fv: Array2<f32>,
    f: Array2<f32>,
    scale: f32,
}

impl<'a> LinformerTwin<'a> {
    /// Projects K and V.
    pub fn new(inputs: &'a Inputs, k: usize, seed: u64, share: bool) -> LinformerTwin<'a> {
        let (e, f) = projections(inputs.n(), k, seed, share);
        LinformerTwin {
            q: inputs.q.view(),
            ek: e.dot(&inputs.k),
            fv: f.dot(&inputs.v),
            f,
            scale: 1.0 / (inputs.d() as f32).sqrt(),
        }
    }

    /// Every row's weights over the k projected keys: n × k.
    fn projected_matrix(&self) -> Array2<f32> {
        let mut p = Array2::zeros((self.q.nrows(), self.ek.nrows()));
        for (i, mut row) in p.rows_mut().into_iter().enumerate() {
            row.assign(&self.projected_weights(i));
        }
        p
    }

    /// Row i of softmax(Q(EK)ᵀ/√d) (length k).
    fn projected_weights(&self, i: usize) -> Array1<f32> {
        let mut p = self.ek.dot(&self.q.row(i)) * self.scale;
        let max = p.fold(f32::NEG_INFINITY, |m, &x| m.max(x));
        p.mapv_inplace(|x| (x - max).exp());
        let sum = p.sum();
        p / sum
    }
}

impl RowKernel for LinformerTwin<'_> {
    fn compute_rows(
        &self,
        rows: Range<usize>,
        mut out: ArrayViewMut2<'_, f32>,
        mut weights: Option<WeightSink<'_>>,
    ) {
        for (slot, i) in rows.enumerate() {
            let p = self.projected_weights(i);
            out.row_mut(slot).assign(&self.fv.t().dot(&p));
            if let Some(callback) = weights.as_deref_mut() {
                callback(i, self.f.t().dot(&p).as_slice().unwrap_or(&[]));
            }
        }
    }

    fn row_pattern(&self, _i: usize) -> RowPattern {
        RowPattern::Dense {
            upto: self.f.ncols(),
        }
    }

    /// softmax(Q(EK)ᵀ/√d)·F pooled from its factors: O(n·k).
    fn pooled_map(&self) -> Option<AttentionMap> {
        let n = self.q.nrows();
        let p = self.projected_matrix();
        let ft = self.f.t().to_owned();
        Some(crate::measure::pool_factored(
            p.view(),
            ft.view(),
            &vec![1.0; n],
            false,
        ))
    }

    fn factor_map(&self) -> Option<FactorMap> {
        let p = self.projected_matrix();
        Some(FactorMap::pool(
            &p,
            "softmax(Q(EK)ᵀ/√d): n × k",
            "projected key t",
        ))
    }
}

impl AttentionMethod for Linformer {
    fn info(&self) -> &'static MethodInfo {
        &INFO
    }

    /// EK and FV: 2kn(d + dᵥ); scores 2nkd; softmax 4nk; P·FV 2nkdᵥ.
    fn cost(&self, shape: Shape, config: &Config<'_>) -> Cost {
        let (n, d, dv) = (shape.n as u64, shape.d as u64, shape.dv as u64);
        let k = knobs(config).0 as u64;
        Cost {
            flops: 2 * k * n * (d + dv) + 2 * n * k * d + 4 * n * k + 2 * n * k * dv,
            flops_formula: format!("2kn(d + dᵥ) + 2nkd + 4nk + 2nkdᵥ, k = {k}"),
            bytes: 4 * (2 * k * n + 2 * n * d + n * dv + 4 * n * k + k * (d + dv) + n * dv),
            bytes_formula: "4·(2kn + 2nd + ndᵥ + 4nk + k(d + dᵥ) + ndᵥ)".into(),
        }
    }

    fn cpu_twin<'a>(
        &self,
        inputs: &'a Inputs,
        config: &Config<'_>,
    ) -> Result<Box<dyn RowKernel + 'a>, MethodError> {
        let (k, share) = knobs(config);
        Ok(Box::new(LinformerTwin::new(inputs, k, config.seed, share)))
    }

    fn run_gpu<'a>(
        &'a self,
        ctx: &'a GpuContext,
        inputs: &'a Inputs,
        config: &'a Config<'a>,
        options: &'a GpuRunOptions,
    ) -> LocalFuture<'a, Result<GpuOutput, GpuError>> {
        Box::pin(async move {
            let (n, d, dv) = (inputs.n(), inputs.d(), inputs.dv());
            let (k, share) = knobs(config);
            let (e, f) = projections(n, k, config.seed, share);
            let mut b = Builder::new(ctx)?;
            let q = b.upload("linformer.q", &row_major(&inputs.q), n, d)?;
            let keys = b.upload("linformer.k", &row_major(&inputs.k), n, d)?;
            let v = b.upload("linformer.v", &row_major(&inputs.v), n, dv)?;
            let e_mat = b.upload("linformer.e", &row_major(&e), k, n)?;
            let f_mat = if share {
                e_mat.clone()
            } else {
                b.upload("linformer.f", &row_major(&f), k, n)?
            };
            let ek = b
                .matmul("linformer.ek", &e_mat, false, &keys, false, 1.0)
                .await?;
            let fv = b
                .matmul("linformer.fv", &f_mat, false, &v, false, 1.0)
                .await?;
            let scores = b
                .matmul("linformer.scores", &q, false, &ek, true, 1.0)
                .await?;
            b.softmax_rows("linformer.softmax", &scores, 1.0 / (d as f32).sqrt(), false)
                .await?;
            let out = b
                .matmul("linformer.out", &scores, false, &fv, false, 1.0)
                .await?;
            let memory = b.allocated;
            let program = std::mem::take(&mut b.program);
            let (samples, timing) = timed(ctx, options.repeats.max(1), |enc, ts| {
                program.record(enc, ts, true, true)
            })
            .await?;

            // Views: the implied n×n matrix softmax(·)·F pooled, and the n×k map.
            let ft = b.upload("linformer.ft", &row_major(&f.t().to_owned()), n, k)?;
            let map = b.implied_map("linformer.pool", &scores, &ft).await?;
            let factor_map = FactorMap::pool(
                &scores.read(ctx).await?,
                "softmax(Q(EK)ᵀ/√d): n × k",
                "projected key t",
            );
            Ok(GpuOutput {
                output: out.read(ctx).await?,
                other_outputs: Vec::new(),
                map,
                kernel: "low-rank".into(),
                kernel_variant: format!("projections EK, FV (k = {k}), n × k softmax, then P·FV"),
                time_ms_samples: samples,
                timing,
                memory_bytes: memory,
                stages: Vec::new(),
                notes: Vec::new(),
                pattern_map: None,
                lsh: None,
                tile_pairs: None,
                factor_map: Some(factor_map),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attention::ParamValues;
    use crate::attention::testing::twin_rel_err;
    use crate::inputs::InputSource;

    fn mean_error(k: u64, kind: InputSource) -> f64 {
        let mut total = 0.0;
        for seed in 0..6u64 {
            let x = Inputs::generate(kind, 128, 16, 20 + seed, 1.0);
            let params: ParamValues = [("proj-dim".to_string(), k)].into_iter().collect();
            let config = Config {
                causal: false,
                seed,
                params: &params,
            };
            let twin = Linformer.cpu_twin(&x, &config).unwrap();
            total += twin_rel_err(&*twin, &x);
        }
        total / 6.0
    }

    #[test]
    fn linformer_error_falls_with_k() {
        let errs: Vec<f64> = [4, 16, 64]
            .iter()
            .map(|&k| mean_error(k, InputSource::Gaussian))
            .collect();
        assert!(errs[0] > errs[1] && errs[1] > errs[2], "errors {errs:?}");
    }

    #[test]
    fn shared_projection_uses_one_matrix() {
        let (e, f) = projections(30, 5, 1, true);
        assert_eq!(e, f);
        let (e, f) = projections(30, 5, 1, false);
        assert_ne!(e, f);
        let var = e.iter().map(|&x| (x as f64).powi(2)).sum::<f64>() / 150.0;
        assert!(
            (var - 0.2).abs() < 0.08,
            "N(0, 1/k) entries, variance {var}"
        );
    }
}
