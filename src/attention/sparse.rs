//! What the structured sparse methods share (survey §"Sparse Attention"):
//! a method is a [`Pattern`] built from its knobs; its CPU twin computes the
//! softmax over each row's allowed keys only ([`SparseTwin`]); its GPU run is
//! the block-sparse tiled kernel over that pattern's tile list; its cost is
//! what that kernel really evaluates ([`tiled_cost`]).
//!
//! O_i = Σ_{j ∈ S(i)} softmax_j(q_i·k_j/√d) v_j, with S(i) the pattern's keys.

use std::ops::Range;

use ndarray::{Array1, ArrayView2, ArrayViewMut2};

use super::full::softmax_twin_cost;
use super::pattern::Pattern;
use super::{
    AttentionMethod, Config, Cost, LocalFuture, MethodError, MethodInfo, ParamFix, ParamValues,
    RowKernel, TwinCost, WeightSink, qkvo_bytes, softmax_pairs_flops,
};
use crate::data::codes::Category;
use crate::data::count::Counted;
use crate::data::shape::{RowPattern, Shape};
use crate::gpu::flash_attention::{self, FlashShape};
use crate::gpu::tiled_attention::{self, Layout, Stacked, TILE, WorkPlan};
use crate::gpu::work::{self, Work};
use crate::gpu::{GpuContext, GpuError, GpuOutput, GpuRunOptions};
use crate::inputs::{Heads, Inputs};

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

    fn cost(&self, shape: Shape, config: &Config<'_>, pairs: u64) -> Cost {
        Cost::new(
            tiled_executed(Layout::Masked(&(self.build)(config, shape.n)), shape),
            (
                softmax_pairs_flops(shape, pairs, "in the pattern"),
                qkvo_bytes(shape, 0, ""),
            ),
        )
    }

    fn randomized(&self, config: &Config<'_>) -> bool {
        matches!((self.build)(config, 64), Pattern::BigBird(_))
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
        let pattern = (self.build)(config, inputs.n());
        Box::pin(async move {
            let (d, dv) = (inputs.d(), inputs.dv());
            if let Some(window) = flash_band(&pattern, ctx, d, dv) {
                let shape = FlashShape::square(1, inputs.n(), d, dv, config.causal).banded(window);
                let host = |x: &ndarray::Array2<f32>| x.iter().copied().collect::<Vec<f32>>();
                let stacked = || Stacked::single(&inputs.q, &inputs.k, &inputs.v);
                let qkv = (host(&inputs.q), host(&inputs.k), host(&inputs.v));
                return run_banded(ctx, shape, stacked, &pattern, qkv, options).await;
            }
            let qkv = (&inputs.q, &inputs.k, &inputs.v);
            tiled_attention::run(ctx, qkv, config.causal, Layout::Masked(&pattern), options).await
        })
    }

    /// Every head through the same passes: the pattern (BigBird's seeded
    /// random blocks included) does not depend on the inputs, so the heads
    /// share one tile list and one mask table.
    fn run_gpu_heads<'a>(
        &'a self,
        ctx: &'a GpuContext,
        heads: &'a Heads,
        config: &'a Config<'a>,
        options: &'a GpuRunOptions,
    ) -> Option<LocalFuture<'a, Result<GpuOutput, GpuError>>> {
        let pattern = (self.build)(config, heads.n());
        Some(Box::pin(async move {
            let stacked = || Stacked::of_heads(heads, |x| std::borrow::Cow::Borrowed(&x.k));
            if let Some(window) = flash_band(&pattern, ctx, heads.d(), heads.dv()) {
                let shape = FlashShape::of_heads(heads, config.causal).banded(window);
                let qkv = (heads.stacked_q(), heads.stacked_k(), heads.stacked_v());
                return run_banded(ctx, shape, stacked, &pattern, qkv, options).await;
            }
            let layout = Layout::Masked(&pattern);
            tiled_attention::run_stacked(ctx, stacked(), config.causal, layout, options).await
        }))
    }
}

/// The window W of a pattern that is a pure band |i − j| ≤ W (Longformer
/// without global tokens), when the flash kernel covers widths d, dᵥ
/// without padding: such a pattern runs as the flash kernel's banded pass,
/// which visits only the key tiles touching the band, rather than through
/// the tile list of the block-sparse kernel.
fn flash_band(pattern: &Pattern, ctx: &GpuContext, d: usize, dv: usize) -> Option<usize> {
    match *pattern {
        Pattern::Longformer { window, global: 0 }
            if d.is_multiple_of(4)
                && dv.is_multiple_of(4)
                && flash_attention::covers(ctx, d, dv) =>
        {
            Some(window)
        }
        _ => None,
    }
}

/// A band through the flash kernel (timed), and the block-sparse tiled
/// kernel over the same pattern once, untimed, for the views (pattern map,
/// pooled weights of head 0) and as a cross-check (`tiled`) of the output.
async fn run_banded<'s>(
    ctx: &GpuContext,
    shape: FlashShape,
    stacked: impl Fn() -> Stacked<'s>,
    pattern: &Pattern,
    (q, k, v): (Vec<f32>, Vec<f32>, Vec<f32>),
    options: &GpuRunOptions,
) -> Result<GpuOutput, GpuError> {
    let once = GpuRunOptions {
        repeats: 1,
        pass_times: false,
        ..options.clone()
    };
    let saved = ctx.warmup_ms.replace(0);
    let tiled =
        tiled_attention::run_stacked(ctx, stacked(), shape.causal, Layout::Masked(pattern), &once)
            .await;
    ctx.warmup_ms.set(saved);
    let tiled = tiled?;
    let run = flash_attention::run_heads(ctx, shape, (&q, &k, &v), options).await?;
    let rows = shape.heads * shape.n;
    let output = ndarray::Array2::from_shape_vec((rows, shape.dv), run.output)
        .map_err(|e| GpuError::Readback(e.to_string()))?;
    let mut out = GpuOutput::new(
        crate::data::codes::KernelKind::Fused,
        format!(
            "flash kernel over the band |i − j| ≤ {} (the key tiles touching it): {}",
            shape.window.unwrap_or(0),
            run.variant
        ),
        output,
        run.timed,
        run.memory_bytes,
    );
    out.artifacts = tiled.artifacts;
    out.other_outputs.push(("tiled".to_string(), tiled.output));
    out.tile_pairs = Some(flash_attention::evaluated_pairs(shape, run.config));
    out.executed = Some(run.executed);
    out.notes = run.notes;
    out.notes.push(
        "the pattern and weight views come from the block-sparse tiled kernel over the same \
         pattern, run once untimed, whose output is cross-checked as `tiled`"
            .to_string(),
    );
    Ok(out)
}

/// What the tiled kernel executes over `layout` ([`work::attend`] per round:
/// every pair of the key tiles it visits, masked ones included, and the
/// re-reads of K and V by every query tile), as a [`Work`] to which callers
/// add their own stages.
pub fn tiled_work(layout: Layout<'_>, shape: Shape) -> Work {
    let list = layout.tiles(shape.n, shape.causal);
    let plan = WorkPlan::new(&list);
    let rounds = layout.rounds() as u64;
    let (flops, bytes) = work::attend(
        &list,
        &plan,
        shape.n as u64,
        shape.d as u64,
        shape.dv as u64,
    );
    let all = (shape.n.div_ceil(TILE) as u64).pow(2);
    let mut w = Work::default();
    w.add(
        format!(
            "{}attend over tiles = {} of {all} ({} work items, {} split slots)",
            if rounds > 1 {
                format!("{rounds} rounds × ")
            } else {
                String::new()
            },
            list.visited(),
            plan.items.len(),
            plan.slots
        ),
        (flops * rounds, bytes * rounds),
    );
    w
}

/// The rules [`work::attend`] counts by, for the formulas.
pub const ATTEND_FLOPS_RULE: &str = "per tile 32²·(8⌈d/4⌉ + 15) + 2048⌈dᵥ/32⌉·keys, per item 4608, per merge 32dᵥ(9·slots + 2·merges)";
/// See [`ATTEND_FLOPS_RULE`].
pub const ATTEND_BYTES_RULE: &str = "per item 4(4 + 32d), per tile 4(1 + keys·(d + dᵥ)), outputs 4(rows + 32·slots)(dᵥ + 2), merges 4(32dᵥ(5·slots + merges) + 67·merges)";

/// The executed (FLOPs, bytes) of the tiled kernel alone over `layout`.
pub fn tiled_executed(layout: Layout<'_>, shape: Shape) -> (Counted, Counted) {
    tiled_work(layout, shape).counted(ATTEND_FLOPS_RULE, ATTEND_BYTES_RULE)
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

    fn cost(&self, pairs: u64) -> TwinCost {
        softmax_twin_cost(
            self.k.nrows(),
            self.q.ncols(),
            self.v.ncols(),
            pairs,
            " (the pattern's keys, gathered per row)",
        )
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
        let dense = tiled_executed(Layout::Masked(&Pattern::Dense), shape);
        let window = tiled_executed(
            Layout::Masked(&Pattern::Longformer {
                window: 8,
                global: 0,
            }),
            shape,
        );
        // 64 tiles of 32 keys at d = dᵥ = 16: scores 1024·32, bookkeeping
        // 1024·15, P·V 2048·32 each; 8 work items of one query tile.
        let per_tile = 1024 * (8 * 4 + 15) + 2048 * 32;
        assert_eq!(dense.0.value, 64 * per_tile + 8 * 4608);
        assert_eq!(window.0.value, 22 * per_tile + 8 * 4608);
        assert!(window.0.formula.contains("tiles = 22 of 64"));
        // Dense: K and V re-read by all 8 query tiles, Q once, O and (m, l) once.
        let dense_bytes = 4 * (64 * (1 + 32 * 32) + 8 * (4 + 32 * 16) + 256 * 18);
        assert_eq!(dense.1.value, dense_bytes);
        assert!(window.1.value < dense.1.value);
    }
}
