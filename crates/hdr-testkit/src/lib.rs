//! What the workspace's integration tests share, written once: the embedded
//! MNIST sample ([`load_sample`], [`write_sample_csv`]), a small CNN trained on part of it
//! ([`small_trained_network`], feature `model`), and the headless Chromium
//! the browser tests drive ([`browser_or_skip`]).
//!
//! A dev-dependency only: no stage depends on it, and it holds nothing a
//! user of hdr runs.

mod browser;
#[cfg(feature = "model")]
mod model;
mod sample;

pub use browser::{browser_or_skip, find_browser, HEADLESS_FLAGS};
pub use hdr_artifacts::{Dataset, IMAGE_PIXELS};
#[cfg(feature = "model")]
pub use model::small_trained_network;
pub use sample::{load_sample, sample_path, write_sample_csv};
