//! `cargo xtask predict` on hostile and broken image files, through the
//! binary: each bad file gets its own line naming it, the good files are
//! still predicted, and the exit code is non-zero.

use std::path::Path;
use std::process::Output;

use hdr_testkit::{bar_image, encoded, write_bad_files};
use image::ImageFormat;

/// A model with untrained weights: enough to predict and to refuse files.
fn write_model(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("model.safetensors");
    std::fs::write(&path, hdr_model::Cnn::new(7).to_safetensors()).unwrap();
    path
}

fn predict(dir: &Path, args: &[&std::ffi::OsStr]) -> Output {
    crate::common::xtask_command()
        .arg("--config")
        .arg(dir.join("pipeline.toml"))
        .arg("predict")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn bad_images_are_refused_one_by_one_and_the_rest_predicted() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pipeline.toml"), "").unwrap();
    let model = write_model(dir.path());
    let bad = write_bad_files(dir.path());
    let good = dir.path().join("good.png");
    std::fs::write(&good, encoded(bar_image(64), ImageFormat::Png)).unwrap();

    let mut args = vec![std::ffi::OsStr::new("--model"), model.as_os_str()];
    args.extend(bad.iter().map(|b| b.path.as_os_str()));
    args.push(good.as_os_str());
    let output = predict(dir.path(), &args);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stdout.starts_with(&format!("{}: ", good.display())),
        "the good file is predicted: {stdout}\n{stderr}"
    );
    for case in &bad {
        let prefix = format!("{}: error: ", case.path.display());
        let line = stderr
            .lines()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no line for {}:\n{stderr}", case.path.display()));
        for phrase in case.says {
            assert!(line.contains(phrase), "{line} lacks {phrase:?}");
        }
    }
    assert!(
        stderr.contains(&format!(
            "{} of {} files could not be predicted",
            bad.len(),
            bad.len() + 1
        )),
        "{stderr}"
    );

    // As JSON lines, errors go to stdout beside the predictions.
    args.insert(0, std::ffi::OsStr::new("--json"));
    let output = predict(dir.path(), &args);
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), bad.len() + 1);
    assert_eq!(
        lines.iter().filter(|v| v["error"].is_string()).count(),
        bad.len()
    );
}

#[test]
fn tta_reads_each_file_as_the_library_does_with_test_time_augmentation() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pipeline.toml"), "").unwrap();
    let model = write_model(dir.path());
    let good = dir.path().join("good.png");
    std::fs::write(&good, encoded(bar_image(64), ImageFormat::Png)).unwrap();
    let args = |tta: bool| {
        let mut args = vec![
            std::ffi::OsStr::new("--json"),
            std::ffi::OsStr::new("--model"),
            model.as_os_str(),
        ];
        if tta {
            args.push(std::ffi::OsStr::new("--tta"));
        }
        args.push(good.as_os_str());
        args
    };
    let line = |output: Output| {
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stdout)
            .unwrap()
            .trim_end()
            .to_string()
    };
    let averaged = line(predict(dir.path(), &args(true)));
    let plain = line(predict(dir.path(), &args(false)));
    assert_ne!(averaged, plain);
    let recognizer = hdr_predict::load_model(&model)
        .unwrap()
        .with_test_time_augmentation(true);
    let expected = hdr_predict::predict_files(&recognizer, std::slice::from_ref(&good), None);
    assert_eq!(averaged, hdr_predict::format_json(&expected[0]));
}
