//! `--help` of the runner and of each subcommand, against the committed text
//! in tests/help/. After a deliberate change, rewrite the snapshots with
//! `UPDATE_SNAPSHOTS=1 cargo test -p xtask --test it -- help::` and review the diff.

use std::path::PathBuf;

/// Every subcommand (the top level is `cargo-xtask.txt`).
const SUBCOMMANDS: [&str; 15] = [
    "pipeline",
    "data",
    "train",
    "eval",
    "report",
    "status",
    "clean",
    "runs",
    "gc",
    "config",
    "import-idx",
    "predict",
    "bench",
    "export",
    "serve",
];

fn help(subcommand: Option<&str>) -> String {
    let out = crate::common::xtask_command()
        .args(subcommand)
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success(), "{subcommand:?} --help failed");
    String::from_utf8(out.stdout).unwrap()
}

fn snapshot(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/help")
        .join(format!("{name}.txt"))
}

#[test]
fn help_matches_the_committed_snapshots() {
    let update = std::env::var_os("UPDATE_SNAPSHOTS").is_some();
    let mut changed = Vec::new();
    let pages =
        std::iter::once((None, "cargo-xtask")).chain(SUBCOMMANDS.iter().map(|s| (Some(*s), *s)));
    for (subcommand, name) in pages {
        let text = help(subcommand);
        assert!(
            text.contains("\nExamples:\n  cargo xtask "),
            "{name} --help has no examples:\n{text}"
        );
        let path = snapshot(name);
        if update {
            std::fs::write(&path, &text).unwrap();
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            changed.push(format!("{name}:\n{text}"));
        }
    }
    assert!(
        changed.is_empty(),
        "--help differs from tests/help/ (rewrite with UPDATE_SNAPSHOTS=1 cargo test -p xtask --test it -- help::):\n{}",
        changed.join("\n")
    );
}

#[test]
fn every_subcommand_has_a_snapshot() {
    let top = help(None);
    let listed: Vec<&str> = top
        .split("Commands:\n")
        .nth(1)
        .unwrap()
        .lines()
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert_eq!(
        listed, SUBCOMMANDS,
        "a new subcommand needs its entry here and a snapshot"
    );
}
