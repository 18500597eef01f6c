//! What the structured sparse methods share (survey §"Sparse Attention"):
//! a method is a [`Pattern`] built from its knobs; its CPU twin computes the
//! softmax over each row's allowed keys only ([`SparseTwin`]); its GPU run is
//! the block-sparse tiled kernel over that pattern's tile list; its cost is
//! what that kernel really evaluates ([`tiled_cost`]).
//!
//! O_i = Σ_{j ∈ S(i)} softmax_j(q_i·k_j/√d) v_j, with S(i) the pattern's keys.

use std::ops::Range;

use ndarray::{Array1, ArrayView2, ArrayViewMut2};

use super::pattern::{Category, Pattern};
use super::{
    AttentionMethod, Config, Cost, LocalFuture, MethodError, MethodInfo, ParamFix, ParamValues,
    RowKernel, RowPattern, Shape, WeightSink,
};
use crate::gpu::tiled_attention::{Layout, TILE, WorkPlan};
use crate::gpu::{GpuContext, GpuError, GpuOutput, GpuRunOptions};
use crate::inputs::Inputs;

/// A structured sparse method: its description, how its knobs make a
/// pattern, and which knob combinations it corrects.
pub struct Structured {
    /// Name, paper, knobs.
    pub info: &'static MethodInfo,
    /// The pattern for n positions.
    pub build: fn(&Config<'_>, usize) -> Pattern,
    /// Cross-knob corrections.
    pub fix: fn(&mut ParamValues) -> Vec<ParamFix>,
}

/// No cross-knob rule.
pub fn no_fix(_: &mut ParamValues) -> Vec<ParamFix> {
    Vec::new()
}

impl AttentionMethod for Structured {
    fn info(&self) -> &'static MethodInfo {
        self.info
    }

    fn fix_params(&self, params: &mut ParamValues) -> Vec<ParamFix> {
        (self.fix)(params)
    }

    fn cost(&self, shape: Shape, config: &Config<'_>) -> Cost {
        tiled_cost(&Layout::Structured((self.build)(config, shape.n)), shape, 0)
    }

    fn cpu_twin<'a>(
        &self,
        inputs: &'a Inputs,
        config: &Config<'_>,
    ) -> Result<Box<dyn RowKernel + 'a>, MethodError> {
        let pattern = (self.build)(config, inputs.n());
        Ok(Box::new(SparseTwin::new(
            inputs.q.view(),
            inputs.k.view(),
            inputs.v.view(),
            pattern,
            config.causal,
        )))
    }

    fn run_gpu<'a>(
        &'a self,
        ctx: &'a GpuContext,
        inputs: &'a Inputs,
        config: &'a Config<'a>,
        options: &'a GpuRunOptions,
    ) -> LocalFuture<'a, Result<GpuOutput, GpuError>> {
        let layout = Layout::Structured((self.build)(config, inputs.n()));
        Box::pin(async move {
            crate::gpu::tiled_attention::run(ctx, inputs, config.causal, &layout, options).await
        })
    }
}

/// Counted cost of the tiled kernel over `layout`: it evaluates every pair
/// of the key tiles it visits (masked ones included) and skips the rest.
///
/// * FLOPs: `tiles·32²·(2d + 2dᵥ + 4) + n·dᵥ` (+ `extra_flops`, e.g. hashing);
/// * bytes: Q read once, a 32-key K and V tile per visited tile, O and the
///   row statistics written once, the tile table read, and the partial
///   results of split query tiles written and read back:
///   `4·(nd + tiles·32·(d + dᵥ) + ndᵥ + 2n + table) + 8·slots·32·(dᵥ + 2)`.
pub fn tiled_cost(layout: &Layout, shape: Shape, extra_flops: u64) -> Cost {
    let (n, d, dv) = (shape.n as u64, shape.d as u64, shape.dv as u64);
    let list = layout.tiles(shape.n, shape.causal);
    let plan = WorkPlan::new(&list);
    let rounds = match layout {
        Layout::Lsh(spec) => spec.rounds.max(1) as u64,
        Layout::Structured(_) => 1,
    };
    let visited = list.visited() as u64 * rounds;
    let all = (shape.n.div_ceil(TILE) as u64).pow(2) * rounds;
    let t = TILE as u64;
    let table = (list.tiles.len() + 4 * plan.items.len() + 3 * plan.merges.len()) as u64;
    let partials = 8 * plan.slots as u64 * t * (dv + 2) * rounds;
    Cost {
        flops: visited * t * t * (2 * d + 2 * dv + 4) + n * dv + extra_flops,
        flops_formula: format!(
            "tiles·32²·(2d + 2dᵥ + 4) + n·dᵥ{}, tiles = {visited} of {all}",
            if extra_flops > 0 { " + hashing" } else { "" }
        ),
        bytes: 4
            * (n * d * rounds + visited * t * (d + dv) + n * dv * rounds + 2 * n * rounds + table)
            + partials,
        bytes_formula: format!(
            "4·(nd + tiles·32·(d + dᵥ) + ndᵥ + 2n + table) + 8·slots·32·(dᵥ + 2), slots = {}",
            plan.slots
        ),
    }
}

/// The f32 CPU twin of a structured sparse method: each row's softmax over
/// its pattern's keys only (row max subtracted).
pub struct SparseTwin<'a> {
    q: ArrayView2<'a, f32>,
    k: ArrayView2<'a, f32>,
    v: ArrayView2<'a, f32>,
    pattern: Pattern,
    causal: bool,
    scale: f32,
}

impl<'a> SparseTwin<'a> {
    /// # Panics
    /// If Q and K differ in width or K and V in length.
    pub fn new(
        q: ArrayView2<'a, f32>,
        k: ArrayView2<'a, f32>,
        v: ArrayView2<'a, f32>,
        pattern: Pattern,
        causal: bool,
    ) -> Self {
        assert_eq!(q.ncols(), k.ncols(), "Q and K must have the same width");
        assert_eq!(k.nrows(), v.nrows(), "K and V must have the same length");
        let scale = 1.0 / (q.ncols() as f32).sqrt();
        SparseTwin {
            q,
            k,
            v,
            pattern,
            causal,
            scale,
        }
    }
}

impl RowKernel for SparseTwin<'_> {
    fn compute_rows(
        &self,
        rows: Range<usize>,
        mut out: ArrayViewMut2<'_, f32>,
        mut weights: Option<WeightSink<'_>>,
    ) {
        let n = self.k.nrows();
        let mut row_weights = vec![0f32; n];
        for (slot, i) in rows.enumerate() {
            let keys = self.pattern.row(i, n, self.causal);
            let qi = self.q.row(i);
            let mut p: Array1<f32> = keys
                .iter()
                .map(|&(j, _)| qi.dot(&self.k.row(j)) * self.scale)
                .collect();
            let max = p.fold(f32::NEG_INFINITY, |m, &x| m.max(x));
            p.mapv_inplace(|x| (x - max).exp());
            let sum = p.sum();
            let mut o = out.row_mut(slot);
            o.fill(0.0);
            for (&(j, _), &w) in keys.iter().zip(p.iter()) {
                o.scaled_add(w / sum, &self.v.row(j));
            }
            if let Some(callback) = weights.as_deref_mut() {
                row_weights.fill(0.0);
                for (&(j, _), &w) in keys.iter().zip(p.iter()) {
                    row_weights[j] = w / sum;
                }
                callback(i, &row_weights);
            }
        }
    }

    fn row_pattern(&self, i: usize) -> RowPattern {
        let n = self.k.nrows();
        if self.pattern == Pattern::Dense {
            return RowPattern::Dense {
                upto: if self.causal { i + 1 } else { n },
            };
        }
        RowPattern::Sparse(
            self.pattern
                .row(i, n, self.causal)
                .into_iter()
                .map(|(j, c)| (j, c as u32))
                .collect(),
        )
    }
}

/// The category of a code, for legends (`None` for 0 and Reformer's buckets).
pub fn category_of(code: u32) -> Option<Category> {
    Category::from_code(code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attention::full::twin_all_rows;
    use ndarray::Array2;

    /// The definition with an explicit mask: −∞ outside the pattern.
    fn masked_reference(x: &Inputs, p: &Pattern, causal: bool) -> Array2<f64> {
        let (n, d) = (x.n(), x.d());
        let mut o = Array2::zeros((n, x.dv()));
        for i in 0..n {
            let s: Vec<f64> = (0..n)
                .map(|j| match p.category(i, j, causal) {
                    Some(_) => {
                        (0..d)
                            .map(|e| x.q[[i, e]] as f64 * x.k[[j, e]] as f64)
                            .sum::<f64>()
                            / (d as f64).sqrt()
                    }
                    None => f64::NEG_INFINITY,
                })
                .collect();
            let m = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = s.iter().map(|v| (v - m).exp()).collect();
            let z: f64 = e.iter().sum();
            for c in 0..x.dv() {
                o[[i, c]] = (0..n).map(|j| e[j] * x.v[[j, c]] as f64).sum::<f64>() / z;
            }
        }
        o
    }

    fn twin(x: &Inputs, p: &Pattern, causal: bool) -> Array2<f32> {
        let t = SparseTwin::new(x.q.view(), x.k.view(), x.v.view(), p.clone(), causal);
        let mut out = Array2::zeros((x.n(), x.dv()));
        t.compute_rows(0..x.n(), out.view_mut(), None);
        out
    }

    #[test]
    fn sparse_twins_match_the_masked_quadratic_form() {
        let x = Inputs::seeded(45, 6, 3);
        let bigbird = crate::attention::pattern::BigBirdLayout::new(45, 4, 1, 3, 2, true, 5);
        for causal in [false, true] {
            for p in [
                Pattern::Longformer {
                    window: 3,
                    global: 2,
                },
                Pattern::Strided { stride: 5 },
                Pattern::Fixed {
                    stride: 6,
                    summary: 2,
                },
                Pattern::BigBird(bigbird.clone()),
            ] {
                let expect = masked_reference(&x, &p, causal);
                let got = twin(&x, &p, causal).mapv(f64::from);
                let err = (&got - &expect).fold(0f64, |m, v| m.max(v.abs()));
                assert!(err < 1e-5, "{p:?} causal={causal}: {err}");
            }
        }
    }

    #[test]
    fn covering_patterns_equal_full_attention() {
        let x = Inputs::seeded(33, 4, 8);
        for causal in [false, true] {
            let full = twin_all_rows(x.q.view(), x.k.view(), x.v.view(), causal);
            let wide = [
                Pattern::Longformer {
                    window: 33,
                    global: 0,
                },
                Pattern::Fixed {
                    stride: 8,
                    summary: 8,
                },
                Pattern::BigBird(crate::attention::pattern::BigBirdLayout::new(
                    33, 4, 0, 17, 0, causal, 1,
                )),
            ];
            for p in wide {
                let err = (&twin(&x, &p, causal) - &full).fold(0f32, |m, v| m.max(v.abs()));
                assert!(err < 1e-5, "{p:?} causal={causal}: {err}");
            }
            if causal {
                // Stride ≥ n with causal: every j ≤ i is local.
                let err = (&twin(&x, &Pattern::Strided { stride: 33 }, true) - &full)
                    .fold(0f32, |m, v| m.max(v.abs()));
                assert!(err < 1e-5);
            }
        }
    }

    #[test]
    fn tiled_cost_counts_visited_tiles() {
        let shape = Shape {
            n: 256,
            d: 16,
            dv: 16,
            causal: false,
        };
        let dense = tiled_cost(&Layout::Structured(Pattern::Dense), shape, 0);
        let window = tiled_cost(
            &Layout::Structured(Pattern::Longformer {
                window: 8,
                global: 0,
            }),
            shape,
            0,
        );
        assert_eq!(dense.flops, 64 * 1024 * (32 + 32 + 4) + 256 * 16);
        assert_eq!(window.flops, 22 * 1024 * (32 + 32 + 4) + 256 * 16);
        assert!(window.flops_formula.contains("tiles = 22 of 64"));
        assert!(window.bytes < dense.bytes);
    }
}
