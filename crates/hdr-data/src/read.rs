//! Reading a file into memory: plain or gzip (by magic number), the error
//! naming the file. Below both the CSV and the IDX loaders.

use std::borrow::Cow;
use std::io::Read;
use std::path::Path;

use crate::Error;

/// Pieces read in parallel by [`read_file`]: large enough for few system calls.
const READ_PIECE: usize = 4 << 20;

/// Reads a whole file; the error names it.
///
/// Large files are read in pieces on all cores: the copy out of the page
/// cache and the first touch of the fresh buffer then overlap.
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>, Error> {
    let cannot_read = |source: std::io::Error| Error::Read {
        path: path.to_path_buf(),
        source,
    };
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
fn is_gzip(bytes: &[u8]) -> bool {
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
        return Err(Error::NotGzip {
            path: path.to_path_buf(),
        });
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
        .map_err(|source| Error::CorruptGzip {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(out)
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
        let err = decoded(Path::new("x.csv.gz"), b"plain").unwrap_err();
        assert!(
            matches!(&err, Error::NotGzip { path } if path == Path::new("x.csv.gz")),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            "x.csv.gz: the name ends in .gz but the file is not gzip data"
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
        let absent = dir.path().join("absent.csv");
        let err = read_file(&absent).unwrap_err();
        match &err {
            Error::Read { path, source } => {
                assert_eq!(path, &absent);
                assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
            }
            other => panic!("expected Error::Read, got {other:?}"),
        }
        assert!(err
            .to_string()
            .starts_with(&format!("cannot read {}: ", absent.display())));
    }
}
