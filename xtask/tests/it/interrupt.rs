//! Ctrl-C (SIGINT) and SIGTERM during each stage, sent to the real binary:
//! it exits with 130, leaves no temporary file, keeps the previous artifacts
//! and `pipeline.lock` byte for byte, and releases the runner lock; an
//! interrupted training continues with the command it prints, to the same
//! weights as a run never interrupted. In a sweep, the first Ctrl-C lets the
//! current run finish and the second stops it.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::common::{text, Project};

/// Every file under `dir` with its bytes, but the runner's lock file (it
/// names the last runner) and the training checkpoint (an interrupted
/// training saves its last finished epoch there, on purpose).
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if !path.ends_with(".lock")
                && !path.ends_with("train/checkpoint.safetensors")
                // The run log records the interrupted run (as failed): a log, not an output.
                && !path.ends_with("runs.jsonl")
            {
                files.insert(
                    path.strip_prefix(dir).unwrap().to_path_buf(),
                    std::fs::read(&path).unwrap(),
                );
            }
        }
    }
    files
}

/// Files under `dir` whose name marks them as temporary.
fn temporaries(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.to_string_lossy().ends_with(".tmp") {
                found.push(path);
            }
        }
    }
    found
}

/// A running `cargo xtask` whose stderr lines arrive on a channel.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    fn spawn(project: &Project, args: &[&str]) -> Self {
        let mut child = project
            .command(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                if sender.send(line.unwrap()).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits (up to two minutes) for a stderr line containing `marker`.
    fn wait_for(&mut self, marker: &str) {
        loop {
            match self.lines.recv_timeout(Duration::from_secs(120)) {
                Ok(line) => {
                    let found = line.contains(marker);
                    self.seen.push(line);
                    if found {
                        return;
                    }
                }
                Err(_) => panic!(
                    "no line with `{marker}` on stderr; it said:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Sends `signal` and goes on.
    fn signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: kill(2) on our own child's pid, which it still is: we have
        // not waited for it yet.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0, "kill failed");
    }

    /// Waits for the exit: its status code and all it printed.
    fn wait(mut self) -> (Option<i32>, String) {
        let status = self.child.wait().unwrap();
        self.seen.extend(self.lines.iter());
        (status.code(), self.seen.join("\n"))
    }

    /// Sends `signal`, then waits for the exit: its status code and all it printed.
    fn signal_and_wait(self, signal: libc::c_int) -> (Option<i32>, String) {
        self.signal(signal);
        self.wait()
    }
}

/// A project whose pipeline has run once, so every stage has artifacts to keep.
fn project_with_artifacts(rows: usize) -> Project {
    let project = Project::new(rows);
    let out = project.xtask(&["pipeline"]);
    assert!(out.status.success(), "{}", text(&out));
    project
}

/// Runs `args` until stderr shows `marker`, interrupts it with `signal`, and
/// checks what an interruption must leave. Returns what it printed.
fn interrupt(project: &Project, args: &[&str], marker: &str, signal: libc::c_int) -> String {
    let artifacts = project.path("artifacts");
    let before = snapshot(&artifacts);
    assert!(before.len() > 20, "the pipeline ran: {:?}", before.keys());
    let mut running = Running::spawn(project, args);
    running.wait_for(marker);
    let (code, said) = running.signal_and_wait(signal);
    assert_eq!(code, Some(130), "{args:?} after signal {signal}:\n{said}");
    assert!(
        said.contains("interrupted") && said.contains("previous artifacts"),
        "{said}"
    );
    assert_eq!(temporaries(&artifacts), Vec::<PathBuf>::new(), "{said}");
    let after = snapshot(&artifacts);
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>(),
        "{said}"
    );
    for (path, bytes) in &before {
        assert!(after[path] == *bytes, "{} changed:\n{said}", path.display());
    }
    // The runner lock was released: another run takes it at once, and finds
    // every stage as the first pipeline left it.
    let next = project.xtask(&["--no-wait", "pipeline"]);
    assert!(next.status.success(), "{}", text(&next));
    assert_eq!(
        text(&next).matches(": up to date").count(),
        4,
        "{}",
        text(&next)
    );
    said
}

#[test]
fn interrupting_the_data_stage_keeps_the_previous_splits() {
    let project = project_with_artifacts(300);
    // A source large enough that loading it outlasts the signal's delivery.
    let big = project.path("big.csv");
    let sample = std::fs::read_to_string(project.path("small.csv")).unwrap();
    let (header, body) = sample.split_once('\n').unwrap();
    let mut csv = format!("{header}\n");
    for _ in 0..150 {
        csv.push_str(body);
    }
    std::fs::write(&big, csv).unwrap();
    // A killed runner's leftover temporary is removed by the next run.
    let leftover = project.path("artifacts/data/.train.parquet.AbC123.tmp");
    std::fs::write(&leftover, b"half").unwrap();
    let out = project.xtask(&["data"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!leftover.exists(), "the leftover is still there");
    let source = format!("data.source={}", big.display());
    for signal in [libc::SIGINT, libc::SIGTERM] {
        let said = interrupt(
            &project,
            &["--set", &source, "data"],
            "data: running",
            signal,
        );
        assert!(
            said.contains("   data: interrupted; nothing was written"),
            "{said}"
        );
        assert!(
            !said.contains("error:"),
            "an interruption is not an error: {said}"
        );
    }
}

#[test]
fn interrupting_the_eval_stage_keeps_the_previous_scores() {
    let project = project_with_artifacts(3000);
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // One image per batch: many safe points, and a stage that lasts.
        let said = interrupt(
            &project,
            &["--set", "eval.batch_size=1", "eval"],
            "eval: running",
            signal,
        );
        assert!(
            said.contains("   eval: interrupted; nothing was written"),
            "{said}"
        );
    }
}

#[test]
fn interrupting_the_report_stage_keeps_the_previous_report() {
    let project = project_with_artifacts(1000);
    for signal in [libc::SIGINT, libc::SIGTERM] {
        let said = interrupt(
            &project,
            &["--set", "report.mistakes=200", "report"],
            "report: running",
            signal,
        );
        assert!(
            said.contains(" report: interrupted; nothing was written"),
            "{said}"
        );
    }
}

/// The training every test of resuming uses: a few epochs long enough to be
/// caught between two of them.
const TRAIN: [&str; 6] = [
    "--set",
    "train.epochs=3",
    "--set",
    "train.batch_size=16",
    "--set",
    "train.patience=0",
];

#[test]
fn an_interrupted_training_resumes_to_the_weights_of_an_uninterrupted_one() {
    let rows = 2000;
    let uninterrupted = Project::new(rows);
    let data = uninterrupted.xtask(&["data"]);
    assert!(data.status.success(), "{}", text(&data));
    let out = uninterrupted.xtask(&[&TRAIN[..], &["train"]].concat());
    assert!(out.status.success(), "{}", text(&out));
    let expected = std::fs::read(uninterrupted.path("artifacts/train/model.safetensors")).unwrap();

    let project = project_with_artifacts(rows);
    for signal in [libc::SIGTERM, libc::SIGINT] {
        let args = [&TRAIN[..], &["pipeline"]].concat();
        let said = interrupt(&project, &args, "epoch 1/3", signal);
        assert!(
            said.contains("  train: interrupted after epoch 1; nothing was written"),
            "{said}"
        );
        // The command it prints continues this very run, then the pipeline.
        let config = project.path("pipeline.toml");
        let globals = format!(
            "cargo xtask --config {} --set train.epochs=3 --set train.batch_size=16 --set train.patience=0",
            config.display()
        );
        let expected_hint = format!(
            "the checkpoint of epoch 1 is saved; continue with: {globals} train --resume && {globals} pipeline"
        );
        assert!(said.contains(&expected_hint), "{said}");
    }
    let printed = [&TRAIN[..], &["train", "--resume"]].concat();
    let resumed = project.xtask(&printed);
    assert!(resumed.status.success(), "{}", text(&resumed));
    assert!(
        text(&resumed).contains("resuming from") && text(&resumed).contains("after epoch 1/3"),
        "{}",
        text(&resumed)
    );
    let weights = std::fs::read(project.path("artifacts/train/model.safetensors")).unwrap();
    assert!(
        weights == expected,
        "resumed weights differ from an uninterrupted run's"
    );
}

/// Each record of the run log: its id and status.
fn recorded_runs(project: &Project) -> Vec<(u64, String)> {
    std::fs::read_to_string(project.path("artifacts/runs.jsonl"))
        .unwrap()
        .lines()
        .map(|line| {
            let record: serde_json::Value = serde_json::from_str(line).unwrap();
            (
                record["id"].as_u64().unwrap(),
                record["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// A three-point sweep, each point a training of its own, long enough (a few
/// seconds) that a signal sent when a run starts arrives before it ends.
const SWEEP: [&str; 5] = [
    "--set",
    "train.epochs=30",
    "pipeline",
    "--sweep",
    "train.seed=1,2,3",
];

/// Returns once run 2 of [`SWEEP`] is training: its line is printed when
/// run 1 ends, and run 2's training lasts seconds, so half a second later it
/// is well inside (a signal sent the instant the line appears can land
/// before run 2 starts, the test being woken first).
fn wait_until_run_2_trains(running: &mut Running) {
    running.wait_for("run 1 [1/3]");
    std::thread::sleep(Duration::from_millis(500));
}

#[test]
fn ctrl_c_in_a_sweep_finishes_the_current_run_then_stops() {
    let project = Project::new(300);
    let mut running = Running::spawn(&project, &SWEEP);
    wait_until_run_2_trains(&mut running);
    running.signal(libc::SIGINT);
    let (code, said) = running.wait();
    assert_eq!(code, Some(130), "{said}");
    assert!(
        said.contains("the current run finishes, then the sweep stops"),
        "{said}"
    );
    assert!(
        said.contains("run 2 [2/3]  train.seed=2  test accuracy"),
        "{said}"
    );
    assert!(!said.contains("[3/3]"), "{said}");
    assert!(
        said.contains("sweep: stopped by Ctrl-C after 2 of 3 runs"),
        "{said}"
    );
    assert_eq!(
        recorded_runs(&project),
        [(1, "ok".to_string()), (2, "ok".to_string())]
    );
    assert_eq!(
        temporaries(&project.path("artifacts")),
        Vec::<PathBuf>::new()
    );
}

#[test]
fn a_second_ctrl_c_in_a_sweep_stops_the_current_run() {
    let project = Project::new(300);
    let mut running = Running::spawn(&project, &SWEEP);
    wait_until_run_2_trains(&mut running);
    running.signal(libc::SIGINT);
    running.wait_for("Ctrl-C again stops the run now");
    running.signal(libc::SIGINT);
    let (code, said) = running.wait();
    assert_eq!(code, Some(130), "{said}");
    assert!(said.contains("interrupted"), "{said}");
    assert!(!said.contains("[2/3]"), "{said}");
    let runs = recorded_runs(&project);
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert_eq!(runs[0], (1, "ok".to_string()));
    assert_ne!(runs[1].1, "ok", "{runs:?}");
    assert_eq!(
        temporaries(&project.path("artifacts")),
        Vec::<PathBuf>::new()
    );
}
