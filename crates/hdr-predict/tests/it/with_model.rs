//! End-to-end checks with a real network: a small CNN is trained in-process on
//! 3,000 sample digits (once per test binary) and then recognises held-out
//! digits photographed in different styles, image files from disk, and
//! Kaggle CSVs.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use hdr_model::Classifier;
use hdr_predict::{
    format_json, format_text, predict_csv, predict_files, PredictError, RecognizeError, Recognizer,
    SUBMISSION_HEADER,
};
use hdr_recognize::{preprocess, ImageError};
use hdr_testkit::{load_sample, round_trip, Dataset, Style, IMAGE_PIXELS};
use image::{DynamicImage, ImageFormat};

const TRAIN: std::ops::Range<usize> = 0..3000;
const HELD_OUT: std::ops::Range<usize> = 9700..10000;

struct Fixture {
    recognizer: Recognizer,
    held_out: Dataset,
}

/// The sample's held-out digits and a CNN trained on other digits, built once.
fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let network = hdr_testkit::small_trained_network(&load_sample(TRAIN));
        Fixture {
            recognizer: Recognizer::from_classifier(Classifier::new(network)),
            held_out: load_sample(HELD_OUT),
        }
    })
}

fn accuracy(recognizer: &Recognizer, pixels: &[u8], labels: &[u8]) -> f64 {
    let predictions = recognizer.classifier().predict(pixels);
    let correct = predictions
        .iter()
        .zip(labels)
        .filter(|(p, &l)| p.digit == l)
        .count();
    correct as f64 / labels.len() as f64
}

#[test]
fn styles_are_recognised_like_originals_by_the_cnn() {
    let Fixture {
        recognizer,
        held_out,
    } = fixture();
    let original = accuracy(recognizer, &held_out.pixels, &held_out.labels);
    eprintln!("CNN accuracy on {} held-out digits:", held_out.len());
    eprintln!("  {:<32} {:.1}%", "28x28 originals", original * 100.0);
    assert!(
        original >= 0.85,
        "the test model is too weak to judge styles: {original}"
    );

    let mut failures = Vec::new();
    let mut report = |name: &str, render: &dyn Fn(usize) -> DynamicImage| {
        let mut pixels = Vec::with_capacity(held_out.len() * IMAGE_PIXELS);
        for i in 0..held_out.len() {
            let canvas =
                preprocess(&render(i)).unwrap_or_else(|e| panic!("{name}: digit {i}: {e}"));
            pixels.extend_from_slice(&canvas);
        }
        let styled = accuracy(recognizer, &pixels, &held_out.labels);
        eprintln!("  {:<32} {:.1}%", name, styled * 100.0);
        if styled < original - 0.03 {
            failures.push(format!(
                "{name}: {:.1}% vs {:.1}%",
                styled * 100.0,
                original * 100.0
            ));
        }
    };
    report("originals, preprocessed", &|i| {
        DynamicImage::ImageLuma8(hdr_testkit::as_image(held_out.image(i)))
    });
    for style in Style::ALL {
        report(style.name(), &|i| style.render(held_out.image(i), i));
    }
    assert!(
        failures.is_empty(),
        "styles recognised worse than originals: {failures:?}"
    );
}

/// Writes digit `i` of the held-out set in `style` as `name` under `dir`.
fn write_styled(dir: &Path, name: &str, style: Style, i: usize, format: ImageFormat) -> PathBuf {
    let path = dir.join(name);
    let img = style.render(fixture().held_out.image(i), i);
    let img = DynamicImage::ImageRgb8(round_trip(img, ImageFormat::Png).to_rgb8());
    img.save_with_format(&path, format).unwrap();
    path
}

#[test]
fn image_files_are_predicted_and_bad_files_get_their_own_errors() {
    let Fixture {
        recognizer,
        held_out,
    } = fixture();
    let dir = tempfile::tempdir().unwrap();
    let formats = [
        (ImageFormat::Png, "png"),
        (ImageFormat::Jpeg, "jpg"),
        (ImageFormat::Bmp, "bmp"),
    ];
    let mut files = Vec::new();
    let mut labels = Vec::new();
    for i in 0..24 {
        let style = Style::ALL[i % Style::ALL.len()];
        let (format, extension) = formats[i % formats.len()];
        files.push(write_styled(
            dir.path(),
            &format!("digit-{i}.{extension}"),
            style,
            i,
            format,
        ));
        labels.push(Some(held_out.labels[i]));
    }
    let empty = dir.path().join("empty.png");
    std::fs::write(&empty, b"").unwrap();
    let text = dir.path().join("notes.jpg");
    std::fs::write(&text, b"remember to buy milk\n").unwrap();
    let blank = dir.path().join("blank.png");
    image::GrayImage::from_pixel(90, 60, image::Luma([250]))
        .save(&blank)
        .unwrap();
    let missing = dir.path().join("missing.png");
    files.extend([empty.clone(), text.clone(), blank.clone(), missing.clone()]);
    labels.extend([None, None, None, None]);

    let saved = dir.path().join("seen");
    let outcomes = predict_files(recognizer, &files, Some(&saved));
    assert_eq!(outcomes.len(), files.len());

    let mut correct = 0;
    for (outcome, label) in outcomes.iter().zip(&labels) {
        let text_line = format_text(outcome);
        let json_line = format_json(outcome);
        let json: serde_json::Value = serde_json::from_str(&json_line).unwrap();
        assert_eq!(json["file"], outcome.file.display().to_string());
        assert!(
            text_line.starts_with(&format!("{}: ", outcome.file.display())),
            "{text_line}"
        );
        let stem = outcome
            .file
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let seen = saved.join(format!("{stem}.png"));
        match (&outcome.result, label) {
            (Ok(p), Some(label)) => {
                correct += usize::from(p.digit == *label);
                assert_eq!(json["digit"], p.digit);
                assert_eq!(p.top3.len(), 3);
                assert_eq!(p.top3[0], (p.digit, p.confidence));
                assert!(p.top3[0].1 >= p.top3[1].1 && p.top3[1].1 >= p.top3[2].1);
                let sum: f32 = p.probabilities.iter().sum();
                assert!((sum - 1.0).abs() < 1e-3);
                let png = image::open(&seen).unwrap().to_luma8();
                assert_eq!(png.dimensions(), (28, 28));
                assert_eq!(
                    png.into_raw(),
                    p.input,
                    "the saved PNG is what the model saw"
                );
            }
            (Err(e), None) => {
                assert!(json["error"].is_string(), "{json_line}");
                assert!(text_line.contains(": error: "), "{text_line}");
                assert!(!seen.exists(), "nothing saved for a failed file");
                let file = &outcome.file;
                let PredictError::Recognize(e) = e else {
                    panic!("{}: unexpected error {e:?}", file.display());
                };
                let expected = if *file == empty {
                    matches!(e, RecognizeError::Image(ImageError::EmptyFile { .. }))
                } else if *file == text {
                    matches!(e, RecognizeError::Image(ImageError::NotAnImage { .. }))
                } else if *file == blank {
                    matches!(e, RecognizeError::Image(ImageError::NoDigit { .. }))
                } else {
                    matches!(e, RecognizeError::Image(ImageError::Unreadable { .. }))
                };
                assert!(expected, "{}: unexpected error {e:?}", file.display());
            }
            (result, label) => panic!("{}: {result:?} for label {label:?}", outcome.file.display()),
        }
    }
    eprintln!("image files: {correct}/24 recognised");
    assert!(
        correct >= 20,
        "only {correct}/24 styled digit files recognised"
    );
}

/// A Kaggle-style CSV of held-out digits `rows`, with or without the label column.
fn kaggle_csv(path: &Path, rows: std::ops::Range<usize>, with_label: bool) {
    let held_out = &fixture().held_out;
    let mut text = String::new();
    let header: Vec<String> = (0..IMAGE_PIXELS).map(|i| format!("pixel{i}")).collect();
    if with_label {
        text.push_str("label,");
    }
    text.push_str(&header.join(","));
    text.push('\n');
    for i in rows {
        if with_label {
            write!(text, "{},", held_out.labels[i]).unwrap();
        }
        let cells: Vec<String> = held_out.image(i).iter().map(u8::to_string).collect();
        text.push_str(&cells.join(","));
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

#[test]
fn csv_submission_is_kaggle_format_byte_for_byte() {
    let Fixture {
        recognizer,
        held_out,
    } = fixture();
    let dir = tempfile::tempdir().unwrap();
    let rows = 10..15;
    let predicted: Vec<u8> = recognizer
        .classifier()
        .predict(&held_out.pixels[rows.start * IMAGE_PIXELS..rows.end * IMAGE_PIXELS])
        .iter()
        .map(|p| p.digit)
        .collect();
    let mut expected = format!("{SUBMISSION_HEADER}\n");
    for (i, digit) in predicted.iter().enumerate() {
        writeln!(expected, "{},{digit}", i + 1).unwrap();
    }
    assert!(expected.starts_with("ImageId,Label\n1,"));

    let unlabelled = dir.path().join("test.csv");
    kaggle_csv(&unlabelled, rows.clone(), false);
    let out = dir.path().join("submission.csv");
    let outcome = predict_csv(recognizer, &unlabelled, &out).unwrap();
    assert_eq!(std::fs::read_to_string(&out).unwrap(), expected);
    assert_eq!((outcome.rows, outcome.accuracy), (5, None));
    assert!(outcome.seconds >= outcome.inference_seconds);

    let labelled = dir.path().join("labelled.csv");
    kaggle_csv(&labelled, rows.clone(), true);
    let out_labelled = dir.path().join("sub/labelled-submission.csv");
    let outcome = predict_csv(recognizer, &labelled, &out_labelled).unwrap();
    assert_eq!(std::fs::read_to_string(&out_labelled).unwrap(), expected);
    let correct = predicted
        .iter()
        .zip(&held_out.labels[rows])
        .filter(|(p, l)| p == l)
        .count();
    assert_eq!(outcome.rows, 5);
    assert_eq!(outcome.accuracy, Some(correct as f64 / 5.0));
}

#[test]
fn bad_csv_is_an_error_and_leaves_no_output() {
    let Fixture { recognizer, .. } = fixture();
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("bad.csv");
    kaggle_csv(&csv, 0..3, false);
    let mut text = std::fs::read_to_string(&csv).unwrap();
    text = text.replacen("\n0,", "\n999,", 1);
    std::fs::write(&csv, text).unwrap();
    let out = dir.path().join("submission.csv");
    let err = predict_csv(recognizer, &csv, &out).unwrap_err();
    assert!(matches!(err, PredictError::Csv(_)), "{err:?}");
    assert!(err.to_string().contains("bad.csv"), "{err}");
    assert!(!out.exists());

    let missing = predict_csv(recognizer, &dir.path().join("nope.csv"), &out).unwrap_err();
    assert!(missing.to_string().contains("nope.csv"), "{missing}");
    assert!(!out.exists());
}
