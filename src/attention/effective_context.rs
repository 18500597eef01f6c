//! The effective context of segment-level recurrence (survey
//! §"Memory-based Architectures": Transformer-XL's "longer effective
//! context"; Dai et al. 2019, §3.2: the largest possible dependency grows
//! as O(N·L) with N the memory and L the layers): the positions whose
//! layer-0 input can reach a token after L stacked layers, composed layer by
//! layer from the per-layer pattern of [`MemoryLayout::sees`] by
//! breadth-first search, not drawn by hand. With M a multiple of S,
//! Transformer-XL's last token reaches exactly L·M + its offset in its
//! segment positions back (checked against boolean matrix powers).

use std::ops::Range;

use super::memory::MemoryLayout;
use super::{Config, MethodId, ParamValues};

/// The positions whose layer-0 input can reach the output at position
/// `query` after each of 1 … `layers` stacked layers of the same per-layer
/// pattern `sees` (the keys a position reads, itself included): a
/// breadth-first composition of the per-layer reachability. `reach[l − 1]`
/// is the number of positions reachable with l layers, and `earliest[l − 1]`
/// the farthest back one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reach {
    /// The query position.
    pub query: usize,
    /// Reachable positions after 1, 2, … layers.
    pub reach: Vec<usize>,
    /// The earliest reachable position after 1, 2, … layers.
    pub earliest: Vec<usize>,
}

impl Reach {
    /// The effective context after l layers: how far back the query can
    /// see, in positions (itself included).
    pub fn span(&self, layers: usize) -> usize {
        self.query + 1 - self.earliest[layers - 1]
    }
}

/// Composes `sees` (the positions one layer lets position i read, as
/// ranges) over `layers` layers from `query`, by breadth-first search over
/// positions: frontier → every position its members read. Each position is
/// visited once: a union–find "next unreached position" array skips the
/// reached runs of a range, so wide ranges cost their new positions only.
pub fn compose_reach(
    n: usize,
    query: usize,
    layers: usize,
    sees: impl Fn(usize) -> Vec<Range<usize>>,
) -> Reach {
    // next[j]: the least unreached position ≥ j (n: none), path-compressed.
    let mut next: Vec<usize> = (0..=n).collect();
    fn find(next: &mut [usize], j: usize) -> usize {
        let mut root = j;
        while next[root] != root {
            root = next[root];
        }
        let mut k = j;
        while next[k] != root {
            let up = next[k];
            next[k] = root;
            k = up;
        }
        root
    }
    next[query] = query + 1;
    let mut frontier = vec![query];
    let (mut reach, mut earliest) = (Vec::with_capacity(layers), Vec::with_capacity(layers));
    let mut count = 1;
    let mut first = query;
    for _ in 0..layers {
        let mut fresh = Vec::new();
        for &p in &frontier {
            for r in sees(p) {
                let mut j = find(&mut next, r.start);
                while j < r.end.min(n) {
                    next[j] = j + 1;
                    fresh.push(j);
                    count += 1;
                    first = first.min(j);
                    j = find(&mut next, j + 1);
                }
            }
        }
        let next_frontier = fresh;
        reach.push(count);
        earliest.push(first);
        frontier = next_frontier;
    }
    Reach {
        query,
        reach,
        earliest,
    }
}

impl MemoryLayout {
    /// The positions one layer lets position i read: its compressed slots'
    /// positions (pooling and convolution read every position of a group;
    /// most-attended's kept positions lie in the same span), memory and
    /// own segment — one range, since the slots end where the memory
    /// starts.
    pub fn sees(&self, i: usize) -> Vec<Range<usize>> {
        let keys = self.keys(i);
        let from = if keys.slots.is_empty() {
            keys.memory.start
        } else {
            keys.slots.start * self.rate
        };
        #[allow(clippy::single_range_in_vec_init)]
        let ranges = vec![from..i + 1];
        ranges
    }

    /// The effective context of the last position through `layers` layers.
    pub fn reach(&self, layers: usize) -> Reach {
        let n = self.n.max(1);
        compose_reach(n, n - 1, layers, |i| self.sees(i))
    }
}

/// The effective context of the last token against depth, for the chart:
/// the composed reach of the method's layout, the rule of thumb beside it,
/// and (Compressive) Transformer-XL's with the same S and M.
#[derive(Debug, Clone, PartialEq)]
pub struct ContextCurve {
    /// Positions of the sequence the reach is composed on: the settings' n,
    /// extended by whole segments (the last token keeps its offset in its
    /// segment) until the deepest layer's rule of thumb fits, so the growth
    /// shows rather than the ceiling (at most [`CONTEXT_HORIZON`]).
    pub n: usize,
    /// The settings' n.
    pub settings_n: usize,
    /// Depths 1 … L.
    pub layers: Vec<usize>,
    /// How far back the last token reaches after each depth (positions,
    /// itself included), composed layer by layer.
    pub reach: Vec<usize>,
    /// The rule of thumb at each depth: L·M (Transformer-XL) or
    /// L·(M + c·M_c), plus the token's offset in its segment and itself.
    pub rule: Vec<usize>,
    /// The rule's name.
    pub rule_label: String,
    /// Transformer-XL with the same S and M, composed (Compressive only).
    pub without_compression: Option<Vec<usize>>,
}

/// The longest sequence [`effective_context`] composes on.
pub const CONTEXT_HORIZON: usize = 1 << 18;

/// [`ContextCurve`] of `layout` over 1 … `layers` layers.
pub fn effective_context(layout: &MemoryLayout, layers: usize) -> ContextCurve {
    let settings_n = layout.n.max(1);
    let per_layer = layout.memory + layout.rate * layout.compressed;
    let needed = (layers * per_layer + layout.segment).min(CONTEXT_HORIZON);
    let n =
        settings_n + layout.segment * needed.saturating_sub(settings_n).div_ceil(layout.segment);
    let layout = &MemoryLayout { n, ..*layout };
    let spans = |l: &MemoryLayout| {
        let r = l.reach(layers);
        (1..=layers).map(|k| r.span(k)).collect::<Vec<_>>()
    };
    let offset = (n - 1) % layout.segment + 1;
    let compresses = layout.compresses();
    ContextCurve {
        n,
        settings_n,
        layers: (1..=layers).collect(),
        reach: spans(layout),
        rule: (1..=layers)
            .map(|k| (k * per_layer + offset).min(n))
            .collect(),
        rule_label: if compresses {
            "L·(M + c·M_c) + offset".into()
        } else {
            "L·M + offset".into()
        },
        without_compression: compresses.then(|| {
            spans(&MemoryLayout {
                rate: 1,
                compressed: 0,
                ..*layout
            })
        }),
    }
}

/// The layout of a memory method's settings over n positions (`None` for
/// a method without a memory): what the effective-context card draws.
pub fn layout_of(method: MethodId, params: &ParamValues, n: usize) -> Option<MemoryLayout> {
    let entry = match method {
        MethodId::TransformerXl => &super::transformer_xl::TRANSFORMER_XL,
        MethodId::Compressive => &super::compressive::COMPRESSIVE,
        _ => return None,
    };
    let config = Config {
        causal: true,
        seed: 0,
        params,
    };
    Some(MemoryLayout {
        n,
        ..(entry.spec)(&config, n).layout
    })
}

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

    /// Reachability by boolean matrix powers: A (i reads j, diagonal
    /// included) raised to the l-th power, row `query`.
    fn brute_reach(l: &MemoryLayout, layers: usize) -> Vec<usize> {
        let n = l.n;
        let a: Vec<Vec<bool>> = (0..n)
            .map(|i| {
                let r = l.sees(i);
                (0..n).map(|j| r.iter().any(|r| r.contains(&j))).collect()
            })
            .collect();
        let mut power = a.clone();
        let mut out = Vec::new();
        for _ in 0..layers {
            out.push(power[n - 1].iter().filter(|&&x| x).count());
            power = (0..n)
                .map(|i| {
                    (0..n)
                        .map(|j| (0..n).any(|k| power[i][k] && a[k][j]))
                        .collect()
                })
                .collect();
        }
        out
    }

    #[test]
    fn composed_reach_equals_boolean_matrix_powers() {
        for l in [
            layout(70, 8, 5, 1, 0),
            layout(70, 6, 13, 2, 3),
            layout(64, 16, 16, 4, 2),
            layout(33, 40, 3, 1, 0),
        ] {
            assert_eq!(l.reach(6).reach, brute_reach(&l, 6), "{l:?}");
        }
    }

    #[test]
    fn transformer_xl_reaches_l_times_m_back() {
        // M a multiple of S: each layer reaches exactly M further back, so
        // after L layers the last token sees min(n, L·M + its offset in the
        // segment + 1) positions (Dai et al. §3.2: O(N·L)).
        let (n, s) = (1000, 16);
        for m in [16, 32, 48] {
            let l = MemoryLayout::transformer_xl(n, s, m);
            let r = l.reach(12);
            let offset = (n - 1) % s;
            for layers in 1..=12 {
                assert_eq!(
                    r.span(layers),
                    (layers * m + offset + 1).min(n),
                    "M = {m}, L = {layers}"
                );
                assert_eq!(r.reach[layers - 1], r.span(layers));
            }
        }
        // M < S: the earliest memory position lies in the previous segment,
        // whose queries see back to its own memory: one segment per layer.
        let l = MemoryLayout::transformer_xl(1000, 16, 4);
        let r = l.reach(5);
        assert_eq!(r.span(1), 4 + 7 + 1);
        assert_eq!(r.span(3), 4 + 7 + 1 + 2 * 16);
    }

    #[test]
    fn compression_extends_the_reach_by_c_times_the_slots() {
        let xl = MemoryLayout::transformer_xl(4000, 16, 32);
        let cm = layout(4000, 16, 32, 4, 8);
        for layers in 1..=6 {
            assert_eq!(
                cm.reach(layers).span(layers),
                (xl.reach(layers).span(layers) + layers * 4 * 8).min(4000)
            );
        }
    }

    #[test]
    fn the_context_curve_follows_the_rule_where_it_holds() {
        // M a multiple of S: the composed reach is the rule exactly, until n.
        let l = MemoryLayout::transformer_xl(512, 32, 64);
        let c = effective_context(&l, 12);
        assert_eq!(c.reach, c.rule);
        // Extended by whole segments until 12·64 + 32 fits.
        assert_eq!((c.settings_n, c.n), (512, 800));
        assert_eq!(*c.reach.last().unwrap(), 800);
        // A memory longer than the horizon needs: one layer sees everything.
        let c = effective_context(&MemoryLayout::transformer_xl(100, 10, 1 << 20), 4);
        assert!(
            (CONTEXT_HORIZON..CONTEXT_HORIZON + 10).contains(&c.n),
            "{}",
            c.n
        );
        assert!(c.reach.iter().all(|&r| r == c.n));
        let l = MemoryLayout::transformer_xl(2048, 32, 64);
        assert!(c.without_compression.is_none());
        let cm = layout(2048, 32, 64, 4, 16);
        let c = effective_context(&cm, 4);
        assert_eq!(c.reach, c.rule);
        assert_eq!(
            c.without_compression.unwrap(),
            effective_context(&l, 4).reach
        );
        let mut p = ParamValues::new();
        p.insert("memory".into(), 7);
        assert_eq!(
            layout_of(MethodId::TransformerXl, &p, 100),
            Some(MemoryLayout::transformer_xl(100, 64, 7))
        );
        assert_eq!(layout_of(MethodId::Full, &p, 100), None);
    }
}
