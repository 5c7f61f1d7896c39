//! Who may use the server: on a loopback bind only requests naming the
//! loopback in `Host` are served (a page elsewhere that rebinds its own name
//! to 127.0.0.1 gets 421), and a POST whose `Origin` is another site's is
//! refused (403), so no web page a user visits can drive the local server.

use std::net::IpAddr;

use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

use crate::body;
use crate::reply;

/// Refuses requests for another host (when the server listens on a
/// `loopback` address) and POSTs from another site's page; serves the rest.
pub(crate) async fn guard(State(loopback): State<bool>, request: Request, next: Next) -> Response {
    match refusal(&request, loopback) {
        None => next.run(request).await,
        Some((status, message)) => {
            body::drain(request).await;
            reply::closing(status, message)
        }
    }
}

/// Why a request is refused, if it is.
fn refusal(request: &Request, loopback: bool) -> Option<(StatusCode, &'static str)> {
    let headers = request.headers();
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    if loopback {
        let named = request.uri().authority().map(|a| a.as_str()).or(host);
        if !named.is_some_and(names_loopback) || !host.is_none_or(names_loopback) {
            return Some((
                StatusCode::MISDIRECTED_REQUEST,
                "this server answers requests for localhost, 127.0.0.1 or [::1] only",
            ));
        }
    }
    if ![Method::GET, Method::HEAD].contains(request.method()) {
        if let Some(origin) = headers.get(header::ORIGIN) {
            let same = host.is_some_and(|host| {
                origin.as_bytes().strip_prefix(b"http://") == Some(host.as_bytes())
            });
            if !same {
                return Some((
                    StatusCode::FORBIDDEN,
                    "requests from another site's page are refused",
                ));
            }
        }
    }
    None
}

/// Whether a `Host` value (`name` or `name:port`) names the loopback:
/// `localhost`, or a loopback address such as `127.0.0.1` or `[::1]`.
fn names_loopback(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        match rest.split_once(']') {
            Some((name, port))
                if port.is_empty() || port.strip_prefix(':').is_some_and(is_port) =>
            {
                name
            }
            _ => return false,
        }
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if is_port(port) => name,
            Some(_) => return false,
            None => host,
        }
    };
    name.eq_ignore_ascii_case("localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Whether `text` is a port number.
fn is_port(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) && text.parse::<u16>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;

    fn request(method: &str, uri: &str, headers: &[(&str, &str)]) -> Request {
        let mut builder = Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(Body::empty()).unwrap()
    }

    #[test]
    fn loopback_names_are_told_apart_from_others() {
        for host in [
            "localhost",
            "LOCALHOST:8080",
            "127.0.0.1",
            "127.0.0.1:8080",
            "[::1]",
            "[::1]:80",
            "127.1.2.3:9",
        ] {
            assert!(names_loopback(host), "{host}");
        }
        for host in [
            "evil.example",
            "evil.example:8080",
            "localhost.evil.example",
            "10.0.0.1:8080",
            "[::2]:80",
            "127.0.0.1:port",
            "127.0.0.1:99999",
            "[::1]x",
            "::1",
            "",
        ] {
            assert!(!names_loopback(host), "{host}");
        }
    }

    #[test]
    fn foreign_hosts_and_origins_are_refused() {
        let own = [("host", "127.0.0.1:8080")];
        assert_eq!(refusal(&request("GET", "/api/model", &own), true), None);
        let foreign = request("GET", "/api/model", &[("host", "evil.example")]);
        assert_eq!(
            refusal(&foreign, true).unwrap().0,
            StatusCode::MISDIRECTED_REQUEST
        );
        assert_eq!(refusal(&foreign, false), None, "any host on a public bind");
        let absolute = request("GET", "http://evil.example/api/model", &own);
        assert!(refusal(&absolute, true).is_some());
        assert!(refusal(&request("GET", "/", &[]), true).is_some());

        let same = [
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8080"),
        ];
        assert_eq!(refusal(&request("POST", "/api/predict", &same), true), None);
        for origin in ["http://evil.example", "null", "http://localhost:8080"] {
            let post = request(
                "POST",
                "/api/predict",
                &[("host", "127.0.0.1:8080"), ("origin", origin)],
            );
            assert_eq!(
                refusal(&post, true).unwrap().0,
                StatusCode::FORBIDDEN,
                "{origin}"
            );
        }
        let get = [
            ("host", "127.0.0.1:8080"),
            ("origin", "http://evil.example"),
        ];
        assert_eq!(refusal(&request("GET", "/", &get), true), None);
    }
}
