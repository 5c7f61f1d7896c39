//! Everything that can go wrong recognising a digit; errors about a file name it.

use std::path::{Path, PathBuf};

use hdr_model::{KernelsError, ModelError, IMAGE_PIXELS};

use crate::decode::{MAX_DECODED_BYTES, MAX_IMAGE_SIDE};
use crate::preprocess::PreprocessError;

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
    /// A file that cannot be read (missing, no permission).
    #[error("{}: cannot read: {source}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A directory given where an image file was expected.
    #[error("{}: is a directory, not an image file", path.display())]
    Directory {
        /// The directory.
        path: PathBuf,
    },
    /// A file of zero bytes.
    #[error("{}: empty file", path.display())]
    EmptyFile {
        /// The file.
        path: PathBuf,
    },
    /// A file larger than [`MAX_DECODED_BYTES`].
    #[error(
        "{}: the file is {} MB, over the limit of {} MB for an image",
        path.display(),
        megabytes(*bytes),
        megabytes(MAX_DECODED_BYTES)
    )]
    FileTooLarge {
        /// The file.
        path: PathBuf,
        /// Its size in bytes.
        bytes: u64,
    },
    /// An image whose header declares more than [`MAX_IMAGE_SIDE`] pixels on
    /// a side or more than [`MAX_DECODED_BYTES`] decoded; refused before any
    /// pixel is decoded.
    #[error(
        "{}: the image declares {width} x {height} pixels ({} MB decoded), over the limit of {MAX_IMAGE_SIDE} pixels a side and {} MB; scale it down first",
        path.display(),
        megabytes(*decoded_bytes),
        megabytes(MAX_DECODED_BYTES)
    )]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The width its header declares.
        width: u32,
        /// The height its header declares.
        height: u32,
        /// What it would take decoded, in bytes.
        decoded_bytes: u64,
    },
    /// A file that is not a PNG, JPEG or BMP image.
    #[error("{}: not an image: {detail}", path.display())]
    NotAnImage {
        /// The file.
        path: PathBuf,
        /// What it looks like instead.
        detail: String,
    },
    /// A PNG, JPEG or BMP file whose contents are damaged or truncated.
    #[error("{}: cannot decode the image: {detail}", path.display())]
    Decode {
        /// The file.
        path: PathBuf,
        /// The decoder's complaint.
        detail: String,
    },
    /// An image file in which no digit stands out from the background, or
    /// one too small to hold a digit.
    #[error("{}: {source}", path.display())]
    NoDigit {
        /// The file.
        path: PathBuf,
        /// Why preprocessing gave up.
        source: PreprocessError,
    },
    /// The same for an image already in memory.
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
            Self::Unreadable { path, .. }
            | Self::Directory { path }
            | Self::EmptyFile { path }
            | Self::FileTooLarge { path, .. }
            | Self::TooLarge { path, .. }
            | Self::NotAnImage { path, .. }
            | Self::Decode { path, .. }
            | Self::NoDigit { path, .. } => Some(path),
            Self::Model(_)
            | Self::Kernels(_)
            | Self::Preprocess(_)
            | Self::WrongPixelCount { .. } => None,
        }
    }

    /// The message without the leading `FILE: `, for output that names the
    /// file already (a JSON object with a `file` member, say).
    pub fn reason(&self) -> String {
        let message = self.to_string();
        match self.path() {
            Some(path) => message
                .strip_prefix(&format!("{}: ", path.display()))
                .map(str::to_string)
                .unwrap_or(message),
            None => message,
        }
    }
}

/// Bytes as whole megabytes (10^6), rounded up so that a size just over a
/// limit never reads as equal to it.
fn megabytes(bytes: u64) -> u64 {
    bytes.div_ceil(1_000_000)
}

#[cfg(test)]
mod tests {
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
        let empty = RecognizeError::EmptyFile {
            path: PathBuf::from("dir/a: b.png"),
        };
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

    #[test]
    fn sizes_round_up_to_megabytes() {
        assert_eq!(megabytes(900_000_000), 900);
        assert_eq!(megabytes(250_000_001), 251);
        assert_eq!(megabytes(1), 1);
    }
}
