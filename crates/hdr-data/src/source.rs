//! Loading the data stage's labelled sources (a CSV, an IDX pair, or a
//! folder of labelled images), hashed on the side.

use std::path::Path;

use hdr_artifacts::Dataset;
use polars::prelude::DataFrame;

use crate::read::{decoded, read_file};
use crate::{csv_load, idx, image_folder, Error, LabelColumn};

/// A labelled source loaded as columns `label, pixel0..pixel783` (all UInt8).
#[derive(Debug)]
pub(crate) struct LabelledFrame {
    /// The images, one UInt8 column per pixel after `label`.
    pub frame: DataFrame,
    /// The label column as plain bytes.
    pub labels: Vec<u8>,
    /// SHA-256 of the source file's bytes (compressed bytes for .gz).
    pub sha256: String,
}

/// Whether `path` names an MNIST IDX images file (`…images-idx3-ubyte[.gz]`).
pub(crate) fn is_idx_images(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n.to_string_lossy().contains("images-idx3-ubyte"))
}

/// Loads a labelled source of the data stage (CSV, an IDX images file
/// whose `labels-idx1` sibling sits beside it, or a folder of labelled
/// images), hashing its bytes meanwhile.
pub(crate) fn load_labelled_frame(path: &Path) -> Result<LabelledFrame, Error> {
    if path.is_dir() {
        return from_dataset(path, image_folder::read_image_folder(path)?);
    }
    if is_idx_images(path) {
        let name = path.file_name().expect("checked above").to_string_lossy();
        let labels_path =
            path.with_file_name(name.replace("images-idx3-ubyte", "labels-idx1-ubyte"));
        return from_dataset(path, idx::read_idx(path, &labels_path)?);
    }
    let raw = read_file(path)?;
    std::thread::scope(|scope| {
        // Hash while polars parses: the two overlap on separate cores.
        let hasher = scope.spawn(|| hdr_common::sha256_bytes(&raw));
        let loaded = decoded(path, &raw)
            .and_then(|text| csv_load::frame_from_csv(path, &text, LabelColumn::Required));
        let sha256 = hasher
            .join()
            .map_err(|_| Error::Panicked { thread: "hashing" })?;
        let loaded = loaded?;
        let labels = loaded.labels.expect("labels are required");
        Ok(LabelledFrame {
            frame: loaded.frame,
            labels,
            sha256,
        })
    })
}

/// A source read as a [`Dataset`] (IDX, image folder) as columns, hashed
/// by [`hdr_common::sha256_input`] (the file's bytes, or the folder's listing).
fn from_dataset(path: &Path, data: Dataset) -> Result<LabelledFrame, Error> {
    let sha256 = hdr_common::sha256_input(path).map_err(|source| Error::Hash {
        path: path.to_path_buf(),
        source,
    })?;
    let frame = hdr_artifacts::split_frame(&data).map_err(|source| Error::Columns {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(LabelledFrame {
        frame,
        labels: data.labels,
        sha256,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idx_images_are_recognised_by_name() {
        assert!(is_idx_images(Path::new("d/train-images-idx3-ubyte.gz")));
        assert!(!is_idx_images(Path::new("d/train.csv")));
    }
}
