//! The HTTP routes: the page, the prediction API, the model card and the
//! report folder, with the limits that keep the server answering.

use std::path::PathBuf;
use std::sync::{Arc, PoisonError, RwLock};

use axum::body::Bytes;
use axum::extract::multipart::MultipartRejection;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{delete, get, post};
use axum::Router;
use serde::Deserialize;
use tokio::sync::Semaphore;

use crate::assets;
use hdr_recognize::Recognizer;

use crate::body::{self, Bodies};
use crate::budget::{self, Decoding};
use crate::card::{self, CardSources};
use crate::config::{Limits, ServeConfig};
use crate::guard;
use crate::recognize::{Answer, Failure};
use crate::reply::{self, error, json};
use crate::report_files::{self, REPORT_PAGE};
use crate::retrain::Retrainer;
use crate::samples::{SampleError, SampleStore};
use crate::workers::{Refusal, Work, Workers};

/// What every request shares: the model's workers (loaded once), the card,
/// the limits.
#[derive(Debug)]
pub(crate) struct App {
    workers: Workers,
    /// The card of the model being served, rebuilt when a retrained one is swapped in.
    card: RwLock<serde_json::Value>,
    /// The weights and the card's sources, read again after retraining.
    model: PathBuf,
    /// Whether the weights are read with test-time augmentation.
    test_time_augmentation: bool,
    card_sources: CardSources,
    report_dir: Option<PathBuf>,
    limits: Limits,
    /// Whether the server listens on a loopback address (and so answers
    /// requests naming the loopback only).
    loopback: bool,
    /// One permit per prediction request admitted (running or waiting).
    admitted: Arc<Semaphore>,
    /// Decoded bytes the images being predicted declare.
    decoding: Decoding,
    /// Where the user's own digits are saved, when the server keeps them.
    samples: Option<Arc<SampleStore>>,
    /// What the Retrain button runs, when the server was given a command.
    retrainer: Option<Arc<Retrainer>>,
}

impl App {
    /// Starts the prediction workers.
    pub(crate) fn new(
        recognizer: Recognizer,
        card: serde_json::Value,
        config: &ServeConfig,
        loopback: bool,
    ) -> std::io::Result<Self> {
        let limits = config.limits.clone();
        let running = limits.max_running.max(1);
        Ok(Self {
            workers: Workers::start(recognizer, running)?,
            card: RwLock::new(card),
            model: config.model.clone(),
            test_time_augmentation: config.test_time_augmentation,
            card_sources: config.card.clone(),
            retrainer: config
                .retrain
                .clone()
                .map(|command| Arc::new(Retrainer::new(command))),
            report_dir: config.report_dir.clone(),
            loopback,
            admitted: Arc::new(Semaphore::new(running + limits.max_waiting)),
            decoding: Decoding::new(limits.max_decoding_bytes),
            samples: config
                .samples
                .clone()
                .map(|csv| Arc::new(SampleStore::at(csv))),
            limits,
        })
    }

    /// Loads the weights and the card again (after a retraining) and serves
    /// them from now on; says what the new card holds.
    fn reload(&self) -> Result<String, String> {
        let recognizer =
            crate::recognize::load(&self.model, self.test_time_augmentation).map_err(|e| {
                format!("the new model could not be loaded; the old one serves on: {e}")
            })?;
        let card = card::build(&self.model, &self.card_sources).map_err(|e| {
            format!("the new model card could not be read; the old model serves on: {e}")
        })?;
        let mut said = String::from("serving the new model");
        if let Some(accuracy) = card["test_accuracy"].as_f64() {
            said += &format!(": test accuracy {:.2}%", 100.0 * accuracy);
        }
        if let Some(n) = card["user_samples"].as_u64().filter(|&n| n > 0) {
            said += &format!(", learned from {n} of your digits");
        }
        self.workers.swap(recognizer);
        *self.card.write().unwrap_or_else(PoisonError::into_inner) = card;
        Ok(said)
    }

    /// The limits the server runs under.
    pub(crate) fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The answers to `work` from a worker, or the response saying why not.
    async fn predict(&self, work: Work) -> Result<Vec<Answer>, Response> {
        self.workers
            .run(work, self.limits.max_wait)
            .await
            .map_err(|refusal| match refusal {
                Refusal::Busy => reply::busy(BUSY),
                Refusal::Failed => {
                    error(StatusCode::INTERNAL_SERVER_ERROR, "the prediction failed")
                }
            })
    }
}

/// The router of every route.
pub(crate) fn router(app: Arc<App>) -> Router {
    let predictions = Router::new()
        .route("/api/predict", post(predict))
        .route("/api/predict/batch", post(predict_batch))
        .route("/api/samples", post(save_sample))
        .route_layer(middleware::from_fn_with_state(app.clone(), admit));
    Router::new()
        .route(
            "/",
            get(|| async { page(assets::INDEX_HTML, "text/html; charset=utf-8") }),
        )
        .route(
            "/app.js",
            get(|| async { page(assets::APP_JS, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/app.css",
            get(|| async { page(assets::APP_CSS, "text/css; charset=utf-8") }),
        )
        .route(
            "/healthz",
            get(|| async { json(StatusCode::OK, r#"{"status":"ok"}"#.into()) }),
        )
        .route("/api/model", get(model_card))
        .route("/api/samples", get(sample_counts))
        .route("/api/samples/last", delete(undo_sample))
        .route("/api/retrain", get(retrain_status).post(retrain))
        .route("/report", get(to_report_page))
        .route("/report/", get(to_report_page))
        .route("/report/{*path}", get(report_file))
        .merge(predictions)
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such page or API route") })
        .layer(DefaultBodyLimit::max(app.limits.max_body_bytes))
        .layer(middleware::from_fn_with_state(
            Bodies::new(&app.limits),
            body::read_body,
        ))
        .layer(middleware::from_fn_with_state(app.loopback, guard::guard))
        .layer(middleware::map_response(reply::security_headers))
        .with_state(app)
}

/// What a prediction refused for want of a worker is told.
const BUSY: &str = "busy: too many predictions at once; try again shortly";

/// An axum extractor's refusal as a JSON error with its status.
fn refused(status: StatusCode, detail: String) -> Response {
    let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
        "the request body is over the server's size limit".to_string()
    } else {
        detail
    };
    error(status, &message)
}

/// One of the page's own files, never cached so an updated build shows at once.
fn page(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (
                header::CONTENT_SECURITY_POLICY,
                assets::CONTENT_SECURITY_POLICY,
            ),
        ],
        body,
    )
        .into_response()
}

/// Admits a prediction request while fewer than `max_running + max_waiting`
/// are in progress, once its body has arrived; otherwise 503 at once.
async fn admit(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    match app.admitted.clone().try_acquire_owned() {
        Ok(_admitted) => next.run(request).await,
        Err(_) => reply::busy(BUSY),
    }
}

/// 415 for a single image sent without an image `Content-Type`.
fn not_an_image_type() -> Response {
    error(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "send the image with Content-Type image/png, image/jpeg, image/bmp \
         or application/octet-stream",
    )
}

/// Whether a `POST /api/predict` body is declared as an image (any
/// `image/*` type) or as plain bytes (`application/octet-stream`): a web
/// page elsewhere cannot send those without the browser asking first.
fn is_image_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    let essence = essence.to_ascii_lowercase();
    essence == "application/octet-stream"
        || essence
            .strip_prefix("image/")
            .is_some_and(|subtype| !subtype.is_empty())
}

#[derive(Debug, Default, Deserialize)]
struct PredictQuery {
    /// Also return the ten probabilities and the 28x28 image the model saw.
    #[serde(default)]
    details: bool,
}

/// Whether details were asked for, or why the query is malformed.
fn details(query: Result<Query<PredictQuery>, QueryRejection>) -> Result<bool, String> {
    query.map(|Query(q)| q.details).map_err(|e| e.body_text())
}

fn status_of(failure: Option<Failure>) -> StatusCode {
    match failure {
        None => StatusCode::OK,
        Some(Failure::Unsupported) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        Some(Failure::Unprocessable) => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

/// `POST /api/predict`: one PNG, JPEG or BMP image as the body.
async fn predict(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    query: Result<Query<PredictQuery>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if !is_image_type(&headers) {
        return not_an_image_type();
    }
    let details = match details(query) {
        Ok(details) => details,
        Err(message) => return error(StatusCode::BAD_REQUEST, &message),
    };
    let body = match body {
        Ok(body) => body,
        Err(e) => return refused(e.status(), e.body_text()),
    };
    let _decoding = match app.decoding.reserve(budget::weigh([&body[..]]).bytes) {
        Ok(permit) => permit,
        Err(over) => return over.response(),
    };
    match app
        .predict(Work::One {
            bytes: body,
            details,
        })
        .await
    {
        Ok(mut answers) => {
            let Answer {
                json: body,
                failure,
            } = answers.remove(0);
            json(status_of(failure), body)
        }
        Err(response) => response,
    }
}

/// `POST /api/predict/batch`: a multipart body, one image per part.
async fn predict_batch(
    State(app): State<Arc<App>>,
    query: Result<Query<PredictQuery>, QueryRejection>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    let details = match details(query) {
        Ok(details) => details,
        Err(message) => return error(StatusCode::BAD_REQUEST, &message),
    };
    let mut multipart = match multipart {
        Ok(multipart) => multipart,
        Err(e) => return refused(e.status(), e.body_text()),
    };
    let mut files: Vec<(String, Bytes)> = Vec::new();
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => return refused(e.status(), e.body_text()),
        };
        if files.len() == app.limits.max_batch_files {
            let message = format!(
                "more than {} files in one request; send them in several",
                app.limits.max_batch_files
            );
            return error(StatusCode::PAYLOAD_TOO_LARGE, &message);
        }
        let name = field
            .file_name()
            .or(field.name())
            .map(str::to_string)
            .unwrap_or_else(|| format!("part {}", files.len() + 1));
        match field.bytes().await {
            Ok(bytes) => files.push((name, bytes)),
            Err(e) => return refused(e.status(), e.body_text()),
        }
    }
    if files.is_empty() {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "no files in the multipart body: send each image as a part, e.g. curl -F file=@7.png",
        );
    }
    let weight = budget::weigh(files.iter().map(|(_, bytes)| &bytes[..]));
    if let Some(response) = budget::too_many_pixels(weight, app.limits.max_batch_pixels) {
        return response;
    }
    let _decoding = match app.decoding.reserve(weight.bytes) {
        Ok(permit) => permit,
        Err(over) => return over.response(),
    };
    match app.predict(Work::Many { files, details }).await {
        Ok(answers) => {
            let objects: Vec<String> = answers.into_iter().map(|a| a.json).collect();
            json(StatusCode::OK, format!("[{}]", objects.join(",")))
        }
        Err(response) => response,
    }
}

#[derive(Debug, Default, Deserialize)]
struct SampleQuery {
    label: Option<String>,
}

/// The answer of a server that keeps no digits.
fn no_samples() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "this server keeps no digits: start it with --samples FILE (cargo xtask serve does)",
    )
}

/// A store's refusal as an answer: 409 for a damaged or changed file, 404
/// when nothing is left to take back, 500 when a file cannot be written.
fn sample_refusal(e: &SampleError) -> Response {
    let status = match e {
        SampleError::Damaged { .. } | SampleError::Changed { .. } => StatusCode::CONFLICT,
        SampleError::NothingToUndo => StatusCode::NOT_FOUND,
        SampleError::Io { .. } => StatusCode::INTERNAL_SERVER_ERROR,
    };
    error(status, &e.to_string())
}

/// `POST /api/samples?label=D`: one image, as for `/api/predict`, saved
/// with its label as one of the user's own digits; 201 with the counts.
async fn save_sample(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    query: Result<Query<SampleQuery>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Some(store) = app.samples.clone() else {
        return no_samples();
    };
    if !is_image_type(&headers) {
        return not_an_image_type();
    }
    let label = match query.map(|Query(q)| q.label) {
        Ok(Some(text)) => match text.parse::<u8>() {
            Ok(label) if usize::from(label) < hdr_recognize::NUM_CLASSES => label,
            _ => {
                let message = format!("label must be a digit 0-9, got {text:?}");
                return error(StatusCode::UNPROCESSABLE_ENTITY, &message);
            }
        },
        Ok(None) => {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "say which digit it is: POST /api/samples?label=D with D in 0-9",
            )
        }
        Err(e) => return error(StatusCode::BAD_REQUEST, &e.body_text()),
    };
    let body = match body {
        Ok(body) => body,
        Err(e) => return refused(e.status(), e.body_text()),
    };
    let _decoding = match app.decoding.reserve(budget::weigh([&body[..]]).bytes) {
        Ok(permit) => permit,
        Err(over) => return over.response(),
    };
    let saved = tokio::task::spawn_blocking(move || {
        let pixels = crate::recognize::prepare_upload(&body)?;
        let extension = crate::recognize::extension_of(&body);
        Ok::<_, crate::recognize::Answer>(store.save(label, &pixels, &body, extension))
    })
    .await;
    match saved {
        Ok(Ok(Ok(counts))) => {
            let mut extra = serde_json::Map::new();
            extra.insert("label".into(), label.into());
            json(StatusCode::CREATED, counts.json(extra))
        }
        Ok(Ok(Err(e))) => sample_refusal(&e),
        Ok(Err(answer)) => json(status_of(answer.failure), answer.json),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "saving the digit failed"),
    }
}

/// `GET /api/samples`: how many digits are saved, per label.
async fn sample_counts(State(app): State<Arc<App>>) -> Response {
    let Some(store) = app.samples.clone() else {
        return no_samples();
    };
    match tokio::task::spawn_blocking(move || store.counts()).await {
        Ok(Ok(counts)) => json(StatusCode::OK, counts.json(serde_json::Map::new())),
        Ok(Err(e)) => sample_refusal(&e),
        Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "counting the digits failed",
        ),
    }
}

/// `DELETE /api/samples/last`: takes back the last digit this server saved.
async fn undo_sample(State(app): State<Arc<App>>) -> Response {
    let Some(store) = app.samples.clone() else {
        return no_samples();
    };
    match tokio::task::spawn_blocking(move || store.undo_last()).await {
        Ok(Ok((label, counts))) => {
            let mut extra = serde_json::Map::new();
            extra.insert("removed".into(), serde_json::json!({ "label": label }));
            json(StatusCode::OK, counts.json(extra))
        }
        Ok(Err(e)) => sample_refusal(&e),
        Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "taking the digit back failed",
        ),
    }
}

/// The answer of a server that cannot retrain.
fn no_retrainer() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "this server cannot retrain: start it with `-- COMMAND` (cargo xtask serve does)",
    )
}

/// `POST /api/retrain`: starts the pipeline (202), unless it is running (409).
async fn retrain(State(app): State<Arc<App>>) -> Response {
    let Some(retrainer) = app.retrainer.clone() else {
        return no_retrainer();
    };
    let reloading = app.clone();
    match retrainer.start(move || reloading.reload()) {
        Ok(status) => json(StatusCode::ACCEPTED, status_json(&status)),
        Err(running) => json(StatusCode::CONFLICT, status_json(&running)),
    }
}

/// `GET /api/retrain`: where the last retraining stands.
async fn retrain_status(State(app): State<Arc<App>>) -> Response {
    match &app.retrainer {
        Some(retrainer) => json(StatusCode::OK, status_json(&retrainer.status())),
        None => no_retrainer(),
    }
}

fn status_json(status: &crate::retrain::Status) -> String {
    serde_json::to_string(status).expect("plain structs serialise")
}

/// `GET /api/model`: the card, with a link to the report when there is one.
async fn model_card(State(app): State<Arc<App>>) -> Response {
    let mut card = app
        .card
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    if report_files::resolve(app.report_dir.as_deref(), REPORT_PAGE).is_ok() {
        card["report"] = format!("/report/{REPORT_PAGE}").into();
    }
    json(StatusCode::OK, card.to_string())
}

async fn to_report_page() -> Redirect {
    Redirect::to(&format!("/report/{REPORT_PAGE}"))
}

/// `GET /report/PATH`: a file of the report folder, or 404.
async fn report_file(
    State(app): State<Arc<App>>,
    path: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Response {
    let not_found = || error(StatusCode::NOT_FOUND, "no such file in the report");
    let Ok(Path(path)) = path else {
        return not_found();
    };
    let dir = app.report_dir.clone();
    let file = tokio::task::spawn_blocking(move || {
        let file = report_files::resolve(dir.as_deref(), &path).ok()?;
        let bytes = report_files::read(&file)?;
        Some((report_files::content_type(&file), bytes))
    })
    .await;
    match file {
        Ok(Some((content_type, bytes))) => (
            [
                (header::CONTENT_TYPE, content_type),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            bytes,
        )
            .into_response(),
        _ => not_found(),
    }
}
