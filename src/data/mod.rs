//! Layer 0, data: the plain values every other layer shares — problem
//! shapes and row patterns, pooled maps and their poolers, the codes shared
//! with the WGSL kernels, tile lists, counted figures, timings and error
//! statistics. Nothing here knows about methods, kernels or front-ends; the
//! seeded inputs (`crate::inputs`) belong to this layer too.

pub mod artifacts;
pub mod codes;
pub mod count;
pub mod maps;
pub mod npy;
pub mod shape;
pub mod stats;
pub mod tiles;
pub mod timing;

/// A boxed, not-necessarily-`Send` future (wgpu's web futures are `!Send`).
pub type LocalFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + 'a>>;
