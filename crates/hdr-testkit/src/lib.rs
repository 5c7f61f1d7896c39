//! What the workspace's integration tests share, written once: the embedded
//! MNIST sample ([`load_sample`], [`write_sample_csv`]), a small CNN trained on part of it
//! ([`small_trained_network`], feature `model`), digits photographed in the
//! ways people do ([`Style`]) and image files that must be refused
//! ([`write_bad_files`]) (feature `images`), and the headless Chromium
//! the browser tests drive ([`browser_or_skip`]).
//!
//! A dev-dependency only: no stage depends on it, and it holds nothing a
//! user of hdr runs.

#[cfg(feature = "images")]
mod bad_images;
mod browser;
#[cfg(feature = "model")]
mod model;
#[cfg(feature = "images")]
mod photos;
mod sample;

#[cfg(feature = "images")]
pub use bad_images::{bar_image, bar_rows, encoded, png_declaring, write_bad_files, BadFile};

pub use browser::{browser_or_skip, find_browser, HEADLESS_FLAGS};
pub use hdr_artifacts::{Dataset, IMAGE_PIXELS};
#[cfg(feature = "model")]
pub use model::small_trained_network;
#[cfg(feature = "images")]
pub use photos::{as_image, nearest_label, round_trip, Style};
pub use sample::{load_sample, sample_path, write_sample_csv};
