//! A local web page and HTTP API that read handwritten digits with the
//! trained model: draw a digit and watch the model read it, drop image files,
//! see the model card and the run's report.
//!
//! Routes:
//! - `GET /` — the page (its script and style sheet come from this server too);
//! - `POST /api/predict` — one PNG, JPEG or BMP image as the body (with an
//!   `image/*` or `application/octet-stream` `Content-Type`); answers the
//!   JSON object that `cargo xtask predict --json` prints for a file, without
//!   the `file` key (`?details=true` adds `probabilities` and the 28x28
//!   `input` the model saw);
//! - `POST /api/predict/batch` — a multipart body of images; one object per
//!   part, errors included, each with the part's `file` name;
//! - `POST /api/samples?label=D` — one image, as for `/api/predict`, saved
//!   as one of the user's own digits (the 28x28 image appended to the
//!   user-samples CSV, the original kept beside it): 201 and the counts;
//!   `GET /api/samples` — the counts; `DELETE /api/samples/last` — takes
//!   back the last one saved;
//! - `POST /api/retrain` — runs the retraining command the server was given
//!   (`cargo xtask serve` gives its pipeline) and swaps in the new model
//!   when it succeeds; `GET /api/retrain` — its progress;
//! - `GET /api/model` — the model card; `GET /healthz`;
//! - `GET /report/PATH` — files of the report folder, and nothing else.
//!
//! Images go through [`hdr_recognize::Recognizer`] exactly as with
//! `cargo xtask predict`: the same decoding limits, preprocessing and model,
//! loaded once and shared by every request, and the same JSON object
//! ([`hdr_recognize::RecognitionJson`]). Predictions run on
//! [`Limits::max_running`] threads of their own, fed by one queue; a thread
//! that finds several single images waiting runs the model once for them all.
//!
//! Exposed, it holds: timeouts for heads and bodies, a cap on connections,
//! bodies read whole before a prediction is admitted, a budget of pixels per
//! batch and of decoded bytes across the server (all in [`Limits`]), `Host`
//! and `Origin` checks and security headers on every answer.
//!
//! ```no_run
//! use hdr_serve::{ServeConfig, Server};
//!
//! let config = ServeConfig::new("artifacts/train/model.safetensors");
//! let server = Server::bind(&config, "127.0.0.1:8080".parse().unwrap())?;
//! println!("http://{}", server.local_addr());
//! server.run_until_signal()?; // until Ctrl-C or SIGTERM
//! # Ok::<(), hdr_serve::ServeError>(())
//! ```

#![deny(missing_docs)]

mod assets;
mod body;
mod budget;
mod card;
mod config;
mod error;
mod guard;
mod listener;
mod recognize;
mod reply;
mod report_files;
mod retrain;
mod routes;
mod samples;
mod server;
mod workers;

pub use card::CardSources;
pub use config::{Limits, ServeConfig};
pub use error::ServeError;
pub use retrain::RetrainCommand;
pub use server::{RunningServer, Server};
