//! Recognises handwritten digits with a model trained by hdr, in one call,
//! from any Rust program.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! # // A model with untrained weights stands in for artifacts/train/model.safetensors.
//! # let model = dir.path().join("model.safetensors");
//! # std::fs::write(&model, hdr_model::Cnn::new(7).to_safetensors())?;
//! # let photo = dir.path().join("photo.png");
//! # image::GrayImage::from_fn(60, 80, |x, y| {
//! #     image::Luma([if (25..35).contains(&x) && (10..70).contains(&y) { 20 } else { 240 }])
//! # }).save(&photo)?;
//! use hdr_recognize::Recognizer;
//!
//! let r = Recognizer::load(&model)?;
//!
//! // A photo or scan of one digit: PNG, JPEG or BMP, any size, any polarity.
//! let p = r.recognize_file(&photo)?;
//! println!("{} ({:.1}%), then {:?}", p.digit, p.confidence * 100.0, &p.top3[1..]);
//!
//! // An image held in memory (an upload, say): the same limits and result as a file.
//! let upload = std::fs::read(&photo)?;
//! assert_eq!(r.recognize_bytes(&upload, "upload.png")?, p);
//!
//! // A raw MNIST-style digit: 784 grey levels, light ink on black.
//! let pixels_28x28 = [0u8; 784];
//! let q = r.recognize_pixels(&pixels_28x28)?;
//! assert!(q.digit <= 9 && (q.probabilities.iter().sum::<f32>() - 1.0).abs() < 1e-4);
//!
//! // Many raw digits at once, in parallel; a wrong length is an error, not a panic.
//! let images = vec![pixels_28x28; 100];
//! let v = r.recognize_batch(&images)?;
//! assert_eq!(v.len(), 100);
//! assert!(r.recognize_pixels(&[0u8; 783]).is_err());
//!
//! // Many files at once: each gets its own result.
//! let results = r.recognize_files(&[photo.clone(), dir.path().join("missing.png")]);
//! assert!(results[0].is_ok() && results[1].is_err());
//! # Ok(())
//! # }
//! ```
//!
//! Images are prepared the way MNIST was made ([`preprocess()`], from
//! [`hdr_image`], which the data stage shares for folders of labelled
//! images): grey, inverted when the paper is light, background noise
//! dropped, cropped to the ink, the longer side scaled to 20 px with
//! anti-aliasing, and pasted into 28x28 with the ink's centre of mass at the
//! centre.
//!
//! Files are read within bounds ([`load_image`]; [`decode_bytes`] and
//! [`Recognizer::recognize_bytes`] do the same for images held in memory,
//! such as uploads): an image declaring more
//! than [`MAX_IMAGE_SIDE`] pixels on a side or more than
//! [`MAX_DECODED_BYTES`] decoded is refused from its header before any
//! pixel is decoded, and large images are shrunk as soon as they are
//! decoded. Every bad input is a [`RecognizeError`], never a panic.
//!
//! [`RecognitionJson`] writes one recognition as the JSON object that
//! `cargo xtask predict --json` prints and `cargo xtask serve` answers.
//!
//! This crate needs only the model, the `image` crate and serde: no data
//! frames, no plotting.

#![deny(missing_docs)]

mod error;
mod json;
mod recognition;
mod recognizer;
mod tta;

pub use error::RecognizeError;
pub use hdr_image::{
    declared_size, decode_bytes, image, load_image, prepare_bytes, prepare_file, preprocess,
    DeclaredSize, ImageError, PreprocessError, MAX_DECODED_BYTES, MAX_IMAGE_SIDE,
};
pub use hdr_model::{Classifier, IMAGE_PIXELS, IMAGE_SIDE, NUM_CLASSES};
pub use json::RecognitionJson;
pub use recognition::Recognition;
pub use recognizer::Recognizer;
