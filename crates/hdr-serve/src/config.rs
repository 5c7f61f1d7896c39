//! What to serve and how much to take on at once: the settings the server
//! and its routes both read, below both.

use std::path::PathBuf;
use std::time::Duration;

use crate::card::CardSources;

/// How much the server takes on at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest request body accepted; larger ones get 413.
    pub max_body_bytes: usize,
    /// Threads running predictions, each taking one batch request, or up to
    /// [`Classifier::CHUNK`](hdr_recognize::Classifier::CHUNK) waiting
    /// single images, at a time.
    pub max_running: usize,
    /// Prediction requests admitted beyond those running; more get 503 at once.
    pub max_waiting: usize,
    /// How long an admitted request waits for a thread to take it before it gets 503.
    pub max_wait: Duration,
    /// Most files in one batch request; more get 413.
    pub max_batch_files: usize,
}

impl Default for Limits {
    /// 10 MB bodies, one prediction thread per CPU core, 64 waiting for at most 5 s,
    /// batches of up to 100 files.
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            max_body_bytes: 10 * 1024 * 1024,
            max_running: cores,
            max_waiting: 64,
            max_wait: Duration::from_secs(5),
            max_batch_files: 100,
        }
    }
}

/// What to serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeConfig {
    /// The weights file, loaded once at start-up.
    pub model: PathBuf,
    /// Where the model card's facts come from.
    pub card: CardSources,
    /// The report folder (`artifacts/report`) whose files are served under
    /// `/report/`; nothing outside it is ever served.
    pub report_dir: Option<PathBuf>,
    /// How much the server takes on at once.
    pub limits: Limits,
}

impl ServeConfig {
    /// Serves `model` with no model card sources, no report and the default limits.
    pub fn new(model: impl Into<PathBuf>) -> Self {
        Self {
            model: model.into(),
            card: CardSources::default(),
            report_dir: None,
            limits: Limits::default(),
        }
    }
}
