//! The whole pipeline, end to end through the `cargo xtask` binary, on a small
//! slice of the embedded sample: stages chain, reruns skip, staleness follows
//! config changes, bad input fails cleanly.

use crate::common::{text, Project};

#[test]
fn pipeline_runs_skips_and_tracks_staleness() {
    let project = Project::new(400);
    let first = project.xtask(&["pipeline"]);
    assert!(first.status.success(), "{}", text(&first));
    for artifact in [
        "artifacts/data/train.parquet",
        "artifacts/data/test.parquet",
        "artifacts/data/summary.json",
        "artifacts/train/model.safetensors",
        "artifacts/train/model.json",
        "artifacts/train/history.csv",
        "artifacts/eval/metrics.json",
        "artifacts/eval/predictions_test.csv",
        "artifacts/eval/classification_report.txt",
        "artifacts/report/report.html",
        "artifacts/report/summary.md",
        "artifacts/pipeline.lock",
    ] {
        assert!(
            project.path(artifact).exists(),
            "{artifact} missing after the pipeline: {}",
            text(&first)
        );
    }

    // A second run does nothing.
    let second = text(&project.xtask(&["pipeline"]));
    for stage in ["data", "train", "eval", "report"] {
        assert!(second.contains(&format!("{stage}: up to date")), "{second}");
    }
    assert!(!second.contains("running"), "{second}");
    let status = text(&project.xtask(&["status"]));
    assert_eq!(status.matches("up to date").count(), 4, "{status}");

    // A stage whose code version differs from the recorded one is stale, and so is what follows it.
    let lock_path = project.path("artifacts/pipeline.lock");
    let recorded = std::fs::read_to_string(&lock_path).unwrap();
    let mut lock: serde_json::Value = serde_json::from_str(&recorded).unwrap();
    lock["stages"]["train"]["code"] = serde_json::json!("0".repeat(64));
    std::fs::write(&lock_path, serde_json::to_string(&lock).unwrap()).unwrap();
    let status = text(&project.xtask(&["status"]));
    assert!(
        status.contains("  train: stale\n         - its code changed"),
        "{status}"
    );
    assert!(status.contains("   data: up to date"), "{status}");
    assert_eq!(status.matches("stale").count(), 3, "{status}");
    std::fs::write(&lock_path, recorded).unwrap();

    // A changed seed makes data and everything downstream stale, naming the key.
    let status = text(&project.xtask(&["--set", "data.seed=7", "status"]));
    assert!(status.contains("`data.seed` changed: 42 -> 7"), "{status}");
    assert_eq!(status.matches("stale").count(), 4, "{status}");
    let dry = text(&project.xtask(&["--set", "data.seed=7", "pipeline", "--dry-run"]));
    assert_eq!(dry.matches("would run").count(), 4, "{dry}");

    // A changed train key leaves data up to date.
    project.write_config("learning_rate = 0.0123");
    let status = text(&project.xtask(&["status"]));
    assert!(status.contains("   data: up to date"), "{status}");
    assert!(status.contains("`train.learning_rate` changed"), "{status}");

    // A deleted output makes its stage stale; --from runs from there on.
    project.write_config("");
    std::fs::remove_file(project.path("artifacts/eval/metrics.json")).unwrap();
    let status = text(&project.xtask(&["status"]));
    assert!(
        status.contains("output artifacts/eval/metrics.json is missing"),
        "{status}"
    );
    let rerun = project.xtask(&["pipeline", "--from", "eval"]);
    assert!(rerun.status.success(), "{}", text(&rerun));
    assert!(project.path("artifacts/eval/metrics.json").exists());

    // --force reruns an up-to-date stage.
    let forced = text(&project.xtask(&["data", "--force"]));
    assert!(forced.contains("data: running (forced)"), "{forced}");

    // clean removes the artifacts; a later stage then names the stage to run.
    assert!(project.xtask(&["clean"]).status.success());
    assert!(!project.path("artifacts/data/train.parquet").exists());
    let orphan = project.xtask(&["eval"]);
    assert!(!orphan.status.success());
    assert!(
        text(&orphan).contains("cargo xtask data"),
        "{}",
        text(&orphan)
    );
}

#[test]
fn bad_config_fails_naming_the_key_and_writes_nothing() {
    let project = Project::new(50);
    std::fs::write(
        project.path("pipeline.toml"),
        "[data]\ntest_fraction = 2.0\n",
    )
    .unwrap();
    let out = project.xtask(&["pipeline"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("data.test_fraction"), "{}", text(&out));
    assert!(!project.path("artifacts/pipeline.lock").exists());

    std::fs::write(project.path("pipeline.toml"), "[train]\nbatch = 3\n").unwrap();
    let out = project.xtask(&["status"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("unknown key `train.batch`"),
        "{}",
        text(&out)
    );
}

#[test]
fn bad_source_fails_and_keeps_previous_artifacts() {
    let project = Project::new(100);
    let ok = project.xtask(&["data"]);
    assert!(ok.status.success(), "{}", text(&ok));
    let before = std::fs::read(project.path("artifacts/data/train.parquet")).unwrap();
    std::fs::write(project.path("broken.csv"), "label,pixel0\n1,2\n").unwrap();
    let out = project.xtask(&["--set", "data.source=broken.csv", "data"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("broken.csv"), "{}", text(&out));
    crate::common::assert_no_repeated_message(&out);
    assert_eq!(
        std::fs::read(project.path("artifacts/data/train.parquet")).unwrap(),
        before
    );
}

#[test]
fn import_idx_writes_a_kaggle_csv_the_data_stage_reads() {
    let project = Project::new(10);
    // Two 28x28 images: all 7s in the first, all 200s in the second.
    let mut images = vec![0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 28, 0, 0, 0, 28];
    images.extend(std::iter::repeat_n(7u8, 784));
    images.extend(std::iter::repeat_n(200u8, 784));
    let labels = vec![0, 0, 8, 1, 0, 0, 0, 2, 3, 9];
    std::fs::write(project.path("images-idx3-ubyte"), images).unwrap();
    std::fs::write(project.path("labels-idx1-ubyte"), labels).unwrap();
    let out = project.xtask(&[
        "import-idx",
        project.path("images-idx3-ubyte").to_str().unwrap(),
        project.path("labels-idx1-ubyte").to_str().unwrap(),
        "-o",
        project.path("imported.csv").to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let csv = std::fs::read_to_string(project.path("imported.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3);
    assert!(lines[0].starts_with("label,pixel0,pixel1,") && lines[0].ends_with(",pixel783"));
    assert!(lines[1].starts_with("3,7,7,") && lines[2].starts_with("9,200,200,"));

    // A labels file that does not match is an error naming it.
    std::fs::write(
        project.path("labels-idx1-ubyte"),
        [0, 0, 8, 1, 0, 0, 0, 1, 3],
    )
    .unwrap();
    let out = project.xtask(&[
        "import-idx",
        project.path("images-idx3-ubyte").to_str().unwrap(),
        project.path("labels-idx1-ubyte").to_str().unwrap(),
        "-o",
        project.path("bad.csv").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(text(&out).contains("labels-idx1-ubyte"), "{}", text(&out));
    assert!(!project.path("bad.csv").exists());
}

#[test]
fn quiet_prints_only_errors_and_status_answers_with_its_exit_code() {
    let project = Project::new(300);
    let silent = |args: &[&str], code: i32| {
        let out = project.xtask(args);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", text(&out));
        assert_eq!(text(&out), "", "{args:?} printed something under --quiet");
    };
    silent(&["--quiet", "status"], 1); // never run
    silent(&["--quiet", "pipeline"], 0);
    silent(&["--quiet", "pipeline"], 0); // all up to date
    silent(&["-q", "status"], 0);
    silent(&["--quiet", "--set", "train.epochs=2", "status"], 1);
    // A forced data run rewrites summary.json (it records the seconds taken), which the report reads.
    silent(&["--quiet", "data", "--force"], 0);
    silent(&["status", "--quiet"], 1);
    silent(&["--quiet", "pipeline"], 0);
    silent(&["status", "--quiet"], 0);

    // Without --quiet, status tells and exits 0 whatever the state.
    let out = project.xtask(&["--set", "train.epochs=2", "status"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out).contains("  train: stale"), "{}", text(&out));

    silent(&["--quiet", "clean"], 0);
    silent(&["--quiet", "clean"], 0); // nothing left to clean
    silent(&["--quiet", "status"], 1);

    // Errors still print, each message once.
    let out = project.xtask(&["--quiet", "eval"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains("cargo xtask data"), "{err}");
    crate::common::assert_no_repeated_message(&out);
}

#[test]
fn an_error_chain_says_each_message_once() {
    // The model error shows its I/O cause, which shows the OS error: one line, not three.
    let project = Project::new(10);
    std::fs::create_dir(project.path("weights")).unwrap();
    let weights = project.path("weights");
    let out = project.xtask(&["predict", "--model", weights.to_str().unwrap(), "x.png"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("error: cannot load the model: "), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    crate::common::assert_no_repeated_message(&out);
}

#[test]
fn the_users_digits_are_an_input_of_the_data_stage_once_they_exist() {
    let project = Project::new(200);
    assert!(project.xtask(&["pipeline"]).status.success());
    // Twenty of the sample's digits as the user's own, in the Kaggle layout.
    std::fs::create_dir_all(project.path("data")).unwrap();
    hdr_testkit::write_sample_csv(&project.path("data/my-digits.csv"), 500..520);
    let status = text(&project.xtask(&["status"]));
    assert!(
        status.contains("input data/my-digits.csv is new"),
        "{status}"
    );
    let run = project.xtask(&["pipeline"]);
    assert!(run.status.success(), "{}", text(&run));
    let said = text(&run);
    assert!(said.contains("of your digits from"), "{said}");
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(project.path("artifacts/data/summary.json")).unwrap(),
    )
    .unwrap();
    let user = &summary["user_samples"];
    assert_eq!(
        user["train"]["rows"].as_u64().unwrap() + user["test"]["rows"].as_u64().unwrap(),
        20
    );
    let metrics: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(project.path("artifacts/eval/metrics.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(metrics["user_test"]["support"], user["test"]["rows"]);
    assert!(project
        .path("artifacts/eval/confusion_user_test.csv")
        .is_file());
    let report = std::fs::read_to_string(project.path("artifacts/report/report.html")).unwrap();
    assert!(report.contains("Your digits"));
    assert!(project
        .path("artifacts/report/confusion_user_test.png")
        .is_file());

    // Gone again: stale, and the next run scores no digits of the user's.
    std::fs::remove_file(project.path("data/my-digits.csv")).unwrap();
    let status = text(&project.xtask(&["status"]));
    assert!(
        status.contains("input data/my-digits.csv is no longer there"),
        "{status}"
    );
    assert!(project.xtask(&["pipeline"]).status.success());
    assert!(!project
        .path("artifacts/eval/confusion_user_test.csv")
        .exists());
    assert!(!project
        .path("artifacts/report/confusion_user_test.png")
        .exists());
}
