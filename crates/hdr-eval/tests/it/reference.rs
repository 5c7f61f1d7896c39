//! hdr-eval's metrics against scikit-learn's, on fixed predictions.
//!
//! `fixtures/reference.json` was computed once by `fixtures/make_reference.py`
//! (scikit-learn, `zero_division=0`, labels 0..9, log loss clipped at float32
//! epsilon). The cases include a class never predicted, a class never
//! present, a model that always answers 3, and certain right and wrong answers.

use hdr_eval::{classification_report, confusion_matrix, split_metrics, Averages, LOG_LOSS_EPS};
use hdr_model::Prediction;
use serde::Deserialize;

const TOLERANCE: f64 = 1e-9;

#[derive(Deserialize)]
struct Reference {
    log_loss_eps: f64,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    labels: Vec<u8>,
    predicted: Vec<u8>,
    probabilities: Vec<Vec<f64>>,
    expected: Expected,
    report: String,
}

#[derive(Deserialize)]
struct Expected {
    accuracy: f64,
    log_loss: f64,
    #[serde(rename = "macro")]
    macro_avg: Averages,
    weighted: Averages,
    per_class: Vec<ExpectedClass>,
    confusion_matrix: Vec<Vec<u64>>,
    support: u64,
}

#[derive(Deserialize)]
struct ExpectedClass {
    class: u8,
    precision: f64,
    recall: f64,
    f1: f64,
    support: u64,
}

fn reference() -> Reference {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/reference.json");
    let text = std::fs::read_to_string(path).expect("reference.json is committed beside this test");
    serde_json::from_str(&text).expect("reference.json parses")
}

fn predictions(case: &Case) -> Vec<Prediction> {
    case.predicted
        .iter()
        .zip(&case.probabilities)
        .map(|(&digit, row)| {
            let mut probabilities = [0f32; 10];
            for (slot, &value) in probabilities.iter_mut().zip(row) {
                // The script wrote float32 values; serde_json's default float
                // parser may land one f64 ulp away, which rounding to f32 undoes.
                *slot = value as f32;
                let gap = (f64::from(*slot) - value).abs();
                assert!(
                    gap <= value.abs() * 1e-15,
                    "{}: {value} is not a float32 value",
                    case.name
                );
            }
            Prediction {
                digit,
                probabilities,
            }
        })
        .collect()
}

fn close(actual: f64, expected: f64, what: &str) {
    assert!(
        (actual - expected).abs() <= TOLERANCE,
        "{what}: hdr-eval {actual}, scikit-learn {expected}"
    );
}

#[test]
fn fixture_covers_the_edge_cases() {
    let reference = reference();
    assert_eq!(
        reference.log_loss_eps, LOG_LOSS_EPS,
        "the script clips where hdr-eval does"
    );
    let names: Vec<&str> = reference.cases.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["mixed", "single_class", "perfect"]);
    let mixed = &reference.cases[0];
    assert!(
        !mixed.labels.contains(&9) && mixed.predicted.contains(&9),
        "a class predicted but never present"
    );
    assert!(
        mixed.labels.contains(&7) && !mixed.predicted.contains(&7),
        "a class present but never predicted"
    );
    let single = &reference.cases[1];
    assert!(single.predicted.iter().all(|&d| d == 3));
}

#[test]
fn metrics_equal_scikit_learn() {
    for case in reference().cases {
        let name = &case.name;
        let metrics = split_metrics(&case.labels, &predictions(&case));
        let expected = &case.expected;
        close(
            metrics.accuracy,
            expected.accuracy,
            &format!("{name} accuracy"),
        );
        close(
            metrics.log_loss,
            expected.log_loss,
            &format!("{name} log loss"),
        );
        for (label, actual, wanted) in [
            ("macro", metrics.macro_avg, expected.macro_avg),
            ("weighted", metrics.weighted, expected.weighted),
        ] {
            close(
                actual.precision,
                wanted.precision,
                &format!("{name} {label} precision"),
            );
            close(
                actual.recall,
                wanted.recall,
                &format!("{name} {label} recall"),
            );
            close(actual.f1, wanted.f1, &format!("{name} {label} f1"));
        }
        assert_eq!(metrics.per_class.len(), expected.per_class.len());
        for (row, wanted) in metrics.per_class.iter().zip(&expected.per_class) {
            assert_eq!(row.class, wanted.class);
            assert_eq!(
                row.support, wanted.support,
                "{name} class {} support",
                row.class
            );
            close(
                row.precision,
                wanted.precision,
                &format!("{name} class {} precision", row.class),
            );
            close(
                row.recall,
                wanted.recall,
                &format!("{name} class {} recall", row.class),
            );
            close(row.f1, wanted.f1, &format!("{name} class {} f1", row.class));
        }
        assert_eq!(
            metrics.confusion_matrix, expected.confusion_matrix,
            "{name} confusion matrix"
        );
        let direct = confusion_matrix(&case.labels, &case.predicted);
        assert_eq!(
            direct.iter().map(|r| r.to_vec()).collect::<Vec<_>>(),
            expected.confusion_matrix
        );
        assert_eq!(metrics.support, expected.support);
    }
}

#[test]
fn report_text_equals_scikit_learn_line_by_line() {
    for case in reference().cases {
        let ours = classification_report(&split_metrics(&case.labels, &predictions(&case)));
        let theirs: Vec<&str> = case.report.lines().collect();
        let mine: Vec<&str> = ours.lines().collect();
        assert_eq!(
            mine.len(),
            theirs.len(),
            "{}: line count\n{ours}\n---\n{}",
            case.name,
            case.report
        );
        for (number, (a, b)) in mine.iter().zip(&theirs).enumerate() {
            assert_eq!(a, b, "{}: line {}", case.name, number + 1);
        }
        assert_eq!(ours, case.report, "{}: byte for byte", case.name);
    }
}
