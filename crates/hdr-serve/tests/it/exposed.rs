//! The server as an attacker or a careless client meets it (issue 21), over
//! real loopback sockets: foreign `Host` and `Origin` refused, slow clients
//! cut off by the timeouts while others are served, the connection cap, the
//! "bomb" batch refused from its headers, every error readable by a client
//! that sends its whole body first, and a bounded stop.
//!
//! The timeouts are set short here so that the tests stay fast; the bounds
//! asserted are the issue's own.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::common::{held_out, photo, raw_request, read_response, start, trained_model};
use hdr_serve::{Limits, RunningServer, ServeConfig};
use image::ImageFormat;
use serde_json::Value;

fn config(limits: Limits) -> ServeConfig {
    ServeConfig {
        limits,
        ..ServeConfig::new(trained_model())
    }
}

fn digit() -> Vec<u8> {
    photo(held_out().image(0), ImageFormat::Png)
}

/// `POST /api/predict` of a digit with these extra head lines: the status,
/// the head and the body.
fn predict(addr: SocketAddr, host: &str, extra: &str) -> (u16, String) {
    let image = digit();
    let head = format!(
        "POST /api/predict HTTP/1.1\r\nHost: {host}\r\n{extra}Content-Length: {}\r\n\
         Connection: close\r\n\r\n",
        image.len()
    );
    raw_request(addr, &head, &image)
}

/// The whole answer to a GET, head included.
fn get_whole(addr: SocketAddr, path: &str, host: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let head = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}

#[test]
fn foreign_hosts_and_origins_are_refused_and_every_answer_is_hardened() {
    let server = start(&config(Limits::default()));
    let addr = server.local_addr();
    let port = addr.port();

    for host in ["evil.example", "evil.example:80", "192.168.1.20:8080"] {
        let answer = get_whole(addr, "/api/model", host);
        assert!(answer.starts_with("HTTP/1.1 421"), "{host}: {answer}");
        assert!(answer.contains(r#"{"error":"#), "{answer}");
        let (status, body) = predict(addr, host, "Content-Type: image/png\r\n");
        assert_eq!(status, 421, "{host}: {body}");
    }
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        "localhost".to_string(),
    ] {
        assert!(get_whole(addr, "/healthz", &host).starts_with("HTTP/1.1 200"));
    }

    let own = format!("127.0.0.1:{port}");
    let (status, body) = predict(
        addr,
        &own,
        "Content-Type: image/png\r\nOrigin: http://evil.example\r\n",
    );
    assert_eq!(status, 403, "{body}");
    let same_origin = format!("Content-Type: image/png\r\nOrigin: http://{own}\r\n");
    assert_eq!(predict(addr, &own, &same_origin).0, 200);
    for content_type in [
        "",
        "Content-Type: text/plain\r\n",
        "Content-Type: image\r\n",
    ] {
        let (status, body) = predict(addr, &own, content_type);
        assert_eq!(status, 415, "{content_type:?}: {body}");
        assert!(body.contains("Content-Type"), "{body}");
    }
    for content_type in ["image/jpeg", "application/octet-stream", "IMAGE/PNG; x=y"] {
        let extra = format!("Content-Type: {content_type}\r\n");
        assert_eq!(predict(addr, &own, &extra).0, 200, "{content_type}");
    }

    for path in ["/", "/app.js", "/healthz", "/api/model", "/nowhere"] {
        let answer = get_whole(addr, path, &own).to_ascii_lowercase();
        let head = answer.split("\r\n\r\n").next().unwrap();
        assert!(
            head.contains("x-content-type-options: nosniff"),
            "{path}: {head}"
        );
        assert!(head.contains("frame-ancestors 'none'"), "{path}: {head}");
        assert!(head.contains("x-frame-options: deny"), "{path}: {head}");
        assert!(
            head.contains("referrer-policy: no-referrer"),
            "{path}: {head}"
        );
    }

    // The card names the weights without this machine's folders.
    let card = get_whole(addr, "/api/model", &own);
    let card: Value = serde_json::from_str(card.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    let weights = card["weights"].as_str().unwrap();
    assert_eq!(weights, "model.safetensors");
    let folder = trained_model().parent().unwrap().display().to_string();
    assert!(!card.to_string().contains(&folder), "{card}");
    server.shutdown().unwrap();
}

/// Whether the server has closed `stream` (reading what it sent on the way).
fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut buffer = [0; 1024];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
            Err(_) => return true,
        }
    }
}

#[test]
fn two_hundred_slow_clients_neither_starve_others_nor_stay_connected() {
    let server = start(&config(Limits {
        header_timeout: Duration::from_secs(2),
        body_timeout: Duration::from_secs(3),
        ..Limits::default()
    }));
    let addr = server.local_addr();
    // A third trickle their bodies, a third their heads, a third say nothing.
    let mut slow: Vec<TcpStream> =
        (0..200)
            .map(|i| {
                let mut stream = TcpStream::connect(addr).unwrap();
                let head = match i % 3 {
                0 => "POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\n\
                      Content-Length: 1000000\r\n\r\n",
                1 => "POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\n",
                _ => "",
            };
                stream.write_all(head.as_bytes()).unwrap();
                stream.set_nonblocking(true).unwrap();
                stream
            })
            .collect();
    std::thread::sleep(Duration::from_millis(200));

    let started = Instant::now();
    let (status, body) = predict(addr, "127.0.0.1", "Content-Type: image/png\r\n");
    let took = started.elapsed();
    assert_eq!(status, 200, "{body}");
    assert!(took < Duration::from_secs(2), "answered after {took:?}");

    // The slow ones go on sending a byte at a time until the server closes them.
    let deadline = started + Duration::from_secs(45);
    let mut open: Vec<usize> = (0..slow.len()).collect();
    while !open.is_empty() {
        assert!(
            Instant::now() < deadline,
            "{} slow connections still open after 45 s",
            open.len()
        );
        std::thread::sleep(Duration::from_millis(250));
        open.retain(|&i| {
            let stream = &mut slow[i];
            let _ = stream.write(b"x");
            !closed_by_server(stream)
        });
    }
    assert_eq!(
        predict(addr, "127.0.0.1", "Content-Type: image/png\r\n").0,
        200
    );
    server.shutdown().unwrap();
}

#[test]
fn connections_over_the_cap_get_503_at_once() {
    let server = start(&config(Limits {
        max_connections: 3,
        ..Limits::default()
    }));
    let addr = server.local_addr();
    let idle: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(addr).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    let (status, body) = raw_request(
        addr,
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        b"",
    );
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("connections"), "{body}");
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(idle);
    // Their places come back once they close.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _) = raw_request(
            addr,
            "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
            b"",
        );
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "the places never came back");
        std::thread::sleep(Duration::from_millis(50));
    }
    server.shutdown().unwrap();
}

/// A multipart body of `count` copies of `image`.
fn multipart_body(image: &[u8], count: usize) -> (String, Vec<u8>) {
    const BOUNDARY: &str = "hdr-bomb-boundary";
    let mut body = Vec::new();
    for i in 0..count {
        body.extend(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; \
                 filename=\"{i}.png\"\r\nContent-Type: image/png\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend(image);
        body.extend(b"\r\n");
    }
    body.extend(format!("--{BOUNDARY}--\r\n").as_bytes());
    let head = format!(
        "POST /api/predict/batch HTTP/1.1\r\nHost: 127.0.0.1\r\n\
         Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    (head, body)
}

/// The issue's bomb: 100 PNGs each declaring 10,000 x 10,000 (black, all
/// inside the per-image limits), 9 MB in all.
fn bomb() -> (String, Vec<u8>) {
    let side = hdr_recognize::MAX_IMAGE_SIDE;
    let rows = vec![vec![0u8; side as usize]; side as usize];
    let png = hdr_testkit::png_declaring(side, side, &rows);
    multipart_body(&png, 100)
}

#[test]
fn the_bomb_batch_is_refused_from_its_headers_while_health_checks_answer() {
    let (head, body) = bomb();
    assert!(body.len() < 10 * 1024 * 1024, "{} bytes", body.len());
    for (limits, named) in [
        (Limits::default(), "max_batch_pixels"),
        (
            Limits {
                max_batch_pixels: u64::MAX,
                ..Limits::default()
            },
            "max_decoding_bytes",
        ),
    ] {
        let server = start(&config(limits));
        let addr = server.local_addr();
        let (answer, health) = std::thread::scope(|scope| {
            let bomb = scope.spawn(|| {
                let started = Instant::now();
                let answer = raw_request(addr, &head, &body);
                (answer, started.elapsed())
            });
            let mut health = Vec::new();
            while !bomb.is_finished() {
                let started = Instant::now();
                let (status, _) = raw_request(
                    addr,
                    "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
                    b"",
                );
                health.push((status, started.elapsed()));
            }
            (bomb.join().unwrap(), health)
        });
        let ((status, text), took) = answer;
        assert_eq!(status, 413, "{text}");
        assert!(text.contains(named), "{text}");
        assert!(took < Duration::from_secs(5), "answered after {took:?}");
        for (status, took) in health {
            assert_eq!(status, 200);
            assert!(took < Duration::from_secs(1), "/healthz after {took:?}");
        }
        server.shutdown().unwrap();
    }
}

/// Writes the whole of a 20 MB body before reading, as Python's `urllib`
/// does: the 413 must be there to read, not a reset.
#[test]
fn a_client_that_sends_its_whole_body_first_reads_the_413() {
    let server = start(&config(Limits::default()));
    let addr = server.local_addr();
    let body = vec![0u8; 20 * 1024 * 1024];
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let head = format!(
        "POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&body).expect("the server reads the body");
    let (status, text) = read_response(stream);
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("limit"), "{text}");

    // Python's own urllib, where there is a python3.
    let script = format!(
        "import urllib.request, urllib.error\n\
         req = urllib.request.Request('http://{addr}/api/predict', data=bytes(20 * 1024 * 1024),\n\
             headers={{'Content-Type': 'image/png'}})\n\
         try:\n    urllib.request.urlopen(req, timeout=30)\n    print('no error')\n\
         except urllib.error.HTTPError as e:\n    print(e.code, e.read().decode())\n"
    );
    if let Ok(output) = std::process::Command::new("python3")
        .arg("-c")
        .arg(&script)
        .output()
    {
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stdout.starts_with("413 "), "python3: {stdout} {stderr}");
    }
    server.shutdown().unwrap();
}

#[test]
fn a_stop_waits_for_a_stalled_client_no_longer_than_the_grace() {
    let server: RunningServer = start(&config(Limits {
        body_timeout: Duration::from_secs(60),
        header_timeout: Duration::from_secs(60),
        shutdown_grace: Duration::from_secs(1),
        ..Limits::default()
    }));
    let addr = server.local_addr();
    let mut stalled = TcpStream::connect(addr).unwrap();
    stalled
        .write_all(
            b"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\n\
              Content-Length: 1000\r\n\r\nabc",
        )
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    server.shutdown().unwrap();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(10), "stopped after {took:?}");
    assert!(TcpStream::connect(addr).is_err(), "still listening");
}
