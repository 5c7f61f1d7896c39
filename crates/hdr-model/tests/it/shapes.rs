//! Wrong layer sizes do not compile, each for its own reason, pinned by the
//! compiler's message in `tests/compile_fail/*.stderr`; the matching chains
//! of both networks do compile (`tests/compiles/`).
//!
//! The passing case also makes trybuild run `cargo build` rather than
//! `cargo check`: the size checks are constants evaluated when the layers are
//! instantiated, which a check build never does. Regenerate the snapshots
//! with `TRYBUILD=overwrite cargo test -p hdr-model --test it -- shapes` after a
//! compiler upgrade changes their wording.

#[test]
fn wrong_shapes_do_not_compile_and_right_ones_do() {
    let t = trybuild::TestCases::new();
    t.pass("tests/compiles/*.rs");
    t.compile_fail("tests/compile_fail/*.rs");
}
