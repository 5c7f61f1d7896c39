//! `cargo xtask export`, end to end through the binary: the ONNX file it
//! writes gives hdr's own probabilities under tract and (when Python has it)
//! onnxruntime; the Keras recipe loads the same weights; bad input fails
//! with a message that names the way out.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use hdr_model::{
    AnyNetwork, Architecture, Classifier, Learner, Network, Prediction, IMAGE_PIXELS, NUM_CLASSES,
};
use tract_onnx::prelude::*;

/// Images compared between hdr and the other runtimes.
const COMPARED: usize = 1000;
/// Adam steps of the quick training (on sample rows after the compared ones).
const STEPS: usize = 60;
const BATCH: usize = 64;
/// Every architecture hdr-model has: each is exported and compared.
const ARCHITECTURES: [Architecture; 2] = [Architecture::Seed, Architecture::Deep];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The first `rows` rows of the embedded sample: (pixels, labels).
fn sample_rows(rows: usize) -> (Vec<u8>, Vec<u8>) {
    let sample = hdr_testkit::load_sample(0..rows);
    (sample.pixels, sample.labels)
}

/// A briefly trained network, the compared images and hdr's predictions on them.
struct Fixture {
    weights: Vec<u8>,
    pixels: Vec<u8>,
    labels: Vec<u8>,
    predictions: Vec<Prediction>,
}

/// A few Adam steps of `N` on the sample rows after the compared ones.
fn trained<N: Network>(network: N) -> N {
    let (all_pixels, all_labels) = sample_rows(COMPARED + STEPS * BATCH);
    let mut learner = Learner::new(network, 0.003, 0.0);
    for step in 0..STEPS {
        let rows = COMPARED + step * BATCH..COMPARED + (step + 1) * BATCH;
        let images: Vec<f32> = all_pixels[rows.start * IMAGE_PIXELS..rows.end * IMAGE_PIXELS]
            .iter()
            .map(|&p| hdr_artifacts::pixel_to_unit(p))
            .collect();
        learner.train_step(&images, &all_labels[rows], step as u64);
    }
    learner.network().clone()
}

fn fixture(architecture: Architecture) -> &'static Fixture {
    static SEED: OnceLock<Fixture> = OnceLock::new();
    static DEEP: OnceLock<Fixture> = OnceLock::new();
    let cell = match architecture {
        Architecture::Seed => &SEED,
        Architecture::Deep => &DEEP,
    };
    cell.get_or_init(|| {
        let network: AnyNetwork = match AnyNetwork::new(architecture, 7) {
            AnyNetwork::Seed(net) => trained(net).into(),
            AnyNetwork::Deep(net) => trained(net).into(),
        };
        let (all_pixels, all_labels) = sample_rows(COMPARED);
        let classifier = Classifier::new(network.clone());
        Fixture {
            weights: network.to_safetensors(),
            predictions: classifier.predict(&all_pixels),
            labels: all_labels,
            pixels: all_pixels,
        }
    })
}

/// A project folder with an empty pipeline.toml; `trained` puts that
/// architecture's fixture weights, a model card and eval metrics under artifacts/.
fn project(trained: Option<Architecture>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pipeline.toml"), "").unwrap();
    if let Some(architecture) = trained {
        let fixture = fixture(architecture);
        let files = hdr_artifacts::Artifacts::under(&dir.path().join("artifacts"));
        std::fs::create_dir_all(&files.train.dir).unwrap();
        std::fs::write(&files.train.weights, &fixture.weights).unwrap();
        let card = hdr_artifacts::ModelCard {
            architecture_name: architecture.to_string(),
            architecture: architecture.describe(),
            parameters: architecture.parameters(),
            kernels: hdr_model::kernel_path().to_string(),
            train_config: serde_json::json!({}),
            data_sha256: "feedc0de".into(),
            epochs_trained: 1,
            best_epoch: 1,
            best_val_accuracy: 0.5,
            user_samples: 0,
        };
        let mut out = Vec::new();
        hdr_artifacts::write_card(&mut out, &card).unwrap();
        std::fs::write(&files.train.card, out).unwrap();
        let split = hdr_eval::split_metrics(&fixture.labels, &fixture.predictions);
        let metrics = hdr_artifacts::Metrics {
            train: split.clone(),
            test: split,
            user_test: None,
            extra_tests: Vec::new(),
        };
        std::fs::create_dir_all(&files.eval.dir).unwrap();
        let mut out = Vec::new();
        hdr_artifacts::write_metrics(&mut out, &metrics).unwrap();
        std::fs::write(&files.eval.metrics, out).unwrap();
    }
    dir
}

fn xtask(project: &Path, args: &[&str]) -> Output {
    crate::common::xtask_command()
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

/// Exports the `architecture` fixture's network; returns the project and the model's path.
fn exported(architecture: Architecture) -> (tempfile::TempDir, PathBuf) {
    let project = project(Some(architecture));
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
    for architecture in ARCHITECTURES {
        tract_agrees_with_hdr(architecture);
    }
}

fn tract_agrees_with_hdr(architecture: Architecture) {
    let fixture = fixture(architecture);
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
    assert!(
        correct > 800,
        "{architecture}: hdr gets {correct}/{COMPARED} right"
    );
    assert!(
        confident > 500,
        "{architecture}: {confident} predictions above 0.9"
    );

    let (_project, model) = exported(architecture);
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
        "{architecture}: tract vs hdr on {COMPARED} images: argmax agree {agree}/{COMPARED}, max |dp| {max_diff:e} \
         (hdr accuracy {correct}/{COMPARED})"
    );
    assert_eq!(agree, COMPARED, "{architecture}");
    assert!(max_diff <= 1e-5, "{architecture}: max |dp| {max_diff}");
}

#[test]
fn the_model_card_travels_in_the_metadata() {
    use prost::Message;
    let (_project, model) = exported(Architecture::Deep);
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
    let fixture = fixture(Architecture::Deep);
    let scored = hdr_eval::split_metrics(&fixture.labels, &fixture.predictions);
    assert_eq!(get("test_accuracy"), format!("{:.6}", scored.accuracy));
    assert_eq!(get("hdr_version"), env!("CARGO_PKG_VERSION"));
    assert_eq!(get("architecture"), "deep");
    assert!(
        get("layers").contains("conv4: Conv2D 64->64"),
        "{}",
        get("layers")
    );
    assert_eq!(
        get("parameters"),
        Architecture::Deep.parameters().to_string()
    );
    assert_eq!(get("kernels"), hdr_model::kernel_path());
    assert_eq!(
        get("weights_sha256"),
        hdr_common::sha256_bytes(&fixture.weights)
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
fn write_comparison_inputs(dir: &Path, architecture: Architecture) -> (PathBuf, PathBuf) {
    let fixture = fixture(architecture);
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

/// Runs `script` on `file` against the `architecture` fixture's images and
/// hdr's probabilities for them, written under `dir`.
fn compare_by_script(
    python: &Path,
    script: &str,
    file: &Path,
    dir: &Path,
    architecture: Architecture,
) -> Output {
    let (images, expected) = write_comparison_inputs(dir, architecture);
    run_script(
        python,
        script,
        &[
            file,
            Path::new("--images"),
            &images,
            Path::new("--expected"),
            &expected,
        ],
    )
}

/// The script succeeded and reports agreement on every compared image.
fn assert_every_argmax_agrees(architecture: Architecture, output: &Output) {
    eprintln!("{architecture}: {}", text(output));
    assert!(output.status.success(), "{}", text(output));
    assert!(text(output).contains(&format!("\"argmax_agree\": {COMPARED}")));
}

#[test]
fn the_exported_model_gives_hdrs_probabilities_under_onnxruntime() {
    let Some(python) = python_with("onnx, onnxruntime, pandas") else {
        return;
    };
    for architecture in ARCHITECTURES {
        let (project, model) = exported(architecture);
        let output = compare_by_script(
            &python,
            "check_onnx.py",
            &model,
            project.path(),
            architecture,
        );
        assert_every_argmax_agrees(architecture, &output);
    }
}

#[test]
fn the_keras_recipe_gives_hdrs_probabilities() {
    let Some(python) = python_with("tensorflow, safetensors, pandas") else {
        return;
    };
    for architecture in ARCHITECTURES {
        let project = project(Some(architecture));
        let weights = project.path().join("artifacts/train/model.safetensors");
        let output = compare_by_script(
            &python,
            "keras_from_safetensors.py",
            &weights,
            project.path(),
            architecture,
        );
        assert_every_argmax_agrees(architecture, &output);
    }
}

#[test]
fn the_check_script_refuses_a_truncated_model() {
    let Some(python) = python_with("onnx, onnxruntime, pandas") else {
        return;
    };
    let (project, model) = exported(Architecture::Seed);
    let bytes = std::fs::read(&model).unwrap();
    let truncated = project.path().join("truncated.onnx");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let output = compare_by_script(
        &python,
        "check_onnx.py",
        &truncated,
        project.path(),
        Architecture::Seed,
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
    let project = project(None);
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
    let project = project(Some(Architecture::Seed));
    let target = project.path().join("new/folders/digits.onnx");
    let output = xtask(project.path(), &["export", "-o", target.to_str().unwrap()]);
    assert!(output.status.success(), "{}", text(&output));
    assert!(target.is_file());
}

#[test]
fn export_into_an_unwritable_place_names_the_path() {
    let project = project(Some(Architecture::Seed));
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

#[test]
fn export_of_weights_of_an_unknown_architecture_names_it() {
    let project = project(Some(Architecture::Seed));
    let weights = project.path().join("artifacts/train/model.safetensors");
    let mut file =
        hdr_model::TensorFile::from_bytes(&fixture(Architecture::Seed).weights, &weights).unwrap();
    file.set_metadata("architecture", "resnet50");
    std::fs::write(&weights, file.to_bytes()).unwrap();
    let output = xtask(project.path(), &["export"]);
    let message = text(&output);
    assert!(!output.status.success());
    assert!(message.contains("resnet50"), "{message}");
    assert!(message.contains("model.safetensors"), "{message}");
    assert!(!project.path().join("artifacts/export").exists());
}
