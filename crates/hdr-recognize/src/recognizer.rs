//! [`Recognizer`]: a loaded model and the one-call ways to use it.

use std::path::Path;

use hdr_image::{prepare_bytes, prepare_file, preprocess};
use hdr_model::{Classifier, IMAGE_PIXELS};
use image::DynamicImage;
use rayon::prelude::*;

use crate::{Recognition, RecognizeError};

/// A trained model, ready to recognise digits in image files, decoded
/// images, or raw 28x28 pixels. Cheap to share between threads (`&self`
/// everywhere).
#[derive(Debug, Clone)]
pub struct Recognizer {
    classifier: Classifier,
    /// Read each input as the average of its shifted copies ([`crate::tta`]).
    test_time_augmentation: bool,
}

impl Recognizer {
    /// Loads the weights written by hdr's train stage (`model.safetensors`).
    /// A value of `HDR_KERNELS` that cannot be followed is an error here,
    /// before any work.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, RecognizeError> {
        hdr_model::kernels_from_env()?;
        Ok(Self::from_classifier(Classifier::load(path.as_ref())?))
    }

    /// Wraps a classifier already in memory.
    pub fn from_classifier(classifier: Classifier) -> Self {
        Self {
            classifier,
            test_time_augmentation: false,
        }
    }

    /// With `on`, reads every input as the average of itself and its copies
    /// moved one pixel left, right, up and down (test-time augmentation):
    /// about a point better on other writers' digits for about four times
    /// the model's time per image (docs/benchmarks.md). Off by default, so
    /// that answers equal the eval stage's and the exported ONNX model's.
    pub fn with_test_time_augmentation(mut self, on: bool) -> Self {
        self.test_time_augmentation = on;
        self
    }

    /// The classifier inside, for batched inference on raw bytes.
    pub fn classifier(&self) -> &Classifier {
        &self.classifier
    }

    /// Recognises the digit in a PNG, JPEG or BMP file of any size and style
    /// (see [`preprocess`](crate::preprocess())); errors name the file.
    pub fn recognize_file(&self, path: impl AsRef<Path>) -> Result<Recognition, RecognizeError> {
        let input = prepare_file(path.as_ref())?;
        Ok(self.predict_inputs(&[input]).remove(0))
    }

    /// Recognises the digit in an image already decoded.
    pub fn recognize_image(&self, image: &DynamicImage) -> Result<Recognition, RecognizeError> {
        let input = preprocess(image)?;
        Ok(self.predict_inputs(&[input]).remove(0))
    }

    /// Recognises a raw MNIST-style digit: 784 grey levels, row-major, light
    /// ink (255) on black (0), already centred; any other length is an error.
    pub fn recognize_pixels(&self, pixels: &[u8]) -> Result<Recognition, RecognizeError> {
        let input = as_input(pixels, None)?;
        Ok(self.predict_inputs(&[input]).remove(0))
    }

    /// Recognises many raw MNIST-style digits in one pass over all cores;
    /// fails, naming the first one, if any is not 784 values long.
    pub fn recognize_batch<I: AsRef<[u8]>>(
        &self,
        images: &[I],
    ) -> Result<Vec<Recognition>, RecognizeError> {
        let inputs = images
            .iter()
            .enumerate()
            .map(|(i, image)| as_input(image.as_ref(), Some(i)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(self.predict_inputs(&inputs))
    }

    /// Recognises the digit in a PNG, JPEG or BMP image held in memory (an
    /// upload, say), decoded within the same limits as a file; `name` is what
    /// errors call it.
    pub fn recognize_bytes(
        &self,
        bytes: &[u8],
        name: impl AsRef<Path>,
    ) -> Result<Recognition, RecognizeError> {
        let input = prepare_bytes(bytes, name.as_ref())?;
        Ok(self.predict_inputs(&[input]).remove(0))
    }

    /// Recognises the digit in each image file, decoding them in parallel and
    /// predicting them in one pass; each file gets its own result, so one bad
    /// file does not stop the others.
    pub fn recognize_files<P: AsRef<Path> + Sync>(
        &self,
        paths: &[P],
    ) -> Vec<Result<Recognition, RecognizeError>> {
        self.recognize_each(paths, |path| Ok(prepare_file(path.as_ref())?))
    }

    /// Recognises the digit in each named image held in memory, as
    /// [`recognize_files`](Self::recognize_files) does for files: decoded in
    /// parallel, predicted in one pass, one result each.
    pub fn recognize_encoded<N, B>(
        &self,
        images: &[(N, B)],
    ) -> Vec<Result<Recognition, RecognizeError>>
    where
        N: AsRef<Path> + Sync,
        B: AsRef<[u8]> + Sync,
    {
        self.recognize_each(images, |(name, bytes)| {
            Ok(prepare_bytes(bytes.as_ref(), name.as_ref())?)
        })
    }

    /// Prepares every item in parallel, then predicts the good ones in one pass.
    fn recognize_each<T: Sync>(
        &self,
        items: &[T],
        prepare: impl Fn(&T) -> Result<[u8; IMAGE_PIXELS], RecognizeError> + Sync + Send,
    ) -> Vec<Result<Recognition, RecognizeError>> {
        self.recognize_prepared(items.par_iter().map(prepare).collect())
    }

    /// Predicts, in one pass, every image that [`prepare_bytes`] or
    /// [`prepare_file`] prepared; the errors keep their places. For callers
    /// that prepare images their own way, say one after another on each of
    /// several threads of their own.
    pub fn recognize_prepared(
        &self,
        prepared: Vec<Result<[u8; IMAGE_PIXELS], RecognizeError>>,
    ) -> Vec<Result<Recognition, RecognizeError>> {
        let inputs: Vec<[u8; IMAGE_PIXELS]> = prepared
            .iter()
            .filter_map(|p| p.as_ref().ok())
            .copied()
            .collect();
        let mut recognised = self.predict_inputs(&inputs).into_iter();
        prepared
            .into_iter()
            .map(|entry| {
                entry.map(|_| {
                    recognised
                        .next()
                        .expect("one recognition per prepared image")
                })
            })
            .collect()
    }

    /// Predicts 28x28 inputs that are known to be well formed.
    fn predict_inputs(&self, inputs: &[[u8; IMAGE_PIXELS]]) -> Vec<Recognition> {
        if inputs.is_empty() {
            return Vec::new();
        }
        if self.test_time_augmentation {
            let copies = crate::tta::copies(inputs);
            let predictions = self.classifier.predict(copies.as_flattened());
            return predictions
                .chunks(crate::tta::OFFSETS.len())
                .zip(inputs)
                .map(|(group, &input)| Recognition::new(&crate::tta::average(group), input))
                .collect();
        }
        self.classifier
            .predict(inputs.as_flattened())
            .iter()
            .zip(inputs)
            .map(|(prediction, &input)| Recognition::new(prediction, input))
            .collect()
    }
}

/// `pixels` as one model input, or the error naming its length.
fn as_input(pixels: &[u8], index: Option<usize>) -> Result<[u8; IMAGE_PIXELS], RecognizeError> {
    pixels
        .try_into()
        .map_err(|_| RecognizeError::WrongPixelCount {
            index,
            len: pixels.len(),
        })
}
