//! Segment-level recurrence at inference (survey §"Memory-based
//! Architectures"): what Transformer-XL (Dai et al. 2019, §3.2) and the
//! Compressive Transformer (Rae et al. 2020, §3.1) share — the layout of
//! segments, FIFO memory and compressed slots, the CPU twin, the tile mask
//! the GPU kernel visits, and the counted costs (the effective context that
//! composing layers gives is in `effective_context.rs`).
//!
//! The sequence is cut into segments of S positions. Query i of segment
//! s = ⌊i/S⌋ attends to
//!
//! * its own segment causally: keys sS ≤ j ≤ i;
//! * the FIFO memory of positions before its segment: b_s ≤ j < sS, with
//!   b_s = c·⌊max(0, sS − M)/c⌋ (Transformer-XL: c = 1, so exactly the M
//!   positions before sS; Compressive: whole groups of c leave the memory
//!   together, so it holds M to M + c − 1 positions — exactly M when c
//!   divides S and M);
//! * the compressed memory (Compressive only): positions evicted from the
//!   memory, [0, b_s), were compressed by f_c in groups of c into slots
//!   0 … b_s/c − 1 in eviction order, and the FIFO of M_c slots keeps the
//!   newest: g ∈ [max(0, b_s/c − M_c), b_s/c).
//!
//! h̃ = [SG(m) ∘ h], o_i = Σ_{j ∈ seg ∪ mem ∪ cmem} softmax_j(q_i·k_j/√d)·v_j
//! (Dai et al. Eq. in §3.2; Rae et al. Algorithm 1, one layer, no gradient),
//! with the slots' keys and values f_c of the evicted keys and values.
//!
//! The model is causal by construction: the `causal` setting is always on,
//! and the error is measured against exact causal attention.

use std::ops::Range;

use ndarray::{Array2, ArrayView2, ArrayViewMut2};

use super::{
    Complexity, Config, Cost, LocalFuture, MethodError, MethodInfo, ParamFix, ParamSpec,
    ParamValues, RowKernel, TwinCost, WeightSink, qkvo_bytes, softmax_pairs_flops,
};
use crate::data::codes::{Category, CompressKind, PatternKind};
use crate::data::count::Counted;
use crate::data::shape::{RowPattern, Shape};
use crate::data::tiles::{TileList, merge};
use crate::gpu::memory_attention::{self, MemoryGeometry, MemoryPlan};
use crate::gpu::tiled_attention::{self, Layout, MaskKnobs, Stacked, TILE, TileMask, WorkPlan};
use crate::gpu::work::{self, Work};
use crate::gpu::{GpuContext, GpuError, GpuOutput, GpuRunOptions};
use crate::inputs::{GaussianStream, Heads, Inputs, derive_seed};

/// "No slot": a position never compressed, or dropped by most-attended.
pub const NO_SLOT: u32 = u32::MAX;

/// Why the memory methods are always causal (their
/// [`super::AttentionMethod::always_causal`]).
pub const ALWAYS_CAUSAL: &str = "segment-level recurrence is causal by construction: a query sees \
     its own segment up to itself and memories of the past, never a later position";

/// Segments, memory and compressed memory over n positions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryLayout {
    /// Positions.
    pub n: usize,
    /// Segment length S (≥ 1).
    pub segment: usize,
    /// Memory M, in positions.
    pub memory: usize,
    /// Compression rate c (≥ 1; 1 for Transformer-XL).
    pub rate: usize,
    /// Compressed-memory slots M_c (0 for Transformer-XL).
    pub compressed: usize,
}

/// The keys of one query row, by kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowKeys {
    /// Compressed slots seen (slot indices).
    pub slots: Range<usize>,
    /// Memory positions.
    pub memory: Range<usize>,
    /// Own-segment positions (up to the query).
    pub segment: Range<usize>,
}

impl RowKeys {
    /// Keys in all (slots count once each).
    pub fn len(&self) -> usize {
        self.slots.len() + self.memory.len() + self.segment.len()
    }

    /// Whether it has no key (never: a query sees itself).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl MemoryLayout {
    /// Transformer-XL's layout: segment S, memory M, nothing compressed.
    pub fn transformer_xl(n: usize, segment: usize, memory: usize) -> MemoryLayout {
        MemoryLayout {
            n,
            segment: segment.max(1),
            memory,
            rate: 1,
            compressed: 0,
        }
    }

    /// Number of segments ⌈n/S⌉.
    pub fn segments(&self) -> usize {
        self.n.div_ceil(self.segment)
    }

    /// The segment of position i.
    pub fn segment_of(&self, i: usize) -> usize {
        i / self.segment
    }

    /// b_s: the first position the memory of segment s holds; everything
    /// before it has been evicted (and compressed, if there is a compressed
    /// memory).
    pub fn boundary(&self, s: usize) -> usize {
        let evicted = (s * self.segment).saturating_sub(self.memory);
        evicted / self.rate * self.rate
    }

    /// Positions evicted from the memory before the last segment: b_{T−1}.
    pub fn evicted(&self) -> usize {
        self.boundary(self.segments().saturating_sub(1))
    }

    /// Whether the method has a compressed memory at all (M_c > 0).
    pub fn compresses(&self) -> bool {
        self.compressed > 0
    }

    /// Compressed slots made over the whole sequence, b_{T−1}/c (0 without
    /// a compressed memory).
    pub fn slots(&self) -> usize {
        if self.compresses() {
            self.evicted() / self.rate
        } else {
            0
        }
    }

    /// The slots segment s sees: the newest M_c of the b_s/c made so far.
    pub fn visible_slots(&self, s: usize) -> Range<usize> {
        if !self.compresses() {
            return 0..0;
        }
        let hi = self.boundary(s) / self.rate;
        hi.saturating_sub(self.compressed)..hi
    }

    /// The keys query i sees.
    pub fn keys(&self, i: usize) -> RowKeys {
        let s = self.segment_of(i);
        let start = s * self.segment;
        RowKeys {
            slots: self.visible_slots(s),
            memory: self.boundary(s)..start,
            segment: start..i + 1,
        }
    }

    /// The first segment whose memory no longer holds position j (j is
    /// evicted when that segment starts): the least s with b_s > j.
    pub fn evicted_at(&self, j: usize) -> usize {
        let need = self.rate * (j / self.rate + 1) + self.memory;
        need.div_ceil(self.segment).max(self.segment_of(j) + 1)
    }

    /// The positions evicted together when segment t starts (t ≥ 1):
    /// [b_{t−1}, b_t), a whole number of groups of c.
    pub fn batch(&self, t: usize) -> Range<usize> {
        self.boundary(t.saturating_sub(1))..self.boundary(t)
    }

    /// Key rows before the slots: n rounded up to whole 32-key tiles, so
    /// that no tile mixes positions and slots.
    pub fn slot_base(&self) -> usize {
        self.n.div_ceil(TILE) * TILE
    }

    /// Key rows the kernel indexes: the positions, and the slots from
    /// [`Self::slot_base`] when there are any.
    pub fn key_rows(&self) -> usize {
        if self.slots() > 0 {
            self.slot_base() + self.slots()
        } else {
            self.n
        }
    }

    /// Query–key pairs the method computes: per query, its segment keys,
    /// memory and compressed slots (a slot is one key).
    pub fn pairs(&self) -> u64 {
        let mut pairs = 0u64;
        for s in 0..self.segments() {
            let start = s * self.segment;
            let end = ((s + 1) * self.segment).min(self.n);
            let rows = (end - start) as u64;
            let before = (start - self.boundary(s)) as u64 + self.visible_slots(s).len() as u64;
            // Σ over rows of (i − start + 1) + before.
            pairs += rows * (rows + 1) / 2 + rows * before;
        }
        pairs
    }

    /// Pairs of the uncompressed part only (segment and memory): what
    /// most-attended's usage pass scores.
    pub fn local_pairs(&self) -> u64 {
        MemoryLayout {
            compressed: 0,
            ..*self
        }
        .pairs()
    }

    /// The queries that see position j uncompressed (its own segment from j
    /// on, and the segments whose memory holds it): i ∈ [j, min(n, S·t)),
    /// t = [`Self::evicted_at`]`(j)`.
    pub fn watchers(&self, j: usize) -> Range<usize> {
        j..(self.evicted_at(j) * self.segment).min(self.n)
    }
}

/// What the compressed slots stand for: per slot, its first position, and
/// how many consecutive positions share it (c for pooling and convolution,
/// 1 for most-attended, which keeps one position per slot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotMap {
    /// First position of each slot.
    pub first: Vec<usize>,
    /// Positions per slot.
    pub share: usize,
    /// The slot of each position ([`NO_SLOT`]: never compressed, or dropped).
    pub slot_of: Vec<u32>,
}

impl SlotMap {
    /// Pooling and convolution: slot g stands for positions gc … gc + c − 1.
    pub fn groups(layout: &MemoryLayout) -> SlotMap {
        let (c, slots) = (layout.rate, layout.slots());
        let mut slot_of = vec![NO_SLOT; layout.n];
        for (j, s) in slot_of.iter_mut().enumerate().take(slots * c) {
            *s = (j / c) as u32;
        }
        SlotMap {
            first: (0..slots).map(|g| g * c).collect(),
            share: c,
            slot_of,
        }
    }

    /// Most-attended: the kept positions, in order (one per slot).
    pub fn kept(layout: &MemoryLayout, keep: &[bool]) -> SlotMap {
        let mut slot_of = vec![NO_SLOT; layout.n];
        let mut first = Vec::with_capacity(layout.slots());
        for (j, &k) in keep.iter().enumerate() {
            if k {
                slot_of[j] = first.len() as u32;
                first.push(j);
            }
        }
        SlotMap {
            first,
            share: 1,
            slot_of,
        }
    }

    /// The positions slot g stands for.
    pub fn members(&self, g: usize) -> Range<usize> {
        self.first[g]..self.first[g] + self.share
    }
}

/// The f32 CPU twin: each row's softmax over its segment keys, memory and
/// compressed slots (row max subtracted), the slots' keys and values
/// computed once when the twin is built.
pub struct MemoryTwin<'a> {
    q: ArrayView2<'a, f32>,
    k: ArrayView2<'a, f32>,
    v: ArrayView2<'a, f32>,
    layout: MemoryLayout,
    slot_keys: Array2<f32>,
    slot_values: Array2<f32>,
    slot_map: SlotMap,
    setup: TwinCost,
    scale: f32,
}

impl<'a> MemoryTwin<'a> {
    /// A twin over `inputs` whose slots (if any) have these keys and values
    /// and stand for the positions of `slot_map`; `setup` is what computing
    /// them cost.
    pub fn new(
        inputs: &'a Inputs,
        layout: MemoryLayout,
        slots: (Array2<f32>, Array2<f32>),
        slot_map: SlotMap,
        setup: TwinCost,
    ) -> Self {
        MemoryTwin {
            q: inputs.q.view(),
            k: inputs.k.view(),
            v: inputs.v.view(),
            layout,
            slot_keys: slots.0,
            slot_values: slots.1,
            slot_map,
            setup,
            scale: 1.0 / (inputs.d() as f32).sqrt(),
        }
    }

    /// The compressed slots' keys (slots × d).
    pub fn slot_keys(&self) -> ArrayView2<'_, f32> {
        self.slot_keys.view()
    }

    /// What the slots stand for.
    pub fn slot_map(&self) -> &SlotMap {
        &self.slot_map
    }
}

impl RowKernel for MemoryTwin<'_> {
    fn compute_rows(
        &self,
        rows: Range<usize>,
        mut out: ArrayViewMut2<'_, f32>,
        mut weights: Option<WeightSink<'_>>,
    ) {
        let n = self.k.nrows();
        let mut row_weights = vec![0f32; n];
        for (slot, i) in rows.enumerate() {
            let keys = self.layout.keys(i);
            let qi = self.q.row(i);
            let positions = keys.memory.start..keys.segment.end;
            let mut p: Vec<f32> = keys
                .slots
                .clone()
                .map(|g| qi.dot(&self.slot_keys.row(g)) * self.scale)
                .chain(
                    positions
                        .clone()
                        .map(|j| qi.dot(&self.k.row(j)) * self.scale),
                )
                .collect();
            let max = p.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x));
            p.iter_mut().for_each(|x| *x = (*x - max).exp());
            let sum: f32 = p.iter().sum();
            let mut o = out.row_mut(slot);
            o.fill(0.0);
            let (from_slots, from_positions) = p.split_at(keys.slots.len());
            for (g, &w) in keys.slots.clone().zip(from_slots) {
                o.scaled_add(w / sum, &self.slot_values.row(g));
            }
            for (j, &w) in positions.clone().zip(from_positions) {
                o.scaled_add(w / sum, &self.v.row(j));
            }
            if let Some(callback) = weights.as_deref_mut() {
                row_weights.fill(0.0);
                let share = self.slot_map.share as f32;
                for (g, &w) in keys.slots.clone().zip(from_slots) {
                    for j in self.slot_map.members(g) {
                        row_weights[j] = w / sum / share;
                    }
                }
                for (j, &w) in positions.zip(from_positions) {
                    row_weights[j] = w / sum;
                }
                callback(i, &row_weights);
            }
        }
    }

    /// The positions whose information reaches query i, in increasing
    /// order: those a visible slot stands for (compressed memory), the
    /// memory, the own segment.
    fn row_pattern(&self, i: usize) -> RowPattern {
        let keys = self.layout.keys(i);
        let mut out: Vec<(usize, u32)> = Vec::with_capacity(keys.len());
        for g in keys.slots {
            out.extend(
                self.slot_map
                    .members(g)
                    .map(|j| (j, Category::Compressed as u32)),
            );
        }
        out.extend(keys.memory.map(|j| (j, Category::Memory as u32)));
        out.extend(keys.segment.map(|j| (j, Category::Segment as u32)));
        RowPattern::Sparse(out)
    }

    fn cost(&self, _pairs: u64) -> TwinCost {
        let (n, d, dv) = (
            self.layout.n as u64,
            self.q.ncols() as u64,
            self.v.ncols() as u64,
        );
        let pairs = self.layout.pairs();
        let mut cost = self.setup.clone();
        let add = |a: &mut Counted, value: u64, formula: String| {
            a.value += value;
            a.formula = if a.formula.is_empty() {
                formula
            } else {
                format!("{} + {formula}", a.formula)
            };
        };
        add(
            &mut cost.flops,
            pairs * (2 * d + 2 * dv + 5) + n * dv,
            format!("pairs·(2d + 2dᵥ + 5) + n·dᵥ, pairs = {pairs} (segment, memory, slots)"),
        );
        add(
            &mut cost.bytes,
            4 * (pairs * (d + dv + 5) + n * (d + dv)),
            "4·(pairs·(d + dᵥ + 5) + n·(d + dᵥ))".into(),
        );
        add(
            &mut cost.memory,
            4 * (2 * n + dv),
            "4·(2n + dᵥ): one row's scores and weights, its output".into(),
        );
        cost
    }

    fn notes(&self) -> Vec<String> {
        layout_notes(&self.layout, self.slot_map.share)
    }
}

/// Remarks a reader needs about a layout (on CPU and GPU runs alike): how
/// the pattern's pairs count compressed slots, and a memory boundary that
/// whole groups of c move.
pub fn layout_notes(layout: &MemoryLayout, share: usize) -> Vec<String> {
    let mut notes = Vec::new();
    if layout.slots() > 0 && share > 1 {
        notes.push(format!(
            "pattern_pairs counts each compressed slot as the {share} positions it summarises; \
             the kernel computes {} query–key pairs (a slot is one key): see flops_algorithmic",
            layout.pairs()
        ));
    }
    if layout.rate > 1
        && layout.evicted() > 0
        && (!layout.segment.is_multiple_of(layout.rate)
            || !layout.memory.is_multiple_of(layout.rate))
    {
        notes.push(format!(
            "c = {} does not divide both S = {} and M = {}: whole groups of c leave the memory \
             together, so it holds between M and M + c − 1 positions",
            layout.rate, layout.segment, layout.memory
        ));
    }
    notes
}

/// The pattern as the tiled kernel encodes it ([`PatternKind::Memory`]):
/// key tiles of the positions, then of the slots from
/// [`MemoryLayout::slot_base`]; `tiled_attention.wgsl` evaluates
/// `memory_key_category` as [`MemoryLayout::keys`] does.
#[derive(Debug, Clone)]
pub struct MemoryMask {
    /// The layout.
    pub layout: MemoryLayout,
    /// The slot of each position (the views' compressed positions).
    pub slot_of: Vec<u32>,
    /// Positions that share a slot's weight in the views.
    pub share: usize,
}

impl MemoryMask {
    /// Key ranges (in the kernel's index space) any query of `rows` sees.
    fn key_ranges(&self, rows: Range<usize>) -> Vec<Range<usize>> {
        let l = &self.layout;
        let (a, b) = (rows.start, rows.end.min(l.n));
        if a >= b {
            return Vec::new();
        }
        let (first, last) = (l.keys(a), l.keys(b - 1));
        let base = l.slot_base();
        merge(vec![
            first.memory.start..b,
            base + first.slots.start..base + last.slots.end,
        ])
    }

    /// Whether every (i, j) with i in `rows` and key row j in `keys` is
    /// computed.
    fn tile_full(&self, rows: Range<usize>, keys: Range<usize>) -> bool {
        let l = &self.layout;
        if rows.is_empty() || keys.is_empty() || rows.end > l.n {
            return false;
        }
        let (first, last) = (l.keys(rows.start), l.keys(rows.end - 1));
        let base = l.slot_base();
        if keys.end <= l.n {
            // Positions: inside [b_s, i] for every row.
            keys.start >= last.memory.start && keys.end - 1 <= rows.start
        } else {
            keys.start >= base + last.slots.start && keys.end <= base + first.slots.end
        }
    }
}

impl TileMask for MemoryMask {
    fn kind(&self) -> PatternKind {
        PatternKind::Memory
    }

    fn knobs(&self) -> MaskKnobs {
        let sat = |x: usize| x.min(u32::MAX as usize) as u32;
        let l = &self.layout;
        MaskKnobs {
            segment: sat(l.segment),
            memory: sat(l.memory),
            rate: sat(l.rate),
            compressed: sat(l.compressed),
            slot_base: sat(l.slot_base()),
            share: sat(self.share),
            ..MaskKnobs::default()
        }
    }

    fn tiles(&self, n: usize, _causal: bool) -> TileList {
        let keys = self.keys(n);
        let mut offsets = vec![0u32];
        let mut tiles = Vec::new();
        let mut full = Vec::new();
        for qt in 0..n.div_ceil(TILE) {
            let rows = qt * TILE..((qt + 1) * TILE).min(n);
            let mut last: Option<usize> = None;
            for r in self.key_ranges(rows.clone()) {
                for kt in r.start / TILE..r.end.div_ceil(TILE) {
                    if last.is_none_or(|l| kt > l) {
                        let span = kt * TILE..((kt + 1) * TILE).min(keys);
                        let whole = rows.len() == TILE && span.len() == TILE;
                        tiles.push(kt as u32);
                        full.push(whole && self.tile_full(rows.clone(), span));
                        last = Some(kt);
                    }
                }
            }
            offsets.push(tiles.len() as u32);
        }
        TileList {
            tile: TILE,
            offsets,
            tiles,
            full,
        }
    }

    fn aux(&self) -> Vec<u32> {
        if self.slot_of.is_empty() {
            vec![NO_SLOT]
        } else {
            self.slot_of.clone()
        }
    }

    fn keys(&self, _n: usize) -> usize {
        self.layout.key_rows()
    }
}

/// What a memory method computes besides its layout: the compression
/// function (`None`: Transformer-XL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemorySpec {
    /// The layout's knobs (n is set per run).
    pub layout: MemoryLayout,
    /// f_c, or `None` without a compressed memory.
    pub compress: Option<CompressKind>,
}

impl MemorySpec {
    /// The function, when there is a compressed memory to fill.
    pub fn function(&self) -> Option<CompressKind> {
        self.compress.filter(|_| self.layout.slots() > 0)
    }
}

/// A memory method: its description, and how its knobs make a
/// [`MemorySpec`] for n positions.
pub struct Recurrent {
    /// Name, paper, knobs.
    pub info: &'static MethodInfo,
    /// The spec for n positions.
    pub spec: fn(&Config<'_>, usize) -> MemorySpec,
    /// Cross-knob corrections.
    pub fix: fn(&mut ParamValues) -> Vec<ParamFix>,
}

/// The seeded convolution weights W_t (t < c) for keys (c × d × d) and
/// values (c × dᵥ × dᵥ), row-major `[t][out][in]`: W_t = (I + ε·G_t)/c with
/// G_t of N(0, 1/width) entries and ε = [`CONV_PERTURBATION`] — mean pooling
/// perturbed, standing in for trained weights.
pub fn conv_weights(seed: u64, rate: usize, width: usize, which: u64) -> Vec<f32> {
    let mut g = GaussianStream::new(derive_seed(seed, "compressive-conv", which));
    let noise = g.matrix(rate * width, width, 1.0 / (width as f64).sqrt());
    let mut w = vec![0f32; rate * width * width];
    for t in 0..rate {
        for o in 0..width {
            for i in 0..width {
                let identity = if o == i { 1.0 } else { 0.0 };
                w[(t * width + o) * width + i] = ((identity
                    + CONV_PERTURBATION * noise[[t * width + o, i]] as f64)
                    / rate as f64) as f32;
            }
        }
    }
    w
}

/// ε of [`conv_weights`].
pub const CONV_PERTURBATION: f64 = 0.5;

/// f_c over the groups of c rows of `x` (pooling or convolution): slots × width.
pub fn compress_groups(
    x: ArrayView2<'_, f32>,
    slots: usize,
    rate: usize,
    kind: CompressKind,
    weights: &[f32],
) -> Array2<f32> {
    let width = x.ncols();
    let mut out = Array2::zeros((slots, width));
    for g in 0..slots {
        for col in 0..width {
            let rows = g * rate..(g + 1) * rate;
            out[[g, col]] = match kind {
                CompressKind::Mean => rows.map(|r| x[[r, col]]).sum::<f32>() / rate as f32,
                CompressKind::Max => rows.map(|r| x[[r, col]]).fold(f32::NEG_INFINITY, f32::max),
                CompressKind::Conv => {
                    let mut total = 0f32;
                    for (t, r) in rows.enumerate() {
                        let w = &weights[(t * width + col) * width..(t * width + col + 1) * width];
                        for (i, &wi) in w.iter().enumerate() {
                            total += wi * x[[r, i]];
                        }
                    }
                    total
                }
                CompressKind::MostAttended => x[[g, col]],
            };
        }
    }
    out
}

/// Most-attended's usage of each evicted position (j < b_{T−1}): the mean
/// attention weight it received from the queries that saw it uncompressed
/// ([`MemoryLayout::watchers`]), under the softmax over segment and memory.
/// (The compressed slots are left out of that softmax: with them, the
/// choice for one batch would depend on the choices for every earlier
/// batch, a pass per segment; without them, one parallel pass.)
pub fn usage(x: &Inputs, layout: &MemoryLayout) -> Vec<f32> {
    let local = MemoryLayout {
        compressed: 0,
        ..*layout
    };
    let scale = 1.0 / (x.d() as f32).sqrt();
    // Row statistics (m, l) of the local softmax, as the kernel leaves them.
    let stats: Vec<(f32, f32)> = (0..layout.n)
        .map(|i| {
            let keys = local.keys(i);
            let qi = x.q.row(i);
            let s: Vec<f32> = (keys.memory.start..keys.segment.end)
                .map(|j| qi.dot(&x.k.row(j)) * scale)
                .collect();
            let m = s.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
            (m, s.iter().map(|v| (v - m).exp()).sum())
        })
        .collect();
    (0..layout.evicted())
        .map(|j| {
            let watchers = layout.watchers(j);
            let count = watchers.len().max(1) as f32;
            let kj = x.k.row(j);
            let total: f32 = watchers
                .map(|i| {
                    let (m, l) = stats[i];
                    (x.q.row(i).dot(&kj) * scale - m).exp() / l
                })
                .sum();
            total / count
        })
        .collect()
}

/// Most-attended's choice: per eviction batch of L positions, the L/c with
/// the highest usage (ties to the earlier position).
pub fn most_attended(layout: &MemoryLayout, usage: &[f32]) -> Vec<bool> {
    let mut keep = vec![false; layout.n];
    for (j, k) in keep.iter_mut().enumerate().take(layout.evicted()) {
        let batch = layout.batch(layout.evicted_at(j));
        let count = batch.len() / layout.rate;
        let rank = batch
            .filter(|&o| usage[o] > usage[j] || (usage[o] == usage[j] && o < j))
            .count();
        *k = rank < count;
    }
    keep
}

/// The twin of a memory spec over `inputs`.
pub fn twin<'a>(
    inputs: &'a Inputs,
    spec: MemorySpec,
    seed: u64,
) -> Result<MemoryTwin<'a>, MethodError> {
    let layout = MemoryLayout {
        n: inputs.n(),
        ..spec.layout
    };
    let (d, dv, slots, c) = (inputs.d(), inputs.dv(), layout.slots(), layout.rate);
    let empty = || (Array2::zeros((0, d)), Array2::zeros((0, dv)));
    let Some(kind) = spec.function() else {
        return Ok(MemoryTwin::new(
            inputs,
            layout,
            empty(),
            SlotMap::groups(&layout),
            TwinCost::default(),
        ));
    };
    let (g, dd, ddv) = (slots as u64, d as u64, dv as u64);
    let (cc, w) = (c as u64, dd + ddv);
    let (slot_map, keys, values, setup) = match kind {
        CompressKind::MostAttended => {
            let used = usage(inputs, &layout);
            let keep = most_attended(&layout, &used);
            let map = SlotMap::kept(&layout, &keep);
            let gather = |x: ArrayView2<'_, f32>| {
                let mut out = Array2::zeros((map.first.len(), x.ncols()));
                for (g, &j) in map.first.iter().enumerate() {
                    out.row_mut(g).assign(&x.row(j));
                }
                out
            };
            let (keys, values) = (gather(inputs.k.view()), gather(inputs.v.view()));
            let local = layout.local_pairs();
            let watched: u64 = (0..layout.evicted())
                .map(|j| layout.watchers(j).len() as u64)
                .sum();
            let ranked: u64 = (1..layout.segments())
                .map(|t| (layout.batch(t).len() as u64).pow(2))
                .sum();
            let setup = TwinCost {
                flops: Counted::new(
                    (local + watched) * (2 * dd + 4) + 2 * ranked,
                    format!(
                        "usage: (local pairs + watcher pairs)·(2d + 4), local = {local}, \
                         watchers = {watched}; ranking 2·ΣL² = {}",
                        2 * ranked
                    ),
                ),
                bytes: Counted::new(
                    4 * ((local + watched) * (2 * dd + 2) + ranked + g * w),
                    "4·((local + watchers)·(2d + 2) + ΣL² + slots·(d + dᵥ))".to_string(),
                ),
                memory: Counted::new(
                    4 * (2 * layout.n as u64 + layout.evicted() as u64 + g * w),
                    "4·(2n + evicted + slots·(d + dᵥ)): row statistics, usage, slot rows"
                        .to_string(),
                ),
            };
            (map, keys, values, setup)
        }
        pooling => {
            let (wk, wv) = if pooling == CompressKind::Conv {
                (conv_weights(seed, c, d, 0), conv_weights(seed, c, dv, 1))
            } else {
                (Vec::new(), Vec::new())
            };
            let keys = compress_groups(inputs.k.view(), slots, c, pooling, &wk);
            let values = compress_groups(inputs.v.view(), slots, c, pooling, &wv);
            let (flops, formula) = compress_flops(pooling, g, cc, dd, ddv);
            let weights = 4 * (wk.len() + wv.len()) as u64;
            let setup = TwinCost {
                flops: Counted::new(flops, formula),
                bytes: Counted::new(
                    4 * g * cc * w + weights + 4 * g * w,
                    "4·slots·c·(d + dᵥ) + weights + 4·slots·(d + dᵥ)".to_string(),
                ),
                memory: Counted::new(
                    4 * g * w + weights,
                    "4·slots·(d + dᵥ) (+ the conv weights)".to_string(),
                ),
            };
            (SlotMap::groups(&layout), keys, values, setup)
        }
    };
    Ok(MemoryTwin::new(
        inputs,
        layout,
        (keys, values),
        slot_map,
        setup,
    ))
}

/// FLOPs of f_c over `slots` groups of c rows of width d (keys) and dᵥ
/// (values), with the formula.
fn compress_flops(kind: CompressKind, slots: u64, c: u64, d: u64, dv: u64) -> (u64, String) {
    match kind {
        CompressKind::Mean => (
            slots * (c + 1) * (d + dv),
            format!("mean: slots·(c + 1)·(d + dᵥ), slots = {slots}"),
        ),
        CompressKind::Max => (
            slots * c * (d + dv),
            format!("max: slots·c·(d + dᵥ), slots = {slots}"),
        ),
        CompressKind::Conv => (
            2 * slots * c * (d * d + dv * dv),
            format!("conv: 2·slots·c·(d² + dᵥ²), slots = {slots}"),
        ),
        CompressKind::MostAttended => (0, "gather".into()),
    }
}

impl Recurrent {
    fn layout(&self, config: &Config<'_>, n: usize) -> MemoryLayout {
        MemoryLayout {
            n,
            ..(self.spec)(config, n).layout
        }
    }

    /// The GPU run over one head or B·H stacked heads (each pass one
    /// dispatch over the heads; Transformer-XL's heads share the tile list
    /// and mask, the Compressive Transformer's each compress their own
    /// memory).
    async fn run_stacked(
        &self,
        ctx: &GpuContext,
        stacked: Stacked<'_>,
        config: &Config<'_>,
        options: &GpuRunOptions,
    ) -> Result<GpuOutput, GpuError> {
        let (n, d, dv) = stacked.shape;
        let spec = (self.spec)(config, n);
        let mask = self.mask(config, n);
        let layout = mask.layout;
        let notes = layout_notes(&layout, mask.share);
        let Some(kind) = spec.function() else {
            // Transformer-XL (or nothing compressed yet): the tiled
            // kernel over the positions alone.
            let mut out =
                tiled_attention::run_stacked(ctx, stacked, false, Layout::Masked(&mask), options)
                    .await?;
            out.notes.extend(notes);
            return Ok(out);
        };
        let local = MemoryMask {
            layout: MemoryLayout {
                compressed: 0,
                ..layout
            },
            slot_of: Vec::new(),
            share: 1,
        };
        let (wk, wv) = if kind == CompressKind::Conv {
            (
                conv_weights(config.seed, layout.rate, d, 0),
                conv_weights(config.seed, layout.rate, dv, 1),
            )
        } else {
            (Vec::new(), Vec::new())
        };
        let plan = MemoryPlan {
            geometry: geometry(&layout),
            kind,
            mask: &mask,
            local: &local,
            conv: (&wk, &wv),
        };
        let mut out = memory_attention::run(ctx, stacked, &plan, options).await?;
        out.notes.extend(notes);
        Ok(out)
    }

    fn mask(&self, config: &Config<'_>, n: usize) -> MemoryMask {
        let layout = self.layout(config, n);
        let share = match (self.spec)(config, n).compress {
            Some(CompressKind::MostAttended) => 1,
            _ => layout.rate,
        };
        MemoryMask {
            slot_of: if layout.compresses() {
                SlotMap::groups(&layout).slot_of
            } else {
                Vec::new()
            },
            layout,
            share,
        }
    }
}

/// The executed (FLOPs, bytes) of a memory method's timed passes: f_c's
/// passes (most-attended: the local attention, usage, ranking, slots,
/// gather), then the tiled kernel over positions and slots.
pub fn memory_work(spec: MemorySpec, shape: Shape) -> Work {
    let layout = MemoryLayout {
        n: shape.n,
        ..spec.layout
    };
    let (n, d, dv) = (shape.n as u64, shape.d as u64, shape.dv as u64);
    let mut w = Work::default();
    let attend = |w: &mut Work, mask: &MemoryMask, what: &str| {
        let list = mask.tiles(shape.n, false);
        let plan = WorkPlan::new(&list);
        let keys = mask.keys(shape.n) as u64;
        let all = (shape.n.div_ceil(TILE) * (keys as usize).div_ceil(TILE)) as u64;
        w.add(
            format!(
                "{what} over tiles = {} of {all} ({} work items, {} split slots)",
                list.visited(),
                plan.items.len(),
                plan.slots
            ),
            work::attend_keys(&list, &plan, n, keys, d, dv),
        );
    };
    let geometry = geometry(&layout);
    if let Some(kind) = spec.function() {
        if kind == CompressKind::MostAttended {
            let local = MemoryMask {
                layout: MemoryLayout {
                    compressed: 0,
                    ..layout
                },
                slot_of: Vec::new(),
                share: 1,
            };
            attend(&mut w, &local, "local attend (usage statistics)");
        }
        w.extend(memory_attention::work_before_attend(kind, &geometry, d, dv));
    }
    let mask = MemoryMask {
        layout,
        slot_of: Vec::new(),
        share: 1,
    };
    attend(&mut w, &mask, "attend");
    w
}

/// The GPU layer's plain description of a layout.
pub fn geometry(layout: &MemoryLayout) -> MemoryGeometry {
    let sat = |x: usize| x.min(u32::MAX as usize) as u32;
    MemoryGeometry {
        n: sat(layout.n),
        segment: sat(layout.segment),
        memory: sat(layout.memory),
        rate: sat(layout.rate),
        compressed: sat(layout.compressed),
        slots: sat(layout.slots()),
        slot_base: sat(layout.slot_base()),
        evicted: sat(layout.evicted()),
    }
}

impl super::AttentionMethod for Recurrent {
    fn info(&self) -> &'static MethodInfo {
        self.info
    }

    fn fix_params(&self, params: &mut ParamValues) -> Vec<ParamFix> {
        (self.fix)(params)
    }

    fn always_causal(&self) -> Option<&'static str> {
        Some(ALWAYS_CAUSAL)
    }

    fn cost(&self, shape: Shape, config: &Config<'_>, _pairs: u64) -> Cost {
        let spec = (self.spec)(config, shape.n);
        let layout = MemoryLayout {
            n: shape.n,
            ..spec.layout
        };
        let pairs = layout.pairs();
        let (d, dv) = (shape.d as u64, shape.dv as u64);
        let (g, c) = (layout.slots() as u64, layout.rate as u64);
        let mut flops = softmax_pairs_flops(
            Shape {
                causal: true,
                ..shape
            },
            pairs,
            "(own segment, memory, compressed slots)",
        );
        let mut extra = 0u64;
        let mut extra_formula = String::new();
        if let Some(kind) = spec.function() {
            let (f, formula) = match kind {
                CompressKind::MostAttended => {
                    let local = layout.local_pairs();
                    let watched: u64 = (0..layout.evicted())
                        .map(|j| layout.watchers(j).len() as u64)
                        .sum();
                    let ranked: u64 = (1..layout.segments())
                        .map(|t| (layout.batch(t).len() as u64).pow(2))
                        .sum();
                    (
                        (local + watched) * (2 * d + 4) + 2 * ranked,
                        format!(
                            "usage (local + watcher pairs)·(2d + 4) = ({local} + {watched})·(2d + 4), \
                             ranking 2·ΣL² = {}",
                            2 * ranked
                        ),
                    )
                }
                other => compress_flops(other, g, c, d, dv),
            };
            flops.value += f;
            flops.formula = format!("{} + {formula}", flops.formula);
            extra += 8 * g * (d + dv);
            extra_formula = "8·slots·(d + dᵥ) (compressed memory written and read)".into();
            if kind == CompressKind::Conv {
                extra += 4 * c * (d * d + dv * dv);
                extra_formula.push_str(" + 4c(d² + dᵥ²) (conv weights)");
            }
        }
        Cost::new(
            memory_work(spec, shape).counted(
                crate::attention::sparse::ATTEND_FLOPS_RULE,
                crate::attention::sparse::ATTEND_BYTES_RULE,
            ),
            (flops, qkvo_bytes(shape, extra, &extra_formula)),
        )
    }

    fn cpu_twin<'a>(
        &self,
        inputs: &'a Inputs,
        config: &Config<'_>,
    ) -> Result<Box<dyn RowKernel + 'a>, MethodError> {
        let spec = (self.spec)(config, inputs.n());
        Ok(Box::new(twin(inputs, spec, config.seed)?))
    }

    fn run_gpu<'a>(
        &'a self,
        ctx: &'a GpuContext,
        inputs: &'a Inputs,
        config: &'a Config<'a>,
        options: &'a GpuRunOptions,
    ) -> LocalFuture<'a, Result<GpuOutput, GpuError>> {
        Box::pin(async move {
            let stacked = Stacked::single(&inputs.q, &inputs.k, &inputs.v);
            self.run_stacked(ctx, stacked, config, options).await
        })
    }

    fn run_gpu_heads<'a>(
        &'a self,
        ctx: &'a GpuContext,
        heads: &'a Heads,
        config: &'a Config<'a>,
        options: &'a GpuRunOptions,
    ) -> Option<LocalFuture<'a, Result<GpuOutput, GpuError>>> {
        Some(Box::pin(async move {
            let stacked = Stacked::of_heads(heads, |x| std::borrow::Cow::Borrowed(&x.k));
            self.run_stacked(ctx, stacked, config, options).await
        }))
    }

    fn randomized(&self, config: &Config<'_>) -> bool {
        (self.spec)(config, 64).compress == Some(CompressKind::Conv)
    }
}

/// The knobs both methods share.
pub const SEGMENT: ParamSpec = ParamSpec::int(
    "segment",
    "Segment S",
    "positions per segment: a query attends causally within its segment",
    1,
    16384,
    64,
);

/// See [`SEGMENT`].
pub const MEMORY: ParamSpec = ParamSpec::int(
    "memory",
    "Memory M",
    "cached positions before the segment (FIFO, no gradient) that its queries also see",
    0,
    16384,
    64,
);

/// The complexity both methods have, from the survey's reading of the papers.
pub const COMPLEXITY: Complexity = Complexity {
    time: "O(n·(S + M))",
    space: "O(S·(S + M))",
    source: "Dai et al. 2019, §3.2: each segment of S attends to itself and M cached states",
};

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(n: usize, s: usize, m: usize, c: usize, mc: usize) -> MemoryLayout {
        MemoryLayout {
            n,
            segment: s,
            memory: m,
            rate: c,
            compressed: mc,
        }
    }

    #[test]
    fn transformer_xl_keys_are_the_segment_and_the_m_before_it() {
        let l = MemoryLayout::transformer_xl(40, 8, 5);
        let k = l.keys(19);
        assert_eq!((k.memory, k.segment, k.slots), (11..16, 16..20, 0..0));
        let k = l.keys(3);
        assert_eq!((k.memory, k.segment), (0..0, 0..4));
        assert_eq!(l.slots(), 0);
        // Σ pairs by brute force.
        let brute: usize = (0..40).map(|i| l.keys(i).len()).sum();
        assert_eq!(l.pairs(), brute as u64);
    }

    #[test]
    fn compressed_memory_holds_the_newest_slots_of_whole_groups() {
        // S = 8, M = 5, c = 2: b_s = 2⌊(8s − 5)/2⌋ = 2, 10, 18, 26 for s = 1..4.
        let l = layout(40, 8, 5, 2, 3);
        assert_eq!(
            (0..5).map(|s| l.boundary(s)).collect::<Vec<_>>(),
            [0, 2, 10, 18, 26]
        );
        // Segment 4 (32..40): memory 26..32, slots ⌊26/2⌋ = 13: the newest 3.
        let k = l.keys(35);
        assert_eq!((k.slots, k.memory, k.segment), (10..13, 26..32, 32..36));
        assert_eq!(l.slots(), 13);
        assert_eq!(l.batch(3), 10..18);
        for j in 0..l.evicted() {
            let t = l.evicted_at(j);
            assert!(l.boundary(t) > j && l.boundary(t - 1) <= j, "j = {j}");
            assert!(l.batch(t).contains(&j));
        }
        let brute: usize = (0..40).map(|i| l.keys(i).len()).sum();
        assert_eq!(l.pairs(), brute as u64);
    }

    #[test]
    fn watchers_are_exactly_the_queries_that_see_a_position_uncompressed() {
        for l in [layout(50, 7, 9, 3, 2), layout(50, 4, 0, 1, 5)] {
            for j in 0..l.evicted() {
                let brute: Vec<usize> = (0..l.n)
                    .filter(|&i| {
                        let k = l.keys(i);
                        k.memory.contains(&j) || k.segment.contains(&j)
                    })
                    .collect();
                assert_eq!(l.watchers(j).collect::<Vec<_>>(), brute, "{l:?} j = {j}");
            }
        }
    }

    #[test]
    fn the_mask_tiles_cover_every_pair_and_flag_only_whole_tiles() {
        for l in [
            layout(203, 40, 70, 3, 9),
            layout(130, 16, 16, 1, 0),
            layout(300, 100, 33, 4, 100),
        ] {
            let mask = MemoryMask {
                layout: l,
                slot_of: SlotMap::groups(&l).slot_of,
                share: l.rate,
            };
            let list = mask.tiles(l.n, false);
            let base = l.slot_base();
            for qt in 0..l.n.div_ceil(TILE) {
                let listed = &list.tiles[list.offsets[qt] as usize..list.offsets[qt + 1] as usize];
                for i in qt * TILE..((qt + 1) * TILE).min(l.n) {
                    let k = l.keys(i);
                    let needed =
                        (k.memory.start..k.segment.end).chain(k.slots.clone().map(|g| base + g));
                    for j in needed {
                        assert!(listed.contains(&((j / TILE) as u32)), "{l:?} ({i}, {j})");
                    }
                }
                for (e, &kt) in listed.iter().enumerate() {
                    if list.full[list.offsets[qt] as usize + e] {
                        for i in qt * TILE..(qt + 1) * TILE {
                            let k = l.keys(i);
                            for j in kt as usize * TILE..(kt as usize + 1) * TILE {
                                let ok = if j < l.n {
                                    j >= k.memory.start && j <= i
                                } else {
                                    j >= base && k.slots.contains(&(j - base))
                                };
                                assert!(ok, "{l:?}: tile ({qt}, {kt}) flagged full at ({i}, {j})");
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn most_attended_keeps_one_in_c_of_each_batch_by_usage() {
        let l = layout(60, 10, 10, 5, 4);
        let usage: Vec<f32> = (0..l.evicted()).map(|j| ((j * 7919) % 13) as f32).collect();
        let keep = most_attended(&l, &usage);
        for t in 1..l.segments() {
            let batch = l.batch(t);
            let kept: Vec<usize> = batch.clone().filter(|&j| keep[j]).collect();
            assert_eq!(kept.len(), batch.len() / 5, "batch {t}");
            let lowest_kept = kept.iter().map(|&j| usage[j]).fold(f32::MAX, f32::min);
            for j in batch.filter(|j| !keep[*j]) {
                assert!(usage[j] <= lowest_kept);
            }
        }
        assert!(keep[l.evicted()..].iter().all(|k| !k));
    }

    #[test]
    fn compression_functions_pool_and_convolve_groups_of_c() {
        let x = Array2::from_shape_fn((6, 2), |(r, c)| (r * 2 + c) as f32);
        let mean = compress_groups(x.view(), 2, 3, CompressKind::Mean, &[]);
        assert_eq!(mean.row(0).to_vec(), [2.0, 3.0]);
        let max = compress_groups(x.view(), 2, 3, CompressKind::Max, &[]);
        assert_eq!(max.row(1).to_vec(), [10.0, 11.0]);
        // Identity weights / c make the convolution a mean.
        let mut w = vec![0f32; 3 * 4];
        for t in 0..3 {
            w[t * 4] = 1.0 / 3.0;
            w[t * 4 + 3] = 1.0 / 3.0;
        }
        let conv = compress_groups(x.view(), 2, 3, CompressKind::Conv, &w);
        for (a, b) in conv.iter().zip(mean.iter()) {
            assert!((a - b).abs() < 1e-5);
        }
        let seeded = conv_weights(1, 3, 4, 0);
        assert_eq!(seeded, conv_weights(1, 3, 4, 0));
        assert_ne!(seeded, conv_weights(2, 3, 4, 0));
    }
}
