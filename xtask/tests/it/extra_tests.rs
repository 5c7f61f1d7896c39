//! `data.extra_test_sources`: labelled sets from elsewhere (a CSV, a folder
//! of scans labelled by subfolder) scored beside the test split, each with
//! its own confusion matrix in the report; inputs of the data stage.

use crate::common::{text, Project};
use hdr_testkit::{load_sample, Style};

const SETS: &str = r#"data.extra_test_sources=["others.csv", "scans"]"#;

fn json(project: &Project, rel: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(project.path(rel)).unwrap()).unwrap()
}

#[test]
fn extra_test_sets_are_scored_reported_and_tracked_as_inputs() {
    let project = Project::new(300);
    hdr_testkit::write_sample_csv(&project.path("others.csv"), 300..400);
    // Twenty digits the source does not hold, as scans: dark ink on white.
    let digits = load_sample(400..420);
    for i in 0..digits.len() {
        let folder = project.path(&format!("scans/{}", digits.labels[i]));
        std::fs::create_dir_all(&folder).unwrap();
        let scan = Style::Inverted.render(digits.image(i), i);
        scan.save(folder.join(format!("{i}.png"))).unwrap();
    }
    let out = project.xtask(&["--set", SETS, "pipeline"]);
    assert!(out.status.success(), "{}", text(&out));
    let said = text(&out);
    assert!(said.contains("scans -> extra test set scans"), "{said}");

    let metrics = json(&project, "artifacts/eval/metrics.json");
    let sets = metrics["extra_tests"].as_array().unwrap();
    let names: Vec<&str> = sets.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["others", "scans"]);
    assert_eq!(sets[0]["metrics"]["support"], 100);
    assert_eq!(sets[1]["metrics"]["support"], 20);
    let summary = json(&project, "artifacts/data/summary.json");
    let recorded = summary["extra_tests"][1]["path"].as_str().unwrap();
    assert!(recorded.ends_with("scans"), "{recorded}");
    for set in names {
        let chart = format!("artifacts/report/confusion_extra_{set}.png");
        assert!(project.path(&chart).is_file(), "{chart}");
    }
    let page = std::fs::read_to_string(project.path("artifacts/report/report.html")).unwrap();
    assert!(page.contains("Extra test sets"));

    // The folder is an input of the data stage: a changed scan makes it stale.
    let status = text(&project.xtask(&["--set", SETS, "status"]));
    assert!(status.contains("   data: up to date"), "{status}");
    let first = std::fs::read_dir(project.path(&format!("scans/{}", digits.labels[0])))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    Style::Inverted
        .render(digits.image(1), 1)
        .save(&first)
        .unwrap();
    let status = text(&project.xtask(&["--set", SETS, "status"]));
    assert!(status.contains("input scans changed"), "{status}");

    // Without them, nothing of theirs is left to mislead.
    let out = project.xtask(&["pipeline"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(json(&project, "artifacts/eval/metrics.json")
        .get("extra_tests")
        .is_none());
    assert!(!project
        .path("artifacts/data/extra_test_scans.parquet")
        .exists());
    assert!(!project
        .path("artifacts/report/confusion_extra_scans.png")
        .exists());
}

#[test]
fn a_scan_that_cannot_be_read_is_named_and_nothing_runs() {
    let project = Project::new(300);
    std::fs::create_dir_all(project.path("scans/3")).unwrap();
    std::fs::write(project.path("scans/3/torn.png"), b"\x89PNG\r\n\x1a\n").unwrap();
    let out = project.xtask(&["--set", r#"data.extra_test_sources=["scans"]"#, "pipeline"]);
    assert!(!out.status.success());
    let said = text(&out);
    assert!(
        said.contains("data.extra_test_sources: ") && said.contains("torn.png"),
        "{said}"
    );
    assert!(!project.path("artifacts/data/train.parquet").exists());
}
