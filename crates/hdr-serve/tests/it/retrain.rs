//! `/api/retrain` through a real loopback socket, with a shell script for the
//! pipeline: the card and model are swapped in when the run succeeds, and a
//! run that leaves unreadable weights keeps the old model serving.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::{held_out, photo, start, trained_model, write_model_card};
use hdr_serve::{CardSources, RetrainCommand, RunningServer, ServeConfig};
use image::ImageFormat;
use serde_json::Value;

fn call(server: &RunningServer, method: reqwest::Method, path: &str) -> (u16, Value) {
    let response = reqwest::blocking::Client::new()
        .request(method, format!("{}{path}", server.url()))
        .send()
        .expect("the server answers");
    let status = response.status().as_u16();
    (status, response.json().expect("a JSON body"))
}

/// A server on a copy of the trained model in `dir`, whose Retrain runs `script`.
fn serving(dir: &Path, script: &str) -> RunningServer {
    let weights = dir.join("model.safetensors");
    std::fs::copy(trained_model(), &weights).unwrap();
    write_model_card(&dir.join("model.json"));
    start(&ServeConfig {
        card: CardSources {
            model_card: Some(dir.join("model.json")),
            ..CardSources::default()
        },
        retrain: Some(RetrainCommand {
            command: vec!["sh".into(), "-c".into(), script.into()],
            dir: Some(dir.to_path_buf()),
        }),
        ..ServeConfig::new(&weights)
    })
}

fn finished(server: &RunningServer) -> Value {
    let started = Instant::now();
    loop {
        let (status, body) = call(server, reqwest::Method::GET, "/api/retrain");
        assert_eq!(status, 200);
        if body["state"] != "running" {
            return body;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{body}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn predicts(server: &RunningServer) -> bool {
    reqwest::blocking::Client::new()
        .post(format!("{}/api/predict", server.url()))
        .header(reqwest::header::CONTENT_TYPE, "image/png")
        .body(photo(held_out().image(0), ImageFormat::Png))
        .send()
        .unwrap()
        .status()
        .is_success()
}

#[test]
fn a_successful_run_swaps_in_the_new_card_and_model() {
    let dir = tempfile::tempdir().unwrap();
    // The "pipeline" rewrites the card: it now says 12 user samples.
    let script = "echo 'epoch 1/1  loss 1 acc 50.0%  val_loss 1 val_acc 91.00%' >&2; \
                  sed -i 's/\"user_samples\": 0/\"user_samples\": 12/' model.json";
    let server = serving(dir.path(), script);
    let (_, before) = call(&server, reqwest::Method::GET, "/api/model");
    assert_eq!(before["user_samples"], 0);
    let (status, idle) = call(&server, reqwest::Method::GET, "/api/retrain");
    assert_eq!((status, idle["state"].as_str()), (200, Some("idle")));
    let (status, _) = call(&server, reqwest::Method::POST, "/api/retrain");
    assert_eq!(status, 202);
    let done = finished(&server);
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(done["epoch"]["of"], 1);
    assert!(
        done["message"]
            .as_str()
            .unwrap()
            .contains("12 of your digits"),
        "{done}"
    );
    let (_, after) = call(&server, reqwest::Method::GET, "/api/model");
    assert_eq!(after["user_samples"], 12, "{after}");
    assert!(predicts(&server));
}

#[test]
fn a_failed_run_keeps_the_old_model_serving_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let server = serving(dir.path(), "echo 'not weights' > model.safetensors");
    call(&server, reqwest::Method::POST, "/api/retrain");
    let done = finished(&server);
    assert_eq!(done["state"], "failed", "{done}");
    assert!(
        done["message"]
            .as_str()
            .unwrap()
            .contains("old one serves on"),
        "{done}"
    );
    assert!(predicts(&server), "the old model still answers");

    let server = serving(
        dir.path(),
        "echo 'error: another run holds the artifacts' >&2; exit 1",
    );
    call(&server, reqwest::Method::POST, "/api/retrain");
    let done = finished(&server);
    assert_eq!(done["state"], "failed");
    assert_eq!(done["message"], "error: another run holds the artifacts");

    let plain = start(&ServeConfig::new(trained_model()));
    let (status, _) = call(&plain, reqwest::Method::POST, "/api/retrain");
    assert_eq!(status, 404);
}
