//! Everything that can go wrong recognising a digit; errors about a file name it.

use std::path::Path;

use hdr_image::{ImageError, PreprocessError};
use hdr_model::{KernelsError, ModelError, IMAGE_PIXELS};

/// Why a model could not be loaded or an input could not be recognised.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecognizeError {
    /// The weights file is missing, unreadable, or not this network's weights.
    #[error("cannot load the model: {0}")]
    Model(#[from] ModelError),
    /// `HDR_KERNELS` names a kernel path that does not exist or that this CPU cannot run.
    #[error(transparent)]
    Kernels(#[from] KernelsError),
    /// An image file or upload that cannot be read, decoded, or holds no digit.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// An image already decoded, in which no digit stands out (or too small to hold one).
    #[error(transparent)]
    Preprocess(#[from] PreprocessError),
    /// Raw pixels that are not one 28x28 image.
    #[error(
        "{}expected {IMAGE_PIXELS} pixels (28 x 28, row-major), got {len}",
        index.map(|i| format!("image {i} of the batch: ")).unwrap_or_default()
    )]
    WrongPixelCount {
        /// The image's position in a batch (from 0), if it came in one.
        index: Option<usize>,
        /// How many values it had.
        len: usize,
    },
}

impl RecognizeError {
    /// The file (or the name given to bytes in memory) the error is about.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Self::Image(error) => Some(error.path()),
            Self::Model(_)
            | Self::Kernels(_)
            | Self::Preprocess(_)
            | Self::WrongPixelCount { .. } => None,
        }
    }

    /// The message without the leading `FILE: `, for output that names the
    /// file already (a JSON object with a `file` member, say).
    pub fn reason(&self) -> String {
        match self {
            Self::Image(error) => error.reason(),
            other => other.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn pixel_count_messages_say_what_was_expected_and_where() {
        let single = RecognizeError::WrongPixelCount {
            index: None,
            len: 783,
        };
        assert_eq!(
            single.to_string(),
            "expected 784 pixels (28 x 28, row-major), got 783"
        );
        let batch = RecognizeError::WrongPixelCount {
            index: Some(3),
            len: 0,
        };
        assert!(batch.to_string().starts_with("image 3 of the batch: "));
    }

    #[test]
    fn reasons_leave_the_file_out() {
        let empty = RecognizeError::from(ImageError::EmptyFile {
            path: PathBuf::from("dir/a: b.png"),
        });
        assert_eq!(empty.to_string(), "dir/a: b.png: empty file");
        assert_eq!(empty.reason(), "empty file");
        assert_eq!(empty.path(), Some(Path::new("dir/a: b.png")));
        let pixels = RecognizeError::WrongPixelCount {
            index: None,
            len: 1,
        };
        assert_eq!(pixels.reason(), pixels.to_string());
        assert_eq!(pixels.path(), None);
    }
}
