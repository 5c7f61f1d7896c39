//! Finding the project's Cargo workspace, the way cargo does: walk up from a
//! folder to the first `Cargo.toml` that has a `[workspace]` table.
//!
//! The runner finds `pipeline.toml` beside it; hdr-pipeline's `build.rs`
//! needs the same root to hash the stages' code.

use std::path::{Path, PathBuf};

/// The workspace manifest's file name.
pub const MANIFEST: &str = "Cargo.toml";

/// The nearest folder at or above `start` whose `Cargo.toml` declares a
/// `[workspace]`, or None outside any workspace.
pub fn find_root(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .find(|dir| read_manifest(&dir.join(MANIFEST)).is_some_and(|m| m.contains_key("workspace")))
        .map(Path::to_path_buf)
}

/// A manifest parsed as a TOML table, or None when it is missing or not TOML.
pub fn read_manifest(path: &Path) -> Option<toml::Table> {
    std::fs::read_to_string(path).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_workspace_manifest_above_a_member() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(
            root.join(MANIFEST),
            "[workspace]\nmembers = [\"crates/*\"]\n",
        )
        .unwrap();
        let member = root.join("crates/a");
        std::fs::create_dir_all(member.join("src/deep")).unwrap();
        std::fs::write(member.join(MANIFEST), "[package]\nname = \"a\"\n").unwrap();
        assert_eq!(find_root(&member.join("src/deep")).as_deref(), Some(root));
        assert_eq!(find_root(root).as_deref(), Some(root));
    }

    #[test]
    fn no_workspace_above_gives_none() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(MANIFEST), "[package]\nname = \"a\"\n").unwrap();
        // Whatever sits above the temporary folder, it is not this package's workspace.
        let found = find_root(dir.path());
        assert_ne!(found.as_deref(), Some(dir.path()));
    }
}
