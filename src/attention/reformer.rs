//! Reformer's LSH attention (Kitaev, Kaiser & Levskaya 2020, "Reformer: The
//! Efficient Transformer", §2.2–2.3; survey §"Sparse Attention"):
//!
//! 1. hash: for each of `rounds` rounds, a random R ∈ ℝ^{d × b/2} (seeded)
//!    and h(x) = argmax([xR; −xR]) ∈ {0 … b−1}, for every query and key;
//! 2. sort positions by (bucket, position), stably;
//! 3. cut the sorted order into chunks of `chunk`; a query attends to the
//!    keys of its own chunk and of the previous one (no wrap-around);
//! 4. the union over rounds: a pair that several rounds put together counts
//!    once — the paper subtracts log N(i, j) from its logit in each round
//!    (N = the number of rounds that pair i and j), so combining the rounds'
//!    softmaxes by their normalisers gives the softmax over the union.
//!
//! `--shared-qk` is the paper's shared-QK model: keys are the normalised
//! queries, kⱼ = qⱼ/‖qⱼ‖, and a token attends to itself only when it has no
//! other target (its logit is lowered by 10⁵). Without it, queries and keys
//! are hashed and sorted separately. With `--causal`, original positions
//! j > i are masked. A row left with no key outputs zeros.
//!
//! Identity: one bucket and a chunk ≥ n (separate Q and K) is exact attention.

use std::ops::Range;

use ndarray::{Array1, Array2, ArrayView2, ArrayViewMut2};

use super::full::{ReferenceModel, normalised_rows, softmax_twin_cost};
use super::sparse::{ATTEND_BYTES_RULE, ATTEND_FLOPS_RULE, tiled_work};
use super::{
    AttentionMethod, Complexity, Config, Conformance, Cost, LocalFuture, MethodError, MethodInfo,
    ParamFix, ParamSpec, ParamValues, RowKernel, TwinCost, WeightSink, qkvo_bytes,
    softmax_pairs_flops,
};
use crate::data::artifacts::{Artifact, Artifacts};
use crate::data::codes::Category;
use crate::data::count::Counted;
use crate::data::maps::LshView;
use crate::data::shape::{RowPattern, Shape};
use crate::gpu::tiled_attention::{self, Layout, LshSpec, Stacked, TILE, WorkPlan};
use crate::gpu::work::{self, Work};
use crate::gpu::{GpuContext, GpuError, GpuOutput, GpuRunOptions};
use crate::inputs::{GaussianStream, Heads, Inputs, derive_seed};

const BUCKETS: ParamSpec = ParamSpec::int(
    "buckets",
    "Buckets b (even)",
    "hash buckets per round",
    2,
    128,
    8,
);
const ROUNDS: ParamSpec = ParamSpec::int(
    "rounds",
    "Hash rounds",
    "independent hashings; their pairs are united",
    1,
    8,
    2,
);
const CHUNK: ParamSpec = ParamSpec::int(
    "chunk",
    "Chunk size",
    "queries attend to their chunk and the previous one in sorted order",
    1,
    16384,
    32,
);
const SHARED_QK: ParamSpec = ParamSpec::flag(
    "shared-qk",
    "Shared QK",
    "keys are the normalised queries; no attending to oneself unless alone",
);

static INFO: MethodInfo = MethodInfo {
    key: "reformer",
    label: "Reformer (LSH)",
    family: "Sparse",
    paper: "Kitaev, Kaiser & Levskaya 2020, Reformer: The Efficient Transformer",
    complexity: Complexity {
        time: "O(n log n)",
        space: "O(n log n)",
        source: "survey, Summary Table",
    },
    best_for: "Very long sequences",
    mathml: r#"<math display="block"><mi>h</mi><mrow><mo>(</mo><mi>x</mi><mo>)</mo></mrow><mo>=</mo><mi>arg max</mi><mrow><mo>(</mo><mrow><mo>[</mo><mi>x</mi><mi>R</mi><mo>;</mo><mo>−</mo><mi>x</mi><mi>R</mi><mo>]</mo></mrow><mo>)</mo></mrow></math><math display="block"><msub><mi>o</mi><mi>i</mi></msub><mo>=</mo><munder><mo>∑</mo><mrow><mi>j</mi><mo>∈</mo><mrow><mi>S</mi><mo>(</mo><mi>i</mi><mo>)</mo></mrow></mrow></munder><mfrac><mrow><mi>exp</mi><mrow><mo>(</mo><mfrac><mrow><msub><mi>q</mi><mi>i</mi></msub><mo>·</mo><msub><mi>k</mi><mi>j</mi></msub></mrow><msqrt><mi>d</mi></msqrt></mfrac><mo>)</mo></mrow></mrow><mrow><munder><mo>∑</mo><mrow><mi>l</mi><mo>∈</mo><mrow><mi>S</mi><mo>(</mo><mi>i</mi><mo>)</mo></mrow></mrow></munder><mi>exp</mi><mrow><mo>(</mo><mfrac><mrow><msub><mi>q</mi><mi>i</mi></msub><mo>·</mo><msub><mi>k</mi><mi>l</mi></msub></mrow><msqrt><mi>d</mi></msqrt></mfrac><mo>)</mo></mrow></mrow></mfrac><msub><mi>v</mi><mi>j</mi></msub></math><math display="block"><mrow><mi>S</mi><mo>(</mo><mi>i</mi><mo>)</mo></mrow><mo>=</mo><mrow><mo>{</mo><mi>j</mi><mo>:</mo><mi>h</mi><mrow><mo>(</mo><msub><mi>k</mi><mi>j</mi></msub><mo>)</mo></mrow><mo>=</mo><mi>h</mi><mrow><mo>(</mo><msub><mi>q</mi><mi>i</mi></msub><mo>)</mo></mrow><mo>}</mo></mrow><mtext> (sorted chunk and the one before)</mtext></math>"#,
    equation: "h(x) = argmax([xR; −xR]); attend within sorted chunk and the previous one",
    params: &[BUCKETS, ROUNDS, CHUNK, SHARED_QK],
    causal_unsupported: None,
    budget: None,
    explanation: "Locality-sensitive hashing puts similar vectors in the same bucket (argmax of a random \
             rotation); positions are sorted by bucket and cut into chunks, and each query attends to \
             its chunk and the previous one. More rounds hash again and unite the pairs, lowering the \
             error. In shared-QK mode the keys are the normalised queries and a token avoids itself; \
             its error is then measured against exact shared-QK attention, the model it approximates \
             (the figures name the reference). The strips below show the buckets before and after \
             sorting.",
    conformance: Conformance::TILED.with_cases(&[
        &[("buckets", 8), ("rounds", 3), ("chunk", 16)],
        &[
            ("buckets", 8),
            ("rounds", 3),
            ("chunk", 16),
            ("shared-qk", 1),
        ],
        &[("buckets", 2), ("rounds", 1), ("chunk", 5)],
    ]),
};

/// Penalty on a token's logit for attending to itself (shared-QK).
pub const SELF_PENALTY: f32 = 1.0e5;

/// Registry entry (`--method reformer`).
pub struct Reformer;

/// The knobs, read from a config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LshKnobs {
    /// b.
    pub buckets: u32,
    /// Rounds.
    pub rounds: u32,
    /// Chunk size.
    pub chunk: u32,
    /// Shared-QK.
    pub shared_qk: bool,
}

impl LshKnobs {
    /// From a config.
    pub fn from(config: &Config<'_>) -> LshKnobs {
        LshKnobs {
            buckets: config.param(&BUCKETS) as u32,
            rounds: config.param(&ROUNDS) as u32,
            chunk: config.param(&CHUNK) as u32,
            shared_qk: config.param(&SHARED_QK) != 0,
        }
    }
}

/// The random rotations of every round, rounds × d × (b/2) row-major,
/// standard normal, from `seed`.
pub fn planes(seed: u64, rounds: u32, d: usize, buckets: u32) -> Vec<f32> {
    let half = (buckets / 2).max(1) as usize;
    let mut out = Vec::with_capacity(rounds as usize * d * half);
    for r in 0..rounds {
        let mut normals = GaussianStream::new(derive_seed(seed, "reformer", r as u64));
        out.extend((0..d * half).map(|_| normals.sample() as f32));
    }
    out
}

/// The keys the method uses: K, or the normalised queries when shared-QK.
pub fn effective_keys(inputs: &Inputs, shared_qk: bool) -> Array2<f32> {
    if shared_qk {
        normalised_rows(inputs.q.view())
    } else {
        inputs.k.clone()
    }
}

/// Bucket of every row of `x` in round `round`: the first maximum of
/// [xR; −xR], projections accumulated in f32 in increasing e (as the GPU).
pub fn hash(x: ArrayView2<'_, f32>, planes: &[f32], round: u32, buckets: u32) -> Vec<u32> {
    let d = x.ncols();
    let half = (buckets / 2).max(1) as usize;
    let r = &planes[round as usize * d * half..(round as usize + 1) * d * half];
    x.rows()
        .into_iter()
        .map(|row| {
            let proj: Vec<f32> = (0..half)
                .map(|h| {
                    let mut s = 0f32;
                    for e in 0..d {
                        s += row[e] * r[e * half + h];
                    }
                    s
                })
                .collect();
            let concat = proj.iter().copied().chain(proj.iter().map(|p| -p));
            let mut best = (0usize, f32::NEG_INFINITY);
            for (idx, value) in concat.enumerate() {
                if idx == 0 || value > best.1 {
                    best = (idx, value);
                }
            }
            best.0 as u32
        })
        .collect()
}

/// Stable sort of positions by bucket: (sorted → position, position → sorted).
pub fn sort(buckets: &[u32]) -> (Vec<u32>, Vec<u32>) {
    let mut order: Vec<u32> = (0..buckets.len() as u32).collect();
    order.sort_by_key(|&p| buckets[p as usize]); // stable
    let mut rank = vec![0u32; buckets.len()];
    for (s, &p) in order.iter().enumerate() {
        rank[p as usize] = s as u32;
    }
    (order, rank)
}

/// Every round's hashing and sorting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LshLayout {
    /// Positions.
    pub n: usize,
    /// Chunk size.
    pub chunk: usize,
    /// Buckets.
    pub buckets: u32,
    /// Per round: query bucket of each position.
    pub qbucket: Vec<Vec<u32>>,
    /// Per round: queries in sorted order.
    pub qpos: Vec<Vec<u32>>,
    /// Per round: sorted index of each query position.
    pub qrank: Vec<Vec<u32>>,
    /// Per round: keys in sorted order.
    pub kpos: Vec<Vec<u32>>,
    /// Per round: sorted index of each key position.
    pub krank: Vec<Vec<u32>>,
}

impl LshLayout {
    /// Hashes and sorts queries and keys for every round.
    pub fn new(
        q: ArrayView2<'_, f32>,
        k: ArrayView2<'_, f32>,
        knobs: LshKnobs,
        planes: &[f32],
    ) -> LshLayout {
        let mut layout = LshLayout {
            n: q.nrows(),
            chunk: knobs.chunk.max(1) as usize,
            buckets: knobs.buckets,
            qbucket: Vec::new(),
            qpos: Vec::new(),
            qrank: Vec::new(),
            kpos: Vec::new(),
            krank: Vec::new(),
        };
        for r in 0..knobs.rounds.max(1) {
            let qb = hash(q, planes, r, knobs.buckets);
            let kb = hash(k, planes, r, knobs.buckets);
            let (qpos, qrank) = sort(&qb);
            let (kpos, krank) = sort(&kb);
            layout.qbucket.push(qb);
            layout.qpos.push(qpos);
            layout.qrank.push(qrank);
            layout.kpos.push(kpos);
            layout.krank.push(krank);
        }
        layout
    }

    /// Whether round r puts key j in query i's chunk or the previous one.
    pub fn candidate(&self, r: usize, i: usize, j: usize) -> bool {
        let cq = self.qrank[r][i] as usize / self.chunk;
        let ck = self.krank[r][j] as usize / self.chunk;
        ck == cq || ck + 1 == cq
    }

    /// The union over rounds of query i's keys (increasing j).
    pub fn row(&self, i: usize, causal: bool) -> Vec<usize> {
        let mut keys = Vec::new();
        for r in 0..self.qrank.len() {
            let cq = self.qrank[r][i] as usize / self.chunk;
            let first = cq.saturating_sub(1) * self.chunk;
            let end = ((cq + 1) * self.chunk).min(self.n);
            for s in first..end {
                let j = self.kpos[r][s] as usize;
                if !causal || j <= i {
                    keys.push(j);
                }
            }
        }
        keys.sort_unstable();
        keys.dedup();
        keys
    }

    /// Round 0 as the view shows it.
    pub fn view(&self) -> LshView {
        LshView {
            buckets: self.buckets,
            bucket: self.qbucket[0].clone(),
            sorted: self.qpos[0].clone(),
            chunk: self.chunk as u32,
        }
    }
}

/// The f32 CPU twin: softmax over the union of the rounds' keys.
pub struct ReformerTwin<'a> {
    q: ArrayView2<'a, f32>,
    k: Array2<f32>,
    v: ArrayView2<'a, f32>,
    layout: LshLayout,
    causal: bool,
    shared_qk: bool,
    scale: f32,
}

impl<'a> ReformerTwin<'a> {
    /// Hashes, sorts and prepares the twin.
    pub fn new(inputs: &'a Inputs, config: &Config<'_>) -> ReformerTwin<'a> {
        let knobs = LshKnobs::from(config);
        let k = effective_keys(inputs, knobs.shared_qk);
        let planes = planes(config.seed, knobs.rounds, inputs.d(), knobs.buckets);
        let layout = LshLayout::new(inputs.q.view(), k.view(), knobs, &planes);
        ReformerTwin {
            q: inputs.q.view(),
            k,
            v: inputs.v.view(),
            layout,
            causal: config.causal,
            shared_qk: knobs.shared_qk,
            scale: 1.0 / (inputs.d() as f32).sqrt(),
        }
    }

    /// The hashing and sorting it used.
    pub fn layout(&self) -> &LshLayout {
        &self.layout
    }
}

impl RowKernel for ReformerTwin<'_> {
    fn compute_rows(
        &self,
        rows: Range<usize>,
        mut out: ArrayViewMut2<'_, f32>,
        mut weights: Option<WeightSink<'_>>,
    ) {
        let n = self.k.nrows();
        let mut row_weights = vec![0f32; n];
        for (slot, i) in rows.enumerate() {
            let keys = self.layout.row(i, self.causal);
            let qi = self.q.row(i);
            let mut p: Array1<f32> = keys
                .iter()
                .map(|&j| {
                    let penalty = if self.shared_qk && j == i {
                        SELF_PENALTY
                    } else {
                        0.0
                    };
                    qi.dot(&self.k.row(j)) * self.scale - penalty
                })
                .collect();
            let max = p.fold(f32::NEG_INFINITY, |m, &x| m.max(x));
            p.mapv_inplace(|x| (x - max).exp());
            let sum = p.sum();
            let mut o = out.row_mut(slot);
            o.fill(0.0);
            for (&j, &w) in keys.iter().zip(p.iter()) {
                o.scaled_add(w / sum, &self.v.row(j));
            }
            if let Some(callback) = weights.as_deref_mut() {
                row_weights.fill(0.0);
                for (&j, &w) in keys.iter().zip(p.iter()) {
                    row_weights[j] = w / sum;
                }
                callback(i, &row_weights);
            }
        }
    }

    fn row_pattern(&self, i: usize) -> RowPattern {
        let code = Category::Bucket as u32 + self.layout.qbucket[0][i] % 8;
        RowPattern::Sparse(
            self.layout
                .row(i, self.causal)
                .into_iter()
                .map(|j| (j, code))
                .collect(),
        )
    }

    fn views(&self) -> Artifacts {
        Artifacts::new().with(Artifact::Buckets(self.layout.view()))
    }

    /// Hashing (queries and keys, every round: 2·d·(b/2) per vector and b
    /// comparisons), then the softmax over each row's union of candidates.
    fn cost(&self, pairs: u64) -> TwinCost {
        let (n, d, dv) = (self.q.nrows(), self.q.ncols(), self.v.ncols());
        let rounds = self.layout.qrank.len() as u64;
        let b = self.layout.buckets as u64;
        let (nn, dd) = (n as u64, d as u64);
        let hashing = rounds * 2 * nn * (dd * b + b);
        let mut cost = softmax_twin_cost(n, d, dv, pairs, " (each row's union over rounds)");
        cost.flops.value += hashing;
        cost.flops.formula = format!("{} + hashing 2·rounds·n·(d·b + b)", cost.flops.formula);
        cost.bytes.value += 4 * rounds * 2 * nn * dd;
        cost.bytes.formula = format!("{} + 4·rounds·2nd (hashing)", cost.bytes.formula);
        let tables = 4 * (nn * dd + 5 * rounds * nn) + 4 * rounds * dd * (b / 2).max(1);
        cost.memory.value += tables;
        cost.memory.formula = format!(
            "{} + 4·(nd + 5·rounds·n + rounds·d·b/2): keys, buckets, sorted orders, rotations",
            cost.memory.formula
        );
        cost
    }
}

/// Pairs one round admits before the causal mask: each sorted position's
/// own chunk and the previous one (2nc − c² when c divides n).
fn admitted_pairs(n: u64, chunk: u64) -> u64 {
    (0..n)
        .map(|s| {
            let c = s / chunk;
            ((c + 1) * chunk).min(n) - c.saturating_sub(1) * chunk
        })
        .sum()
}

/// What Reformer's timed dispatches execute (`lsh.wgsl`, the tiled kernel):
///
/// * `lsh_hash`: 2·rounds·n·(b(d + 1) + 2) FLOPs; every thread re-reads its
///   row for each of the b/2 planes: 8·rounds·n·(bd + 1) bytes;
/// * the radix sort (`lsh_count`, `lsh_scan`, `lsh_scatter`): integer work
///   only; its bytes are [`work::lsh_sort`]'s;
/// * per round the tiled kernel over the sorted chunks, plus the LSH logit
///   adjustment of each admitted pair A (4 FLOPs; positions and the ranks of
///   all rounds: 4(2 + 2·rounds)·A bytes) and the sorted-order lookups of
///   every item and tile;
/// * `combine_rounds`: n·dᵥ·(12·rounds + 2) + 4n FLOPs,
///   4(n·dᵥ·(5·rounds + 1) + 2n) bytes.
fn executed(layout: Layout<'_>, shape: Shape, knobs: LshKnobs) -> (Counted, Counted) {
    let (n, d, dv) = (shape.n as u64, shape.d as u64, shape.dv as u64);
    let (r, b) = (knobs.rounds.max(1) as u64, knobs.buckets as u64);
    let mut work = Work::default();
    work.add(
        "lsh_hash",
        (2 * r * n * (b * (d + 1) + 2), 8 * r * n * (b * d + 1)),
    );
    work.add("radix sort", work::lsh_sort(n, r, b));
    work.extend(tiled_work(layout, shape));
    let list = layout.tiles(shape.n, shape.causal);
    let plan = WorkPlan::new(&list);
    let admitted = admitted_pairs(n, knobs.chunk.max(1) as u64);
    let (items, tiles) = (plan.items.len() as u64, list.visited() as u64);
    let t = TILE as u64;
    work.add(
        "LSH logit adjustment",
        (
            r * 4 * admitted,
            r * 4
                * ((2 + 2 * r) * admitted
                    + items * (t * d.div_ceil(4) + 256)
                    + tiles * t * (d.div_ceil(4) + dv.div_ceil(4))),
        ),
    );
    work.add(
        "combine_rounds",
        (
            n * dv * (12 * r + 2) + 4 * n,
            4 * (n * dv * (5 * r + 1) + 2 * n),
        ),
    );
    work.counted(
        &format!("{ATTEND_FLOPS_RULE}; adjustment 4 per admitted pair"),
        &format!("{ATTEND_BYTES_RULE}; lookups 4(2 + 2·rounds) per admitted pair"),
    )
}

fn spec(config: &Config<'_>, d: usize) -> LshSpec {
    let knobs = LshKnobs::from(config);
    LshSpec {
        buckets: knobs.buckets,
        rounds: knobs.rounds,
        chunk: knobs.chunk,
        shared_qk: knobs.shared_qk,
        planes: planes(config.seed, knobs.rounds, d, knobs.buckets),
    }
}

impl AttentionMethod for Reformer {
    fn info(&self) -> &'static MethodInfo {
        &INFO
    }

    /// h(x) = argmax([xR; −xR]) needs an even b.
    fn fix_params(&self, params: &mut ParamValues) -> Vec<ParamFix> {
        let b = params.get(BUCKETS.key).copied().unwrap_or(BUCKETS.default);
        if b % 2 == 1 {
            params.insert(BUCKETS.key.into(), b + 1);
            vec![ParamFix {
                key: BUCKETS.key,
                problem: format!("buckets={b} is odd"),
                value: b + 1,
            }]
        } else {
            Vec::new()
        }
    }

    /// The tiled kernel's work over the sorted chunks, per round, plus the
    /// hashing: `2·rounds·n·d·b` for queries and keys; the method itself
    /// needs the softmax over each row's union of candidates and the hashing.
    fn cost(&self, shape: Shape, config: &Config<'_>, pairs: u64) -> Cost {
        let knobs = LshKnobs::from(config);
        let hashing =
            2 * knobs.rounds as u64 * shape.n as u64 * shape.d as u64 * knobs.buckets as u64;
        let spec = LshSpec {
            buckets: knobs.buckets,
            rounds: knobs.rounds,
            chunk: knobs.chunk,
            shared_qk: knobs.shared_qk,
            planes: Vec::new(),
        };
        let layout = Layout::Lsh(&spec);
        let mut flops = softmax_pairs_flops(shape, pairs, "in the union over rounds");
        flops.value += hashing;
        flops.formula = format!("{} + hashing 2·rounds·n·d·b", flops.formula);
        let planes = 4 * knobs.rounds as u64 * shape.d as u64 * (knobs.buckets as u64 / 2);
        Cost::new(
            executed(layout, shape, knobs),
            (
                flops,
                qkvo_bytes(shape, planes, "4·rounds·d·b/2 (rotations)"),
            ),
        )
    }

    fn reference_model(&self, config: &Config<'_>) -> ReferenceModel {
        if LshKnobs::from(config).shared_qk {
            ReferenceModel::SharedQk {
                penalty: SELF_PENALTY,
            }
        } else {
            ReferenceModel::Standard
        }
    }

    fn randomized(&self, _config: &Config<'_>) -> bool {
        true
    }

    fn cpu_twin<'a>(
        &self,
        inputs: &'a Inputs,
        config: &Config<'_>,
    ) -> Result<Box<dyn RowKernel + 'a>, MethodError> {
        Ok(Box::new(ReformerTwin::new(inputs, config)))
    }

    fn run_gpu<'a>(
        &'a self,
        ctx: &'a GpuContext,
        inputs: &'a Inputs,
        config: &'a Config<'a>,
        options: &'a GpuRunOptions,
    ) -> LocalFuture<'a, Result<GpuOutput, GpuError>> {
        Box::pin(async move {
            let spec = spec(config, inputs.d());
            let keys = effective_keys(inputs, spec.shared_qk);
            let qkv = (&inputs.q, &keys, &inputs.v);
            tiled_attention::run(ctx, qkv, config.causal, Layout::Lsh(&spec), options).await
        })
    }

    /// Every head hashes and sorts its own queries and keys (per-head
    /// buckets and sorted orders) with the same seeded rotations, in the
    /// same passes.
    fn run_gpu_heads<'a>(
        &'a self,
        ctx: &'a GpuContext,
        heads: &'a Heads,
        config: &'a Config<'a>,
        options: &'a GpuRunOptions,
    ) -> Option<LocalFuture<'a, Result<GpuOutput, GpuError>>> {
        Some(Box::pin(async move {
            let spec = spec(config, heads.d());
            let stacked = Stacked::of_heads(heads, |x| {
                if spec.shared_qk {
                    std::borrow::Cow::Owned(effective_keys(x, true))
                } else {
                    std::borrow::Cow::Borrowed(&x.k)
                }
            });
            let layout = Layout::Lsh(&spec);
            tiled_attention::run_stacked(ctx, stacked, config.causal, layout, options).await
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attention::full::twin_all_rows;
    use crate::attention::testing::rel_err_vs_exact;

    fn config(params: &[(&str, u64)], causal: bool, seed: u64) -> (ParamValues, bool, u64) {
        let mut p = ParamValues::new();
        for (k, v) in params {
            p.insert(k.to_string(), *v);
        }
        (p, causal, seed)
    }

    fn twin_output(x: &Inputs, params: &ParamValues, causal: bool, seed: u64) -> Array2<f32> {
        let cfg = Config {
            causal,
            seed,
            params,
        };
        let t = ReformerTwin::new(x, &cfg);
        let mut out = Array2::zeros((x.n(), x.dv()));
        t.compute_rows(0..x.n(), out.view_mut(), None);
        out
    }

    #[test]
    fn one_bucket_and_one_chunk_is_exact_attention() {
        let x = Inputs::seeded(50, 8, 2);
        for causal in [false, true] {
            let (p, c, s) = config(&[("buckets", 2), ("rounds", 1), ("chunk", 50)], causal, 1);
            // Two buckets but a chunk covering everything: every pair, once.
            let got = twin_output(&x, &p, c, s);
            let full = twin_all_rows(x.q.view(), x.k.view(), x.v.view(), causal);
            let err = (&got - &full).fold(0f32, |m, v| m.max(v.abs()));
            assert!(err < 1e-5, "causal={causal}: {err}");
        }
    }

    #[test]
    fn hashing_is_an_argmax_and_sorting_is_stable() {
        let x = Inputs::seeded(40, 6, 3);
        let r = planes(7, 1, 6, 8);
        let b = hash(x.q.view(), &r, 0, 8);
        assert!(b.iter().all(|&v| v < 8));
        // Opposite vectors land in opposite buckets: h(−x) = h(x) ± b/2.
        let neg = x.q.mapv(|v| -v);
        let nb = hash(neg.view(), &r, 0, 8);
        for (a, c) in b.iter().zip(&nb) {
            assert_eq!((a + 4) % 8, *c);
        }
        let (order, rank) = sort(&b);
        assert!(
            order
                .windows(2)
                .all(|w| (b[w[0] as usize], w[0]) < (b[w[1] as usize], w[1]))
        );
        for (s, &p) in order.iter().enumerate() {
            assert_eq!(rank[p as usize] as usize, s);
        }
        assert_eq!(planes(7, 2, 6, 8)[..24], r[..]);
    }

    #[test]
    fn shared_qk_avoids_self_unless_alone() {
        let x = Inputs::seeded(30, 4, 5);
        let (p, _, _) = config(
            &[
                ("buckets", 4),
                ("rounds", 1),
                ("chunk", 4),
                ("shared-qk", 1),
            ],
            true,
            9,
        );
        let cfg = Config {
            causal: true,
            seed: 9,
            params: &p,
        };
        let t = ReformerTwin::new(&x, &cfg);
        let mut weights = Array2::<f32>::zeros((30, 30));
        let mut out = Array2::zeros((30, 4));
        t.compute_rows(
            0..30,
            out.view_mut(),
            Some(&mut |i, w: &[f32]| weights.row_mut(i).assign(&ndarray::aview1(w))),
        );
        // Position 0 (causal) has only itself.
        assert!((weights[[0, 0]] - 1.0).abs() < 1e-6);
        for i in 1..30 {
            let others = t
                .layout()
                .row(i, true)
                .into_iter()
                .filter(|&j| j != i)
                .count();
            if others > 0 {
                assert!(weights[[i, i]] < 1e-6, "row {i} attends to itself");
            }
        }
    }

    #[test]
    fn more_rounds_lower_the_error_on_average() {
        let mean_err = |rounds: u64| {
            let mut total = 0.0;
            for seed in 0..8u64 {
                let x = Inputs::seeded(64, 16, 100 + seed);
                let (p, c, s) = config(
                    &[("buckets", 8), ("rounds", rounds), ("chunk", 8)],
                    false,
                    seed,
                );
                let got = twin_output(&x, &p, c, s);
                total += rel_err_vs_exact(&x, got.view());
            }
            total / 8.0
        };
        let (one, four) = (mean_err(1), mean_err(4));
        assert!(
            four < one,
            "rounds=4 error {four} is not below rounds=1 error {one}"
        );
    }
}
