//! Sparse attention patterns (survey §"Sparse Attention", Fig. 5/15/17):
//! which (query i, key j) pairs a method computes, and why.
//!
//! One definition serves everyone: the CPU twins enumerate each row's keys
//! from it, the GPU's tile lists are built from its key ranges (so skipped
//! tiles cost nothing), `tiled_attention.wgsl` mirrors [`Pattern::category`]
//! for the element mask inside a tile, and the pattern view colours cells by
//! its [`Category`]. With `causal`, every pattern also requires j ≤ i.
//!
//! * Longformer (Beltagy et al. 2020): |i − j| ≤ W, or i < G, or j < G.
//! * Sparse Transformer, strided (Child et al. 2019): i − j < L or
//!   (i − j) mod L = 0 (causal, the paper's form); non-causal reads i − j
//!   as |i − j|.
//! * Sparse Transformer, fixed: ⌊j/L⌋ = ⌊i/L⌋ or j mod L ≥ L − c.
//! * BigBird, ITC layout (Zaheer et al. 2020): blocks of B; the first g
//!   blocks are global (they see and are seen by all); each query block sees
//!   a window of w blocks around it and R random key blocks, drawn once per
//!   query block from the seed among the blocks it would not otherwise see.

use std::ops::Range;

use crate::data::codes::{Category, PatternKind};
pub use crate::data::tiles::{TileList, merge};
use crate::gpu::tiled_attention::{MaskKnobs, TILE, TileMask};

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

/// A structured sparse pattern (all but Reformer's, which depends on the data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pattern {
    /// Every pair.
    Dense,
    /// Longformer: sliding window of half-width `window`, `global` tokens.
    Longformer {
        /// W: query i sees keys with |i − j| ≤ W.
        window: usize,
        /// G: positions 0 … G − 1 are global.
        global: usize,
    },
    /// Sparse Transformer, strided.
    Strided {
        /// L.
        stride: usize,
    },
    /// Sparse Transformer, fixed.
    Fixed {
        /// L.
        stride: usize,
        /// c: the last c positions of each block of L are summaries.
        summary: usize,
    },
    /// BigBird (ITC).
    BigBird(BigBirdLayout),
}

/// BigBird's block layout, including the seeded random blocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BigBirdLayout {
    /// Block size B.
    pub block: usize,
    /// Number of global blocks g (the first g).
    pub global_blocks: usize,
    /// Window width w in blocks (odd): query block b sees b − (w−1)/2 … b + (w−1)/2.
    pub window_blocks: usize,
    /// For each query block, its random key blocks (sorted).
    pub random: Vec<Vec<usize>>,
    /// Random blocks asked for per query block (R).
    pub random_per_block: usize,
}

impl BigBirdLayout {
    /// Draws the random blocks for n positions from `seed`: for each query
    /// block in order, R distinct blocks chosen uniformly among those it does
    /// not already see through the window or the global blocks (and, when
    /// causal, that are not in its future).
    pub fn new(
        n: usize,
        block: usize,
        global_blocks: usize,
        window_blocks: usize,
        random: usize,
        causal: bool,
        seed: u64,
    ) -> BigBirdLayout {
        let block = block.max(1);
        let blocks = n.div_ceil(block);
        let half = window_blocks / 2;
        let mut rng = ChaCha8Rng::seed_from_u64(crate::inputs::derive_seed(seed, "bigbird", 0));
        let mut chosen = Vec::with_capacity(blocks);
        for qb in 0..blocks {
            if qb < global_blocks {
                chosen.push(Vec::new()); // global blocks already see everything
                continue;
            }
            let mut candidates: Vec<usize> = (0..blocks)
                .filter(|&kb| {
                    kb >= global_blocks && qb.abs_diff(kb) > half && (!causal || kb <= qb)
                })
                .collect();
            let take = random.min(candidates.len());
            for t in 0..take {
                let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
                let pick = t
                    + ((u * (candidates.len() - t) as f64) as usize).min(candidates.len() - t - 1);
                candidates.swap(t, pick);
            }
            let mut mine = candidates[..take].to_vec();
            mine.sort_unstable();
            chosen.push(mine);
        }
        BigBirdLayout {
            block,
            global_blocks,
            window_blocks,
            random: chosen,
            random_per_block: random,
        }
    }

    fn category(&self, i: usize, j: usize) -> Option<Category> {
        let (qb, kb) = (i / self.block, j / self.block);
        if qb < self.global_blocks || kb < self.global_blocks {
            Some(Category::Global)
        } else if qb.abs_diff(kb) <= self.window_blocks / 2 {
            Some(Category::Window)
        } else if self
            .random
            .get(qb)
            .is_some_and(|r| r.binary_search(&kb).is_ok())
        {
            Some(Category::Random)
        } else {
            None
        }
    }
}

impl Pattern {
    /// Whether query i computes key j, and why (`None`: skipped). Precedence
    /// when several reasons apply: global, then window/local/own block, then
    /// stride/summary/random.
    pub fn category(&self, i: usize, j: usize, causal: bool) -> Option<Category> {
        if causal && j > i {
            return None;
        }
        let dist = i.abs_diff(j);
        match self {
            Pattern::Dense => Some(Category::Dense),
            Pattern::Longformer { window, global } => {
                if i < *global || j < *global {
                    Some(Category::Global)
                } else if dist <= *window {
                    Some(Category::Window)
                } else {
                    None
                }
            }
            Pattern::Strided { stride } => {
                let l = (*stride).max(1);
                if dist < l {
                    Some(Category::Window)
                } else if dist.is_multiple_of(l) {
                    Some(Category::Stride)
                } else {
                    None
                }
            }
            Pattern::Fixed { stride, summary } => {
                let l = (*stride).max(1);
                if i / l == j / l {
                    Some(Category::Block)
                } else if j % l >= l.saturating_sub(*summary) {
                    Some(Category::Summary)
                } else {
                    None
                }
            }
            Pattern::BigBird(layout) => layout.category(i, j),
        }
    }

    /// Key ranges that cover every key any query in `rows` may see (a tight
    /// superset, sorted and merged), within [0, n). Tile lists come from it.
    pub fn key_ranges(&self, rows: Range<usize>, n: usize, causal: bool) -> Vec<Range<usize>> {
        let (a, b) = (rows.start, rows.end.min(n));
        if a >= b {
            return Vec::new();
        }
        let mut out: Vec<Range<usize>> = Vec::new();
        match self {
            Pattern::Dense => out.push(0..n),
            Pattern::Longformer { window, global } => {
                if a < *global {
                    out.push(0..n);
                } else {
                    out.push(0..(*global).min(n));
                    out.push(a.saturating_sub(*window)..(b - 1 + window + 1).min(n));
                }
            }
            Pattern::Strided { stride } => {
                let l = (*stride).max(1);
                out.push(a.saturating_sub(l - 1)..(b - 1 + l).min(n));
                let mut k = l;
                while k < b {
                    out.push(a.saturating_sub(k)..(b - k));
                    k += l;
                }
                if !causal {
                    let mut k = l;
                    while a + k < n {
                        out.push(a + k..(b + k).min(n));
                        k += l;
                    }
                }
            }
            Pattern::Fixed { stride, summary } => {
                let l = (*stride).max(1);
                out.push((a / l) * l..((b - 1) / l * l + l).min(n));
                let c = (*summary).min(l);
                if c > 0 {
                    let mut m = 0;
                    while m * l < n {
                        out.push((m * l + l - c).min(n)..((m + 1) * l).min(n));
                        m += 1;
                    }
                }
            }
            Pattern::BigBird(layout) => {
                let bsz = layout.block;
                let blocks = n.div_ceil(bsz);
                let (qa, qz) = (a / bsz, (b - 1) / bsz);
                if qa < layout.global_blocks {
                    out.push(0..n);
                } else {
                    out.push(0..(layout.global_blocks * bsz).min(n));
                    let half = layout.window_blocks / 2;
                    out.push(
                        qa.saturating_sub(half) * bsz..((qz + half + 1).min(blocks) * bsz).min(n),
                    );
                    for qb in qa..=qz {
                        for &kb in layout.random.get(qb).map(Vec::as_slice).unwrap_or(&[]) {
                            out.push(kb * bsz..((kb + 1) * bsz).min(n));
                        }
                    }
                }
            }
        }
        if causal {
            for r in &mut out {
                r.end = r.end.min(b);
            }
        }
        merge(out)
    }

    /// The keys query i computes, with their categories, in increasing j.
    pub fn row(&self, i: usize, n: usize, causal: bool) -> Vec<(usize, Category)> {
        self.key_ranges(i..i + 1, n, causal)
            .into_iter()
            .flatten()
            .filter_map(|j| self.category(i, j, causal).map(|c| (j, c)))
            .collect()
    }
}

impl Pattern {
    /// Whether every pair (i, j), i in `rows`, j in `keys`, is computed.
    /// Exact for dense, Longformer, BigBird and same-block/local tiles of the
    /// Sparse Transformer patterns; `false` when a tile mixes.
    pub fn tile_full(&self, rows: Range<usize>, keys: Range<usize>, causal: bool) -> bool {
        if rows.is_empty() || keys.is_empty() || (causal && keys.end - 1 > rows.start) {
            return false;
        }
        let max_dist = (rows.end - 1)
            .abs_diff(keys.start)
            .max((keys.end - 1).abs_diff(rows.start));
        match self {
            Pattern::Dense => true,
            Pattern::Longformer { window, global } => {
                rows.end <= *global || keys.end <= *global || max_dist <= *window
            }
            Pattern::Strided { stride } => max_dist < (*stride).max(1),
            Pattern::Fixed { stride, .. } => {
                let l = (*stride).max(1);
                let block = rows.start / l;
                (rows.end - 1) / l == block
                    && keys.start / l == block
                    && (keys.end - 1) / l == block
            }
            Pattern::BigBird(b) => {
                let (q0, q1) = (rows.start / b.block, (rows.end - 1) / b.block);
                let (k0, k1) = (keys.start / b.block, (keys.end - 1) / b.block);
                q1 < b.global_blocks
                    || k1 < b.global_blocks
                    || (q0 == q1 && k0 == k1 && b.category(rows.start, keys.start).is_some())
            }
        }
    }
}

/// The pattern as the tiled GPU kernel encodes it: the key tiles each query
/// tile visits (from [`Pattern::key_ranges`], whole-tile flags from
/// [`Pattern::tile_full`]) and the element mask, which
/// `tiled_attention.wgsl` evaluates exactly as [`Pattern::category`] does.
impl TileMask for Pattern {
    fn kind(&self) -> PatternKind {
        match self {
            Pattern::Dense => PatternKind::Dense,
            Pattern::Longformer { .. } => PatternKind::Longformer,
            Pattern::Strided { .. } => PatternKind::Strided,
            Pattern::Fixed { .. } => PatternKind::Fixed,
            Pattern::BigBird(_) => PatternKind::BigBird,
        }
    }

    fn knobs(&self) -> MaskKnobs {
        let sat = |x: usize| x.min(u32::MAX as usize) as u32;
        match self {
            Pattern::Dense => MaskKnobs::default(),
            Pattern::Longformer { window, global } => MaskKnobs {
                window: sat(*window),
                global: sat(*global),
                ..MaskKnobs::default()
            },
            Pattern::Strided { stride } => MaskKnobs {
                stride: sat(*stride),
                ..MaskKnobs::default()
            },
            Pattern::Fixed { stride, summary } => MaskKnobs {
                stride: sat(*stride),
                summary: sat(*summary),
                ..MaskKnobs::default()
            },
            Pattern::BigBird(b) => MaskKnobs {
                block: sat(b.block),
                global_blocks: sat(b.global_blocks),
                window_half: sat(b.window_blocks / 2),
                random: sat(b.random_per_block),
                ..MaskKnobs::default()
            },
        }
    }

    fn tiles(&self, n: usize, causal: bool) -> TileList {
        TileList::build(
            n,
            TILE,
            |rows| self.key_ranges(rows, n, causal),
            |rows, keys| self.tile_full(rows, keys, causal),
        )
    }

    /// BigBird's random key blocks, blocks × R (u32::MAX padding).
    fn aux(&self) -> Vec<u32> {
        match self {
            Pattern::BigBird(b) => {
                let r = b.random_per_block;
                let mut table = vec![u32::MAX; (b.random.len() * r).max(1)];
                for (qb, blocks) in b.random.iter().enumerate() {
                    for (slot, &kb) in blocks.iter().enumerate() {
                        table[qb * r + slot] = kb as u32;
                    }
                }
                table
            }
            _ => vec![0],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every allowed pair by brute force, against `row` and `key_ranges`.
    fn check_consistent(p: &Pattern, n: usize, causal: bool) {
        for i in 0..n {
            let brute: Vec<(usize, Category)> = (0..n)
                .filter_map(|j| p.category(i, j, causal).map(|c| (j, c)))
                .collect();
            assert_eq!(p.row(i, n, causal), brute, "{p:?} causal={causal} row {i}");
        }
        let tiles = TileList::build(
            n,
            8,
            |r| p.key_ranges(r, n, causal),
            |r, k| p.tile_full(r, k, causal),
        );
        for qt in 0..n.div_ceil(8) {
            for e in tiles.offsets[qt] as usize..tiles.offsets[qt + 1] as usize {
                if tiles.full[e] {
                    let kt = tiles.tiles[e] as usize;
                    for i in qt * 8..(qt + 1) * 8 {
                        for j in kt * 8..(kt + 1) * 8 {
                            assert!(
                                p.category(i, j, causal).is_some(),
                                "{p:?}: tile ({qt}, {kt}) flagged full"
                            );
                        }
                    }
                }
            }
        }
        for qt in 0..n.div_ceil(8) {
            let listed = &tiles.tiles[tiles.offsets[qt] as usize..tiles.offsets[qt + 1] as usize];
            for kt in 0..n.div_ceil(8) {
                let any = (qt * 8..((qt + 1) * 8).min(n)).any(|i| {
                    (kt * 8..((kt + 1) * 8).min(n)).any(|j| p.category(i, j, causal).is_some())
                });
                if any {
                    assert!(
                        listed.contains(&(kt as u32)),
                        "{p:?}: tile ({qt}, {kt}) has pairs but is skipped"
                    );
                }
            }
        }
    }

    #[test]
    fn ranges_cover_every_allowed_pair() {
        let n = 77;
        let bigbird = |causal| Pattern::BigBird(BigBirdLayout::new(n, 5, 2, 3, 2, causal, 9));
        for causal in [false, true] {
            for p in [
                Pattern::Dense,
                Pattern::Longformer {
                    window: 3,
                    global: 2,
                },
                Pattern::Longformer {
                    window: 0,
                    global: 0,
                },
                Pattern::Strided { stride: 4 },
                Pattern::Strided { stride: 1 },
                Pattern::Fixed {
                    stride: 6,
                    summary: 2,
                },
                Pattern::Fixed {
                    stride: 6,
                    summary: 0,
                },
                bigbird(causal),
            ] {
                check_consistent(&p, n, causal);
            }
        }
    }

    #[test]
    fn definitions_match_the_papers() {
        let lf = Pattern::Longformer {
            window: 2,
            global: 1,
        };
        assert_eq!(lf.category(10, 12, false), Some(Category::Window));
        assert_eq!(lf.category(10, 13, false), None);
        assert_eq!(lf.category(10, 0, false), Some(Category::Global));
        assert_eq!(lf.category(0, 50, false), Some(Category::Global));
        assert_eq!(lf.category(10, 12, true), None);
        let st = Pattern::Strided { stride: 4 };
        assert_eq!(st.category(10, 7, true), Some(Category::Window));
        assert_eq!(st.category(10, 6, true), Some(Category::Stride));
        assert_eq!(st.category(10, 5, true), None);
        assert_eq!(st.category(10, 14, false), Some(Category::Stride));
        let fx = Pattern::Fixed {
            stride: 4,
            summary: 1,
        };
        assert_eq!(fx.category(9, 8, true), Some(Category::Block));
        assert_eq!(fx.category(9, 3, true), Some(Category::Summary));
        assert_eq!(fx.category(9, 2, true), None);
        assert_eq!(fx.category(1, 7, false), Some(Category::Summary));
    }

    #[test]
    fn wide_patterns_become_dense() {
        let n = 40;
        for i in 0..n {
            let full: Vec<usize> = (0..n).collect();
            let keys = |p: &Pattern, causal| {
                p.row(i, n, causal)
                    .into_iter()
                    .map(|(j, _)| j)
                    .collect::<Vec<_>>()
            };
            assert_eq!(
                keys(
                    &Pattern::Longformer {
                        window: n,
                        global: 0
                    },
                    false
                ),
                full
            );
            assert_eq!(
                keys(&Pattern::Strided { stride: n }, true),
                (0..=i).collect::<Vec<_>>()
            );
            assert_eq!(
                keys(
                    &Pattern::Fixed {
                        stride: 7,
                        summary: 7
                    },
                    true
                ),
                (0..=i).collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn bigbird_random_blocks_are_seeded_distinct_and_new() {
        let a = BigBirdLayout::new(400, 10, 2, 3, 3, false, 1);
        assert_eq!(a, BigBirdLayout::new(400, 10, 2, 3, 3, false, 1));
        assert_ne!(
            a.random,
            BigBirdLayout::new(400, 10, 2, 3, 3, false, 2).random
        );
        for (qb, blocks) in a.random.iter().enumerate() {
            if qb < 2 {
                assert!(blocks.is_empty());
                continue;
            }
            assert_eq!(blocks.len(), 3);
            assert!(blocks.windows(2).all(|w| w[0] < w[1]));
            assert!(blocks.iter().all(|&kb| kb >= 2 && qb.abs_diff(kb) > 1));
        }
        let causal = BigBirdLayout::new(400, 10, 2, 3, 3, true, 1);
        assert!(
            causal
                .random
                .iter()
                .enumerate()
                .all(|(qb, r)| r.iter().all(|&kb| kb <= qb))
        );
        assert!(
            causal.random[3].is_empty(),
            "block 3 has no unseen past block besides globals"
        );
    }

    #[test]
    fn tile_lists_skip_what_the_pattern_skips() {
        let n = 256;
        let lf = Pattern::Longformer {
            window: 8,
            global: 0,
        };
        let t = TileList::build(
            n,
            32,
            |r| lf.key_ranges(r, n, false),
            |r, k| lf.tile_full(r, k, false),
        );
        assert_eq!(t.offsets.len(), 9);
        assert_eq!(&t.tiles[..2], &[0, 1]); // tile 0 sees keys 0..=39
        assert_eq!(t.visited(), 2 + 6 * 3 + 2);
        let dense = TileList::build(
            n,
            32,
            |r| Pattern::Dense.key_ranges(r, n, true),
            |r, k| Pattern::Dense.tile_full(r, k, true),
        );
        assert_eq!(dense.visited(), 8 * 9 / 2);
        // Causal: all but the 8 diagonal tiles are full.
        assert_eq!(dense.full.iter().filter(|&&f| f).count(), 8 * 9 / 2 - 8);
    }
}
