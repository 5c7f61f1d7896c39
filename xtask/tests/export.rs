//! `cargo xtask export`, end to end through the binary: the ONNX file it
//! writes gives hdr's own probabilities under tract and (when Python has it)
//! onnxruntime; the Keras recipe loads the same weights; bad input fails
//! with a message that names the way out.

use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use hdr_model::{Classifier, Cnn, Learner, Prediction, IMAGE_PIXELS, NUM_CLASSES};
use tract_onnx::prelude::*;

/// Images compared between hdr and the other runtimes.
const COMPARED: usize = 1000;
/// Adam steps of the quick training (on sample rows after the compared ones).
const STEPS: usize = 60;
const BATCH: usize = 64;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The first `rows` rows of the embedded sample: (pixels, labels).
fn sample_rows(rows: usize) -> (Vec<u8>, Vec<u8>) {
    let file = std::fs::File::open(workspace_root().join("data/mnist-sample.csv.gz")).unwrap();
    let mut reader = csv::Reader::from_reader(BufReader::new(flate2::read::GzDecoder::new(file)));
    let (mut pixels, mut labels) = (Vec::new(), Vec::new());
    for record in reader.records().take(rows) {
        let record = record.unwrap();
        labels.push(record[0].parse::<u8>().unwrap());
        pixels.extend(record.iter().skip(1).map(|v| v.parse::<u8>().unwrap()));
    }
    assert_eq!(labels.len(), rows);
    (pixels, labels)
}

/// A briefly trained network, the compared images and hdr's predictions on them.
struct Fixture {
    weights: Vec<u8>,
    pixels: Vec<u8>,
    labels: Vec<u8>,
    predictions: Vec<Prediction>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let (all_pixels, all_labels) = sample_rows(COMPARED + STEPS * BATCH);
        let mut learner = Learner::new(Cnn::new(7), 0.003, 0.0);
        for step in 0..STEPS {
            let rows = COMPARED + step * BATCH..COMPARED + (step + 1) * BATCH;
            let images: Vec<f32> = all_pixels[rows.start * IMAGE_PIXELS..rows.end * IMAGE_PIXELS]
                .iter()
                .map(|&p| p as f32 / 255.0)
                .collect();
            learner.train_step(&images, &all_labels[rows], step as u64);
        }
        let pixels = all_pixels[..COMPARED * IMAGE_PIXELS].to_vec();
        let classifier = Classifier::new(learner.cnn().clone());
        Fixture {
            weights: learner.cnn().to_safetensors(),
            predictions: classifier.predict(&pixels),
            labels: all_labels[..COMPARED].to_vec(),
            pixels,
        }
    })
}

/// A project folder with an empty pipeline.toml; `trained` puts the fixture's weights,
/// a model card and test metrics under artifacts/.
fn project(trained: bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pipeline.toml"), "").unwrap();
    if trained {
        let train = dir.path().join("artifacts/train");
        std::fs::create_dir_all(&train).unwrap();
        std::fs::write(train.join("model.safetensors"), &fixture().weights).unwrap();
        let card = hdr_model::ModelCard {
            architecture: Cnn::architecture(),
            parameters: Cnn::PARAMETERS,
            train_config: serde_json::json!({}),
            data_sha256: "feedc0de".into(),
            epochs_trained: 1,
            best_epoch: 1,
            best_val_accuracy: 0.5,
        };
        std::fs::write(
            train.join("model.json"),
            serde_json::to_string(&card).unwrap(),
        )
        .unwrap();
        let eval = dir.path().join("artifacts/eval");
        std::fs::create_dir_all(&eval).unwrap();
        std::fs::write(
            eval.join("metrics.json"),
            r#"{"test": {"accuracy": 0.875}}"#,
        )
        .unwrap();
    }
    dir
}

fn xtask(project: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("--config")
        .arg(project.join("pipeline.toml"))
        .arg("--quiet")
        .args(args)
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Exports the fixture's network; returns the project and the model's path.
fn exported() -> (tempfile::TempDir, PathBuf) {
    let project = project(true);
    let output = xtask(project.path(), &["export"]);
    assert!(output.status.success(), "{}", text(&output));
    let model = project.path().join("artifacts/export/model.onnx");
    assert!(model.is_file());
    (project, model)
}

/// The compared images as the ONNX input wants them: float [N, 28, 28, 1], pixels / 255.
fn onnx_input(pixels: &[u8]) -> Tensor {
    let scaled: Vec<f32> = pixels.iter().map(|&p| p as f32 / 255.0).collect();
    tract_ndarray::Array4::from_shape_vec((pixels.len() / IMAGE_PIXELS, 28, 28, 1), scaled)
        .unwrap()
        .into()
}

fn argmax(values: &[f32]) -> usize {
    (0..values.len()).fold(0, |best, i| if values[i] > values[best] { i } else { best })
}

#[test]
fn the_exported_model_gives_hdrs_probabilities_under_tract() {
    let fixture = fixture();
    // Trained enough for the argmax comparison to mean something.
    let correct = fixture
        .predictions
        .iter()
        .zip(&fixture.labels)
        .filter(|(p, &l)| p.digit == l)
        .count();
    let confident = fixture
        .predictions
        .iter()
        .filter(|p| p.confidence() > 0.9)
        .count();
    assert!(correct > 800, "hdr gets {correct}/{COMPARED} right");
    assert!(confident > 500, "{confident} predictions above 0.9");

    let (_project, model) = exported();
    let runnable = tract_onnx::onnx()
        .model_for_path(&model)
        .unwrap()
        .into_optimized()
        .unwrap()
        .into_runnable()
        .unwrap();
    let outputs = runnable
        .run(tvec!(onnx_input(&fixture.pixels).into()))
        .unwrap();
    let probabilities = outputs[0].to_plain_array_view::<f32>().unwrap();
    assert_eq!(probabilities.shape(), [COMPARED, NUM_CLASSES]);
    let probabilities: Vec<f32> = probabilities.iter().copied().collect();
    let mut max_diff = 0.0f32;
    let mut agree = 0;
    for (onnx, hdr) in probabilities
        .chunks_exact(NUM_CLASSES)
        .zip(&fixture.predictions)
    {
        for (a, b) in onnx.iter().zip(&hdr.probabilities) {
            max_diff = max_diff.max((a - b).abs());
        }
        agree += usize::from(argmax(onnx) == hdr.digit as usize);
    }
    eprintln!(
        "tract vs hdr on {COMPARED} images: argmax agree {agree}/{COMPARED}, max |dp| {max_diff:e} \
         (hdr accuracy {correct}/{COMPARED})"
    );
    assert_eq!(agree, COMPARED);
    assert!(max_diff <= 1e-5, "max |dp| {max_diff}");
}

#[test]
fn the_model_card_travels_in_the_metadata() {
    use prost::Message;
    let (_project, model) = exported();
    let bytes = std::fs::read(&model).unwrap();
    let proto = tract_onnx::pb::ModelProto::decode(bytes.as_slice()).unwrap();
    let get = |key: &str| {
        proto
            .metadata_props
            .iter()
            .find(|p| p.key == key)
            .map(|p| p.value.clone())
            .unwrap_or_else(|| panic!("no `{key}` in metadata_props"))
    };
    assert_eq!(get("data_sha256"), "feedc0de");
    assert_eq!(get("test_accuracy"), "0.875000");
    assert_eq!(get("hdr_version"), env!("CARGO_PKG_VERSION"));
    assert!(get("architecture").contains("conv2: Conv2D 32->64"));
    assert_eq!(
        get("weights_sha256"),
        hdr_common::sha256_bytes(&fixture().weights)
    );
    assert!(get("input_layout").contains("[N, 28, 28, 1], NHWC"));
}

/// A Python that imports `modules`: $HDR_PYTHON, the repository's .venv-peers, or python3.
fn python_with(modules: &str) -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("HDR_PYTHON").map(PathBuf::from),
        Some(workspace_root().join(".venv-peers/bin/python")),
        Some(PathBuf::from("python3")),
    ];
    let found = candidates.into_iter().flatten().find(|python| {
        Command::new(python)
            .args(["-c", &format!("import {modules}")])
            .env("TF_CPP_MIN_LOG_LEVEL", "3")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if found.is_none() {
        eprintln!(
            "skipped: no Python that imports {modules} (set HDR_PYTHON, or create .venv-peers)"
        );
    }
    found
}

/// Writes the compared images (Kaggle CSV) and hdr's probabilities (p0..p9) for the scripts.
fn write_comparison_inputs(dir: &Path) -> (PathBuf, PathBuf) {
    let fixture = fixture();
    let images = dir.join("images.csv");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&images).unwrap());
    let header: Vec<String> = (0..IMAGE_PIXELS).map(|i| format!("pixel{i}")).collect();
    writeln!(out, "label,{}", header.join(",")).unwrap();
    for (row, label) in fixture
        .pixels
        .chunks_exact(IMAGE_PIXELS)
        .zip(&fixture.labels)
    {
        let values: Vec<String> = row.iter().map(u8::to_string).collect();
        writeln!(out, "{label},{}", values.join(",")).unwrap();
    }
    out.flush().unwrap();
    let expected = dir.join("expected.csv");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&expected).unwrap());
    let header: Vec<String> = (0..NUM_CLASSES).map(|i| format!("p{i}")).collect();
    writeln!(out, "{}", header.join(",")).unwrap();
    for p in &fixture.predictions {
        let values: Vec<String> = p.probabilities.iter().map(f32::to_string).collect();
        writeln!(out, "{}", values.join(",")).unwrap();
    }
    out.flush().unwrap();
    (images, expected)
}

fn run_script(python: &Path, script: &str, args: &[&Path]) -> Output {
    Command::new(python)
        .arg(workspace_root().join("scripts").join(script))
        .args(args)
        .env("TF_CPP_MIN_LOG_LEVEL", "3")
        .output()
        .unwrap()
}

#[test]
fn the_exported_model_gives_hdrs_probabilities_under_onnxruntime() {
    let Some(python) = python_with("onnx, onnxruntime, pandas") else {
        return;
    };
    let (project, model) = exported();
    let (images, expected) = write_comparison_inputs(project.path());
    let output = run_script(
        &python,
        "check_onnx.py",
        &[
            &model,
            Path::new("--images"),
            &images,
            Path::new("--expected"),
            &expected,
        ],
    );
    eprintln!("{}", text(&output));
    assert!(output.status.success(), "{}", text(&output));
    assert!(text(&output).contains(&format!("\"argmax_agree\": {COMPARED}")));
}

#[test]
fn the_keras_recipe_gives_hdrs_probabilities() {
    let Some(python) = python_with("tensorflow, safetensors, pandas") else {
        return;
    };
    let project = project(true);
    let (images, expected) = write_comparison_inputs(project.path());
    let weights = project.path().join("artifacts/train/model.safetensors");
    let output = run_script(
        &python,
        "keras_from_safetensors.py",
        &[
            &weights,
            Path::new("--images"),
            &images,
            Path::new("--expected"),
            &expected,
        ],
    );
    eprintln!("{}", text(&output));
    assert!(output.status.success(), "{}", text(&output));
    assert!(text(&output).contains(&format!("\"argmax_agree\": {COMPARED}")));
}

#[test]
fn the_check_script_refuses_a_truncated_model() {
    let Some(python) = python_with("onnx, onnxruntime, pandas") else {
        return;
    };
    let (project, model) = exported();
    let bytes = std::fs::read(&model).unwrap();
    let truncated = project.path().join("truncated.onnx");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let (images, expected) = write_comparison_inputs(project.path());
    let output = run_script(
        &python,
        "check_onnx.py",
        &[
            &truncated,
            Path::new("--images"),
            &images,
            Path::new("--expected"),
            &expected,
        ],
    );
    let message = text(&output);
    assert_eq!(output.status.code(), Some(2), "{message}");
    assert!(
        message.contains("truncated.onnx is not a valid ONNX model"),
        "{message}"
    );
    assert!(!message.contains("Traceback"), "{message}");
}

#[test]
fn export_without_a_trained_model_names_the_command_to_run() {
    let project = project(false);
    let output = xtask(project.path(), &["export"]);
    let message = text(&output);
    assert!(!output.status.success());
    assert!(
        message.contains("artifacts/train/model.safetensors"),
        "{message}"
    );
    assert!(message.contains("cargo xtask train"), "{message}");
    assert!(!project.path().join("artifacts/export").exists());
}

#[test]
fn export_creates_missing_folders_of_the_output_path() {
    let project = project(true);
    let target = project.path().join("new/folders/digits.onnx");
    let output = xtask(project.path(), &["export", "-o", target.to_str().unwrap()]);
    assert!(output.status.success(), "{}", text(&output));
    assert!(target.is_file());
}

#[test]
fn export_into_an_unwritable_place_names_the_path() {
    let project = project(true);
    let file = project.path().join("notes.txt");
    std::fs::write(&file, "a file, not a folder").unwrap();
    let target = file.join("model.onnx");
    let output = xtask(project.path(), &["export", "-o", target.to_str().unwrap()]);
    let message = text(&output);
    assert!(!output.status.success());
    assert!(
        message.contains(&format!("cannot write {}", target.display())),
        "{message}"
    );
}
