//! From an image file or bytes to the model's 28x28 input, in one call.

use std::path::Path;

use hdr_artifacts::IMAGE_PIXELS;
use image::DynamicImage;

use crate::decode::{decode_bytes, load_image};
use crate::preprocess::preprocess;
use crate::ImageError;

/// Reads one image file within the decoding limits and preprocesses it into
/// the 28x28 input of the model.
pub fn prepare_file(path: &Path) -> Result<[u8; IMAGE_PIXELS], ImageError> {
    digit_input(&load_image(path)?, path)
}

/// Decodes one image held in memory within the decoding limits and
/// preprocesses it into the 28x28 input of the model; `name` is what errors
/// call it.
pub fn prepare_bytes(bytes: &[u8], name: &Path) -> Result<[u8; IMAGE_PIXELS], ImageError> {
    digit_input(&decode_bytes(bytes, name)?, name)
}

/// The model's input for a decoded image; errors name where it came from.
fn digit_input(image: &DynamicImage, name: &Path) -> Result<[u8; IMAGE_PIXELS], ImageError> {
    preprocess(image).map_err(|source| ImageError::NoDigit {
        path: name.to_path_buf(),
        source,
    })
}
