//! A counted figure (FLOPs, bytes, memory) and the formula behind it.

use serde::{Deserialize, Serialize};

/// One counted figure and the formula that produced it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Counted {
    /// The count.
    pub value: u64,
    /// How it was counted, in the page's notation.
    pub formula: String,
}

impl Counted {
    /// A count with its formula.
    pub fn new(value: u64, formula: impl Into<String>) -> Counted {
        Counted {
            value,
            formula: formula.into(),
        }
    }
}
