//! What to serve and how much to take on at once: the settings the server
//! and its routes both read, below both.

use std::path::PathBuf;
use std::time::Duration;

use crate::card::CardSources;
use crate::retrain::RetrainCommand;

/// How much the server takes on at once, and how long it waits for a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest request body accepted; larger ones get 413.
    pub max_body_bytes: usize,
    /// Request bodies held in memory at once, counted by their declared
    /// length (or [`Limits::max_body_bytes`] when undeclared) from the moment
    /// they start arriving until answered; a body over it gets 503 at once.
    pub max_upload_bytes: usize,
    /// Threads running predictions, each taking one batch request, or up to
    /// [`Classifier::CHUNK`](hdr_recognize::Classifier::CHUNK) waiting
    /// single images, at a time.
    pub max_running: usize,
    /// Prediction requests admitted beyond those running; more get 503 at
    /// once. A request is admitted once its body has arrived.
    pub max_waiting: usize,
    /// How long an admitted request waits for a thread to take it before it gets 503.
    pub max_wait: Duration,
    /// Most files in one batch request; more get 413.
    pub max_batch_files: usize,
    /// Most pixels the images of one batch may declare in all (read from
    /// each part's header before any is decoded); more get 413.
    pub max_batch_pixels: u64,
    /// Bytes of images being decoded at once across the server, each image
    /// weighed by the size its header declares; a request that would go
    /// over gets 503 (413 if it alone is over).
    pub max_decoding_bytes: u64,
    /// Open connections at once; a connection beyond them gets 503 and is closed.
    pub max_connections: usize,
    /// How long a client has to send a request's head, counted from the
    /// connection's start or from the end of the previous answer (so it is
    /// also how long an idle keep-alive connection stays open).
    pub header_timeout: Duration,
    /// How long a client has to send a request's whole body once its head
    /// has arrived; a slower one gets 408 and is closed.
    pub body_timeout: Duration,
    /// How long a stop waits for the requests in progress before closing
    /// their connections.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    /// 10 MB bodies and at most 256 MB of them in memory, one prediction
    /// thread per CPU core, 64 waiting for at most 5 s, batches of up to 100
    /// files declaring 250 million pixels, 1 GB decoded at once, 512
    /// connections, 10 s to send a head (or stay idle), 30 s to send a body,
    /// 10 s to finish when stopped.
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            max_body_bytes: 10 * 1024 * 1024,
            max_upload_bytes: 256 * 1024 * 1024,
            max_running: cores,
            max_waiting: 64,
            max_wait: Duration::from_secs(5),
            max_batch_files: 100,
            max_batch_pixels: 250_000_000,
            max_decoding_bytes: 1_000_000_000,
            max_connections: 512,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(10),
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
    /// The user-samples CSV the page's "Right" / "Wrong" buttons append to
    /// (`POST /api/samples`), created on the first save; `None` keeps no digits.
    pub samples: Option<PathBuf>,
    /// What the page's Retrain button runs (the pipeline); `None` hides it.
    pub retrain: Option<RetrainCommand>,
    /// Read each digit as the mean of itself and its one-pixel shifts
    /// ([`hdr_recognize::Recognizer::with_test_time_augmentation`]).
    pub test_time_augmentation: bool,
}

impl ServeConfig {
    /// Serves `model` with no model card sources, no report and the default limits.
    pub fn new(model: impl Into<PathBuf>) -> Self {
        Self {
            model: model.into(),
            card: CardSources::default(),
            report_dir: None,
            limits: Limits::default(),
            samples: None,
            retrain: None,
            test_time_augmentation: false,
        }
    }
}
