//! The server's answers that are not predictions: JSON errors with their
//! status, and the headers every answer carries.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// The policy of answers that set none of their own (the page sets a fuller
/// one): no other site may frame them.
const FRAME_POLICY: &str = "frame-ancestors 'none'";

/// A JSON body with a status.
pub(crate) fn json(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// `{"error": message}` with a status.
pub(crate) fn error(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({ "error": message }).to_string();
    json(status, body)
}

/// `{"error": message}` with a status, after which the connection is closed
/// (for a request whose body was not read to its end).
pub(crate) fn closing(status: StatusCode, message: &str) -> Response {
    let mut response = error(status, message);
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// 503 with `Retry-After`, for a server at one of its limits.
pub(crate) fn busy(message: &str) -> Response {
    let mut response = error(StatusCode::SERVICE_UNAVAILABLE, message);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// Adds the headers every answer carries: no content sniffing, no framing by
/// other sites, no referrer sent on from the page.
pub(crate) async fn security_headers(mut response: Response) -> Response {
    add_security_headers(response.headers_mut());
    response
}

fn add_security_headers(headers: &mut HeaderMap) {
    let mut set = |name, value| {
        headers
            .entry(name)
            .or_insert(HeaderValue::from_static(value));
    };
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(header::X_FRAME_OPTIONS, "DENY");
    set(header::REFERRER_POLICY, "no-referrer");
    set(header::CONTENT_SECURITY_POLICY, FRAME_POLICY);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_headers_keep_a_policy_already_set() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'self'"),
        );
        add_security_headers(&mut headers);
        assert_eq!(
            headers[header::CONTENT_SECURITY_POLICY],
            "default-src 'self'"
        );
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
        assert_eq!(headers[header::REFERRER_POLICY], "no-referrer");
        let mut bare = HeaderMap::new();
        add_security_headers(&mut bare);
        assert_eq!(bare[header::CONTENT_SECURITY_POLICY], FRAME_POLICY);
    }
}
