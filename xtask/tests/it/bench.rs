//! `cargo xtask bench --smoke` through the binary: every benchmark still runs
//! the real stages end to end and reports a figure. Nothing here asserts a
//! speed or a memory figure: the machines are shared, and benchmarks are run
//! by hand (see docs/benchmarks.md).

use std::path::Path;

/// The first `rows` rows of the embedded sample as a plain CSV.
fn small_csv(dir: &Path, rows: usize) -> std::path::PathBuf {
    let path = dir.join("small.csv");
    hdr_testkit::write_sample_csv(&path, 0..rows);
    path
}

#[test]
fn smoke_bench_runs_every_benchmark_through_the_real_stages() {
    let dir = tempfile::tempdir().unwrap();
    let csv = small_csv(dir.path(), 300);
    std::fs::write(dir.path().join("pipeline.toml"), "").unwrap();
    let work = dir.path().join("bench");
    let out = crate::common::xtask_command()
        .arg("--config")
        .arg(dir.path().join("pipeline.toml"))
        .args(["--quiet", "bench", "--smoke", "--csv"])
        .arg(&csv)
        .arg("--work")
        .arg(&work)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(
        out.stderr.is_empty(),
        "--quiet prints nothing on success: {text}"
    );

    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(work.join("bench.json")).unwrap()).unwrap();
    assert_eq!(report["architecture"], "seed");
    assert_eq!(report["smoke"], true);
    assert_eq!(report["failures"].as_array().unwrap().len(), 0);
    let rows = report["rows"].as_array().unwrap();
    let find = |needle: &str| {
        rows.iter()
            .find(|r| r["name"].as_str().unwrap().contains(needle))
            .unwrap_or_else(|| panic!("no row containing {needle:?} in {rows:#?}"))
    };
    let mut needles: Vec<String> = [
        "data stage, 500-row CSV",
        "data stage peak memory",
        "seed: train peak memory, 1 epoch",
        "seed: eval peak memory, 1,000 rows",
        "seed: train memory per row",
        "seed: eval memory per row",
    ]
    .map(String::from)
    .into();
    // Speed rows for every kernel path this CPU can run.
    for path in hdr_model::KernelPath::available() {
        for figure in [
            "training samples/s",
            "inference images/s",
            "test accuracy",
            "predict --csv, 300 rows",
        ] {
            needles.push(format!("seed, {path} kernels: {figure}"));
        }
    }
    for needle in &needles {
        let row = find(needle);
        let value = row["hdr"].as_f64().unwrap();
        assert!(value.is_finite(), "{row}");
        assert!(
            row["peer"].is_null() || row["peer"] == "target",
            "no peer runs in --smoke: {row}"
        );
    }
    // Figures the stages recorded, not made up: positive, and a real accuracy.
    assert!(find("training samples/s")["hdr"].as_f64().unwrap() > 0.0);
    assert!(find("eval peak memory, 200 rows")["hdr"].as_f64().unwrap() > 1.0);
    let accuracy = find("test accuracy")["hdr"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&accuracy), "{accuracy}");
    // The stages ran in the bench's own projects, with the bench's settings.
    let history =
        std::fs::read_to_string(work.join("train-seed/artifacts/train/history.csv")).unwrap();
    assert_eq!(history.lines().count(), 2, "one epoch: {history}");
    let submission = std::fs::read_to_string(work.join("submission.csv")).unwrap();
    assert_eq!(submission.lines().count(), 301);
    // The markdown table is on stdout.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("| measurement | hdr |"), "{stdout}");
}

#[test]
fn an_unknown_architecture_is_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("bench");
    let out = crate::common::xtask_command()
        .arg("--config")
        .arg(dir.path().join("pipeline.toml"))
        .args(["bench", "--smoke", "--architecture", "wide", "--work"])
        .arg(&work)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("wide") && stderr.contains("deep"),
        "{stderr}"
    );
    assert!(!work.exists());
}
