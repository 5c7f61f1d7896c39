//! hdr-recognize's integration tests, one module per concern, linked into one test
//! binary: each `tests/*.rs` file would be a binary of its own, linked
//! against the whole dependency graph, which CI pays for cold.

mod bad_images;
mod styles_nearest_neighbour;
mod test_time_augmentation;
