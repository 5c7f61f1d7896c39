//! A small project on disk for running the `cargo xtask` binary against.

#![allow(dead_code)] // each test file uses its own part

use std::path::PathBuf;
use std::process::{Command, Output};

/// The `cargo xtask` binary under test. `serve` and `export` run the
/// `hdr-serve` and `hdr-export` binaries that `cargo test --workspace` built
/// beside it (the runner would otherwise build them with cargo, which cannot
/// run while `cargo test` holds the target folder; `cargo test -p xtask`
/// alone leaves them unbuilt, and those commands then say so).
pub fn xtask_command() -> Command {
    let runner = std::path::Path::new(env!("CARGO_BIN_EXE_xtask"));
    let bin_dir = runner.parent().unwrap();
    let mut command = Command::new(runner);
    command.env("HDR_BIN_DIR", bin_dir);
    command
}

/// A project directory with a small CSV and a pipeline.toml that trains briefly.
pub struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    /// A project of `rows` digits from the embedded sample.
    pub fn new(rows: usize) -> Self {
        let dir = tempfile::tempdir().unwrap();
        hdr_testkit::write_sample_csv(&dir.path().join("small.csv"), 0..rows);
        let project = Self { dir };
        project.write_config("");
        project
    }

    /// The same, laid out like this repository: a Cargo workspace at the
    /// root and crates below it, so it can be found from any folder.
    pub fn workspace(rows: usize) -> Self {
        let project = Self::new(rows);
        std::fs::write(
            project.path("Cargo.toml"),
            "[workspace]\nmembers = [\"crates/*\"]\n",
        )
        .unwrap();
        std::fs::create_dir_all(project.path("crates/hdr-data/src")).unwrap();
        project
    }

    /// Writes pipeline.toml with `extra_train` lines under `[train]`.
    pub fn write_config(&self, extra_train: &str) {
        let text = format!(
            "[data]\nsource = \"small.csv\"\ntest_fraction = 0.2\nseed = 42\n\n[train]\nepochs = 1\nbatch_size = 32\n{extra_train}\n"
        );
        std::fs::write(self.path("pipeline.toml"), text).unwrap();
    }

    /// A path under the project.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Runs `cargo xtask --config <project>/pipeline.toml ARGS`.
    pub fn xtask(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// The command `xtask` runs, to spawn it.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = xtask_command();
        command
            .arg("--config")
            .arg(self.path("pipeline.toml"))
            .args(args);
        command
    }

    /// Runs `cargo xtask ARGS` (no --config) in the folder `rel` of the project.
    pub fn xtask_in(&self, rel: &str, args: &[&str]) -> Output {
        xtask_command()
            .current_dir(self.path(rel))
            .args(args)
            .output()
            .unwrap()
    }
}

/// stdout then stderr, as one text.
pub fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// stdout alone.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// No line of an error report repeats what an earlier one said ("error: X"
/// then "caused by: X").
pub fn assert_no_repeated_message(output: &Output) {
    let err = String::from_utf8_lossy(&output.stderr);
    let messages: Vec<&str> = err
        .lines()
        .filter_map(|l| {
            l.strip_prefix("error: ")
                .or_else(|| l.trim_start().strip_prefix("caused by: "))
        })
        .collect();
    assert!(!messages.is_empty(), "no error report in: {err}");
    for (i, later) in messages.iter().enumerate() {
        for earlier in &messages[..i] {
            assert!(
                !earlier.contains(later),
                "`{later}` repeats part of `{earlier}`:\n{err}"
            );
        }
    }
}

/// Polls `done` every 50 ms for up to `seconds`.
pub fn wait_until(seconds: u64, mut done: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    while std::time::Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    done()
}
