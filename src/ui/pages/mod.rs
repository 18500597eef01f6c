//! One page per survey section; for now the attention explorer.

pub mod explorer;
