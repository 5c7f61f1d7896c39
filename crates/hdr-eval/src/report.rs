//! The text classification report, laid out exactly like scikit-learn's
//! `classification_report(y_true, y_pred, labels=range(10), digits=4)`.

use std::fmt::Write;

use hdr_artifacts::{Averages, SplitMetrics};

/// Digits after the decimal point, as `digits=4`.
const DIGITS: usize = 4;
/// Width of the row-name column: scikit-learn uses its longest heading, "weighted avg".
const NAME_WIDTH: usize = "weighted avg".len();

/// The per-class table, accuracy and averages of one split, as scikit-learn
/// prints it with `digits=4` (the same characters, line for line).
pub fn classification_report(metrics: &SplitMetrics) -> String {
    let mut out = String::new();
    // `write!` to a String cannot fail.
    let _ = writeln!(
        out,
        "{:>NAME_WIDTH$}  {:>9} {:>9} {:>9} {:>9}",
        "", "precision", "recall", "f1-score", "support"
    );
    out.push('\n');
    for row in &metrics.per_class {
        let averages = Averages {
            precision: row.precision,
            recall: row.recall,
            f1: row.f1,
        };
        push_row(&mut out, &row.class.to_string(), &averages, row.support);
    }
    out.push('\n');
    let support: u64 = metrics.per_class.iter().map(|row| row.support).sum();
    let _ = writeln!(
        out,
        "{:>NAME_WIDTH$}  {:>9} {:>9} {:>9.DIGITS$} {:>9}",
        "accuracy", "", "", metrics.accuracy, support
    );
    push_row(&mut out, "macro avg", &metrics.macro_avg, support);
    push_row(&mut out, "weighted avg", &metrics.weighted, support);
    out
}

fn push_row(out: &mut String, name: &str, values: &Averages, support: u64) {
    let _ = writeln!(
        out,
        "{name:>NAME_WIDTH$}  {:>9.DIGITS$} {:>9.DIGITS$} {:>9.DIGITS$} {support:>9}",
        values.precision, values.recall, values.f1
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::split_metrics;
    use hdr_model::Prediction;

    #[test]
    fn has_the_scikit_learn_shape() {
        let labels = [0u8, 1, 1, 2];
        let predictions: Vec<Prediction> = [0u8, 1, 2, 2]
            .iter()
            .map(|&digit| {
                let mut probabilities = [0.0; 10];
                probabilities[usize::from(digit)] = 1.0;
                Prediction {
                    digit,
                    probabilities,
                }
            })
            .collect();
        let text = classification_report(&split_metrics(&labels, &predictions));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2 + 10 + 1 + 3);
        assert_eq!(
            lines[0],
            "              precision    recall  f1-score   support"
        );
        assert_eq!(lines[1], "");
        assert_eq!(
            lines[3],
            "           1     1.0000    0.5000    0.6667         2"
        );
        assert_eq!(lines[12], "");
        assert_eq!(
            lines[13],
            "    accuracy                         0.7500         4"
        );
        assert!(lines[15].starts_with("weighted avg "));
        assert!(text.ends_with('\n'));
    }
}
