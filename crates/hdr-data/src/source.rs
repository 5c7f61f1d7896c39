//! Reading a source file into memory: plain or gzip, hashed on the side.

use std::borrow::Cow;
use std::io::Read;
use std::path::Path;

use polars::prelude::DataFrame;

use crate::error::{fail, io_fail};
use crate::{csv_load, idx, Error, LabelColumn};

/// A labelled source loaded as columns `label, pixel0..pixel783` (all UInt8).
pub(crate) struct LabelledFrame {
    /// The images, one UInt8 column per pixel after `label`.
    pub frame: DataFrame,
    /// The label column as plain bytes.
    pub labels: Vec<u8>,
    /// SHA-256 of the source file's bytes (compressed bytes for .gz).
    pub sha256: String,
}

/// Pieces read in parallel by [`read_file`]: large enough for few system calls.
const READ_PIECE: usize = 4 << 20;

/// Reads a whole file; the error names it.
///
/// Large files are read in pieces on all cores: the copy out of the page
/// cache and the first touch of the fresh buffer then overlap.
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>, Error> {
    let cannot_read = |e: std::io::Error| fail(format!("cannot read {}: {e}", path.display()));
    #[cfg(unix)]
    {
        use rayon::prelude::*;
        use std::os::unix::fs::FileExt;
        let file = std::fs::File::open(path).map_err(cannot_read)?;
        let len = file.metadata().map_err(cannot_read)?.len();
        if let Ok(len) = usize::try_from(len) {
            if len > 2 * READ_PIECE {
                let mut bytes = vec![0u8; len];
                bytes
                    .par_chunks_mut(READ_PIECE)
                    .enumerate()
                    .try_for_each(|(i, piece)| file.read_exact_at(piece, (i * READ_PIECE) as u64))
                    .map_err(cannot_read)?;
                return Ok(bytes);
            }
        }
    }
    std::fs::read(path).map_err(cannot_read)
}

/// Whether `bytes` start with the gzip magic number.
pub(crate) fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1f, 0x8b])
}

/// The file's content, decompressed when it is gzip (by magic number, whatever its name).
pub(crate) fn decoded<'a>(path: &Path, raw: &'a [u8]) -> Result<Cow<'a, [u8]>, Error> {
    if is_gzip(raw) {
        return gunzip(path, raw).map(Cow::Owned);
    }
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"))
        && !raw.is_empty()
    {
        return Err(fail(format!(
            "{}: the name ends in .gz but the file is not gzip data",
            path.display()
        )));
    }
    Ok(Cow::Borrowed(raw))
}

/// Decompresses gzip data (all members) into memory.
fn gunzip(path: &Path, raw: &[u8]) -> Result<Vec<u8>, Error> {
    // The gzip trailer holds the uncompressed size mod 2^32: a good capacity hint,
    // capped so that a corrupt trailer cannot ask for absurd memory.
    let hint = raw
        .len()
        .checked_sub(4)
        .map(|at| u32::from_le_bytes(raw[at..].try_into().expect("4 bytes")) as usize)
        .unwrap_or(0)
        .min(raw.len().saturating_mul(64));
    let mut out = Vec::with_capacity(hint);
    flate2::read::MultiGzDecoder::new(raw)
        .read_to_end(&mut out)
        .map_err(|e| fail(format!("{}: corrupt gzip data: {e}", path.display())))?;
    Ok(out)
}

/// Whether `path` names an MNIST IDX images file (`…images-idx3-ubyte[.gz]`).
pub(crate) fn is_idx_images(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n.to_string_lossy().contains("images-idx3-ubyte"))
}

/// Loads the labelled source of the data stage (CSV, or an IDX images file
/// whose `labels-idx1` sibling sits beside it), hashing its bytes meanwhile.
pub(crate) fn load_labelled_frame(path: &Path) -> Result<LabelledFrame, Error> {
    if is_idx_images(path) {
        let name = path.file_name().expect("checked above").to_string_lossy();
        let labels_path =
            path.with_file_name(name.replace("images-idx3-ubyte", "labels-idx1-ubyte"));
        let data = idx::read_idx(path, &labels_path)?;
        let sha256 = hdr_common::sha256_file(path).map_err(|e| io_fail(path, e))?;
        let frame = hdr_artifacts::split_frame(&data).map_err(|e| {
            fail(format!(
                "{}: could not assemble the columns: {e}",
                path.display()
            ))
        })?;
        return Ok(LabelledFrame {
            frame,
            labels: data.labels,
            sha256,
        });
    }
    let raw = read_file(path)?;
    std::thread::scope(|scope| {
        // Hash while polars parses: the two overlap on separate cores.
        let hasher = scope.spawn(|| hdr_common::sha256_bytes(&raw));
        let loaded = decoded(path, &raw)
            .and_then(|text| csv_load::frame_from_csv(path, &text, LabelColumn::Required));
        let sha256 = hasher
            .join()
            .map_err(|_| fail("the hashing thread panicked"))?;
        let loaded = loaded?;
        let labels = loaded.labels.expect("labels are required");
        Ok(LabelledFrame {
            frame: loaded.frame,
            labels,
            sha256,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn gzip_is_detected_by_magic_number() {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(b"label,pixel0\n").unwrap();
        let gz = enc.finish().unwrap();
        assert_eq!(
            &*decoded(Path::new("x.csv"), &gz).unwrap(),
            b"label,pixel0\n"
        );
        assert_eq!(&*decoded(Path::new("x.csv"), b"plain").unwrap(), b"plain");
        let err = decoded(Path::new("x.csv.gz"), b"plain")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("x.csv.gz") && err.contains("not gzip"),
            "{err}"
        );
    }

    #[test]
    fn large_files_read_in_pieces_come_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.csv");
        // Over two pieces, and not a whole number of them.
        let bytes: Vec<u8> = (0..2 * READ_PIECE + 12_345)
            .map(|i| (i.wrapping_mul(7919) >> 3) as u8)
            .collect();
        std::fs::write(&path, &bytes).unwrap();
        assert!(read_file(&path).unwrap() == bytes);
        let err = read_file(&dir.path().join("absent.csv"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("absent.csv"), "{err}");
    }

    #[test]
    fn idx_images_are_recognised_by_name() {
        assert!(is_idx_images(Path::new("d/train-images-idx3-ubyte.gz")));
        assert!(!is_idx_images(Path::new("d/train.csv")));
    }
}
