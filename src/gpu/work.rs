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

use super::linalg::SHORT_ROW_MAX;
use super::memory_attention::MemoryGeometry;
use super::sgemm::{Split, Variant};
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
pub const LINALG_FLOPS_RULE: &str = "matmul (sgemm, T × T tiles: T = 128 from 256 such tiles, 64 there when \
     a side is at most 64, else 32) \
     2·P_T(M)P_T(N)P₁₆(K) + M·P_T(N) with P_x(y) = x⌈y/x⌉, split into S ranges of K when the tiles are \
     few and K long: + (S − 1)·M·P_T(N) + S·MN; softmax R(10C + 766), R(10C + 1) for C ≤ 256";
/// See [`LINALG_FLOPS_RULE`].
pub const LINALG_BYTES_RULE: &str =
    "matmul 4(MK⌈N/T⌉ + KN⌈M/T⌉ + MN), split: + 4·2S·MN; softmax 16RC";

/// x rounded up to a multiple of `to`.
fn pad(x: u64, to: u64) -> u64 {
    x.div_ceil(to) * to
}

/// `sgemm.wgsl` over `batch` items of an M × K by a K × N product with
/// densely packed operands, tiled by `variant` (T × T tiles):
///
/// * FLOPs: every thread of the padded tiles runs every K-step, its
///   multiply-adds counting 2 (2·P_T(M)·P_T(N)·P_B(K), B the
///   variant's K-step, 16 by default), and each stored row
///   of C inside M scales the tile's columns by α (M·P_T(N));
/// * bytes: the guarded loads read A once per column tile (MK⌈N/T⌉) and B
///   once per row tile (KN⌈M/T⌉), and C is written once (MN) — the same
///   through vec4 or scalar loads, as packed rows never leave a vec4 past
///   the end of M or N.
pub fn sgemm(m: u64, n: u64, k: u64, batch: u64, variant: Variant) -> (u64, u64) {
    let t = variant.tile() as u64;
    (
        batch * (2 * pad(m, t) * pad(n, t) * pad(k, variant.k_step() as u64) + m * pad(n, t)),
        4 * batch * (m * k * n.div_ceil(t) + k * n * m.div_ceil(t) + m * n),
    )
}

/// A product of the linalg programs ([`super::linalg::Builder::matmul`]):
/// [`matmul_batched`] of one item.
pub fn matmul(m: u64, n: u64, k: u64) -> (u64, u64) {
    matmul_batched(m, n, k, 1)
}

/// A product of the linalg programs over `batch` items in one batched
/// dispatch (B·H heads; an operand shared by the items is re-read by each):
/// [`sgemm`] with the tiling [`Variant::for_shape`] picks for that batch,
/// all items together — split over K where [`Split::for_shape`] splits it
/// ([`sgemm_split`]).
pub fn matmul_batched(m: u64, n: u64, k: u64, batch: u64) -> (u64, u64) {
    let variant = Variant::for_shape(m, n, batch);
    let split = Split::for_shape(m, n, k, batch, variant);
    sgemm_split(m, n, k, batch, variant, split.parts as u64)
}

/// [`sgemm`] split over K into `parts` ranges (split-K, `parts` > 1) and
/// the pass that sums them (`linalg.wgsl` `sum_splits`):
///
/// * FLOPs: the ranges' padded K-steps add up to P_B(K) (every range but
///   the last is a multiple of 16), as unsplit; each part scales its
///   layer by α (parts·M·P_T(N)); the sum adds `parts` values per entry;
/// * bytes: A and B read as unsplit; each part writes its layer of M × N,
///   which the sum reads back (parts·MN) before writing C (MN).
pub fn sgemm_split(m: u64, n: u64, k: u64, batch: u64, variant: Variant, parts: u64) -> (u64, u64) {
    if parts <= 1 {
        return sgemm(m, n, k, batch, variant);
    }
    let (f, b) = sgemm(m, n, k, batch, variant);
    let t = variant.tile() as u64;
    let (alpha, c) = (batch * m * pad(n, t), 4 * batch * m * n);
    (
        f + (parts - 1) * alpha + parts * batch * m * n,
        b + (parts - 1) * c + (parts + 1) * c,
    )
}

/// `linalg.wgsl` `pinv_commit` on one L × L item after one step: a float
/// compare per entry and the item's count read; an item still iterating
/// also reads the new Z and writes it.
pub fn pinv_commit(l: u64, commits: bool) -> (u64, u64) {
    (l * l, if commits { 12 } else { 4 } * l * l)
}

/// `linalg.wgsl` `softmax_rows` over R rows of C: per entry scale, max,
/// subtract, `exp`, sum and divide (10 with the re-reads' arithmetic), per
/// row two 255-step reduction trees and 256 redundant reciprocals (766);
/// three reads and one write per entry. Rows of at most
/// [`SHORT_ROW_MAX`] entries run `softmax_rows_short`, a thread per row:
/// the same 10 per entry and one reciprocal per row.
pub fn softmax_rows(rows: u64, cols: u64) -> (u64, u64) {
    let per_row = if cols <= SHORT_ROW_MAX as u64 { 1 } else { 766 };
    (rows * (10 * cols + per_row), 16 * rows * cols)
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
    pinv_iteration_batched(l, 1)
}

/// [`pinv_iteration`] over `batch` L × L items in the same dispatches
/// (batched products, [`matmul_batched`]).
pub fn pinv_iteration_batched(l: u64, batch: u64) -> (u64, u64) {
    let (f, b) = matmul_batched(l, l, l, batch);
    (4 * f + 6 * l * l * batch, 4 * b + 24 * l * l * batch)
}

/// `pinv.wgsl` `pinv_fused`: every iteration of every item in one
/// workgroup each, item h running `iterations[h]` of them. Per iteration
/// four L × L products in workgroup memory (2L³ each: every thread's 4 × 4
/// block over all of K), three `cI − X` (a multiply and a subtraction per
/// entry) and the ¼ scale (L²): 8L³ + 7L². Bytes: Z₀ read and Z written
/// (8L²) and the count (4) per item, A read per iteration (4L²).
pub fn pinv_fused(l: u64, iterations: &[u32]) -> (u64, u64) {
    let its: u64 = iterations.iter().map(|&t| t as u64).sum();
    let items = iterations.len() as u64;
    (
        its * (8 * l * l * l + 7 * l * l),
        items * (8 * l * l + 4) + its * 4 * l * l,
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

/// The shape and configuration of a flash-attention run, for [`flash`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlashWork {
    /// B·H heads.
    pub heads: u64,
    /// Queries per head.
    pub n: u64,
    /// Keys (and values) per head: n, or fewer for attention over
    /// projected keys (Linformer's k).
    pub n_keys: u64,
    /// Query/key width.
    pub d: u64,
    /// Value width.
    pub dv: u64,
    /// Causal: key tiles up to the diagonal only.
    pub causal: bool,
    /// A band |i − j| ≤ W (Longformer's window without global tokens): key
    /// tiles that touch it only.
    pub window: Option<u64>,
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
pub const FLASH_FLOPS_RULE: &str = "per head, query block of BR rows and visited BC-key tile (every tile up to the last key; causal up to the diagonal; banded, those touching |i − j| ≤ W): \
     8·BR·BC·⌈d/4⌉ (QKᵀ on padded rows) + 8·BR·BC·TC·RD4 (P·V, every thread's RD4 vec4 columns) \
     + BR·(4BC + TC(5 + 4·RD4 + r)) (tile max, exp2, sums, rescale; r = log₂TC or TC − 1 per reduction) \
     + BR·BC on masked tiles; per block 4⌈d/4⌉ per live row (Q scaled); per row TC·(1 + r) + 4⌈dᵥ/4⌉ + 1";
/// See [`FLASH_FLOPS_RULE`].
pub const FLASH_BYTES_RULE: &str = "per head and query block: its live Q rows (16⌈d/4⌉ each), per visited \
     tile its live K and V rows (16(⌈d/4⌉ + ⌈dᵥ/4⌉) each); per row O (16⌈dᵥ/4⌉) and (m, l) (8) written once";

/// `flash_attention.wgsl` as written: per head, each block of BR query rows
/// (rows past n still computed, zero) visits ⌈n_keys/BC⌉ key tiles, or causal
/// ⌈min(n_keys, i₀ + BR)/BC⌉, masking only the tiles past n_keys or crossing the
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
        let tiles = flash_key_tiles(w, i0);
        flops += 4 * d4 * live + (tiles.end - tiles.start) * per_tile;
        bytes += 16 * d4 * live;
        for t in tiles {
            let j0 = t * bc;
            let keys = (w.n_keys - j0).min(bc);
            let edge = w
                .window
                .is_some_and(|win| j0 + win < i0 + br - 1 || j0 + bc - 1 > i0 + win);
            if j0 + bc > w.n_keys || (w.causal && j0 + bc > i0 + 1) || edge {
                flops += br * bc;
            }
            bytes += 16 * keys * (d4 + dv4);
        }
        flops += live * (tc * (1 + reduce) + 4 * dv4 + 1);
        bytes += live * (16 * dv4 + 8);
    }
    (w.heads * flops, w.heads * bytes)
}

/// A count over `heads` heads run in batched passes, its formula saying so
/// (one head: unchanged).
pub fn batched(c: Counted, heads: usize) -> Counted {
    if heads <= 1 {
        return c;
    }
    Counted::new(
        c.value,
        format!("{heads} heads in batched passes: {}", c.formula),
    )
}

/// The key tiles (of BC keys) the flash kernel visits for the query block
/// starting at row `i0`: up to the last key, causal up to the diagonal,
/// banded from the tile of i₀ − W to key i₀ + BR − 1 + W.
pub fn flash_key_tiles(w: &FlashWork, i0: u64) -> std::ops::Range<u64> {
    let (br, bc) = (w.block_rows, w.block_keys);
    let mut end = if w.causal {
        w.n_keys.min(i0 + br)
    } else {
        w.n_keys
    };
    let mut first = 0;
    if let Some(win) = w.window {
        end = end.min(i0 + br + win);
        first = i0.saturating_sub(win) / bc;
    }
    first..end.div_ceil(bc)
}

/// The rules [`linear_attention`] counts by, for the formulas.
pub const LINEAR_FLOPS_RULE: &str = "per 64×64 GEMM tile and 16-deep step 131072 (8×8 per thread of 64; causal apply 4×4 of 256); FAVOR+ exponents + ‖x‖² (2048 per step) + epilogue 8256 per tile; φ per loaded vec4: elu+1 12, FAVOR+ 12, cosFormer 13; chunk sums + z 1024 per step; fold causal lanes(2·chunks + 496), else lanes(chunks + 32); apply: prefix + den (2048 per step), causal own-chunk scores + 4 steps of scores×V per key tile, epilogue 8768 per tile (causal 21568)";
/// See [`LINEAR_FLOPS_RULE`].
pub const LINEAR_BYTES_RULE: &str = "FAVOR+: x re-read per feature tile, ω per row tile, exponents written; chunk sums: φ(K) (or K) re-read per value tile, V per feature tile, S and z written per chunk; fold: causal 12·lanes·chunks, else 4·lanes(chunks + 1); apply: φ(Q) per pass (prefix, each key tile), P and z per tile, causal φ(K) and V per key tile, O and 1/(den + ε) written";

/// FLOPs of computing one vec4 of φ as `linear_attention.wgsl` loads it:
/// elu + 1 evaluates both branches (exp, add, compare: 12); FAVOR+
/// exp(t − shift)/√m (12); cosFormer ReLU, the angle (3), cos and sin,
/// the product (13).
pub fn phi_vec4_flops(kind: FeatureKind) -> u64 {
    match kind {
        FeatureKind::Elu | FeatureKind::Favor => 12,
        FeatureKind::Cos => 13,
    }
}

/// What `linear_attention.wgsl` executes for one run over all of
/// `g.heads` heads (every pass one dispatch), counted from the shader:
///
/// * `features` (FAVOR+): per 64 × 64 tile and side, ⌈d4/16⌉ steps of
///   131072 (the tile's multiply-adds) + 2048 (‖x‖²), the d^−¼ scaling of
///   every loaded x, and an epilogue of 8256 (half norms, subtraction,
///   masked maxima) + 64 per key tile; x is re-read by each feature tile, ω
///   by each row tile, the exponents and the maxima written once;
/// * `key_max`: the partials and a 255-step tree per head;
/// * `chunk_sums`: per tile (chunk, feature tile, value tile) ⌈rows/16⌉
///   steps of 131072 + 1024 (z), φ computed for every loaded vec4, z's
///   reduction (192 per tile of value tile 0); φ (or K) re-read per value
///   tile, V per feature tile, S and z written per chunk;
/// * `fold` (more than one chunk): causal, per state value two passes over
///   the chunks and the earlier slices' totals (496); otherwise one pass
///   and the 32 slices' totals;
/// * `apply`: per 64 rows and value tile, ⌈mp/16⌉ steps of 131072 + 2048
///   (φ(Q)·P and the denominator) when it has a prefix; causal, per key
///   tile of its chunk up to the diagonal the scores (⌈mp/16⌉ steps of
///   131072), their row sums (8192) and scores × V (4 × 131072); the
///   epilogue (denominator reduction, ε, divisions) 8768 with 8 × 8 outputs
///   per thread, 21568 with 4 × 4 (causal), the FAVOR+ row shifts (ftiles
///   per row).
pub fn linear_attention(g: &crate::gpu::linear_attention::Geometry) -> Work {
    const STEP: u64 = 2 * 64 * 64 * 16;
    let u = |x: usize| x as u64;
    let (h, n) = (u(g.heads), u(g.n));
    let (d4, dv4, mp) = (u(g.d4), u(g.dv4), u(g.mp));
    let (rt, ft, vt) = (u(g.rtiles), u(g.ftiles), u(g.vtiles));
    let (chunk, chunks, lanes) = (u(g.chunk), u(g.chunks), u(g.lanes));
    let ph = phi_vec4_flops(g.kind);
    let favor = g.favor();
    let rows_in = |tile: u64| (n - (tile * 64).min(n)).min(64);
    let mut work = Work::default();
    if favor {
        let sd = d4.div_ceil(16);
        let tiles = 2 * rt * ft;
        work.add(
            "FAVOR+ exponents",
            (
                h * (tiles * (sd * (STEP + 2048) + 8256) + rt * ft * 64 + 2 * ft * n * d4),
                4 * h * (2 * (ft * n * d4 + rt * mp * d4 + n * mp) + n * ft + rt * ft),
            ),
        );
        work.add("key maxima", (h * (rt * ft + 255), 4 * h * (rt * ft + 1)));
    }
    let steps: u64 = (0..chunks)
        .map(|c| (n - c * chunk).min(chunk).div_ceil(16))
        .sum();
    work.add(
        "chunk sums",
        (
            h * (ft * vt * steps * (STEP + 1024) + vt * n * (mp / 4) * ph + chunks * ft * 192),
            4 * h
                * (vt * n * mp
                    + ft * n * dv4
                    + chunks * (mp * dv4 + mp)
                    + if favor { chunks * ft * vt } else { 0 }),
        ),
    );
    if g.folds() {
        work.add(
            if g.causal {
                "exclusive scan over chunks"
            } else {
                "total over splits"
            },
            if g.causal {
                (h * lanes * (2 * chunks + 496), 12 * h * lanes * chunks)
            } else {
                (h * lanes * (chunks + 32), 4 * h * lanes * (chunks + 1))
            },
        );
    }
    let fs = mp.div_ceil(16);
    let (mut flops, mut bytes) = (0u64, 0u64);
    for qt in 0..rt {
        let rows = rows_in(qt);
        let chunk_index = if g.causal { qt * 64 / chunk } else { 0 };
        let prefix = !g.causal || chunk_index > 0;
        let key_tiles = if g.causal {
            qt - chunk_index * chunk / 64 + 1
        } else {
            0
        };
        for v in 0..vt {
            let cols = (dv4 - v * 64).min(64);
            // Row shifts, epilogue, output and 1/(den + ε).
            flops += if g.causal { 21568 } else { 8768 } + if favor { rows * ft } else { 0 };
            bytes += 4 * (rows * cols + if v == 0 { rows } else { 0 });
            if favor {
                bytes += 4 * (rows * ft + 1);
            }
            if prefix {
                flops += fs * (STEP + 2048) + rows * (mp / 4) * ph;
                bytes += 4 * (rows * mp + mp * cols + mp);
            }
            for kt in 0..key_tiles {
                let keys = rows_in(qt - kt);
                flops += fs * STEP + (rows + keys) * (mp / 4) * ph + 8192 + 4 * STEP;
                bytes += 4 * ((rows + keys) * mp + keys * cols);
            }
        }
    }
    work.add(
        if g.causal {
            "apply (prefix + own chunk)"
        } else {
            "apply"
        },
        (h * flops, h * bytes),
    );
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
    fn flash_counts_visited_tiles_and_scales_with_heads() {
        let w = FlashWork {
            heads: 1,
            n: 64,
            n_keys: 64,
            d: 64,
            dv: 64,
            causal: false,
            window: None,
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
            n_keys: 128,
            causal: true,
            ..w
        };
        let full = FlashWork {
            n: 128,
            n_keys: 128,
            ..w
        };
        let (fc, bc) = flash(&causal);
        let (ff, bf) = flash(&full);
        assert_eq!(ff - fc, 2 * tile - 4 * 64 * 32);
        assert_eq!(bf - bc, 2 * 16 * 32 * 32);
        // 64 queries over 40 projected keys: two tiles, the second (8 live
        // keys) masked.
        let projected = FlashWork { n_keys: 40, ..w };
        let (fp, bp) = flash(&projected);
        assert_eq!(fp, f + 64 * 32);
        assert_eq!(bp, b - 16 * 24 * 32);
        // A band W = 40 over 256 rows: block 2 (rows 128…191) needs keys
        // 88…231, tiles 2…7 of 8; block 0 keys 0…103, tiles 0…3.
        let band = FlashWork {
            n: 256,
            n_keys: 256,
            window: Some(40),
            ..w
        };
        assert_eq!(flash_key_tiles(&band, 128), 2..8);
        assert_eq!(flash_key_tiles(&band, 0), 0..4);
        // A band as wide as the sequence visits what the full kernel does.
        let wide = FlashWork {
            window: Some(10_000),
            ..full
        };
        assert_eq!(flash(&wide).0, ff);
    }

    #[test]
    fn sgemm_counts_padding_and_rereads() {
        // 32 × 32 × 16 in small tiles: one tile, no padding; α on 32 rows.
        assert_eq!(
            sgemm(32, 32, 16, 1, Variant::Small),
            (2 * 32 * 32 * 16 + 32 * 32, 4 * (512 + 512 + 1024))
        );
        // 8 × 32 × 20 pads M to 32 and K to 32 (K-steps of 16): the inner
        // work of 32 × 32 × 32, α on the 8 rows inside M.
        assert_eq!(Variant::Small.k_step(), 16);
        assert_eq!(
            sgemm(8, 32, 20, 1, Variant::Small).0,
            2 * 32 * 32 * 32 + 8 * 32
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
    fn linear_attention_counts_scale_with_heads_and_causal_work() {
        use crate::gpu::linear_attention::Geometry;
        let geometry = |heads: usize, causal: bool| {
            let mut g = Geometry::new(FeatureKind::Elu, heads, (256, 8, 8), 8, causal, u64::MAX);
            // The same chunking for every head count, as the per-head
            // figures assume.
            g.chunk = 64;
            g.chunks = 4;
            g
        };
        let one = linear_attention(&geometry(1, false));
        let three = linear_attention(&geometry(3, false));
        assert_eq!((three.flops, three.bytes), (3 * one.flops, 3 * one.bytes));
        // One head, not causal: 4 chunks of 4 steps, one 64 × 64 tile each.
        let step = 2 * 64 * 64 * 16;
        let chunk_sums = 16 * (step + 1024) + 256 * 2 * 12 + 4 * 192;
        assert_eq!(one.parts[0], "chunk sums");
        let fold = 8 * 9 * (4 + 32);
        let apply = 4 * (8768 + step + 2048 + 64 * 2 * 12);
        assert_eq!(one.flops, chunk_sums + fold + apply);
        // Causal: the scan reads and writes every chunk, and each row tile
        // adds its own chunk's scores and scores × V.
        let causal = linear_attention(&geometry(1, true));
        let scores = 4 * (step + 128 * 2 * 12 + 8192 + 4 * step);
        let prefix = 3 * (step + 2048 + 64 * 2 * 12);
        let scan = 8 * 9 * (2 * 4 + 496);
        assert_eq!(
            causal.flops,
            chunk_sums + scan + 4 * 21568 + prefix + scores
        );
    }
}
