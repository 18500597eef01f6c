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
use super::sgemm::{K_STEP, Variant};
use super::tiled_attention::{SORT_BLOCK, TILE, WorkPlan};
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
pub const LINALG_FLOPS_RULE: &str = "matmul (sgemm, T × T tiles: T = 128 from 256 such tiles, else 32) \
     2·P_T(M)P_T(N)P₈(K) + M·P_T(N) with P_x(y) = x⌈y/x⌉; softmax R(10C + 766)";
/// See [`LINALG_FLOPS_RULE`].
pub const LINALG_BYTES_RULE: &str = "matmul 4(MK⌈N/T⌉ + KN⌈M/T⌉ + MN); softmax 16RC";

/// x rounded up to a multiple of `to`.
fn pad(x: u64, to: u64) -> u64 {
    x.div_ceil(to) * to
}

/// `sgemm.wgsl` over `batch` items of an M × K by a K × N product with
/// densely packed operands, tiled by `variant` (T × T tiles):
///
/// * FLOPs: every thread of the padded tiles runs every K-step, its
///   multiply-adds counting 2 (2·P_T(M)·P_T(N)·P₈(K)), and each stored row
///   of C inside M scales the tile's columns by α (M·P_T(N));
/// * bytes: the guarded loads read A once per column tile (MK⌈N/T⌉) and B
///   once per row tile (KN⌈M/T⌉), and C is written once (MN) — the same
///   through vec4 or scalar loads, as packed rows never leave a vec4 past
///   the end of M or N.
pub fn sgemm(m: u64, n: u64, k: u64, batch: u64, variant: Variant) -> (u64, u64) {
    let t = variant.tile() as u64;
    (
        batch * (2 * pad(m, t) * pad(n, t) * pad(k, K_STEP as u64) + m * pad(n, t)),
        4 * batch * (m * k * n.div_ceil(t) + k * n * m.div_ceil(t) + m * n),
    )
}

/// A product of the linalg programs ([`super::linalg::Builder::matmul`]):
/// [`sgemm`] with the tiling [`Variant::for_shape`] picks.
pub fn matmul(m: u64, n: u64, k: u64) -> (u64, u64) {
    sgemm(m, n, k, 1, Variant::for_shape(m, n, 1))
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

/// One iteration Z ← ¼·Z(13I − AZ(15I − AZ(7I − AZ))): four L × L
/// [`matmul`]s and three `identity_plus` (a multiply and an add per entry;
/// a read and a write).
pub fn pinv_iteration(l: u64) -> (u64, u64) {
    let (f, b) = matmul(l, l, l);
    (4 * f + 6 * l * l, 4 * b + 24 * l * l)
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

/// A count over B·H heads run in one dispatch each pass: `heads` × the
/// one-head count (the heads share the tile list, so each does the same
/// work), its formula saying so.
pub fn for_heads(count: Counted, heads: usize) -> Counted {
    match heads {
        0 | 1 => count,
        _ => Counted::new(
            count.value * heads as u64,
            format!("{heads} heads × ({})", count.formula),
        ),
    }
}

/// Reformer's radix sort (`lsh.wgsl`: `lsh_count`, `lsh_scan`,
/// `lsh_scatter`) of the 2·rounds sequences (queries and keys per round)
/// of n positions into b buckets, blocks of 256 (L = ⌈n/256⌉ blocks):
/// integer work only, so no FLOPs; bytes per sequence
///
/// * count: the n buckets read, b·L counts written: 4(n + bL);
/// * scan: the counts read and written, b totals written: 4(2bL + b);
/// * scatter: per position its bucket and its block's count read, its
///   sorted place and rank written (16n), per block the threads t < b
///   summing the totals of the t buckets below theirs (4L·b(b − 1)/2);
///   the query sequences also write the bucket (4n).
pub fn lsh_sort(n: u64, rounds: u64, buckets: u64) -> (u64, u64) {
    let blocks = n.div_ceil(SORT_BLOCK as u64).max(1);
    let per_sequence = 4 * (n + buckets * blocks)
        + 4 * (2 * buckets * blocks + buckets)
        + 16 * n
        + 2 * blocks * buckets * buckets.saturating_sub(1);
    (0, 2 * rounds * per_sequence + 4 * rounds * n)
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
    fn sgemm_counts_padding_and_rereads() {
        // 32 × 32 × 16 in small tiles: one tile, no padding; α on 32 rows.
        assert_eq!(
            sgemm(32, 32, 16, 1, Variant::Small),
            (2 * 32 * 32 * 16 + 32 * 32, 4 * (512 + 512 + 1024))
        );
        // 8 × 32 × 20 pads M to 32 and K to 24: the inner work of 32 × 32 × 24,
        // α on the 8 rows inside M.
        assert_eq!(
            sgemm(8, 32, 20, 1, Variant::Small).0,
            2 * 32 * 32 * 24 + 8 * 32
        );
        // 256 × 256 × 64 in large tiles: A read twice, B twice; a batch scales.
        let (f, b) = sgemm(256, 256, 64, 3, Variant::Large);
        assert_eq!(f, 3 * (2 * 256 * 256 * 64 + 256 * 256));
        assert_eq!(b, 4 * 3 * (256 * 64 * 2 + 64 * 256 * 2 + 256 * 256));
        // The linalg builder's products: small tiles for a skinny output,
        // large ones from 256 tiles of 128 × 128 on.
        assert_eq!(matmul(64, 64, 64), sgemm(64, 64, 64, 1, Variant::Small));
        assert_eq!(
            matmul(16384, 128, 64),
            sgemm(16384, 128, 64, 1, Variant::Small)
        );
        assert_eq!(
            matmul(16384, 256, 64),
            sgemm(16384, 256, 64, 1, Variant::Large)
        );
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
