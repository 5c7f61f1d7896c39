//! The HTTP API through a real loopback socket: predictions equal to
//! `predict --json`'s, every kind of bad request answered with a JSON error
//! (and the server still answering after it), no file outside the report
//! folder ever served, and many clients at once.

use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use crate::common::{
    encode, held_out, photo, raw_get, raw_multipart, raw_request, read_response, start,
    trained_model,
};
use hdr_serve::{CardSources, Limits, RunningServer, ServeConfig};
use image::{DynamicImage, GrayImage, ImageFormat, Luma};
use reqwest::blocking::{multipart, Client};
use serde_json::Value;

const SECRET: &str = "the secret outside the report folder";

fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

fn config() -> ServeConfig {
    ServeConfig::new(trained_model())
}

/// POSTs `body` to `/api/predict{query}`: the status and the parsed JSON.
fn post(server: &RunningServer, query: &str, body: Vec<u8>) -> (u16, Value) {
    let response = client()
        .post(format!("{}/api/predict{query}", server.url()))
        .header(reqwest::header::CONTENT_TYPE, "image/png")
        .body(body)
        .send()
        .expect("the server answers");
    let status = response.status().as_u16();
    let content_type = response.headers()[reqwest::header::CONTENT_TYPE].clone();
    assert_eq!(content_type, "application/json", "status {status}");
    (status, response.json().expect("a JSON body"))
}

/// What `cargo xtask predict --json FILE` prints for these bytes, minus the file.
fn predict_json(dir: &Path, name: &str, bytes: &[u8]) -> Value {
    predict_json_with(dir, name, bytes, false)
}

/// The same, with `--tta` when `tta`.
fn predict_json_with(dir: &Path, name: &str, bytes: &[u8], tta: bool) -> Value {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    let classifier = hdr_predict::load_model(trained_model())
        .unwrap()
        .with_test_time_augmentation(tta);
    let outcomes = hdr_predict::predict_files(&classifier, &[path], None);
    let mut value: Value = serde_json::from_str(&hdr_predict::format_json(&outcomes[0])).unwrap();
    value.as_object_mut().unwrap().remove("file");
    value
}

fn assert_still_answering(server: &RunningServer) {
    let health = client()
        .get(format!("{}/healthz", server.url()))
        .send()
        .unwrap();
    assert_eq!(health.status(), 200);
    let (status, value) = post(server, "", photo(held_out().image(0), ImageFormat::Png));
    assert_eq!(status, 200, "{value}");
}

#[test]
fn each_image_format_gets_the_object_predict_json_prints() {
    let server = start(&config());
    let dir = tempfile::tempdir().unwrap();
    let sample = held_out();
    let mut correct = 0;
    let mut total = 0;
    for (format, extension) in [
        (ImageFormat::Png, "png"),
        (ImageFormat::Jpeg, "jpg"),
        (ImageFormat::Bmp, "bmp"),
    ] {
        for i in 0..10 {
            let bytes = photo(sample.image(i), format);
            let (status, value) = post(&server, "", bytes.clone());
            assert_eq!(status, 200, "{extension} {i}: {value}");
            let expected = predict_json(dir.path(), &format!("{i}.{extension}"), &bytes);
            assert_eq!(value, expected, "{extension} {i}");
            let keys: Vec<&String> = value.as_object().unwrap().keys().collect();
            assert_eq!(keys.len(), 3, "digit, confidence, top3 only: {value}");
            total += 1;
            if value["digit"] == u64::from(sample.labels[i]) {
                correct += 1;
            }
        }
    }
    assert!(
        correct * 10 >= total * 8,
        "{correct} of {total} digits right"
    );
    server.shutdown().unwrap();
}

#[test]
fn with_tta_the_server_answers_what_predict_tta_prints() {
    let server = start(&ServeConfig {
        test_time_augmentation: true,
        ..config()
    });
    let dir = tempfile::tempdir().unwrap();
    let sample = held_out();
    for i in 0..5 {
        let bytes = photo(sample.image(i), ImageFormat::Png);
        let (status, value) = post(&server, "", bytes.clone());
        assert_eq!(status, 200, "{value}");
        let name = format!("{i}.png");
        assert_eq!(
            value,
            predict_json_with(dir.path(), &name, &bytes, true),
            "image {i}"
        );
        assert_ne!(
            value,
            predict_json(dir.path(), &name, &bytes),
            "image {i}: the copies count"
        );
    }
}

#[test]
fn details_add_the_probabilities_and_the_image_the_model_saw() {
    let server = start(&config());
    let dir = tempfile::tempdir().unwrap();
    let bytes = photo(held_out().image(3), ImageFormat::Png);
    let (status, value) = post(&server, "?details=true", bytes.clone());
    assert_eq!(status, 200, "{value}");

    let probabilities: Vec<f64> = value["probabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_f64().unwrap())
        .collect();
    assert_eq!(probabilities.len(), 10);
    assert!((probabilities.iter().sum::<f64>() - 1.0).abs() < 1e-4);
    let digit = value["digit"].as_u64().unwrap() as usize;
    assert!(probabilities.iter().all(|&p| p <= probabilities[digit]));

    let path = dir.path().join("3.png");
    std::fs::write(&path, &bytes).unwrap();
    let seen = hdr_recognize::prepare_file(&path).unwrap();
    let input: Vec<u8> = value["input"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u8)
        .collect();
    assert_eq!(input, seen.to_vec());

    // Without details, the same prediction.
    let (_, plain) = post(&server, "", bytes);
    for key in ["digit", "confidence", "top3"] {
        assert_eq!(plain[key], value[key], "{key}");
    }
    let (status, value) = post(&server, "?details=maybe", vec![1]);
    assert_eq!(status, 400, "{value}");
}

fn batch(server: &RunningServer, form: multipart::Form, query: &str) -> (u16, Value) {
    let response = client()
        .post(format!("{}/api/predict/batch{query}", server.url()))
        .multipart(form)
        .send()
        .unwrap();
    (response.status().as_u16(), response.json().unwrap())
}

fn part(name: &str, bytes: Vec<u8>) -> multipart::Part {
    multipart::Part::bytes(bytes).file_name(name.to_string())
}

#[test]
fn a_batch_answers_every_file_and_bad_files_do_not_stop_the_rest() {
    let server = start(&config());
    let sample = held_out();
    let form = multipart::Form::new()
        .part(
            "file",
            part("seven.png", photo(sample.image(0), ImageFormat::Png)),
        )
        .part("file", part("notes.png", b"shopping list: milk".to_vec()))
        .part(
            "file",
            part("scan.jpg", photo(sample.image(1), ImageFormat::Jpeg)),
        )
        .part("file", part("empty.bmp", Vec::new()))
        .part(
            "file",
            part("cut.png", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec()),
        )
        .part(
            "file",
            part("old.bmp", photo(sample.image(2), ImageFormat::Bmp)),
        );
    let (status, value) = batch(&server, form, "?details=true");
    assert_eq!(status, 200, "{value}");
    let answers = value.as_array().unwrap();
    let names: Vec<&str> = answers
        .iter()
        .map(|a| a["file"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "seven.png",
            "notes.png",
            "scan.jpg",
            "empty.bmp",
            "cut.png",
            "old.bmp"
        ]
    );
    for i in [0, 2, 5] {
        assert!(answers[i]["digit"].is_u64(), "{}", answers[i]);
        assert_eq!(answers[i]["input"].as_array().unwrap().len(), 784);
    }
    for i in [1, 3, 4] {
        let error = answers[i]["error"].as_str().unwrap();
        assert!(!error.contains("upload-"), "no scratch names: {error}");
    }
    assert!(
        answers[1]["error"].as_str().unwrap().contains("not"),
        "{}",
        answers[1]
    );
    assert!(
        answers[3]["error"].as_str().unwrap().contains("empty"),
        "{}",
        answers[3]
    );

    // The same object as for a single image, with the file's name.
    let (_, single) = post(&server, "", photo(sample.image(0), ImageFormat::Png));
    let (_, plain) = batch(
        &server,
        multipart::Form::new().part(
            "file",
            part("seven.png", photo(sample.image(0), ImageFormat::Png)),
        ),
        "",
    );
    let mut expected = single.as_object().unwrap().clone();
    expected.insert("file".into(), "seven.png".into());
    assert_eq!(plain[0], Value::Object(expected));
    server.shutdown().unwrap();
}

#[test]
fn bad_bodies_get_json_errors_and_the_server_keeps_answering() {
    let server = start(&ServeConfig {
        limits: Limits {
            max_body_bytes: 512 * 1024,
            max_batch_files: 3,
            ..Limits::default()
        },
        ..config()
    });

    let (status, value) = post(&server, "", b"this is not a picture of a digit\n".to_vec());
    assert_eq!(status, 415, "{value}");
    assert!(
        value["error"].as_str().unwrap().contains("not an image"),
        "{value}"
    );
    assert_still_answering(&server);

    let gif = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;".to_vec();
    let (status, value) = post(&server, "", gif);
    assert_eq!(status, 415, "{value}");

    let (status, value) = post(&server, "", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec());
    assert_eq!(status, 422, "truncated PNG: {value}");
    assert_still_answering(&server);

    let blank = encode(
        DynamicImage::ImageLuma8(GrayImage::from_pixel(280, 280, Luma([255]))),
        ImageFormat::Png,
    );
    let (status, value) = post(&server, "", blank);
    assert_eq!(status, 422, "blank page: {value}");
    assert!(
        value["error"].as_str().unwrap().contains("no ink"),
        "{value}"
    );

    let (status, value) = post(&server, "", Vec::new());
    assert_eq!(status, 422, "empty body: {value}");
    assert_still_answering(&server);

    // Over the body limit: 413 whether or not the length is declared up front
    // (sent by hand: the server answers before reading such a body whole).
    let big = vec![0u8; 600 * 1024];
    let declared = format!(
        "POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        big.len()
    );
    let (status, body) = raw_request(server.local_addr(), &declared, &big);
    assert_eq!(status, 413, "{body}");
    let value: Value = serde_json::from_str(&body).unwrap();
    assert!(
        value["error"].as_str().unwrap().contains("limit"),
        "{value}"
    );
    let chunked = format!(
        "POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n",
        big.len()
    );
    let (status, body) = raw_request(server.local_addr(), &chunked, &big);
    assert_eq!(status, 413, "{body}");
    assert_still_answering(&server);

    // Oversized uploads by hand: the server answers before reading them whole.
    let photos: Vec<Vec<u8>> = (0..4)
        .map(|i| photo(held_out().image(i), ImageFormat::Png))
        .collect();
    let names = ["0.png", "1.png", "2.png", "3.png"];
    let files: Vec<(&str, &[u8])> = names
        .iter()
        .copied()
        .zip(photos.iter().map(Vec::as_slice))
        .collect();
    let (status, body) = raw_multipart(server.local_addr(), &files);
    assert_eq!(status, 413, "too many files: {body}");
    assert!(body.contains("more than 3 files"), "{body}");
    let (status, body) = raw_multipart(server.local_addr(), &files[..3]);
    assert_eq!(status, 200, "three files: {body}");
    // A form without parts is an incomplete multipart stream to the parser.
    let (status, value) = batch(&server, multipart::Form::new(), "");
    assert_eq!(status, 400, "no parts: {value}");
    assert!(
        value["error"].as_str().unwrap().contains("multipart"),
        "{value}"
    );
    let response = client()
        .post(format!("{}/api/predict/batch", server.url()))
        .body("not multipart")
        .send()
        .unwrap();
    assert_eq!(response.status(), 400);
    let value: Value = response.json().unwrap();
    assert!(value["error"].is_string(), "{value}");
    let (status, body) = raw_multipart(server.local_addr(), &[("big.png", &big)]);
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("limit"), "{body}");

    // Garbage instead of HTTP, and a connection dropped mid-body.
    let mut stream = TcpStream::connect(server.local_addr()).unwrap();
    stream
        .write_all(b"\x16\x03\x01 hello, TLS?\r\n\r\n")
        .unwrap();
    drop(stream);
    let mut stream = TcpStream::connect(server.local_addr()).unwrap();
    stream
        .write_all(
            b"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5000\r\n\r\nabc",
        )
        .unwrap();
    drop(stream);

    let (status, _) = raw_get(server.local_addr(), "/no/such/page");
    assert_eq!(status, 404);
    let response = client()
        .get(format!("{}/api/predict", server.url()))
        .send()
        .unwrap();
    assert_eq!(response.status(), 405);
    assert_still_answering(&server);
    server.shutdown().unwrap();
}

/// A project folder with a report and a secret beside it, linked from inside.
fn report_project() -> (tempfile::TempDir, ServeConfig) {
    let dir = tempfile::tempdir().unwrap();
    let artifacts = dir.path().join("artifacts");
    let report = artifacts.join("report");
    std::fs::create_dir_all(report.join("charts")).unwrap();
    std::fs::write(
        report.join("report.html"),
        "<html><h1>run report</h1></html>",
    )
    .unwrap();
    std::fs::write(report.join("charts").join("f1.png"), b"\x89PNG fake").unwrap();
    std::fs::write(artifacts.join("secret.txt"), SECRET).unwrap();
    std::fs::write(dir.path().join("secret.txt"), SECRET).unwrap();
    std::os::unix::fs::symlink(artifacts.join("secret.txt"), report.join("link.txt")).unwrap();
    std::os::unix::fs::symlink(&artifacts, report.join("up")).unwrap();
    let config = ServeConfig {
        report_dir: Some(report),
        ..config()
    };
    (dir, config)
}

#[test]
fn only_files_inside_the_report_folder_are_served() {
    let (dir, config) = report_project();
    let server = start(&config);
    let addr = server.local_addr();

    let (status, body) = raw_get(addr, "/report/report.html");
    assert_eq!(status, 200);
    assert!(body.contains("run report"));
    let (status, _) = raw_get(addr, "/report/charts/f1.png");
    assert_eq!(status, 200);
    let response = client()
        .get(format!("{}/report/report.html", server.url()))
        .send()
        .unwrap();
    assert_eq!(
        response.headers()["content-type"],
        "text/html; charset=utf-8"
    );
    let (status, _) = raw_get(addr, "/report");
    assert_eq!(status, 303);

    let absolute = dir.path().join("secret.txt").display().to_string();
    for path in [
        "/report/../secret.txt",
        "/report/../../secret.txt",
        "/report/charts/../../secret.txt",
        "/report/%2e%2e/secret.txt",
        "/report/%2E%2E%2Fsecret.txt",
        "/report/%2e%2e%2f%2e%2e%2fsecret.txt",
        "/report/..%2fsecret.txt",
        "/report/..%5csecret.txt",
        "/report//etc/passwd",
        "/report/%2fetc%2fpasswd",
        &format!("/report/{absolute}"),
        &format!("/report/{}", absolute.replace('/', "%2f")),
        "/report/link.txt",
        "/report/up/secret.txt",
        "/report/./report.html",
        "/report/charts",
        "/report/%00",
        "/../secret.txt",
        "/secret.txt",
        "/artifacts/secret.txt",
    ] {
        let (status, body) = raw_get(addr, path);
        assert!(status == 404 || status == 400, "{path}: {status} {body}");
        assert!(!body.contains(SECRET), "{path} leaked the secret");
        assert!(!body.contains("root:"), "{path} leaked /etc/passwd");
    }
    assert_still_answering(&server);
    server.shutdown().unwrap();
}

#[test]
fn the_model_card_describes_the_served_weights() {
    let (dir, mut config) = report_project();
    let card = dir.path().join("model.json");
    crate::common::write_model_card(&card);
    let metrics = dir.path().join("metrics.json");
    crate::common::write_metrics(&metrics, 0.9512);
    config.card = CardSources {
        model_card: Some(card),
        metrics: Some(metrics),
        data_summary: None,
    };
    let server = start(&config);
    let card: Value = client()
        .get(format!("{}/api/model", server.url()))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(card["architecture_name"], "seed");
    assert_eq!(card["parameters"], 34826);
    assert_eq!(card["test_accuracy"], 0.9512);
    assert_eq!(card["report"], "/report/report.html");
    assert!(card["trained_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        card["architecture"][0],
        "conv1: Conv2D 1->32 3x3 valid -> 32x26x26"
    );

    // Without a report folder the card has no link, and /report is 404.
    let server = start(&ServeConfig {
        report_dir: None,
        ..config
    });
    let card: Value = client()
        .get(format!("{}/api/model", server.url()))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(card["report"].is_null());
    assert_eq!(raw_get(server.local_addr(), "/report/report.html").0, 404);
}

#[test]
fn the_page_and_its_files_come_from_this_server() {
    let server = start(&config());
    let page = client().get(server.url()).send().unwrap();
    assert_eq!(page.status(), 200);
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(policy.contains("default-src 'self'"), "{policy}");
    let html = page.text().unwrap();
    for asset in ["/app.js", "/app.css"] {
        assert!(html.contains(asset), "{asset}");
        let response = client()
            .get(format!("{}{asset}", server.url()))
            .send()
            .unwrap();
        assert_eq!(response.status(), 200, "{asset}");
    }
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "nothing from elsewhere"
    );
    let health: Value = client()
        .get(format!("{}/healthz", server.url()))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(health["status"], "ok");
}

#[test]
fn sixteen_clients_at_once_all_get_their_own_answers() {
    // Requests waiting together are run through the model together: each
    // must still get exactly the answer it gets alone, a bad image among
    // good ones included.
    let server = start(&config());
    let url = format!("{}/api/predict", server.url());
    let sample = held_out();
    let images: Vec<(Vec<u8>, u16, Value)> = (0..16)
        .map(|i| {
            let bytes = if i % 4 == 3 {
                format!("not an image, client {i}").into_bytes()
            } else {
                photo(sample.image(i), ImageFormat::Png)
            };
            let (status, expected) = post(&server, "", bytes.clone());
            (bytes, status, expected)
        })
        .collect();
    assert_eq!(
        images
            .iter()
            .filter(|(_, status, _)| *status == 415)
            .count(),
        4
    );
    std::thread::scope(|scope| {
        for (bytes, status, expected) in &images {
            let url = url.clone();
            scope.spawn(move || {
                let client = client();
                for _ in 0..10 {
                    let response = client
                        .post(&url)
                        .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                        .body(bytes.clone())
                        .send()
                        .unwrap();
                    assert_eq!(response.status(), *status);
                    let value: Value = response.json().unwrap();
                    assert_eq!(&value, expected);
                }
            });
        }
    });
    server.shutdown().unwrap();
}

#[test]
fn a_request_waiting_longer_than_max_wait_gets_503() {
    let server = start(&ServeConfig {
        limits: Limits {
            max_running: 1,
            max_wait: Duration::from_millis(10),
            ..Limits::default()
        },
        ..config()
    });
    // The largest image accepted keeps the one worker busy for a while:
    // 100 megapixels to decode and shrink, a digit "1" in the middle.
    let side = hdr_recognize::MAX_IMAGE_SIDE;
    let large = encode(
        DynamicImage::ImageLuma8(GrayImage::from_fn(side, side, |x, y| {
            let stroke = (side * 45 / 100..side * 55 / 100).contains(&x)
                && (side / 10..side * 9 / 10).contains(&y);
            Luma([if stroke { 0 } else { 255 }])
        })),
        ImageFormat::Png,
    );
    let small = photo(held_out().image(0), ImageFormat::Png);
    let (large_status, statuses) = std::thread::scope(|scope| {
        let large = scope.spawn(|| post(&server, "", large).0);
        std::thread::sleep(Duration::from_millis(50));
        // Small images sent while the large one runs wait for the worker.
        let mut statuses = Vec::new();
        while !large.is_finished() {
            let (status, value) = post(&server, "", small.clone());
            match status {
                200 => {}
                503 => assert!(value["error"].as_str().unwrap().contains("busy"), "{value}"),
                other => panic!("{other}: {value}"),
            }
            statuses.push(status);
        }
        (large.join().unwrap(), statuses)
    });
    assert_eq!(large_status, 200);
    assert!(
        statuses.contains(&503),
        "none waited too long: {statuses:?}"
    );
    assert_eq!(raw_get(server.local_addr(), "/healthz").0, 200);
    server.shutdown().unwrap();
}

#[test]
fn requests_beyond_the_admitted_get_503_at_once_and_slow_uploads_hold_no_place() {
    let server = start(&ServeConfig {
        limits: Limits {
            max_running: 1,
            max_waiting: 0,
            ..Limits::default()
        },
        ..config()
    });
    let addr = server.local_addr();
    // An upload still on its way holds no place among the admitted: the
    // one place is free for others meanwhile.
    let mut slow = TcpStream::connect(addr).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let image = photo(held_out().image(0), ImageFormat::Png);
    let head = format!(
        "POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        image.len()
    );
    slow.write_all(head.as_bytes()).unwrap();
    slow.write_all(&image[..10]).unwrap();
    slow.flush().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert_still_answering(&server);

    // The one admitted request: a large image keeps the worker busy; the
    // requests beside it are refused at once.
    let side = hdr_recognize::MAX_IMAGE_SIDE;
    let large = encode(
        DynamicImage::ImageLuma8(GrayImage::from_pixel(side, side, Luma([255]))),
        ImageFormat::Png,
    );
    let statuses = std::thread::scope(|scope| {
        let large = scope.spawn(|| post(&server, "", large).0);
        // Once its body has arrived, it holds the place.
        std::thread::sleep(Duration::from_millis(100));
        let mut refused = None;
        while !large.is_finished() && refused.is_none() {
            let response = client()
                .post(format!("{}/api/predict", server.url()))
                .header(reqwest::header::CONTENT_TYPE, "image/png")
                .body(image.clone())
                .send()
                .unwrap();
            if response.status() == 503 {
                refused = Some(response);
            }
        }
        (large.join().unwrap(), refused)
    });
    assert_eq!(statuses.0, 422, "the large image is blank");
    let refused = statuses
        .1
        .expect("one request was refused while the large one ran");
    assert_eq!(refused.headers()["retry-after"], "1");
    let value: Value = refused.json().unwrap();
    assert!(value["error"].as_str().unwrap().contains("busy"), "{value}");
    // Pages and health checks are not predictions: still answered.
    assert_eq!(raw_get(addr, "/healthz").0, 200);

    slow.write_all(&image[10..]).unwrap();
    let (status, body) = read_response(slow);
    assert_eq!(status, 200, "{body}");
    assert_still_answering(&server);
    server.shutdown().unwrap();
}

#[test]
fn shutdown_stops_listening() {
    let server = start(&config());
    let addr = server.local_addr();
    assert_eq!(raw_get(addr, "/healthz").0, 200);
    server.shutdown().unwrap();
    assert!(TcpStream::connect(addr).is_err(), "still listening");
}

#[test]
fn a_missing_model_says_to_train() {
    let dir = tempfile::tempdir().unwrap();
    let err = hdr_serve::Server::bind(
        &ServeConfig::new(dir.path().join("model.safetensors")),
        "127.0.0.1:0".parse().unwrap(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("cargo xtask train"), "{err}");
}
