//! The networks, each a short file of typed layer aliases and a forward
//! chain, and what they share: the [`Network`] trait, the parameter walk, the
//! architecture names.

mod any;
mod architecture;
pub mod deep;
mod network;
mod params;
pub mod seed;

pub(crate) use any::with_network;
pub use any::AnyNetwork;
pub use architecture::{Architecture, ModelConfig, UnknownArchitecture};
pub use deep::Deep;
pub use network::{initialised, Network};
pub(crate) use params::{for_each_mut, for_each_ref};
pub use params::{params, Param};
pub use seed::Cnn;
