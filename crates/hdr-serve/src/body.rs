//! Request bodies: read whole before a route sees them, within
//! [`Limits::max_body_bytes`] and [`Limits::body_timeout`], and counted
//! against [`Limits::max_upload_bytes`] until answered; so a prediction is
//! admitted to the workers only once its body has arrived, and a slow
//! upload holds no worker's place.
//!
//! A body refused early (too large, or a request refused by its headers) is
//! read on and thrown away, up to [`DRAIN_BYTES`] for [`DRAIN_TIME`], before
//! the answer goes out: clients that send the whole body before reading
//! (Python's `urllib` and `requests`) then read the answer instead of a reset.
//!
//! [`Limits::max_body_bytes`]: crate::Limits::max_body_bytes
//! [`Limits::body_timeout`]: crate::Limits::body_timeout
//! [`Limits::max_upload_bytes`]: crate::Limits::max_upload_bytes

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, HttpBody as _};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use http_body_util::BodyExt as _;
use tokio::time::{timeout_at, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};

use crate::config::Limits;
use crate::reply;

/// Most bytes of a refused body read and thrown away before answering.
pub(crate) const DRAIN_BYTES: u64 = 64 * 1024 * 1024;
/// Longest time spent reading a refused body before answering.
pub(crate) const DRAIN_TIME: Duration = Duration::from_secs(5);

/// How bodies are read: the limits, and the memory they may take together.
#[derive(Debug, Clone)]
pub(crate) struct Bodies {
    max_bytes: usize,
    timeout: Duration,
    /// One permit per byte of request bodies in memory.
    in_memory: Arc<Semaphore>,
}

impl Bodies {
    /// Bodies within `limits`.
    pub(crate) fn new(limits: &Limits) -> Self {
        Self {
            max_bytes: limits.max_body_bytes,
            timeout: limits.body_timeout,
            in_memory: Arc::new(Semaphore::new(limits.max_upload_bytes)),
        }
    }

    /// Holds `bytes` of the memory for request bodies, if that much is free.
    fn reserve(&self, bytes: usize) -> Result<OwnedSemaphorePermit, TryAcquireError> {
        let bytes = u32::try_from(bytes).unwrap_or(u32::MAX);
        self.in_memory.clone().try_acquire_many_owned(bytes)
    }
}

/// Reads the body whole, then hands the request on with it.
pub(crate) async fn read_body(
    State(bodies): State<Bodies>,
    request: Request,
    next: Next,
) -> Response {
    if request.body().is_end_stream() {
        return next.run(request).await;
    }
    let max = bodies.max_bytes;
    let declared = declared_length(request.headers());
    if declared.is_some_and(|length| length > max as u64) {
        drain(request).await;
        return too_large();
    }
    let weight = declared.map_or(max, |length| length as usize);
    let Ok(_upload) = bodies.reserve(weight) else {
        return reply::busy("busy: too many uploads arriving at once; try again shortly");
    };
    let deadline = Instant::now() + bodies.timeout;
    let (parts, mut body) = request.into_parts();
    let mut bytes = Vec::with_capacity(weight.min(max));
    loop {
        match timeout_at(deadline, body.frame()).await {
            Err(_) => {
                let message = format!(
                    "the request body took longer than {} to arrive",
                    humantime::format_duration(bodies.timeout)
                );
                return reply::closing(StatusCode::REQUEST_TIMEOUT, &message);
            }
            Ok(None) => break,
            Ok(Some(Err(_))) => {
                return reply::closing(
                    StatusCode::BAD_REQUEST,
                    "the request body could not be read",
                )
            }
            Ok(Some(Ok(frame))) => {
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                if bytes.len() + data.len() > max {
                    drain_body(body, parts.headers.contains_key(header::EXPECT)).await;
                    return too_large();
                }
                bytes.extend_from_slice(&data);
            }
        }
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// 413 for a body over the limit.
pub(crate) fn too_large() -> Response {
    reply::closing(
        StatusCode::PAYLOAD_TOO_LARGE,
        "the request body is over the server's size limit",
    )
}

/// The `Content-Length` a request declares, if any.
fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// Reads the rest of a refused request's body and throws it away (up to
/// [`DRAIN_BYTES`] for [`DRAIN_TIME`]); nothing for a client that waits for
/// `100 Continue`, since it sends no body until told to.
pub(crate) async fn drain(request: Request) {
    let waits = request.headers().contains_key(header::EXPECT);
    drain_body(request.into_body(), waits).await;
}

async fn drain_body(mut body: Body, waits_for_continue: bool) {
    if waits_for_continue || body.is_end_stream() {
        return;
    }
    let deadline = Instant::now() + DRAIN_TIME;
    let mut read = 0;
    while read < DRAIN_BYTES {
        match timeout_at(deadline, body.frame()).await {
            Ok(Some(Ok(frame))) => {
                read += frame.data_ref().map_or(0, |data| data.len() as u64);
            }
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn the_declared_length_is_read_when_it_is_a_number() {
        let mut headers = HeaderMap::new();
        assert_eq!(declared_length(&headers), None);
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("12"));
        assert_eq!(declared_length(&headers), Some(12));
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("lots"));
        assert_eq!(declared_length(&headers), None);
    }
}
