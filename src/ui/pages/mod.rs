//! One page per lab of [`crate::pipeline::labs::LABS`]; for now the
//! attention explorer. Plus the page for an unknown address.

pub mod explorer;
mod not_found;

pub use not_found::NotFound;
