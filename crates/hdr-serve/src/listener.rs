//! The accept loop: each connection served by hyper with a deadline for
//! every request head (which is also the idle keep-alive timeout), at most
//! [`Limits::max_connections`] open at once, and a stop that lets the
//! requests in progress finish for [`Limits::shutdown_grace`] at most.
//!
//! `axum::serve` has none of these knobs, so the loop is written here on
//! hyper's own connection builder, as `axum::serve` is.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};

use crate::config::Limits;

/// Connections over the cap being answered 503 at once; beyond these a
/// connection is closed without a word.
const REFUSALS_AT_ONCE: usize = 64;
/// How long a refused connection is given to send its head and read the 503.
const REFUSAL_TIME: Duration = Duration::from_secs(1);
/// How long to wait before accepting again after `accept` fails (out of
/// file descriptors, say), rather than spinning.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// What a connection over the cap reads before it is closed.
fn refusal() -> Vec<u8> {
    let body = r#"{"error":"busy: too many open connections; try again shortly"}"#;
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Serves `router` on `listener` until `stop` resolves; then stops
/// accepting, asks each connection to close after its request in progress,
/// and waits for them at most `limits.shutdown_grace`, or until `force`
/// resolves.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: &Limits,
    stop: impl Future<Output = ()>,
    force: impl Future<Output = ()>,
) {
    let capacity = limits.max_connections.max(1);
    let connections = Arc::new(Semaphore::new(capacity));
    let refusals = Arc::new(Semaphore::new(REFUSALS_AT_ONCE));
    let (stopping, stopped) = watch::channel(false);
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    tokio::pin!(stop);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => {
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        match connections.clone().try_acquire_owned() {
            Ok(open) => {
                let connection = builder.serve_connection(
                    TokioIo::new(stream),
                    TowerToHyperService::new(router.clone()),
                );
                let mut stopped = stopped.clone();
                tokio::spawn(async move {
                    let _open = open;
                    tokio::pin!(connection);
                    tokio::select! {
                        _ = connection.as_mut() => return,
                        _ = stopped.wait_for(|stop| *stop) => connection.as_mut().graceful_shutdown(),
                    }
                    let _ = connection.await;
                });
            }
            Err(_) => {
                if let Ok(refusing) = refusals.clone().try_acquire_owned() {
                    tokio::spawn(async move {
                        let _refusing = refusing;
                        let _ = tokio::time::timeout(REFUSAL_TIME, refuse(stream)).await;
                    });
                }
            }
        }
    }
    drop(listener);
    let _ = stopping.send(true);
    let all_closed = connections.acquire_many(u32::try_from(capacity).unwrap_or(u32::MAX));
    tokio::select! {
        _ = all_closed => {}
        () = tokio::time::sleep(limits.shutdown_grace) => {}
        () = force => {}
    }
}

/// Answers a connection over the cap with 503 and closes it: what the client
/// sent first is read (so that closing does not reset the connection before
/// the answer is read), then the answer written.
async fn refuse(mut stream: TcpStream) {
    let mut head = [0; 4096];
    let _ = tokio::time::timeout(REFUSAL_TIME / 4, stream.read(&mut head)).await;
    if stream.write_all(&refusal()).await.is_ok() {
        let _ = stream.shutdown().await;
        // Read what else comes until the client closes, so it reads the 503.
        while matches!(stream.read(&mut head).await, Ok(n) if n > 0) {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_is_a_complete_json_answer() {
        let text = String::from_utf8(refusal()).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 503 "));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let value: serde_json::Value = serde_json::from_str(body).unwrap();
        assert!(value["error"].as_str().unwrap().contains("connections"));
    }
}
