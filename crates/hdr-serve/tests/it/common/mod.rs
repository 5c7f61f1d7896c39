//! Shared helpers of the integration tests: the embedded MNIST sample, a
//! small CNN trained on part of it (once per test binary), image files in
//! each format, and a server on a free loopback port.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Cursor, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use hdr_serve::{RunningServer, ServeConfig, Server};
use image::imageops::{self, FilterType};
use image::{DynamicImage, ImageFormat};

pub use hdr_testkit::{as_image, load_sample, Dataset};

/// Sample rows the test model trains on.
pub const TRAIN: std::ops::Range<usize> = 0..3000;
/// Sample rows the tests draw and upload (never trained on).
pub const HELD_OUT: std::ops::Range<usize> = 9000..9200;

/// The held-out digits.
pub fn held_out() -> &'static Dataset {
    static SAMPLE: OnceLock<Dataset> = OnceLock::new();
    SAMPLE.get_or_init(|| load_sample(HELD_OUT))
}

/// Weights of a small CNN trained in-process on [`TRAIN`], written once per
/// test binary to a folder that lives as long as the process.
pub fn trained_model() -> &'static Path {
    static MODEL: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, path) = MODEL.get_or_init(|| {
        let network = hdr_testkit::small_trained_network(&load_sample(TRAIN));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.safetensors");
        std::fs::write(&path, network.to_safetensors()).unwrap();
        (dir, path)
    });
    path
}

/// The digit as a person's file: dark ink on white paper, enlarged 10x
/// (280x280), encoded as `format`.
pub fn photo(digit: &[u8], format: ImageFormat) -> Vec<u8> {
    let mut img = imageops::resize(&as_image(digit), 280, 280, FilterType::Triangle);
    imageops::invert(&mut img);
    encode(DynamicImage::ImageLuma8(img), format)
}

/// Encodes an image in memory.
pub fn encode(img: DynamicImage, format: ImageFormat) -> Vec<u8> {
    let img = match format {
        // The JPEG encoder takes no alpha; the others keep what they get.
        ImageFormat::Jpeg => DynamicImage::ImageRgb8(img.to_rgb8()),
        _ => img,
    };
    let mut bytes = Vec::new();
    img.write_to(&mut Cursor::new(&mut bytes), format)
        .expect("encodes");
    bytes
}

/// Starts a server on a free loopback port.
pub fn start(config: &ServeConfig) -> RunningServer {
    Server::bind(config, "127.0.0.1:0".parse().unwrap())
        .expect("server binds")
        .spawn()
        .expect("server starts")
}

/// One HTTP/1.1 exchange written by hand (so paths reach the server exactly
/// as written, `..` and all): the status and the body.
pub fn raw_request(addr: SocketAddr, head: &str, body: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connects");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    // A server refusing an oversized body answers and closes before reading
    // all of it; the write may then fail, and the answer is still there to read.
    let _ = stream.write_all(body);
    read_response(stream)
}

/// Reads a `Connection: close` response to its end.
pub fn read_response(stream: TcpStream) -> (u16, String) {
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line).expect("a status line");
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let mut rest = Vec::new();
    // The server may reset the connection after answering early (e.g. 413
    // before the body was sent); what was read until then is the answer.
    let _ = reader.read_to_end(&mut rest);
    let text = String::from_utf8_lossy(&rest).into_owned();
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default();
    (status, body)
}

/// `POST /api/predict/batch` by hand, with a `multipart/form-data` body of
/// one part per `(file name, bytes)`: the status and the body.
pub fn raw_multipart(addr: SocketAddr, files: &[(&str, &[u8])]) -> (u16, String) {
    const BOUNDARY: &str = "hdr-test-boundary-7f3a";
    let mut body = Vec::new();
    for (name, bytes) in files {
        body.extend(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
                 Content-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend(*bytes);
        body.extend(b"\r\n");
    }
    body.extend(format!("--{BOUNDARY}--\r\n").as_bytes());
    let head = format!(
        "POST /api/predict/batch HTTP/1.1\r\nHost: {addr}\r\nContent-Type: multipart/form-data; boundary={BOUNDARY}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    raw_request(addr, &head, &body)
}

/// `GET path` by hand.
pub fn raw_get(addr: SocketAddr, path: &str) -> (u16, String) {
    raw_request(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"),
        b"",
    )
}

/// Writes a `model.json` as the train stage does, for the served weights.
pub fn write_model_card(path: &Path) {
    let card = hdr_artifacts::ModelCard {
        architecture_name: "seed".into(),
        architecture: vec!["conv1: Conv2D 1->32 3x3 valid -> 32x26x26".into()],
        parameters: 34_826,
        kernels: "portable".into(),
        train_config: serde_json::json!({"epochs": 4}),
        data_sha256: "ab".repeat(32),
        epochs_trained: 4,
        best_epoch: 4,
        best_val_accuracy: 0.95,
        user_samples: 0,
    };
    let mut bytes = Vec::new();
    hdr_artifacts::write_card(&mut bytes, &card).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// Writes a `metrics.json` as the eval stage does, with this test accuracy.
pub fn write_metrics(path: &Path, test_accuracy: f64) {
    let averages = hdr_artifacts::Averages {
        precision: 0.9,
        recall: 0.9,
        f1: 0.9,
    };
    let split = |accuracy| hdr_artifacts::SplitMetrics {
        accuracy,
        log_loss: 0.2,
        macro_avg: averages,
        weighted: averages,
        per_class: (0..10)
            .map(|class| hdr_artifacts::ClassMetrics {
                class,
                precision: 0.9,
                recall: 0.9,
                f1: 0.9,
                support: 1,
            })
            .collect(),
        confusion_matrix: (0..10)
            .map(|row| (0..10).map(|col| u64::from(row == col)).collect())
            .collect(),
        support: 10,
        images_per_s: 1000.0,
    };
    let metrics = hdr_artifacts::Metrics {
        train: split(0.99),
        test: split(test_accuracy),
        user_test: None,
        extra_tests: Vec::new(),
    };
    let mut bytes = Vec::new();
    hdr_artifacts::write_metrics(&mut bytes, &metrics).unwrap();
    std::fs::write(path, bytes).unwrap();
}
