//! The shape of one attention problem, and the keys one query row computes.

use serde::{Deserialize, Serialize};

/// The shape of one attention problem: `n` queries and keys of width `d`,
/// values of width `dv`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shape {
    /// Sequence length (number of queries = number of keys).
    pub n: usize,
    /// Query/key width.
    pub d: usize,
    /// Value width.
    pub dv: usize,
    /// Whether key j > i is masked for query i.
    pub causal: bool,
}

impl Shape {
    /// Number of (query, key) pairs that are not masked: n² or n(n+1)/2.
    pub fn pairs(&self) -> u64 {
        let n = self.n as u64;
        if self.causal { n * (n + 1) / 2 } else { n * n }
    }
}

/// The keys one query row computes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowPattern {
    /// Keys `0..upto`, all of [`pattern::Category::Dense`].
    Dense {
        /// One past the last key.
        upto: usize,
    },
    /// Listed keys (increasing) with their category codes
    /// ([`pattern::Category`] as `u32`; Reformer: 8 + bucket mod 8).
    Sparse(Vec<(usize, u32)>),
}

impl RowPattern {
    /// Number of keys computed.
    pub fn len(&self) -> usize {
        match self {
            RowPattern::Dense { upto } => *upto,
            RowPattern::Sparse(keys) => keys.len(),
        }
    }

    /// Whether no key is computed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sum of `values[j]` over the computed keys.
    pub fn sum(&self, values: &[f64]) -> f64 {
        match self {
            RowPattern::Dense { upto } => values[..*upto].iter().sum(),
            RowPattern::Sparse(keys) => keys.iter().map(|&(j, _)| values[j]).sum(),
        }
    }
}
