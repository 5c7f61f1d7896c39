//! Predicting people's image files in one batch, and saving what the model saw.

use std::collections::HashMap;
use std::io::Cursor;
use std::path::{Path, PathBuf};

use hdr_recognize::{Recognition, Recognizer, IMAGE_SIDE};
use image::ImageFormat;

use crate::PredictError;

/// One input file and what became of it.
#[derive(Debug)]
pub struct FileOutcome {
    /// The file as given.
    pub file: PathBuf,
    /// The prediction, or why this file could not be predicted.
    pub result: Result<Recognition, PredictError>,
}

/// Where each file's preprocessed image goes: `DIR/<stem>.png`, with `-2`,
/// `-3`, … added when several inputs share a stem (`a/7.png`, `b/7.jpg`).
fn preprocessed_targets(dir: &Path, files: &[PathBuf]) -> Vec<PathBuf> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    files
        .iter()
        .map(|file| {
            let stem = file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "image".into());
            let count = seen.entry(stem.clone()).or_insert(0);
            *count += 1;
            let name = if *count == 1 {
                format!("{stem}.png")
            } else {
                format!("{stem}-{count}.png")
            };
            dir.join(name)
        })
        .collect()
}

fn save_png(target: &Path, pixels: &[u8]) -> std::io::Result<()> {
    let img = image::GrayImage::from_raw(IMAGE_SIDE as u32, IMAGE_SIDE as u32, pixels.to_vec())
        .expect("a model input holds 28x28 pixels");
    let mut bytes = Vec::new();
    img.write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)
        .map_err(std::io::Error::other)?;
    let mut set = hdr_common::OutputSet::new();
    set.write(target, &bytes)?;
    set.commit().map(|_| ())
}

/// Predicts the digit in each image file; a file that cannot be read or holds
/// no digit gets its own error and the others are still predicted. With
/// `save_preprocessed`, the 28x28 image the model saw is written as
/// `DIR/<stem>.png`.
pub fn predict_files(
    recognizer: &Recognizer,
    files: &[PathBuf],
    save_preprocessed: Option<&Path>,
) -> Vec<FileOutcome> {
    let results = recognizer.recognize_files(files);
    let targets = save_preprocessed.map(|dir| preprocessed_targets(dir, files));
    files
        .iter()
        .zip(results)
        .enumerate()
        .map(|(i, (file, result))| {
            let result = result.map_err(PredictError::from).and_then(|p| {
                let Some(target) = targets.as_ref().map(|t| &t[i]) else {
                    return Ok(p);
                };
                match save_png(target, &p.input) {
                    Ok(()) => Ok(p),
                    Err(source) => Err(PredictError::SavePreprocessed {
                        path: file.clone(),
                        target: target.clone(),
                        source,
                    }),
                }
            });
            FileOutcome {
                file: file.clone(),
                result,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_stems_get_distinct_targets() {
        let files = [
            PathBuf::from("a/7.png"),
            PathBuf::from("b/7.jpg"),
            PathBuf::from("c/3.bmp"),
        ];
        let targets = preprocessed_targets(Path::new("out"), &files);
        assert_eq!(
            targets,
            [
                PathBuf::from("out/7.png"),
                PathBuf::from("out/7-2.png"),
                PathBuf::from("out/3.png")
            ]
        );
    }
}
