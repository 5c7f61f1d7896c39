//! Bakes each stage's code version into the runner, so it can tell when a
//! stage's code changed since its artifacts were made. What a version covers
//! is derived from the workspace (see the hdr-workspace crate).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use hdr_workspace::{Workspace, MANIFEST, NOT_CODE, STAGE_CRATES};

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let root =
        hdr_workspace::find_root(&manifest_dir).expect("hdr-pipeline lives in the hdr workspace");
    let ws = Workspace::read(&root).unwrap_or_else(|e| panic!("{e}"));

    let mut watched: BTreeSet<PathBuf> = BTreeSet::new();
    // A new dependency edge shows up in some member's manifest.
    watched.extend(ws.member_dirs().map(|d| d.join(MANIFEST)));
    let mut out = String::from("/// Code version of each stage: see the hdr-workspace crate.\n");
    out.push_str("pub const STAGE_CODE_HASHES: &[(&str, &str)] = &[\n");
    for (stage, krate) in STAGE_CRATES {
        let version = ws
            .code_version(krate)
            .unwrap_or_else(|e| panic!("stage {stage}: {e}"));
        for name in &version.crates {
            // Folders too, so that a new file in a crate's code reruns this script.
            if let Some(dir) = ws.member_dir(name) {
                watch_folders(dir, &mut watched);
            }
        }
        watched.extend(version.files);
        out.push_str(&format!("    (\"{stage}\", \"{}\"),\n", version.hash));
    }
    out.push_str("];\n");
    for path in watched {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    let dest =
        PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("code_hashes.rs");
    std::fs::write(dest, out).expect("write code_hashes.rs");
}

/// The code folders of crate `dir` (not tests, benches, examples: cargo
/// watches a folder with everything under it).
fn watch_folders(dir: &Path, watched: &mut BTreeSet<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.path().is_dir() && !name.starts_with('.') && !NOT_CODE.contains(&name.as_str()) {
            watched.insert(entry.path());
        }
    }
}
