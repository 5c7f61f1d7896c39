//! The evaluation stage: scores the trained model on both splits with
//! accuracy, precision, recall, F1, log loss and confusion matrices.
//!
//! [`run`] reads the data stage's splits and the train stage's weights
//! ([`Paths`]), predicts every image, and writes `metrics.json`,
//! `confusion_{train,test}.csv`, `predictions_test.csv` and
//! `classification_report.txt` all at once (their formats are
//! [`hdr_artifacts`]'). The metrics are pure functions of labels and
//! predictions ([`split_metrics`]), following scikit-learn's definitions
//! (`zero_division=0`, labels 0..=9) and checked against it in
//! `tests/reference.rs`.

#![deny(missing_docs)]

mod config;
mod error;
mod metrics;
mod report;
mod run;

pub use config::Config;
pub use error::Error;
pub use metrics::{
    classification_metrics, confusion_matrix, log_loss, split_metrics, ClassificationMetrics,
    ConfusionMatrix, LOG_LOSS_EPS,
};
pub use report::classification_report;
pub use run::{run, Outputs, Paths};

/// The metrics this stage computes and writes, as the artifact contract
/// defines them (re-exported for callers that read what this stage wrote).
pub use hdr_artifacts::{read_metrics, Averages, ClassMetrics, Metrics, SplitMetrics};
