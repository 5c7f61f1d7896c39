//! Hashes each stage crate's sources at build time, so the runner can tell
//! when a stage's code changed since its artifacts were made.

use std::fs;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Crates whose source makes up each stage's code version.
const STAGE_CODE: &[(&str, &[&str])] = &[
    ("data", &["hdr-common", "hdr-data"]),
    (
        "train",
        &["hdr-common", "hdr-data", "hdr-model", "hdr-train"],
    ),
    ("eval", &["hdr-common", "hdr-data", "hdr-model", "hdr-eval"]),
    ("report", &["hdr-common", "hdr-report"]),
];

fn main() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates");
    let mut out = String::from("/// Code version of each stage: sha256 of its crates' sources.\n");
    out.push_str("pub const STAGE_CODE_HASHES: &[(&str, &str)] = &[\n");
    for (stage, members) in STAGE_CODE {
        let mut hasher = Sha256::new();
        for member in *members {
            let dir = crates.join(member);
            println!("cargo:rerun-if-changed={}", dir.join("src").display());
            println!(
                "cargo:rerun-if-changed={}",
                dir.join("Cargo.toml").display()
            );
            let mut files = vec![dir.join("Cargo.toml")];
            collect(&dir.join("src"), &mut files);
            files.sort();
            for file in files {
                let rel = file.strip_prefix(&crates).unwrap_or(&file);
                hasher.update(rel.to_string_lossy().as_bytes());
                hasher.update([0]);
                hasher.update(fs::read(&file).unwrap_or_default());
                hasher.update([0]);
            }
        }
        let digest: String = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        out.push_str(&format!("    (\"{stage}\", \"{digest}\"),\n"));
    }
    out.push_str("];\n");
    let dest =
        PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("code_hashes.rs");
    fs::write(dest, out).expect("write code_hashes.rs");
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, files);
        } else {
            files.push(path);
        }
    }
}
