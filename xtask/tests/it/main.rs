//! xtask's integration tests, one module per concern, linked into one test
//! binary: each `tests/*.rs` file would be a binary of its own, linked
//! against the whole dependency graph, which CI pays for cold.

mod bench;
mod common;
mod experiments;
mod export;
mod extra_tests;
mod help;
mod interrupt;
mod one_runner;
mod pipeline;
mod predict;
mod project_root;
mod rust_version;
mod serve;
mod test_source;
mod tidy;
