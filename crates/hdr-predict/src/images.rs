//! Reading people's image files, predicting them in one batch, and saving
//! what the model saw.

use std::collections::HashMap;
use std::io::Cursor;
use std::path::{Path, PathBuf};

use hdr_model::{Classifier, Prediction, IMAGE_PIXELS, IMAGE_SIDE, NUM_CLASSES};
use image::ImageFormat;
use rayon::prelude::*;

use crate::decode::load_image;
use crate::preprocess::preprocess;
use crate::PredictError;

/// What the model says about one image.
#[derive(Debug, Clone, PartialEq)]
pub struct ImagePrediction {
    /// The most probable digit.
    pub digit: u8,
    /// Its probability, in [0, 1].
    pub confidence: f32,
    /// The three most probable digits with their probabilities, most probable first.
    pub top3: Vec<(u8, f32)>,
    /// The probability of every digit 0..=9.
    pub probabilities: [f32; NUM_CLASSES],
    /// The 28x28 image the model saw (row-major, 0 = background).
    pub input: Vec<u8>,
}

impl ImagePrediction {
    /// Builds the answer for one image from the classifier's prediction.
    pub fn new(prediction: &Prediction, input: &[u8]) -> Self {
        let mut order: Vec<u8> = (0..NUM_CLASSES as u8).collect();
        // Most probable first; equal probabilities in digit order.
        order.sort_by(|&a, &b| {
            prediction.probabilities[b as usize]
                .total_cmp(&prediction.probabilities[a as usize])
                .then(a.cmp(&b))
        });
        Self {
            digit: prediction.digit,
            confidence: prediction.confidence(),
            top3: order
                .iter()
                .take(3)
                .map(|&d| (d, prediction.probabilities[d as usize]))
                .collect(),
            probabilities: prediction.probabilities,
            input: input.to_vec(),
        }
    }
}

/// One input file and what became of it.
#[derive(Debug)]
pub struct FileOutcome {
    /// The file as given.
    pub file: PathBuf,
    /// The prediction, or why this file could not be predicted.
    pub result: Result<ImagePrediction, PredictError>,
}

/// Reads one image file and preprocesses it into the 28x28 input of the model.
pub fn prepare_file(path: &Path) -> Result<[u8; IMAGE_PIXELS], PredictError> {
    let img = load_image(path)?;
    preprocess(&img).map_err(|source| PredictError::Preprocess {
        path: path.to_path_buf(),
        source,
    })
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
        .expect("a canvas holds 28x28 pixels");
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
    classifier: &Classifier,
    files: &[PathBuf],
    save_preprocessed: Option<&Path>,
) -> Vec<FileOutcome> {
    let mut prepared: Vec<Result<[u8; IMAGE_PIXELS], PredictError>> =
        files.par_iter().map(|file| prepare_file(file)).collect();

    if let Some(dir) = save_preprocessed {
        for ((entry, file), target) in prepared
            .iter_mut()
            .zip(files)
            .zip(preprocessed_targets(dir, files))
        {
            if let Ok(pixels) = entry {
                if let Err(source) = save_png(&target, pixels) {
                    *entry = Err(PredictError::SavePreprocessed {
                        path: file.clone(),
                        target,
                        source,
                    });
                }
            }
        }
    }

    let batch: Vec<u8> = prepared
        .iter()
        .filter_map(|p| p.as_ref().ok())
        .flatten()
        .copied()
        .collect();
    let mut predictions = if batch.is_empty() {
        Vec::new()
    } else {
        classifier.predict(&batch)
    }
    .into_iter();
    files
        .iter()
        .zip(prepared)
        .map(|(file, entry)| FileOutcome {
            file: file.clone(),
            result: entry.map(|pixels| {
                let prediction = predictions
                    .next()
                    .expect("one prediction per prepared image");
                ImagePrediction::new(&prediction, &pixels)
            }),
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

    #[test]
    fn top3_is_sorted_by_probability() {
        let mut probabilities = [0.0f32; NUM_CLASSES];
        probabilities[7] = 0.9;
        probabilities[1] = 0.06;
        probabilities[9] = 0.03;
        probabilities[4] = 0.01;
        let p = ImagePrediction::new(
            &Prediction {
                digit: 7,
                probabilities,
            },
            &[0; IMAGE_PIXELS],
        );
        assert_eq!(p.top3, vec![(7, 0.9), (1, 0.06), (9, 0.03)]);
        assert_eq!(p.confidence, 0.9);
    }
}
