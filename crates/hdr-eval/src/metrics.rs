//! Pure classification metrics, defined as scikit-learn defines them with
//! `labels=range(10)` and `zero_division=0`: a ratio whose denominator is 0
//! is 0, so no metric is ever NaN.

use hdr_artifacts::{Averages, ClassMetrics, SplitMetrics, NUM_CLASSES};
use hdr_model::Prediction;

/// Counts of (true class, predicted class) pairs: rows = true, columns = predicted.
pub type ConfusionMatrix = [[u64; NUM_CLASSES]; NUM_CLASSES];

/// Log loss clips the true class's probability to `[LOG_LOSS_EPS, 1 - LOG_LOSS_EPS]`
/// so that a confident mistake costs a finite amount. This is float32's machine
/// epsilon (2^-23), the value scikit-learn (>= 1.5) clips to for float32
/// probabilities, which is what the model outputs.
pub const LOG_LOSS_EPS: f64 = f32::EPSILON as f64;

/// Everything derived from a confusion matrix alone.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassificationMetrics {
    /// One row per class 0..=9.
    pub per_class: Vec<ClassMetrics>,
    /// Unweighted mean of the per-class rows.
    pub macro_avg: Averages,
    /// Mean of the per-class rows weighted by support.
    pub weighted: Averages,
    /// Share of correct predictions (0 when there are none).
    pub accuracy: f64,
}

/// The confusion matrix of `labels` against `predicted` (rows = true class).
///
/// # Panics
/// If the slices differ in length or hold a value above 9; [`crate::run`]
/// checks its inputs first, so this only catches programming errors.
pub fn confusion_matrix(labels: &[u8], predicted: &[u8]) -> ConfusionMatrix {
    assert_eq!(labels.len(), predicted.len(), "one prediction per label");
    let mut counts = [[0u64; NUM_CLASSES]; NUM_CLASSES];
    for (&truth, &guess) in labels.iter().zip(predicted) {
        assert!(
            usize::from(truth) < NUM_CLASSES && usize::from(guess) < NUM_CLASSES,
            "class out of range: label {truth}, predicted {guess}"
        );
        counts[usize::from(truth)][usize::from(guess)] += 1;
    }
    counts
}

/// `numerator / denominator`, or 0 when the denominator is 0 (`zero_division=0`).
fn ratio(numerator: f64, denominator: f64) -> f64 {
    if denominator == 0.0 {
        0.0
    } else {
        numerator / denominator
    }
}

/// Per-class precision, recall, F1 and support, their macro and weighted
/// means, and accuracy, as scikit-learn computes them with `zero_division=0`.
pub fn classification_metrics(confusion: &ConfusionMatrix) -> ClassificationMetrics {
    let total: u64 = confusion.iter().flatten().sum();
    let correct: u64 = (0..NUM_CLASSES).map(|c| confusion[c][c]).sum();
    let per_class: Vec<ClassMetrics> = (0..NUM_CLASSES)
        .map(|c| {
            let true_positives = confusion[c][c] as f64;
            let support: u64 = confusion[c].iter().sum();
            let predicted: u64 = confusion.iter().map(|row| row[c]).sum();
            ClassMetrics {
                class: c as u8,
                precision: ratio(true_positives, predicted as f64),
                recall: ratio(true_positives, support as f64),
                // 2PR/(P+R) written with counts, as scikit-learn does.
                f1: ratio(2.0 * true_positives, (support + predicted) as f64),
                support,
            }
        })
        .collect();
    let mean = |weight: &dyn Fn(&ClassMetrics) -> f64| {
        let weights: f64 = per_class.iter().map(weight).sum();
        let average = |value: fn(&ClassMetrics) -> f64| {
            ratio(
                per_class.iter().map(|row| weight(row) * value(row)).sum(),
                weights,
            )
        };
        Averages {
            precision: average(|r| r.precision),
            recall: average(|r| r.recall),
            f1: average(|r| r.f1),
        }
    };
    ClassificationMetrics {
        macro_avg: mean(&|_| 1.0),
        weighted: mean(&|row| row.support as f64),
        accuracy: ratio(correct as f64, total as f64),
        per_class,
    }
}

/// Mean negative log of the probability given to the true class, clipped to
/// `[LOG_LOSS_EPS, 1 - LOG_LOSS_EPS]` (a NaN probability counts as 0); 0 for no images.
///
/// # Panics
/// If the slices differ in length or a label is above 9.
pub fn log_loss(labels: &[u8], probabilities: &[[f32; NUM_CLASSES]]) -> f64 {
    assert_eq!(
        labels.len(),
        probabilities.len(),
        "one probability row per label"
    );
    if labels.is_empty() {
        return 0.0;
    }
    let total: f64 = labels
        .iter()
        .zip(probabilities)
        .map(|(&label, row)| {
            let p = f64::from(row[usize::from(label)]);
            let p = if p.is_nan() { 0.0 } else { p };
            -p.clamp(LOG_LOSS_EPS, 1.0 - LOG_LOSS_EPS).ln()
        })
        .sum();
    total / labels.len() as f64
}

/// Every metric of one split. `images_per_s` is left at 0: only the caller
/// that timed the predictions knows it.
///
/// # Panics
/// If the slices differ in length or a label is above 9.
pub fn split_metrics(labels: &[u8], predictions: &[Prediction]) -> SplitMetrics {
    let predicted: Vec<u8> = predictions.iter().map(|p| p.digit).collect();
    let probabilities: Vec<[f32; NUM_CLASSES]> =
        predictions.iter().map(|p| p.probabilities).collect();
    let confusion = confusion_matrix(labels, &predicted);
    let scores = classification_metrics(&confusion);
    SplitMetrics {
        accuracy: scores.accuracy,
        log_loss: log_loss(labels, &probabilities),
        macro_avg: scores.macro_avg,
        weighted: scores.weighted,
        per_class: scores.per_class,
        confusion_matrix: confusion.iter().map(|row| row.to_vec()).collect(),
        support: labels.len() as u64,
        images_per_s: 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prediction(digit: u8, confidence: f32) -> Prediction {
        let rest = (1.0 - confidence) / (NUM_CLASSES - 1) as f32;
        let mut probabilities = [rest; NUM_CLASSES];
        probabilities[usize::from(digit)] = confidence;
        Prediction {
            digit,
            probabilities,
        }
    }

    fn all_finite(m: &SplitMetrics) -> bool {
        let averages = [m.macro_avg, m.weighted];
        [m.accuracy, m.log_loss, m.images_per_s]
            .iter()
            .all(|v| v.is_finite())
            && averages
                .iter()
                .all(|a| a.precision.is_finite() && a.recall.is_finite() && a.f1.is_finite())
            && m.per_class
                .iter()
                .all(|r| r.precision.is_finite() && r.recall.is_finite() && r.f1.is_finite())
    }

    #[test]
    fn confusion_rows_are_true_classes() {
        let confusion = confusion_matrix(&[1, 1, 2], &[1, 2, 2]);
        assert_eq!(confusion[1][1], 1);
        assert_eq!(confusion[1][2], 1);
        assert_eq!(confusion[2][2], 1);
        assert_eq!(confusion.iter().flatten().sum::<u64>(), 3);
    }

    #[test]
    fn hand_computed_two_class_example() {
        // Class 0: tp 2, fp 1, fn 1. Class 1: tp 1, fp 1, fn 1.
        let scores = classification_metrics(&confusion_matrix(&[0, 0, 0, 1, 1], &[0, 0, 1, 1, 0]));
        let zero = scores.per_class[0];
        assert!((zero.precision - 2.0 / 3.0).abs() < 1e-12);
        assert!((zero.recall - 2.0 / 3.0).abs() < 1e-12);
        assert!((zero.f1 - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(zero.support, 3);
        let one = scores.per_class[1];
        assert!((one.precision - 0.5).abs() < 1e-12 && (one.recall - 0.5).abs() < 1e-12);
        assert!((scores.accuracy - 0.6).abs() < 1e-12);
        // Macro averages over all ten classes, absent ones counting as 0.
        assert!((scores.macro_avg.precision - (2.0 / 3.0 + 0.5) / 10.0).abs() < 1e-12);
        assert!((scores.weighted.recall - (3.0 * 2.0 / 3.0 + 2.0 * 0.5) / 5.0).abs() < 1e-12);
    }

    #[test]
    fn a_model_that_predicts_one_class_gives_finite_metrics() {
        let labels: Vec<u8> = (0..50).map(|i| (i % 10) as u8).collect();
        let predictions: Vec<Prediction> = labels.iter().map(|_| prediction(4, 1.0)).collect();
        let m = split_metrics(&labels, &predictions);
        assert!(all_finite(&m), "{m:?}");
        assert!((m.accuracy - 0.1).abs() < 1e-12);
        assert!((m.per_class[4].precision - 0.1).abs() < 1e-12);
        assert_eq!(m.per_class[4].recall, 1.0);
        assert_eq!(m.per_class[0].precision, 0.0);
        assert_eq!(m.per_class[0].f1, 0.0);
        // 45 certain mistakes at probability 0, clipped to eps.
        assert!(
            (m.log_loss - 0.9 * -LOG_LOSS_EPS.ln()).abs() < 1e-6,
            "{}",
            m.log_loss
        );
        let json = serde_json::to_string(&m).unwrap();
        assert!(!json.contains("null") && !json.contains("NaN"), "{json}");
    }

    #[test]
    fn no_images_gives_zeros_not_nan() {
        let m = split_metrics(&[], &[]);
        assert!(all_finite(&m));
        assert_eq!((m.accuracy, m.log_loss, m.support), (0.0, 0.0, 0));
        assert_eq!(m.confusion_matrix, vec![vec![0; NUM_CLASSES]; NUM_CLASSES]);
    }

    #[test]
    fn log_loss_clips_both_ends_and_ignores_nan() {
        let mut certain = [0.0f32; NUM_CLASSES];
        certain[3] = 1.0;
        assert!((log_loss(&[3], &[certain]) - -(1.0 - LOG_LOSS_EPS).ln()).abs() < 1e-15);
        assert!((log_loss(&[2], &[certain]) - -LOG_LOSS_EPS.ln()).abs() < 1e-12);
        let mut broken = certain;
        broken[2] = f32::NAN;
        assert!(log_loss(&[2], &[broken]).is_finite());
        let half = [0.5f32, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        assert!((log_loss(&[0, 1], &[half, half]) - std::f64::consts::LN_2).abs() < 1e-12);
    }

    #[test]
    #[should_panic(expected = "class out of range")]
    fn labels_above_nine_are_a_programming_error() {
        confusion_matrix(&[10], &[0]);
    }
}
