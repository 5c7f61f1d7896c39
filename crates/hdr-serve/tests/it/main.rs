//! hdr-serve's integration tests, one module per concern, linked into one test
//! binary: each `tests/*.rs` file would be a binary of its own, linked
//! against the whole dependency graph, which CI pays for cold.

mod api;
mod browser;
mod common;
mod exposed;
mod retrain;
mod samples;
