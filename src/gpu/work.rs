//! What the GPU kernels really execute: FLOPs and global-memory bytes of each
//! dispatch, counted from the WGSL as written (padded tiles, masked pairs
//! inside visited tiles, redundant per-thread work, re-reads of K and V tiles
//! by every query tile, partial results of split rows, tables). These are the
//! *executed* figures of [`crate::attention::Cost`]; the method files give
//! the *algorithmic* ones beside them.
//!
//! Convention: a multiply-add counts 2; an add, subtract, multiply, divide,
//! `exp`, `log`, `sin`, `cos`, `abs`, `max` or float compare 1. WGSL's
//! `select` evaluates both operands, so both are counted. Integer and index
//! arithmetic is not counted. Bytes are 4 × the scalar loads and stores of
//! storage buffers (uniforms excluded), with no cache model.

use super::memory_attention::MemoryGeometry;
use super::tiled_attention::{TILE, WorkPlan};
use crate::data::codes::{CompressKind, FeatureKind};
use crate::data::count::Counted;
use crate::data::tiles::TileList;

/// FLOPs and bytes of some dispatches, with the names of the parts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Work {
    /// FLOPs executed.
    pub flops: u64,
    /// Bytes loaded and stored.
    pub bytes: u64,
    /// What was added, in order, for the formulas.
    pub parts: Vec<String>,
}

impl Work {
    /// Adds a part.
    pub fn add(&mut self, part: impl Into<String>, (flops, bytes): (u64, u64)) -> &mut Work {
        self.flops += flops;
        self.bytes += bytes;
        self.parts.push(part.into());
        self
    }

    /// Adds all of `other`.
    pub fn extend(&mut self, other: Work) -> &mut Work {
        self.flops += other.flops;
        self.bytes += other.bytes;
        self.parts.extend(other.parts);
        self
    }

    /// The executed (FLOPs, bytes) as counts whose formulas list the parts.
    pub fn counted(&self, flops_rule: &str, bytes_rule: &str) -> (Counted, Counted) {
        let parts = self.parts.join(" + ");
        (
            Counted::new(self.flops, format!("{parts}; {flops_rule}")),
            Counted::new(self.bytes, format!("{parts}; {bytes_rule}")),
        )
    }
}

/// The rules the linalg kernels are counted by, for the formulas.
pub const LINALG_FLOPS_RULE: &str =
    "matmul 2·P(M)P(N)P(K) + 2MN with P(x) = 16⌈x/16⌉; softmax R(10C + 766)";
/// See [`LINALG_FLOPS_RULE`].
pub const LINALG_BYTES_RULE: &str = "matmul 4(MK⌈N/16⌉ + KN⌈M/16⌉ + MN); softmax 16RC";

/// 16·⌈x/16⌉: the linalg kernels' padded extent.
fn pad16(x: u64) -> u64 {
    x.div_ceil(16) * 16
}

/// `linalg.wgsl` `matmul` of an M × K by a K × N matrix: every thread of the
/// padded 16 × 16 tiles runs the K-loop (2·P(M)·P(N)·P(K)) and the output
/// store αx + prior (2MN); A is re-read ⌈N/16⌉ times, B ⌈M/16⌉ times.
pub fn matmul(m: u64, n: u64, k: u64) -> (u64, u64) {
    (
        2 * pad16(m) * pad16(n) * pad16(k) + 2 * m * n,
        4 * (m * k * n.div_ceil(16) + k * n * m.div_ceil(16) + m * n),
    )
}

/// `linalg.wgsl` `softmax_rows` over R rows of C: per entry scale, max,
/// subtract, `exp`, sum and divide (10 with the re-reads' arithmetic), per
/// row two 255-step reduction trees and 256 redundant reciprocals (766);
/// three reads and one write per entry.
pub fn softmax_rows(rows: u64, cols: u64) -> (u64, u64) {
    (rows * (10 * cols + 766), 16 * rows * cols)
}

/// `linalg.wgsl` `bias_relu` over R × C: add and max per entry; x and the
/// bias read, x written.
pub fn bias_relu(rows: u64, cols: u64) -> (u64, u64) {
    (2 * rows * cols, 12 * rows * cols)
}

/// `linalg.wgsl` `segment_means` of an n × d matrix into L rows: a sum per
/// input entry and a division per output entry; every entry read, every
/// mean written.
pub fn segment_means(n: u64, d: u64, segments: u64) -> (u64, u64) {
    (n * d + segments * d, 4 * (n * d + segments * d))
}

/// `linalg.wgsl` `pinv_start` on an L × L matrix (one workgroup): the row and
/// column absolute sums, their maxima by a 255-step tree each, and the scaled
/// transpose.
pub fn pinv_start(l: u64) -> (u64, u64) {
    (5 * l * l + 2 * l + 1278, 16 * l * l)
}

/// One iteration Z ← ¼·Z(13I − AZ(15I − AZ(7I − AZ))): four L × L matmuls
/// and three `identity_plus` (8·P(L)³ + 14L²); each matmul reads its two
/// operands ⌈L/16⌉ times and writes once, each `identity_plus` reads and
/// writes once.
pub fn pinv_iteration(l: u64) -> (u64, u64) {
    let p = pad16(l);
    (
        8 * p * p * p + 14 * l * l,
        4 * l * l * (8 * l.div_ceil(16) + 10),
    )
}

/// The register-tiled `attend` kernel and `merge_splits` over a tile list,
/// at widths d and dᵥ, for n queries and keys.
///
/// * per visited tile: the 32 × 32 scores at width 4⌈d/4⌉ (1024·8⌈d/4⌉), the
///   online-softmax bookkeeping of its 128 threads (1024·15) and P·V at
///   width 32⌈dᵥ/32⌉ over the tile's keys (2048·⌈dᵥ/32⌉·keys);
/// * per work item: the final division of 32 rows (4608);
/// * per split slot and merge: 32·dᵥ·(9·slots + 2·merges).
///
/// Bytes: each item reads its header and its 32 Q rows (re-read by every
/// piece of a split query tile), each visited tile its table entry and its
/// keys' K and V rows, outputs and (m, l) are written once per unsplit row
/// or per 32-row slot, and `merge_splits` re-reads each slot's statistics
/// for every column.
pub fn attend(list: &TileList, plan: &WorkPlan, n: u64, d: u64, dv: u64) -> (u64, u64) {
    attend_keys(list, plan, n, n, d, dv)
}

/// [`attend`] over n queries and `keys` key rows (more than n when a
/// method appends rows after the positions: compressed memory).
pub fn attend_keys(
    list: &TileList,
    plan: &WorkPlan,
    n: u64,
    keys: u64,
    d: u64,
    dv: u64,
) -> (u64, u64) {
    let t = TILE as u64;
    let n_keys = keys;
    let (d4, u) = (d.div_ceil(4), dv.div_ceil(32));
    let mut flops = 0u64;
    let mut bytes = 0u64;
    for &kt in &list.tiles {
        let keys = (n_keys - (kt as u64 * t).min(n_keys)).min(t);
        flops += t * t * (8 * d4 + 15) + 2048 * u * keys;
        bytes += 4 * (1 + keys * (d + dv));
    }
    let items = plan.items.len() as u64;
    flops += 4608 * items;
    bytes += 4 * items * (4 + t * d);
    let split_tiles: std::collections::BTreeSet<u32> = plan.merges.iter().map(|m| m[0]).collect();
    let unsplit_rows: u64 = (0..n.div_ceil(t))
        .filter(|qt| !split_tiles.contains(&(*qt as u32)))
        .map(|qt| (n - qt * t).min(t))
        .sum();
    let (slots, merges) = (plan.slots as u64, plan.merges.len() as u64);
    bytes += 4 * (unsplit_rows + t * slots) * (dv + 2);
    flops += t * dv * (9 * slots + 2 * merges);
    bytes += 4 * (t * dv * (5 * slots + merges) + 67 * merges);
    (flops, bytes)
}

/// The rules [`attend_wide`] counts by.
pub const ATTEND_WIDE_FLOPS_RULE: &str = "per query row and visited tile: keys·(2d + 4) scores of live rows, 64 threads × 64 for the tile's max and sum, keys·2dᵥ + dᵥ for P·V; per merge 32dᵥ(9·slots + 2·merges)";
/// See [`ATTEND_WIDE_FLOPS_RULE`].
pub const ATTEND_WIDE_BYTES_RULE: &str = "per live row and visited tile 4(1 + keys·2d) (its q and the K rows re-read), per row and tile 4·keys·dᵥ (V), outputs 4(rows + 32·slots)(dᵥ + 2), merges as attend";

/// The wide fallback `attend_wide`: one 64-thread workgroup per (work
/// item, query row); each visited tile scores its keys for the live rows
/// (q and K read from global memory), every thread re-reduces the tile's
/// 32 scores (max and sum), and the output row accumulates P·V with threads
/// striding over its columns. Merges as [`attend`].
pub fn attend_wide(list: &TileList, plan: &WorkPlan, n: u64, d: u64, dv: u64) -> (u64, u64) {
    attend_wide_keys(list, plan, n, n, d, dv)
}

/// [`attend_wide`] over n queries and `keys` key rows.
pub fn attend_wide_keys(
    list: &TileList,
    plan: &WorkPlan,
    n: u64,
    keys: u64,
    d: u64,
    dv: u64,
) -> (u64, u64) {
    let t = TILE as u64;
    let n_keys = keys;
    let mut flops = 0u64;
    let mut bytes = 0u64;
    for item in &plan.items {
        let [qt, first, end, _] = *item;
        let live = (n - (qt as u64 * t).min(n)).min(t);
        for &kt in &list.tiles[first as usize..end as usize] {
            let keys = (n_keys - (kt as u64 * t).min(n_keys)).min(t);
            flops += live * keys * (2 * d + 4) + t * (64 * 64 + 3 * 32 + keys * 2 * dv + dv);
            bytes += 4 * (live * (1 + keys * 2 * d) + t * keys * dv);
        }
        flops += live * dv;
    }
    let split_tiles: std::collections::BTreeSet<u32> = plan.merges.iter().map(|m| m[0]).collect();
    let unsplit_rows: u64 = (0..n.div_ceil(t))
        .filter(|qt| !split_tiles.contains(&(*qt as u32)))
        .map(|qt| (n - qt * t).min(t))
        .sum();
    let (slots, merges) = (plan.slots as u64, plan.merges.len() as u64);
    bytes += 4 * (unsplit_rows + t * slots) * (dv + 2);
    flops += t * dv * (9 * slots + 2 * merges);
    bytes += 4 * (t * dv * (5 * slots + merges) + 67 * merges);
    (flops, bytes)
}

/// The simple fused kernel (`fused_simple`): workgroups of `rows` query rows
/// stream every visible 64-key tile of K and V. Per workgroup and tile the
/// dot products and P·V (2·rows·keys·(d + dᵥ)) and the per-row online
/// softmax (rows·(389 + 64·⌈dᵥ/64⌉)); per row the final division (64 + dᵥ).
/// K and V are re-read by every workgroup.
pub fn fused_simple(n: u64, d: u64, dv: u64, rows: u64, causal: bool) -> (u64, u64) {
    const KEYS: u64 = 64;
    let per_thread = dv.div_ceil(KEYS).max(1);
    let mut flops = n * (64 + dv);
    let mut bytes = 4 * (n * d + n * dv + 2 * n);
    for g in 0..n.div_ceil(rows) {
        let first = g * rows;
        let here = (n - first).min(rows);
        let visible = if causal { (first + rows).min(n) } else { n };
        for tile in 0..visible.div_ceil(KEYS) {
            let keys = (visible - tile * KEYS).min(KEYS);
            flops += 2 * here * keys * (d + dv) + here * (389 + 64 * per_thread);
            bytes += 4 * keys * (d + dv);
        }
    }
    (flops, bytes)
}

/// The shape and configuration of a flash-attention run, for [`flash`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlashWork {
    /// B·H heads.
    pub heads: u64,
    /// Queries and keys per head.
    pub n: u64,
    /// Query/key width.
    pub d: u64,
    /// Value width.
    pub dv: u64,
    /// Causal: key tiles up to the diagonal only.
    pub causal: bool,
    /// BR: query rows per workgroup.
    pub block_rows: u64,
    /// BC: keys per tile.
    pub block_keys: u64,
    /// TC: threads sharing a row.
    pub thread_cols: u64,
    /// RD4: vec4 output columns per thread.
    pub out_vec4s: u64,
    /// Row reductions by subgroup shuffles (log₂ TC steps) rather than
    /// through workgroup memory (TC − 1 per thread).
    pub subgroups: bool,
}

/// The rules [`flash`] counts by.
pub const FLASH_FLOPS_RULE: &str = "per head, query block of BR rows and visited BC-key tile: \
     8·BR·BC·⌈d/4⌉ (QKᵀ on padded rows) + 8·BR·BC·TC·RD4 (P·V, every thread's RD4 vec4 columns) \
     + BR·(4BC + TC(5 + 4·RD4 + r)) (tile max, exp2, sums, rescale; r = log₂TC or TC − 1 per reduction) \
     + BR·BC on masked tiles; per block 4⌈d/4⌉ per live row (Q scaled); per row TC·(1 + r) + 4⌈dᵥ/4⌉ + 1";
/// See [`FLASH_FLOPS_RULE`].
pub const FLASH_BYTES_RULE: &str = "per head and query block: its live Q rows (16⌈d/4⌉ each), per visited \
     tile its live K and V rows (16(⌈d/4⌉ + ⌈dᵥ/4⌉) each); per row O (16⌈dᵥ/4⌉) and (m, l) (8) written once";

/// `flash_attention.wgsl` as written: per head, each block of BR query rows
/// (rows past n still computed, zero) visits ⌈n/BC⌉ key tiles, or causal
/// ⌈min(n, i₀ + BR)/BC⌉, masking only the tiles past n or crossing the
/// diagonal; see [`FLASH_FLOPS_RULE`] and [`FLASH_BYTES_RULE`]. The loads
/// are vec4s of rows padded to 4⌈w/4⌉ columns, counted at their padded size.
pub fn flash(w: &FlashWork) -> (u64, u64) {
    let (br, bc, tc, rd4) = (w.block_rows, w.block_keys, w.thread_cols, w.out_vec4s);
    let (d4, dv4) = (w.d.div_ceil(4), w.dv.div_ceil(4));
    let reduce = if w.subgroups {
        64 - (tc.max(1) - 1).leading_zeros() as u64
    } else {
        tc - 1
    };
    let per_tile =
        8 * br * bc * d4 + 8 * br * bc * tc * rd4 + br * (4 * bc + tc * (5 + 4 * rd4 + reduce));
    let (mut flops, mut bytes) = (0u64, 0u64);
    for block in 0..w.n.div_ceil(br) {
        let i0 = block * br;
        let live = (w.n - i0).min(br);
        let key_end = if w.causal { w.n.min(i0 + br) } else { w.n };
        let tiles = key_end.div_ceil(bc);
        flops += 4 * d4 * live + tiles * per_tile;
        bytes += 16 * d4 * live;
        for t in 0..tiles {
            let j0 = t * bc;
            let keys = (w.n - j0).min(bc);
            if j0 + bc > w.n || (w.causal && j0 + bc > i0 + 1) {
                flops += br * bc;
            }
            bytes += 16 * keys * (d4 + dv4);
        }
        flops += live * (tc * (1 + reduce) + 4 * dv4 + 1);
        bytes += live * (16 * dv4 + 8);
    }
    (w.heads * flops, w.heads * bytes)
}

/// The features of the linear-attention kernels for Q and K (n rows, m
/// features, width d): elu + 1 evaluates both branches (3 per entry);
/// cosFormer angle, ReLU, sin and cos and two products (8); FAVOR+ recomputes
/// the d^−¼ scaling and ‖x‖² for every feature (5d + 2 per entry), then the
/// row maxima (nm per side), the key maximum (n + 255) and the shifted exp
/// (3 per entry). Each thread of FAVOR+ reloads its d inputs and d values
/// of ω.
pub fn linear_features(kind: FeatureKind, n: u64, d: u64, m: u64) -> (u64, u64) {
    match kind {
        FeatureKind::Elu => (6 * n * m, 16 * n * m),
        FeatureKind::Cos => (16 * n * m, 16 * n * m),
        FeatureKind::Favor => (
            2 * n * m * (5 * d + 6) + n + 255,
            4 * (4 * n * m * d + 10 * n * m + 3 * n + 1),
        ),
    }
}

/// `chunk_sums`, the Hillis–Steele scan and `apply` of linear attention for
/// n rows, m features, value width dᵥ, chunks of `chunk` keys. The scan runs
/// causal or not (`apply` reads the last chunk's total).
///
/// * chunk sums: 2nm·dᵥ + nm, φ(K) re-read dᵥ times and V m times;
/// * scan: W·(P·ch − 2^P + 1) with W = m(dᵥ + 1), P = ⌈log₂ ch⌉ passes;
/// * apply, non-causal: n·(2m(dᵥ + 1) + dᵥ + 66), S and z re-read per row;
///   causal: per row the previous chunks' prefix (from the second chunk) and
///   the own-chunk keys j ≤ i explicitly.
pub fn linear_sums(n: u64, m: u64, dv: u64, chunk: u64, causal: bool) -> Work {
    let chunks = n.div_ceil(chunk);
    let passes = if chunks > 1 {
        64 - (chunks - 1).leading_zeros() as u64
    } else {
        0
    };
    let w = m * (dv + 1);
    let mut work = Work::default();
    work.add(
        "chunk sums",
        (
            2 * n * m * dv + n * m,
            4 * (2 * n * m * dv + n * m + chunks * w),
        ),
    );
    let span = passes * chunks + 1 - (1u64 << passes);
    let scan_bytes = if passes > 0 {
        4 * w * (3 * passes * chunks + 1 - (1u64 << passes))
    } else {
        0
    };
    work.add("scan", (w * span, scan_bytes));
    if !causal {
        work.add(
            "apply",
            (
                n * (2 * m * (dv + 1) + dv + 66),
                4 * n * (m * (dv + 2) + dv + 1),
            ),
        );
    } else {
        let (mut flops, mut bytes) = (0u64, 0u64);
        for i in 0..n {
            let prefix = (i >= chunk) as u64;
            let own = i % chunk + 1;
            flops += prefix * 2 * m * (dv + 1) + own * (2 * m + 2 * dv + 1) + dv + 66;
            bytes += 4 * (m + prefix * m * (dv + 1) + own * (m + dv) + dv + 1);
        }
        work.add("apply (prefix + own chunk)", (flops, bytes));
    }
    work
}

/// `memory_attention.wgsl`'s f_c over one buffer of `width` columns into
/// `slots` slot rows, per output element: mean c adds and a division, max c
/// maxima, the convolution c·width multiply-adds (2c·width); bytes: the c
/// rows (and the convolution's c·width weights) read, the slot written; the
/// gather reads its source index and row and writes.
pub fn memory_compress(kind: CompressKind, slots: u64, c: u64, width: u64) -> (u64, u64) {
    let outputs = slots * width;
    match kind {
        CompressKind::Mean => (outputs * (c + 1), 4 * outputs * (c + 1)),
        CompressKind::Max => (outputs * c, 4 * outputs * (c + 1)),
        CompressKind::Conv => (outputs * 2 * c * width, 4 * outputs * (2 * c * width + 1)),
        CompressKind::MostAttended => (0, 12 * outputs),
    }
}

/// Most-attended's selection passes in `memory_attention.wgsl`, with W_j
/// the watchers of evicted position j and L_j its eviction batch (from
/// lo_j):
///
/// * `usage`: per 32-key tile and 32-row chunk of its watchers' union, the
///   32 × 32 scores at width 32⌈d/32⌉ (65536⌈d/32⌉); per watched pair the
///   scale, shift, `exp`, division and sum (5); per key the three-way
///   merge of the row groups and the division (4). Bytes: per chunk the Q
///   rows and K tile inside n staged (4d each), per watched pair (m, l), per
///   key the usage written;
/// * `select_keep`: two comparisons per batch member, L_j + 1 reads and a
///   write;
/// * `select_slots`: the keep flags before j in its batch read, slot_of
///   written for every position and slot_src for each slot.
pub fn memory_selection(g: &MemoryGeometry, d: u64) -> Work {
    let (n, evicted, t) = (g.n as u64, g.evicted as u64, 32u64);
    let mut usage = (0u64, 0u64);
    let mut j0 = 0;
    while j0 < evicted {
        let last = (j0 + t).min(evicted) - 1;
        let end = (g.evicted_at(last) * g.segment as u64).min(n);
        let mut i0 = j0;
        while i0 < end {
            usage.0 += 65536 * d.div_ceil(t);
            usage.1 += 4 * ((n - i0).min(t) + (n - j0).min(t)) * d;
            i0 += t;
        }
        j0 += t;
    }
    let (mut keep, mut slots, mut watched) = ((0u64, 0u64), 0u64, 0u64);
    for j in 0..evicted {
        let (lo, len) = g.batch(j);
        watched += g.watchers(j);
        keep.0 += 2 * len;
        keep.1 += 4 * (len + 2);
        slots += 4 * (j - lo + 2);
    }
    usage.0 += 5 * watched + 4 * evicted;
    usage.1 += 8 * watched + 4 * evicted;
    slots += 4 * (n - evicted) + 4 * g.slots as u64;
    let mut w = Work::default();
    w.add(
        format!("usage of {evicted} evicted positions ({watched} watched pairs)"),
        usage,
    );
    w.add("select_keep", keep);
    w.add("select_slots", (0, slots));
    w
}

/// `quantize.wgsl` on `numel` elements in `groups` groups of `cpg` chunk
/// slots each; `mse`: the clipping search ran, in one pass per group
/// (`Some(true)`, `mse_local`) or per chunk (`Some(false)`). Reductions
/// count 1 per combine (3 per thread in `stats`, 1 in the error sums);
/// `apply` loads its group's 8 parameters for every element.
pub fn quantize(numel: u64, groups: u64, cpg: u64, mse: Option<bool>) -> Work {
    const WG: u64 = 256;
    const K: u64 = 100;
    let slots = groups * cpg;
    let mut w = Work::default();
    // stats: min, max, |x|, + per element; the tree: 3 per thread.
    w.add(
        "stats",
        (4 * numel + 3 * WG * slots, 4 * numel + 12 * slots),
    );
    // finish: merge cpg partials (3 each), the parameters (≈ 8).
    w.add(
        "finish",
        (groups * (3 * cpg + 8), groups * (12 * cpg + 16 + 16 + 32)),
    );
    // One candidate on one element: x / s, round, + z, clamp (2), − z, × s,
    // the difference, its square and the sum: 10.
    let candidate = |elements: u64, blocks: u64| (10 * elements + (WG + 8) * blocks) * K;
    match mse {
        Some(true) => {
            w.add(
                "mse_local",
                (
                    candidate(numel, groups),
                    K * (4 * numel + 16 * groups) + 32 * groups,
                ),
            );
        }
        Some(false) => {
            w.add(
                "mse_partial",
                (candidate(numel, slots), K * (4 * numel + 20 * slots)),
            );
            w.add(
                "mse_choose",
                (
                    groups * (K * (cpg + 1) + 8),
                    groups * (4 * K * cpg + 16 + 32),
                ),
            );
        }
        None => {}
    }
    // apply: x / s, round, + z, clamp (2), − z, × s.
    w.add("apply", (7 * numel, (4 + 32 + 4) * numel));
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matmul_counts_padding_and_rereads() {
        // 16 × 16 × 16: one tile, no padding.
        assert_eq!(matmul(16, 16, 16), (2 * 4096 + 512, 4 * (256 + 256 + 256)));
        // 8 × 16 × 16 pads M to 16: the same inner work as 16 rows.
        assert_eq!(matmul(8, 16, 16).0, 2 * 4096 + 256);
    }

    #[test]
    fn flash_counts_visited_tiles_and_scales_with_heads() {
        let w = FlashWork {
            heads: 1,
            n: 64,
            d: 64,
            dv: 64,
            causal: false,
            block_rows: 64,
            block_keys: 32,
            thread_cols: 8,
            out_vec4s: 2,
            subgroups: true,
        };
        // One block, two unmasked tiles: 2 × (8·64·32·16 + 8·64·32·8·2 +
        // 64·(128 + 8·(5 + 8 + 3))), plus Q scaling and the end.
        let tile = 8 * 64 * 32 * 16 + 8 * 64 * 32 * 16 + 64 * (128 + 8 * 16);
        let (f, b) = flash(&w);
        assert_eq!(f, 2 * tile + 4 * 16 * 64 + 64 * (8 * 4 + 64 + 1));
        assert_eq!(b, 16 * 16 * 64 + 2 * 16 * 32 * 32 + 64 * (16 * 16 + 8));
        let heads = flash(&FlashWork { heads: 3, ..w });
        assert_eq!(heads, (3 * f, 3 * b));
        // Causal over 128 rows: block 0 visits 2 tiles, block 1 all 4, and
        // only the tiles crossing the diagonal (2 + 2) are masked.
        let causal = FlashWork {
            n: 128,
            causal: true,
            ..w
        };
        let full = FlashWork { n: 128, ..w };
        let (fc, bc) = flash(&causal);
        let (ff, bf) = flash(&full);
        assert_eq!(ff - fc, 2 * tile - 4 * 64 * 32);
        assert_eq!(bf - bc, 2 * 16 * 32 * 32);
    }

    #[test]
    fn linear_sums_scan_runs_causal_or_not() {
        let a = linear_sums(256, 8, 8, 64, false);
        let b = linear_sums(256, 8, 8, 64, true);
        // 4 chunks: 2 passes, 4·2 − 4 + 1 = 5 chunk-widths of work, causal
        // or not.
        assert_eq!(a.parts[1], "scan");
        assert_eq!(b.parts[1], "scan");
        let w = 8 * 9;
        let scan_flops = w * 5;
        let chunk_sums = 2 * 256 * 8 * 8 + 256 * 8;
        assert_eq!(
            a.flops,
            chunk_sums + scan_flops + 256 * (2 * 8 * 9 + 8 + 66)
        );
    }
}
