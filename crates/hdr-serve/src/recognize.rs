//! The one place where the server meets hdr-predict: image bytes in, the
//! JSON object of `predict --json` out.
//!
//! hdr-predict reads images from files, so each upload is written to a
//! private scratch folder and handed to [`hdr_predict::predict_files`]: the
//! very decoding limits, preprocessing and batching that `cargo xtask
//! predict` uses. Its JSON comes from [`hdr_predict::format_json`]; the
//! server only swaps the scratch file's name for the upload's (or drops it)
//! and, on request, appends the probabilities and the 28x28 input.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use hdr_model::Classifier;
use hdr_predict::{format_json, FileOutcome, ImagePrediction, PredictError};

use crate::ServeError;

/// How a failed image should be answered over HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The bytes are not a PNG, JPEG or BMP image (415).
    Unsupported,
    /// An image that cannot be decoded or holds no digit, or an empty body (422).
    Unprocessable,
    /// The server's own fault, e.g. its scratch folder is not writable (500).
    Internal,
}

/// One image's answer: `predict --json`'s object, and whether it is an error.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Answer {
    /// The JSON object, as `predict --json` prints it for a file.
    pub json: String,
    /// `None` for a prediction, the kind of error otherwise.
    pub failure: Option<Failure>,
}

/// The model, loaded once, and the scratch folder uploads pass through.
#[derive(Debug)]
pub(crate) struct Recognizer {
    classifier: Classifier,
    scratch: tempfile::TempDir,
    next_file: AtomicU64,
}

/// Deletes the scratch files of one request when it ends, however it ends.
struct ScratchFiles(Vec<PathBuf>);

impl Drop for ScratchFiles {
    fn drop(&mut self) {
        for path in &self.0 {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl Recognizer {
    /// Loads the weights (a missing file says to run `cargo xtask train`).
    pub fn load(model: &Path) -> Result<Self, ServeError> {
        let classifier = hdr_predict::load_model(model).map_err(ServeError::Model)?;
        let scratch = tempfile::Builder::new()
            .prefix("hdr-serve-")
            .tempdir()
            .map_err(ServeError::Scratch)?;
        Ok(Self {
            classifier,
            scratch,
            next_file: AtomicU64::new(0),
        })
    }

    /// Recognises one image; the object has no `file` key.
    pub fn recognize(&self, bytes: &[u8], details: bool) -> Answer {
        let mut answers = self.run(&[(None, bytes)], details);
        answers.pop().expect("one answer per image")
    }

    /// Recognises several images at once; each object starts with `"file": name`.
    pub fn recognize_batch(&self, files: &[(String, &[u8])], details: bool) -> Vec<Answer> {
        let named: Vec<(Option<&str>, &[u8])> = files
            .iter()
            .map(|(name, bytes)| (Some(name.as_str()), *bytes))
            .collect();
        self.run(&named, details)
    }

    fn run(&self, files: &[(Option<&str>, &[u8])], details: bool) -> Vec<Answer> {
        let mut scratch = ScratchFiles(Vec::with_capacity(files.len()));
        let mut written: Vec<Result<(), std::io::Error>> = Vec::with_capacity(files.len());
        for (_, bytes) in files {
            let n = self.next_file.fetch_add(1, Ordering::Relaxed);
            let path = self.scratch.path().join(format!("upload-{n}"));
            written.push(std::fs::write(&path, bytes));
            scratch.0.push(path);
        }
        let outcomes = hdr_predict::predict_files(&self.classifier, &scratch.0, None);
        outcomes
            .iter()
            .zip(files)
            .zip(written)
            .map(|((outcome, (name, _)), written)| match written {
                Ok(()) => answer(outcome, *name, details),
                Err(e) => Answer {
                    json: error_object(*name, &format!("the server cannot store the upload: {e}")),
                    failure: Some(Failure::Internal),
                },
            })
            .collect()
    }
}

/// `format_json`'s object for the scratch file, renamed to `name` (or unnamed),
/// with the details appended when asked for.
fn answer(outcome: &FileOutcome, name: Option<&str>, details: bool) -> Answer {
    let line = format_json(outcome);
    let scratch_name = outcome.file.to_string_lossy();
    let json = rename(&line, &scratch_name, name);
    match &outcome.result {
        Ok(prediction) if details => Answer {
            json: append_details(&json, prediction),
            failure: None,
        },
        Ok(_) => Answer {
            json,
            failure: None,
        },
        Err(e) => Answer {
            json,
            failure: Some(classify(e)),
        },
    }
}

/// Replaces the leading `"file":"<scratch>"` member of `format_json`'s line
/// with `"file":"<name>"`, or removes it when there is no name.
fn rename(line: &str, scratch_name: &str, name: Option<&str>) -> String {
    let prefix = format!("{{\"file\":{},", json_string(scratch_name));
    let rest = line
        .strip_prefix(&prefix)
        .expect("format_json starts every object with the file");
    match name {
        Some(name) => format!("{{\"file\":{},{rest}", json_string(name)),
        None => format!("{{{rest}"),
    }
}

/// Appends `"probabilities":[p0..p9],"input":[784 grey levels]` to an object.
fn append_details(json: &str, prediction: &ImagePrediction) -> String {
    let body = json
        .strip_suffix('}')
        .expect("format_json writes one object");
    let probabilities =
        serde_json::to_string(&prediction.probabilities).expect("floats serialise");
    let input = serde_json::to_string(&prediction.input).expect("bytes serialise");
    format!("{body},\"probabilities\":{probabilities},\"input\":{input}}}")
}

/// `{"file":…,"error":…}` (or `{"error":…}`) for a failure outside hdr-predict.
fn error_object(name: Option<&str>, message: &str) -> String {
    let error = json_string(message);
    match name {
        Some(name) => format!("{{\"file\":{},\"error\":{error}}}", json_string(name)),
        None => format!("{{\"error\":{error}}}"),
    }
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialise")
}

/// Which HTTP answer an image's error deserves. Anything about the image
/// itself is the client's (422) unless the bytes are no image at all (415);
/// only the server's own file handling is a 500.
fn classify(error: &PredictError) -> Failure {
    match error {
        PredictError::NotAnImage { .. } => Failure::Unsupported,
        PredictError::Unreadable { .. }
        | PredictError::SavePreprocessed { .. }
        | PredictError::Write { .. }
        | PredictError::MissingModel(_)
        | PredictError::Model(_) => Failure::Internal,
        _ => Failure::Unprocessable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rename_swaps_or_drops_the_file_member() {
        let line = r#"{"file":"/tmp/x/upload-3","digit":7,"confidence":0.9,"top3":[[7,0.9]]}"#;
        assert_eq!(
            rename(line, "/tmp/x/upload-3", None),
            r#"{"digit":7,"confidence":0.9,"top3":[[7,0.9]]}"#
        );
        assert_eq!(
            rename(line, "/tmp/x/upload-3", Some("my \"7\".png")),
            r#"{"file":"my \"7\".png","digit":7,"confidence":0.9,"top3":[[7,0.9]]}"#
        );
    }

    #[test]
    fn details_are_appended_as_valid_json() {
        let mut probabilities = [0.0f32; 10];
        probabilities[3] = 1.0;
        let prediction = ImagePrediction::new(
            &hdr_model::Prediction {
                digit: 3,
                probabilities,
            },
            &[9; 784],
        );
        let json = append_details(r#"{"digit":3}"#, &prediction);
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["digit"], 3);
        assert_eq!(value["probabilities"].as_array().unwrap().len(), 10);
        assert_eq!(value["probabilities"][3], 1.0);
        assert_eq!(value["input"].as_array().unwrap().len(), 784);
        assert_eq!(value["input"][0], 9);
    }

    #[test]
    fn error_objects_name_the_upload_when_there_is_one() {
        assert_eq!(error_object(None, "full"), r#"{"error":"full"}"#);
        assert_eq!(
            error_object(Some("a.png"), "full"),
            r#"{"file":"a.png","error":"full"}"#
        );
    }
}
