//! `cargo xtask serve` through the binary, after a small pipeline: it prints
//! its URL (port 0 picks a free one), answers with the pipeline's model card
//! and report, warns about a non-loopback host, and stops cleanly on Ctrl-C
//! (SIGINT) and SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A project with a small CSV that the pipeline runs on in seconds.
fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    hdr_testkit::write_sample_csv(&dir.path().join("small.csv"), 0..400);
    std::fs::write(
        dir.path().join("pipeline.toml"),
        "[data]\nsource = \"small.csv\"\n\n[train]\nepochs = 1\nbatch_size = 32\n",
    )
    .unwrap();
    let output = xtask(dir.path(), &["pipeline"]).output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    dir
}

fn xtask(dir: &Path, args: &[&str]) -> Command {
    let mut command = crate::common::xtask_command();
    command
        .arg("--config")
        .arg(dir.join("pipeline.toml"))
        .arg("--quiet")
        .args(args)
        .stdin(Stdio::null());
    command
}

/// A running `serve`, its URL, and its stderr as it comes.
struct Serving {
    child: Child,
    addr: String,
    stderr: mpsc::Receiver<String>,
}

fn serve(dir: &Path, args: &[&str]) -> Serving {
    let mut child = xtask(dir, &[&["serve", "--port", "0"], args].concat())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (send, stderr) = mpsc::channel();
    let err = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines() {
            if send.send(line.unwrap_or_default()).is_err() {
                break;
            }
        }
    });
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|word| word.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"));
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    Serving {
        child,
        addr,
        stderr,
    }
}

fn get(addr: &str, path: &str) -> (u16, String) {
    get_for(addr, path, addr)
}

/// `GET path` naming `host` in the `Host` header.
fn get_for(addr: &str, path: &str, host: &str) -> (u16, String) {
    request(addr, "GET", path, host, "", b"")
}

/// One HTTP/1.1 exchange written by hand, `headers` being extra header
/// lines (each ending in CRLF): the status and the body.
fn request(
    addr: &str,
    method: &str,
    path: &str,
    host: &str,
    headers: &str,
    body: &[u8],
) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\n{headers}Content-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.write_all(body).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// Sends `signal` and waits (at most 20 s) for the exit; returns whether it succeeded.
fn stop(mut serving: Serving, signal: libc::c_int) -> bool {
    let pid = serving.child.id() as libc::pid_t;
    // SAFETY: kill(2) on the child this test started and has not reaped.
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    let started = Instant::now();
    loop {
        if let Some(status) = serving.child.try_wait().unwrap() {
            return status.success();
        }
        if started.elapsed() > Duration::from_secs(20) {
            serving.child.kill().ok();
            panic!("serve did not stop within 20 s of signal {signal}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn serve_answers_with_the_pipelines_model_and_stops_on_signals() {
    let dir = project();
    for (signal, limits) in [
        (libc::SIGINT, &[][..]),
        (
            libc::SIGTERM,
            &[
                "--header-timeout",
                "5s",
                "--body-timeout",
                "20s",
                "--max-connections",
                "64",
                "--max-batch-pixels",
                "1000000",
                "--max-decoding-bytes",
                "100000000",
                "--shutdown-grace",
                "2s",
            ][..],
        ),
    ] {
        let serving = serve(dir.path(), limits);
        assert!(serving.addr.starts_with("127.0.0.1:"), "{}", serving.addr);
        assert_eq!(get(&serving.addr, "/healthz").0, 200);
        let (status, card) = get(&serving.addr, "/api/model");
        assert_eq!(status, 200);
        let card: serde_json::Value = serde_json::from_str(&card).unwrap();
        assert!(card["test_accuracy"].is_f64(), "{card}");
        assert_eq!(card["report"], "/report/report.html", "{card}");
        let source = card["data"]["source"].as_str().unwrap_or_default();
        assert!(source.ends_with("small.csv"), "{card}");
        for path in [source, card["weights"].as_str().unwrap()] {
            assert!(!Path::new(path).is_absolute(), "{card}");
        }
        assert_eq!(get_for(&serving.addr, "/api/model", "evil.example").0, 421);
        assert_eq!(card["data"]["train_rows"], 321, "{card}");
        assert_eq!(card["architecture_name"], "seed", "{card}");
        assert_eq!(card["parameters"], 34826, "{card}");
        let (status, report) = get(&serving.addr, "/report/report.html");
        assert_eq!(status, 200);
        assert!(report.contains("<html"), "the pipeline's report");
        assert_eq!(get(&serving.addr, "/report/../pipeline.toml").0, 404);
        assert!(stop(serving, signal), "exit status after signal {signal}");
    }
}

#[test]
fn serve_warns_loudly_off_loopback_and_names_a_missing_model() {
    let dir = project();
    let serving = serve(dir.path(), &["--host", "0.0.0.0"]);
    let warning = serving
        .stderr
        .recv_timeout(Duration::from_secs(20))
        .unwrap();
    assert!(warning.starts_with("WARNING"), "{warning}");
    assert!(warning.contains("0.0.0.0"), "{warning}");
    assert_eq!(get(&serving.addr, "/healthz").0, 200);
    assert!(stop(serving, libc::SIGTERM));

    let missing: PathBuf = dir.path().join("nowhere").join("model.safetensors");
    let output = xtask(
        dir.path(),
        &["serve", "--port", "0", "--model", missing.to_str().unwrap()],
    )
    .output()
    .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cargo xtask train"), "{stderr}");
}

/// `method path` with `body` sent as `content_type`: the status and the body.
fn send(addr: &str, method: &str, path: &str, content_type: &str, body: &[u8]) -> (u16, String) {
    request(
        addr,
        method,
        path,
        addr,
        &format!("Content-Type: {content_type}\r\n"),
        body,
    )
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn digits_taught_on_the_page_are_learned_by_a_retraining_from_the_page() {
    let dir = project();
    let serving = serve(dir.path(), &[]);
    let digits = hdr_testkit::load_sample(9_000..9_040);
    for i in 0..digits.len() {
        let png = hdr_testkit::encoded(
            image::DynamicImage::ImageLuma8(hdr_testkit::as_image(digits.image(i))),
            image::ImageFormat::Png,
        );
        let label = digits.labels[i];
        let (status, body) = send(
            &serving.addr,
            "POST",
            &format!("/api/samples?label={label}"),
            "image/png",
            &png,
        );
        assert_eq!(status, 201, "{body}");
    }
    let csv = dir.path().join("data").join("my-digits.csv");
    let text = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(text.lines().count(), 41, "a header and 40 digits");
    let (_, counts) = get(&serving.addr, "/api/samples");
    assert_eq!(json(&counts)["saved"], 40);

    // The pipeline is stale now, and says why.
    let output = crate::common::xtask_command()
        .arg("--config")
        .arg(dir.path().join("pipeline.toml"))
        .arg("status")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("data/my-digits.csv is new"), "{said}");

    let (status, started) = send(&serving.addr, "POST", "/api/retrain", "text/plain", b"");
    assert_eq!(status, 202, "{started}");
    let (status, _) = send(&serving.addr, "POST", "/api/retrain", "text/plain", b"");
    assert_eq!(status, 409, "one retraining at a time");
    let started_at = Instant::now();
    let finished = loop {
        let (_, body) = get(&serving.addr, "/api/retrain");
        let status = json(&body);
        if status["state"] != "running" {
            break status;
        }
        assert!(
            started_at.elapsed() < Duration::from_secs(300),
            "still running: {status}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(finished["state"], "succeeded", "{finished}");
    assert_eq!(finished["epoch"]["done"], 1, "{finished}");
    let message = finished["message"].as_str().unwrap();
    assert!(message.contains("of your digits"), "{message}");

    let (_, card) = get(&serving.addr, "/api/model");
    let card = json(&card);
    // Each label's digits split as the source's are (data.test_fraction 0.2).
    let held: usize = (0..10u8)
        .map(|d| digits.labels.iter().filter(|&&l| l == d).count())
        .filter(|&n| n > 0)
        .map(|n| ((n as f64 * 0.2).round() as usize).min(n - 1))
        .sum();
    assert!(held > 0);
    assert_eq!(card["user_samples"], 40 - held, "{card}");
    assert!(card["user_test_accuracy"].is_f64(), "{card}");
    let metrics =
        json(&std::fs::read_to_string(dir.path().join("artifacts/eval/metrics.json")).unwrap());
    assert_eq!(metrics["user_test"]["support"], held);
    let log = std::fs::read_to_string(dir.path().join("artifacts/runs.jsonl")).unwrap();
    let last = json(log.lines().last().unwrap());
    assert_eq!(last["user_samples"], 40, "{last}");
    assert!(stop(serving, libc::SIGTERM));
    assert_eq!(
        std::fs::read_to_string(&csv).unwrap(),
        text,
        "never rewritten"
    );
}
