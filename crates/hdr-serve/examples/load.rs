//! Measures `POST /api/predict`: the round-trip time of one client sending
//! one 280x280 PNG after another, then the predictions per second of many
//! clients at once (each with its own keep-alive connection). With a server
//! started here, it first times the steps of one prediction in-process
//! (decoding, preprocessing, the model), to show where a round trip goes.
//!
//! ```sh
//! cargo run --release -p hdr-serve --example load                  # in-process server on artifacts/train/model.safetensors
//! cargo run --release -p hdr-serve --example load -- --url http://127.0.0.1:8080 --clients 16 --seconds 10
//! ```
//!
//! Options: `--url URL` (a running server; otherwise one is started here on
//! `--model PATH`), `--clients N` (16), `--seconds S` (10), `--image FILE`
//! (otherwise a held-out digit of the embedded sample, drawn dark on white at
//! 280x280; `examples/drawing-7.png` beside this file is a drawing on the
//! page's 280x280 canvas as Chromium encodes it, RGBA).

#[path = "../tests/it/common/mod.rs"]
mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use hdr_serve::{ServeConfig, Server};
use image::ImageFormat;

struct Options {
    url: Option<String>,
    model: PathBuf,
    clients: usize,
    seconds: f64,
    image: Option<PathBuf>,
}

fn options() -> Options {
    let mut options = Options {
        url: None,
        model: PathBuf::from("artifacts/train/model.safetensors"),
        clients: 16,
        seconds: 10.0,
        image: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| panic!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--url" => options.url = Some(value().trim_end_matches('/').to_string()),
            "--model" => options.model = PathBuf::from(value()),
            "--clients" => options.clients = value().parse().expect("--clients N"),
            "--seconds" => options.seconds = value().parse().expect("--seconds S"),
            "--image" => options.image = Some(PathBuf::from(value())),
            other => panic!("unknown option {other}; see the example's header"),
        }
    }
    options
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

fn summary(mut times: Vec<Duration>) -> String {
    times.sort();
    let mean = times.iter().map(Duration::as_secs_f64).sum::<f64>() / times.len() as f64;
    format!(
        "mean {:.2} ms, p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        mean * 1e3,
        percentile(&times, 0.5),
        percentile(&times, 0.9),
        percentile(&times, 0.99),
        percentile(&times, 1.0)
    )
}

/// Median times of the steps of one prediction, in-process, 300 times each.
fn steps(model: &std::path::Path, body: &[u8]) -> String {
    let recognizer = hdr_recognize::Recognizer::load(model).unwrap_or_else(|e| panic!("{e}"));
    let name = std::path::Path::new("upload.png");
    let median = |work: &dyn Fn()| {
        let mut times: Vec<Duration> = (0..300)
            .map(|_| {
                let started = Instant::now();
                work();
                started.elapsed()
            })
            .collect();
        times.sort();
        percentile(&times, 0.5)
    };
    let image = hdr_recognize::decode_bytes(body, name).unwrap();
    let input = hdr_recognize::preprocess(&image).unwrap();
    let decode = median(&|| {
        std::hint::black_box(hdr_recognize::decode_bytes(body, name).unwrap());
    });
    let preprocess = median(&|| {
        std::hint::black_box(hdr_recognize::preprocess(&image).unwrap());
    });
    let model = median(&|| {
        std::hint::black_box(recognizer.classifier().predict(&input));
    });
    let all = median(&|| {
        std::hint::black_box(recognizer.recognize_bytes(body, name).unwrap());
    });
    format!(
        "in-process medians: decode {decode:.2} ms, preprocess {preprocess:.2} ms, model {model:.2} ms; \
         recognize_bytes (all three) {all:.2} ms"
    )
}

async fn predict(client: &reqwest::Client, url: &str, body: &[u8]) -> Duration {
    let started = Instant::now();
    let response = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "image/png")
        .body(body.to_vec())
        .send()
        .await
        .expect("the server answers");
    let status = response.status();
    let text = response.text().await.expect("a body");
    assert!(status.is_success(), "{status}: {text}");
    started.elapsed()
}

fn main() {
    let options = options();
    let body = match &options.image {
        Some(path) => std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
        None => common::photo(common::held_out().image(0), ImageFormat::Png),
    };
    let local = match options.url {
        Some(_) => None,
        None => Some(
            Server::bind(
                &ServeConfig::new(&options.model),
                "127.0.0.1:0".parse().unwrap(),
            )
            .unwrap_or_else(|e| panic!("{e}"))
            .spawn()
            .unwrap_or_else(|e| panic!("{e}")),
        ),
    };
    if local.is_some() {
        println!("{}", steps(&options.model, &body));
    }
    let base = options
        .url
        .clone()
        .unwrap_or_else(|| local.as_ref().unwrap().url());
    let url = format!("{base}/api/predict");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "POST {url}: {} byte image, {cores} CPU cores{}",
        body.len(),
        if local.is_some() {
            ", server in this process"
        } else {
            ""
        }
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(options.clients.max(1))
            .build()
            .unwrap();
        for _ in 0..100 {
            predict(&client, &url, &body).await;
        }
        let mut times = Vec::new();
        for _ in 0..1000 {
            times.push(predict(&client, &url, &body).await);
        }
        println!(
            "1 client, 1000 requests one after another: {}",
            summary(times)
        );

        let deadline = Instant::now() + Duration::from_secs_f64(options.seconds);
        let started = Instant::now();
        let tasks: Vec<_> = (0..options.clients)
            .map(|_| {
                let client = client.clone();
                let url = url.clone();
                let body = body.clone();
                tokio::spawn(async move {
                    let mut times = Vec::new();
                    while Instant::now() < deadline {
                        times.push(predict(&client, &url, &body).await);
                    }
                    times
                })
            })
            .collect();
        let mut times = Vec::new();
        for task in tasks {
            times.extend(task.await.unwrap());
        }
        let elapsed = started.elapsed().as_secs_f64();
        println!(
            "{} clients for {:.1} s: {} predictions, {:.0} per second; {}",
            options.clients,
            elapsed,
            times.len(),
            times.len() as f64 / elapsed,
            summary(times)
        );
    });
    if let Some(server) = local {
        server.shutdown().unwrap();
    }
}
