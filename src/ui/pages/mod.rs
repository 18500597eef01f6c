//! One page per lab of [`crate::pipeline::labs::LABS`]: the attention
//! explorer, quantization, model size. Plus the page for an unknown address.

pub mod compare;
pub mod explorer;
pub mod lessons;
pub mod map;
pub mod model_size;
mod not_found;
pub mod quantization;
pub mod scaling;

pub use not_found::NotFound;
