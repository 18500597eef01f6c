//! Tile lists: which 32 × 32 key tiles each query tile of a block-sparse
//! kernel visits, built from key ranges (skipped tiles cost nothing).

use std::ops::Range;

/// Sorts and merges overlapping or touching ranges, dropping empty ones.
pub fn merge(mut ranges: Vec<Range<usize>>) -> Vec<Range<usize>> {
    ranges.retain(|r| r.start < r.end);
    ranges.sort_by_key(|r| r.start);
    let mut out: Vec<Range<usize>> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match out.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => out.push(r),
        }
    }
    out
}

/// Which key tiles each query tile visits: a CSR list built from key ranges,
/// with a flag per entry telling whether every pair of that tile is computed
/// (then the kernel skips the element mask).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TileList {
    /// Rows and keys per tile.
    pub tile: usize,
    /// `offsets[t]..offsets[t + 1]` indexes `tiles` for query tile t.
    pub offsets: Vec<u32>,
    /// Key-tile indices, increasing within each query tile.
    pub tiles: Vec<u32>,
    /// Whether each entry's tile is entirely inside the pattern.
    pub full: Vec<bool>,
}

impl TileList {
    /// The tile list of `ranges(query rows)` for n rows and keys; `full(rows,
    /// keys)` says whether a whole tile is computed (it may say `false` when
    /// unsure, never `true` wrongly).
    pub fn build(
        n: usize,
        tile: usize,
        ranges: impl Fn(Range<usize>) -> Vec<Range<usize>>,
        full: impl Fn(Range<usize>, Range<usize>) -> bool,
    ) -> TileList {
        let query_tiles = n.div_ceil(tile);
        let mut offsets = Vec::with_capacity(query_tiles + 1);
        let mut tiles = Vec::new();
        let mut flags = Vec::new();
        offsets.push(0);
        for qt in 0..query_tiles {
            let rows = qt * tile..((qt + 1) * tile).min(n);
            let mut last: Option<usize> = None;
            for r in ranges(rows.clone()) {
                for kt in r.start / tile..r.end.div_ceil(tile) {
                    if last.is_none_or(|l| kt > l) {
                        tiles.push(kt as u32);
                        let keys = kt * tile..((kt + 1) * tile).min(n);
                        let complete = rows.len() == tile && keys.len() == tile;
                        flags.push(complete && full(rows.clone(), keys));
                        last = Some(kt);
                    }
                }
            }
            offsets.push(tiles.len() as u32);
        }
        TileList {
            tile,
            offsets,
            tiles,
            full: flags,
        }
    }

    /// Number of (query tile, key tile) pairs visited.
    pub fn visited(&self) -> usize {
        self.tiles.len()
    }
}
