//! The runner driven as a library, as a program embedding hdr would drive it
//! (the command line's own tests run the `cargo xtask` binary).

mod library;
