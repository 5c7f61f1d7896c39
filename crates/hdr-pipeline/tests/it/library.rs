use std::path::Path;

use hdr_pipeline::{ConfigError, Error, Location, Options, Project, Stage, StageOptions};

/// A project of 300 sample digits that trains for one short epoch.
fn small_project(dir: &Path) -> Location {
    hdr_testkit::write_sample_csv(&dir.join("small.csv"), 0..300);
    std::fs::write(
        dir.join("pipeline.toml"),
        "[data]\nsource = \"small.csv\"\n\n[train]\nepochs = 1\nbatch_size = 32\n",
    )
    .unwrap();
    Location::Explicit(dir.join("pipeline.toml"))
}

/// No signal handlers: a library user handles signals itself.
const QUIET: Options = Options {
    quiet: true,
    wait: false,
    on_locked: None,
};

#[test]
fn a_pipeline_runs_is_recorded_with_its_test_data_then_is_up_to_date() {
    let dir = tempfile::tempdir().unwrap();
    let location = small_project(dir.path());
    let loaded = hdr_pipeline::load(&location, &[]).unwrap();
    let project = Project::of(&loaded);
    assert_eq!(project.artifacts, dir.path().join("artifacts"));
    assert_eq!(
        hdr_pipeline::status(&project, true).unwrap(),
        Stage::ALL,
        "nothing has run yet"
    );

    hdr_pipeline::pipeline(&project, &Stage::ALL, StageOptions::default(), QUIET).unwrap();
    assert!(hdr_pipeline::status(&project, true).unwrap().is_empty());
    let log = hdr_artifacts::read_runs(&hdr_artifacts::run_log_path(&project.artifacts)).unwrap();
    assert_eq!(log.runs.len(), 1);
    let run = &log.runs[0];
    assert!(run.is_ok(), "{run:?}");
    let test_split = hdr_artifacts::Artifacts::under(&project.artifacts)
        .data
        .test;
    assert_eq!(
        run.test_sha256.as_deref(),
        Some(hdr_common::sha256_file(&test_split).unwrap().as_str()),
        "the run records the test data it was scored on"
    );
    assert_eq!(
        run.config["data"]["source"], "small.csv",
        "recorded relative to the root"
    );

    // Up to date: nothing runs, and a run that changed nothing is not recorded.
    hdr_pipeline::pipeline(&project, &Stage::ALL, StageOptions::default(), QUIET).unwrap();
    let log = hdr_artifacts::read_runs(&hdr_artifacts::run_log_path(&project.artifacts)).unwrap();
    assert_eq!(log.runs.len(), 1);

    // Another eval batch size makes eval stale, and only what reads its outputs.
    let loaded = hdr_pipeline::load(&location, &["eval.batch_size=50".into()]).unwrap();
    let changed = Project::of(&loaded);
    assert_eq!(
        hdr_pipeline::status(&changed, true).unwrap(),
        [Stage::Eval, Stage::Report]
    );
}

#[test]
fn a_dry_run_writes_nothing_and_takes_no_lock() {
    let dir = tempfile::tempdir().unwrap();
    let location = small_project(dir.path());
    let project = Project::of(&hdr_pipeline::load(&location, &[]).unwrap());
    let dry = StageOptions {
        dry_run: true,
        ..StageOptions::default()
    };
    hdr_pipeline::pipeline(&project, &Stage::ALL, dry, QUIET).unwrap();
    assert!(!project.artifacts.exists());
}

#[test]
fn configuration_errors_are_typed_and_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let location = small_project(dir.path());
    let err = hdr_pipeline::load(&location, &["train.epoch=3".into()]).unwrap_err();
    assert!(
        matches!(&err, ConfigError::UnknownKey { key, file, .. }
            if key == "train.epoch" && file.ends_with("pipeline.toml")),
        "{err:?}"
    );
    let err = hdr_pipeline::SweepAxis::parse("dropout=0.3").unwrap_err();
    assert!(matches!(err, Error::BadSweep { .. }), "{err:?}");
}

#[test]
fn a_failing_stage_keeps_its_crates_error_as_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    let location = small_project(dir.path());
    std::fs::write(dir.path().join("small.csv"), "label,pixel0\n3,oops\n").unwrap();
    let project = Project::of(&hdr_pipeline::load(&location, &[]).unwrap());
    let err =
        hdr_pipeline::pipeline(&project, &Stage::ALL, StageOptions::default(), QUIET).unwrap_err();
    let Error::StageFailed { stage, source } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(*stage, Stage::Data);
    assert!(
        source.downcast_ref::<hdr_data::Error>().is_some(),
        "{source:?}"
    );
    // The failed run is recorded, with its error on one line.
    let log = hdr_artifacts::read_runs(&hdr_artifacts::run_log_path(&project.artifacts)).unwrap();
    assert_eq!(log.runs.len(), 1);
    assert!(!log.runs[0].is_ok());
    assert!(
        log.runs[0]
            .error
            .as_deref()
            .unwrap()
            .starts_with("stage `data` failed: "),
        "{:?}",
        log.runs[0].error
    );
    assert_eq!(log.runs[0].test_sha256, None, "never scored");
}
