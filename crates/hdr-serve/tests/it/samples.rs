//! `/api/samples` through a real loopback socket: a digit saved is the line
//! the data stage reads (the 28x28 image `/api/predict` says the model saw)
//! with its original image beside it; counts, taking back, concurrent saves
//! that never interleave, and every bad input the issue lists.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::{held_out, photo, start, trained_model};
use hdr_artifacts::{user_sample_labels, user_sample_line, user_samples_header};
use hdr_serve::{RunningServer, ServeConfig};
use image::ImageFormat;
use reqwest::blocking::Client;
use serde_json::Value;

fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// A server saving to `<dir>/data/my-digits.csv`.
fn serving(dir: &Path) -> (RunningServer, PathBuf) {
    let csv = dir.join("data").join("my-digits.csv");
    let config = ServeConfig {
        samples: Some(csv.clone()),
        ..ServeConfig::new(trained_model())
    };
    (start(&config), csv)
}

fn send(request: reqwest::blocking::RequestBuilder) -> (u16, Value) {
    let response = request.send().expect("the server answers");
    let status = response.status().as_u16();
    (status, response.json().expect("a JSON body"))
}

fn save(server: &RunningServer, query: &str, content_type: &str, body: Vec<u8>) -> (u16, Value) {
    send(
        client()
            .post(format!("{}/api/samples{query}", server.url()))
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body),
    )
}

fn digit_png(i: usize) -> Vec<u8> {
    photo(held_out().image(i), ImageFormat::Png)
}

#[test]
fn a_saved_digit_is_the_line_the_data_stage_reads_and_can_be_taken_back() {
    let dir = tempfile::tempdir().unwrap();
    let (server, csv) = serving(dir.path());
    let (status, counts) = send(client().get(format!("{}/api/samples", server.url())));
    assert_eq!(status, 200);
    assert_eq!(counts["saved"], 0);

    let png = digit_png(3);
    let (status, saved) = save(&server, "?label=7", "image/png", png.clone());
    assert_eq!(status, 201, "{saved}");
    assert_eq!(saved["label"], 7);
    assert_eq!(saved["saved"], 1);
    assert_eq!(saved["per_label"]["7"], 1);
    assert_eq!(saved["per_label"]["0"], 0);

    // The line holds exactly what the model saw of the image.
    let (_, seen) = send(
        client()
            .post(format!("{}/api/predict?details=true", server.url()))
            .header(reqwest::header::CONTENT_TYPE, "image/png")
            .body(png.clone()),
    );
    let input: Vec<u8> = seen["input"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u8)
        .collect();
    let text = std::fs::read_to_string(&csv).unwrap();
    let expected = user_samples_header() + &user_sample_line(7, &input.try_into().unwrap());
    assert_eq!(text, expected);
    let original = csv.with_extension("").join("00001_7.png");
    assert_eq!(std::fs::read(&original).unwrap(), png);

    let (status, _) = save(&server, "?label=2", "image/png", digit_png(4));
    assert_eq!(status, 201);
    let (status, counts) = send(client().get(format!("{}/api/samples", server.url())));
    assert_eq!((status, counts["saved"].as_u64()), (200, Some(2)));

    let (status, undone) = send(client().delete(format!("{}/api/samples/last", server.url())));
    assert_eq!(status, 200, "{undone}");
    assert_eq!(undone["removed"]["label"], 2);
    assert_eq!(undone["saved"], 1);
    assert_eq!(std::fs::read_to_string(&csv).unwrap(), expected);
    let (status, _) = send(client().delete(format!("{}/api/samples/last", server.url())));
    assert_eq!(status, 200);
    let (status, none) = send(client().delete(format!("{}/api/samples/last", server.url())));
    assert_eq!(status, 404, "{none}");
    assert!(!original.exists());
}

#[test]
fn bad_samples_are_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let (server, csv) = serving(dir.path());
    let png = digit_png(0);
    let huge = hdr_testkit::png_declaring(30_000, 30_000, &vec![vec![0u8; 30_000]; 4]);
    let cases: [(&str, &str, Vec<u8>, u16, &str); 7] = [
        ("", "image/png", png.clone(), 422, "say which digit"),
        ("?label=12", "image/png", png.clone(), 422, "0-9"),
        ("?label=seven", "image/png", png.clone(), 422, "0-9"),
        (
            "?label=3",
            "image/png",
            b"not an image at all".to_vec(),
            415,
            "not an image",
        ),
        ("?label=3", "text/plain", png.clone(), 415, "Content-Type"),
        ("?label=3", "image/png", huge, 422, "30000 x 30000"),
        ("?label=3", "image/png", Vec::new(), 422, ""),
    ];
    for (query, content_type, body, status, says) in cases {
        let (got, answer) = save(&server, query, content_type, body);
        assert_eq!(got, status, "{query} {content_type}: {answer}");
        let message = answer["error"].as_str().unwrap();
        assert!(message.contains(says), "{query}: {message}");
    }
    let (status, _) = send(
        client()
            .post(format!("{}/api/samples?label=3", server.url()))
            .header(reqwest::header::CONTENT_TYPE, "image/png")
            .header(reqwest::header::ORIGIN, "http://evil.example")
            .body(png),
    );
    assert_eq!(status, 403);
    let (status, _) = send(
        client()
            .delete(format!("{}/api/samples/last", server.url()))
            .header(reqwest::header::ORIGIN, "http://evil.example"),
    );
    assert_eq!(status, 403);
    assert!(!csv.exists(), "nothing was saved");
}

#[test]
fn concurrent_saves_never_interleave() {
    let dir = tempfile::tempdir().unwrap();
    let (server, csv) = serving(dir.path());
    let url = server.url();
    std::thread::scope(|scope| {
        for t in 0..8usize {
            let url = &url;
            scope.spawn(move || {
                for k in 0..5 {
                    let response = client()
                        .post(format!("{url}/api/samples?label={}", (t + k) % 10))
                        .header(reqwest::header::CONTENT_TYPE, "image/png")
                        .body(digit_png(t * 5 + k))
                        .send()
                        .unwrap();
                    assert_eq!(response.status().as_u16(), 201);
                }
            });
        }
    });
    let labels = user_sample_labels(&std::fs::read(&csv).unwrap()).unwrap();
    assert_eq!(labels.len(), 40);
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(text.lines().all(|line| line.split(',').count() == 785));
    let images = std::fs::read_dir(csv.with_extension("")).unwrap().count();
    assert_eq!(images, 40);
}

#[test]
fn a_damaged_file_is_named_and_left_as_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let (server, csv) = serving(dir.path());
    std::fs::create_dir_all(csv.parent().unwrap()).unwrap();
    let mut torn = user_samples_header() + &user_sample_line(1, &[0; 784]);
    torn.truncate(torn.len() - 100);
    std::fs::write(&csv, &torn).unwrap();
    let (status, answer) = save(&server, "?label=1", "image/png", digit_png(1));
    assert_eq!(status, 409, "{answer}");
    let message = answer["error"].as_str().unwrap();
    assert!(
        message.contains("my-digits.csv: line 2 is incomplete"),
        "{message}"
    );
    assert!(!message.contains(&dir.path().display().to_string()));
    assert_eq!(std::fs::read_to_string(&csv).unwrap(), torn);
}

#[test]
fn a_server_without_a_samples_file_keeps_no_digits() {
    let server = start(&ServeConfig::new(trained_model()));
    let (status, answer) = save(&server, "?label=1", "image/png", digit_png(1));
    assert_eq!(status, 404);
    assert!(answer["error"].as_str().unwrap().contains("--samples"));
    let (status, _) = send(client().get(format!("{}/api/samples", server.url())));
    assert_eq!(status, 404);
}
