//! `data.test_source`: a fixed test set read from its own file, the whole
//! `data.source` training; and its bad inputs (another pixel layout, no
//! label column), each refused naming the key and the file.

use crate::common::{text, Project};

/// Rows `skip..skip + rows` of the embedded sample, as a Kaggle-style CSV.
fn sample_rows(path: &std::path::Path, skip: usize, rows: usize) {
    hdr_testkit::write_sample_csv(path, skip..skip + rows);
}

fn summary(project: &Project) -> serde_json::Value {
    serde_json::from_str(
        &std::fs::read_to_string(project.path("artifacts/data/summary.json")).unwrap(),
    )
    .unwrap()
}

#[test]
fn a_fixed_test_set_is_the_test_split_and_the_whole_source_trains() {
    let project = Project::new(300);
    sample_rows(&project.path("test.csv"), 300, 120);
    let out = project.xtask(&["--set", "data.test_source=test.csv", "pipeline"]);
    assert!(out.status.success(), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains("data.test_fraction is ignored: the test split is data.test_source"),
        "{said}"
    );
    let s = summary(&project);
    assert_eq!(s["train"]["rows"], 300);
    assert_eq!(s["test"]["rows"], 120);
    assert_eq!(s["source_rows"], 300);
    assert!(s["test_source"]["path"]
        .as_str()
        .unwrap()
        .ends_with("test.csv"));
    assert_eq!(s["test_source"]["sha256"].as_str().unwrap().len(), 64);
    assert_ne!(s["test_source"]["sha256"], s["source_sha256"]);
    let metrics: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(project.path("artifacts/eval/metrics.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(metrics["test"]["support"], 120);

    // The test file is an input of the data stage: editing it makes data stale.
    let status = text(&project.xtask(&["--set", "data.test_source=test.csv", "status"]));
    assert!(status.contains("   data: up to date"), "{status}");
    sample_rows(&project.path("test.csv"), 300, 100);
    let status = text(&project.xtask(&["--set", "data.test_source=test.csv", "status"]));
    assert!(status.contains("input test.csv changed"), "{status}");
    // The run log records it with the rest of the config.
    let log = std::fs::read_to_string(project.path("artifacts/runs.jsonl")).unwrap();
    assert!(log.contains("\"test_source\":\"test.csv\""), "{log}");
    // Without it, the split is back.
    let out = project.xtask(&["data"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(summary(&project).get("test_source").is_none());
    assert_eq!(summary(&project)["test"]["rows"], 60);
}

#[test]
fn a_test_source_with_another_pixel_layout_or_no_labels_is_refused() {
    let project = Project::new(200);
    let data = project.xtask(&["data"]);
    assert!(data.status.success(), "{}", text(&data));
    let before = std::fs::read(project.path("artifacts/data/summary.json")).unwrap();

    // 32x32 images: 1024 pixel columns.
    let mut wide = String::from("label");
    for p in 0..1024 {
        wide.push_str(&format!(",pixel{p}"));
    }
    wide.push('\n');
    wide.push_str(&format!("3{}\n", ",0".repeat(1024)));
    std::fs::write(project.path("wide.csv"), wide).unwrap();

    // Kaggle's test.csv: pixels only.
    let csv = std::fs::read_to_string(project.path("small.csv")).unwrap();
    let unlabelled: String = csv
        .lines()
        .take(20)
        .map(|l| l.split_once(',').unwrap().1.to_string() + "\n")
        .collect();
    std::fs::write(project.path("unlabelled.csv"), unlabelled).unwrap();

    for (file, expected) in [
        ("wide.csv", "1024 pixel columns"),
        ("unlabelled.csv", "no `label` column"),
    ] {
        let set = format!("data.test_source={file}");
        let out = project.xtask(&["--set", &set, "data"]);
        assert_eq!(out.status.code(), Some(1), "{file}: {}", text(&out));
        let said = text(&out);
        assert!(
            said.contains("data.test_source: ") && said.contains(file) && said.contains(expected),
            "{file}: {said}"
        );
        crate::common::assert_no_repeated_message(&out);
        assert_eq!(
            std::fs::read(project.path("artifacts/data/summary.json")).unwrap(),
            before,
            "{file}: the previous artifacts changed"
        );
    }
}
