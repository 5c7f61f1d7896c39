//! One runner at a time per project: a second run waits for the first, or
//! with --no-wait fails at once naming it; read-only commands never block; a
//! killed runner leaves no lock behind.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::common::{text, wait_until, Project};

/// Takes the project's runner lock from this process, as another runner would.
fn hold_lock(project: &Project, pid: u32, command: &str) -> File {
    std::fs::create_dir_all(project.path("artifacts")).unwrap();
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(project.path("artifacts/.lock"))
        .unwrap();
    file.lock().unwrap();
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 5;
    file.set_len(0).unwrap();
    write!(
        file,
        r#"{{"pid":{pid},"command":"{command}","since_unix":{since}}}"#
    )
    .unwrap();
    file
}

#[test]
fn a_second_runner_fails_with_no_wait_or_waits_and_proceeds() {
    let project = Project::new(300);
    let data = project.xtask(&["data"]);
    assert!(data.status.success(), "{}", text(&data));
    let held = hold_lock(&project, 4242, "cargo xtask pipeline --set train.epochs=9");

    for args in [
        &["--no-wait", "data", "--force"][..],
        &["clean", "--no-wait"],
        &["--no-wait", "pipeline"],
    ] {
        let started = Instant::now();
        let out = project.xtask(args);
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{args:?} did not fail at once"
        );
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out));
        let said = text(&out);
        assert!(said.contains("error: artifacts/"), "{said}");
        assert!(
            said.contains("pid 4242 (`cargo xtask pipeline --set train.epochs=9`)"),
            "{said}"
        );
        assert!(
            said.contains("running since ") && said.contains("s ago"),
            "{said}"
        );
        crate::common::assert_no_repeated_message(&out);
    }
    assert!(
        project.path("artifacts/data/train.parquet").exists(),
        "clean --no-wait removed nothing"
    );

    // Read-only commands do not wait for it.
    for args in [
        &["status"][..],
        &["config"],
        &["pipeline", "--dry-run"],
        &["--quiet", "status"],
    ] {
        let out = project.xtask(args);
        assert!(
            out.status.code().is_some_and(|c| c <= 1),
            "{args:?}: {}",
            text(&out)
        );
    }

    // Without --no-wait the second run says who it waits for, then proceeds.
    let mut waiting = project
        .command(&["data", "--force"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(waiting.try_wait().unwrap().is_none(), "it did not wait");
    drop(held);
    let pid = waiting.id();
    let out = waiting.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let said = text(&out);
    assert!(said.contains("waiting for artifacts/"), "{said}");
    assert!(said.contains("in use by pid 4242"), "{said}");
    assert!(said.contains("data: running (forced)"), "{said}");
    // While it held the lock, the file named it.
    let holder: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(project.path("artifacts/.lock")).unwrap())
            .unwrap();
    assert_eq!(holder["pid"], pid);
    assert!(
        holder["command"]
            .as_str()
            .unwrap()
            .ends_with("data --force"),
        "{holder}"
    );
}

#[test]
fn two_runners_exclude_each_other_and_a_killed_one_leaves_no_lock() {
    let project = Project::new(300);
    let data = project.xtask(&["data"]);
    assert!(data.status.success(), "{}", text(&data));
    // A training long enough to be caught in the act.
    let mut trainer = project
        .command(&[
            "--set",
            "train.epochs=400",
            "--set",
            "train.patience=0",
            "train",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = trainer.id();
    let lock_names = |pid: u32| {
        std::fs::read_to_string(project.path("artifacts/.lock"))
            .is_ok_and(|t| t.contains(&format!("\"pid\":{pid},")))
    };
    assert!(
        wait_until(60, || lock_names(pid)),
        "the trainer never took the lock"
    );

    let out = project.xtask(&["--no-wait", "pipeline"]);
    let killed_in_time = trainer.try_wait().unwrap().is_none();
    trainer.kill().unwrap();
    trainer.wait().unwrap();
    assert!(killed_in_time, "the training ended before the check");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains(&format!("pid {pid} (`cargo xtask --config")),
        "{said}"
    );
    assert!(said.contains("train`), running since"), "{said}");

    // Killed mid-training: the OS released its lock, and it wrote no weights.
    let out = project.xtask(&["--no-wait", "data", "--force"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!project.path("artifacts/train/model.safetensors").exists());
}
