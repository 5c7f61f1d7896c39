//! Everything that can go wrong reading an image file or upload and finding
//! a digit in it; every error names the file (or the name given to bytes).

use std::path::{Path, PathBuf};

use crate::decode::{MAX_DECODED_BYTES, MAX_IMAGE_SIDE};
use crate::preprocess::PreprocessError;

/// Why an image file (or an image held in memory, under the name it was
/// given) cannot be turned into the model's 28x28 input.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImageError {
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
}

impl ImageError {
    /// The file (or the name given to bytes in memory) the error is about.
    pub fn path(&self) -> &Path {
        match self {
            Self::Unreadable { path, .. }
            | Self::Directory { path }
            | Self::EmptyFile { path }
            | Self::FileTooLarge { path, .. }
            | Self::TooLarge { path, .. }
            | Self::NotAnImage { path, .. }
            | Self::Decode { path, .. }
            | Self::NoDigit { path, .. } => path,
        }
    }

    /// The message without the leading `FILE: `, for output that names the
    /// file already (a JSON object with a `file` member, say).
    pub fn reason(&self) -> String {
        let message = self.to_string();
        message
            .strip_prefix(&format!("{}: ", self.path().display()))
            .map(str::to_string)
            .unwrap_or(message)
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
    fn reasons_leave_the_file_out() {
        let empty = ImageError::EmptyFile {
            path: PathBuf::from("dir/a: b.png"),
        };
        assert_eq!(empty.to_string(), "dir/a: b.png: empty file");
        assert_eq!(empty.reason(), "empty file");
        assert_eq!(empty.path(), Path::new("dir/a: b.png"));
    }

    #[test]
    fn sizes_round_up_to_megabytes() {
        assert_eq!(megabytes(900_000_000), 900);
        assert_eq!(megabytes(250_000_001), 251);
        assert_eq!(megabytes(1), 1);
    }
}
