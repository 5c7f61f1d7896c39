//! Where the server meets hdr-recognize: image bytes in, the JSON object of
//! `predict --json` out, and the HTTP status an image's error deserves.
//!
//! Uploads are decoded from memory by [`hdr_recognize::Recognizer`] within
//! the same limits, with the same preprocessing and model as
//! `cargo xtask predict`; the objects are [`RecognitionJson`]'s, the very
//! ones `predict --json` prints.

use std::path::Path;

use hdr_recognize::{prepare_bytes, ImageError, RecognitionJson, RecognizeError, Recognizer};

/// What errors call the body of `POST /api/predict`, which has no file name.
const UPLOAD: &str = "upload";

/// How a failed image should be answered over HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The bytes are not a PNG, JPEG or BMP image (415).
    Unsupported,
    /// An image that cannot be decoded or holds no digit, or an empty body (422).
    Unprocessable,
}

/// One image's answer: `predict --json`'s object, and whether it is an error.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Answer {
    /// The JSON object, as `predict --json` prints it for a file.
    pub json: String,
    /// `None` for a prediction, the kind of error otherwise.
    pub failure: Option<Failure>,
}

/// Recognises single uploaded images (with whether each asks for details),
/// prepared one after another on this thread and predicted in one pass;
/// the objects have no `file` member.
pub(crate) fn recognize_singles<B: AsRef<[u8]>>(
    recognizer: &Recognizer,
    images: &[(B, bool)],
) -> Vec<Answer> {
    let prepared = images
        .iter()
        .map(|(bytes, _)| Ok(prepare_bytes(bytes.as_ref(), UPLOAD.as_ref())?))
        .collect();
    let results = recognizer.recognize_prepared(prepared);
    images
        .iter()
        .zip(&results)
        .map(|((_, details), result)| answer(None, result, *details))
        .collect()
}

/// Recognises several named uploads (decoded in parallel a few at a time,
/// one per core); each object starts with `"file": name`. `None` once
/// `gone()` says, between images, that nobody waits for the answers.
pub(crate) fn recognize_many<B: AsRef<[u8]> + Sync>(
    recognizer: &Recognizer,
    files: &[(String, B)],
    details: bool,
    gone: impl Fn() -> bool,
) -> Option<Vec<Answer>> {
    let at_once = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut results = Vec::with_capacity(files.len());
    for chunk in files.chunks(at_once) {
        if gone() {
            return None;
        }
        results.extend(recognizer.recognize_encoded(chunk));
    }
    Some(
        files
            .iter()
            .zip(&results)
            .map(|((name, _), result)| answer(Some(name), result, details))
            .collect(),
    )
}

fn answer(
    name: Option<&str>,
    result: &Result<hdr_recognize::Recognition, RecognizeError>,
    details: bool,
) -> Answer {
    let reason;
    let (outcome, failure) = match result {
        Ok(recognition) => (Ok(recognition), None),
        Err(e) => {
            reason = e.reason();
            (Err(reason.as_str()), Some(classify(e)))
        }
    };
    let mut json = RecognitionJson::new(outcome).with_details(details);
    if let Some(name) = name {
        json = json.with_file(name);
    }
    Answer {
        json: json.to_line(),
        failure,
    }
}

/// Which HTTP answer an image's error deserves: bytes that are no image at
/// all are 415, anything else about the image is 422.
fn classify(error: &RecognizeError) -> Failure {
    match error {
        RecognizeError::Image(ImageError::NotAnImage { .. }) => Failure::Unsupported,
        _ => Failure::Unprocessable,
    }
}

/// The 28x28 image the model would see in an upload, or the answer saying
/// why there is none (as `/api/predict` would give it).
pub(crate) fn prepare_upload(bytes: &[u8]) -> Result<[u8; hdr_recognize::IMAGE_PIXELS], Answer> {
    prepare_bytes(bytes, UPLOAD.as_ref()).map_err(|e| answer(None, &Err(e.into()), false))
}

/// The file extension of an image's format (`png`, `jpg`, `bmp`), from its bytes.
pub(crate) fn extension_of(bytes: &[u8]) -> &'static str {
    use hdr_recognize::image::ImageFormat;
    match hdr_recognize::image::guess_format(bytes) {
        Ok(ImageFormat::Png) => "png",
        Ok(ImageFormat::Jpeg) => "jpg",
        Ok(ImageFormat::Bmp) => "bmp",
        _ => "img",
    }
}

/// Loads the weights once, averaging shifted copies when `tta`; a missing
/// file says to run `cargo xtask train`.
pub(crate) fn load(model: &Path, tta: bool) -> Result<Recognizer, crate::ServeError> {
    hdr_artifacts::require_artifact(model, hdr_artifacts::TrainFiles::STAGE)?;
    Ok(Recognizer::load(model)?.with_test_time_augmentation(tta))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn errors_are_classified_and_do_not_repeat_the_name() {
        let not_image = RecognizeError::from(ImageError::NotAnImage {
            path: PathBuf::from(UPLOAD),
            detail: "the file holds text, not a PNG, JPEG or BMP image".into(),
        });
        let a = answer(None, &Err(not_image), false);
        assert_eq!(a.failure, Some(Failure::Unsupported));
        assert_eq!(
            a.json,
            r#"{"error":"not an image: the file holds text, not a PNG, JPEG or BMP image"}"#
        );
        let empty = RecognizeError::from(ImageError::EmptyFile {
            path: PathBuf::from("a.png"),
        });
        let a = answer(Some("a.png"), &Err(empty), true);
        assert_eq!(a.failure, Some(Failure::Unprocessable));
        assert_eq!(a.json, r#"{"file":"a.png","error":"empty file"}"#);
    }
}
