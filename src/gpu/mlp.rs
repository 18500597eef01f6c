//! (being written)

use super::bindings::Kernel;

/// The kernels of this file, for `tests/kernels.rs`.
pub const KERNELS: &[Kernel] = &[];
